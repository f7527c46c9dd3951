"""``python -m tfav.data stats PATH [--json] [--strict]``: what a pair folder holds.

Counts pairs per split and category, lists files without a partner (never
used for training), and summarises the audio formats (sample rates, channel
counts, durations, and how many chunks are shorter or longer than 0.5 s, which
the pipeline zero-pads or crops) and image sizes found, each as
``value -> count``. Works on any category names (Sub-URMP, INIS-style sets,
your own data).

Problems are listed one per line naming the file: what the headers show (an
unreadable or empty sound, an unreadable image or one neither JPEG nor PNG, a
file whose content is not the format its name says). ``--strict`` also decodes
every file with the training pipeline's own decoders, which finds what only
fails during training (a file cut short, a damaged JPEG, NaN samples), and
exits with an error when there is any problem.

With ``--json`` only the counts are printed, exactly as
``{"train": {"violin": N, ...}, "validation": {...}}``; every split lists every
category of the folder (0 when it has none there). With ``--strict`` too, the
problems go to stderr.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

from tqdm import tqdm

from tfav.data import layout
from tfav.errors import AudioError, DataError, ImageError

#: The lengths of a sound against one 0.5 s chunk (:func:`tfav.data.decode.chunk_length`).
CHUNK_LENGTHS = ("exact", "short", "long")


def pair_counts(index: layout.PairIndex) -> dict[str, dict[str, int]]:
    """Pairs per split and category, every split listing every category."""
    found = index.counts()
    return {s: {c: found.get(s, {}).get(c, 0) for c in index.categories} for s in layout.SPLITS}


def _summary(counter: collections.Counter) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def dataset_stats(root, *, progress: bool = True, strict: bool = False) -> dict:
    """Inspect a pair folder.

    Args:
        root: the pair folder (see :mod:`tfav.data.layout`).
        progress: show a progress bar while reading the files.
        strict: also decode every file as the training pipeline does
            (:func:`tfav.data.decode.check_sound`, :func:`~tfav.data.decode.check_image`).

    Returns:
        ``{"root", "counts", "unpaired" (list of paths), "categories",
        "sample_rates", "channels", "durations", "audio_formats", "image_sizes",
        "chunk_lengths", "problems" (list of "path: problem"), "strict"}``; the
        summaries map a value to the number of files that have it. Durations are
        in seconds, rounded to the millisecond; image sizes are ``"WxH"``;
        ``chunk_lengths`` counts the sounds that are one chunk exactly, shorter
        (zero-padded) or longer (cropped) at 44.1 kHz.

    Raises:
        DataError: the folder is missing, not a pair folder, or holds no pair.
    """
    from tfav.data import decode  # TensorFlow: not imported by ``stats --json``

    index = layout.index_pairs(root)
    rates, channels, durations, formats, sizes = (collections.Counter() for _ in range(5))
    lengths = dict.fromkeys(CHUNK_LENGTHS, 0)
    problems = []
    bar = tqdm(index.pairs, desc="decoding files" if strict else "reading headers", unit="pair",
               disable=not progress)
    for pair in bar:
        try:
            info = decode.sound_header(pair.audio_path)
            rates[info.samplerate] += 1
            channels[info.channels] += 1
            durations[f"{info.frames / info.samplerate:.3f}"] += 1
            formats[f"{info.format} {info.subtype}"] += 1
            lengths[decode.chunk_length(info.frames, info.samplerate)] += 1
            problems.append(decode.mislabelled(pair.audio_path, info.format))
            if strict:
                decode.check_sound(pair.audio_path)
        except AudioError as e:
            problems.append(str(e))
        try:
            image_format, width, height = decode.image_header(pair.image_path)
            sizes[f"{width}x{height}"] += 1
            problems.append(decode.mislabelled(pair.image_path, image_format))
            if strict:
                decode.check_image(pair.image_path)
        except ImageError as e:
            problems.append(str(e))
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
        "chunk_lengths": lengths,
        "problems": [p for p in problems if p],
        "strict": strict,
    }


def tfrecord_stats(folder, *, strict: bool = False) -> dict:
    """Inspect a TFRecord folder written by ``to-tfrecord``: its counts (from
    ``tfrecord.json``) and, with ``strict``, every shard read and every record decoded
    as training reads them (:func:`tfav.data.tfrecord.find_undecodable`; the first bad
    record of each split is reported)."""
    from tfav.data import tfrecord  # TensorFlow

    index = tfrecord.read_index(folder)
    problems = []
    if strict:
        for split in layout.SPLITS:
            if index.count(split):
                problems.append(tfrecord.find_undecodable(folder, split))
    return {"root": index.root, "categories": list(index.categories),
            "counts": {s: dict(c) for s, c in index.split_counts.items()},
            "problems": [p for p in problems if p], "strict": strict, "tfrecord": True}


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
    if stats.get("tfrecord"):
        problems = stats["problems"]
        checked = "every record decoded" if stats["strict"] else "--strict decodes every record"
        lines.append(f"TFRecord folder; problems ({checked}): {len(problems)}")
        lines.extend(f"  {p}" for p in problems)
        return "\n".join(lines)
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
    n = stats["chunk_lengths"]
    lines.append("chunk lengths (0.5 s = 22050 samples at 44.1 kHz): "
                 f"{n['exact']} exact, {n['short']} short (zero-padded), "
                 f"{n['long']} long (cropped)")
    problems = stats["problems"]
    if stats["strict"]:
        lines.append(f"problems (every file decoded): {len(problems)}")
        lines.extend(f"  {p}" for p in problems)
    else:
        lines.append(f"problems (headers only; --strict decodes every file): {len(problems)}")
        lines.extend(f"  {p}" for p in problems[:unpaired_limit])
        if len(problems) > unpaired_limit:
            lines.append(f"  ... and {len(problems) - unpaired_limit} more")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="pair folder (img/<split>/<category>, chunk/...) or a "
                        "TFRecord folder written by to-tfrecord")
    parser.add_argument(
        "--json", action="store_true", help="print only the pair counts per split and category"
    )
    parser.add_argument("--strict", action="store_true",
                        help="decode every file as training does; list every problem and exit "
                        "with an error when there is any")
    parser.add_argument("--limit", type=int, default=20,
                        help="unpaired files and problems to list (default 20; --strict lists "
                        "every problem)")


def run(args: argparse.Namespace) -> None:
    strict = getattr(args, "strict", False)
    progress = sys.stderr.isatty()
    if layout.is_tfrecord_folder(args.path):
        stats = tfrecord_stats(args.path, strict=strict)
        print(json.dumps(stats["counts"]) if args.json else format_stats(stats))
        if strict and stats["problems"]:
            n = len(stats["problems"])
            raise DataError(f"{stats['root']}: {n} problem{'s' if n > 1 else ''} (listed above)")
        return
    if args.json and not strict:
        index = layout.index_pairs(args.path)
        print(json.dumps(pair_counts(index)))
        return
    stats = dataset_stats(args.path, progress=progress, strict=strict)
    if args.json:
        print(json.dumps(stats["counts"]))
        for problem in stats["problems"]:
            print(problem, file=sys.stderr)
    else:
        print(format_stats(stats, unpaired_limit=args.limit))
    if strict and stats["problems"]:
        n = len(stats["problems"])
        raise DataError(f"{stats['root']}: {n} problem{'s' if n > 1 else ''} (listed above)")
