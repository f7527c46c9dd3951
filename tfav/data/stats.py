"""``python -m tfav.data stats PATH [--json]``: what a pair folder holds.

Counts pairs per split and category, lists files without a partner (never
used for training), and summarises the audio formats (sample rates, channel
counts, durations) and image sizes found, each as ``value -> count``. Works on
any category names (Sub-URMP, INIS-style sets, your own data).

With ``--json`` only the counts are printed, exactly as
``{"train": {"violin": N, ...}, "validation": {...}}``; every split lists every
category of the folder (0 when it has none there).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

import soundfile
from PIL import Image
from tqdm import tqdm

from tfav.data import layout


def pair_counts(index: layout.PairIndex) -> dict[str, dict[str, int]]:
    """Pairs per split and category, every split listing every category."""
    found = index.counts()
    return {s: {c: found.get(s, {}).get(c, 0) for c in index.categories} for s in layout.SPLITS}


def _summary(counter: collections.Counter) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def dataset_stats(root, *, progress: bool = True) -> dict:
    """Inspect a pair folder.

    Args:
        root: the pair folder (see :mod:`tfav.data.layout`).
        progress: show a progress bar while reading file headers.

    Returns:
        ``{"root", "counts", "unpaired" (list of paths), "categories",
        "sample_rates", "channels", "durations", "audio_formats", "image_sizes",
        "unreadable" (list of "path: problem")}``; the summaries map a value to
        the number of files that have it. Durations are in seconds, rounded to
        the millisecond; image sizes are ``"WxH"``.

    Raises:
        DataError: the folder is missing, not a pair folder, or holds no pair.
    """
    index = layout.index_pairs(root)
    rates, channels, durations, formats, sizes = (collections.Counter() for _ in range(5))
    unreadable = []
    for pair in tqdm(index.pairs, desc="reading headers", unit="pair", disable=not progress):
        try:
            info = soundfile.info(pair.audio_path)
            rates[info.samplerate] += 1
            channels[info.channels] += 1
            durations[f"{info.frames / info.samplerate:.3f}"] += 1
            formats[f"{info.format} {info.subtype}"] += 1
        except (RuntimeError, OSError, ValueError) as e:
            unreadable.append(f"{pair.audio_path}: {' '.join(str(e).split())}")
        try:
            with Image.open(pair.image_path) as im:
                sizes[f"{im.width}x{im.height}"] += 1
        except (OSError, ValueError) as e:
            unreadable.append(f"{pair.image_path}: {' '.join(str(e).split())}")
    return {
        "root": index.root,
        "categories": list(index.categories),
        "counts": pair_counts(index),
        "unpaired": list(index.unpaired),
        "sample_rates": _summary(rates),
        "channels": _summary(channels),
        "durations": _summary(durations),
        "audio_formats": _summary(formats),
        "image_sizes": _summary(sizes),
        "unreadable": unreadable,
    }


def format_stats(stats: dict, unpaired_limit: int = 20) -> str:
    """A human-readable report of :func:`dataset_stats`."""
    counts = stats["counts"]
    cats = stats["categories"]
    width = max(len("category"), *(len(c) for c in cats))
    lines = [f"{stats['root']}: {len(cats)} categories"]
    lines.append(f"  {'category':<{width}} " + " ".join(f"{s:>10}" for s in counts))
    for c in cats:
        lines.append(f"  {c:<{width}} " + " ".join(f"{counts[s][c]:>10}" for s in counts))
    total = " ".join(f"{sum(counts[s].values()):>10}" for s in counts)
    lines.append(f"  {'total':<{width}} {total}")
    unpaired = stats["unpaired"]
    lines.append(f"unpaired files (not used): {len(unpaired)}")
    for path in unpaired[:unpaired_limit]:
        lines.append(f"  {path}")
    if len(unpaired) > unpaired_limit:
        lines.append(f"  ... and {len(unpaired) - unpaired_limit} more")
    for key, title in [
        ("sample_rates", "audio sample rates (Hz)"),
        ("channels", "audio channels"),
        ("durations", "audio durations (s)"),
        ("audio_formats", "audio formats"),
        ("image_sizes", "image sizes (WxH)"),
    ]:
        found = ", ".join(f"{k} -> {v}" for k, v in stats[key].items()) or "none"
        lines.append(f"{title}: {found}")
    if stats["unreadable"]:
        lines.append(f"unreadable files: {len(stats['unreadable'])}")
        lines.extend(f"  {u}" for u in stats["unreadable"][:unpaired_limit])
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="pair folder (img/<split>/<category>, chunk/...)")
    parser.add_argument(
        "--json", action="store_true", help="print only the pair counts per split and category"
    )
    parser.add_argument("--limit", type=int, default=20, help="unpaired files to list (default 20)")


def run(args: argparse.Namespace) -> None:
    if args.json:
        index = layout.index_pairs(args.path)
        print(json.dumps(pair_counts(index)))
        return
    stats = dataset_stats(args.path, progress=sys.stderr.isatty())
    print(format_stats(stats, unpaired_limit=args.limit))
