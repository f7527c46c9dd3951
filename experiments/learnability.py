"""Is the embedded dataset learnable the way the papers need it?

Measured on the validation split (recordings never seen in training):

* verifier accuracy: the image classifier of Chen Fig. 5 (paper: > 95%);
* sound classifier accuracy on LMS, Chen Fig. 4 (paper: 87.44% on Sub-URMP);
* pose from images, per instrument: error of the pose regressor against the
  per-instrument spread (std) and chance (a random other pose);
* pose from sound alone, per instrument: what pose-oriented S2I can learn.

Models are trained once into the tfav cache (or reused from it).

    python experiments/learnability.py [--data PATH] [--instruments violin cello ...]

Writes ``experiments/results/learnability.{json,md}``.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import tfav  # noqa: F401
from tfav import metrics, tasks
from tfav.data.layout import index_pairs
from tfav.data.pipeline import load_arrays
from tfav.training import dependency

RESULTS = Path(__file__).parent / "results"


def predict(model, x):
    return model.predict(x, batch_size=256, verbose=0)


def lms_of(waveforms, batch=256):
    return np.concatenate(
        [tasks.log_mel(waveforms[i : i + batch]).numpy() for i in range(0, len(waveforms), batch)]
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="pair folder (default: the embedded dataset)")
    p.add_argument("--instruments", nargs="+", default=["violin", "cello", "flute", "trombone"])
    args = p.parse_args()
    if args.data is None:
        from tfav.data.synth import default_dataset

        args.data = default_dataset()
    index = index_pairs(args.data)
    val = load_arrays(index, "validation")
    val_lms = lms_of(val["waveform"])
    out = {"data": str(args.data), "validation_pairs": len(val["label"])}

    image_clf = dependency("image_encoder", args.data, index)
    out["verifier_accuracy"] = metrics.classification_accuracy(predict(image_clf, val["image"]),
                                                               val["label"])
    sound_clf = dependency("sound_encoder", args.data, index)
    out["sound_classifier_accuracy"] = metrics.classification_accuracy(
        predict(sound_clf, val_lms), val["label"]
    )
    out["pose"] = {}
    for name in args.instruments:
        label = index.categories.index(name)
        mask = val["label"] == label
        target = val["pose"][mask]
        from_image = dependency("pose_regressor", args.data, index, instrument=name)
        from_sound = dependency("pose_from_sound", args.data, index, instrument=name)
        img_err = metrics.pose_error(predict(from_image, val["image"][mask]), target)
        snd_err = metrics.pose_error(predict(from_sound, val_lms[mask]), target)
        chance = metrics.chance_pose_error(target)
        out["pose"][name] = {
            "spread_std": target.std(axis=0).tolist(),
            "chance": chance.per_dimension.tolist(),
            "from_image": img_err.per_dimension.tolist(),
            "from_sound": snd_err.per_dimension.tolist(),
            "overall": {"chance": chance.overall, "from_image": img_err.overall,
                        "from_sound": snd_err.overall},
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "learnability.json").write_text(json.dumps(out, indent=1))
    lines = [
        "# Learnability of the embedded dataset (validation split)",
        "",
        f"- verifier (image classifier) accuracy: **{out['verifier_accuracy']:.2%}** "
        "(paper: > 95%)",
        f"- sound classifier accuracy (LMS): **{out['sound_classifier_accuracy']:.2%}** "
        "(paper: 87.44%)",
        "",
        "Pose error (mean absolute, pose in [0, 1]) per dimension hand / bow / dynamics:",
        "",
        "| instrument | spread (std) | chance | from image | from sound |",
        "|---|---|---|---|---|",
    ]
    for name, r in out["pose"].items():
        def fmt(v):
            return " / ".join(f"{x:.3f}" for x in v)

        lines.append(f"| {name} | {fmt(r['spread_std'])} | {fmt(r['chance'])} | "
                     f"{fmt(r['from_image'])} | {fmt(r['from_sound'])} |")
    (RESULTS / "learnability.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
