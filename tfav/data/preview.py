"""``python -m tfav.data preview PATH``: a PNG grid of example image-sound pairs.

One row per category, ``--per-category`` cells per row; each cell is the image
above the log-mel spectrogram of its sound (Chen et al. 2017, section 4: LMS,
128 mel bands, 44 frames per 0.5 s chunk), labelled with the category and,
when ``labels.jsonl`` has them, the pitch and pose.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tfav.data.layout import SPLITS, index_pairs
from tfav.errors import ConfigError, DataError, ImageError
from tfav.files import atomic_write_bytes

_GAP = 4
_LABEL_H = 26


def spectrogram_rgb(db: np.ndarray, width: int, height: int, top_db: float = 80.0) -> np.ndarray:
    """A dB spectrogram ``[mels, frames]`` as a viridis picture, low frequencies at the bottom."""
    from tfav.visualize import spectrogram_rgb as colour

    db = np.asarray(db, np.float64)
    rgb = colour(db, cmap="viridis", low=db.max() - top_db, high=db.max())
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.NEAREST))


def _load_image(path: str, size: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            square_multiple = im.width == im.height and size % im.width == 0
            resample = Image.NEAREST if square_multiple else Image.LANCZOS
            return np.asarray(im.resize((size, size), resample))
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: cannot read image ({e})") from e


def _label(pair, truth: dict) -> tuple[str, str]:
    line2 = pair.stem
    if truth:
        parts = []
        midi = truth.get("midi")
        if midi is not None:
            parts.append("rest" if int(midi) < 0 else f"midi {int(midi)}")
        pose = truth.get("pose")
        if pose is not None and len(pose) == 3:
            parts.append("pose " + " ".join(f"{float(v):.2f}" for v in pose))
        if parts:
            line2 = "  ".join(parts)
    return pair.category, line2


def choose_pairs(index, split: str | None, per_category: int, seed: int = 0):
    """``{category: [pairs]}``: up to ``per_category`` pairs per category, drawn with ``seed``.

    ``split=None`` prefers the validation split and falls back to all pairs.
    """
    if split is None:
        pool = index.select("validation") or index.pairs
    else:
        pool = index.select(split)
        if not pool:
            raise DataError(f"{index.root}: no pairs in split '{split}'")
    rng = np.random.default_rng(seed)
    chosen = {}
    for category in index.categories:
        pairs = [p for p in pool if p.category == category]
        if pairs:
            pick = sorted(rng.choice(len(pairs), min(per_category, len(pairs)), replace=False))
            chosen[category] = [pairs[i] for i in pick]
    return chosen


def preview_grid(index, split=None, per_category=4, seed=0, cell=128) -> np.ndarray:
    """Render the preview of a :class:`~tfav.data.layout.PairIndex` as ``uint8 [H, W, 3]``.

    Rows are categories, columns examples; each cell stacks the image
    (``cell x cell``), the log-mel spectrogram (``cell x cell``) and a two-line label.
    """
    from tqdm import tqdm

    from tfav.audio import CHUNK_SAMPLES, log_mel_spectrogram
    from tfav.data.decode import read_sound

    chosen = choose_pairs(index, split, per_category, seed)
    flat = [p for pairs in chosen.values() for p in pairs]
    waves = np.zeros((len(flat), CHUNK_SAMPLES), np.float32)
    images = []
    for i, pair in enumerate(tqdm(flat, desc="preview", unit="pair", leave=False)):
        waves[i] = read_sound(pair.audio_path)  # the pipeline's chunk: padded or cropped
        images.append(_load_image(pair.image_path, cell))
    lms = np.asarray(log_mel_spectrogram(waves))

    cols = max(len(v) for v in chosen.values())
    cell_h = 2 * cell + _LABEL_H
    grid = Image.new(
        "RGB",
        (cols * (cell + _GAP) + _GAP, len(chosen) * (cell_h + _GAP) + _GAP),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(10)
    k = 0
    for row, pairs in enumerate(chosen.values()):
        for col, pair in enumerate(pairs):
            x0, y0 = _GAP + col * (cell + _GAP), _GAP + row * (cell_h + _GAP)
            grid.paste(Image.fromarray(images[k]), (x0, y0))
            grid.paste(Image.fromarray(spectrogram_rgb(lms[k], cell, cell)), (x0, y0 + cell))
            top, bottom = _label(pair, index.ground_truth(pair))
            draw.text((x0 + 1, y0 + 2 * cell + 1), top, fill=(0, 0, 0), font=font)
            draw.text((x0 + 1, y0 + 2 * cell + 13), bottom, fill=(60, 60, 60), font=font)
            k += 1
    return np.asarray(grid)


def add_arguments(parser):
    parser.add_argument("path", help="pair folder (img/ and chunk/ in the Sub-URMP layout)")
    parser.add_argument("--out", help="PNG to write (default: PATH/preview.png)")
    parser.add_argument("--per-category", type=int, default=4, help="examples per category")
    parser.add_argument("--split", choices=SPLITS, help="split to draw from (default: validation)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example choice")
    parser.add_argument("--cell", type=int, default=128, help="cell width in pixels")


def run(args):
    if args.per_category < 1:
        raise ConfigError(f"--per-category must be at least 1, got {args.per_category}")
    if args.cell < 16:
        raise ConfigError(f"--cell must be at least 16 pixels, got {args.cell}")
    index = index_pairs(args.path)
    grid = preview_grid(index, args.split, args.per_category, args.seed, args.cell)
    out = Path(args.out) if args.out else Path(args.path) / "preview.png"
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    print(f"wrote {out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0
