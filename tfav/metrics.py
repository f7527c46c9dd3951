"""Evaluation metrics for generated images, spectrograms and poses.

Small pure numpy functions; model calls (the verifier classifier, the
image-to-audio regressor) happen in ``tfav.evaluate`` and only their outputs
arrive here. Array misuse (wrong shapes, too few samples, NaN) raises a
``ValueError`` that says what was wrong.

Sources:
    Chen et al. 2017, sec. 5.2.2 and 5.4: accuracy of a classifier trained on
    real data, applied to generated images / spectrograms.
    Salimans et al. 2016 (Inception score), as used by Wan et al. 2019 sec.
    5.2 and Yang et al. sec. III-B: mean and std over ten splits.
    Heusel et al. 2017 (Frechet Inception distance), in TF-GAN's symmetric
    square-root form.
    Yang et al. sec. III-B, Table II: R-precision@k over pools of 100.

Example:
    >>> probs = verifier.predict(fake_images)
    >>> classification_accuracy(probs, labels)
    >>> inception_score(probs, splits=10)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

POSE_DIMENSIONS = ("hand", "bow", "dynamics")


def _as_2d(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [samples, dims], got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def _predictions(scores_or_predictions, name: str) -> np.ndarray:
    """Integer class predictions from [N, C] scores, or [N] integer predictions as given."""
    x = np.asarray(scores_or_predictions)
    if x.ndim == 2:
        return _as_2d(x, name).argmax(axis=-1)
    if x.ndim == 1 and np.issubdtype(x.dtype, np.integer):
        return x.astype(np.int64)
    raise ValueError(f"{name}: expected [N, C] scores or [N] integer classes, got "
                     f"shape {x.shape} dtype {x.dtype}")


def _labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=-1)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"labels: expected {n} labels, got shape {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0):
        raise ValueError("labels: expected non-negative integer class indices")
    return y.astype(np.int64)


def classification_accuracy(probs_or_logits, labels) -> float:
    """Fraction of samples whose arg-max class equals the label.

    Chen et al. 2017, sec. 5.2.2 (Table 5) and sec. 5.4: a classifier trained
    on real data verifies that generated images (or LMS) belong to the
    conditioning instrument. Softmax is monotonic, so logits and
    probabilities give the same answer.

    Args:
        probs_or_logits: [N, C] class scores (or [N] integer predictions).
        labels: [N] integer class indices (or [N, C] one-hot).

    Returns:
        Accuracy in [0, 1].
    """
    pred = _predictions(probs_or_logits, "probs_or_logits")
    y = _labels(labels, pred.shape[0])
    return float(np.mean(pred == y))


def confusion_matrix(probs_or_logits, labels, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class); rows are true, columns predicted.

    Args:
        probs_or_logits: [N, C] class scores or [N] integer predictions.
        labels: [N] integer class indices (or [N, C] one-hot).
        num_classes: C; inferred from the scores' width or the largest index.

    Returns:
        int64 array [C, C]; its trace over N is the classification accuracy.
    """
    scores = np.asarray(probs_or_logits)
    pred = _predictions(scores, "probs_or_logits")
    y = _labels(labels, pred.shape[0])
    if num_classes is None:
        num_classes = scores.shape[1] if scores.ndim == 2 else 0
        num_classes = max(num_classes, int(max(pred.max(), y.max())) + 1)
    if pred.size and max(pred.max(), y.max()) >= num_classes:
        raise ValueError(f"class index >= num_classes={num_classes}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    return cm


def per_class_accuracy(probs_or_logits, labels, num_classes: int | None = None) -> np.ndarray:
    """Accuracy of each true class (recall); NaN for classes with no samples.

    Args:
        probs_or_logits: [N, C] class scores or [N] integer predictions.
        labels: [N] integer class indices (or [N, C] one-hot).
        num_classes: C, as in :func:`confusion_matrix`.

    Returns:
        float64 array [C].
    """
    cm = confusion_matrix(probs_or_logits, labels, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def inception_score(probs, splits: int = 10, *, from_logits: bool = False,
                    eps: float = 1e-12, seed: int | None = 0) -> tuple[float, float]:
    """Inception-style score exp(E_x KL(p(y|x) || p(y))), mean and std over splits.

    Salimans et al. 2016, sec. 4; computed per split and summarised by mean
    and (population) standard deviation over ten splits as in Wan et al.
    2019 sec. 5.2 and Yang et al. Table I. Here p(y|x) comes from our own
    verifier classifier rather than Inception v3, so values compare only
    across models scored by the same verifier; the maximum is the number of
    classes. Samples are shuffled (seeded) and split with ``np.array_split``
    (all samples used; split sizes differ by at most one): evaluation sets are
    usually ordered by class, and a split holding one class has p(y) = p(y|x)
    and a score near 1 whatever the model.

    Args:
        probs: [N, C] class probabilities (rows sum to 1), or logits with
            ``from_logits=True``.
        splits: number of folds; each needs at least one sample.
        from_logits: apply a softmax first.
        eps: floor inside the logarithms.
        seed: of the shuffle; ``None`` keeps the given order.

    Returns:
        (mean, std) of the per-split scores.
    """
    p = _as_2d(probs, "probs")
    if from_logits:
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    elif p.min() < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs: rows must be probabilities summing to 1 "
                         "(pass from_logits=True for logits)")
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    if p.shape[0] < splits:
        raise ValueError(f"inception_score: {p.shape[0]} samples cannot fill {splits} splits; "
                         f"generate at least {splits} images or lower splits")
    if seed is not None:
        p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + eps) - np.log(py + eps)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via eigh; tiny negative eigenvalues (rounding) become 0."""
    w, v = np.linalg.eigh((s + s.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) -> float:
    """Frechet distance between Gaussians N(mu_a, sigma_a) and N(mu_b, sigma_b).

    d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 sqrt(A S_b A)),  A = sqrt(S_a)
    (Heusel et al. 2017, eq. 6; the symmetric form of TF-GAN's
    ``frechet_classifier_distance``). tr sqrt(A S_b A) equals tr sqrt(S_a S_b)
    because the two matrices are similar, but A S_b A is symmetric PSD, so
    ``eigvalsh`` gives real eigenvalues and no complex round-off appears.

    Args:
        mu_a, mu_b: [D] means.
        sigma_a, sigma_b: [D, D] covariances.

    Returns:
        The squared Frechet distance (>= 0), as reported for FID.
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    d = mu_a.shape[0]
    if mu_a.shape != (d,) or mu_b.shape != (d,) or sigma_a.shape != (d, d) \
            or sigma_b.shape != (d, d):
        raise ValueError(f"frechet distance: inconsistent shapes {mu_a.shape}, {sigma_a.shape}, "
                         f"{mu_b.shape}, {sigma_b.shape}")
    a = _sqrtm_psd(sigma_a)
    m = a @ sigma_b @ a
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2.0), 0.0, None)))
    dist = np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * trace_sqrt
    return float(max(dist, 0.0))


