"""Wan et al. 2019, Table 4: the ablation of the audio-to-scene GAN on our data.

Rows (b)-(g) train ``python -m tfav.train --task a2i_scene --ablation ROW`` one
after the other (improved WGAN, conditional GAN, + spectral norm, + hinge loss,
+ projection discriminator, + auxiliary classifier) and score each with
``tfav.evaluate``: the Inception-style score of 10 splits under our verifier
(the paper uses Inception v3 on its 9 scene classes; ours has 13 instrument
classes, so the maximum is 13), next to the verifier's accuracy on the
generated images, the Frechet distance on verifier features and the
diversity ratio. Row (a) is the score of real validation images.

    python experiments/wan_ablation.py --quick        # ~30 min on a 2-core CPU
    python experiments/wan_ablation.py                # the task's full schedule

``--quick`` trains every row for 3 epochs of 50 batches of 64 (150
discriminator and 750 generator steps); the full mode uses all batches for
the task's default epochs. Runs go to ``--runs`` (default
``runs/wan_ablation[-quick]``; re-running resumes and reuses finished rows).
Writes ``experiments/results/wan_ablation.{json,md}``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from results_io import write_results  # experiments/results_io.py

import tfav  # noqa: F401
from tfav import metrics, tasks
from tfav.data.layout import index_pairs
from tfav.objectives.scene_gan import ABLATIONS, TABLE4_ROWS, SceneHyper
from tfav.probe import Probe
from tfav.training import dependency, evaluate_run, train

#: Wan et al. 2019 Table 4 (Inception score, mean +- std over 10 splits).
PAPER = {"upper_bound": (4.44, 1.91), "wgan_gp": (1.42, 0.13), "cgan": (2.21, 0.38),
         "sn": (2.45, 0.48), "hinge": (2.49, 0.51), "projection": (2.61, 0.41),
         "ac": (2.83, 0.53)}
LABELS = {"upper_bound": "(a) Upper bound (real images)", "wgan_gp": "(b) Improved WGAN",
          "cgan": "(c) Conditional GAN", "sn": "(d) + Spectral Norm", "hinge": "(e) + Hinge Loss",
          "projection": "(f) + Projection Discriminator", "ac": "(g) + Auxiliary Classifier"}


def upper_bound(data, index, n, seed, log):
    """Row (a): the score of real validation images under the verifier."""
    task = tasks.get_task("a2i_scene")
    probe = Probe.from_index(task, index, n=n, seed=seed)
    verifier = dependency("image_encoder", data, index, log=log)
    logits = verifier.predict(probe.data["validation"]["image"], verbose=0)
    score, std = metrics.inception_score(logits, splits=10, from_logits=True)
    acc = metrics.classification_accuracy(logits, probe.data["validation"]["label"])
    return {"inception_score": score, "inception_score_std": std, "acc_val": acc}


def ordering(rows):
    """Which of the paper's step-by-step improvements (b < c < ... < g) hold here."""
    names = [n for n in ABLATIONS if n in rows]
    steps = []
    for a, b in zip(names, names[1:], strict=False):
        sa, sb = rows[a]["inception_score"], rows[b]["inception_score"]
        steps.append({"from": a, "to": b, "paper": PAPER[b][0] - PAPER[a][0], "ours": sb - sa,
                      "holds": bool(sb > sa)})
    return steps


