"""``python -m tfav.train --task TASK``: train a model of Chen et al. 2017 on a pair folder.

Without ``--data`` the embedded synthetic dataset is built once and cached.
Encoders a task needs (the sound classifier for S2I, the image classifier for
I2S, the autoencoder for S2I-A) and the evaluators (verifier, pose regressor)
are trained first into a cache next to the dataset, or reused from there or
from ``--sound-encoder PATH`` etc.; the command says which.

A run folder holds ``config.json``, ``checkpoint.keras`` + ``state.json``
(written atomically after every epoch; ``--resume`` continues from them),
``samples/epoch_NNN.png``, TensorBoard ``logs/``, the final model
(``generator.keras`` for GANs, ``model.keras`` otherwise) and ``summary.json``.

``--config FILE`` reads hyperparameters (``tfav.tasks.Hyper`` fields) and
``epochs``/``batch_size`` from JSON, e.g. the ``best_config.json`` of
``python -m tfav.tune``; options given on the command line win.
``--strategy mirrored|multiworker`` trains on several devices or machines
(``tfav.distribute``); ``--batch-size`` is then the global batch.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tfav  # noqa: F401  (selects the Keras backend before keras is imported)
from tfav import distribute, tasks
from tfav.cli import one_line_errors
from tfav.errors import ConfigError, DataError, TfavError

#: Evaluators trained alongside a GAN to measure it every epoch.
EVALUATORS = {"s2i": ("image_encoder",), "i2s": ("sound_encoder",)}


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


def read_generator_run(run_dir) -> tuple[tasks.Task, dict]:
    """The task and ``config.json`` of a GAN run folder, or a clear error."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.json)")
    config = json.loads(config_path.read_text())
    task = tasks.get_task(config["task"])
    if task.kind != "gan":
        raise ConfigError(f"{run_dir}: '{task.name}' is not a generator run")
    return task, config


#: ``--checkpoint`` choices of evaluate, generate and export: the run folder's file.
CHECKPOINTS = {"last": "checkpoint.keras", "best": "best.keras"}


def load_trained(path, task_name: str, compile: bool = False, checkpoint: str = "last"):
    """A trained model from a run folder or a ``.keras`` file.

    Args:
        checkpoint: in a run folder, ``"last"`` (``checkpoint.keras``, the last
            finished epoch) or ``"best"`` (``best.keras``, the epoch with the best
            generated samples on training conditions; GAN runs).
    """
    import keras

    import tfav.objectives.diverse_gan  # noqa: F401
    import tfav.objectives.gan_cls  # noqa: F401  (registers the objective for loading)
    import tfav.objectives.scene_gan  # noqa: F401

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
        raise ConfigError(f"{file}: cannot load a {task_name} model ({e})") from e


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on ``path`` (a lock file) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        return load_trained(explicit, task_name)
    if not tasks.get_task(task_name).kind == "regressor":
        instrument = None
    run_dir = cached_model_dir(task_name, index, instrument)
    name = run_dir.name
    with _exclusive(run_dir.with_name(f".{name}.lock")):
        if (run_dir / "summary.json").exists():
            log(f"[tfav] reusing cached {name}: {run_dir}")
        else:
            log(f"[tfav] training {name} first (cached in {run_dir})")
            train(task_name, data=data_root, instrument=instrument, out=run_dir, resume=True,
                  seed=seed, evaluate=False, strategy="default")
    return load_trained(run_dir, task_name)


def _a2i_soundnet(hyper, data_root, index, encoders, seed, log):
    """SoundNet-8 for ``--features soundnet``: published weights, or trained on the labels.

    Returns ``(model or None, description for config.json / summary.json)``.
    """
    if hyper.features != "soundnet":
        return None, f"{hyper.features} averaged over time"
    weights = encoders.get("soundnet_weights")
    if weights:
        from tfav.models.soundnet import load_soundnet_weights, soundnet8

        model = soundnet8()
        load_soundnet_weights(model, weights, allow_pickle=bool(encoders.get("allow_pickle")))
        log(f"[tfav] SoundNet-8 with published weights from {weights}")
        return model, f"SoundNet-8 pool5 (256-d), published weights {os.path.abspath(weights)}"
    model = dependency("soundnet", data_root, index, encoders.get("soundnet"), seed, log)
    return model, "SoundNet-8 pool5 (256-d), trained on this dataset's labels (no weight file)"


