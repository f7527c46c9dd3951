"""Chen et al. Table 5 and sec. 5.4 on one dataset: S2I-C, S2I-N, S2I-A and I2S.

Trains each variant at its task's default schedule (``tfav.tasks``; ``--epochs``
and ``--steps-per-epoch`` shorten it) with the same seeds, and evaluates it with
the protocol of ``python -m tfav.evaluate`` (last epoch, ``--n`` sounds per
split): the verifier's accuracy on images generated from train and validation
sounds, its lowest class, and the measures nothing trains on: judge FID beside
real-vs-real, spectrum gap beside the real halves', noise spread; for I2S the
sound classifier's accuracy on generated spectrograms and the Frechet distance on
its features beside real-vs-real. The paper's ordering (S2I-C > S2I-N, S2I-A) is
checked per seed.

    python experiments/chen_table5.py [--tasks s2i_instrument s2i_noneg s2i_ae i2s]
        [--seeds 0] [--epochs N] [--steps-per-epoch N] [--n 256]

Writes ``experiments/results/chen_table5.{json,md}`` and each S2I run's last
sample grid (``results/chen_table5_<task>_s<seed>.png``: per row a validation
sound, the real frame, four noise draws); runs stay under
``runs/table5/<task>-s<seed>`` (an existing finished run there is evaluated, not
retrained).
"""

import argparse
import io
import json
from pathlib import Path

from PIL import Image
from results_io import RESULTS, write_results

from tfav.files import atomic_write_bytes
from tfav.training import evaluate_run, train

PAPER = {"s2i_instrument": (87.37, 75.56), "s2i_noneg": (12.62, 12.32),
         "s2i_ae": (10.63, 10.95), "i2s": (None, 11.17)}  # fmt: skip
NAMES = {"s2i_instrument": "S2I-C", "s2i_noneg": "S2I-N", "s2i_ae": "S2I-A", "i2s": "I2S"}
KEEP = ("acc_train", "acc_val", "judge_fid", "judge_fid_real", "judge_kid", "spectrum_gap_db",
        "real_halves_spectrum_gap_db", "noise_spread", "noise_spread_judge", "tv_ratio",
        "inception_score", "sound_fid", "sound_fid_real", "real_lms_accuracy")


def lowest_class(metrics):
    per_class = {k[len("acc_val_"):]: v for k, v in metrics.items() if k.startswith("acc_val_")}
    if not per_class:
        return None
    name = min(per_class, key=per_class.get)
    return name, per_class[name]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="pair folder (default: the embedded dataset)")
    p.add_argument("--epochs", type=int, help="default: each task's own")
    p.add_argument("--steps-per-epoch", type=int, help="default: the whole training split")
    p.add_argument("--tasks", nargs="+", default=list(PAPER))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--n", type=int, default=256, help="sounds (or images) per split")
    p.add_argument("--out", default="runs/table5")
    args = p.parse_args()
    results_file = RESULTS / "chen_table5.json"
    old = json.loads(results_file.read_text()) if results_file.exists() else {}
    rows = old.get("rows", {})
    for name in args.tasks:
        for seed in args.seeds:
            run = train(name, data=args.data, epochs=args.epochs, seed=seed,
                        steps_per_epoch=args.steps_per_epoch,
                        out=Path(args.out) / f"{name}-s{seed}",
                        resume=(Path(args.out) / f"{name}-s{seed}" / "config.json").exists())
            metrics = evaluate_run(run, n=args.n)
            config = json.loads((run / "config.json").read_text())
            row = {k: metrics[k] for k in KEEP if k in metrics}
            row.update(task=name, seed=seed, epochs=config["epochs"],
                       batch_size=config["batch_size"], precision=config.get("precision"),
                       steps_per_epoch=args.steps_per_epoch, run_dir=str(run),
                       lowest_class=lowest_class(metrics))
            rows[f"{name}-s{seed}"] = row
            if name != "i2s":
                # 256 colours: a third of the bytes, no difference to the eye.
                grid = Image.open(run / "samples" / "latest.png").convert("RGB").quantize(256)
                buf = io.BytesIO()
                grid.save(buf, format="PNG", optimize=True)
                atomic_write_bytes(RESULTS / f"chen_table5_{name}_s{seed}.png", buf.getvalue())
            write_results("chen_table5", {"rows": rows, "n": args.n}, markdown)


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v, fmt=".1f"):
    return "-" if v is None else format(v, fmt)


