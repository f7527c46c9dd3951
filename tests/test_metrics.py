import math

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import pdist

from tfav import metrics

# ---------------------------------------------------------------- classification


def test_classification_accuracy_hand_case_probs_logits_onehot():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 1, 1])
    assert metrics.classification_accuracy(probs, labels) == pytest.approx(2 / 3)
    assert metrics.classification_accuracy(np.log(probs) + 3.0, labels) == pytest.approx(2 / 3)
    assert metrics.classification_accuracy(probs, np.eye(2)[labels]) == pytest.approx(2 / 3)
    assert metrics.classification_accuracy(np.array([0, 1, 0]), labels) == pytest.approx(2 / 3)


def test_confusion_matrix_and_per_class_accuracy():
    pred = np.array([0, 0, 1, 1, 1, 0])
    labels = np.array([0, 0, 1, 1, 0, 1])
    cm = metrics.confusion_matrix(pred, labels, num_classes=3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [1, 2, 0], [0, 0, 0]])
    acc = metrics.per_class_accuracy(pred, labels, num_classes=3)
    np.testing.assert_allclose(acc[:2], [2 / 3, 2 / 3])
    assert np.isnan(acc[2])
    # Width of the scores sets the number of classes when not given.
    scores = np.eye(4)[pred]
    assert metrics.confusion_matrix(scores, labels).shape == (4, 4)
    assert np.trace(cm) / cm.sum() == metrics.classification_accuracy(pred, labels)


def test_classification_rejects_bad_shapes():
    with pytest.raises(ValueError, match="labels"):
        metrics.classification_accuracy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.classification_accuracy(np.full((2, 2), np.nan), [0, 1])
    with pytest.raises(ValueError, match="num_classes"):
        metrics.confusion_matrix(np.array([0, 3]), [0, 1], num_classes=2)


# ---------------------------------------------------------------- inception score


def test_inception_score_confident_and_balanced_equals_num_classes():
    c = 5
    probs = np.tile(np.eye(c), (10, 1))  # every split of 5 holds each class once
    mean, std = metrics.inception_score(probs, splits=10, seed=None)
    assert mean == pytest.approx(c, rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_uniform_is_one():
    mean, std = metrics.inception_score(np.full((40, 7), 1 / 7), splits=10)
    assert mean == pytest.approx(1.0)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_hand_computed_two_class():
    # Each split: one confident [1, 0] and one uncertain [.5, .5]; p(y) = [.75, .25].
    probs = np.tile([[1.0, 0.0], [0.5, 0.5]], (3, 1))
    kl_confident = math.log(1 / 0.75)
    kl_uncertain = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    expected = math.exp((kl_confident + kl_uncertain) / 2)
    mean, std = metrics.inception_score(probs, splits=3)
    assert mean == pytest.approx(expected, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_matches_reference_loop_and_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 6)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ref = []
    for k in range(10):  # Salimans et al.'s reference loop, N divisible by splits
        part = probs[k * 20:(k + 1) * 20]
        py = part.mean(0)
        ref.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), 1))))
    mean, std = metrics.inception_score(probs, seed=None)
    assert mean == pytest.approx(np.mean(ref), rel=1e-9)
    assert std == pytest.approx(np.std(ref), rel=1e-6)
    assert std > 0
    assert metrics.inception_score(logits, from_logits=True, seed=None) == pytest.approx(
        (mean, std)
    )


def test_inception_score_errors():
    with pytest.raises(ValueError, match="9 samples cannot fill 10 splits"):
        metrics.inception_score(np.full((9, 2), 0.5), splits=10)
    with pytest.raises(ValueError, match="from_logits"):
        metrics.inception_score(np.ones((20, 2)), splits=10)


# ---------------------------------------------------------------- Frechet distance


def _scipy_reference_fid(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * covmean)


def test_frechet_distance_matches_scipy_reference_on_random_data():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 8))
    b = rng.normal(size=(250, 8)) @ rng.normal(size=(8, 8)) * 0.7 + 0.3
    fid = metrics.frechet_distance(a, b)
    assert fid == pytest.approx(_scipy_reference_fid(a, b), rel=1e-7)
    assert metrics.frechet_distance(b, a) == pytest.approx(fid, rel=1e-9)
    assert fid > 1.0


def test_frechet_distance_identical_sets_is_zero():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(100, 16))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # Fewer samples than dimensions: singular covariance, still ~0 and finite.
    s = rng.normal(size=(10, 32))
    assert metrics.frechet_distance(s, s) == pytest.approx(0.0, abs=1e-7)