def _new_run_dir(task, instrument) -> Path:
    name = task.name + (f"-{instrument}" if instrument else "")
    return Path("runs") / name / time.strftime("%Y%m%d-%H%M%S")


def _latest_run_dir(task, instrument) -> Path | None:
    base = Path("runs") / (task.name + (f"-{instrument}" if instrument else ""))
    runs = sorted(p for p in base.glob("*") if (p / "state.json").exists()) if base.exists() else []
    return runs[-1] if runs else None


def train(
    task_name: str,
    *,
    data=None,
    instrument: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    out=None,
    resume: bool = False,
    seed: int = 0,
    hyper: tasks.Hyper | None = None,
    steps_per_epoch: int | None = None,
    encoders: dict | None = None,
    evaluate: bool = True,
    verbose: int = 1,
    strategy=None,
) -> Path:
    """Train ``task_name`` and return its run folder (see the module docstring).

    Args:
        data: a pair folder; ``None`` builds/uses the embedded dataset.
        instrument: restrict to one category (required by ``s2i_pose``).
        batch_size: the global batch (split over the replicas of ``strategy``).
        steps_per_epoch: cap on batches per epoch (quick runs and tests).
        encoders: ``{task_name: path}`` of trained encoders/evaluators to use.
        evaluate: for GANs, measure generated samples every epoch with the
            verifier (and pose regressor), training them first if needed.
        strategy: a ``tf.distribute.Strategy`` or a name of
            ``tfav.distribute.STRATEGIES``; ``None``: the current one. Under
            ``multiworker`` only the chief writes ``out``; the other workers
            write to a scratch folder that is removed at the end.
    """
    import keras
    import tensorflow as tf

    from tfav.callbacks import (
        BestCheckpoint,
        GeneratedQuality,
        NanGuard,
        RunCheckpoint,
        SampleGrid,
        read_state,
    )
    from tfav.data.layout import index_pairs

    task = tasks.get_task(task_name)
    if strategy is None or isinstance(strategy, str):
        strategy = distribute.make_strategy(strategy) if strategy else tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if distribute.num_workers(strategy) > 1 and task.kind != "gan":
        # Keras 3 fit cannot build a compiled model from a batch split over workers.
        raise ConfigError(f"--strategy multiworker: trains GAN tasks; train {task.name} "
                          "with --strategy default or mirrored")
    hyper = hyper or tasks.Hyper()
    encoders = encoders or {}
    if data is None:
        from tfav.data.synth import default_dataset

        data = default_dataset()
    index = index_pairs(data)
    if task.needs_instrument and not instrument:
        raise ConfigError(f"task '{task.name}' trains one instrument: pass --instrument NAME")
    categories = None
    if instrument:
        index.select(category=instrument)  # raises a clear error for unknown names
        categories = [instrument]
    if task.kind == "regressor" and not index.labels:
        raise DataError(f"{data}: {task.name} needs labels.jsonl with pose ground truth")

    if resume and out is None:
        out = _latest_run_dir(task, instrument)
        if out is None:
            raise ConfigError(f"--resume: no earlier {task.name} run under runs/")
    run_dir = Path(out) if out is not None else _new_run_dir(task, instrument)
    state = read_state(run_dir)
    if state["epoch"] and not resume:
        raise ConfigError(f"{run_dir}: holds a run already; pass --resume to continue it")
    out_dir, chief = run_dir, distribute.is_chief(strategy)
    if not chief:  # one writer per run folder; a worker resumes from the chief's checkpoint
        run_dir = Path(tempfile.mkdtemp(prefix="tfav-worker-"))
        atexit.register(shutil.rmtree, run_dir, True)  # also when training fails
        for name in ("checkpoint.keras", "state.json") if state["epoch"] else ():
            shutil.copy(out_dir / name, run_dir / name)
        evaluate = False
    run_dir.mkdir(parents=True, exist_ok=True)

    epochs = epochs or task.epochs
    batch_size = batch_size or task.batch_size
    n_train = len(index.select("train", instrument))
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
        "seed": seed, "hyper": dataclasses.asdict(hyper),
    }  # fmt: skip
    if replicas > 1:
        config["replicas"] = replicas
    (run_dir / "config.json").write_text(json.dumps(config, indent=1))

    log = print if verbose else (lambda *a: None)
    condition_encoder, evaluators = None, {}
    if task.kind == "gan" and task.condition == "waveform":
        condition_encoder, config["sound_vector"] = _a2i_soundnet(
            hyper, data, index, encoders, seed, log
        )
    elif task.kind == "gan":
        name = task.encoder
        if task.pose_encoder and index.labels and not encoders.get(task.encoder):
            name = task.pose_encoder
            log(f"[tfav] {task.name}: the data has pose ground truth, so the condition is "
                f"the {name} encoding (--{task.encoder.replace('_', '-')} PATH to override)")
        dep = dependency(name, data, index, encoders.get(name), seed, log, instrument=instrument)
        condition_encoder = tasks.encoder_of(name, dep)
        config["condition_encoder"] = name
    wrong_pair_weights = None
    if hyper.hard_wrong_pairs:
        wrong_pair_weights = _hard_wrong_pair_weights(task, hyper.hard_wrong_pairs, data, index,
                                                      encoders, seed, log)
        config["wrong_pair_weights"] = np.round(wrong_pair_weights, 4).tolist()
    if task.kind == "gan":
        (run_dir / "config.json").write_text(json.dumps(config, indent=1))
    if task.kind == "gan" and evaluate:
        names = EVALUATORS[task.direction]
        if instrument and index.labels:
            names += ("pose_regressor",)
        for name in names:
            evaluators[name] = dependency(
                name, data, index, encoders.get(name), seed, log, instrument=instrument
            )

    train_ds = tasks.make_dataset(
        task, index.root, "train", categories=categories, batch_size=batch_size, seed=seed,
        image_size=task.image_size, wrong_pair_weights=wrong_pair_weights,
    )
    val_ds = None
    if task.kind != "gan" and index.select(split="validation"):
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

    with strategy.scope():  # variables and optimizer slots mirrored on every replica
        if state["epoch"]:
            log(f"[tfav] resuming {run_dir} after epoch {state['epoch']}")
            model = load_trained(run_dir, task.name, compile=True)
        else:
            model = tasks.build_model(
                task, len(index.categories), hyper, encoder=condition_encoder, seed=seed,
                image_size=task.image_size,
            )
            if task.kind == "gan" and task.condition == "waveform":
                i2a_mse = tasks.fit_sound_vector(model, train_ds)
                if i2a_mse is not None:
                    log(f"[tfav] I2A pretrained on the training pairs: mse {i2a_mse:.4f}")
        distribute.prepare(model, strategy)

    history = state["history"]
    guard = NanGuard()
    callbacks, best = [guard], None
    if task.kind == "gan":
        from tfav import evaluate as ev

        probe = ev.Probe.from_index(task, index, categories, seed=seed)
        callbacks.append(SampleGrid(run_dir, probe.sample_grid, writer_dir=run_dir / "logs"))
        if evaluators:
            callbacks.append(GeneratedQuality(lambda m: probe.measure(m, evaluators)))
            pose = "pose_regressor" in evaluators
            key, mode = ("pose_err_train", "min") if pose else ("acc_train", "max")
            best = BestCheckpoint(run_dir, key, mode, history)
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
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
            _name_the_bad_file(e, index, categories, task.image_size, run_dir, len(history))
    if guard.failure:
        raise TfavError(
            f"{run_dir}: training diverged ({guard.failure}); the last good checkpoint is "
            f"epoch {len(history)} — lower --learning-rate and --resume"
        )
    final = model.sampling_generator if task.kind == "gan" else model
    from tfav.callbacks import save_model_atomically

    final_path = run_dir / ("generator.keras" if task.kind == "gan" else "model.keras")
    save_model_atomically(final, final_path)
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
        "train_pairs": len(index.select("train", instrument)),
        "validation_pairs": len(index.select("validation", instrument)),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
        return out_dir
    log(f"[tfav] done: {final_path}")
    return run_dir


