"""``python -m tfav.train --task TASK``: train a model of Chen et al. 2017 on a pair folder.

Without ``--data`` the embedded synthetic dataset is built once and cached.
Encoders a task needs (the sound classifier for S2I, the image classifier for
I2S, the autoencoder for S2I-A) and the evaluators (verifier, pose regressor)
are trained first into a cache next to the dataset, or reused from there or
from ``--sound-encoder PATH`` etc.; the command says which.

A run folder holds ``config.json``, ``checkpoint.keras`` + ``state.json``
(written atomically after every epoch; ``--resume`` continues from them; one
training writes a run folder at a time, a second is refused),
``samples/epoch_NNN.png``, TensorBoard ``logs/``, the final model
(``generator.keras`` for GANs, ``model.keras`` otherwise) and ``summary.json``.

The hyperparameter options are derived from the objectives' dataclasses
(``tfav.objectives``): each task accepts its own objective's, and an option of
another objective is a one-line error. ``--resume`` keeps the run's own values.
``--config FILE`` reads hyperparameters (the same fields) and
``epochs``/``batch_size`` from JSON, e.g. the ``best_config.json`` of
``python -m tfav.tune``; options given on the command line win.
``--strategy mirrored|multiworker`` trains on several devices or machines
(``tfav.distribute``); ``--batch-size`` is then the global batch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfav import distribute, tasks
from tfav.cli import number_in, one_line_errors
from tfav.errors import ConfigError
from tfav.objectives import registry
from tfav.precision import PRECISIONS
from tfav.training import train

#: What a ``--config`` file may set besides the objectives' hyperparameters.
CONFIG_KEYS = ("task", "instrument", "epochs", "batch_size", "steps_per_epoch", "seed",
               "recipe")
_JSON_TYPES = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def read_config(path) -> dict:
    """A ``--config`` JSON file: hyperparameters and :data:`CONFIG_KEYS`, checked."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such config file") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a JSON object of option names and values")
    types = {name: str(f.type) for name, f in registry.hyper_fields().items()}
    types.update(task="str", instrument="str | None", epochs="int", batch_size="int",
                 steps_per_epoch="int | None", seed="int", recipe="str | None")
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


_TYPES = {"float": float, "int": int, "str": str}


def _add_hyper_option(group, name, f):
    """``--name-with-dashes`` for one hyperparameter field (a bool: ``--x/--no-x``)."""
    flag = "--" + name.replace("_", "-")
    meta = f.metadata
    kind = registry.field_type(f)
    if kind == "bool":
        group.add_argument(flag, action=argparse.BooleanOptionalAction, help=meta.get("help"))
        return
    metavar = "W" if name.endswith("_weight") else None
    if name == "generator_average":
        metavar = "MOMENTUM"
    elif name == "hard_wrong_pairs":
        metavar = "H"
    elif name == "augment":
        metavar = "POLICY"
    low, high, low_open = meta.get("range", (None, None, False))
    parse = _TYPES[kind] if kind == "str" else number_in(_TYPES[kind], low, high,
                                                          low_open=low_open)
    group.add_argument(flag, type=parse, choices=meta.get("choices"), metavar=metavar,
                       help=meta.get("help"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.train", description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=list(tasks.TASKS), help="required unless --config names it")
    p.add_argument("--config", metavar="JSON", help="hyperparameters, epochs and batch size "
                   "from a file (e.g. tune's best_config.json); explicit options override it")
    p.add_argument("--instrument", help="one category (required by s2i_pose)")
    p.add_argument("--data", help="pair folder, or TFRecord folder written by python -m "
                   "tfav.data to-tfrecord (default: the embedded dataset, built once)")
    p.add_argument("--epochs", type=number_in(int, 1))
    p.add_argument("--batch-size", type=number_in(int, 1),
                   help="global batch (split over --strategy replicas)")
    p.add_argument("--out", help="run folder (default: runs/<task>[-<instrument>]/<time>)")
    p.add_argument("--resume", action="store_true", help="continue --out (or the latest run)")
    p.add_argument("--seed", type=number_in(int, 0), help="default 0")
    p.add_argument("--recipe", choices=[o.name for o in registry.all_objectives()
                                         if o.name != "supervised"],
                   help="GAN tasks: the objective that trains the task instead of its own, "
                   "with that objective's plain defaults: gan_cls for s2i_pose is the paper's "
                   "setting (Chen eq. 6), paired_gan S2I with paired reconstruction; see "
                   "ARCHITECTURE.md")
    p.add_argument("--strategy", default="default", choices=distribute.STRATEGIES,
                   help="default: one device; mirrored: all local GPUs; multiworker: the "
                   "machines of TF_CONFIG")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="what the models compute in: auto (default; mixed_bfloat16 where a "
                   "CPU with AMX or a GPU multiplies bfloat16, float32 elsewhere), float32, "
                   "mixed_bfloat16 (float32 variables and losses)")
    hyper = p.add_argument_group("hyperparameters (each task takes its objective's)")
    for name, f in registry.hyper_fields().items():
        _add_hyper_option(hyper, name, f)
    p.add_argument("--soundnet-weights", metavar="NPY", help="published sound8.npy for "
                   "--features soundnet (else SoundNet-8 is trained on the labels)")
    p.add_argument("--soundnet-allow-pickle", action="store_true",
                   help="allow unpickling --soundnet-weights (only for a file you trust)")
    p.add_argument("--steps-per-epoch", type=number_in(int, 1),
                   help="cap batches per epoch (quick runs)")
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
    # An option that is not the task's objective's is a one-line error in train().
    hyper = {name: option(name) for name in registry.hyper_fields() if option(name) is not None}
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
        seed=option("seed"), hyper=hyper, steps_per_epoch=option("steps_per_epoch"),
        encoders=encoders, evaluate=not args.no_eval, strategy=strategy,
        recipe=option("recipe"), precision=option("precision"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
