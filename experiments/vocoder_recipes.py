"""The vocoder's magnitude prior against magnitudes from scratch, same budget, two seeds.

Each variant trains the ``vocoder`` task for ``--epochs`` epochs (2 by default, 874
steps of 16 clips each) with seeds 0 and 1 and is read at that epoch on the
validation clips (``state.json``): spectral convergence (averaged over the three
STFT resolutions of the loss), log-mel L1 in dB and the loss. Griffin-Lim (64
iterations) on 32 validation clips is the reference row.

    python experiments/vocoder_recipes.py [--epochs 2] [--out runs/vocoder_recipes]

A run folder that already holds the epochs (e.g. a longer run of the same variant
and seed) is read, not retrained. Writes ``experiments/results/vocoder_recipes.{json,md}``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from results_io import write_results

from tfav import audio, tasks
from tfav.data.pipeline import load_arrays, open_index
from tfav.data.synth import default_dataset
from tfav.objectives.losses import multi_resolution_stft_loss
from tfav.objectives.vocoder import log_mel_db
from tfav.training import train

#: name -> (hyperparameters, what it tests)
VARIANTS = {
    "prior": ({"magnitude_prior": True}, "magnitudes as a correction of the mel pseudo-inverse's "
              "(default)"),
    "scratch": ({"magnitude_prior": False}, "magnitudes from scratch"),
}


def griffin_lim_reference(n=32, iterations=64):
    """Spectral convergence and log-mel dB of Griffin-Lim on ``n`` validation clips."""
    index = open_index(default_dataset())
    total = index.count("validation")
    arrays = load_arrays(index, "validation", positions=np.linspace(0, total - 1, n).astype(int))
    lms, target = tasks.vocoder_pair(arrays["waveform"])
    wave = audio.griffin_lim_from_log_mel(audio.denormalize_log_mel(lms), n_iter=iterations)
    convergence = [float(multi_resolution_stft_loss(target[i:i + 1], wave[i:i + 1])[0])
                   for i in range(n)]
    return {"val_convergence": float(np.mean(convergence)),
            "val_log_mel_db": float(log_mel_db(target, wave))}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--out", default="runs/vocoder_recipes")
    args = p.parse_args()
    rows = []
    for name, (hyper, what) in VARIANTS.items():
        for seed in (0, 1):
            run = Path(args.out) / f"{name}_s{seed}"
            state = run / "state.json"
            done = json.loads(state.read_text())["epoch"] if state.exists() else 0
            if done < args.epochs:
                train("vocoder", seed=seed, epochs=args.epochs, hyper=hyper, out=run,
                      resume=state.exists(), verbose=2)
            history = json.loads(state.read_text())["history"]
            row = history[args.epochs - 1]
            rows.append({"variant": name, "what": what, "seed": seed,
                         **{k: row[k] for k in ("val_convergence", "val_log_mel_db", "val_loss")}})
    reference = griffin_lim_reference()
    result = {"epochs": args.epochs, "rows": rows, "griffin_lim_64": reference}

    def markdown(r):
        lines = ["# Vocoder: magnitude prior or from scratch", "",
                 f"Epoch {r['epochs']} (874 steps of 16 clips each), validation clips of the "
                 "embedded dataset; seeds 0 / 1.", "",
                 "| variant | what | spectral convergence | log-mel L1 (dB) | loss |",
                 "|---|---|---|---|---|"]
        for name, (_, what) in VARIANTS.items():
            mine = [row for row in r["rows"] if row["variant"] == name]
            cells = [" / ".join(f"{row[k]:.3f}" for row in mine)
                     for k in ("val_convergence", "val_log_mel_db", "val_loss")]
            lines.append(f"| {name} | {what} | " + " | ".join(cells) + " |")
        g = r["griffin_lim_64"]
        lines += [f"| Griffin-Lim, 64 iterations | 32 clips | {g['val_convergence']:.3f} | "
                  f"{g['val_log_mel_db']:.3f} | - |", "",
                  f"Machine: {r['machine']}, {r['date_utc']} UTC.", ""]
        return "\n".join(lines)

    write_results("vocoder_recipes", result, markdown)


if __name__ == "__main__":
    main()
