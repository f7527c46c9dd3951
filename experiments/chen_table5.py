"""Chen et al. Table 5 and sec. 5.4 on one dataset: S2I-C, S2I-N, S2I-A and I2S.

Trains each variant with the same budget and evaluates it with the same
protocol (``python -m tfav.evaluate``): verifier accuracy of generated images on
train and validation sounds, Inception-style score, Frechet distance,
diversity; for I2S the accuracy of generated spectrograms under the sound
classifier.

    python experiments/chen_table5.py [--data PATH] [--epochs N] [--steps-per-epoch N]
        [--tasks s2i_instrument s2i_noneg s2i_ae i2s]

Writes ``experiments/results/chen_table5.{json,md}`` and keeps the runs under
``runs/table5/``.
"""

import argparse
import json
from pathlib import Path

import tfav  # noqa: F401
from tfav.training import evaluate_run, train

RESULTS = Path(__file__).parent / "results"
PAPER = {"s2i_instrument": (87.37, 75.56), "s2i_noneg": (12.62, 12.32),
         "s2i_ae": (10.63, 10.95), "i2s": (None, 11.17)}  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="pair folder (default: the embedded dataset)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--tasks", nargs="+", default=["s2i_instrument", "s2i_noneg", "s2i_ae", "i2s"])
    p.add_argument("--out", default="runs/table5")
    args = p.parse_args()
    results_file = RESULTS / "chen_table5.json"
    rows = json.loads(results_file.read_text()) if results_file.exists() else {}
    for name in args.tasks:
        run = train(name, data=args.data, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                    out=Path(args.out) / name, resume=True)
        metrics = evaluate_run(run)
        metrics["budget"] = f"{args.epochs} x {args.steps_per_epoch} steps"
        rows[name] = metrics
        RESULTS.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps(rows, indent=1))
    lines = [
        "# Chen et al. Table 5 / sec. 5.4 on the embedded dataset",
        "",
        "Budget per model: epochs x steps of batch 64, in the last column.",
        "Accuracy = verifier (image classifier) on generated images, or sound classifier on",
        "generated spectrograms (I2S); paper numbers are on Sub-URMP.",
        "Generators use tfav's defaults (resize-convolution, generator weight averaging;",
        "`--upsampling deconv --generator-average 0` is the paper's setting).",
        "",
        "| model | acc. train sounds | acc. validation sounds | paper (train / test) "
        "| IS (10 splits) | FID (verifier features) | diversity / real | budget |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        paper = " / ".join("-" if v is None else f"{v:.2f}%" for v in PAPER.get(name, ()))

        def pct(key, m=m):
            return f"{100 * m[key]:.2f}%" if key in m else "-"

        def num(key, m=m):
            return f"{m[key]:.3f}" if key in m else "-"

        lines.append(f"| {name} | {pct('acc_train')} | {pct('acc_val')} | {paper} | "
                     f"{num('inception_score')} | {num('frechet_distance')} | "
                     f"{num('diversity_ratio')} | {m.get('budget', '-')} |")
    (RESULTS / "chen_table5.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
