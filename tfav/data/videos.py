"""``python -m tfav.data from-videos SRC OUT``: performance videos -> image-sound pairs.

The procedure of Chen et al. 2017, section 4 (how Sub-URMP was made from URMP):

1. Videos are split 80/20 into train and validation so that no video is in
   both (seeded; each split gets at least one video of a group when the group
   has two or more). Videos are grouped by their category, and multi-track
   URMP pieces form one more group.
2. Each video is cut into 0.5 s chunks; the first frame of a chunk (the first
   whose timestamp is at or after the chunk start) is the chunk's image.
3. A chunk's loudness is measured with :func:`tfav.audio.loudness_dbfs`;
   chunks at or below -45 dBFS (:data:`tfav.audio.SILENCE_DBFS`) are dropped.
   So are a trailing partial chunk and chunks without a video frame.

Images are centre-cropped to a square (the central ``min(W, H)`` pixels of the
longer side; the rest of the frame is discarded) and resized to
``--size`` x ``--size`` with a Lanczos filter. Sounds are 44.1 kHz mono 16-bit
WAVs of 22,050 samples.

Audio comes from the video's audio stream (channels averaged, resampled to
44.1 kHz), or, for URMP piece folders such as ``01_Jupiter_vn_vc/`` holding
``Vid_01_Jupiter_vn_vc.mp4``, from the separated tracks ``AuSep_<track>_<inst>_*.wav``
(one output category per track, named after the Sub-URMP instrument, e.g.
``vn`` -> ``violin``; the whole frame is the image of every track), else from
the mix ``AuMix_*.wav``. The category is ``--category`` when given, otherwise
the track's instrument (URMP), the single instrument of a URMP folder name, or
the name of the folder holding the video.

Output: the Sub-URMP layout (:func:`tfav.data.layout.write_pair`), stems
``<video stem>_<chunk start in ms>`` (``<video stem>_<track>_<ms>`` for
separated URMP tracks), plus rows in ``labels.jsonl`` (video, track, start_ms,
loudness_dbfs). Reading videos needs PyAV (``pip install 'tfav[video]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from tfav import audio
from tfav.data import layout
from tfav.errors import ConfigError, DataError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")
CHUNK_SECONDS = 0.5
#: URMP instrument abbreviations -> Sub-URMP category names.
URMP_INSTRUMENTS = {
    "vn": "violin", "va": "viola", "vc": "cello", "db": "double_bass", "fl": "flute",
    "ob": "oboe", "cl": "clarinet", "bn": "bassoon", "sax": "sax", "tpt": "trumpet",
    "hn": "horn", "tbn": "trombone", "tba": "tuba",
}  # fmt: skip
MULTI_TRACK_GROUP = "*"


class VideoReadError(Exception):
    """A video that cannot be decoded (reported and skipped)."""


@dataclasses.dataclass
class AudioSource:
    """Where the sound of one output category of a video comes from."""

    category: str
    path: str | None = None  # None: the video's own audio stream
    track: str | None = None  # URMP separated track number


@dataclasses.dataclass
class VideoJob:
    path: str
    sources: list[AudioSource]

    @property
    def group(self) -> str:
        cats = {s.category for s in self.sources}
        return cats.pop() if len(cats) == 1 else MULTI_TRACK_GROUP


@dataclasses.dataclass
class VideoResult:
    path: str
    split: str
    kept: dict[str, int] = dataclasses.field(default_factory=dict)
    silent: int = 0
    no_frame: int = 0
    error: str | None = None


def import_av(purpose="reading videos"):
    """The ``av`` module (PyAV, an optional dependency), or a one-line error."""
    try:
        import av
    except ImportError as e:
        raise ConfigError(
            f"{purpose} needs PyAV, which is not installed: pip install 'tfav[video]'"
        ) from e
    return av


# --------------------------------------------------------------------------- planning


def find_videos(src) -> list[Path]:
    """Video files under ``src`` (or ``src`` itself), sorted."""
    src = Path(src)
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise DataError(f"{src}: no such file or folder")
    found = [
        p
        for p in sorted(src.rglob("*"))
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() and not p.name.startswith(".")
    ]
    if not found:
        raise DataError(f"{src}: no videos found ({', '.join(VIDEO_EXTENSIONS)})")
    return found


def urmp_instrument(abbreviation: str) -> str:
    """``"vn"`` -> ``"violin"``; unknown abbreviations are kept as they are."""
    return URMP_INSTRUMENTS.get(abbreviation.lower(), abbreviation)


def plan_video(path: Path, category: str | None = None) -> VideoJob:
    """Decide the audio source(s) and category of one video."""
    folder = path.parent
    separated = []
    for wav in sorted(folder.glob("AuSep_*.wav")):
        m = re.match(r"AuSep_(\d+)_([A-Za-z]+)_", wav.name)
        if m:
            track, inst = m.groups()
            separated.append(AudioSource(category or urmp_instrument(inst), str(wav), track))
    if separated:
        return VideoJob(str(path), separated)
    mix = sorted(folder.glob("AuMix_*.wav"))
    if category is None:
        # URMP folder names end in the instrument abbreviations: 01_Jupiter_vn_vc.
        abbreviations = {a for a in folder.name.split("_") if a.lower() in URMP_INSTRUMENTS}
        category = (
            urmp_instrument(abbreviations.pop()) if mix and len(abbreviations) == 1 else folder.name
        )
    return VideoJob(str(path), [AudioSource(category, str(mix[0]) if mix else None)])


def split_videos(jobs: list[VideoJob], validation_fraction: float = 0.2, seed: int = 0):
    """Assign each video to ``train`` or ``validation`` (Chen et al. 2017, sec. 4).

    Within each group (a category, or all multi-track pieces) videos are
    shuffled with a generator seeded by ``seed`` and the group's name, and
    ``round(fraction * n)`` go to validation, clamped to ``[1, n - 1]`` when
    ``n >= 2``; a lone video goes to train.

    Returns:
        ``{video path: split}``.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigError(f"--validation-fraction must be in [0, 1), got {validation_fraction}")
    groups: dict[str, list[str]] = {}
    for job in jobs:
        groups.setdefault(job.group, []).append(job.path)
    out = {}
    for name, paths in groups.items():
        paths = sorted(paths)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        order = [paths[i] for i in rng.permutation(len(paths))]
        n_val = round(validation_fraction * len(paths))
        if len(paths) >= 2:
            n_val = min(max(n_val, 1), len(paths) - 1)
        else:
            n_val = 0
        for i, p in enumerate(order):
            out[p] = "validation" if i < n_val else "train"
    return out


