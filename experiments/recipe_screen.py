"""A short screen of candidate recipes for the main command's model (s2i_pose, violin).

Each variant trains the pose-oriented S2I GAN for the same number of epochs (20 of
batch 32 by default, half the task's schedule) with seed 0, and is read at that
epoch from the per-epoch probe (``state.json``, validation sounds): the verifier's
accuracy, the pose error, and the realism measures nothing trains on (spectrum gap,
TV ratio, noise spread), with the discriminator's mean scores on real and generated
pairs to show who is winning. The variants that look better here are then compared
at the full schedule with two seeds by ``experiments/pose_recipes.py``.

    python experiments/recipe_screen.py [--variants default r1 ...] [--epochs 20]

A run folder that already holds the epochs (e.g. a 40-epoch run of the same variant
and seed, whose first 20 epochs are the same training) is read, not retrained.
Writes ``experiments/results/recipe_screen.{json,md}`` and the grid of each variant
at that epoch (``results/recipe_screen_<variant>.png``).
"""

import argparse
import json
import shutil
import time
from pathlib import Path

from results_io import RESULTS, machine, write_results

from tfav.training import train

#: name -> (objective, hyperparameters, what it tests)
VARIANTS = {
    "default": ("gan_cls", {}, "the task's default (resize-conv G, averaged G, no D regulariser)"),
    "sn_augment": ("gan_cls", {"spectral_norm": True, "augment": "color,translation,cutout"},
                   "spectral norm in D + DiffAugment (Zhao et al. 2020)"),
    "augment": ("gan_cls", {"augment": "color,translation,cutout"}, "DiffAugment alone"),
    "augment_ms_r1": ("gan_cls", {"augment": "color,translation,cutout",
                                  "mode_seeking_weight": 1.0, "r1_weight": 1.0},
                      "DiffAugment + mode seeking (Mao et al. 2019) + R1"),
    "r1": ("gan_cls", {"r1_weight": 1.0},
           "R1 penalty on real pairs, gamma 1 (Mescheder et al. 2018)"),
    "slow_d": ("gan_cls", {"d_learning_rate": 5e-5}, "D's learning rate a quarter of G's"),
    "g_steps_2": ("gan_cls", {"g_steps": 2}, "two G steps per D step"),
    "sn_ttur": ("gan_cls", {"spectral_norm": True, "learning_rate": 1e-4, "d_learning_rate": 4e-4,
                            "g_steps": 1},
                "spectral norm in D (no batch norm), TTUR: D 4e-4, G 1e-4 (Zhang et al. 2019)"),
    "sn_g2": ("gan_cls", {"spectral_norm": True, "g_steps": 2},
              "spectral norm in D (no batch norm in D), two G steps"),
    "sn_g2_ms": ("gan_cls", {"spectral_norm": True, "g_steps": 2, "mode_seeking_weight": 1.0},
                 "spectral norm in D, two G steps, mode seeking 1 (Mao et al. 2019)"),
    "sn_g2_ms_quarter": ("gan_cls", {"spectral_norm": True, "g_steps": 2,
                                     "mode_seeking_weight": 0.25},
                         "spectral norm in D, two G steps, mode seeking 0.25"),
    # Measured later, with two G steps as the task's default by then.
    "default_g2": ("gan_cls", {"g_steps": 2}, "the default since: two G steps per D step"),
    "d_blur": ("gan_cls", {"g_steps": 2, "augment": "blur"},
               "two G steps, D sees every image blurred (Gaussian, 1 px; after StyleGAN3)"),
    "bilinear": ("gan_cls", {"g_steps": 2, "upsampling": "bilinear"},
                 "two G steps, bilinear instead of nearest upsampling in G"),
    "paired_rw100": ("paired_gan", {"g_steps": 2, "reconstruction_weight": 100.0},
                     "two G steps, paired reconstruction at pix2pix's L1 weight 100"),
    "paired_rw100_kl": ("paired_gan", {"g_steps": 2, "reconstruction_weight": 100.0,
                                       "kl_weight": 0.1},
                        "the same with KL weight 0.1 (codes closer to the prior)"),
    "paired_rw30": ("paired_gan", {"g_steps": 2, "reconstruction_weight": 30.0},
                    "two G steps, paired reconstruction at L1 weight 30"),
    "paired_rw30_blur": ("paired_gan", {"g_steps": 2, "reconstruction_weight": 30.0,
                                        "augment": "blur"},
                         "the same, D sees every image blurred (1 px)"),
}

KEYS = ("acc_val", "pose_err", "spectrum_gap_db", "tv_ratio", "noise_spread", "real_score",
        "fake_score")


def markdown(result):
    lines = ["# Recipe screen: s2i_pose (violin)", "",
             f"Seed 0, epoch {result['epochs']} of batch 32, per-epoch probe on 256 validation "
             "sounds (real frames: spectrum gap 0.1-1 dB between halves, TV ratio 1, noise "
             "spread >= 0.5 wanted). The rows above `default_g2` were measured when one G "
             "step per D step was the task's default (`default` is that one-step run).", "",
             "| variant | what | precision | " + " | ".join(KEYS) + " |",
             "|---|---|---|" + "---|" * len(KEYS)]
    for row in result["rows"]:
        cells = [f"{row[k]:.3f}" if isinstance(row.get(k), float) else "-" for k in KEYS]
        lines.append(f"| {row['variant']} | {row['what']} | {row.get('precision', 'float32')} | "
                     + " | ".join(cells) + " |")
    stamps = sorted({(r.get("machine", "2 CPUs, x86_64, no AMX"), r.get("date_utc", "2026-12-02"))
                     for r in result["rows"]})
    lines += ["", "Rows measured on: " + "; ".join(f"{m} ({d})" for m, d in stamps)
              + f". Written {result['date_utc']} UTC.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--out", default="runs/recipe_screen")
    args = p.parse_args()
    previous = RESULTS / "recipe_screen.json"
    rows = json.loads(previous.read_text())["rows"] if previous.exists() else []
    for name in args.variants:
        recipe, hyper, what = VARIANTS[name]
        run = Path(args.out) / name
        state = run / "state.json"
        done = json.loads(state.read_text())["epoch"] if state.exists() else 0
        if done < args.epochs:
            train("s2i_pose", instrument="violin", seed=0, epochs=args.epochs, recipe=recipe,
                  hyper=hyper, out=run, resume=state.exists(), verbose=2)
        history = json.loads(state.read_text())["history"]
        row = next(h for h in history if h["epoch"] == args.epochs)
        grid = run / "samples" / f"epoch_{args.epochs:03d}.png"
        if grid.exists():
            shutil.copy(grid, RESULTS / f"recipe_screen_{name}.png")
        summary = json.loads((run / "summary.json").read_text())
        rows = [r for r in rows if r["variant"] != name]
        rows.append({"variant": name, "what": what, "precision": summary.get("precision"),
                     "machine": machine(),
                     "date_utc": time.strftime("%Y-%m-%d", time.gmtime()),
                     **{k: row.get(k) for k in KEYS}})
    write_results("recipe_screen", {"epochs": args.epochs, "rows": rows}, markdown)


if __name__ == "__main__":
    main()