def _hard_wrong_pair_weights(task, hardness, data, index, encoders, seed, log):
    """Wrong-category draw weights from the sound classifier's confusion on the training
    sounds (``tfav.data.pipeline.hard_wrong_pair_weights``)."""
    import keras

    from tfav.data.pipeline import hard_wrong_pair_weights

    if task.wrong_pairs != "other_category" or task.direction != "s2i" or task.condition != "lms":
        raise ConfigError(f"--hard-wrong-pairs: for S2I tasks with wrong-category pairs "
                          f"(s2i_instrument, s2i_ae), not {task.name}")
    classifier = dependency("sound_encoder", data, index, encoders.get("sound_encoder"), seed,
                            log)
    sounds = tasks.make_dataset(tasks.get_task("sound_encoder"), index.root, "train",
                                batch_size=256, shuffle=False, drop_remainder=False)
    # Summed class probabilities rather than counts of argmax mistakes: a category the
    # classifier almost never gets wrong still has a graded "looks like" row.
    confusion = np.zeros((len(index.categories),) * 2)
    for lms, label in sounds:
        np.add.at(confusion, np.asarray(label), np.asarray(
            keras.ops.softmax(classifier(lms, training=False))))
    weights = hard_wrong_pair_weights(confusion, hardness)
    others = weights - np.eye(len(weights))  # the diagonal (1) is not a wrong category
    rows = [f"{index.categories[c]} -> {index.categories[int(np.argmax(row))]} {row.max():.0%}"
            for c, row in enumerate(others)]
    log(f"[tfav] hard wrong pairs ({hardness:g}): each category's most drawn wrong one: "
        + ", ".join(rows))
    return weights