def markdown(result):
    rows = result["rows"]
    lines = [
        "# Wan et al. 2019, Table 4 ablation on the embedded dataset",
        "",
        f"Mode: **{result['mode']}** ({result['schedule']}); sound vector: "
        f"{result['sound_vector']}; z: {result['z_dim']}-d; generator steps per "
        f"discriminator step: {result['g_per_d']}; batch {result['batch_size']}.",
        "Generator: tfav's defaults (resize-convolution, samples from a 0.999 moving "
        "average of its weights; the paper's deconvolutions and raw weights are "
        "`--upsampling deconv --generator-average 0`).",
        f"Scored on {result['n']} validation conditions with our verifier (13 classes; "
        "the paper's Inception v3 scores 9 scene classes), so only the ordering compares.",
        f"Machine: {result['machine']}; load average at start {result['load_start']}, "
        f"at end {result['load_end']}; wall time {result['seconds'] / 60:.1f} min.",
        "",
        "| model | IS (paper) | IS (ours) | verifier acc. | FD | diversity ratio | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ["upper_bound", *ABLATIONS]:
        if name not in rows:
            continue
        r, p = rows[name], PAPER[name]
        fd, div = (f"{r[k]:.3f}" if k in r else "-" for k in ("frechet_distance",
                                                                "diversity_ratio"))
        lines.append(
            f"| {LABELS[name]} | {p[0]:.2f} ± {p[1]:.2f} | "
            f"{r['inception_score']:.2f} ± {r['inception_score_std']:.2f} | "
            f"{100 * r['acc_val']:.1f}% | {fd} | {div} | {r.get('train_seconds', '-')} |"
        )
    lines += ["", "Step-by-step ordering (paper: every step improves the score):", ""]
    for s in result["ordering"]:
        mark = "holds" if s["holds"] else "does not hold"
        lines.append(f"- {LABELS[s['to']]} vs ({TABLE4_ROWS[s['from']]}): paper {s['paper']:+.2f}, "
                     f"ours {s['ours']:+.2f} -> {mark}")
    held = sum(s["holds"] for s in result["ordering"])
    lines += ["", f"{held} of {len(result['ordering'])} steps hold on our data."]
    chance = 1 / len(result.get("categories", [])) if result.get("categories") else None
    best = max((rows[n]["acc_val"] for n in ABLATIONS if n in rows), default=0.0)
    if chance and best < 2 * chance:
        lines += ["", f"Caution: no row's generated images reach twice chance accuracy "
                  f"({100 * chance:.1f}%) under the verifier, so the generators have not yet "
                  "learned to draw the sounding instrument and the score differences above "
                  "measure the verifier's confidence on unrecognisable images, not the "
                  "paper's effects; a longer schedule (without --quick) is needed."]
    bound = rows.get("upper_bound", {}).get("inception_score")
    above = [LABELS[n] for n in ABLATIONS if n in rows and bound
             and rows[n]["inception_score"] > bound]
    if above:
        lines += ["", f"Rows scoring above real images ({', '.join(above)}): the verifier is "
                  "more confident on those samples than on real photos of the instruments, "
                  "another sign that this score does not track quality at this stage."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 epochs x 50 batches per row")
    p.add_argument("--data", help="pair folder (default: the embedded dataset)")
    p.add_argument("--features", default="fbank",
                   choices=("spectrogram", "fbank", "mfcc", "soundnet"))
    p.add_argument("--rows", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    p.add_argument("--runs", help="folder of the row runs")
    p.add_argument("--n", type=int, default=512, help="validation conditions scored")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from tqdm import tqdm

    if args.data is None:
        from tfav.data.synth import default_dataset

        args.data = default_dataset()
    index = index_pairs(args.data)
    task = tasks.get_task("a2i_scene")
    epochs, steps = (3, 50) if args.quick else (task.epochs, None)
    runs = Path(args.runs or ("runs/wan_ablation" + ("-quick" if args.quick else "")))
    z_dim, g_per_d = 10, 5  # sec. 5: 256 + 10 inputs, five generator steps per D step
    start, load_start = time.time(), [round(x, 2) for x in os.getloadavg()]
    quiet = lambda *a: None  # noqa: E731
    rows = {"upper_bound": upper_bound(args.data, index, args.n, args.seed, quiet)}
    sound_vector = None
    for name in tqdm(args.rows, desc="Table 4 rows", unit="row"):
        t0 = time.time()
        run = train("a2i_scene", data=args.data, epochs=epochs, steps_per_epoch=steps,
                    out=runs / name, resume=True, seed=args.seed, verbose=0,
                    hyper=SceneHyper(z_dim=z_dim, ablation=name, features=args.features,
                                     g_per_d=g_per_d))
        trained = round(time.time() - t0, 1)
        m = evaluate_run(run, n=args.n, seed=args.seed, log=quiet)
        summary = json.loads((run / "summary.json").read_text())
        sound_vector = summary.get("sound_vector", sound_vector)
        rows[name] = {**{k: v for k, v in m.items() if isinstance(v, float)},
                      "train_seconds": trained, "run": str(run)}
        tqdm.write(f"{LABELS[name]}: IS {m['inception_score']:.3f} ± "
                   f"{m['inception_score_std']:.3f}, verifier acc {m['acc_val']:.3f}")
    result = {
        "mode": "quick" if args.quick else "full", "data": str(args.data),
        "schedule": f"{epochs} epochs x {steps or 'all'} batches per row",
        "sound_vector": sound_vector, "z_dim": z_dim, "g_per_d": g_per_d,
        "batch_size": task.batch_size, "n": args.n, "rows": rows, "paper": PAPER,
        "categories": list(index.categories),
        "ordering": ordering(rows), "seconds": round(time.time() - start, 1),
        "load_start": load_start, "load_end": [round(x, 2) for x in os.getloadavg()],
    }
    write_results("wan_ablation", result, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
