"""Results of a ``python -m tfav.tune`` search: the table, the summary, the best configuration.

``results.csv`` holds every measurement of every trial (and of the ``defaults``
row, the task's defaults trained with the same budget); ``results.md`` the same
table best first; ``best_config.json`` the best row as a ``python -m
tfav.train --config`` file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

from tfav import objectives
from tfav.files import atomic_write_bytes

#: Measurements of ``evaluate_run`` a search may optimise, with their direction.
OBJECTIVES = {
    "acc_val": "max", "acc_train": "max", "frechet_distance": "min", "inception_score": "max",
    "diversity_ratio": "max", "pose_error": "min", "accuracy": "max", "r_precision@1": "max",
    "r_precision@5": "max", "r_precision@10": "max",
}  # fmt: skip


def result_row(name, status, hp_values: dict, metrics: dict) -> dict:
    hps = {k: v for k, v in hp_values.items() if not k.startswith("tuner/")}
    return {"trial": name, "status": status, **hps, **metrics}


def trial_rows(oracle) -> list[dict]:
    """One row per trial of ``oracle``: status, hyperparameters, measurements."""
    rows = []
    for trial_id, trial in sorted(oracle.trials.items()):
        metrics = {name: trial.metrics.get_last_value(name)
                   for name in trial.metrics.metrics}
        rows.append(result_row(trial_id, str(trial.status), trial.hyperparameters.values, metrics))
    return rows


def ranked(rows, objective, direction):
    """Rows with the objective measured, best first."""
    done = [r for r in rows if isinstance(r.get(objective), float)]
    return sorted(done, key=lambda r: r[objective], reverse=direction == "max")


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-2 else f"{value:.4g}"
    return "" if value is None else str(value)


def write_results(out: Path, rows, columns, title: str) -> None:
    """``results.csv`` (every value) and ``results.md`` (a table under ``title``)."""

    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "results.csv", text.getvalue().encode())
    lines = [title, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    atomic_write_bytes(out / "results.md", ("\n".join(lines) + "\n").encode())


def best_config(task, instrument, row) -> dict:
    """A ``python -m tfav.train --config`` file of one result row."""
    fields = {f.name for f in dataclasses.fields(objectives.for_task(task).hyper)}
    config = {"task": task.name, "batch_size": int(row["batch_size"])}
    if instrument:
        config["instrument"] = instrument
    config.update({k: v for k, v in row.items() if k in fields})
    return config


def report(out, task, settings, rows, space_names, log=print) -> Path | None:
    """Write the results table and the best configuration; print a summary."""

    objective = settings["objective"]
    direction = OBJECTIVES[objective]
    metric_names = sorted({k for r in rows for k in r} - set(space_names)
                          - {"trial", "status", objective, "epochs", "pairs_seen", "seconds"})
    columns = ["trial", "status", objective, *space_names, "epochs", "pairs_seen", "seconds",
               *metric_names]
    order = ranked(rows, objective, direction)
    rest = [r for r in rows if r not in order]
    budget = (f"{settings['epochs']} epochs x "
              f"{settings['steps_per_epoch'] or 'all'} steps per trial")
    title = (f"# Hyperparameter search: {task.name}"
             f"{' (' + settings['instrument'] + ')' if settings['instrument'] else ''}\n\n"
             f"Objective: {objective} ({direction}imise), measured by tfav.evaluate after "
             f"training; tuner {settings['tuner']}; budget {budget}; seed {settings['seed']}.")
    write_results(out, order + rest, columns, title)
    log(f"[tfav] {len(rows)} rows in {out / 'results.csv'} and {out / 'results.md'}")
    for r in order[:10]:
        log(f"  {r['trial']:>8}  {objective} {r[objective]:.4f}  " + "  ".join(
            f"{k}={_fmt(r.get(k))}" for k in space_names))
    if not order:
        log("[tfav] no trial finished; nothing to recommend")
        return None
    best = order[0]
    defaults = next((r for r in rows if r["trial"] == "defaults"), None)
    if defaults is not None and objective in defaults:
        delta = best[objective] - defaults[objective]
        log(f"[tfav] best {objective} {best[objective]:.4f} (row {best['trial']}); "
            f"defaults {defaults[objective]:.4f}; difference {delta:+.4f}")
    path = out / "best_config.json"
    config = best_config(task, settings["instrument"], best)
    atomic_write_bytes(path, (json.dumps(config, indent=1) + "\n").encode())
    log(f"[tfav] best configuration: {path}\n"
        f"[tfav] train it: python -m tfav.train --config {path} --epochs N")
    return path