def test_frechet_distance_shifted_mean_is_squared_mean_distance():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 6))
    delta = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.25])
    expected = float(np.sum(delta ** 2))
    assert metrics.frechet_distance(a, a + delta) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_gaussian_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2.
    d = metrics.frechet_distance_from_statistics([1.0], [[4.0]], [3.0], [[9.0]])
    assert d == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)
    # Diagonal covariances: sum (sqrt(v1) - sqrt(v2))^2.
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    d = metrics.frechet_distance_from_statistics(np.zeros(3), np.diag(v1), np.zeros(3),
                                                 np.diag(v2))
    assert d == pytest.approx(np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2))
    # Rotation of one covariance (non-commuting case) against scipy's sqrtm.
    rot = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    s1, s2 = np.diag([3.0, 0.5]), rot @ np.diag([2.0, 0.1]) @ rot.T
    ref = np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    d = metrics.frechet_distance_from_statistics(np.zeros(2), s1, np.zeros(2), s2)
    assert d == pytest.approx(ref, rel=1e-9)


def test_frechet_distance_one_dimension_and_errors():
    a = np.array([[0.0], [2.0]])  # mean 1, var 2
    b = np.array([[4.0], [6.0]])  # mean 5, var 2
    assert metrics.frechet_distance(a, b) == pytest.approx(16.0)
    with pytest.raises(ValueError, match="widths"):
        metrics.frechet_distance(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))


# ---------------------------------------------------------------- diversity


def test_diversity_hand_case_and_collapse():
    lo, hi = -np.ones((2, 2, 3)), np.ones((2, 2, 3))
    cond_a = np.stack([lo, hi])  # distance sqrt(12 * 2^2)
    cond_b = np.stack([lo, lo])  # collapsed: 0
    assert metrics.diversity([cond_a, cond_b]) == pytest.approx(math.sqrt(48) / 2)
    assert metrics.diversity(np.stack([cond_b, cond_b])) == 0.0
    # Ragged: three images, pair distances sqrt(12), sqrt(48), sqrt(12).
    mid = np.zeros((2, 2, 3))
    three = np.stack([lo, mid, hi])
    expected = (2 * math.sqrt(12) + math.sqrt(48)) / 3
    assert metrics.diversity([three]) == pytest.approx(expected)
    assert metrics.diversity([three, cond_a]) == pytest.approx((expected + math.sqrt(48)) / 2)


def test_diversity_on_features_and_matches_pdist():
    rng = np.random.default_rng(4)
    imgs = rng.uniform(-1, 1, size=(3, 6, 4, 4, 3))
    expected = np.mean([pdist(c.reshape(6, -1)).mean() for c in imgs])
    assert metrics.diversity(imgs) == pytest.approx(expected, rel=1e-9)

    def mean_pixel(batch):
        return np.asarray(batch).reshape(len(batch), -1).mean(1, keepdims=True)

    expected_f = np.mean([pdist(mean_pixel(c)).mean() for c in imgs])
    assert metrics.diversity(imgs, feature_fn=mean_pixel) == pytest.approx(expected_f)


def test_diversity_errors():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        metrics.diversity([np.full((2, 2, 2, 3), 255.0)])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.diversity([np.zeros((1, 2, 2, 3))])


def test_within_class_distance():
    lo, hi, mid = -np.ones((2, 2, 3)), np.ones((2, 2, 3)), np.zeros((2, 2, 3))
    images = np.stack([lo, hi, mid, mid, lo])
    labels = [0, 0, 1, 1, 2]  # class 2 has one image: skipped
    assert metrics.within_class_distance(images, labels) == pytest.approx(math.sqrt(48) / 2)
    rng = np.random.default_rng(5)
    many = rng.uniform(-1, 1, size=(60, 3, 3, 3))
    lab = np.repeat([0, 1], 30)
    full = metrics.within_class_distance(many, lab, max_per_class=None)
    ref = np.mean([pdist(many[lab == c].reshape(30, -1)).mean() for c in (0, 1)])
    assert full == pytest.approx(ref, rel=1e-9)
    sub = metrics.within_class_distance(many, lab, max_per_class=10, seed=1)
    assert sub == metrics.within_class_distance(many, lab, max_per_class=10, seed=1)
    assert sub != full and sub == pytest.approx(full, rel=0.2)
    with pytest.raises(ValueError, match="no class"):
        metrics.within_class_distance(images[:1], [0])


# ---------------------------------------------------------------- pose


