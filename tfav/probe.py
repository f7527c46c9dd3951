"""What is measured of a generator: every epoch during training, and at the end.

:class:`Probe` holds fixed real pairs of a run (train and validation
conditions, encoded once): it draws the per-epoch sample grid, measures
generated samples every epoch (:meth:`Probe.measure`: accuracy under the
evaluators, pose error, diversity) and, for ``tfav.evaluate``, everything else
(:func:`final_metrics`: Inception-style score, Frechet distance, pose error per
dimension next to chance and to real images, and the objective's own extras).
Evaluators are networks trained on real data only, never by the GAN.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from tfav import metrics, objectives, realism, tasks
from tfav.data import pipeline
from tfav.models.encoders import encoder_from_classifier
from tfav.models.encoders import judge_features as encoder_from_judge
from tfav.models.generators import resize_spectrogram
from tfav.visualize import image_grid, line_plot, spectrogram_rgb, to_uint8_image

#: Evaluators trained alongside a GAN to measure it, by direction.
EVALUATORS = {"s2i": ("image_encoder",), "i2s": ("sound_encoder",)}


def evaluator_names(task, instrument=None, has_pose=False) -> tuple[str, ...]:
    """The evaluator tasks that measure ``task`` (the pose regressor on one instrument
    with pose ground truth)."""
    names = EVALUATORS[task.direction]
    if task.direction == "s2i" and instrument and has_pose:
        names += ("pose_regressor",)
    return names


def _row_name(category, truth):
    midi = truth.get("midi")
    if midi is None:
        return category
    return f"{category} " + ("rest" if midi < 0 else f"midi {midi}")


def _to_size(images, size):
    if images.shape[1] == size:
        return images
    return tf.image.resize(images, (size, size), method="area").numpy()


class Probe:
    """Fixed real pairs of a run, encoded once, to generate from and compare against.

    The pairs are read by the training pipeline (:func:`tfav.data.pipeline.load_arrays`),
    from a pair folder or a TFRecord folder alike: a sound of any length is the
    pipeline's 0.5 s chunk, an image the pipeline's S x S crop.
    """

    def __init__(self, task, arrays_by_split, index, image_size=64, grid_rows=8, seed=0,
                 categories=None):
        """``arrays_by_split``: ``{split: load_arrays(...)}``; ``index``: the data's
        (:func:`tfav.data.pipeline.open_index`), for category names and ground truth;
        ``categories``: those the arrays were drawn from (None: not known)."""
        self.task, self.index, self.seed = task, index, seed
        self.categories, self.image_size = categories, image_size
        self._training_frames = None
        self.data = {}
        for split, arrays in arrays_by_split.items():
            wave = arrays["waveform"]
            keys = [tuple(i.decode().split("/", 2)) for i in arrays["id"]]  # split/category/stem
            truth = [index.labels.get(k, {}) for k in keys]
            self.data[split] = {
                "waveform": wave,
                "lms": tasks.log_mel(wave).numpy(),
                "image": arrays["image"],
                "label": arrays["label"],
                "pose": arrays.get("pose", np.full((len(wave), 3), np.nan, np.float32)),
                "name": [_row_name(k[1], t) for k, t in zip(keys, truth, strict=True)],
            }
        self.grid_rows = self._grid_rows(grid_rows)
        rng = np.random.default_rng(seed)
        self.z_dim = None
        self._rng_seed = int(rng.integers(1 << 30))
        self._real_distance = None  # within-class distance of the validation images
        self._compiled = {}  # id(network) -> its tf.function (:meth:`run`)

    @classmethod
    def from_index(cls, task, index, categories=None, n=256, seed=0, image_size=64):
        """At most ``n`` pairs per split of ``index`` (a pair or TFRecord folder, or its
        index) in ``categories``, drawn with ``seed``."""
        index = pipeline.open_index(index)
        rng = np.random.default_rng(seed)
        arrays = {}
        for split in ("train", "validation"):
            total = index.count(split, categories)
            if not total:
                continue
            chosen = sorted(rng.choice(total, n, replace=False)) if total > n else None
            arrays[split] = pipeline.load_arrays(index, split, categories=categories,
                                                 image_size=image_size, positions=chosen)
        return cls(task, arrays, index, image_size=image_size, seed=seed, categories=categories)

    def training_frames(self, limit: int = 4096) -> dict:
        """The training pairs of the probe's categories (images and poses; at most
        ``limit``, drawn with the probe's seed), loaded once: the pool of
        :func:`retrieval_pose_error`; without known categories, the probe's own training
        pairs."""
        if self._training_frames is None:
            if self.categories is None:
                self._training_frames = self.data["train"]
            else:
                total = self.index.count("train", self.categories)
                chosen = None if total <= limit else sorted(
                    np.random.default_rng(self.seed).choice(total, limit, replace=False))
                self._training_frames = pipeline.load_arrays(
                    self.index, "train", categories=self.categories,
                    image_size=self.image_size, positions=chosen)
        return self._training_frames

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

    def noise_draws(self, model, conditions=64, samples=4):
        """``[conditions, samples, H, W, 3]``: images of the first ``conditions``
        validation sounds with ``samples`` fixed noise draws, at the real images' size
        (so that models drawing at 64 and at 128 compare)."""
        size = self.data["validation"]["image"].shape[1]
        several = np.stack([_to_size(s, size) for s in
                            self.generate(model, "validation", samples=samples,
                                          conditions=conditions)])
        return np.transpose(several, (1, 0, 2, 3, 4))

    def diversity_ratio(self, model, conditions=64, samples=4, draws=None):
        """Mean distance between ``samples`` images of one sound over the first
        ``conditions`` validation sounds (:meth:`noise_draws`, or ``draws``), relative
        to :meth:`real_within_class_distance`."""
        draws = self.noise_draws(model, conditions, samples) if draws is None else draws
        return metrics.diversity(draws) / self.real_within_class_distance()

    def realism(self, generated, draws) -> dict[str, float]:
        """Measures no training signal sees (``tfav.realism``), of validation images
        ``generated`` (one per sound) and of ``draws`` (:meth:`noise_draws`)."""
        val = self.data["validation"]
        out = realism.spectrum_gap_db(generated, val["image"])
        out["tv_ratio"] = realism.total_variation_ratio(generated, val["image"])
        out["contrast_ratio"] = realism.contrast_ratio(generated, val["image"])
        out["colourfulness_ratio"] = realism.colourfulness_ratio(generated, val["image"])
        out["noise_spread"] = realism.noise_spread(draws, val["image"], val["label"],
                                                   val["label"][: len(draws)])
        return out

    def real_realism_reference(self) -> dict[str, float]:
        """The spectrum gap, TV, contrast and colourfulness ratios between the two halves
        of the real validation frames: what a perfect generator would score at this sample size."""
        images = self.data["validation"]["image"]
        half = len(images) // 2
        out = realism.spectrum_gap_db(images[:half], images[half:])
        out["tv_ratio"] = realism.total_variation_ratio(images[:half], images[half:])
        out["contrast_ratio"] = realism.contrast_ratio(images[:half], images[half:])
        out["colourfulness_ratio"] = realism.colourfulness_ratio(images[:half], images[half:])
        return {f"real_halves_{k}": v for k, v in out.items()}

    def run(self, network, inputs, batch=256):
        """``network(inputs)`` in inference mode as numpy, ``batch`` at a time, through one
        ``tf.function`` per network kept by the probe (``predict`` builds its loop
        every call: about twice the time for a few hundred images)."""
        call = self._compiled.get(id(network))
        if call is None:
            call = tf.function(lambda x: network(x, training=False), reduce_retracing=True)
            self._compiled[id(network)] = call
        inputs = np.asarray(inputs, np.float32)
        return np.concatenate([np.asarray(call(inputs[i : i + batch]))
                               for i in range(0, len(inputs), batch)])

    def measure(self, model, evaluators, diversity_conditions=64) -> dict[str, float]:
        """Per-epoch numbers: accuracy on train/validation conditions (Fig. 9), pose
        error, and for S2I the diversity ratio and the realism measures (see
        :meth:`diversity_ratio`, :meth:`realism`)."""
        out, generated = {}, {}
        for split, key in (("train", "acc_train"), ("validation", "acc_val")):
            if split not in self.data:
                continue
            gen = self.generate(model, split)[0]
            if self.task.direction == "s2i":  # a2i_diverse draws 128x128; evaluators take 64
                gen = _to_size(gen, self.data[split]["image"].shape[1])
            generated[split] = gen
            if self.task.direction == "s2i" and "image_encoder" in evaluators:
                probs = self.run(evaluators["image_encoder"], gen)
                out[key] = metrics.classification_accuracy(probs, self.data[split]["label"])
            elif self.task.direction == "i2s" and "sound_encoder" in evaluators:
                lms = resize_spectrogram(gen, tasks.LMS_FRAMES)
                probs = self.run(evaluators["sound_encoder"], lms)
                out[key] = metrics.classification_accuracy(probs, self.data[split]["label"])
            truth = self.data[split].get("pose")
            if "pose_regressor" in evaluators and truth is not None and not np.isnan(truth).any():
                pose = self.run(evaluators["pose_regressor"], gen)
                key = "pose_err" if split == "validation" else "pose_err_train"
                out[key] = float(metrics.pose_error(pose, truth).overall)
        if self.task.direction == "s2i" and "validation" in self.data:
            draws = self.noise_draws(model, diversity_conditions)
            out["diversity_ratio"] = self.diversity_ratio(model, draws=draws)
            out.update(self.realism(generated["validation"], draws))
        if self.task.direction == "s2i" and "train" in generated:
            real = self.data["train"]["image"]
            out["spectrum_gap_db_train"] = realism.spectrum_gap_db(
                generated["train"], real)["spectrum_gap_db"]
            out["tv_ratio_train"] = realism.total_variation_ratio(generated["train"], real)
        selection = selection_score(out)
        if selection is not None:
            out["selection_train"] = selection
        return out


def selection_score(row: dict) -> float | None:
    """What ``best.keras`` minimises, from training conditions only: the error of the
    samples' content times two realism factors,

    ``error * (1 + spectrum_gap_db_train / 3) * (1 + |ln tv_ratio_train|)``,

    where ``error`` is the pose error (``pose_err_train``) or ``1.01 - acc_train``.
    A 3 dB gap to the real frames' power spectrum, or a total variation e times
    (or 1/e times) the real frames', each counts as doubling the error, so an
    epoch whose pictures the verifier accepts but which are covered in speckle
    loses to a slightly less accurate clean one. The judge network plays no
    part: it stays an independent measure. ``None`` without a content error.
    """
    if "pose_err_train" in row:
        error = row["pose_err_train"]
    elif "acc_train" in row:
        error = 1.01 - row["acc_train"]
    else:
        return None
    factor = 1.0
    if "spectrum_gap_db_train" in row:
        factor *= 1.0 + row["spectrum_gap_db_train"] / 3.0
    if "tv_ratio_train" in row:
        factor *= 1.0 + abs(math.log(max(row["tv_ratio_train"], 1e-6)))
    return float(error * factor)


def final_metrics(probe: Probe, model, evaluators: dict, seed: int = 0,
                  diversity_conditions: int = 64, objective=None) -> dict:
    """Every measure of ``tfav.evaluate`` for ``model`` on the probe's conditions
    (``objective``: the run's, for its extra metrics; default: the task's)."""
    task, ev = probe.task, evaluators
    results = {}
    has_pose = "pose_regressor" in ev
    results.update(probe.measure(model, ev, diversity_conditions=diversity_conditions))
    val = probe.data["validation"]
    if task.direction == "s2i":
        verifier = ev["image_encoder"]
        features = encoder_from_classifier(verifier)
        size = val["image"].shape[1]  # a2i_diverse draws 128x128; the verifier takes 64
        gen = _to_size(probe.generate(model, "validation")[0], size)
        logits = verifier.predict(gen, verbose=0)
        results.update(_per_class(logits, val["label"], probe.index.categories))
        results.update(probe.real_realism_reference())
        if "judge" in ev:
            results.update(judge_metrics(probe, model, ev["judge"], gen, diversity_conditions))
        results["inception_score"], results["inception_score_std"] = metrics.inception_score(
            logits, splits=min(10, len(logits)), from_logits=True
        )
        results["frechet_distance"] = metrics.frechet_distance(
            features.predict(val["image"], verbose=0), features.predict(gen, verbose=0)
        )
        real = probe.real_within_class_distance()
        results.update(diversity=results["diversity_ratio"] * real,
                       real_within_class_distance=real)
        extra = (objective or objectives.for_task(task)).extra_metrics
        if extra is not None:
            results.update(extra(model, val, seed=seed))
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
            if "pose_from_sound" in ev:  # what the sound alone tells of the pose: the ceiling
                from_sound = ev["pose_from_sound"].predict(val["lms"], verbose=0)
                errors["_sound_regressor"] = metrics.pose_error(from_sound, val["pose"])
                errors["_retrieval"] = retrieval_pose_error(
                    probe.training_frames(), from_sound, val["pose"], ev["pose_regressor"])
            for suffix, err in errors.items():
                results[f"pose_error{suffix}"] = float(err.overall)
                for dim, value in zip(metrics.POSE_DIMENSIONS, err.per_dimension, strict=True):
                    results[f"pose_error_{dim}{suffix}"] = float(value)
    else:
        gen = resize_spectrogram(probe.generate(model, "validation")[0], tasks.LMS_FRAMES)
        results.update(_per_class(ev["sound_encoder"].predict(gen, verbose=0), val["label"],
                                  probe.index.categories))
        real_probs = ev["sound_encoder"].predict(val["lms"], verbose=0)
        results["real_lms_accuracy"] = metrics.classification_accuracy(real_probs, val["label"])
        results.update(i2s_realism(probe, model, ev["sound_encoder"], gen, diversity_conditions))

    return {k: float(v) if isinstance(v, np.floating | float) else v for k, v in results.items()}


def retrieval_pose_error(pool: dict, from_sound, target, pose_regressor):
    """What a perfect generator would measure: for each sound, the real training frame
    whose pose is nearest (L1) to the sound -> pose regressor's estimate, read by the
    pose regressor and compared with the sound's true pose (``target``).

    The pose error of generated images compounds two errors: what the sound cannot tell
    (the sound regressor's error) and what the pose regressor misreads in a picture.
    Neither alone is a reachable floor; this retrieval is: a real picture, in the pose
    the sound implies as well as a regressor can tell it.

    Args:
        pool: ``image`` [M, S, S, 3] and ``pose`` [M, 3] of real training frames.
        from_sound: [N, 3] poses estimated from the sounds.
        target: [N, 3] the sounds' true poses.
        pose_regressor: image -> pose.

    Returns:
        :class:`tfav.metrics.PoseError` of the retrieved frames.
    """
    poses, estimates = np.asarray(pool["pose"], np.float32), np.asarray(from_sound, np.float32)
    nearest = np.abs(estimates[:, None] - poses[None]).sum(axis=-1).argmin(axis=1)
    read = pose_regressor.predict(np.asarray(pool["image"])[nearest], verbose=0)
    return metrics.pose_error(read, target)


def i2s_realism(probe: Probe, model, classifier, generated, conditions: int = 64) -> dict:
    """The I2S measures nothing trains on: the Frechet distance on the sound classifier's
    128-d features between real validation LMS and ``generated`` ones (the role
    Melception plays for SpecVQGAN), beside the same between training and validation
    LMS; and the noise spread: the mean distance between spectrograms of one image with
    four noises over the mean distance between real LMS of one instrument (both on
    ``[128, 34]`` normalised LMS)."""
    features = encoder_from_classifier(classifier)
    val, train = probe.data["validation"], probe.data.get("train")

    def embed(lms):
        return np.asarray(features.predict(lms, batch_size=128, verbose=0), np.float64)

    real = embed(val["lms"])
    out = {"sound_fid": metrics.frechet_distance(real, embed(generated))}
    if train is not None:
        out["sound_fid_real"] = metrics.frechet_distance(real, embed(train["lms"]))
    draws = np.transpose(probe.generate(model, "validation", samples=4, conditions=conditions),
                         (1, 0, 2, 3))
    real_lms = np.clip(np.asarray(resize_spectrogram(val["lms"], draws.shape[-1])), -1.0, 1.0)
    out["noise_spread"] = metrics.diversity(np.clip(draws, -1.0, 1.0)) / (
        metrics.within_class_distance(real_lms, val["label"]))
    return out


def judge_metrics(probe: Probe, model, judge, generated, conditions: int = 64) -> dict:
    """FID and KID on the judge's features (validation frames against images generated
    from validation sounds), beside the same between training and validation frames
    (real against real), and the noise spread measured in judge features."""
    features = encoder_from_judge(judge)
    val, train = probe.data["validation"], probe.data.get("train")

    def embed(images):
        return np.asarray(features.predict(images, batch_size=128, verbose=0), np.float64)

    real, fake = embed(val["image"]), embed(generated)
    out = {"judge_fid": metrics.frechet_distance(real, fake),
           "judge_kid": realism.kernel_inception_distance(real, fake)}
    if train is not None:
        reference = embed(train["image"])
        out["judge_fid_real"] = metrics.frechet_distance(real, reference)
        out["judge_kid_real"] = realism.kernel_inception_distance(real, reference)
    draws = probe.noise_draws(model, conditions)
    spread = metrics.diversity(draws, feature_fn=embed)
    out["noise_spread_judge"] = spread / metrics.within_class_distance(
        val["image"], val["label"], feature_fn=embed)
    return out


def _per_class(probs, labels, categories) -> dict:
    """Per-class accuracy of validation samples (``acc_val_<category>``) and the
    confusion matrix (rows: the condition's class, columns: the evaluator's)."""
    n = len(categories)
    per_class = metrics.per_class_accuracy(probs, labels, num_classes=n)
    out = {f"acc_val_{c}": float(a) for c, a in zip(categories, per_class, strict=True)
           if np.isfinite(a)}
    out["confusion"] = metrics.confusion_matrix(probs, labels, num_classes=n).tolist()
    return out


def accuracy_curve(path, task, history) -> bool:
    """Accuracy of generated samples versus epoch (Chen Fig. 9) as a PNG; ``False``
    when the history holds no accuracy."""
    curves = {
        name: ([h["epoch"] for h in history if key in h], [h[key] for h in history if key in h])
        for name, key in (("train conditions", "acc_train"), ("validation conditions", "acc_val"))
    }
    curves = {k: v for k, v in curves.items() if v[0]}
    if curves:
        line_plot(path, curves, f"{task.name}: accuracy of generated samples under the "
                  "classifier", "epoch", "accuracy")
    return bool(curves)
