"""The on-disk pair layout: Sub-URMP as distributed, and any dataset like it.

A pair folder holds::

    ROOT/img/{train,validation}/<category>/<stem>.jpg   (or .png)
    ROOT/chunk/{train,validation}/<category>/<stem>.wav (or .flac/.ogg)
    ROOT/labels.jsonl                                   (optional ground truth)

An image and a sound form a pair when split, category and stem agree, e.g.
``img/train/violin/violin01_4000.jpg`` with ``chunk/train/violin/violin01_4000.wav``.
Category names are free (the 13 Sub-URMP instruments, INIS classes, your own).
Files without a partner are reported in :attr:`PairIndex.unpaired` and never used.

``labels.jsonl`` has one JSON object per pair with at least ``split``,
``category`` and ``stem``; any other keys (pitch, loudness, pose, ...) are
ground truth that readers may use.

:func:`select_pairs` picks the pairs of a split and categories in the order
every reader uses. A TFRecord copy of a pair folder (``python -m tfav.data
to-tfrecord``, :mod:`tfav.data.tfrecord`) is recognised by
:func:`is_tfrecord_folder`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np

from tfav.errors import ConfigError, DataError
from tfav.files import atomic_write_bytes, atomic_write_text

SPLITS = ("train", "validation")
#: The number of pairs in Sub-URMP (Chen et al. 2017, sec. 4, Table 2).
SUB_URMP_PAIRS = 17555
IMAGE_DIR, AUDIO_DIR, LABELS_FILE = "img", "chunk", "labels.jsonl"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
#: The metadata file and format name of a TFRecord copy of a pair folder (``to-tfrecord``).
TFRECORD_META_FILE, TFRECORD_FORMAT = "tfrecord.json", "tfav-pairs"

#: The 13 instrument categories of Sub-URMP, in the dataset's alphabetical order.
SUB_URMP_INSTRUMENTS = (
    "bassoon", "cello", "clarinet", "double_bass", "flute", "horn", "oboe",
    "sax", "trombone", "trumpet", "tuba", "viola", "violin",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Pair:
    """One image-sound pair of a pair folder."""

    split: str
    category: str
    stem: str
    image_path: str
    audio_path: str


@dataclasses.dataclass
class PairIndex:
    """Everything :func:`index_pairs` found in a pair folder.

    Attributes:
        root: the folder.
        pairs: the complete pairs, sorted by split, category, stem.
        unpaired: paths of images or sounds without a partner.
        categories: sorted category names over all splits; a pair's label is
            its category's position in this tuple.
        labels: ground truth from ``labels.jsonl`` keyed by (split, category, stem).
    """

    root: str
    pairs: list[Pair]
    unpaired: list[str]
    categories: tuple[str, ...]
    labels: dict[tuple[str, str, str], dict]

    def select(self, split: str | None = None, category: str | None = None) -> list[Pair]:
        """The pairs of one split and/or one category."""
        if category is not None and category not in self.categories:
            known = ", ".join(self.categories)
            raise DataError(f"{self.root}: unknown category '{category}' (known: {known})")
        return [
            p
            for p in self.pairs
            if (split is None or p.split == split) and (category is None or p.category == category)
        ]

    def label_of(self, pair: Pair) -> int:
        return self.categories.index(pair.category)

    def ground_truth(self, pair: Pair) -> dict:
        return self.labels.get((pair.split, pair.category, pair.stem), {})

    @property
    def has_pose(self) -> bool:
        """True when ``labels.jsonl`` gives a pose for every pair."""
        return bool(self.labels) and all("pose" in self.ground_truth(p) for p in self.pairs)

    def count(self, split: str | None = None, categories=None) -> int:
        """The number of pairs of ``split`` (``None``: all) in ``categories`` (a name, a
        list or ``None``: all); an unknown category is a :class:`DataError`."""
        return sum(len(self.select(split, c)) for c in category_list(categories) or [None])

    def counts(self) -> dict[str, dict[str, int]]:
        """Pairs per split and category: ``{"train": {"violin": N, ...}, ...}``."""
        out: dict[str, dict[str, int]] = {}
        for p in self.pairs:
            out.setdefault(p.split, {}).setdefault(p.category, 0)
            out[p.split][p.category] += 1
        return out


def _check_link(path: Path) -> None:
    """Raise DataError for a symbolic link whose target is gone."""
    if path.is_symlink() and not path.exists():
        raise DataError(f"{path}: broken link (to {os.readlink(path)}, which does not exist)")


def _files_by_key(base: Path, extensions: tuple[str, ...]) -> dict[tuple[str, str, str], str]:
    """``(split, category, stem) -> path`` of the files with ``extensions`` under ``base``.

    Raises:
        DataError: a broken link (a category folder or a file), or two files of one
            stem (``a.jpg`` and ``a.png``), of which no reader could know which to use.
    """
    found = {}
    for split in SPLITS:
        split_dir = base / split
        if not split_dir.is_dir():
            continue
        for category_dir in sorted(split_dir.iterdir()):
            if not category_dir.name.startswith("."):
                _check_link(category_dir)
            if not category_dir.is_dir():
                continue
            for f in sorted(category_dir.iterdir()):
                if f.suffix.lower() not in extensions or f.name.startswith("."):
                    continue
                _check_link(f)
                key = (split, category_dir.name, f.stem)
                if key in found:
                    raise DataError(f"{category_dir / f.stem}: two files of one stem "
                                    f"({Path(found[key]).name} and {f.name}); keep one")
                found[key] = str(f)
    return found


def index_pairs(root: str | os.PathLike) -> PairIndex:
    """Index a pair folder.

    Raises:
        DataError: the folder does not exist, has no ``img``/``chunk``
            folders, or holds no complete pair; a broken link; a stem with two
            images (or two sounds) in one folder.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    img_dir, audio_dir = root_path / IMAGE_DIR, root_path / AUDIO_DIR
    if not img_dir.is_dir() or not audio_dir.is_dir():
        raise DataError(
            f"{root}: not a pair folder (expected {IMAGE_DIR}/<split>/<category>/ "
            f"and {AUDIO_DIR}/<split>/<category>/)"
        )
    images = _files_by_key(img_dir, IMAGE_EXTENSIONS)
    sounds = _files_by_key(audio_dir, AUDIO_EXTENSIONS)
    keys = sorted(images.keys() & sounds.keys())
    unpaired = sorted(images[k] for k in images.keys() - sounds.keys()) + sorted(
        sounds[k] for k in sounds.keys() - images.keys()
    )
    if not keys:
        raise DataError(f"{root}: no image-sound pairs found ({len(unpaired)} unpaired files)")
    pairs = [Pair(s, c, stem, images[(s, c, stem)], sounds[(s, c, stem)]) for s, c, stem in keys]
    categories = tuple(sorted({p.category for p in pairs}))
    return PairIndex(str(root_path), pairs, unpaired, categories, read_labels(root_path))


