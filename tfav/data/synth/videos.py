"""Whole performances as ground truth: ``python -m tfav.data synth --videos N OUT``.

Each video is a continuous performance of several seconds by one player of the
embedded dataset, in that player's scene, at a steady frame rate: the players,
instruments and scenes are those of the validation recordings of
:func:`tfav.data.synth.build.plan_recordings` (same ``--pairs`` and ``--seed`` as the
pair dataset, so the players are ones its validation split holds), and the
performance is a new one (:func:`tfav.data.synth.score.random_performance` with the
player's habits, :func:`tfav.data.synth.build.player_seed`). Video ``i`` plays
instrument ``i mod C`` of the ``C`` instruments (all 13 of Sub-URMP, or the one of
``--instrument``); an instrument's videos go through its validation recordings,
recordings of players not yet shown first, and start over with a new take when
there are more videos than recordings.

Frame ``i`` is shown at ``i / fps`` s and is :func:`~.performer.draw_performer` of
``ground_truth(i / fps)`` (:meth:`~.score.Performance.ground_truth`): ``T`` frames
cover the sound (``tfav.performance.frame_count``: ``seconds * fps`` for whole
numbers), so frame ``i`` is the one ``python -m tfav.generate RUN --audio X.wav
--video Y.mp4`` generates from the 0.5 s of sound starting at the same instant.

Layout of ``OUT``::

    videos.json            settings (seed, pairs, size, fps, seconds, version) and,
                           per video: name, category, instrument, player, recording,
                           seconds, fps, frames, seed (the performance's), program
    labels.jsonl           one row per video frame, videos in videos.json order:
                           video, frame, time (s), category, instrument, player,
                           recording, pose [hand, bow, dynamics], midi (-1 in a rest),
                           velocity (0 in a rest), bow_direction (+1, -1, 0)
    <name>.mp4             H.264 (yuv420p, x264 crf 18) at fps of the rendered frames,
                           muxed with the sound in AAC (mono, 44.1 kHz)
    <name>.wav             the sound: 16-bit PCM, 44.1 kHz, mono
    <name>.frames.npz      ``frames``: uint8 [T, S, S, 3], the rendered frames exactly
                           (lossless, for pixel measures such as flicker)

Names are ``<recording>_take<k>`` (``violin05_take1``). Everything follows from the
options: the same ones give the same bytes of every file but the ``.mp4`` (which
the encoder, not tfav, writes). The folder is written as a temporary sibling and
renamed into place when complete; an existing non-empty ``OUT`` is refused.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from tfav.audio import SAMPLE_RATE
from tfav.data import layout
from tfav.data.layout import SUB_URMP_PAIRS as DEFAULT_PAIRS
from tfav.data.synth.build import (
    DATASET_VERSION,
    RecordingPlan,
    _sigterm_as_interrupt,
    _soundfont,
    plan_recordings,
    player_seed,
    recording_look,
)
from tfav.data.synth.performer import draw_performer
from tfav.data.synth.score import random_performance
from tfav.data.videos import import_av
from tfav.errors import ConfigError
from tfav.files import atomic_folder, atomic_write_json, atomic_write_text
from tfav.performance import FPS_RANGE, H264_OPTIONS, frame_count

INFO_FILE, LABELS_FILE, FRAMES_SUFFIX = "videos.json", "labels.jsonl", ".frames.npz"
#: Bumped whenever the bytes the same options produce change.
VIDEOS_VERSION = 1


@dataclasses.dataclass(frozen=True)
class VideoPlan:
    """One video: a new take by the player, in the scene, of a validation recording."""

    recording: RecordingPlan
    take: int  # 1, 2, ... : the recording's takes when videos outnumber recordings
    seed: int  # the performance's seed

    @property
    def name(self) -> str:
        return f"{self.recording.name}_take{self.take}"

    @property
    def player(self) -> str:
        return f"{self.recording.category}_p{self.recording.player}"


def plan_videos(n: int, pairs: int = DEFAULT_PAIRS, seed: int = 0,
                instrument: str | None = None) -> list[VideoPlan]:
    """``n`` videos over the validation recordings of ``plan_recordings(pairs, seed=seed)``
    (module docstring), of every Sub-URMP instrument in turn or of ``instrument``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"--videos must be a positive number of videos, got {n}")
    categories = layout.SUB_URMP_INSTRUMENTS
    if instrument is not None:
        if instrument not in categories:
            raise ConfigError(f"--instrument '{instrument}' is not one of the embedded "
                              f"dataset's: {', '.join(categories)}")
        categories = (instrument,)
    validation: dict[str, list[RecordingPlan]] = {c: [] for c in categories}
    for plan in plan_recordings(pairs, "suburmp", seed):
        if plan.split == "validation" and plan.category in validation:
            validation[plan.category].append(plan)
    for plans in validation.values():
        # Recordings of players not shown yet first: the k-th recording of a player
        # comes after every player's (k-1)-th.
        seen: dict[int, int] = {}
        rank = {}
        for plan in plans:
            rank[plan.number] = seen.get(plan.player, 0)
            seen[plan.player] = rank[plan.number] + 1
        plans.sort(key=lambda p: (rank[p.number], p.number))
    videos = []
    for i in range(int(n)):
        plans = validation[categories[i % len(categories)]]
        k = i // len(categories)
        recording, take = plans[k % len(plans)], k // len(plans) + 1
        take_seed = int(np.random.SeedSequence([recording.seed, 9, take]).generate_state(1)[0])
        videos.append(VideoPlan(recording, take, take_seed))
    return videos


