"""The embedded default dataset: sampled-instrument performances paired with drawn performers.

``python -m tfav.data synth OUT`` builds a pair folder in the Sub-URMP layout
(Chen et al. 2017, sec. 4) from synthetic recordings: melodies played with the
real sampled instruments of a General MIDI SoundFont (:mod:`.soundfont`,
:mod:`.score`) and, for every 0.5 s chunk, the performer at the chunk's first
instant (:mod:`.performer`). ``labels.jsonl`` holds each pair's ground truth:
instrument, player, recording, MIDI pitch, loudness and pose.

With ``--kind inis`` sounds and images are paired by category only, like INIS;
the pose in the labels then describes the image, not the sound.

``python -m tfav.data synth --videos N OUT`` renders ``N`` continuous performances
instead (ground truth for whole-performance generation, :mod:`.videos`): the
players and scenes of the dataset's validation recordings, ``--seconds`` long at
``--fps``, as MP4, WAV and lossless frames with per-frame labels.

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
    parser.add_argument("--videos", type=int, default=None, metavar="N",
                        help="render N continuous performances (MP4 + WAV + frames + per-frame "
                             "labels) by validation players of the --pairs/--seed dataset "
                             "instead of pairs")
    parser.add_argument("--seconds", type=float, default=None,
                        help="--videos: length of each video in s (default 6)")
    parser.add_argument("--fps", type=int, default=None,
                        help="--videos: frames per second (default 25)")
    parser.add_argument("--instrument", default=None,
                        help="--videos: only this instrument (default: cycle through all 13)")
    # fmt: skip


def run(args) -> int:
    """Build the dataset (or the videos) and print where it is and what it holds."""
    import time

    from tfav.errors import ConfigError

    start = time.perf_counter()
    video_only = [f"--{k}" for k in ("seconds", "fps", "instrument")
                  if getattr(args, k, None) is not None]
    if getattr(args, "videos", None) is None:
        if video_only:
            raise ConfigError(f"{', '.join(video_only)}: for --videos only")
    else:
        if args.kind != "suburmp":
            raise ConfigError("--videos: of the suburmp kind only (INIS images do not follow "
                              "the sound)")
        from tfav.data.synth.videos import build_videos

        info = build_videos(args.out, args.videos,
                            6.0 if args.seconds is None else args.seconds,
                            25 if args.fps is None else args.fps, args.size, args.seed,
                            args.pairs, args.instrument, args.soundfont,
                            progress=not args.no_progress)  # fmt: skip
        frames = sum(v["frames"] for v in info["videos"])
        categories = sorted({v["category"] for v in info["videos"]})
        print(f"{info['path']}: {len(info['videos'])} videos of {info['seconds']:g} s at "
              f"{info['fps']} fps ({frames} frames; {', '.join(categories)}) in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        return 0

    from tfav.data.synth.build import build_dataset

    info = build_dataset(args.out, args.pairs, args.seed, args.size, args.kind,
                         args.soundfont, args.workers, progress=not args.no_progress)  # fmt: skip
    seconds = time.perf_counter() - start
    counts = info["counts"]
    split_counts = ", ".join(f"{s} {sum(c.values())}" for s, c in sorted(counts.items()))
    print(f"{info['path']}: {info['pairs']} pairs from {info['recordings']} recordings "
          f"({split_counts}) in {seconds:.1f} s")  # fmt: skip
    return 0
