"""``python -m tfav.tune --task TASK``: hyperparameter search for the GAN tasks (KerasTuner).

Each trial trains with ``tfav.train.train`` into its own run folder
(``OUT/trial_NN/run``) and is then measured with ``tfav.evaluate.evaluate_run``;
the objective is one of those measurements (verifier accuracy of images
generated from validation sounds, Frechet distance, pose error, ...), never a
training loss. A search is resumable: run the same command again and finished
trials are kept, an interrupted one continues from its last epoch. Unless
``--no-baseline``, the task's defaults are trained and measured with the same
budget, as the reference row. The search writes ``results.csv``,
``results.md``, prints a summary, and writes the best hyperparameters as
``best_config.json`` for ``python -m tfav.train --config``.

Several machines search together with KerasTuner's variables: the chief runs
the oracle (``KERASTUNER_TUNER_ID=chief``), the workers (any other id) run
trials; all get ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT`` and the
same command line, and share ``--out`` (and the model cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import keras_tuner

from tfav import objectives, runs, tasks
from tfav.cli import one_line_errors
from tfav.errors import ConfigError, TfavError
from tfav.objectives import registry
from tfav.training import evaluate_run, train
from tfav.tune_results import OBJECTIVES, report, result_row, trial_rows

ALIASES = {"fid": "frechet_distance", "is": "inception_score"}
TUNERS = ("random", "bayesian", "hyperband")


def objectives_of(task: tasks.Task, instrument: str | None) -> list[str]:
    """The objectives ``evaluate_run`` measures for ``task`` (see ``tfav.probe``)."""
    if task.direction == "i2s":
        return ["acc_val", "acc_train"]
    names = ["acc_val", "acc_train", "inception_score", "frechet_distance", "diversity_ratio"]
    names += list(objectives.for_task(task).extra_metric_names)
    return names + (["pose_error"] if instrument else [])


def default_objective(task: tasks.Task) -> str:
    return "pose_error" if task.needs_instrument else "acc_val"


@dataclasses.dataclass
class TrialPlan:
    """What one trial trains: the objective's hyperparameters and the (global) batch size."""

    hyper: object
    batch_size: int


class GANHyperModel(keras_tuner.HyperModel):
    """The search space of a GAN task, derived from its objective's hyperparameters:
    every field declared with a ``tune`` space (``registry.hyper_field``), in field
    order, then the batch size. ``build`` returns a :class:`TrialPlan`.

    Defaults of every hyperparameter are the task's, so ``build`` on empty
    hyperparameters gives the untuned configuration. ``fixed`` holds values to
    keep constant (``--fix NAME=VALUE``).
    """

    def __init__(self, task: tasks.Task, fixed: dict | None = None):
        super().__init__(name=f"{task.name}_space")
        self.task, self.fixed = task, dict(fixed or {})
        self.objective = objectives.for_task(task)

    def _pick(self, hp, name, kind, *args, **kwargs):
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        return getattr(hp, kind)(name, *args, **kwargs)

    def _space(self, hp, f):
        space = f.metadata["tune"]
        default = registry.task_defaults(self.task).get(f.name, registry.default_of(f, self.task))
        if space[0] == "float":
            _, low, high, sampling, *step = space
            step = {"step": step[0]} if step else {}
            return self._pick(hp, f.name, "Float", low, high, sampling=sampling, default=default,
                              **step)
        if space[0] == "choice":
            values = sorted(set(space[1]) | {default})
            return self._pick(hp, f.name, "Choice", values, default=default)
        return self._pick(hp, f.name, "Boolean", default=default)

    def build(self, hp) -> TrialPlan:
        fields = dataclasses.fields(self.objective.hyper)
        values = {f.name: self._space(hp, f) for f in fields if f.metadata.get("tune")}
        for name, value in self.fixed.items():  # fixed outside this objective's space
            if name not in values and name != "batch_size":
                values[name] = hp.Fixed(name, value)
        batch = self._pick(hp, "batch_size", "Choice", sorted({16, 32, 64, self.task.batch_size}),
                           default=self.task.batch_size)
        return TrialPlan(self.objective.make_hyper(registry.task_defaults(self.task, values),
                                                   source="--fix"), int(batch))


