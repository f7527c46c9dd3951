"""tf.data batches of image-sound pairs, with in-graph wrong-pair sampling.

:func:`pair_dataset` reads a pair folder (:mod:`tfav.data.layout`) or a
TFRecord folder written by ``python -m tfav.data to-tfrecord``
(:mod:`tfav.data.tfrecord`) and yields dict batches::

    waveform      float32 [B, 22050]    0.5 s at 44.1 kHz, mono, in [-1, 1]
    image         float32 [B, S, S, 3]  in [-1, 1]
    label         int32   [B]           index into the folder's full category tuple
    id            string  [B]           "split/category/stem"
    pose          float32 [B, 3]        only when labels.jsonl has a pose for every pair
    wrong_image, wrong_waveform, wrong_label   when ``wrong_pairs`` is set

Files are decoded in the graph by :mod:`tfav.data.decode` (images centre-cropped
and resized to S x S, sounds mixed to mono and cut or padded to 22,050
samples); every header is read up front to choose the sound decoder and to
report an unreadable file by name before the first batch. Wrong pairs are
drawn per batch by :mod:`tfav.data.wrong_pairs`.

The order of stages is decode [-> precompute] -> cache -> shuffle -> repeat -> batch
-> wrong pairs -> prefetch. ``precompute`` adds what is a fixed function of an item
(a frozen encoder's code of its sound or image) once, so later epochs read it from
the cache. Shuffling permutes elements independently of their content,
so the same seed gives the same order with or without the cache, from a pair
folder, a TFRecord folder or :func:`in_memory_dataset`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfav.data import decode, layout, tfrecord
from tfav.data.decode import audio_decoder, decode_image
from tfav.data.wrong_pairs import WRONG_PAIR_MODES, add_wrong_pairs
from tfav.errors import ConfigError, DataError

#: Items per call of a ``precompute`` function (its batch; the result does not depend on it).
PRECOMPUTE_BATCH = 128


def to_model_inputs(batch: dict) -> dict:
    """uint8 images -> float32 in [-1, 1] (run after batching, elementwise)."""
    out = dict(batch)
    out["image"] = tf.cast(batch["image"], tf.float32) / 127.5 - 1.0
    return out


def finish(ds, n, *, batch_size, shuffle, seed, wrong_pairs, drop_remainder, repeat, convert,
           wrong_pair_weights=None):
    """The shared tail: shuffle -> repeat -> batch -> (to float) -> wrong pairs -> prefetch."""
    if wrong_pairs is not None and wrong_pairs not in WRONG_PAIR_MODES:
        raise ConfigError(f"wrong_pairs must be None or one of {WRONG_PAIR_MODES}")
    if drop_remainder and not repeat and n < batch_size:
        raise DataError(
            f"only {n} pairs, fewer than batch_size={batch_size}: no batch would be produced "
            "(use a smaller batch, drop_remainder=False or repeat=True)"
        )
    if shuffle:
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if convert:
        ds = ds.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    if wrong_pairs is not None:
        ds = ds.enumerate().map(
            lambda i, b: add_wrong_pairs(b, wrong_pairs, tf.stack([tf.cast(seed, tf.int64), i]),
                                         wrong_pair_weights),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _poses(index, pairs):
    truth = [index.ground_truth(p) for p in pairs]
    have = ["pose" in t for t in truth]
    if not any(have):
        return None
    if not all(have):
        missing = pairs[have.index(False)]
        raise DataError(
            f"{index.root}/{layout.LABELS_FILE}: no pose for {missing.split}/"
            f"{missing.category}/{missing.stem} while other pairs have one"
        )
    return np.asarray([t["pose"] for t in truth], np.float32)


def _folder_items(root_or_index, split, categories, image_size, takes=None):
    """(dataset of file names and labels, its decode function, item count)."""
    index = layout.as_index(root_or_index)
    pairs = layout.select_pairs(index, split, categories)
    decode_audio = audio_decoder(pairs)
    files = {
        "image": [p.image_path for p in pairs],
        "audio": [p.audio_path for p in pairs],
        "label": np.asarray([index.label_of(p) for p in pairs], np.int32),
        "id": [f"{p.split}/{p.category}/{p.stem}" for p in pairs],
    }
    poses = _poses(index, pairs)
    if poses is not None:
        files["pose"] = poses
    if takes is not None:  # each pair's recording as its position in ``takes`` (-1: none)
        position = {name: i for i, name in enumerate(takes)}
        files["take"] = np.asarray([position.get(layout.recording_of(index, p), -1)
                                    for p in pairs], np.int32)

    def decode_item(item):
        out = dict(item)
        out["image"] = decode_image(tf.io.read_file(item["image"]), image_size)
        out["waveform"] = decode_audio(out.pop("audio"))
        return out

    return tf.data.Dataset.from_tensor_slices(files), decode_item, len(pairs)


def open_index(root_or_index):
    """The index of what :func:`pair_dataset` reads: a pair folder's
    :class:`~tfav.data.layout.PairIndex`, a TFRecord folder's
    :class:`~tfav.data.tfrecord.TFRecordIndex`, or ``root_or_index`` when it is either.

    Both give ``root``, ``categories``, ``has_pose``, ``count(split, categories)``,
    ``counts()`` and ``labels`` (empty for TFRecords); only a pair folder's lists files.
    """
    if isinstance(root_or_index, layout.PairIndex | tfrecord.TFRecordIndex):
        return root_or_index
    if layout.is_tfrecord_folder(root_or_index):
        return tfrecord.read_index(root_or_index)
    return layout.index_pairs(root_or_index)


def _tfrecord_root(root_or_index):
    """The TFRecord folder ``root_or_index`` names, or ``None`` for a pair folder."""
    if isinstance(root_or_index, tfrecord.TFRecordIndex):
        return root_or_index.root
    if not isinstance(root_or_index, layout.PairIndex) and layout.is_tfrecord_folder(
            root_or_index):
        return root_or_index
    return None


def _items(root_or_index, split, categories, image_size, takes=None):
    folder = _tfrecord_root(root_or_index)
    if folder is not None:
        if takes is not None:
            raise ConfigError(f"{folder}: TFRecord folders keep no recording of each pair, "
                              "which take codes need (train from the pair folder)")
        return tfrecord.records(
            folder, split, categories=layout.category_list(categories), image_size=image_size
        )
    return _folder_items(root_or_index, split, categories, image_size, takes)


def find_undecodable(root_or_index, split: str, *, categories=None, image_size: int = 64):
    """The first pair file (:func:`tfav.data.decode.find_undecodable`) or TFRecord record
    (:func:`tfav.data.tfrecord.find_undecodable`) of ``split`` that cannot be decoded, in
    one line naming it; ``None`` when everything decodes."""
    folder = _tfrecord_root(root_or_index)
    if folder is not None:
        return tfrecord.find_undecodable(folder, split, categories=categories,
                                         image_size=image_size)
    return decode.find_undecodable(root_or_index, split, categories=categories,
                                   image_size=image_size)


def pair_dataset(
    root_or_index,
    split: str,
    *,
    categories=None,
    image_size: int = 64,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    wrong_pairs: str | None = None,
    cache: bool = True,
    drop_remainder: bool = True,
    repeat: bool = False,
    wrong_pair_weights=None,
    precompute=None,
    drop=(),
    takes=None,
) -> tf.data.Dataset:
    """Batches of image-sound pairs from a pair folder or a TFRecord folder.

    Args:
        root_or_index: a pair folder, a :class:`~tfav.data.layout.PairIndex`,
            or a folder written by ``python -m tfav.data to-tfrecord``.
        split: ``"train"`` or ``"validation"``.
        categories: restrict to these category names (a name or a list);
            labels stay indices into the folder's full category tuple.
        image_size: side S of the square images.
        batch_size: items per batch.
        shuffle: shuffle the items (seeded; reshuffled every epoch).
        seed: seed of the shuffle and of the wrong-pair draws.
        wrong_pairs: ``None``, ``"other_category"`` or ``"same_category"``
            (see :func:`~tfav.data.wrong_pairs.add_wrong_pairs`).
        cache: keep decoded items in memory after the first epoch.
        drop_remainder: drop a last, smaller batch.
        repeat: repeat forever.
        wrong_pair_weights: [C, C] draw weights of wrong categories
            (:func:`~tfav.data.wrong_pairs.hard_wrong_pair_weights`); ``None``: uniform.
        precompute: ``items -> {key: tensor}`` on a batch of decoded items (images
            float32 in [-1, 1]), run once per item before the cache; its keys are
            added to every item (e.g. ``{"encoding": frozen_encoder(...)}``).
        drop: keys removed from every item after ``precompute`` (what it made
            unnecessary: a waveform whose code is all a training step reads), so the
            cache, the shuffle and the batches do not carry them.
        takes: recording names (:func:`tfav.data.layout.takes`): every item then has
            ``take``, its recording's position in the list (-1 when it is not there).

    Returns:
        A ``tf.data.Dataset`` of dict batches (see the module docstring).

    Raises:
        DataError / AudioError / ImageError naming the folder or file.
    """
    ds, decode_item, n = _items(root_or_index, split, categories, image_size, takes)
    if not cache and shuffle:
        # Shuffling names before decoding gives the same permutation as shuffling
        # decoded items (the order does not depend on content), at a fraction of the memory.
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
        shuffle = False
    ds = ds.map(decode_item, num_parallel_calls=tf.data.AUTOTUNE)
    if precompute is not None:
        def add(items):
            out = {**items, **precompute(to_model_inputs(items))}
            return {k: v for k, v in out.items() if k not in drop}

        ds = ds.batch(PRECOMPUTE_BATCH).map(add).unbatch().apply(
            tf.data.experimental.assert_cardinality(n))  # for progress bars
    elif drop:
        raise ConfigError("pair_dataset: drop= removes what precompute= made unnecessary")
    if cache:
        ds = ds.cache()
    return finish(
        ds,
        n,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        wrong_pairs=wrong_pairs,
        drop_remainder=drop_remainder,
        repeat=repeat,
        convert=True,
        wrong_pair_weights=wrong_pair_weights,
    )


def load_arrays(root_or_index, split: str, *, categories=None, image_size: int = 64,
                positions=None) -> dict:
    """All pairs of a split as numpy arrays (the pipeline's decoding, in its sorted order).

    Args:
        positions: only the items at these positions of that order (only they are
            decoded); ``None``: all.

    Returns:
        dict of ``waveform`` [N, 22050], ``image`` float32 [N, S, S, 3] in
        [-1, 1], ``label`` [N], ``id`` [N] (and ``pose`` [N, 3] when known).
    """
    ds, decode_item, n = _items(root_or_index, split, categories, image_size)
    if positions is not None:
        wanted = tf.constant(sorted({int(i) for i in positions}), tf.int64)
        if not len(wanted):
            raise DataError(f"load_arrays: no positions of split '{split}' to load")
        ds = ds.enumerate().filter(lambda i, _: tf.reduce_any(tf.equal(i, wanted)))
        ds, n = ds.map(lambda _, item: item), len(wanted)
    ds = ds.map(decode_item, num_parallel_calls=tf.data.AUTOTUNE).batch(n).map(to_model_inputs)
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


def in_memory_dataset(
    arrays: dict,
    *,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    wrong_pairs: str | None = None,
    drop_remainder: bool = True,
    repeat: bool = False,
) -> tf.data.Dataset:
    """The batches of :func:`pair_dataset` from tensors already in memory.

    ``in_memory_dataset(load_arrays(root, split), seed=s)`` yields the same
    batches as ``pair_dataset(root, split, seed=s)`` (same options), without
    any file reading or decoding -- the baseline of a pipeline benchmark.
    """
    n = int(np.shape(arrays["label"])[0])
    ds = tf.data.Dataset.from_tensor_slices(dict(arrays))
    return finish(
        ds,
        n,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        wrong_pairs=wrong_pairs,
        drop_remainder=drop_remainder,
        repeat=repeat,
        convert=False,
    )
