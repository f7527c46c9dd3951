"""Training and evaluating runs: the library behind ``tfav.train``, ``tfav.evaluate``
and ``tfav.tune``.

:func:`train` fits a task's model into a run folder (``tfav.runs``): it asks the
task's objective (``tfav.objectives``) for its condition encoder, data options,
model and preparation, measures GANs every epoch with a :class:`tfav.probe.Probe`
and checkpoints after every epoch. :func:`dependency` gives a trained model a task
needs (given, cached, or trained now). :func:`evaluate_run` measures a finished run.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfav import audio, distribute, objectives, probe, runs, tasks
from tfav.callbacks import BestCheckpoint, GeneratedQuality, NanGuard, RunCheckpoint, SampleGrid
from tfav.data.pipeline import find_undecodable, open_index
from tfav.data.synth import default_dataset
from tfav.errors import ConfigError, DataError, TfavError
from tfav.files import atomic_write_json
from tfav.precision import as_float32
from tfav.precision import policy as precision_policy
from tfav.precision import resolve as resolve_precision


def dependency(task_name: str, data_root, index, explicit=None, seed=0, log=print,
               instrument=None):
    """A trained model for ``task_name``: given, cached, or trained now (and cached).

    Encoders and the verifier learn from all categories; the pose regressor
    learns the one ``instrument`` whose pose it measures. Processes sharing the
    cache (tuner workers, distributed workers) train a missing model once: the
    others wait for it and reuse it.
    """
    if explicit:
        log(f"[tfav] using {task_name} from {explicit}")
        return runs.load_trained(explicit, task_name)
    if not tasks.get_task(task_name).kind == "regressor":
        instrument = None
    run_dir = runs.cached_model_dir(task_name, index, instrument)
    name = run_dir.name
    with runs.exclusive(run_dir.with_name(f".{name}.lock")):
        if (run_dir / "summary.json").exists():
            log(f"[tfav] reusing cached {name}: {run_dir}")
        else:
            log(f"[tfav] training {name} first (cached in {run_dir})")
            # continues a cached run that was interrupted
            train(task_name, data=data_root, instrument=instrument, out=run_dir,
                  resume=runs.read_state(run_dir)["epoch"] > 0, seed=seed, evaluate=False,
                  strategy="default")
    return runs.load_trained(run_dir, task_name)


@dataclasses.dataclass
class Resources:
    """What an objective's hooks may ask for: trained dependencies, files given by the
    user (``explicit``), the data index and the log."""

    data: object
    index: object
    encoders: dict
    seed: int = 0
    instrument: str | None = None
    log: object = print

    def explicit(self, name):
        return self.encoders.get(name)

    def dependency(self, name, instrument=None):
        return dependency(name, self.data, self.index, self.encoders.get(name), self.seed,
                          self.log, instrument=instrument)


def evaluators_for(task, resources: Resources) -> dict:
    """The trained evaluators that measure a GAN ``task`` (``probe.evaluator_names``)."""
    names = probe.evaluator_names(task, resources.instrument, resources.index.has_pose)
    return {name: resources.dependency(name, instrument=resources.instrument) for name in names}


def hyper_for(task, hyper=None, stored: dict | None = None, objective=None):
    """The objective's hyperparameters of a run: ``hyper`` (a dict of overrides or the
    objective's dataclass); when resuming, the ``stored`` ones of ``config.json``, which
    an explicit different value may not change. ``objective``: the run's (default: the
    task's)."""
    objective = objective or objectives.for_task(task)
    if hyper is not None and not isinstance(hyper, dict):
        if not isinstance(hyper, objective.hyper):
            raise ConfigError(f"task '{task.name}' takes {objective.hyper.__name__}, "
                              f"not {type(hyper).__name__}")
        hyper = dataclasses.asdict(hyper)
    given = dict(hyper or {})
    if stored is None:
        return objective.make_hyper(given)
    fields = {f.name for f in dataclasses.fields(objective.hyper)}
    # Older runs stored every task's fields; keep this objective's.
    values = {k: v for k, v in stored.items() if k in fields}
    defaults = {f.name: objectives.registry.default_of(f, task)
                for f in dataclasses.fields(objective.hyper)}
    for key, value in given.items():
        if key not in values or values[key] == value:
            continue
        before = defaults[key] if values[key] is None else values[key]  # None: the task's
        if before != value:
            raise ConfigError(f"--resume: the run was trained with {key}={before!r}, "
                              f"not {value!r} (start a new run to change it)")
    return objective.make_hyper({**values, **given})