def hypermodel_for(task: tasks.Task, fixed: dict | None = None) -> GANHyperModel:
    if task.kind != "gan":
        raise ConfigError(f"--task {task.name}: tune searches GAN tasks "
                          f"({', '.join(n for n, t in tasks.TASKS.items() if t.kind == 'gan')})")
    return GANHyperModel(task, fixed)


def run_plan(task, plan: TrialPlan, run_dir: Path, *, epochs, settings) -> dict:
    """Train ``plan`` into ``run_dir`` (continuing it if it holds epochs) and measure it."""
    keras.backend.clear_session()  # the previous trial's models and traced steps
    metrics_file, start = run_dir / "metrics.json", time.time()
    done = runs.read_state(run_dir)["epoch"]
    if done >= epochs and metrics_file.exists():  # finished before an interruption
        metrics = json.loads(metrics_file.read_text())
    else:
        train(task.name, data=settings["data"], instrument=settings["instrument"],
              epochs=epochs, batch_size=plan.batch_size, out=run_dir, resume=done > 0,
              seed=settings["seed"], hyper=plan.hyper, steps_per_epoch=settings["steps_per_epoch"],
              evaluate=False, verbose=settings["verbose"])
        # No judge: the judge network is never used to choose anything.
        metrics = evaluate_run(run_dir, n=settings["eval_n"], seed=settings["seed"], judge=False,
                               log=print if settings["verbose"] else (lambda *a: None))
    summary = json.loads((run_dir / "summary.json").read_text())
    steps = summary["train_pairs"] // summary["batch_size"]
    steps = min(steps, settings["steps_per_epoch"] or steps)
    out = {k: float(v) for k, v in metrics.items()
           if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}
    out.update(seconds=round(time.time() - start, 1), epochs=float(summary["epochs_done"]),
               pairs_seen=float(summary["epochs_done"] * steps * summary["batch_size"]))
    return out


class GANTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Runs each trial with ``tfav.train`` + ``tfav.evaluate`` (see the module docstring)."""

    def __init__(self, oracle, hypermodel, settings: dict, **kwargs):
        super().__init__(oracle, hypermodel, **kwargs)
        self.settings = settings
        # KerasTuner reloads the oracle only with this tuner id's own state file; a
        # search that other ids ran (a distributed one) is resumed here too.
        saved = Path(self.project_dir) / "oracle.json"
        if not self._is_worker() and not self.oracle.trials and saved.exists():
            self.oracle.reload()

    def run_dir(self, trial_id) -> Path:
        return Path(self.get_trial_dir(trial_id)) / "run"

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        run_dir = self.run_dir(trial.trial_id)
        parent = hp.values.get("tuner/trial_id")  # Hyperband: continue a shorter trial
        if parent and not runs.read_state(run_dir)["epoch"]:
            shutil.copytree(self.run_dir(parent), run_dir, dirs_exist_ok=True)
            (run_dir / "metrics.json").unlink(missing_ok=True)
        plan = self.hypermodel.build(hp)
        epochs = int(hp.values.get("tuner/epochs", self.settings["epochs"]))
        print(f"[tfav] {self.tuner_id}: trial {trial.trial_id} in {run_dir}", flush=True)
        try:
            return run_plan(self.hypermodel.task, plan, run_dir, epochs=epochs,
                            settings=self.settings)
        except TfavError as e:  # e.g. diverged: a failed trial, not one to retry
            raise keras_tuner.errors.FailedTrialError(str(e)) from e

    def load_model(self, trial):
        return runs.load_trained(self.run_dir(trial.trial_id) / "generator.keras", "generator")

    def save_model(self, trial_id, model, step=0):
        """Nothing to do: ``tfav.train`` checkpoints every epoch into the trial's run folder."""

    def search(self, *fit_args, **fit_kwargs):
        if not keras_tuner_chief():
            return super().search(*fit_args, **fit_kwargs)
        self.save()
        serve_oracle(self.oracle)
        return None