def read_labels(root: str | os.PathLike) -> dict[tuple[str, str, str], dict]:
    """Ground truth from ``ROOT/labels.jsonl``, or ``{}`` when there is none."""
    path = Path(root) / LABELS_FILE
    _check_link(path)
    if not path.exists():
        return {}
    labels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                labels[(row["split"], row["category"], row["stem"])] = row
            except (json.JSONDecodeError, KeyError) as e:
                raise DataError(f"{path}:{n}: bad label line ({e})") from e
    return labels


def as_index(root_or_index) -> PairIndex:
    """``root_or_index`` itself when it is a :class:`PairIndex`, else the index of that folder."""
    if isinstance(root_or_index, PairIndex):
        return root_or_index
    return index_pairs(root_or_index)


def category_list(categories) -> list[str] | None:
    """``None`` (every category), one category name, or several -> ``None`` or a list."""
    if categories is None:
        return None
    return [categories] if isinstance(categories, str) else list(categories)


def recording_of(index: PairIndex, pair: Pair) -> str:
    """The recording (take) a pair was cut from: its ``labels.jsonl`` ``recording``, else
    its stem without the last ``_<chunk>`` (``violin01_0003`` -> ``violin01``)."""
    return index.ground_truth(pair).get("recording") or pair.stem.rsplit("_", 1)[0]


def takes(index: PairIndex, split: str = "train", categories=None) -> list[str]:
    """The sorted recordings of ``split``'s pairs in ``categories``."""
    return sorted({recording_of(index, p) for p in select_pairs(index, split, categories)})


def select_pairs(index: PairIndex, split: str, categories=None) -> list[Pair]:
    """The pairs of ``split`` in ``categories`` (a name, a list or ``None``), by category and stem.

    Raises:
        ConfigError: an unknown split. DataError: an unknown category, or no pair.
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got '{split}'")
    cats = category_list(categories)
    pairs = [
        p
        for c in (cats or [None])
        for p in index.select(split, c)  # select() rejects unknown categories
    ]
    pairs.sort(key=lambda p: (p.category, p.stem))
    if not pairs:
        raise DataError(f"{index.root}: no pairs in split '{split}' for {cats or 'any category'}")
    return pairs


def is_tfrecord_folder(path) -> bool:
    """True when ``path`` holds the ``tfrecord.json`` of a folder written by ``to-tfrecord``.

    Such a folder (:mod:`tfav.data.tfrecord`) holds the pairs of a pair folder
    as TFRecord shards; readers accept either form.
    """
    try:
        meta = Path(os.fspath(path)) / TFRECORD_META_FILE
    except TypeError:
        return False
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == TFRECORD_FORMAT
    except (OSError, ValueError):
        return False


def image_path(root, split: str, category: str, stem: str, ext: str = ".jpg") -> Path:
    return Path(root) / IMAGE_DIR / split / category / f"{stem}{ext}"


def audio_path(root, split: str, category: str, stem: str, ext: str = ".wav") -> Path:
    return Path(root) / AUDIO_DIR / split / category / f"{stem}{ext}"


def write_pair(
    root,
    split: str,
    category: str,
    stem: str,
    image: np.ndarray,
    audio: np.ndarray,
    sample_rate: int = 44100,
    image_format: str = "jpg",
) -> Pair:
    """Write one pair in the Sub-URMP layout.

    Args:
        image: uint8 ``[H, W, 3]``.
        audio: float ``[samples]`` in [-1, 1] (or ``[samples, channels]``),
            written as 16-bit PCM WAV like Sub-URMP.
        image_format: ``"jpg"`` (quality 95, as distributed) or ``"png"`` (lossless).
    """
    from PIL import Image

    from tfav.audio.io import wav_bytes

    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got '{split}'")
    ext = ".png" if image_format == "png" else ".jpg"
    buf = io.BytesIO()
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if ext == ".png":
        pil.save(buf, format="PNG")
    else:
        pil.save(buf, format="JPEG", quality=95)
    ipath = image_path(root, split, category, stem, ext)
    atomic_write_bytes(ipath, buf.getvalue())
    apath = audio_path(root, split, category, stem)
    atomic_write_bytes(apath, wav_bytes(np.clip(audio, -1.0, 1.0), sample_rate))
    return Pair(split, category, stem, str(ipath), str(apath))


def write_labels(root, rows: list[dict]) -> None:
    """Write ``labels.jsonl`` atomically (one JSON object per pair)."""
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    atomic_write_text(Path(root) / LABELS_FILE, text)
