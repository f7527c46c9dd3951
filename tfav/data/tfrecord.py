"""``python -m tfav.data to-tfrecord PATH OUT [--shards N]``: a pair folder as TFRecord shards.

OUT receives ``<split>-00000-of-0000N.tfrecord`` files and ``tfrecord.json``
(categories, counts, shard names). Each record holds one pair:

* ``image``: the image file's encoded bytes, unchanged (JPG or PNG);
* ``audio``: 16-bit PCM samples, little-endian, channels interleaved, with
  ``channels``. A 16-bit 44.1 kHz WAV (the Sub-URMP format) is stored sample for
  sample, so :func:`tfav.data.pipeline.pair_dataset` yields identical batches
  from the folder and from its TFRecord copy. Any other format is loaded with
  :func:`tfav.audio.load_audio` (mono, 44.1 kHz), cut or padded to 0.5 s and
  quantised to 16 bits;
* ``label`` (index into the folder's category tuple), ``id``
  (``split/category/stem``) and ``pose`` (3 floats, when ``labels.jsonl`` has it).

``pair_dataset(OUT, split, ...)`` detects such a folder by its ``tfrecord.json``
(:func:`tfav.data.layout.is_tfrecord_folder`), and ``python -m tfav.train --data OUT``
trains on it (:class:`TFRecordIndex` stands in for the pair folder's index).

Every file is decoded with the pipeline's own decoders before it is written
(:func:`tfav.data.decode.check_sound`, :func:`~tfav.data.decode.check_image`), so a
file training would fail on (a truncated JPEG, a WAV cut short, NaN samples) is an
error naming it, and no record holds what the reader cannot decode. Shards are written to temporary
files and renamed into OUT only when every pair is written, then
``tfrecord.json``: a failed conversion leaves OUT as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import tensorflow as tf
from tqdm import tqdm

from tfav.data import decode, layout
from tfav.data.decode import decode_error_reason, decode_image, fit_waveform, is_native_wav
from tfav.errors import DataError, TfavError
from tfav.files import atomic_write_text

META_FILE = layout.TFRECORD_META_FILE  # "tfrecord.json"; see layout.is_tfrecord_folder
FORMAT = layout.TFRECORD_FORMAT


def _bytes(v: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _ints(v: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))


def _pcm16(path: str) -> tuple[bytes, int]:
    """(interleaved little-endian int16 bytes, channels) of one sound file.

    Raises:
        AudioError naming the file when the pipeline could not decode it.
    """
    if is_native_wav(decode.check_sound(path)):
        data, _ = soundfile.read(path, dtype="int16", always_2d=True)
        return data.astype("<i2").tobytes(), data.shape[1]
    x = decode.read_sound(path)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2").tobytes(), 1


def _image_bytes(path: str) -> bytes:
    """The image file's bytes, once the pipeline's decoder has read them.

    Raises:
        ImageError naming the file: unreadable, not a JPEG or PNG, or damaged.
    """
    decode.check_image(path)
    return Path(path).read_bytes()


def example(index: layout.PairIndex, pair: layout.Pair, with_pose: bool) -> bytes:
    """One pair as a serialised ``tf.train.Example``."""
    pcm, channels = _pcm16(pair.audio_path)
    feature = {
        "image": _bytes(_image_bytes(pair.image_path)),
        "audio": _bytes(pcm),
        "channels": _ints(channels),
        "label": _ints(index.label_of(pair)),
        "id": _bytes(f"{pair.split}/{pair.category}/{pair.stem}".encode()),
    }
    if with_pose:
        pose = [float(v) for v in index.ground_truth(pair)["pose"]]
        feature["pose"] = tf.train.Feature(float_list=tf.train.FloatList(value=pose))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


_SHARD_NAME = re.compile(r"(train|validation)-\d{5}-of-\d{5}\.tfrecord")


def write_tfrecords(root, out, *, shards: int = 1, progress: bool = True) -> dict:
    """Write every pair of a pair folder as TFRecord shards (``shards`` per split).

    Nothing is replaced in ``out`` unless every pair is written: the shards go
    to temporary files, renamed into place at the end, then ``tfrecord.json``
    (shards an earlier conversion listed and this one does not are removed).

    Returns:
        The metadata written to ``OUT/tfrecord.json``.

    Raises:
        AudioError / ImageError naming the first file the pipeline could not decode;
        ``out`` is left as it was.
    """
    if shards < 1:
        raise DataError(f"--shards must be at least 1, got {shards}")
    index = layout.index_pairs(root)
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    has_pose = index.has_pose
    meta = {
        "format": FORMAT,
        "version": 1,
        "source": index.root,
        "categories": list(index.categories),
        "has_pose": has_pose,
        "counts": {},
        "shards": {},
    }
    written = {}  # shard name -> its temporary file
    bar = tqdm(total=len(index.pairs), desc="to-tfrecord", unit="pair", disable=not progress)
    try:
        for split in layout.SPLITS:
            pairs = index.select(split)
            meta["counts"][split] = {c: sum(p.category == c for p in pairs)
                                     for c in index.categories}
            n_shards = max(1, min(shards, len(pairs))) if pairs else 0
            per_shard = math.ceil(len(pairs) / n_shards) if n_shards else 0
            for s in range(n_shards):
                name = f"{split}-{s:05d}-of-{n_shards:05d}.tfrecord"
                fd, written[name] = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
                os.close(fd)
                with tf.io.TFRecordWriter(written[name]) as writer:
                    for pair in pairs[s * per_shard : (s + 1) * per_shard]:
                        writer.write(example(index, pair, has_pose))
                        bar.update(1)
            meta["shards"][split] = [n for n in written if n.startswith(f"{split}-")]
        earlier = _listed_shards(out)
        (out / META_FILE).unlink(missing_ok=True)  # no reader pairs old metadata with new shards
        for name, tmp in written.items():
            os.replace(tmp, out / name)
        atomic_write_text(out / META_FILE, json.dumps(meta, indent=1, sort_keys=True) + "\n")
    except TfavError as e:
        raise type(e)(f"{e}; nothing written to {out} (python -m tfav.data stats --strict "
                      f"{index.root} lists every problem)") from e
    finally:
        bar.close()
        for tmp in written.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
        if created and not any(out.iterdir()):
            out.rmdir()
    for name in earlier - set(written):
        (out / name).unlink(missing_ok=True)
    return meta


def _listed_shards(folder: Path) -> set[str]:
    """The shard names an earlier ``tfrecord.json`` of ``folder`` lists (none if absent)."""
    try:
        listed = read_meta(folder)["shards"].values()
    except (DataError, AttributeError, KeyError, TypeError):
        return set()
    return {n for names in listed for n in names if _SHARD_NAME.fullmatch(str(n))}


def read_meta(folder) -> dict:
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable TFRecord metadata ({e})") from e
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: not a tfav TFRecord folder")
    return meta


@dataclasses.dataclass
class TFRecordIndex:
    """What ``tfrecord.json`` tells of a TFRecord folder's pairs: the counterpart of
    :class:`tfav.data.layout.PairIndex` for readers that need no file name.

    Attributes:
        root: the folder.
        categories: the source folder's category tuple (labels index it).
        has_pose: every record holds a pose.
        split_counts: ``{"train": {"violin": N, ...}, ...}``, every category in every split.
        labels: always empty: the ``labels.jsonl`` rows are not copied (only their pose).
    """

    root: str
    categories: tuple[str, ...]
    has_pose: bool
    split_counts: dict[str, dict[str, int]]
    labels: dict = dataclasses.field(default_factory=dict)

    def count(self, split: str | None = None, categories=None) -> int:
        """Like :meth:`tfav.data.layout.PairIndex.count`."""
        cats = layout.category_list(categories) or list(self.categories)
        for c in cats:
            if c not in self.categories:
                known = ", ".join(self.categories)
                raise DataError(f"{self.root}: unknown category '{c}' (known: {known})")
        splits = layout.SPLITS if split is None else [split]
        return sum(self.split_counts.get(s, {}).get(c, 0) for s in splits for c in cats)

    def counts(self) -> dict[str, dict[str, int]]:
        """Like :meth:`tfav.data.layout.PairIndex.counts` (categories with pairs only)."""
        return {s: {c: n for c, n in cats.items() if n}
                for s, cats in self.split_counts.items() if any(cats.values())}


def read_index(folder) -> TFRecordIndex:
    """The :class:`TFRecordIndex` of a folder written by ``to-tfrecord``."""
    meta = read_meta(folder)
    return TFRecordIndex(str(folder), tuple(meta["categories"]), bool(meta["has_pose"]),
                         meta["counts"])


def _shards(folder, split: str, categories):
    """(meta, shard paths, record count, category names) of one split, checked."""
    meta = read_meta(folder)
    if split not in layout.SPLITS:
        raise DataError(f"split must be one of {layout.SPLITS}, got '{split}'")
    known = meta["categories"]
    cats = known if categories is None else categories
    unknown = [c for c in cats if c not in known]
    if unknown:
        raise DataError(f"{folder}: unknown category '{unknown[0]}' (known: {', '.join(known)})")
    n = sum(meta["counts"][split][c] for c in cats)
    files = [str(Path(folder) / name) for name in meta["shards"].get(split, [])]
    if n == 0 or not files:
        raise DataError(f"{folder}: no pairs in split '{split}' for {categories or 'any category'}")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DataError(f"{missing[0]}: TFRecord shard listed in {META_FILE} is missing")
    return meta, files, n, cats


def _parse_and_decode(meta, categories, cats, image_size):
    """(parse a serialised record, keep it for ``categories``, decode a parsed record)."""
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "audio": tf.io.FixedLenFeature([], tf.string),
        "channels": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "id": tf.io.FixedLenFeature([], tf.string),
    }
    if meta["has_pose"]:
        spec["pose"] = tf.io.FixedLenFeature([3], tf.float32)

    def parse(record):
        item = tf.io.parse_single_example(record, spec)
        item["label"] = tf.cast(item["label"], tf.int32)
        return item

    wanted = tf.constant([meta["categories"].index(c) for c in cats], tf.int32)

    def keep(item):
        return categories is None or tf.reduce_any(tf.equal(item["label"], wanted))

    def decode(item):
        pcm = tf.io.decode_raw(item["audio"], tf.int16, little_endian=True)
        pcm = tf.reshape(
            tf.cast(pcm, tf.float32) / 32768.0, [-1, tf.cast(item["channels"], tf.int32)]
        )
        out = {
            "image": decode_image(item["image"], image_size),
            "label": item["label"],
            "id": item["id"],
            "waveform": fit_waveform(tf.reduce_mean(pcm, axis=1)),
        }
        if "pose" in item:
            out["pose"] = item["pose"]
        return out

    return parse, keep, decode


def records(folder, split: str, *, categories=None, image_size: int = 64):
    """(dataset of parsed records, their decode function, record count) of one split.

    Used by :func:`tfav.data.pipeline.pair_dataset`; the decode function
    produces the same items as decoding the pair folder.
    """
    meta, files, n, cats = _shards(folder, split, categories)
    parse, keep, decode = _parse_and_decode(meta, categories, cats, image_size)
    ds = tf.data.TFRecordDataset(files).map(parse)
    if categories is not None:
        ds = ds.filter(keep)
    # The count of tfrecord.json, so that Keras knows the batches of an epoch.
    return ds.apply(tf.data.experimental.assert_cardinality(n)), decode, n


def find_undecodable(folder, split: str, *, categories=None, image_size: int = 64):
    """The first record of ``split`` the reader cannot decode, as
    ``"<shard>: record <id> cannot be decoded (<reason>)"`` (or ``"<shard>: corrupt
    TFRecord shard (...)"``); ``None`` when every record decodes.

    ``to-tfrecord`` writes only what decodes, so this finds shards damaged (or
    written by other means) after the conversion, including a shard cut short (a
    record count below ``tfrecord.json``'s, which ``TFRecordDataset`` does not report).
    """
    categories = layout.category_list(categories)
    meta, files, expected, cats = _shards(folder, split, categories)
    parse, keep, decode_item = _parse_and_decode(meta, categories, cats, image_size)
    found = 0
    for shard in files:
        try:
            for record in tf.data.TFRecordDataset(shard):
                item = parse(record)
                if not keep(item):
                    continue
                found += 1
                try:
                    decode_item(item)
                except tf.errors.OpError as e:
                    return (f"{shard}: record {item['id'].numpy().decode()} cannot be decoded "
                            f"({decode_error_reason(e)})")
        except tf.errors.OpError as e:
            return f"{shard}: corrupt TFRecord shard ({decode_error_reason(e)})"
    if found != expected:  # a shard cut short ends without an error in TFRecordDataset
        return (f"{folder}: split '{split}' has {found} readable records, {META_FILE} lists "
                f"{expected} (a shard was cut short or replaced; convert the pair folder again)")
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="pair folder to convert")
    parser.add_argument("out", help="output folder for the shards and tfrecord.json")
    parser.add_argument("--shards", type=int, default=1, help="shards per split (default 1)")


def run(args: argparse.Namespace) -> None:
    meta = write_tfrecords(args.path, args.out, shards=args.shards, progress=sys.stderr.isatty())
    for split, names in meta["shards"].items():
        print(f"{split}: {sum(meta['counts'][split].values())} pairs in {len(names)} shard(s)")
    print(f"wrote {Path(args.out) / META_FILE}")