# --- distributed search --------------------------------------------------------

DISTRIBUTED_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def distributed() -> bool:
    """Whether this process is part of a distributed search (checks the variables)."""
    given = [name for name in DISTRIBUTED_ENV if os.environ.get(name)]
    if given and len(given) < len(DISTRIBUTED_ENV):
        missing = sorted(set(DISTRIBUTED_ENV) - set(given))
        raise ConfigError(f"distributed search: {', '.join(given)} set, "
                          f"but not {', '.join(missing)}")
    if given and not os.environ["KERASTUNER_ORACLE_PORT"].isdigit():
        raise ConfigError(f"KERASTUNER_ORACLE_PORT: not a port number "
                          f"({os.environ['KERASTUNER_ORACLE_PORT']!r})")
    return bool(given)


def keras_tuner_chief() -> bool:
    """KerasTuner's rule: the process whose tuner id contains ``chief`` runs the oracle."""
    return distributed() and "chief" in os.environ["KERASTUNER_TUNER_ID"]


def serve_oracle(oracle, poll: float = 1.0) -> None:
    """Serve ``oracle`` to the workers until the search ends and every worker has left.

    KerasTuner's own chief loop (``oracle_chief.start_server``) checks for the
    last worker every 20 s; this one checks every ``poll`` seconds and stops the
    server, so the chief writes the results as soon as the search is over.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if not server.add_insecure_port(address):
        raise ConfigError(f"KERASTUNER_ORACLE_IP/PORT: cannot listen on {address}")
    server.start()
    print(f"[tfav] oracle serving on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=1.0)


# --- command line --------------------------------------------------------------------


def parse_fixed(items) -> dict:
    """``NAME=VALUE`` pairs (JSON values, else strings) for ``--fix``."""
    names = set(registry.hyper_fields()) | {"batch_size"}
    fixed = {}
    for item in items or ():
        name, sep, raw = item.partition("=")
        if not sep or name not in names:
            raise ConfigError(f"--fix {item}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(sorted(names))}")
        try:
            fixed[name] = json.loads(raw)
        except json.JSONDecodeError:
            fixed[name] = raw
    return fixed


def make_oracle(kind, objective, max_trials, epochs, seed):
    oracles = keras_tuner.oracles
    if kind == "random":
        return oracles.RandomSearchOracle(objective, max_trials=max_trials, seed=seed)
    if kind == "bayesian":
        return oracles.BayesianOptimizationOracle(
            objective, max_trials=max_trials, seed=seed,
            num_initial_points=max(2, max_trials // 3))
    return oracles.HyperbandOracle(objective, max_epochs=epochs, factor=3, seed=seed)


def _same_search(out: Path, search: dict) -> None:
    """Refuse to resume a folder that holds a different search."""
    path = out / "search.json"
    if path.exists():
        old = json.loads(path.read_text())
        for key, value in search.items():
            if old.get(key) != value:
                raise ConfigError(f"{out}: holds a search with {key}={old.get(key)!r}, not "
                                  f"{value!r}; use another --out to start a new one")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(search, indent=1))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.tune", description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True, choices=list(tasks.TASKS))
    p.add_argument("--instrument", help="one category (required by s2i_pose)")
    p.add_argument("--data", help="pair folder or to-tfrecord folder (default: the embedded "
                   "dataset)")
    p.add_argument("--tuner", default="random", choices=TUNERS)
    p.add_argument("--max-trials", type=int, default=10, help="random/bayesian (default 10)")
    p.add_argument("--epochs", type=int, default=3,
                   help="epochs per trial (hyperband: the most a trial gets; default 3)")
    p.add_argument("--steps-per-epoch", type=int, help="cap batches per epoch")
    p.add_argument("--objective", help=f"what to optimise (default acc_val, pose_error for "
                   f"s2i_pose): {', '.join(OBJECTIVES)}, or fid")
    p.add_argument("--out", help="search folder (default runs/tune-<task>[-<instrument>])")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE",
                   help="keep a hyperparameter constant (repeatable), e.g. base_filters=32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-n", type=int, default=512, help="conditions per split measured")
    p.add_argument("--no-baseline", action="store_true",
                   help="do not train and measure the task's defaults with the same budget")
    p.add_argument("--quiet", action="store_true", help="less output from the trials")
    return p.parse_args(argv)


@one_line_errors
def main(argv=None):
    args = parse_args(argv)
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("tensorboard is not installed (pip install tensorboard): "
                          "every trial writes TensorBoard logs")
    task = tasks.get_task(args.task)
    hypermodel = hypermodel_for(task, parse_fixed(args.fix))
    if task.needs_instrument and not args.instrument:
        raise ConfigError(f"task '{task.name}' trains one instrument: pass --instrument NAME")
    objective = ALIASES.get(args.objective, args.objective) or default_objective(task)
    if objective not in objectives_of(task, args.instrument):
        raise ConfigError(f"--objective {args.objective}: {task.name} measures "
                          f"{', '.join(objectives_of(task, args.instrument))}")
    for name in ("max_trials", "epochs", "steps_per_epoch", "eval_n"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    out = Path(args.out or Path("runs") / ("tune-" + task.name
                                           + (f"-{args.instrument}" if args.instrument else "")))
    settings = {
        "task": task.name, "instrument": args.instrument, "data": args.data,
        "tuner": args.tuner, "objective": objective, "epochs": args.epochs,
        "steps_per_epoch": args.steps_per_epoch, "seed": args.seed, "eval_n": args.eval_n,
        "fixed": hypermodel.fixed,
    }  # fmt: skip
    is_distributed, is_chief = distributed(), keras_tuner_chief()
    if not is_distributed or is_chief:
        _same_search(out, settings)
    settings["verbose"] = 0 if args.quiet else 2
    oracle = make_oracle(args.tuner, keras_tuner.Objective(objective, OBJECTIVES[objective]),
                         args.max_trials, args.epochs, args.seed)
    tuner = GANTuner(oracle, hypermodel, settings, directory=str(out.parent),
                     project_name=out.name, overwrite=False)
    rows = []
    if args.no_baseline or is_distributed:  # workers all run trials; no one owns the baseline
        if is_distributed and not args.no_baseline:
            print("[tfav] distributed search: no baseline row (run one without the variables)")
    else:
        default_hp = keras_tuner.HyperParameters()
        plan = hypermodel.build(default_hp)
        print(f"[tfav] baseline: the defaults of {task.name} with the same budget")
        metrics = run_plan(task, plan, out / "defaults" / "run", epochs=args.epochs,
                           settings=settings)
        rows.append(result_row("defaults", "COMPLETED", default_hp.values, metrics))
    try:
        tuner.search()
    except RuntimeError as e:  # KerasTuner gives up after consecutive failed trials
        if not str(e).startswith("Number of consecutive failures"):
            raise
        last = [line for line in str(e).splitlines() if line.strip()][-1]
        raise TfavError(f"{out}: trials keep failing (see trial_*/trial.json); "
                        f"the last: {last}") from e
    if is_distributed and not is_chief:
        print(f"[tfav] worker {os.environ['KERASTUNER_TUNER_ID']}: no trials left")
        return 0
    space = [hp.name for hp in oracle.get_space().space if not hp.name.startswith("tuner/")]
    report(out, task, settings, rows + trial_rows(tuner.oracle), space)
    return 0


if __name__ == "__main__":
    sys.exit(main())