#: The locks of the run folders the current :func:`train` call holds (``_run_folder``).
_HELD_LOCKS: contextvars.ContextVar[contextlib.ExitStack] = contextvars.ContextVar("held_locks")


def _releases_run_locks(fn):
    """``fn`` holds the run-folder lock that ``_run_folder`` takes until it returns or raises."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with contextlib.ExitStack() as held:
            token = _HELD_LOCKS.set(held)
            try:
                return fn(*args, **kwargs)
            finally:
                _HELD_LOCKS.reset(token)

    return wrapper


@_releases_run_locks
def train(
    task_name: str,
    *,
    data=None,
    instrument: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    out=None,
    resume: bool = False,
    seed: int | None = None,
    hyper=None,
    steps_per_epoch: int | None = None,
    encoders: dict | None = None,
    evaluate: bool = True,
    verbose: int = 1,
    strategy=None,
    recipe: str | None = None,
    precision: str | None = None,
) -> Path:
    """Train ``task_name`` and return its run folder (see ``tfav.runs``).

    Args:
        data: a pair folder or a TFRecord folder written by ``python -m tfav.data
            to-tfrecord``; ``None`` builds/uses the embedded dataset.
        instrument: restrict to one category (required by ``s2i_pose``).
        batch_size: the global batch (split over the replicas of ``strategy``).
        hyper: the objective's hyperparameters: its dataclass, or a dict of the
            fields to change (``{"base_filters": 8}``); ``None``: the defaults. Without
            ``recipe``, a dict (or ``None``) goes over the task's own settings
            (``Task.default_hyper``).
        steps_per_epoch: cap on batches per epoch (quick runs and tests).
        encoders: ``{task_name: path}`` of trained encoders/evaluators to use.
        evaluate: for GANs, measure generated samples every epoch with the
            verifier (and pose regressor), training them first if needed.
        strategy: a ``tf.distribute.Strategy`` or a name of
            ``tfav.distribute.STRATEGIES``; ``None``: the current one. Under
            ``multiworker`` only the chief writes ``out``; the other workers
            write to a scratch folder that is removed at the end.
        recipe: the objective that trains the task instead of the task's own
            (``Task.objective``), e.g. ``paired_gan`` for an S2I task, with that
            objective's plain defaults (``gan_cls`` for s2i_pose: the paper's
            setting); a resumed run keeps its own.
        resume: continue the run folder ``out`` (which must exist) or, without
            ``out``, the latest run of the task. The run keeps its identity: its data,
            instrument, seed and batch size come from its ``config.json`` (a different
            value given is a one-line error) and its epoch count may only grow.
        seed: ``None``: 0 for a new run, the run's own when resuming.
        precision: ``auto`` (``None``), ``float32`` or ``mixed_bfloat16``
            (:mod:`tfav.precision`): what the models built here compute in; a resumed
            run keeps its own. Saved generators are float32 either way.

    Raises:
        ConfigError: among others, when another training holds the run folder's lock
            (``runs.run_lock``; one training writes a folder at a time).
    """
    task = tasks.get_task(task_name)
    if resume:
        data, instrument, seed, batch_size, epochs = _resumed_identity(
            task, out, data, instrument, seed, batch_size, epochs)
    seed = 0 if seed is None else seed
    if strategy is None or isinstance(strategy, str):
        strategy = distribute.make_strategy(strategy) if strategy else tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if distribute.num_workers(strategy) > 1 and task.kind != "gan":
        # Keras 3 fit cannot build a compiled model from a batch split over workers.
        raise ConfigError(f"--strategy multiworker: trains GAN tasks; train {task.name} "
                          "with --strategy default or mirrored")
    encoders = encoders or {}
    data = default_dataset() if data is None else data
    index = open_index(data)
    if task.needs_instrument and not instrument:
        raise ConfigError(f"task '{task.name}' trains one instrument: pass --instrument NAME")
    categories = None
    if instrument:
        index.count(categories=instrument)  # raises a clear error for unknown names
        categories = [instrument]
    if task.kind == "regressor" and not index.has_pose:
        raise DataError(f"{data}: {task.name} needs pose ground truth for every pair "
                        "(labels.jsonl)")
    if task.wrong_pairs == "other_category":
        found = [instrument] if instrument else sorted(index.categories)
        if len(found) < 2:  # no wrong pair could be right
            where = f"with --instrument {instrument} there is" if instrument else f"{data} has"
            raise ConfigError(
                f"task '{task.name}' draws its wrong pairs from other categories, but {where} "
                f"{len(found)} categor{'y' if len(found) == 1 else 'ies'} to train on "
                f"({', '.join(found) or 'no training pairs'}); give it 2 or more"
                + (" (without --instrument)" if instrument else ""))

    run_dir, out_dir, state, chief = _run_folder(task, instrument, out, resume, strategy)
    if not chief:
        evaluate = False
    stored = runs.read_config(run_dir) if state["epoch"] else {}
    if recipe and stored and stored.get("objective", task.objective) != recipe:
        raise ConfigError(f"--resume: the run was trained with --recipe "
                          f"{stored.get('objective', task.objective)}, not {recipe}")
    objective = objectives.get(stored.get("objective") or recipe or task.objective)
    if objective.name != task.objective and task.kind != "gan":
        raise ConfigError(f"--recipe {objective.name}: for GAN tasks, not {task.name}")
    if not recipe and not stored and (hyper is None or isinstance(hyper, dict)):
        hyper = objectives.registry.task_defaults(task, hyper)  # the task's own recipe
    hyper = hyper_for(task, hyper, stored.get("hyper") if stored else None, objective)
    policy, why = _precision_of(precision, stored)

    epochs = epochs or task.epochs
    batch_size = batch_size or task.batch_size
    n_train = index.count("train", instrument)
    if batch_size > n_train:  # a small dataset still trains (dependencies use the defaults)
        print(f"[tfav] {task.name}: batch size {batch_size} > {n_train} training pairs; "
              f"using {n_train}")
        batch_size = n_train
    keras.utils.set_random_seed(seed)
    if batch_size % replicas:
        raise ConfigError(f"--batch-size {batch_size} does not split over {replicas} replicas")
    config = {
        "task": task.name, "data": os.path.abspath(index.root), "instrument": instrument,
        "categories": list(index.categories), "epochs": epochs, "batch_size": batch_size,
        "seed": seed, "objective": objective.name, "hyper": dataclasses.asdict(hyper),
        "precision": policy,
    }  # fmt: skip
    if replicas > 1:
        config["replicas"] = replicas
    atomic_write_json(run_dir / "config.json", config)

    log = print if verbose else (lambda *a: None)
    resources = Resources(data, index, encoders, seed, instrument, log)
    condition_encoder, dataset_options = None, {}
    if objective.condition_encoder is not None:
        condition_encoder, notes = objective.condition_encoder(task, hyper, resources)
        config.update(notes)
    if objective.dataset_options is not None:
        dataset_options, notes = objective.dataset_options(task, hyper, resources)
        config.update(notes)
    if task.kind == "gan":
        atomic_write_json(run_dir / "config.json", config)
    evaluators = evaluators_for(task, resources) if task.kind == "gan" and evaluate else {}

    def datasets(encoder=None):
        options = dataset_options if encoder is None else {**dataset_options, "encoder": encoder}
        return _datasets(task, index, categories, batch_size, seed, steps_per_epoch, strategy,
                         options)

    with strategy.scope():  # variables and optimizer slots mirrored on every replica
        if state["epoch"]:
            log(f"[tfav] resuming {run_dir} after epoch {state['epoch']}")
            model = runs.load_trained(run_dir, task.name, compile=True)
        else:
            log(f"[tfav] precision: {policy} ({why})")
            with precision_policy(policy):
                model = objective.build(objectives.BuildContext(
                    task, len(index.categories), hyper, condition_encoder, task.image_size,
                    seed, dataset_options))
            if objective.prepare is not None:  # may fit the encoder (e.g. standardisation)
                objective.prepare(model, datasets()[0], log=log)
        distribute.prepare(model, strategy)
    # The model's own frozen encoder, final now (prepared, or loaded with the run), codes
    # every item once, with the decoded data; with replicas each step encodes its batch.
    encoder = getattr(model, "condition_encoder", None) if task.kind == "gan" else None
    train_ds, val_ds = datasets(encoder if replicas == 1 else None)

    history = state["history"]
    guard = NanGuard()
    callbacks, best = [guard], None
    if task.kind == "gan":
        fixed = probe.Probe.from_index(task, index, categories, seed=seed)
        callbacks.append(SampleGrid(run_dir, fixed.sample_grid, writer_dir=run_dir / "logs"))
        if evaluators:
            callbacks.append(GeneratedQuality(lambda m: fixed.measure(m, evaluators)))
            best = BestCheckpoint(run_dir, "selection_train", "min", history)
            callbacks.append(best)
    checkpoint = RunCheckpoint(run_dir, history, seconds=state.get("seconds", 0.0))
    callbacks += [keras.callbacks.TensorBoard(run_dir / "logs", write_graph=False), checkpoint]
    if state["epoch"] < epochs:
        log(f"[tfav] {task.name}: {task.description}; run folder {run_dir}")
        try:
            model.fit(
                train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=state["epoch"],
                callbacks=callbacks, verbose=verbose if chief else 0, shuffle=False,
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError,
                tf.errors.DataLossError) as e:
            _name_the_bad_file(e, index, categories, task.image_size, run_dir, len(history))
    if guard.failure:
        raise TfavError(
            f"{run_dir}: training diverged ({guard.failure}); the last good checkpoint is "
            f"epoch {len(history)} — lower --learning-rate and --resume"
        )
    final = model.sampling_generator if task.kind == "gan" else model
    final_path = run_dir / ("generator.keras" if task.kind == "gan" else "model.keras")
    runs.save_model_atomically(as_float32(final), final_path)
    summary = {
        **config,
        "run_dir": str(run_dir),
        "epochs_done": len(history),
        # Seconds of the finished epochs, over every session that trained them.
        "seconds": round(checkpoint.seconds, 1),
        "final": history[-1] if history else {},
        # The epoch kept as best.keras (chosen on training conditions); --checkpoint best
        # in evaluate, generate and export uses it.
        "best": best.best if best is not None else None,
        "model": final_path.name,
        "precision_why": why,
        "train_pairs": index.count("train", instrument),
        "validation_pairs": index.count("validation", instrument),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    atomic_write_json(run_dir / "summary.json", summary)
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
        return out_dir
    log(f"[tfav] done: {final_path}")
    return run_dir


def _resumed_identity(task, out, data, instrument, seed, batch_size, epochs):
    """``(data, instrument, seed, batch_size, epochs)`` of a resumed run: the values of its
    ``config.json`` where none is given; a given value that differs is a one-line
    :class:`ConfigError`, and so is an epoch count below the run's (a run with no
    ``config.json`` yet is left to :func:`_run_folder`)."""
    folder = Path(out) if out is not None else runs.latest_run_dir(task, instrument)
    if folder is None or not (Path(folder) / "config.json").is_file():
        return data, instrument, seed, batch_size, epochs
    stored = runs.read_config(folder)
    if stored.get("task", task.name) != task.name:
        raise ConfigError(f"--resume: {folder} is a {stored['task']} run, not {task.name} "
                          "(give the run's own --task, or another --out)")
    if data is not None and "data" in stored:
        given = os.path.abspath(open_index(data).root)
        if given != stored["data"]:
            raise ConfigError(f"--resume: {folder} was trained on {stored['data']}, not {given} "
                              "(start a new run to train on other data)")
    for name, value in (("instrument", instrument), ("seed", seed),
                        ("batch_size", batch_size)):
        if value is not None and name in stored and stored[name] != value:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"--resume: {folder} was trained with {flag} {stored[name]}, not "
                              f"{value} (start a new run to change it)")
    if epochs is not None and epochs < stored.get("epochs", 0):
        raise ConfigError(f"--resume: {folder} is a {stored['epochs']}-epoch run; --epochs may "
                          f"only grow (got {epochs})")
    return (stored.get("data", data) if data is None else data,
            stored.get("instrument") if instrument is None else instrument,
            stored.get("seed") if seed is None else seed,
            stored.get("batch_size") if batch_size is None else batch_size,
            stored.get("epochs") if epochs is None else epochs)


def _precision_of(precision, stored):
    """``(policy, why)``: a resumed run's own policy (a different ``precision`` given is a
    one-line error), else :func:`tfav.precision.resolve` of ``precision``."""
    if stored and "precision" in stored:
        if precision not in (None, "auto", stored["precision"]):
            raise ConfigError(f"--resume: the run was trained with --precision "
                              f"{stored['precision']}, not {precision} (start a new run to "
                              "change it)")
        return stored["precision"], "the run's own"
    return resolve_precision(precision)


def _run_folder(task, instrument, out, resume, strategy):
    """``(folder written to, run folder, state, is chief)``; a worker other than the chief
    writes to a scratch copy of the run folder, removed at the end. The folder written
    to is locked (``runs.run_lock``) until :func:`train` ends; its state is read under
    the lock."""
    if resume and out is None:
        out = runs.latest_run_dir(task, instrument)
        if out is None:
            raise ConfigError(f"--resume: no earlier {task.name} run under runs/")
    run_dir = Path(out) if out is not None else runs.new_run_dir(task, instrument)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: a file, not a run folder")
    if resume and not run_dir.is_dir():
        raise ConfigError(f"--resume: {run_dir}: no such run folder")
    if resume and not (run_dir / "config.json").exists() and not runs.read_state(run_dir)["epoch"]:
        raise ConfigError(f"--resume: {run_dir}: not a run folder (no config.json)")
    out_dir, chief = run_dir, distribute.is_chief(strategy)
    if not chief:  # one writer per run folder; a worker resumes from the chief's checkpoint
        run_dir = Path(tempfile.mkdtemp(prefix="tfav-worker-"))
        atexit.register(shutil.rmtree, run_dir, True)  # also when training fails
    run_dir.mkdir(parents=True, exist_ok=True)
    _HELD_LOCKS.get().enter_context(runs.run_lock(run_dir))  # a second training is refused
    state = runs.read_state(out_dir)
    if state["epoch"] and not resume:
        raise ConfigError(f"{out_dir}: holds a run already; pass --resume to continue it")
    for name in (runs.CHECKPOINT, runs.STATE, "config.json") if run_dir != out_dir else ():
        if state["epoch"] and (out_dir / name).exists():
            shutil.copy(out_dir / name, run_dir / name)
    return run_dir, out_dir, state, chief


def _datasets(task, index, categories, batch_size, seed, steps_per_epoch, strategy, options):
    """The training batches and, for non-GAN tasks, the validation batches."""
    train_ds = tasks.make_dataset(
        task, index.root, "train", categories=categories, batch_size=batch_size, seed=seed,
        image_size=task.image_size, **options,
    )
    val_ds = None
    if task.kind != "gan" and index.count("validation"):
        val_ds = tasks.make_dataset(
            task, index.root, "validation", categories=categories, batch_size=batch_size,
            seed=seed, shuffle=False, drop_remainder=False,
        )
    if steps_per_epoch:
        train_ds = train_ds.take(steps_per_epoch)
        val_ds = val_ds.take(steps_per_epoch) if val_ds is not None else None
    if distribute.num_workers(strategy) > 1:
        train_ds = distribute.shard_by_data(train_ds)
        val_ds = distribute.shard_by_data(val_ds) if val_ds is not None else None
    return train_ds, val_ds


def _name_the_bad_file(error, index, categories, image_size, run_dir, epochs_done):
    """Turn a decoding error raised inside ``tf.data`` into one line naming the file
    (or the TFRecord shard and record).

    Raises:
        DataError: ``"<file>: cannot be decoded (...)"`` and where training stopped;
            the original error when no file is at fault.
    """
    if "IteratorGetNext" not in str(error):
        raise error  # not an input pipeline error
    for split in ("train", "validation"):
        if not index.count(split):
            continue
        bad = find_undecodable(index, split, categories=categories, image_size=image_size)
        if bad:
            raise DataError(
                f"{bad}; training stopped after epoch {epochs_done} of {run_dir} (fix or "
                "remove the pair, then --resume)"
            ) from error
    raise error


def evaluate_run(run_dir, n: int = 512, diversity_conditions: int = 64, seed: int = 0, log=print,
                 checkpoint: str = "last", judge: bool = True):
    """All metrics of a finished (or checkpointed) GAN run; writes ``metrics.json``
    (``metrics_best.json`` for ``checkpoint="best"``, the run's ``best.keras``) and
    ``accuracy_curve.png``. ``judge``: for S2I, also the judge FID/KID (trains the
    judge network once per dataset if the cache has none)."""
    run_dir = Path(run_dir)
    task, config = runs.read_generator_run(run_dir)
    index = open_index(config["data"])
    instrument = config.get("instrument")
    cats = [instrument] if instrument else None
    model = runs.load_trained(run_dir, task.name, checkpoint=checkpoint)
    fixed = probe.Probe.from_index(task, index, cats, n=n, seed=seed)
    has_pose = bool(instrument) and not np.isnan(fixed.data["validation"]["pose"]).any()
    # The judge measures only here: nothing in training or tuning reads it.
    names = probe.evaluator_names(task, instrument, has_pose) + (
        ("judge",) if task.direction == "s2i" and judge else ()) + (
        ("pose_from_sound",) if task.direction == "s2i" and has_pose else ())
    resources = Resources(config["data"], index, {}, log=log)
    evaluators = {name: resources.dependency(name, instrument=instrument) for name in names}
    results = {"task": task.name, "instrument": instrument, "run_dir": str(run_dir),
               "checkpoint": checkpoint}
    objective = objectives.get(config.get("objective", task.objective))
    results.update(probe.final_metrics(fixed, model, evaluators, seed=seed,
                                       diversity_conditions=diversity_conditions,
                                       objective=objective))
    history = runs.read_state(run_dir)["history"]
    probe.accuracy_curve(run_dir / "accuracy_curve.png", task, history)
    name = "metrics.json" if checkpoint == "last" else f"metrics_{checkpoint}.json"
    atomic_write_json(run_dir / name, results)
    width = max(len(k) for k in results)
    for k, v in results.items():
        if isinstance(v, list):  # the confusion matrix: in the file, not the table
            continue
        log(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return results


def vocoder_for(choice: str, data):
    """``normalised LMS [B, 128, 44] -> waveforms [B, L]`` (numpy) for the sound of an I2S
    run on ``data``: the dataset's neural vocoder (``"neural"``; trained now and cached
    if the cache has none) or Griffin-Lim (``"griffin-lim"``) at the same output level."""
    if choice == "griffin-lim":
        return lambda lms: np.asarray(audio.griffin_lim_from_log_mel(
            audio.denormalize_log_mel(lms)))
    model = dependency("vocoder", data, open_index(data))
    return lambda lms: np.asarray(model(lms, training=False))