def frechet_distance(features_a, features_b) -> float:
    """FID-style distance between two feature sets (e.g. our verifier's penultimate layer).

    Fits a Gaussian to each set (mean, covariance with ``ddof=1``) and
    applies :func:`frechet_distance_from_statistics`. Values are comparable
    only between runs using the same feature extractor and sample counts.

    Args:
        features_a: [N_a, D] features, N_a >= 2.
        features_b: [N_b, D] features, N_b >= 2.

    Returns:
        The squared Frechet distance (>= 0).
    """
    fa, fb = _as_2d(features_a, "features_a"), _as_2d(features_b, "features_b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"feature widths differ: {fa.shape[1]} vs {fb.shape[1]}")
    if min(fa.shape[0], fb.shape[0]) < 2:
        raise ValueError("frechet_distance needs at least 2 samples per set")
    d = fa.shape[1]
    sigma_a = np.cov(fa, rowvar=False, ddof=1).reshape(d, d)  # reshape: D = 1 gives a scalar
    sigma_b = np.cov(fb, rowvar=False, ddof=1).reshape(d, d)
    return frechet_distance_from_statistics(fa.mean(0), sigma_a, fb.mean(0), sigma_b)


def _mean_pairwise_l2(x: np.ndarray) -> float:
    """Mean Euclidean distance over unordered pairs of rows of x [n, D], n >= 2."""
    x = x - x.mean(axis=0, keepdims=True)  # centring keeps the Gram trick accurate
    sq = np.sum(x * x, axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None)
    iu = np.triu_indices(x.shape[0], k=1)
    return float(np.mean(np.sqrt(d2[iu])))


def _embed(images, feature_fn: Callable | None, name: str) -> np.ndarray:
    x = np.asarray(images if feature_fn is None else feature_fn(images), dtype=np.float64)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 samples, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or Inf")
    if feature_fn is None and (x.min() < -1.0 - 1e-6 or x.max() > 1.0 + 1e-6):
        raise ValueError(f"{name}: pixels must be in [-1, 1] (got [{x.min():.3g}, {x.max():.3g}])")
    return x.reshape(x.shape[0], -1)


def diversity(images_per_condition: Sequence, feature_fn: Callable | None = None) -> float:
    """Mean pairwise L2 distance between outputs of one condition with different z.

    Measures the diversity Yang et al. aim for (one audio input, several
    noise vectors); a collapsed generator scores 0. Distances are averaged
    over the pairs of each condition, then over conditions with equal weight.
    Compare with :func:`within_class_distance` of real images, computed with
    the same ``feature_fn``.

    Args:
        images_per_condition: [C, K, ...] array or a sequence of C arrays
            [K_c, H, W, 3] (K_c >= 2), pixels in [-1, 1].
        feature_fn: None for L2 on pixels; otherwise a callable mapping a
            batch of images to [K, D] features (e.g. the verifier's
            penultimate layer), and L2 is taken on those.

    Returns:
        Mean pairwise distance.
    """
    if len(images_per_condition) == 0:
        raise ValueError("images_per_condition: no conditions")
    return float(np.mean([
        _mean_pairwise_l2(_embed(imgs, feature_fn, f"condition {c}"))
        for c, imgs in enumerate(images_per_condition)]))


def within_class_distance(images, labels, feature_fn: Callable | None = None,
                          max_per_class: int | None = 256, seed: int = 0) -> float:
    """Mean pairwise L2 distance between real images of the same class.

    The reference for :func:`diversity`: diversity / within_class_distance
    tells how much of the real per-instrument variety the generator covers.
    Classes are weighted equally; classes with fewer than 2 images are
    skipped.

    Args:
        images: [N, H, W, 3] pixels in [-1, 1].
        labels: [N] integer class indices.
        feature_fn: as in :func:`diversity`.
        max_per_class: sample at most this many images per class (without
            replacement, seeded) to bound the O(n^2) cost; None uses all.
        seed: seed of that sampling.

    Returns:
        Mean within-class pairwise distance.
    """
    images = np.asarray(images)
    y = _labels(labels, images.shape[0])
    rng = np.random.default_rng(seed)
    dists = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if idx.size < 2:
            continue
        if max_per_class is not None and idx.size > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        dists.append(_mean_pairwise_l2(_embed(images[idx], feature_fn, f"class {c}")))
    if not dists:
        raise ValueError("within_class_distance: no class has 2 or more images")
    return float(np.mean(dists))


class PoseError(NamedTuple):
    """Mean absolute pose error: per dimension ([D], hand/bow/dynamics) and overall."""

    per_dimension: np.ndarray
    overall: float


def pose_error(predicted, target) -> PoseError:
    """Mean absolute error between predicted and target pose vectors.

    Pose-oriented S2I (Chen et al. 2017, sec. 3.2 and 5.3) is judged
    qualitatively in the paper; we quantify it by regressing the pose
    (hand, bow, dynamics, each in [0, 1]) from generated images and
    comparing with the ground truth. Read against :func:`chance_pose_error`.

    Args:
        predicted: [N, D] poses.
        target: [N, D] poses.

    Returns:
        PoseError(per_dimension [D], overall = mean over dimensions).
    """
    p, t = _as_2d(predicted, "predicted"), _as_2d(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"predicted {p.shape} and target {t.shape} differ in shape")
    per_dim = np.mean(np.abs(p - t), axis=0)
    return PoseError(per_dim, float(per_dim.mean()))


def chance_pose_error(target) -> PoseError:
    """Error of predicting, for each sample, a random *other* target of the same set.

    The permutation baseline: a predictor that ignores the sound but knows
    the pose distribution. Computed exactly as the expectation over a
    uniformly random other sample, i.e. the mean |t_i - t_j| over ordered
    pairs i != j, in O(N log N) per dimension via sorting:
    sum_{i<j} |x_i - x_j| = sum_k x_(k) (2k - N + 1) for sorted x (0-based k).

    Args:
        target: [N, D] poses, N >= 2.

    Returns:
        PoseError(per_dimension [D], overall).
    """
    t = _as_2d(target, "target")
    n = t.shape[0]
    if n < 2:
        raise ValueError("chance_pose_error needs at least 2 targets")
    s = np.sort(t, axis=0)
    weights = 2.0 * np.arange(n) - n + 1.0
    per_dim = (weights @ s) / (n * (n - 1) / 2.0)
    return PoseError(per_dim, float(per_dim.mean()))


def r_precision(query_features, candidate_features, k: Sequence[int] = (1, 5, 10),
                pool_size: int = 100, seed: int = 0, labels=None) -> dict[int, float]:
    """R-precision@k of matching generated images back to their audio (Yang et al., Table II).

    Yang et al. sec. III-B: for each audio segment, an image pool is formed
    from its generated image and 99 randomly selected mismatched generated
    images; candidates are ranked by cosine similarity between the acoustic
    feature and the image features (the I2A model maps images into the
    acoustic feature space), and R-precision@k is the fraction of segments
    whose own image ranks within the top k. "Mismatched" is read as
    generated from a different audio segment (the paper uses two categories,
    so different-category pools would be trivially uninformative at k >= 50);
    pass ``labels`` to draw mismatches only from other categories instead.
    Ties with the true candidate count against it, so a generator producing
    identical images for every input scores 0, not 1.

    Args:
        query_features: [N, D] acoustic features a_i of the audio segments.
        candidate_features: [N, D] I2A features of the image generated from a_i.
        k: ranks to report.
        pool_size: true candidate plus pool_size - 1 mismatches; N must be at
            least pool_size (or enough other-category samples with labels).
        seed: seed of the pool sampling (the result is deterministic).
        labels: optional [N] categories; mismatches then come from other ones.

    Returns:
        {k: fraction in [0, 1]} for each requested k.
    """
    q = _as_2d(query_features, "query_features")
    c = _as_2d(candidate_features, "candidate_features")
    if q.shape != c.shape:
        raise ValueError(f"query {q.shape} and candidate {c.shape} features differ in shape")
    n = q.shape[0]
    ks = tuple(int(x) for x in k)
    if pool_size < 2 or any(x < 1 or x > pool_size for x in ks):
        raise ValueError(f"need pool_size >= 2 and 1 <= k <= pool_size, got {pool_size}, {ks}")
    y = None if labels is None else _labels(labels, n)
    if y is None and n < pool_size:
        raise ValueError(f"r_precision: {n} samples cannot form pools of {pool_size}")
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    ranks = np.empty(n, dtype=np.int64)
    for i in range(n):
        if y is None:
            others = rng.choice(n - 1, pool_size - 1, replace=False)
            others += others >= i  # skip i itself
        else:
            pool = np.flatnonzero(y != y[i])
            if pool.size < pool_size - 1:
                raise ValueError(f"r_precision: sample {i} has only {pool.size} other-category "
                                 f"candidates for a pool of {pool_size}")
            others = rng.choice(pool, pool_size - 1, replace=False)
        sims = c[np.concatenate([[i], others])] @ q[i]
        # A 1e-12 margin so that round-off cannot break a tie in the true image's favour.
        ranks[i] = 1 + int(np.sum(sims[1:] >= sims[0] - 1e-12))
    return {x: float(np.mean(ranks <= x)) for x in ks}


# --------------------------------------------------------------------------- pitch


def yin_pitch(waveforms, sample_rate: int = 44100, fmin: float = 40.0, fmax: float = 2100.0,
              frame_length: int = 4096, hop_length: int = 2048,
              threshold: float = 0.1) -> np.ndarray:
    """Fundamental frequency of each clip by YIN (de Cheveigne & Kawahara 2002), in Hz.

    Per frame: the difference function, its cumulative-mean normalisation (YIN
    step 3), the first lag below ``threshold`` that is a local minimum (step 4;
    the global minimum when none is), refined by parabolic interpolation (step
    5). A frame whose minimum stays above 0.5 is unvoiced. The clip's pitch is
    the median over its voiced frames, NaN when it has none.

    Args:
        waveforms: ``[clips, samples]`` with ``samples >= frame_length``.

    Returns:
        float ``[clips]`` Hz (NaN: unvoiced).
    """
    x = _as_2d(waveforms, "waveforms").astype(np.float64)
    if x.shape[1] < frame_length:
        raise ValueError(f"waveforms: {x.shape[1]} samples < frame_length {frame_length}")
    lag_min = max(int(sample_rate // fmax), 1)
    lag_max = min(int(np.ceil(sample_rate / fmin)), frame_length // 2)
    window = frame_length - lag_max  # the integration window W of YIN eq. (6)
    starts = np.arange(0, x.shape[1] - frame_length + 1, hop_length)
    frames = np.stack([x[:, s:s + frame_length] for s in starts], axis=1)  # [C, F, L]
    # d(tau) = sum_j (x_j - x_{j+tau})^2 over j < window, with FFT correlations.
    n = 1 << int(np.ceil(np.log2(2 * frame_length)))
    spec = np.fft.rfft(frames, n)
    head = np.fft.rfft(frames[..., :window], n)
    cross = np.fft.irfft(np.conj(head) * spec, n)[..., :lag_max + 1]
    energy = np.cumsum(np.square(frames), axis=-1)
    e0 = energy[..., window - 1:window]
    e_tau = energy[..., window - 1:window + lag_max] - np.concatenate(
        [np.zeros_like(e0), energy[..., :lag_max]], axis=-1)
    d = e0 + e_tau - 2.0 * cross
    d[..., 0] = 0.0
    cumulative = np.cumsum(d[..., 1:], axis=-1)
    taus = np.arange(1, lag_max + 1)
    cmnd = np.ones_like(d)
    cmnd[..., 1:] = d[..., 1:] * taus / np.maximum(cumulative, 1e-12)
    pitch = np.full(frames.shape[:2], np.nan)
    for c, f in np.ndindex(*frames.shape[:2]):
        curve = cmnd[c, f]
        if energy[c, f, -1] < 1e-10:
            continue
        below = np.nonzero(curve[lag_min:lag_max] < threshold)[0]
        if below.size:
            tau = lag_min + below[0]
            while tau + 1 < lag_max and curve[tau + 1] < curve[tau]:
                tau += 1
        else:
            tau = lag_min + int(np.argmin(curve[lag_min:lag_max]))
            if curve[tau] > 0.5:
                continue
        shift = 0.0
        if lag_min < tau < lag_max:
            a, b, e = curve[tau - 1], curve[tau], curve[tau + 1]
            denominator = a - 2.0 * b + e
            shift = 0.5 * (a - e) / denominator if abs(denominator) > 1e-12 else 0.0
        pitch[c, f] = sample_rate / (tau + shift)
    with np.errstate(all="ignore"):
        voiced = ~np.isnan(pitch)
        return np.array([np.median(p[v]) if v.any() else np.nan
                         for p, v in zip(pitch, voiced, strict=True)])


def pitch_agreement(pitch_hz, reference_hz, cents: float = 50.0) -> float:
    """Share of clips whose ``pitch_hz`` is within ``cents`` of ``reference_hz``, over the
    clips with a reference (NaN references are left out; a NaN pitch disagrees)."""
    pitch, reference = np.asarray(pitch_hz, float), np.asarray(reference_hz, float)
    if pitch.shape != reference.shape:
        raise ValueError(f"pitch {pitch.shape} and reference {reference.shape} differ in shape")
    keep = ~np.isnan(reference)
    if not keep.any():
        raise ValueError("reference_hz: no clip has a reference pitch")
    with np.errstate(invalid="ignore"):
        off = np.abs(1200.0 * np.log2(pitch[keep] / reference[keep]))
    return float(np.mean(np.nan_to_num(off, nan=np.inf) <= cents))


def midi_to_hz(midi) -> np.ndarray:
    """Hz of MIDI note numbers; NaN for negative numbers (the dataset's rests, -1)."""
    midi = np.asarray(midi, float)
    return np.where(midi >= 0, 440.0 * 2.0 ** ((midi - 69.0) / 12.0), np.nan)
