"""tf.data batches of image-sound pairs, with in-graph wrong-pair sampling.

:func:`pair_dataset` reads a pair folder (:mod:`tfav.data.layout`) or a
TFRecord folder written by ``python -m tfav.data to-tfrecord`` and yields dict
batches::

    waveform      float32 [B, 22050]    0.5 s at 44.1 kHz, mono, in [-1, 1]
    image         float32 [B, S, S, 3]  in [-1, 1]
    label         int32   [B]           index into the folder's full category tuple
    id            string  [B]           "split/category/stem"
    pose          float32 [B, 3]        only when labels.jsonl has a pose for every pair
    wrong_image, wrong_waveform, wrong_label   when ``wrong_pairs`` is set

Decoding runs in the graph: images with ``tf.io.decode_image`` (a non-square
image is centre-cropped to a square, then resized to S x S with antialiased
bilinear filtering and rounded to uint8, as if stored at that size); sounds
with ``tf.audio.decode_wav`` when the files are 16-bit PCM WAV at 44.1 kHz
(the Sub-URMP format; channels are averaged to mono, then the clip is cropped
or zero-padded to 22,050 samples). When any sound has another rate or format,
all go through :func:`tfav.audio.load_audio` in a ``tf.numpy_function``.
Every header is read up front (about 0.1 ms a pair) to choose the decoder and
to report an unreadable file by name before the first batch.

The order of stages is decode -> cache -> shuffle -> repeat -> batch -> wrong
pairs -> prefetch. Shuffling permutes elements independently of their content,
so the same seed gives the same order with or without the cache, from a pair
folder, a TFRecord folder or :func:`in_memory_dataset`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import soundfile
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from tfav import audio
from tfav.data import layout
from tfav.errors import AudioError, ConfigError, DataError, ImageError, TfavError

WRONG_PAIR_MODES = ("other_category", "same_category")
#: Show a progress bar while checking headers of more files than this.
HEADER_PROGRESS_FROM = 5000


# --------------------------------------------------------------------------- wrong pairs


def add_wrong_pairs(batch: dict, mode: str, seed, category_weights=None) -> dict:
    """Add a mismatched partner to every item of a batch (Chen et al. 2017, eqs. 5-7).

    For item ``i`` another item ``j`` of the same batch is drawn uniformly
    (stateless random, so the draw is a pure function of ``seed``) among:

    * ``"other_category"``: items with a different label -- the wrong-category
      images/sounds of eqs. 5 and 7;
    * ``"same_category"``: items with the same label and ``j != i`` -- the
      wrong images of the correct category of eq. 6 (pose-oriented S2I).

    When item ``i`` has no such partner in its batch (e.g. a one-instrument
    batch in ``other_category`` mode, or a category appearing once in
    ``same_category`` mode), ``j`` is drawn uniformly among all other items;
    a batch of one item pairs with itself.

    ``category_weights`` ([C, C], positive) makes the draw non-uniform: item
    ``j`` is drawn with probability proportional to
    ``category_weights[label_i, label_j]`` (see :func:`hard_wrong_pair_weights`).
    Equal weights give exactly the uniform draw, with the same ``j`` for a seed.

    Args:
        batch: dict with at least ``label`` [B], ``image`` and ``waveform``.
        mode: ``"other_category"`` or ``"same_category"``.
        seed: an int or an int tensor of shape [2] (``tf.random.stateless_*`` seed).
        category_weights: ``None`` (uniform) or [C, C] relative draw weights.

    Returns:
        A new dict with ``wrong_image``, ``wrong_waveform`` and ``wrong_label``
        (item ``j``'s) added; ``wrong_index`` holds ``j``.
    """
    if mode not in WRONG_PAIR_MODES:
        raise ConfigError(f"wrong_pairs must be one of {WRONG_PAIR_MODES}, got '{mode}'")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    label = batch["label"]
    n = tf.shape(label)[0]
    same = tf.equal(label[:, None], label[None, :])
    not_self = tf.logical_not(tf.eye(n, dtype=tf.bool))
    valid = tf.logical_not(same) if mode == "other_category" else tf.logical_and(same, not_self)
    has_partner = tf.reduce_any(valid, axis=1, keepdims=True)
    valid = tf.where(has_partner, valid, not_self)
    # The argmax of i.i.d. uniforms over a set is a uniform draw from that set;
    # with log-weights added to Gumbel noise (a monotone map of the same uniforms),
    # a draw proportional to the weights (the Gumbel-max trick).
    score = tf.random.stateless_uniform(tf.stack([n, n]), seed=seed)
    if category_weights is not None:
        w = tf.convert_to_tensor(category_weights, tf.float32)
        log_w = tf.math.log(tf.gather(tf.gather(w, label), label, axis=1))
        score = log_w - tf.math.log(-tf.math.log(tf.maximum(score, 1e-12)))
    j = tf.argmax(tf.where(valid, score, -np.inf), axis=1, output_type=tf.int32)
    out = dict(batch)
    out["wrong_index"] = j
    out["wrong_image"] = tf.gather(batch["image"], j)
    out["wrong_waveform"] = tf.gather(batch["waveform"], j)
    out["wrong_label"] = tf.gather(label, j)
    return out


def hard_wrong_pair_weights(confusion, hardness: float) -> np.ndarray:
    """Draw weights that make ``other_category`` wrong pairs harder.

    A wrong pair teaches D most when its category is one the condition is
    easily mistaken for. Row ``c`` mixes the uniform choice of another category
    (share ``1 - hardness``) with the off-diagonal of ``confusion[c]``, the
    rate at which an encoder mistakes category ``c`` for each other one (share
    ``hardness``). A row without confusion stays uniform.

    Args:
        confusion: [C, C], rows true, columns predicted: counts
            (``tfav.metrics.confusion_matrix``) or summed class probabilities.
        hardness: in [0, 1); 0 gives the uniform draw of Reed et al.

    Returns:
        float32 [C, C] for :func:`add_wrong_pairs`; rows sum to 1 off the diagonal.
    """
    if not 0.0 <= hardness < 1.0:
        raise ConfigError(f"hard wrong pairs: hardness must be in [0, 1), got {hardness}")
    c = np.asarray(confusion, np.float64).copy()
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 2:
        raise ConfigError(f"hard wrong pairs: confusion must be [C, C] with C >= 2, "
                          f"got {c.shape}")
    k = c.shape[0]
    np.fill_diagonal(c, 0.0)
    total = c.sum(axis=1, keepdims=True)
    mistaken = np.where(total > 0, c / np.maximum(total, 1e-12), 1.0 / (k - 1))
    w = (1.0 - hardness) / (k - 1) + hardness * mistaken
    np.fill_diagonal(w, 1.0)  # only drawn when an item has no other-category partner
    return w.astype(np.float32)


# --------------------------------------------------------------------------- decoding


def decode_image(data: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPG/PNG bytes -> uint8 ``[S, S, 3]`` (centre-crop to square, resize)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    image = tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
    image.set_shape([None, None, 3])

    def resized():
        x = tf.image.resize(image, [image_size, image_size], antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)

    image = tf.cond(tf.equal(side, image_size), lambda: image, resized)
    return tf.ensure_shape(image, [image_size, image_size, 3])


def read_image(path, image_size: int) -> np.ndarray:
    """One image file as the pipeline sees it: float32 ``[S, S, 3]`` in [-1, 1]."""
    try:
        image = decode_image(tf.io.read_file(str(path)), image_size)
    except (tf.errors.OpError, ValueError) as e:
        raise ImageError(f"{path}: unreadable image ({' '.join(str(e).split())[:200]})") from e
    return image.numpy().astype(np.float32) / 127.5 - 1.0


def fit_waveform(samples: tf.Tensor) -> tf.Tensor:
    """Mono waveform of any length -> exactly ``CHUNK_SAMPLES`` (crop or zero-pad at the end)."""
    samples = samples[: audio.CHUNK_SAMPLES]
    pad = audio.CHUNK_SAMPLES - tf.shape(samples)[0]
    return tf.ensure_shape(tf.pad(samples, [[0, pad]]), [audio.CHUNK_SAMPLES])


def _decode_wav_pcm16(path: tf.Tensor) -> tf.Tensor:
    wav, rate = tf.audio.decode_wav(tf.io.read_file(path))
    check = tf.debugging.Assert(
        tf.equal(rate, audio.SAMPLE_RATE), ["expected a 44100 Hz WAV:", path, rate]
    )
    with tf.control_dependencies([check]):
        return fit_waveform(tf.reduce_mean(wav, axis=1))


def _load_any_audio(path) -> np.ndarray:
    # bytes inside a tf.data graph, a 0-d object array when called eagerly
    x = audio.load_audio(os.fsdecode(np.asarray(path).item()), audio.SAMPLE_RATE,
                         allow_silent=True)
    out = np.zeros(audio.CHUNK_SAMPLES, np.float32)
    out[: min(len(x), audio.CHUNK_SAMPLES)] = x[: audio.CHUNK_SAMPLES]
    return out


def _decode_any_audio(path: tf.Tensor) -> tf.Tensor:
    x = tf.numpy_function(_load_any_audio, [path], tf.float32, stateful=False)
    return tf.ensure_shape(x, [audio.CHUNK_SAMPLES])


def is_native_wav(info) -> bool:
    """True for the format decoded in-graph: 16-bit PCM WAV at 44.1 kHz."""
    return info.format == "WAV" and info.subtype == "PCM_16" and info.samplerate == 44100


def _check_headers(pairs: list[layout.Pair]) -> bool:
    """Read every header (about 0.1 ms a pair); True when all sounds are native WAVs.

    Raises:
        AudioError / ImageError naming the first unreadable file, so that bad
        files are reported before training starts rather than mid-epoch.
    """
    native = True
    bar = tqdm(pairs, desc="checking files", unit="pair", leave=False,
               disable=len(pairs) < HEADER_PROGRESS_FROM)  # fmt: skip
    for pair in bar:
        try:
            info = soundfile.info(pair.audio_path)
        except (RuntimeError, OSError, ValueError) as e:
            reason = " ".join(str(e).split())
            raise AudioError(f"{pair.audio_path}: unreadable audio ({reason})") from e
        if info.frames == 0:
            raise AudioError(f"{pair.audio_path}: audio has zero frames")
        native = native and is_native_wav(info)
        try:
            with Image.open(pair.image_path) as im:
                if im.format not in ("JPEG", "PNG"):
                    raise ImageError(f"{pair.image_path}: {im.format} images are not supported")
        except (OSError, ValueError) as e:
            raise ImageError(f"{pair.image_path}: unreadable image ({e})") from e
    return native


# --------------------------------------------------------------------------- datasets


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


def _select(index: layout.PairIndex, split: str, categories) -> list[layout.Pair]:
    if split not in layout.SPLITS:
        raise ConfigError(f"split must be one of {layout.SPLITS}, got '{split}'")
    cats = _category_list(categories)
    pairs = [
        p
        for c in (cats or [None])
        for p in index.select(split, c)  # select() rejects unknown categories
    ]
    pairs.sort(key=lambda p: (p.category, p.stem))
    if not pairs:
        raise DataError(f"{index.root}: no pairs in split '{split}' for {cats or 'any category'}")
    return pairs


def _category_list(categories):
    if categories is None:
        return None
    return [categories] if isinstance(categories, str) else list(categories)


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


def _as_index(root_or_index) -> layout.PairIndex:
    if isinstance(root_or_index, layout.PairIndex):
        return root_or_index
    return layout.index_pairs(root_or_index)


def _folder_items(root_or_index, split, categories, image_size):
    """(dataset of file names and labels, its decode function, item count)."""
    index = _as_index(root_or_index)
    pairs = _select(index, split, categories)
    decode_audio = _decode_wav_pcm16 if _check_headers(pairs) else _decode_any_audio
    files = {
        "image": [p.image_path for p in pairs],
        "audio": [p.audio_path for p in pairs],
        "label": np.asarray([index.label_of(p) for p in pairs], np.int32),
        "id": [f"{p.split}/{p.category}/{p.stem}" for p in pairs],
    }
    poses = _poses(index, pairs)
    if poses is not None:
        files["pose"] = poses

    def decode(item):
        out = dict(item)
        out["image"] = decode_image(tf.io.read_file(item["image"]), image_size)
        out["waveform"] = decode_audio(out.pop("audio"))
        return out

    return tf.data.Dataset.from_tensor_slices(files), decode, len(pairs)


def find_undecodable(root_or_index, split: str, *, categories=None, image_size: int = 64):
    """The first file of ``split`` the pipeline cannot decode, as ``"<path>: <problem>"``.

    Headers are checked before training (:func:`_check_headers`); a file whose
    body is corrupt (a WAV cut short, NaN samples, a damaged JPEG) only fails
    when ``tf.data`` decodes it, in an error that does not say which file.
    This decodes every pair of the split with the pipeline's own decoders, one
    by one, to name it. Returns ``None`` when every file decodes (or for a
    TFRecord folder, whose records were checked when written).
    """
    if not isinstance(root_or_index, layout.PairIndex) and is_tfrecord_folder(root_or_index):
        return None
    pairs = _select(_as_index(root_or_index), split, categories)
    native = _check_headers(pairs)
    for pair in tqdm(pairs, desc="looking for the file that failed", unit="pair", leave=False):
        for path, decode in (
            (pair.audio_path, _decode_wav_pcm16 if native else _decode_any_audio),
            (pair.image_path, lambda path: decode_image(tf.io.read_file(path), image_size)),
        ):
            try:
                decode(tf.constant(str(path)))
            except (tf.errors.OpError, TfavError) as e:
                message = e.message if isinstance(e, tf.errors.OpError) else str(e)
                message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
                message = message.replace("tfav.errors.AudioError: ", "")
                message = re.sub(r"\s*\[Op:\w+\].*", "", message)
                lines = [line for line in message.splitlines() if line.strip()]
                reason = lines[0] if lines else type(e).__name__
                if str(path) in reason:
                    reason = reason.split(f"{path}: ", 1)[-1]
                return f"{path}: cannot be decoded ({reason.strip()[:200]})"
    return None


def _items(root_or_index, split, categories, image_size):
    if not isinstance(root_or_index, layout.PairIndex) and is_tfrecord_folder(root_or_index):
        from tfav.data import tfrecord

        return tfrecord.records(
            root_or_index, split, categories=_category_list(categories), image_size=image_size
        )
    return _folder_items(root_or_index, split, categories, image_size)


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
            (see :func:`add_wrong_pairs`).
        cache: keep decoded items in memory after the first epoch.
        drop_remainder: drop a last, smaller batch.
        repeat: repeat forever.
        wrong_pair_weights: [C, C] draw weights of wrong categories
            (:func:`hard_wrong_pair_weights`); ``None``: uniform.

    Returns:
        A ``tf.data.Dataset`` of dict batches (see the module docstring).

    Raises:
        DataError / AudioError / ImageError naming the folder or file.
    """
    ds, decode, n = _items(root_or_index, split, categories, image_size)
    if cache:
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
    else:
        if shuffle:
            # Shuffling names before decoding gives the same permutation as shuffling
            # decoded items (the order does not depend on content), at a fraction of the memory.
            ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
            shuffle = False
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
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


def load_arrays(root_or_index, split: str, *, categories=None, image_size: int = 64) -> dict:
    """All pairs of a split as numpy arrays (the pipeline's decoding, in its sorted order).

    Returns:
        dict of ``waveform`` [N, 22050], ``image`` float32 [N, S, S, 3] in
        [-1, 1], ``label`` [N], ``id`` [N] (and ``pose`` [N, 3] when known).
    """
    ds, decode, n = _items(root_or_index, split, categories, image_size)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(n).map(to_model_inputs)
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


def is_tfrecord_folder(path) -> bool:
    """True when ``path`` holds a ``tfrecord.json`` written by ``to-tfrecord``."""
    try:
        meta = Path(os.fspath(path)) / "tfrecord.json"
    except TypeError:
        return False
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == "tfav-pairs"
    except (OSError, ValueError):
        return False
