"""``python -m tfav.evaluate RUN``: measure a trained generator (Chen et al. sec. 5).

S2I runs: verifier accuracy of generated images on train and validation
conditions (Table 5), Inception-style score (10 splits), Frechet distance on
the verifier's 128-d features, diversity (distance between images generated
from one sound with different z, relative to real within-class distance), and
for one-instrument runs on data with pose ground truth the pose error of
generated images next to chance. I2S runs: accuracy of generated spectrograms
under the sound classifier (sec. 5.4). Writes ``metrics.json``, prints a table,
and draws accuracy versus epoch (Fig. 9) as ``accuracy_curve.png``.

:class:`Probe` holds the fixed conditions used both here and during training
(sample grids and per-epoch metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import tfav  # noqa: F401
from tfav import metrics, tasks
from tfav.cli import one_line_errors


def _row_name(category, truth):
    midi = truth.get("midi")
    if midi is None:
        return category
    return f"{category} " + ("rest" if midi < 0 else f"midi {midi}")


def _to_size(images, size):
    if images.shape[1] == size:
        return images
    import tensorflow as tf

    return tf.image.resize(images, (size, size), method="area").numpy()


class Probe:
    """Fixed real pairs of a run, encoded once, to generate from and compare against."""

    def __init__(self, task, pairs_by_split, index, image_size=64, grid_rows=8, seed=0):
        from tfav import audio
        from tfav.data.pipeline import read_image

        self.task, self.index, self.seed = task, index, seed
        self.data = {}
        for split, pairs in pairs_by_split.items():
            if not pairs:
                continue
            wave = np.stack([audio.load_audio(p.audio_path, allow_silent=True) for p in pairs])
            wave = audio.chunk_audio(wave.reshape(len(pairs), -1)[:, : audio.CHUNK_SAMPLES])
            lms = tasks.log_mel(wave.reshape(len(pairs), audio.CHUNK_SAMPLES)).numpy()
            self.data[split] = {
                "waveform": wave.reshape(len(pairs), audio.CHUNK_SAMPLES),
                "lms": lms,
                "image": np.stack([read_image(p.image_path, image_size) for p in pairs]),
                "label": np.array([index.label_of(p) for p in pairs]),
                "pose": np.array([index.ground_truth(p).get("pose", [np.nan] * 3) for p in pairs],
                                 dtype=np.float32),
                "name": [_row_name(p.category, index.ground_truth(p)) for p in pairs],
            }
        self.grid_rows = self._grid_rows(grid_rows)
        rng = np.random.default_rng(seed)
        self.z_dim = None
        self._rng_seed = int(rng.integers(1 << 30))
        self._real_distance = None  # within-class distance of the validation images

    @classmethod
    def from_index(cls, task, index, categories=None, n=256, seed=0, image_size=64):
        rng = np.random.default_rng(seed)
        pairs = {}
        for split in ("train", "validation"):
            chosen = [p for p in index.select(split) if not categories or p.category in categories]
            if len(chosen) > n:
                chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), n, replace=False))]
            pairs[split] = chosen
        return cls(task, pairs, index, image_size=image_size, seed=seed)

    def _grid_rows(self, n):
        d = self.data.get("validation") or self.data["train"]
        labels = d["label"]
        # Chunks where a note sounds show more than rests (whose pitch is unknown).
        sounding = np.array([not name.endswith(" rest") for name in d["name"]])
        if len(set(labels.tolist())) > 1:  # one row per category
            rows = []
            for c in sorted(set(labels.tolist())):
                items = np.flatnonzero(labels == c)
                preferred = items[sounding[items]]
                rows.append(int((preferred if len(preferred) else items)[0]))
            return rows[:13]
        if not np.isnan(d["pose"]).any():  # one instrument: rows spread over the pose range
            order = np.argsort(d["pose"][:, 0])
            picks = np.linspace(0, len(order) - 1, min(n, len(order))).astype(int)
            return [int(order[i]) for i in picks]
        return list(range(min(n, len(labels))))

    def _z(self, model, count, offset=0):
        rng = np.random.default_rng(self._rng_seed + offset)
        return rng.standard_normal((count, model.z_dim)).astype(np.float32)

    def condition(self, split):
        d = self.data[split]
        if getattr(self.task, "condition", "lms") == "waveform":  # a2i tasks encode the sound
            return d["waveform"]
        return d["lms"] if self.task.direction == "s2i" else d["image"]

    def generate(self, model, split, samples=1, batch=64, conditions=None):
        """Generated outputs ``[samples, N, ...]`` for the split's conditions (the first
        ``conditions`` of them if given), fixed z."""
        all_conditions = self.condition(split)
        cond = all_conditions[:conditions]
        out = []
        for s in range(samples):
            z = self._z(model, len(all_conditions), offset=s)  # same z whatever the count
            parts = [
                np.asarray(model.generate(cond[i : i + batch], z=z[i : i + batch]))
                for i in range(0, len(cond), batch)
            ]
            out.append(np.concatenate(parts))
        return np.stack(out)

    def sample_grid(self, model, samples=4):
        from tfav.visualize import image_grid, spectrogram_rgb, to_uint8_image

        split = "validation" if "validation" in self.data else "train"
        d, rows_idx = self.data[split], self.grid_rows
        cond = self.condition(split)[rows_idx]
        gen = np.stack(
            [np.asarray(model.generate(cond, z=self._z(model, len(cond), s)))
             for s in range(samples)]
        )
        rows = []
        for r, i in enumerate(rows_idx):
            if self.task.direction == "s2i":
                cells = [to_uint8_image(d["image"][i])] + [to_uint8_image(g[r]) for g in gen]
            else:
                # Spectrograms at their 128 mel rows, frames drawn two pixels wide.
                lms = [d["lms"][i]] + [g[r] for g in gen]
                cells = [to_uint8_image(d["image"][i])]
                cells += [np.repeat(spectrogram_rgb(x), 2, axis=1) for x in lms]
            rows.append(cells)
        names = [d["name"][i] for i in rows_idx]
        if self.task.direction == "i2s":
            col_labels = ["image", "real LMS"] + [f"gen z{s}" for s in range(samples)]
            return image_grid(rows, cell_height=128, row_labels=names, col_labels=col_labels)
        col_labels = ["real"] + [f"z{s}" for s in range(samples)]
        return image_grid(rows, row_labels=names, col_labels=col_labels)

    def real_within_class_distance(self):
        """Mean distance between real validation images of one class (computed once)."""
        if self._real_distance is None:
            val = self.data["validation"]
            self._real_distance = metrics.within_class_distance(val["image"], val["label"])
        return self._real_distance

    def diversity_ratio(self, model, conditions=64, samples=4):
        """Mean distance between ``samples`` images of one sound over the first
        ``conditions`` validation sounds, at the real images' size (so that models
        drawing at 64 and at 128 compare), relative to
        :meth:`real_within_class_distance`."""
        size = self.data["validation"]["image"].shape[1]
        several = np.stack([_to_size(s, size) for s in
                            self.generate(model, "validation", samples=samples,
                                          conditions=conditions)])
        div = metrics.diversity(np.transpose(several, (1, 0, 2, 3, 4)))
        return div / self.real_within_class_distance()

    def measure(self, model, evaluators, diversity_conditions=64) -> dict[str, float]:
        """Per-epoch numbers: accuracy on train/validation conditions (Fig. 9), pose
        error, and for S2I the diversity ratio (see :meth:`diversity_ratio`)."""
        from tfav.models.generators import resize_spectrogram

        out = {}
        for split, key in (("train", "acc_train"), ("validation", "acc_val")):
            if split not in self.data:
                continue
            gen = self.generate(model, split)[0]
            if self.task.direction == "s2i":  # a2i_diverse draws 128x128; evaluators take 64
                gen = _to_size(gen, self.data[split]["image"].shape[1])
            if self.task.direction == "s2i" and "image_encoder" in evaluators:
                probs = evaluators["image_encoder"].predict(gen, verbose=0)
                out[key] = metrics.classification_accuracy(probs, self.data[split]["label"])
            elif self.task.direction == "i2s" and "sound_encoder" in evaluators:
                lms = resize_spectrogram(gen, tasks.LMS_FRAMES)
                probs = evaluators["sound_encoder"].predict(lms, verbose=0)
                out[key] = metrics.classification_accuracy(probs, self.data[split]["label"])
            truth = self.data[split].get("pose")
            if "pose_regressor" in evaluators and truth is not None and not np.isnan(truth).any():
                pose = evaluators["pose_regressor"].predict(gen, verbose=0)
                key = "pose_err" if split == "validation" else "pose_err_train"
                out[key] = float(metrics.pose_error(pose, truth).overall)
        if self.task.direction == "s2i" and "validation" in self.data:
            out["diversity_ratio"] = self.diversity_ratio(model, diversity_conditions)
        return out


def evaluate_run(run_dir, n: int = 512, diversity_conditions: int = 64, seed: int = 0, log=print,
                 checkpoint: str = "last"):
    """All metrics of a finished (or checkpointed) GAN run; writes ``metrics.json``
    (``metrics_best.json`` for ``checkpoint="best"``, the run's ``best.keras``)."""
    from tfav.data.layout import index_pairs
    from tfav.train import dependency, load_trained, read_generator_run
    from tfav.visualize import line_plot

    run_dir = Path(run_dir)
    task, config = read_generator_run(run_dir)
    index = index_pairs(config["data"])
    instrument = config.get("instrument")
    cats = [instrument] if instrument else None
    model = load_trained(run_dir, task.name, checkpoint=checkpoint)
    probe = Probe.from_index(task, index, cats, n=n, seed=seed)
    evaluator_names = ("image_encoder",) if task.direction == "s2i" else ("sound_encoder",)
    ev = {name: dependency(name, config["data"], index, log=log) for name in evaluator_names}
    has_pose = instrument and not np.isnan(probe.data["validation"]["pose"]).any()
    if task.direction == "s2i" and has_pose:
        ev["pose_regressor"] = dependency(
            "pose_regressor", config["data"], index, log=log, instrument=instrument
        )

    results = {"task": task.name, "instrument": instrument, "run_dir": str(run_dir),
               "checkpoint": checkpoint}
    results.update(probe.measure(model, ev, diversity_conditions=diversity_conditions))
    val = probe.data["validation"]
    if task.direction == "s2i":
        verifier = ev["image_encoder"]
        from tfav.models.encoders import encoder_from_classifier

        features = encoder_from_classifier(verifier)
        size = val["image"].shape[1]  # a2i_diverse draws 128x128; the verifier takes 64
        gen = _to_size(probe.generate(model, "validation")[0], size)
        logits = verifier.predict(gen, verbose=0)
        results["inception_score"], results["inception_score_std"] = metrics.inception_score(
            logits, splits=min(10, len(logits)), from_logits=True
        )
        results["frechet_distance"] = metrics.frechet_distance(
            features.predict(val["image"], verbose=0), features.predict(gen, verbose=0)
        )
        real = probe.real_within_class_distance()
        results.update(diversity=results["diversity_ratio"] * real,
                       real_within_class_distance=real)
        if task.name == "a2i_diverse":  # Yang et al. Table II (R-precision needs the I2A)
            from tfav.objectives.diverse_gan import r_precision_metrics

            results.update(r_precision_metrics(model, val["waveform"], seed=seed))
        if has_pose:
            # Pose of generated images (read by the pose regressor) against the pose of the
            # frame that belongs to the conditioning sound; chance = a random other pose;
            # real images = what the regressor itself achieves.
            errors = {
                "": metrics.pose_error(ev["pose_regressor"].predict(gen, verbose=0), val["pose"]),
                "_chance": metrics.chance_pose_error(val["pose"]),
                "_real_images": metrics.pose_error(
                    ev["pose_regressor"].predict(val["image"], verbose=0), val["pose"]
                ),
            }
            for suffix, err in errors.items():
                results[f"pose_error{suffix}"] = float(err.overall)
                for dim, value in zip(metrics.POSE_DIMENSIONS, err.per_dimension, strict=True):
                    results[f"pose_error_{dim}{suffix}"] = float(value)
    else:
        real_probs = ev["sound_encoder"].predict(val["lms"], verbose=0)
        results["real_lms_accuracy"] = metrics.classification_accuracy(real_probs, val["label"])

    history = json.loads((run_dir / "state.json").read_text())["history"]
    curves = {
        name: ([h["epoch"] for h in history if key in h], [h[key] for h in history if key in h])
        for name, key in (("train conditions", "acc_train"), ("validation conditions", "acc_val"))
    }
    curves = {k: v for k, v in curves.items() if v[0]}
    if curves:
        line_plot(run_dir / "accuracy_curve.png", curves, f"{task.name}: accuracy of generated "
                  "samples under the classifier", "epoch", "accuracy")
    results = {k: float(v) if isinstance(v, np.floating | float) else v for k, v in results.items()}
    from tfav.data.layout import atomic_write_bytes

    name = "metrics.json" if checkpoint == "last" else f"metrics_{checkpoint}.json"
    atomic_write_bytes(run_dir / name, json.dumps(results, indent=1).encode())
    width = max(len(k) for k in results)
    for k, v in results.items():
        log(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return results


@one_line_errors
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder written by python -m tfav.train")
    p.add_argument("--n", type=int, default=512, help="conditions per split (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="the last epoch (default) or the run's best.keras")
    args = p.parse_args(argv)
    evaluate_run(args.run, n=args.n, seed=args.seed, checkpoint=args.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
