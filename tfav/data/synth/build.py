"""Build the embedded dataset: performances -> 0.5 s chunks -> image-sound pair folder.

The procedure is the one Chen et al. (2017, sec. 4) used to compose Sub-URMP
from URMP videos, applied to synthetic recordings: each recording is cut into
0.5 s chunks at 44.1 kHz, chunks at or below -45 dBFS are deleted, the image
of a chunk is the frame at its first instant, and recordings (not chunks) are
split 80/20 into train and validation so that no recording is in both.

Images are PNG: lossless, so the pixels on disk are exactly the rendered pose
(no JPEG ringing around thin bows and keys), and small for these flat-shaded
frames (a few kB; the 16-bit WAV chunks, 44 kB each, dominate the size).

Everything follows from the seed: every recording has its own seed, is
rendered by one worker and written under its own stems, so the bytes on disk
do not depend on the number of workers or the order in which they finish.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

# tfav.audio imports TensorFlow (about 5 s); importing it here, before workers
# fork, pays that once instead of once per worker.
from tfav.audio import CHUNK_SAMPLES, SAMPLE_RATE, SILENCE_DBFS, chunk_audio, loudness_dbfs
from tfav.data import layout
from tfav.data.layout import SUB_URMP_PAIRS as DEFAULT_PAIRS
from tfav.data.synth.performer import draw_performer, random_player, random_scene
from tfav.data.synth.score import SPECS, random_performance
from tfav.data.synth.soundfont import SoundFont
from tfav.errors import AudioError, ConfigError, DataError
from tfav.files import atomic_folder, atomic_write_json

#: Bumped whenever the bytes a seed produces change; part of the cache folder name.
DATASET_VERSION = 3
#: Sound-image categories of each dataset kind.
KINDS = {
    "suburmp": layout.SUB_URMP_INSTRUMENTS,
    "inis": ("drum", "guitar", "piano", "saxophone", "violin"),
}
IMAGE_FORMAT = "png"  # lossless: pixels on disk are exactly the rendered ones
_CHUNK_SECONDS = 0.5
# About 20 s per recording: many rooms, players and camera placements per
# instrument, so that validation recordings (unseen ones) measure generalisation
# over about seven recordings per instrument rather than two.
_PAIRS_PER_RECORDING = 40
_INIS_PLAYERS = 8


@dataclasses.dataclass(frozen=True)
class RecordingPlan:
    """What one worker renders: one recording of one player."""

    kind: str
    category: str
    number: int  # 1-based within the category, as in Sub-URMP's violin01, violin02, ...
    split: str
    player: int
    n_players: int
    pairs: int  # chunks to keep (after dropping silent ones)
    seed: int  # this recording's seed
    category_seed: int  # shared by the category's recordings (players)

    @property
    def name(self) -> str:
        return f"{self.category}{self.number:02d}"


def plan_recordings(n_pairs: int, kind: str = "suburmp", seed: int = 0) -> list[RecordingPlan]:
    """Spread ``n_pairs`` over balanced categories, recordings, players and splits."""
    if kind not in KINDS:
        raise ConfigError(f"unknown dataset kind '{kind}' (known: {', '.join(KINDS)})")
    categories = KINDS[kind]
    if n_pairs < 2 * len(categories):
        least = 2 * len(categories)
        raise ConfigError(f"--pairs must be at least {least} for {kind}, got {n_pairs}")
    plans = []
    for c, category in enumerate(categories):
        rng = np.random.default_rng([seed, c, 7])
        quota = n_pairs // len(categories) + (1 if c < n_pairs % len(categories) else 0)
        # At least 5 recordings when there are enough pairs, so that whole
        # recordings can make an 80/20 split; at least 2 (one per split) always.
        n_rec = max(2, int(round(quota / _PAIRS_PER_RECORDING)), min(5, quota // 2))
        weights = rng.uniform(0.6, 1.4, size=n_rec)
        sizes = np.floor(quota * weights / weights.sum()).astype(int)
        sizes[: quota - sizes.sum()] += 1
        sizes = np.maximum(sizes, 1)
        sizes[np.argmax(sizes)] -= sizes.sum() - quota
        # Whole recordings go to validation until they hold about 20% of the pairs.
        validation, held, target = set(), 0, 0.2 * quota
        for r in rng.permutation(n_rec).tolist():
            closer = abs(held + sizes[r] - target) < abs(held - target)
            if len(validation) < n_rec - 1 and (not validation or closer):
                validation.add(r)
                held += int(sizes[r])
        n_players = min(n_rec, int(rng.integers(4, 9))) if kind == "suburmp" else _INIS_PLAYERS
        players = rng.permutation(np.arange(n_rec) % n_players)
        for r in range(n_rec):
            plans.append(
                RecordingPlan(
                    kind=kind, category=category, number=r + 1,
                    split="validation" if r in validation else "train",
                    player=int(players[r]) + 1, n_players=n_players, pairs=int(sizes[r]),
                    seed=int(np.random.SeedSequence([seed, c, r]).generate_state(1)[0]),
                    category_seed=int(np.random.SeedSequence([seed, c]).generate_state(1)[0]),
                )  # fmt: skip
            )
    return plans


_SOUNDFONTS: dict = {}


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """In a worker: a daemon thread that ends the process once ``parent`` is gone (its
    parent id changes when it is re-parented), so a killed build leaves no orphan."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While building, SIGTERM raises ``KeyboardInterrupt`` as SIGINT does, so the workers
    are stopped and the partial folder removed (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _worker_init(parent: int | None = None) -> None:
    """End with the parent process (``_exit_with_parent``); keep freed audio buffers in
    the heap (glibc), so each recording reuses them.

    By default glibc returns every large array to the system and faults fresh
    zeroed pages for the next one; with two workers that page-fault traffic
    cost about a quarter of the build time.
    """
    if parent is not None:
        _exit_with_parent(parent)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 512 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1024 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: keep the default allocator behaviour


def _soundfont(path):
    key = str(path)
    if key not in _SOUNDFONTS:
        _SOUNDFONTS[key] = SoundFont(path)
    return _SOUNDFONTS[key]


def _players(plan: RecordingPlan, instrument: str):
    return [
        random_player(instrument, np.random.default_rng([plan.category_seed, 100 + p]))
        for p in range(1, plan.n_players + 1)
    ]


def player_seed(plan: RecordingPlan) -> int:
    """The seed of the habits of the recording's player (vibrato, tempo, dynamic range),
    shared by every recording of that player."""
    return plan.category_seed + plan.player


def recording_look(plan: RecordingPlan):
    """``(image instrument, players, scene, rng)``: what the recording's images show: the
    drawn instrument, its category's players (``players[plan.player - 1]`` plays it),
    its scene, and the generator that drew the scene (INIS pairs draw on from it)."""
    image_instrument = "sax" if plan.category == "sax" else plan.category
    players = _players(plan, image_instrument)
    rng = np.random.default_rng([plan.seed, 2])
    return image_instrument, players, random_scene(rng), rng


def audible_chunks(audio: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Cut a recording into 0.5 s chunks and drop the silent ones (Chen et al. 2017, sec. 4).

    Returns:
        ``(index, chunk)`` for every chunk louder than ``SILENCE_DBFS`` (-45 dBFS);
        ``index`` counts all chunks, so the chunk starts at ``index * 0.5`` s.
    """
    chunks = chunk_audio(audio, CHUNK_SAMPLES)
    return [(k, c) for k, c in enumerate(chunks) if loudness_dbfs(c) > SILENCE_DBFS]


def render_recording(
    plan: RecordingPlan, root: str, size: int = 64, soundfont: str | None = None
) -> list[dict]:
    """Render one recording, write its pairs under ``root`` and return their label rows."""
    sf = _soundfont(soundfont)
    kept: list[tuple[int, np.ndarray]] = []
    attempt = 0
    while len(kept) < plan.pairs:  # silent chunks are dropped; rarely a longer take is needed
        if attempt == 4:
            raise AudioError(f"{sf.path}: {plan.category} renders too few chunks above "
                             f"{SILENCE_DBFS} dBFS ({len(kept)} of {plan.pairs})")  # fmt: skip
        n_chunks = int(np.ceil(plan.pairs * (1.12 + 0.5 * attempt))) + 2
        perf = random_performance(plan.category, n_chunks * _CHUNK_SECONDS, plan.seed + attempt,
                                  player_seed=player_seed(plan))  # fmt: skip
        kept = audible_chunks(perf.render(sf, SAMPLE_RATE))
        attempt += 1
    kept = kept[: plan.pairs]

    image_instrument, players, scene, rng = recording_look(plan)
    rows = []
    for k, chunk in kept:
        t = k * _CHUNK_SECONDS  # the image is the chunk's first frame
        truth = perf.ground_truth(t)
        player = plan.player
        if plan.kind == "inis":
            # INIS pairs a sound with an unrelated photo of its category: the image
            # comes from its own random draw and the pose describes the image only.
            player = int(rng.integers(1, plan.n_players + 1))
            pose = [float(v) for v in rng.uniform(0, 1, size=3)]
            if plan.category not in ("violin",):
                pose[1] = 0.5
            image = draw_performer(image_instrument, pose, players[player - 1],
                                   random_scene(rng), size)  # fmt: skip
            truth = {**truth, "pose": pose, "bow_direction": 0}
        else:
            image = draw_performer(image_instrument, truth["pose"], players[plan.player - 1],
                                   scene, size)  # fmt: skip
        stem = f"{plan.name}_{k:04d}"
        layout.write_pair(root, plan.split, plan.category, stem, image, chunk,
                          SAMPLE_RATE, image_format=IMAGE_FORMAT)  # fmt: skip
        rows.append({
            "split": plan.split, "category": plan.category, "stem": stem,
            "instrument": plan.category, "player": f"{plan.category}_p{player}",
            "recording": plan.name, "time": t, "midi": truth["midi"],
            "velocity": truth["velocity"], "loudness_dbfs": round(loudness_dbfs(chunk), 3),
            "pose": [round(v, 5) for v in truth["pose"]], "bow_direction": truth["bow_direction"],
            "pose_source": "image" if plan.kind == "inis" else "sound",
            "program": perf.program,
            "room_rt60": None if perf.room is None else round(perf.room[0], 3),
        })  # fmt: skip
    return rows


def build_dataset(
    out: str | os.PathLike,
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
    size: int = 64,
    kind: str = "suburmp",
    soundfont: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Build the dataset into ``out`` (which must not exist or be empty).

    The pairs are written into a temporary sibling folder that is renamed to
    ``out`` only when complete, so an interrupted build never looks finished.

    Args:
        out: destination folder.
        n_pairs: total pairs, balanced over the categories (17,555 like Sub-URMP).
        seed: the same seed gives the same bytes, whatever ``workers`` is.
        size: image side, 64 or 128.
        kind: ``"suburmp"`` (13 instruments, images follow the sound) or ``"inis"``
            (5 categories, images paired with sounds by category only).
        soundfont: an ``.sf2`` file; default pretty_midi's ``TimGM6mb.sf2``.
        workers: processes; default the number of CPUs; 1 renders in-process.
        progress: show a tqdm bar.

    Returns:
        Statistics: ``{"pairs", "recordings", "counts", "path"}``.
    """
    from tqdm import tqdm

    if size not in (64, 128):
        raise ConfigError(f"--size must be 64 or 128, got {size}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: already exists and is not empty (choose a new folder)")
    sf_path = str(soundfont) if soundfont is not None else None
    plans = plan_recordings(n_pairs, kind, seed)
    sf = _soundfont(sf_path)  # fail early, with one line, on a bad SoundFont ...
    for category in KINDS[kind]:  # ... or one that lacks an instrument
        spec = SPECS[category]
        for program in spec.programs:
            sf.zones(spec.bank, program)
    workers = max(1, int(workers or os.cpu_count() or 1))
    rows: list[dict] = []
    with atomic_folder(out) as tmp:
        bar = tqdm(total=n_pairs, desc=f"synth {kind}", unit="pair", disable=not progress)
        order = sorted(plans, key=lambda p: -p.pairs)  # long ones first balances workers
        if workers == 1:
            for plan in order:
                rows += render_recording(plan, str(tmp), size, sf_path)
                bar.update(plan.pairs)
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            # Forked workers share the parent's memory (TensorFlow included) copy-on-write;
            # freezing the garbage collector keeps it from touching, hence copying, it all.
            gc.freeze()
            with _sigterm_as_interrupt(), concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context(method),
                initializer=_worker_init, initargs=(os.getpid(),),
            ) as pool:
                futures = {pool.submit(render_recording, p, str(tmp), size, sf_path): p
                           for p in order}  # fmt: skip
                try:
                    for future in concurrent.futures.as_completed(futures):
                        rows += future.result()
                        bar.update(futures[future].pairs)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # then remove tmp
                    raise
        bar.close()
        rows.sort(key=lambda r: (r["split"], r["category"], r["stem"]))
        layout.write_labels(tmp, rows)
        counts: dict = {}
        for r in rows:
            counts.setdefault(r["split"], {}).setdefault(r["category"], 0)
            counts[r["split"]][r["category"]] += 1
        info = {
            "kind": kind, "pairs": len(rows), "seed": seed, "size": size,
            "version": DATASET_VERSION, "recordings": len(plans), "counts": counts,
            "soundfont": os.path.basename(sf_path) if sf_path else "TimGM6mb.sf2",
            "image_format": IMAGE_FORMAT,
            "pose_source": "image" if kind == "inis" else "sound",
        }  # fmt: skip
        atomic_write_json(tmp / "synth.json", info)
    return {**info, "path": str(out)}


def cache_dir() -> Path:
    """``$TFAV_CACHE`` or ``~/.cache/tfav``: where built datasets are kept."""
    return Path(os.environ.get("TFAV_CACHE") or Path.home() / ".cache" / "tfav")


def default_dataset(
    size: int = 64,
    kind: str = "suburmp",
    progress: bool = True,
    seed: int = 0,
    workers: int | None = None,
) -> str:
    """The embedded default dataset, built once and cached; returns its folder.

    The folder is ``<cache>/datasets/<kind>-<size>-<seed>-v<version>``. It only
    appears when a build completed (it is renamed into place), so a folder that
    exists is complete; concurrent first uses each build and the first rename wins.
    """
    path = cache_dir() / "datasets" / f"{kind}-{size}-{seed}-v{DATASET_VERSION}"
    if not (path / layout.LABELS_FILE).exists():
        _remove_stale_partials(path)
        print(f"tfav: building the embedded {kind} dataset (once) into {path}", file=sys.stderr)
        try:
            build_dataset(path, DEFAULT_PAIRS, seed, size, kind, None, workers, progress)
        except (DataError, OSError):
            if not (path / layout.LABELS_FILE).exists():  # not a lost race: a real failure
                raise
    print(f"tfav: embedded {kind} dataset at {path}", file=sys.stderr)
    return str(path)


def _remove_stale_partials(path: Path, age_seconds: float = 6 * 3600) -> None:
    """Delete unfinished builds of ``path`` left by killed processes (older than 6 h)."""
    import time

    if not path.parent.is_dir():
        return
    for leftover in path.parent.glob(f".{path.name}.partial-*"):
        try:
            if time.time() - leftover.stat().st_mtime > age_seconds:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass  # another process removed it first