def test_pose_error_hand_case():
    pred = np.array([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]])
    target = np.array([[0.5, 0.5, 1.0], [0.0, 0.5, 0.5]])
    err = metrics.pose_error(pred, target)
    np.testing.assert_allclose(err.per_dimension, [0.75, 0.0, 0.25])
    assert err.overall == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shape"):
        metrics.pose_error(pred, target[:1])


def test_chance_pose_error_hand_case_and_bruteforce():
    t = np.array([[0.0], [0.5], [1.0]])  # pairs: .5, 1, .5
    assert metrics.chance_pose_error(t).overall == pytest.approx(2 / 3)
    rng = np.random.default_rng(6)
    t = rng.uniform(size=(40, 3))
    diffs = np.abs(t[:, None, :] - t[None, :, :]).sum(axis=(0, 1)) / (40 * 39)
    chance = metrics.chance_pose_error(t)
    np.testing.assert_allclose(chance.per_dimension, diffs, rtol=1e-12)
    # It is the expectation of predicting a random other sample's pose.
    n = len(t)
    errs = []
    for _ in range(300):
        j = (np.arange(n) + rng.integers(1, n, size=n)) % n
        errs.append(metrics.pose_error(t[j], t).overall)
    assert np.mean(errs) == pytest.approx(chance.overall, rel=0.02)
    assert metrics.chance_pose_error(np.full((5, 3), 0.5)).overall == 0.0


# ---------------------------------------------------------------- R-precision


def test_r_precision_hand_case_with_tie_counted_against():
    q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    # Ranks of the own candidate among all three: 2, 3, and 3 (tie with another at cos .707).
    r = metrics.r_precision(q, c, k=(1, 2, 3), pool_size=3)
    assert r == pytest.approx({1: 0.0, 2: 1 / 3, 3: 1.0})


def test_r_precision_perfect_collapsed_and_random():
    rng = np.random.default_rng(7)
    q = rng.normal(size=(150, 16))
    assert metrics.r_precision(q, 2.0 * q) == {1: 1.0, 5: 1.0, 10: 1.0}
    collapsed = np.ones_like(q)
    assert metrics.r_precision(q, collapsed) == {1: 0.0, 5: 0.0, 10: 0.0}
    noise = rng.normal(size=(1000, 16))
    r = metrics.r_precision(noise[:, :8], noise[:, 8:])
    assert r[1] == pytest.approx(0.01, abs=0.015)
    assert r[10] == pytest.approx(0.10, abs=0.03)
    assert r[1] <= r[5] <= r[10]


def test_r_precision_deterministic_with_seed():
    rng = np.random.default_rng(8)
    q = rng.normal(size=(120, 4))
    c = q + rng.normal(size=q.shape) * 1.5
    a = metrics.r_precision(q, c, seed=3)
    assert a == metrics.r_precision(q, c, seed=3)
    others = [metrics.r_precision(q, c, seed=s) for s in range(4, 9)]
    assert any(o != a for o in others)


def test_r_precision_other_category_pools():
    # Same-category candidates equal the own one (ties, counted against);
    # other-category candidates are orthogonal.
    q = np.repeat(np.eye(2), 12, axis=0)
    labels = np.repeat([0, 1], 12)
    r_cat = metrics.r_precision(q, q, k=(1,), pool_size=10, labels=labels)
    assert r_cat == {1: 1.0}
    r_any = metrics.r_precision(q, q, k=(1,), pool_size=10)
    assert r_any[1] < 0.1
    with pytest.raises(ValueError, match="other-category"):
        metrics.r_precision(q, q, k=(1,), pool_size=20, labels=labels)


def test_r_precision_errors():
    q = np.zeros((50, 3)) + 1
    with pytest.raises(ValueError, match="50 samples cannot form pools of 100"):
        metrics.r_precision(q, q)
    with pytest.raises(ValueError, match="k <= pool_size"):
        metrics.r_precision(q, q, k=(60,), pool_size=50)
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.r_precision(q, q[:, :2], pool_size=10)


def test_inception_score_does_not_depend_on_class_order():
    # 13 confident classes, 40 samples each, sorted by class as evaluation sets are.
    probs = np.repeat(np.eye(13) * 0.97 + 0.03 / 13, 40, axis=0)
    probs /= probs.sum(axis=1, keepdims=True)
    mean, _ = metrics.inception_score(probs, splits=10)
    assert mean > 8.0  # near the 13 of a perfect, balanced, confident classifier
    in_order, _ = metrics.inception_score(probs, splits=10, seed=None)
    assert in_order < 3.0  # what splitting a sorted set in order would report