# --------------------------------------------------------------------------- decoding


def square_image(frame: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop ``[H, W, 3]`` to a square and resize to ``size`` (Lanczos)."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = frame[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS))


def decoded_frames(path: str):
    """``(time in s, frame duration in s, av.VideoFrame)`` of each frame of the first video
    stream, in order.

    Raises:
        VideoReadError: no video stream, or a file PyAV cannot decode.
    """
    av = import_av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or 25)
            for n, frame in enumerate(container.decode(stream)):
                yield (frame.time if frame.time is not None else n / fps), 1.0 / fps, frame
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoReadError(" ".join(str(e).split())) from e


def first_frames(path: str, size: int) -> dict[int, np.ndarray]:
    """``{chunk index: image}``: the first frame at or after each 0.5 s chunk start."""
    frames = {}
    for t, _, frame in decoded_frames(path):
        k = math.floor(t / CHUNK_SECONDS + 1e-6)
        if k >= 0 and k not in frames:
            frames[k] = square_image(frame.to_ndarray(format="rgb24"), size)
    if not frames:
        raise VideoReadError("no video frames")
    return frames


def stream_audio(path: str) -> np.ndarray:
    """The video's first audio stream as 44.1 kHz mono float32 (channels averaged)."""
    av = import_av()
    parts, start = [], None
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise VideoReadError("no audio stream (and no URMP AuSep/AuMix WAVs beside it)")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", rate=audio.SAMPLE_RATE)
            for frame in container.decode(stream):
                if start is None and frame.time is not None:
                    start = frame.time
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().mean(axis=0))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().mean(axis=0))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoReadError(" ".join(str(e).split())) from e
    x = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    # Align sample 0 with time 0 (streams may start late, or early with encoder priming).
    offset = round((start or 0.0) * audio.SAMPLE_RATE)
    return np.pad(x, (offset, 0)) if offset > 0 else x[-offset:]


