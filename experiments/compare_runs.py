"""Tabulate the ``metrics.json`` that ``tfav.evaluate`` wrote in several run folders.

    python experiments/compare_runs.py NAME LABEL=RUN [LABEL=RUN ...]

Writes ``experiments/results/NAME.{json,md}``: one row per run with the verifier,
the pose error beside the sound -> pose regressor's, and the realism measures
nothing trains on (spectrum gap with the real halves' reference, TV ratio, noise
spread, judge FID with the real-vs-real FID, KID), plus each run's epochs,
generator steps and minutes of GAN training.
"""

import json
import sys
from pathlib import Path

from results_io import write_results

KEYS = ("acc_val", "pose_error", "pose_error_sound_regressor", "spectrum_gap_db",
        "real_halves_spectrum_gap_db", "tv_ratio", "noise_spread", "judge_fid",
        "judge_fid_real", "judge_kid")


def markdown(result):
    lines = [f"# {result['name']}", "",
             "`tfav.evaluate RUN --n 256` (last checkpoint) of each run.",
             "", "| run | epochs | g_steps | seed | minutes | " + " | ".join(KEYS) + " |",
             "|---|---|---|---|---|" + "---|" * len(KEYS)]
    for row in result["rows"]:
        cells = [f"{row[k]:.3f}" if isinstance(row.get(k), float) else "-" for k in KEYS]
        lines.append(f"| {row['run']} | {row['epochs']} | {row['g_steps']} | {row['seed']} | "
                     f"{row['minutes']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {result['machine']}, {result['date_utc']} UTC (shared with other "
              "jobs: minutes are not comparable).", ""]
    return "\n".join(lines)


def main():
    name, pairs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    rows = []
    for label, run in pairs:
        run = Path(run)
        metrics = json.loads((run / "metrics.json").read_text())
        summary = json.loads((run / "summary.json").read_text()) if (
            run / "summary.json").exists() else {}
        state = json.loads((run / "state.json").read_text())
        g_steps = (summary.get("hyper") or {}).get("g_steps") or json.loads(
            (run / "config.json").read_text()).get("hyper", {}).get("g_steps")
        rows.append({"run": label, "epochs": state["epoch"], "g_steps": g_steps,
                     "seed": json.loads((run / "config.json").read_text()).get("seed"),
                     "minutes": state.get("seconds", 0.0) / 60,
                     **{k: metrics.get(k) for k in KEYS}})
    write_results(name, {"name": name, "rows": rows}, markdown)


if __name__ == "__main__":
    main()
