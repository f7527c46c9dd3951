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
(:func:`tfav.data.layout.is_tfrecord_folder`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from tfav import audio
from tfav.data import layout
from tfav.data.decode import decode_image, fit_waveform, is_native_wav
from tfav.errors import AudioError, DataError, ImageError
from tfav.files import atomic_write_text

META_FILE = layout.TFRECORD_META_FILE  # "tfrecord.json"; see layout.is_tfrecord_folder
FORMAT = layout.TFRECORD_FORMAT


def _bytes(v: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _ints(v: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))


def _pcm16(path: str) -> tuple[bytes, int]:
    """(interleaved little-endian int16 bytes, channels) of one sound file."""
    try:
        info = soundfile.info(path)
        if is_native_wav(info):
            data, _ = soundfile.read(path, dtype="int16", always_2d=True)
            return data.astype("<i2").tobytes(), data.shape[1]
    except (RuntimeError, OSError, ValueError) as e:
        raise AudioError(f"{path}: unreadable audio ({' '.join(str(e).split())})") from e
    x = audio.load_audio(path, audio.SAMPLE_RATE, allow_silent=True)[: audio.CHUNK_SAMPLES]
    x = np.pad(x, (0, audio.CHUNK_SAMPLES - len(x)))
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2").tobytes(), 1


def _image_bytes(path: str) -> bytes:
    try:
        with Image.open(path) as im:
            if im.format not in ("JPEG", "PNG"):
                raise ImageError(f"{path}: {im.format} images are not supported (JPG or PNG)")
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: unreadable image ({e})") from e
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


def write_tfrecords(root, out, *, shards: int = 1, progress: bool = True) -> dict:
    """Write every pair of a pair folder as TFRecord shards (``shards`` per split).

    Returns:
        The metadata written to ``OUT/tfrecord.json``.
    """
    if shards < 1:
        raise DataError(f"--shards must be at least 1, got {shards}")
    index = layout.index_pairs(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    has_pose = bool(index.labels) and all("pose" in index.ground_truth(p) for p in index.pairs)
    meta = {
        "format": FORMAT,
        "version": 1,
        "source": index.root,
        "categories": list(index.categories),
        "has_pose": has_pose,
        "counts": {},
        "shards": {},
    }
    bar = tqdm(total=len(index.pairs), desc="to-tfrecord", unit="pair", disable=not progress)
    for split in layout.SPLITS:
        pairs = index.select(split)
        meta["counts"][split] = {c: sum(p.category == c for p in pairs) for c in index.categories}
        n_shards = max(1, min(shards, len(pairs))) if pairs else 0
        per_shard = math.ceil(len(pairs) / n_shards) if n_shards else 0
        names = []
        for s in range(n_shards):
            name = f"{split}-{s:05d}-of-{n_shards:05d}.tfrecord"
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
            os.close(fd)
            try:
                with tf.io.TFRecordWriter(tmp) as writer:
                    for pair in pairs[s * per_shard : (s + 1) * per_shard]:
                        writer.write(example(index, pair, has_pose))
                        bar.update(1)
                os.replace(tmp, out / name)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            names.append(name)
        meta["shards"][split] = names
    bar.close()
    text = json.dumps(meta, indent=1, sort_keys=True) + "\n"
    atomic_write_text(out / META_FILE, text)
    return meta


def read_meta(folder) -> dict:
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable TFRecord metadata ({e})") from e
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: not a tfav TFRecord folder")
    return meta


def records(folder, split: str, *, categories=None, image_size: int = 64):
    """(dataset of parsed records, their decode function, record count) of one split.

    Used by :func:`tfav.data.pipeline.pair_dataset`; the decode function
    produces the same items as decoding the pair folder.
    """
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

    ds = tf.data.TFRecordDataset(files).map(parse)
    if categories is not None:
        wanted = tf.constant([known.index(c) for c in cats], tf.int32)
        ds = ds.filter(lambda item: tf.reduce_any(tf.equal(item["label"], wanted)))

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

    return ds, decode, n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="pair folder to convert")
    parser.add_argument("out", help="output folder for the shards and tfrecord.json")
    parser.add_argument("--shards", type=int, default=1, help="shards per split (default 1)")


def run(args: argparse.Namespace) -> None:
    meta = write_tfrecords(args.path, args.out, shards=args.shards, progress=sys.stderr.isatty())
    for split, names in meta["shards"].items():
        print(f"{split}: {sum(meta['counts'][split].values())} pairs in {len(names)} shard(s)")
    print(f"wrote {Path(args.out) / META_FILE}")
