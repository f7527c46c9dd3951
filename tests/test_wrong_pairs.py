import numpy as np
import pytest
import tensorflow as tf

from tfav.data import wrong_pairs
from tfav.errors import ConfigError


def _wrong_pair_batch(labels):
    labels = tf.constant(labels, tf.int32)
    n = labels.shape[0]
    image = tf.reshape(tf.range(n * 2 * 2 * 3, dtype=tf.float32), [n, 2, 2, 3])
    waveform = tf.reshape(tf.range(n * 5, dtype=tf.float32), [n, 5])
    return {"label": labels, "image": image, "waveform": waveform}


def test_add_wrong_pairs_other_and_same_category():
    batch = _wrong_pair_batch([0, 0, 1, 1, 1, 2, 0, 2])
    labels = batch["label"].numpy()
    for seed in range(20):
        other = wrong_pairs.add_wrong_pairs(batch, "other_category", seed)
        j = other["wrong_index"].numpy()
        assert (labels[j] != labels).all()
        np.testing.assert_array_equal(other["wrong_label"], labels[j])
        np.testing.assert_array_equal(other["wrong_image"], batch["image"].numpy()[j])
        np.testing.assert_array_equal(other["wrong_waveform"], batch["waveform"].numpy()[j])
        same = wrong_pairs.add_wrong_pairs(batch, "same_category", [seed, 3])
        js = same["wrong_index"].numpy()
        assert (labels[js] == labels).all() and (js != np.arange(8)).all()
    a = wrong_pairs.add_wrong_pairs(batch, "other_category", 5)["wrong_index"].numpy()
    b = wrong_pairs.add_wrong_pairs(batch, "other_category", 5)["wrong_index"].numpy()
    np.testing.assert_array_equal(a, b)


def test_add_wrong_pairs_fallback_and_uniform():
    # One category only: other_category falls back to any other item.
    one = _wrong_pair_batch([3, 3, 3, 3])
    for seed in range(10):
        j = wrong_pairs.add_wrong_pairs(one, "other_category", seed)["wrong_index"].numpy()
        assert (j != np.arange(4)).all()
    # A category appearing once: same_category falls back to another item.
    j = wrong_pairs.add_wrong_pairs(_wrong_pair_batch([0, 1, 1]), "same_category", 0)["wrong_index"]
    assert j.numpy()[0] != 0 and list(j.numpy()[1:]) == [2, 1]
    # Uniform over the valid partners: item 0 (label 0) has partners 2, 3, 4, 5, 7.
    batch = _wrong_pair_batch([0, 0, 1, 1, 1, 2, 0, 2])
    draw = tf.function(
        lambda s: wrong_pairs.add_wrong_pairs(batch, "other_category", s)["wrong_index"]
    )
    draws = [draw(tf.constant([s, 1]))[0].numpy() for s in range(1000)]
    counts = np.bincount(draws, minlength=8)
    assert counts[[0, 1, 6]].sum() == 0
    assert counts[[2, 3, 4, 5, 7]].min() > 150 and counts.max() < 250  # expected 200 each
    with pytest.raises(Exception, match="wrong_pairs"):
        wrong_pairs.add_wrong_pairs(batch, "random", 0)


def test_hard_wrong_pairs_follow_the_confusion():
    # Category 0 is mistaken for 2 only; category 1 for nothing (its row stays uniform).
    confusion = np.array([[90, 0, 10], [0, 100, 0], [5, 5, 90]])
    w = wrong_pairs.hard_wrong_pair_weights(confusion, 0.6)
    np.testing.assert_allclose(w[0], [1.0, 0.2, 0.8], atol=1e-6)  # 0.4/2 + 0.6 * (0, 1)
    np.testing.assert_allclose(w[1], [0.5, 1.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(w[2], [0.5, 0.5, 1.0], atol=1e-6)  # 0.2 + 0.6 * (.5, .5)
    np.testing.assert_allclose(wrong_pairs.hard_wrong_pair_weights(confusion, 0.0)[0, 1:], 0.5)
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="hardness"):
            wrong_pairs.hard_wrong_pair_weights(confusion, bad)
    with pytest.raises(ConfigError, match=r"\[C, C\]"):
        wrong_pairs.hard_wrong_pair_weights(np.ones((2, 3)), 0.5)

    batch = _wrong_pair_batch([0, 0, 1, 1, 1, 2, 0, 2])
    labels = batch["label"].numpy()
    draw = tf.function(lambda s, cw: wrong_pairs.add_wrong_pairs(
        batch, "other_category", s, cw)["wrong_index"])
    # Equal weights draw exactly what the uniform draw does.
    equal = tf.ones((3, 3))
    for s in range(20):
        seed = tf.constant([s, 2])
        np.testing.assert_array_equal(draw(seed, equal), wrong_pairs.add_wrong_pairs(
            batch, "other_category", seed)["wrong_index"])
    # Item 0 (category 0): category 1 has 3 items of weight 0.2, category 2 two of 0.8,
    # so category 2 is drawn 1.6 / (0.6 + 1.6) = 73% of the time, against 40% uniformly.
    js = np.array([draw(tf.constant([s, 1]), w).numpy() for s in range(1000)])
    assert (labels[js] != labels).all()
    share = (labels[js[:, 0]] == 2).mean()
    assert 0.68 < share < 0.78, share