def _name_the_bad_file(error, index, categories, image_size, run_dir, epochs_done):
    """Turn a decoding error raised inside ``tf.data`` into one line naming the file.

    Raises:
        DataError: ``"<file>: cannot be decoded (...)"`` and where training stopped;
            the original error when no file is at fault.
    """
    from tfav.data.pipeline import find_undecodable

    if "IteratorGetNext" not in str(error):
        raise error  # not an input pipeline error
    for split in ("train", "validation"):
        if not index.select(split=split):
            continue
        bad = find_undecodable(index, split, categories=categories, image_size=image_size)
        if bad:
            raise DataError(
                f"{bad}; training stopped after epoch {epochs_done} of {run_dir} (fix or "
                "remove the pair, then --resume)"
            ) from error
    raise error


#: What a ``--config`` file may set besides the fields of :class:`tfav.tasks.Hyper`.
CONFIG_KEYS = ("task", "instrument", "epochs", "batch_size", "steps_per_epoch", "seed")
_JSON_TYPES = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def read_config(path) -> dict:
    """A ``--config`` JSON file: ``Hyper`` fields and :data:`CONFIG_KEYS`, checked."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such config file") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a JSON object of option names and values")
    types = {f.name: str(f.type) for f in dataclasses.fields(tasks.Hyper)}
    types.update(task="str", instrument="str | None", epochs="int", batch_size="int",
                 steps_per_epoch="int | None", seed="int")
    for key, value in config.items():
        if key not in types:
            raise ConfigError(f"{path}: unknown key '{key}' (known: {', '.join(types)})")
        allowed = types[key].split(" | ")
        ok = (value is None and "None" in allowed) or any(
            isinstance(value, _JSON_TYPES[t]) and (t == "bool" or not isinstance(value, bool))
            for t in allowed if t in _JSON_TYPES
        )
        if not ok:
            raise ConfigError(f"{path}: '{key}' must be {types[key]}, got {value!r}")
    return config


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.train", description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=list(tasks.TASKS), help="required unless --config names it")
    p.add_argument("--config", metavar="JSON", help="hyperparameters, epochs and batch size "
                   "from a file (e.g. tune's best_config.json); explicit options override it")
    p.add_argument("--instrument", help="one category (required by s2i_pose)")
    p.add_argument("--data", help="pair folder (default: the embedded dataset, built once)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch (split over --strategy replicas)")
    p.add_argument("--out", help="run folder (default: runs/<task>[-<instrument>]/<time>)")
    p.add_argument("--resume", action="store_true", help="continue --out (or the latest run)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--strategy", default="default", choices=distribute.STRATEGIES,
                   help="default: one device; mirrored: all local GPUs; multiworker: the "
                   "machines of TF_CONFIG")
    p.add_argument("--learning-rate", type=float, help="Adam learning rate (of G for GANs)")
    p.add_argument("--d-learning-rate", type=float, help="GANs: D's (default: G's)")
    p.add_argument("--beta-1", type=float, help="Adam beta_1 of GANs (default 0.5)")
    p.add_argument("--base-filters", type=int, help="channel unit (default: the task's)")
    p.add_argument("--z-dim", type=int, help="noise width (default 100)")
    p.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction,
                   help="spectral norm in Chen discriminators (default off)")
    p.add_argument("--upsampling", choices=("resize", "deconv"), help="GAN "
                   "generators: resize-convolution (default) or the papers' transposed convolution")
    p.add_argument("--generator-average", type=float, metavar="MOMENTUM", help="GANs: "
                   "sample from a moving average of G's weights (default 0.999; 0 = off)")
    p.add_argument("--augment", metavar="POLICY", help="Chen S2I GANs: DiffAugment of D's "
                   "images, e.g. translation,cutout or color,translation,cutout (default none)")
    p.add_argument("--g-steps", type=int, help="Chen and a2i_diverse GANs: generator steps per "
                   "discriminator step (default 1)")
    p.add_argument("--ablation", choices=("wgan_gp", "cgan", "sn", "hinge", "projection", "ac"),
                   help="a2i_scene: Wan et al. Table 4 row (b)-(g) (default ac, the full model)")
    p.add_argument("--features", choices=("spectrogram", "fbank", "mfcc", "soundnet"),
                   help="a2i tasks: sound vector (Wan et al. Table 2; default fbank)")
    p.add_argument("--g-per-d", type=int,
                   help="a2i_scene: generator steps per discriminator step (default 5)")
    p.add_argument("--consistency-weight", type=float, metavar="W", help="a2i_diverse: weight "
                   "of the audio consistency loss L2(a, I2A(G(a, z))) (default 1, the paper)")
    p.add_argument("--mode-seeking-weight", type=float, metavar="W", help="a2i_diverse: "
                   "weight of the mode-seeking term of Mao et al. 2019, which rewards images "
                   "that differ with z (default 0, as in Yang et al.)")
    p.add_argument("--hard-wrong-pairs", type=float, metavar="H", help="S2I-C / S2I-A: share "
                   "of wrong pairs whose category is drawn by how often the sound classifier "
                   "mistakes the condition's category for it (default 0: uniform)")
    p.add_argument("--aux-classifier", action=argparse.BooleanOptionalAction, help="Chen "
                   "GANs with several categories: D also classifies the instrument and G is "
                   "trained to be classified as the condition's (Odena et al. 2017; default off)")
    p.add_argument("--soundnet-weights", metavar="NPY", help="published sound8.npy for "
                   "--features soundnet (else SoundNet-8 is trained on the labels)")
    p.add_argument("--soundnet-allow-pickle", action="store_true",
                   help="allow unpickling --soundnet-weights (only for a file you trust)")
    p.add_argument("--steps-per-epoch", type=int, help="cap batches per epoch (quick runs)")
    p.add_argument("--no-eval", action="store_true", help="skip per-epoch evaluation of samples")
    for name in ("sound_encoder", "image_encoder", "sound_autoencoder", "pose_regressor",
                 "soundnet"):
        p.add_argument("--" + name.replace("_", "-"), metavar="PATH",
                       help=f"trained {name} (run folder or .keras) instead of the cached one")
    return p.parse_args(argv)


@one_line_errors
def main(argv=None):
    args = parse_args(argv)
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs anything.
    strategy = distribute.make_strategy(args.strategy)
    config = read_config(args.config) if args.config else {}

    def option(name, default=None):  # the command line, else the config file, else default
        value = getattr(args, name)
        return value if value is not None else config.get(name, default)

    task = option("task")
    if task is None:
        raise ConfigError("--task is required (or a --config that names the task)")
    hyper = tasks.Hyper(**{
        f.name: option(f.name) for f in dataclasses.fields(tasks.Hyper)
        if option(f.name) is not None
    })  # fmt: skip
    encoders = {
        name: getattr(args, name)
        for name in ("sound_encoder", "image_encoder", "sound_autoencoder", "pose_regressor",
                     "soundnet", "soundnet_weights")
        if getattr(args, name)
    }
    if args.soundnet_allow_pickle:
        encoders["allow_pickle"] = True
    train(
        task, data=args.data, instrument=option("instrument"), epochs=option("epochs"),
        batch_size=option("batch_size"), out=args.out, resume=args.resume,
        seed=option("seed", 0), hyper=hyper, steps_per_epoch=option("steps_per_epoch"),
        encoders=encoders, evaluate=not args.no_eval, strategy=strategy,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
