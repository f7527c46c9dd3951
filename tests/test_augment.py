"""DiffAugment (tfav.objectives.augment): each transform by its effect, gradients, the GAN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfav.errors import ConfigError
from tfav.objectives.augment import blur, cutout, diff_augment, parse_policy, translation


def _images(n=8, size=16, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def test_translation_shifts_each_image_by_at_most_an_eighth_with_zero_fill():
    x = _images()
    y = np.asarray(translation(tf.constant(x), keras.random.SeedGenerator(1)))
    shifts = set()
    for a, b in zip(x, y, strict=True):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.allclose(b, np.pad(a, ((2, 2), (2, 2), (0, 0)))[2 + dy:18 + dy,
                                                                        2 + dx:18 + dx])]
        assert found, "output is not a zero-filled shift of its input by <= 2 pixels"
        shifts.add(found[0])
    assert len(shifts) > 1  # drawn per image


def test_cutout_zeroes_one_square_of_half_the_side_at_most():
    x = _images() + 3.0  # no zeros before
    y = np.asarray(cutout(tf.constant(x), keras.random.SeedGenerator(2)))
    for a, b in zip(x, y, strict=True):
        zero = np.all(b == 0, axis=-1)
        rows, cols = np.nonzero(zero)
        assert 0 < zero.sum() <= 8 * 8
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
        np.testing.assert_array_equal(b[~zero], a[~zero])


def test_blur_keeps_flat_images_and_the_mean_and_damps_pixel_noise():
    seed = keras.random.SeedGenerator(0)
    flat = np.full((2, 16, 16, 3), 0.3, "float32")
    np.testing.assert_allclose(np.asarray(blur(tf.constant(flat), seed)), flat, atol=1e-6)
    x = _images()
    y = np.asarray(blur(tf.constant(x), seed))
    assert y.shape == x.shape
    assert abs(y.mean() - x.mean()) < 0.01
    step = np.abs(np.diff(y, axis=1)).mean() / np.abs(np.diff(x, axis=1)).mean()
    assert step < 0.25  # a 1-pixel Gaussian leaves little of white noise's pixel steps
    # an edge stays an edge, softened: half-way values appear only next to it
    edge = np.concatenate([-np.ones((1, 16, 8, 3)), np.ones((1, 16, 8, 3))], axis=2)
    row = np.asarray(blur(tf.constant(edge.astype("float32")), seed))[0, 8, :, 0]
    assert row[0] == pytest.approx(-1) and row[-1] == pytest.approx(1)
    assert np.all(np.diff(row) >= 0) and np.sum(np.abs(row) < 0.9) <= 4


def test_policy_is_differentiable_and_random_per_call():
    x = tf.constant(_images())
    seed = keras.random.SeedGenerator(3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = diff_augment(x, "color,translation,cutout", seed)
        loss = tf.reduce_sum(y**2)
    grad = tape.gradient(loss, x)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0
    assert np.abs(np.asarray(diff_augment(x, "color", seed) - diff_augment(x, "color", seed))
                  ).max() > 1e-3
    assert parse_policy("none") == () and parse_policy("") == ()
    with pytest.raises(ConfigError, match="unknown augmentation rotate"):
        parse_policy("translation,rotate")


def test_conditional_gan_trains_with_augmentation_and_round_trips(tmp_path):
    from tfav.models import discriminators, generators
    from tfav.objectives.gan_cls import ConditionalGAN

    g = generators.sound_to_image_generator(encoding_dim=4, z_dim=3, base_filters=4,
                                            image_size=16, upsampling="resize")
    d = discriminators.sound_to_image_discriminator(encoding_dim=4, base_filters=4,
                                                    image_size=16)
    encoder = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    gan = ConditionalGAN(g, d, encoder, z_dim=3, seed=0, augment="translation,cutout")
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    batch = {"condition": np.ones((4, 5), "float32"), "target": _images(4),
             "wrong_target": _images(4, seed=1)}
    before = [np.asarray(w) for w in d.trainable_weights]
    logs = gan.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(np.abs(np.asarray(w) - b).max() > 0 for w, b in zip(d.trainable_weights, before,
                                                                   strict=True))
    # Training scores augmented images (random per call); inference the images themselves.
    enc = gan.encode(batch["condition"])
    target = tf.constant(batch["target"])
    scores = [np.asarray(gan._d(target, enc, training=t)[0]) for t in (True, True, False, False)]
    assert np.abs(scores[0] - scores[1]).max() > 1e-5
    np.testing.assert_allclose(scores[2], scores[3], atol=1e-6)
    path = tmp_path / "gan.keras"
    gan.save(path)
    back = keras.models.load_model(path)
    assert back.augment == "translation,cutout"
