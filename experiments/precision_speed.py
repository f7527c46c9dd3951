"""The README's main model (s2i_pose, violin, the task's defaults) trained in float32 and in
mixed bfloat16, and optionally by an earlier checkout of tfav, with two seeds: the GAN
part's time (``summary.json`` ``seconds``: the epochs and their per-epoch probe) and the
probe's numbers at the last epoch, which nothing trains on.

The variants take turns (seed 0: each variant, then seed 1: each variant), so that load
from other processes falls on all of them alike; the encoders and evaluators are
trained once, before the first run, and shared through the model cache.

    python experiments/precision_speed.py [--seeds 0 1] [--before-tree PATH] [--out runs/precision]

``--before-tree`` is a checkout of an earlier tfav (e.g. ``git worktree add /tmp/old
<commit>``), trained with its own defaults through ``PYTHONPATH``. A run folder that
already holds a finished run of a variant and seed is read, not retrained. Writes
``experiments/results/precision_speed.{json,md}``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from results_io import write_results

KEYS = ("acc_val", "pose_err", "spectrum_gap_db", "tv_ratio", "noise_spread")


def train_variant(name, tree, precision, seed, out):
    """Train one variant with ``python -m tfav.train`` in a subprocess (its own
    ``PYTHONPATH`` for ``--before-tree``); returns its summary."""
    summary = out / "summary.json"
    if not summary.exists():
        command = [sys.executable, "-m", "tfav.train", "--task", "s2i_pose", "--instrument",
                   "violin", "--seed", str(seed), "--out", str(out)]
        if precision:
            command += ["--precision", precision]
        if out.exists() and (out / "state.json").exists():
            command.append("--resume")
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        if tree:
            env["PYTHONPATH"] = str(tree)
        log = out.with_suffix(".log")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            subprocess.run(command, check=True, env=env, stdout=f, stderr=subprocess.STDOUT,
                           cwd=tree or None)
        print(f"{name} seed {seed}: {log}")
    return json.loads(summary.read_text())


def markdown(result):
    lines = ["# Training precision and speed: s2i_pose (violin), the task's defaults", "",
             f"{result['cpu']}; seeds {', '.join(map(str, result['seeds']))}, variants in "
             "turns. GAN seconds: the 20 epochs with their per-epoch probe (summary.json). "
             "Probe numbers at the last epoch, on 256 validation sounds.", "",
             "| variant | seed | GAN s | " + " | ".join(KEYS) + " |",
             "|---|---|---|" + "---|" * len(KEYS)]
    for row in result["rows"]:
        cells = [f"{row[k]:.3f}" if isinstance(row.get(k), float) else "-" for k in KEYS]
        lines.append(f"| {row['variant']} | {row['seed']} | {row['seconds']:.0f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "| variant | median GAN s | speed-up over " + result["reference"] + " |",
              "|---|---|---|"]
    for name, s in result["speed"].items():
        lines.append(f"| {name} | {s['median_seconds']:.0f} | {s['speedup']:.2f}x |")
    lines += ["", f"Machine: {result['machine']}, {result['date_utc']} UTC.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--before-tree", help="an earlier tfav checkout to time with its defaults")
    p.add_argument("--out", default="runs/precision")
    args = p.parse_args()
    from tfav.precision import describe_cpu

    variants = {"float32": (None, "float32"), "mixed_bfloat16": (None, "mixed_bfloat16")}
    if args.before_tree:
        variants = {"before": (Path(args.before_tree).resolve(), None), **variants}
    rows = []
    for seed in args.seeds:
        for name, (tree, precision) in variants.items():
            summary = train_variant(name, tree, precision, seed,
                                    Path(args.out).resolve() / f"{name}-s{seed}")
            final = summary["final"]
            rows.append({"variant": name, "seed": seed, "seconds": summary["seconds"],
                         **{k: final.get(k) for k in KEYS}})
    reference = "before" if args.before_tree else "float32"
    medians = {name: statistics.median(r["seconds"] for r in rows if r["variant"] == name)
               for name in variants}
    speed = {name: {"median_seconds": m, "speedup": medians[reference] / m}
             for name, m in medians.items()}
    write_results("precision_speed", {"cpu": describe_cpu(), "seeds": args.seeds,
                                      "rows": rows, "reference": reference, "speed": speed},
                  markdown)


if __name__ == "__main__":
    main()
