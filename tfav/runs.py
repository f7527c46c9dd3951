"""Run folders, checkpoints, and the cache of trained models (with its lock).

A run folder (``runs/<task>[-<instrument>]/<time>/`` by default) holds
``config.json``, ``checkpoint.keras`` + ``state.json`` (written after every
epoch; the checkpoint carries its own copy of the state, see :func:`read_state`),
``best.keras`` for GANs measured every epoch, the final model
(``generator.keras`` or ``model.keras``) and ``summary.json``. One training at a
time writes a run folder (:func:`run_lock`). The cache keeps
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
import zipfile
from pathlib import Path

import keras

import tfav.objectives  # noqa: F401  (registers every objective's Keras classes for loading)
from tfav import tasks
from tfav.errors import ConfigError
from tfav.precision import as_float32

CHECKPOINT, STATE = "checkpoint.keras", "state.json"
#: The member of ``checkpoint.keras`` that holds the state of the epoch the checkpoint is of.
CHECKPOINT_STATE = "tfav_state.json"
#: The lock file of a run folder, held by the training that writes it (:func:`run_lock`).
RUN_LOCK = ".train.lock"
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
def exclusive(path: Path, wait: bool = True, busy: str | None = None):
    """Hold an exclusive lock on ``path`` (a lock file) while the block runs.

    Args:
        wait: wait for another holder to finish; ``False``: raise instead.
        busy: the message of the :class:`ConfigError` raised when ``wait`` is false
            and another process (or another ``open`` in this one) holds the lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as e:
            raise ConfigError(busy or f"{path}: locked by another process") from e
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_lock(run_dir):
    """The exclusive lock of a run folder: a second training of the same folder is a
    one-line error naming it (the lock goes with the process, also on ``kill -9``)."""
    run_dir = Path(run_dir)
    return exclusive(run_dir / RUN_LOCK, wait=False,
                     busy=f"{run_dir}: another training is writing this run folder (wait "
                     "for it to finish, or give another --out)")


def new_run_dir(task, instrument) -> Path:
    name = task.name + (f"-{instrument}" if instrument else "")
    return Path("runs") / name / time.strftime("%Y%m%d-%H%M%S")


def latest_run_dir(task, instrument) -> Path | None:
    base = Path("runs") / (task.name + (f"-{instrument}" if instrument else ""))
    if not base.exists():
        return None
    done = sorted(p for p in base.glob("*") if (p / STATE).exists() or (p / CHECKPOINT).exists())
    return done[-1] if done else None


def _read_json_object(path, what: str, text=None) -> dict:
    """The JSON object of ``path`` (or of ``text`` read from it), or a one-line error."""
    try:
        value = json.loads(Path(path).read_text() if text is None else text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f", line {e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        reason = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8 text"
        raise ConfigError(f"{path}: not valid JSON ({reason}{where}); {what}") from e
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(value).__name__}; {what}")
    return value


def _corrupt_keras_file(path, reason) -> ConfigError:
    return ConfigError(f"{path}: truncated or corrupt .keras file ({reason}); copy it again or "
                       "train again")


def checkpoint_state(path) -> dict | None:
    """The state saved inside a checkpoint (``None``: no file, or one without a state).

    Raises:
        ConfigError: the file is truncated or corrupt.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if CHECKPOINT_STATE not in archive.namelist():
                return None
            text = archive.read(CHECKPOINT_STATE)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise _corrupt_keras_file(path, e) from e
    return _read_json_object(f"{path}:{CHECKPOINT_STATE}", "the checkpoint is corrupt; train "
                             "again", text)


def read_state(run_dir) -> dict:
    """The epochs done, the per-epoch history and the seconds spent.

    The state saved inside ``checkpoint.keras`` with the model (one file, renamed in
    one step, so the two always agree, whatever instant a run is killed at); else
    ``state.json`` (a run whose checkpoint holds no state); else no epoch done.
    ``state.json`` is the same state for people and tools, written after the
    checkpoint.

    Raises:
        ConfigError: a truncated checkpoint, or a ``state.json`` that is not a JSON object.
    """
    run_dir = Path(run_dir)
    state = checkpoint_state(run_dir / CHECKPOINT)
    if state is None and (run_dir / STATE).exists():
        state = _read_json_object(run_dir / STATE, "restore it or start a new run")
    state = state if state is not None else {"epoch": 0, "history": []}
    if not isinstance(state.get("epoch"), int) or not isinstance(state.get("history"), list):
        raise ConfigError(f"{run_dir}: the run state has no epoch count and history")
    return state


def read_config(run_dir) -> dict:
    """A run folder's ``config.json``, or a one-line error."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.json)")
    return _read_json_object(path, "restore it or start a new run")


def read_generator_run(run_dir) -> tuple[tasks.Task, dict]:
    """The task and ``config.json`` of a GAN run folder, or a clear error."""
    config = read_config(run_dir)
    if "task" not in config:
        raise ConfigError(f"{Path(run_dir) / 'config.json'}: no task in the run configuration")
    task = tasks.get_task(config["task"])
    if task.kind != "gan":
        raise ConfigError(f"{run_dir}: '{task.name}' is not a generator run")
    return task, config


def save_model_atomically(model, path, state: dict | None = None) -> None:
    """``model.save(path)`` through a temporary file, so a crash never leaves half a file.

    ``state``: saved in the same file (:data:`CHECKPOINT_STATE`, read by
    :func:`checkpoint_state`), so model and state are renamed into place together.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    if state is not None:
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(CHECKPOINT_STATE, json.dumps(state))
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
    if file.suffix == ".keras" and not zipfile.is_zipfile(file):
        # keras would say "File not found" of a .keras file cut short
        raise _corrupt_keras_file(file, "not a complete zip archive")
    try:
        model = keras.models.load_model(file, compile=compile)
    except zipfile.BadZipFile as e:
        raise _corrupt_keras_file(file, e) from e
    except Exception as e:  # noqa: BLE001  (keras raises many types for bad files)
        raise ConfigError(f"{file}: cannot load a {task_name} model ({e}); if it was written "
                          f"by an older tfav, train it again (python -m tfav.train --task "
                          f"{task_name} ...; a cached model: delete its folder)") from e
    # A run trained in mixed precision resumes in it (compile=True); everything else
    # samples, measures and exports in float32.
    return model if compile else as_float32(model)
