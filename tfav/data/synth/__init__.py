"""The embedded default dataset: sampled-instrument performances paired with drawn performers.

``python -m tfav.data synth OUT`` builds a pair folder in the Sub-URMP layout
(Chen et al. 2017, sec. 4) from synthetic recordings: melodies played with the
real sampled instruments of a General MIDI SoundFont (:mod:`.soundfont`,
:mod:`.score`) and, for every 0.5 s chunk, the performer at the chunk's first
instant (:mod:`.performer`). ``labels.jsonl`` holds each pair's ground truth:
instrument, player, recording, MIDI pitch, loudness and pose.

With ``--kind inis`` sounds and images are paired by category only, like INIS;
the pose in the labels then describes the image, not the sound.

Example:
    >>> from tfav.data.synth import default_dataset
    >>> root = default_dataset()   # built once (about a minute), then cached
"""

import importlib

from tfav.data.layout import SUB_URMP_PAIRS as DEFAULT_PAIRS

# The builder imports tfav.audio (and with it TensorFlow); the sampler and the
# scores do not need it, so the package loads it only when it is used.
_LAZY = ("DATASET_VERSION", "KINDS", "build_dataset", "cache_dir",
         "default_dataset", "plan_recordings")  # fmt: skip
__all__ = [*_LAZY, "DEFAULT_PAIRS", "add_arguments", "run"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module("tfav.data.synth.build"), name)
    raise AttributeError(f"module 'tfav.data.synth' has no attribute '{name}'")


def add_arguments(parser) -> None:
    """Options of ``python -m tfav.data synth``."""
    parser.add_argument("out", help="output folder (must not exist or be empty)")
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS,
                        help=f"number of image-sound pairs (default {DEFAULT_PAIRS}, as Sub-URMP)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    parser.add_argument("--size", type=int, default=64, choices=(64, 128), help="image side")
    parser.add_argument("--soundfont", default=None,
                        help="a .sf2 file (default: TimGM6mb.sf2 shipped with pretty_midi)")
    parser.add_argument("--kind", default="suburmp", choices=("suburmp", "inis"),
                        help="suburmp: 13 instruments, images follow the sound; "
                             "inis: 5 categories paired by category only")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (default: all CPUs); the output does not depend on it")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # fmt: skip


def run(args) -> int:
    """Build the dataset and print where it is and how many pairs it holds."""
    import time

    from tfav.data.synth.build import build_dataset

    start = time.perf_counter()
    info = build_dataset(args.out, args.pairs, args.seed, args.size, args.kind,
                         args.soundfont, args.workers, progress=not args.no_progress)  # fmt: skip
    seconds = time.perf_counter() - start
    counts = info["counts"]
    split_counts = ", ".join(f"{s} {sum(c.values())}" for s, c in sorted(counts.items()))
    print(f"{info['path']}: {info['pairs']} pairs from {info['recordings']} recordings "
          f"({split_counts}) in {seconds:.1f} s")  # fmt: skip
    return 0