def render_video(plan: VideoPlan, seconds: float = 6.0, fps: int = 25, size: int = 64,
                 soundfont: str | None = None):
    """``(frames uint8 [T, size, size, 3], sound int16 [samples], label rows, facts)`` of
    one video; frame ``i`` is the performer at ``ground_truth(i / fps)``."""
    rec = plan.recording
    perf = random_performance(rec.category, seconds, plan.seed, player_seed=player_seed(rec))
    sound = perf.render(_soundfont(soundfont), SAMPLE_RATE)
    pcm = np.round(np.clip(sound, -1.0, 1.0) * 32767.0).astype(np.int16)
    image_instrument, players, scene, _ = recording_look(rec)
    player = players[rec.player - 1]
    n_frames = frame_count(len(pcm), fps)
    frames = np.empty((n_frames, size, size, 3), np.uint8)
    rows = []
    for i in range(n_frames):
        t = i / fps
        truth = perf.ground_truth(t)
        frames[i] = draw_performer(image_instrument, truth["pose"], player, scene, size)
        rows.append({
            "video": plan.name, "frame": i, "time": t, "category": rec.category,
            "instrument": rec.category, "player": plan.player, "recording": rec.name,
            "pose": [round(v, 5) for v in truth["pose"]], "midi": truth["midi"],
            "velocity": truth["velocity"], "bow_direction": truth["bow_direction"],
        })  # fmt: skip
    facts = {
        "name": plan.name, "category": rec.category, "instrument": rec.category,
        "player": plan.player, "recording": rec.name, "take": plan.take,
        "seconds": seconds, "fps": fps, "frames": n_frames, "seed": plan.seed,
        "program": perf.program,
    }  # fmt: skip
    return frames, pcm, rows, facts


