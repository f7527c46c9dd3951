"""Run folders, checkpoints, and the cache of trained models (with its lock).

A run folder (``runs/<task>[-<instrument>]/<time>/`` by default) holds
``config.json``, ``checkpoint.keras`` + ``state.json`` (written atomically after
every epoch), ``best.keras`` for GANs measured every epoch, the final model
(``generator.keras`` or ``model.keras``) and ``summary.json``. The cache keeps
the encoders and evaluators a task needs, one run folder per dataset, task and
training recipe, under ``$TFAV_CACHE`` (default ``~/.cache/tfav``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import keras

import tfav.objectives  # noqa: F401  (registers every objective's Keras classes for loading)
from tfav import tasks
from tfav.errors import ConfigError

CHECKPOINT, STATE = "checkpoint.keras", "state.json"
#: The whole model of the epoch with the best selection metric (``callbacks.BestCheckpoint``).
BEST = "best.keras"
#: ``--checkpoint`` choices of evaluate, generate and export: the run folder's file.
CHECKPOINTS = {"last": CHECKPOINT, "best": BEST}


def cache_root() -> Path:
    return Path(os.environ.get("TFAV_CACHE", Path.home() / ".cache" / "tfav"))


def dataset_fingerprint(index) -> str:
    """Identifies a dataset's content cheaply: path and pair counts."""
    blob = json.dumps([os.path.abspath(index.root), index.counts()], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def cached_model_dir(task_name: str, index, instrument: str | None = None) -> Path:
    """Where the cache keeps ``task_name`` trained on ``index`` with the task's defaults.

    The folder name ends in a hash of the defaults that shape the model (epochs,
    batch size, learning rate, filters, image size), so a release that changes
    them trains a fresh model instead of reusing one made to the old recipe.
    """
    task = tasks.get_task(task_name)
    recipe = {k: getattr(task, k) for k in ("epochs", "batch_size", "learning_rate",
                                            "base_filters", "image_size")}
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]
    name = task_name + (f"-{instrument}" if instrument else "") + f"-{digest}"
    return cache_root() / "models" / dataset_fingerprint(index) / name


@contextlib.contextmanager
def exclusive(path: Path):
    """Hold an exclusive lock on ``path`` (a lock file) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_run_dir(task, instrument) -> Path:
    name = task.name + (f"-{instrument}" if instrument else "")
    return Path("runs") / name / time.strftime("%Y%m%d-%H%M%S")


def latest_run_dir(task, instrument) -> Path | None:
    base = Path("runs") / (task.name + (f"-{instrument}" if instrument else ""))
    runs = sorted(p for p in base.glob("*") if (p / STATE).exists()) if base.exists() else []
    return runs[-1] if runs else None


def read_state(run_dir) -> dict:
    """``state.json``: the epochs done, the per-epoch history, the seconds spent."""
    path = Path(run_dir) / STATE
    return json.loads(path.read_text()) if path.exists() else {"epoch": 0, "history": []}


def read_config(run_dir) -> dict:
    """A run folder's ``config.json``, or a one-line error."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e


def read_generator_run(run_dir) -> tuple[tasks.Task, dict]:
    """The task and ``config.json`` of a GAN run folder, or a clear error."""
    config = read_config(run_dir)
    task = tasks.get_task(config["task"])
    if task.kind != "gan":
        raise ConfigError(f"{run_dir}: '{task.name}' is not a generator run")
    return task, config


def save_model_atomically(model, path) -> None:
    """``model.save(path)`` through a temporary file, so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def load_trained(path, task_name: str, compile: bool = False, checkpoint: str = "last"):
    """A trained model from a run folder or a ``.keras`` file.

    Args:
        checkpoint: in a run folder, ``"last"`` (``checkpoint.keras``, the last
            finished epoch) or ``"best"`` (``best.keras``, the epoch with the best
            generated samples on training conditions; GAN runs).
    """
    if checkpoint not in CHECKPOINTS:
        raise ConfigError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint}")
    path = Path(path)
    file = path / CHECKPOINTS[checkpoint] if path.is_dir() else path
    if path.is_dir() and checkpoint == "best" and not file.exists():
        raise ConfigError(f"{path}: no {file.name} (runs keep one when samples are measured "
                          "every epoch; not with --no-eval)")
    if not file.exists():
        raise ConfigError(f"{path}: no trained {task_name} here (expected a run folder or .keras)")
    try:
        return keras.models.load_model(file, compile=compile)
    except Exception as e:  # noqa: BLE001  (keras raises many types for bad files)
        raise ConfigError(f"{file}: cannot load a {task_name} model ({e}); if it was written "
                          f"by an older tfav, train it again (python -m tfav.train --task "
                          f"{task_name} ...; a cached model: delete its folder)") from e