def markdown(result):
    rows = result["rows"]
    lines = [
        "# Chen et al. Table 5 / sec. 5.4 on the embedded dataset",
        "",
        f"{result['machine']}, {result['date_utc']} UTC. Each model at its task's default "
        "schedule (epochs x batch in the table; the whole training split per epoch unless a "
        "step cap is shown), last epoch, evaluated as `python -m tfav.evaluate` does on "
        f"{result['n']} sounds per split. Accuracy: the verifier (image classifier) on "
        "generated images, or the sound classifier on generated spectrograms (I2S); the "
        "paper's numbers are on Sub-URMP, so the ordering compares, not the values. Judge FID: "
        "a residual image network that nothing trains on, beside train-vs-validation real "
        "frames; spectrum gap: radial power spectrum, mean abs dB to real frames, beside the "
        "two real halves'; noise spread: pixel L1 between four noise draws of one sound over "
        "that between real frames of the instrument (1 for real recordings).",
        "",
        "| model | seed | acc. train / validation sounds | paper (train / test) | lowest class "
        "(validation) | judge FID (real-vs-real) | spectrum gap dB (real halves) "
        "| noise spread | schedule |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows.values():
        if "task" not in m:
            continue
        paper = " / ".join("-" if v is None else f"{v:.2f}%" for v in PAPER[m["task"]])
        low = m.get("lowest_class")
        low = f"{low[0]} {_pct(low[1])}" if low else "-"
        if m["task"] == "i2s":
            fid = (f"sound FID {_num(m.get('sound_fid'))} ({_num(m.get('sound_fid_real'))})")
        else:
            fid = f"{_num(m.get('judge_fid'))} ({_num(m.get('judge_fid_real'))})"
        gap = (f"{_num(m.get('spectrum_gap_db'), '.2f')} "
               f"({_num(m.get('real_halves_spectrum_gap_db'), '.2f')})")
        cap = f", {m['steps_per_epoch']} steps/epoch" if m.get("steps_per_epoch") else ""
        lines.append(
            f"| {NAMES[m['task']]} | {m['seed']} | {_pct(m.get('acc_train'))} / "
            f"{_pct(m.get('acc_val'))} | {paper} | {low} | {fid} | {gap} | "
            f"{_num(m.get('noise_spread'), '.2f')} | {m['epochs']} x {m['batch_size']}{cap} |")
    lines += ["", "Paper's ordering (S2I-C above S2I-N and S2I-A on validation sounds), per seed:"]
    seeds = sorted({m["seed"] for m in rows.values() if "seed" in m})
    for seed in seeds:
        acc = {m["task"]: m.get("acc_val") for m in rows.values() if m.get("seed") == seed}
        if {"s2i_instrument", "s2i_noneg", "s2i_ae"} <= acc.keys():
            holds = acc["s2i_instrument"] > max(acc["s2i_noneg"], acc["s2i_ae"])
            order = " > ".join(NAMES[t] for t in sorted(
                ("s2i_instrument", "s2i_noneg", "s2i_ae"), key=lambda t: -acc[t]))
            lines.append(f"- seed {seed}: {order} ({'holds' if holds else 'does not hold'})")
    grids = [f"![{NAMES[m['task']]} seed {m['seed']}](chen_table5_{m['task']}_s{m['seed']}.png)"
             for m in rows.values() if m.get("task", "i2s") != "i2s"]
    if grids:
        lines += ["", "Last-epoch grids (per row a validation sound, the real frame, four noise "
                  "draws):", ""] + grids
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
