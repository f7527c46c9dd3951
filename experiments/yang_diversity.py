"""Yang et al.'s model against Wan et al.'s: accuracy, diversity and R-precision.

Yang et al. (sec. I, Table I) build the two-stage generator for diverse
images; Wan et al.'s one-stage scene GAN is their baseline. Both are trained
here for the same epochs on the same data and sound vector:

* ``a2i_diverse``: G64 -> G128 with the I2A consistency loss (Yang et al. eqs. 1-5);
* ``a2i_scene``: row (g) of Wan et al.'s Table 4 (hinge, spectral norm,
  projection, auxiliary classifier), with one generator step per discriminator
  step so that both models make the same number of updates;
* ``a2i_diverse`` without the consistency loss (``--consistency-weight 0``),
  to see what that loss does to accuracy, diversity and R-precision;
* ``a2i_diverse`` with Mao et al.'s mode-seeking term (``--mode-seeking-weight 1``),
  which is not in Yang et al. and rewards images that change with z.

Each is scored by ``tfav.evaluate`` at its last epoch and at ``best.keras``:
verifier accuracy on validation sounds, Inception-style score, Frechet distance
on verifier features, diversity (mean distance between four images of one
sound, at 64x64, relative to the mean distance between real images of one
class) and, for Yang's model, R-precision@1/5/10 in pools of 100 (Table II).
The per-epoch accuracy curves let diversity be compared at equal accuracy.

    python experiments/yang_diversity.py [--epochs 8] [--data PATH] [--runs DIR]

Re-running resumes unfinished runs and reuses finished ones. Writes
``experiments/results/yang_diversity.{json,md}``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from results_io import write_results  # experiments/results_io.py

import tfav  # noqa: F401
from tfav import tasks
from tfav.objectives.diverse_gan import DiverseHyper
from tfav.objectives.scene_gan import SceneHyper
from tfav.training import evaluate_run, train

#: run name -> (task, label, hyperparameters)
MODELS = {
    "a2i_diverse": ("a2i_diverse", "Yang et al. (two-stage, 128x128)", DiverseHyper()),
    "a2i_scene": ("a2i_scene", "Wan et al. row (g) (one stage, 64x64)", SceneHyper(g_per_d=1)),
    "a2i_diverse-no_consistency": ("a2i_diverse", "Yang et al. without L_con",
                                   DiverseHyper(consistency_weight=0.0)),
    "a2i_diverse-mode_seeking": ("a2i_diverse", "Yang et al. + mode seeking (Mao et al.)",
                                 DiverseHyper(mode_seeking_weight=1.0)),
}
COLUMNS = (("acc_val", "verifier acc.", "{:.1%}"), ("inception_score", "IS", "{:.2f}"),
           ("frechet_distance", "FD", "{:.0f}"), ("diversity_ratio", "diversity ratio",
                                                  "{:.3f}"),
           ("r_precision@1", "R@1", "{:.1%}"), ("r_precision@5", "R@5", "{:.1%}"),
           ("r_precision@10", "R@10", "{:.1%}"))


def markdown(result):
    lines = [
        "# Yang et al. against Wan et al. on the embedded dataset",
        "",
        f"{result['epochs']} epochs of batch {result['batch_size']} each, sound vector "
        f"{result['sound_vector']}, tfav's generator defaults (resize-convolution, "
        "0.999 weight average). Scored on "
        f"{result['n']} validation sounds; diversity is measured at 64x64 relative to "
        "real images of one class.",
        f"Machine: {result['machine']}; wall time {result['seconds'] / 60:.1f} min "
        "(runs reused from an earlier call count as 0).",
        "",
        "| model | training min | checkpoint | " + " | ".join(c[1] for c in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for name, (_, label, _) in MODELS.items():
        for checkpoint, m in result["runs"][name]["metrics"].items():
            cells = [c[2].format(m[c[0]]) if c[0] in m else "-" for c in COLUMNS]
            epoch = m.get("epoch")
            seconds = result["runs"][name]["train_seconds"]  # 0: not recorded (older run)
            minutes = f"{seconds / 60:.0f}" if seconds else "-"
            at = f"{checkpoint} (epoch {epoch})" if epoch else checkpoint
            lines.append(f"| {label} | {minutes} | {at} | " + " | ".join(cells) + " |")
    lines += ["", "Verifier accuracy on validation sounds during training (256 sounds):", "",
              "| epoch | " + " | ".join(MODELS) + " |", "|---|" + "---|" * len(MODELS)]
    curves = {name: {h["epoch"]: h.get("acc_val") for h in result["runs"][name]["history"]}
              for name in MODELS}
    for epoch in sorted(set().union(*curves.values())):
        cells = [f"{curves[n][epoch]:.1%}" if curves[n].get(epoch) is not None else "-"
                 for n in MODELS]
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--data", help="pair folder (default: the embedded dataset)")
    p.add_argument("--runs", default="runs/yang_diversity", help="folder of the three runs")
    p.add_argument("--n", type=int, default=512, help="validation sounds scored")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.data is None:
        from tfav.data.synth import default_dataset

        args.data = default_dataset()
    start = time.time()
    quiet = lambda *a: None  # noqa: E731
    runs, sound_vector = {}, None
    for name, (task, label, hyper) in MODELS.items():
        out = Path(args.runs) / name
        print(f"[yang_diversity] {label}: {out}")
        train(task, data=args.data, epochs=args.epochs, out=out, resume=True, seed=args.seed,
              hyper=hyper)
        summary = json.loads((out / "summary.json").read_text())
        sound_vector = summary.get("sound_vector", sound_vector)
        best_epoch = (summary.get("best") or {}).get("epoch")
        scored = {}
        for checkpoint in ("last", "best"):
            m = evaluate_run(out, n=args.n, seed=args.seed, log=quiet, checkpoint=checkpoint)
            m["epoch"] = summary["epochs_done"] if checkpoint == "last" else best_epoch
            scored[checkpoint] = {k: v for k, v in m.items() if isinstance(v, float | int)}
        runs[name] = {"run": str(out), "metrics": scored, "train_seconds": summary["seconds"],
                      "history": json.loads((out / "state.json").read_text())["history"]}
    result = {
        "epochs": args.epochs, "batch_size": tasks.get_task("a2i_diverse").batch_size,
        "sound_vector": sound_vector, "n": args.n, "runs": runs, "data": str(args.data),
        "seconds": round(time.time() - start, 1),
    }
    write_results("yang_diversity", result, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