def convert_video(job: VideoJob, out, split: str, size: int = 64) -> tuple[VideoResult, list]:
    """Write the kept chunks of one video; returns its result and label rows."""
    result = VideoResult(job.path, split)
    frames = first_frames(job.path, size)
    stem = Path(job.path).stem
    rows = []
    for source in job.sources:
        if source.path is None:
            wave = stream_audio(job.path)
        else:
            wave = audio.load_audio(source.path, audio.SAMPLE_RATE, allow_silent=True)
        n_chunks = len(wave) // audio.CHUNK_SAMPLES
        chunks = wave[: n_chunks * audio.CHUNK_SAMPLES].reshape(n_chunks, audio.CHUNK_SAMPLES)
        for k, chunk in enumerate(chunks):
            if k not in frames:
                result.no_frame += 1
                continue
            loudness = audio.loudness_dbfs(chunk)
            if loudness <= audio.SILENCE_DBFS:
                result.silent += 1
                continue
            ms = round(k * CHUNK_SECONDS * 1000)
            name = f"{stem}_{source.track}_{ms}" if source.track else f"{stem}_{ms}"
            layout.write_pair(out, split, source.category, name, frames[k], chunk)
            result.kept[source.category] = result.kept.get(source.category, 0) + 1
            rows.append(
                {
                    "split": split,
                    "category": source.category,
                    "stem": name,
                    "instrument": source.category,
                    "recording": stem,
                    "video": job.path,
                    "track": source.track,
                    "start_ms": ms,
                    "loudness_dbfs": round(loudness, 3),
                }
            )
    return result, rows


def videos_to_pairs(
    src,
    out,
    *,
    category: str | None = None,
    size: int = 64,
    seed: int = 0,
    validation_fraction: float = 0.2,
    progress: bool = True,
    warn=None,
) -> list[VideoResult]:
    """Convert every video under ``src`` into pairs under ``out`` (see module docstring).

    Unreadable videos are skipped with a warning naming the file (``warn`` is
    called with the message; default: print to stderr) and reported with
    ``error`` set in their result.

    Raises:
        ConfigError: PyAV is missing or an option is invalid.
        DataError: no videos found, or none could be read.
        AudioError: a URMP WAV beside a video is unreadable.
    """
    import_av()
    if size < 1:
        raise ConfigError(f"--size must be positive, got {size}")
    warn = warn or (lambda msg: tqdm.write(f"warning: {msg}", file=sys.stderr))
    jobs = [plan_video(p, category) for p in find_videos(src)]
    splits = split_videos(jobs, validation_fraction, seed)
    results, rows = [], []
    for job in tqdm(jobs, desc="from-videos", unit="video", disable=not progress):
        try:
            result, new_rows = convert_video(job, out, splits[job.path], size)
        except VideoReadError as e:
            result, new_rows = VideoResult(job.path, splits[job.path], error=str(e)), []
            warn(f"{job.path}: unreadable video ({e}); skipped")
        results.append(result)
        rows.extend(new_rows)
    if all(r.error for r in results):
        raise DataError(f"{src}: none of the {len(results)} video(s) could be read")
    if rows:
        merged = layout.read_labels(out)
        merged.update({(r["split"], r["category"], r["stem"]): r for r in rows})
        layout.write_labels(out, [merged[k] for k in sorted(merged)])
    return results


def format_summary(results: list[VideoResult]) -> str:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"{r.path}: skipped ({r.error})")
            continue
        kept = ", ".join(f"{c} {n}" for c, n in sorted(r.kept.items())) or "0"
        lines.append(
            f"{r.path} [{r.split}]: kept {kept}; dropped {r.silent} silent, "
            f"{r.no_frame} without a frame"
        )
    ok = [r for r in results if not r.error]
    total_kept = sum(sum(r.kept.values()) for r in ok)
    lines.append(
        f"{len(ok)} video(s): {total_kept} pairs kept, "
        f"{sum(r.silent for r in ok)} silent chunks dropped; "
        f"{len(results) - len(ok)} unreadable video(s) skipped"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Cut videos into 0.5 s image-sound pairs (Chen et al. 2017, sec. 4): the first frame "
        "of each chunk, centre-cropped to a square and resized to --size; chunks at or below "
        "-45 dBFS dropped; videos split 80/20 into train/validation."
    )
    parser.add_argument("src", help="a video, or a folder of videos (.mp4 .mov .mkv .avi .webm)")
    parser.add_argument("out", help="output pair folder (Sub-URMP layout)")
    parser.add_argument("--category", help="category of all pairs (default: parent folder name)")
    parser.add_argument(
        "--size", type=int, default=64, help="image side after centre crop to a square (64)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the video split")
    parser.add_argument(
        "--validation-fraction", type=float, default=0.2, help="videos for validation (0.2)"
    )


def run(args: argparse.Namespace) -> None:
    results = videos_to_pairs(
        args.src,
        args.out,
        category=args.category,
        size=args.size,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        progress=sys.stderr.isatty(),
    )
    print(format_summary(results))