def write_frames(path, frames: np.ndarray) -> None:
    """``frames`` as ``.npz`` (``np.load(path)["frames"]``), compressed, with fixed zip
    timestamps so that the same frames give the same bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(frames), allow_pickle=False)
    info = zipfile.ZipInfo("frames.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, buffer.getvalue())


def write_video(path, frames: np.ndarray, pcm: np.ndarray, fps: int) -> None:
    """An H.264 + AAC video of ``frames`` shown ``1 / fps`` s each and the 16-bit ``pcm``
    (the encoder options of ``tfav.performance.audio_to_video``)."""
    av = import_av("writing videos")
    with av.open(str(path), "w") as container:
        video = container.add_stream("h264", rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        if video.codec_context.name == "libx264":
            video.options = dict(H264_OPTIONS)
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        step = SAMPLE_RATE  # one second of sound per audio frame
        for lo in range(0, len(pcm), step):
            piece = (pcm[lo : lo + step].astype(np.float32) / 32768.0)[None]
            frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, lo
            frame.time_base = Fraction(1, SAMPLE_RATE)
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))


def check_options(out, n, seconds, fps, size) -> None:
    """A one-line :class:`ConfigError` for options or an output :func:`build_videos`
    cannot use (checked before anything is rendered)."""
    low, high = FPS_RANGE
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"--videos must be a positive number of videos, got {n}")
    if not (isinstance(fps, int | np.integer) and low <= fps <= high):
        raise ConfigError(f"--fps must be a whole number from {low} to {high}, got {fps}")
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"--seconds must be a positive number, got {seconds}")
    if seconds * fps < 1:
        raise ConfigError(f"--seconds {seconds} at --fps {fps} is less than one frame")
    if size not in (64, 128):
        raise ConfigError(f"--size must be 64 or 128, got {size}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: already exists and is not empty (choose a new folder)")


def build_videos(out, n: int = 4, seconds: float = 6.0, fps: int = 25, size: int = 64,
                 seed: int = 0, pairs: int = DEFAULT_PAIRS, instrument: str | None = None,
                 soundfont=None, progress: bool = True) -> dict:
    """Render ``n`` videos into ``out`` (which must not exist or be empty); see the module
    docstring for what they are and the layout.

    Args:
        seconds, fps, size: length, frame rate and frame side of every video.
        seed, pairs: of the pair dataset whose validation players and scenes are used
            (the embedded dataset: 0 and 17,555).
        instrument: one Sub-URMP instrument; ``None`` cycles through all 13.
        soundfont: an ``.sf2`` file; default pretty_midi's ``TimGM6mb.sf2``.
        progress: show a tqdm bar.

    Returns:
        The contents of ``videos.json`` and ``"path"``.

    Raises:
        ConfigError: a bad option, PyAV missing, or ``out`` not empty.
    """
    import soundfile
    from tqdm import tqdm

    check_options(out, n, seconds, fps, size)
    import_av("writing videos")
    plans = plan_videos(n, pairs, seed, instrument)
    sf_path = str(soundfont) if soundfont is not None else None
    _soundfont(sf_path)  # a bad SoundFont: one line, before the folder is made
    out = Path(out)
    per_video = frame_count(round(seconds * SAMPLE_RATE), fps)
    labels, videos = [], []
    with atomic_folder(out) as tmp:
        with _sigterm_as_interrupt(), tqdm(total=len(plans) * per_video, desc="synth videos",
                                           unit="frame", disable=not progress) as bar:
            for plan in plans:
                frames, pcm, rows, facts = render_video(plan, seconds, fps, size, sf_path)
                soundfile.write(tmp / f"{plan.name}.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
                write_frames(tmp / f"{plan.name}{FRAMES_SUFFIX}", frames)
                write_video(tmp / f"{plan.name}.mp4", frames, pcm, fps)
                labels += rows
                videos.append(facts)
                bar.update(len(frames))
        atomic_write_text(tmp / LABELS_FILE,
                          "".join(json.dumps(r, sort_keys=True) + "\n" for r in labels))
        info = {
            "version": VIDEOS_VERSION, "dataset_version": DATASET_VERSION, "seed": seed,
            "pairs": pairs, "size": size, "fps": fps, "seconds": seconds,
            "instrument": instrument,
            "soundfont": os.path.basename(sf_path) if sf_path else "TimGM6mb.sf2",
            "videos": videos,
        }  # fmt: skip
        atomic_write_json(tmp / INFO_FILE, info)
    return {**info, "path": str(out)}


def read_videos(root) -> dict:
    """``videos.json`` of a folder :func:`build_videos` wrote, with each video's label rows
    (``"labels"``, in frame order) and file paths (``"mp4"``, ``"wav"``, ``"npz"``).

    Raises:
        ConfigError: not such a folder.
    """
    root = Path(root)
    if not (root / INFO_FILE).is_file():
        raise ConfigError(f"{root}: no {INFO_FILE} (not a folder written by python -m "
                          "tfav.data synth --videos)")
    info = json.loads((root / INFO_FILE).read_text())
    rows: dict[str, list] = {v["name"]: [] for v in info["videos"]}
    with open(root / LABELS_FILE, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows[row["video"]].append(row)
    for video in info["videos"]:
        name = video["name"]
        video.update(labels=sorted(rows[name], key=lambda r: r["frame"]),
                     mp4=str(root / f"{name}.mp4"), wav=str(root / f"{name}.wav"),
                     npz=str(root / f"{name}{FRAMES_SUFFIX}"))
    info["path"] = str(root)
    return info


def load_frames(path) -> np.ndarray:
    """The uint8 frames ``[T, S, S, 3]`` of a ``.frames.npz``."""
    with np.load(path) as archive:
        return archive["frames"]
