"""GAN-CLS generators (Chen et al. sec. 3.1) and the spectrogram resize."""

import keras
import numpy as np
import pytest

from tfav.errors import ConfigError
from tfav.models import generators


def _inputs(batch, z_dim, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 128)).astype("float32"),
            rng.normal(size=(batch, z_dim)).astype("float32")]


@pytest.mark.parametrize("size", [64, 128])
def test_sound_to_image_generator_shapes(size):
    g = generators.sound_to_image_generator(z_dim=10, base_filters=4, image_size=size)
    assert [tuple(i.shape[1:]) for i in g.inputs] == [(128,), (10,)]
    phi = g.get_layer("phi")
    assert phi.units == 64 and isinstance(g.get_layer("phi_lrelu"), keras.layers.LeakyReLU)
    out = np.asarray(g(_inputs(3, 10)))
    assert out.shape == (3, size, size, 3)
    assert np.all(np.abs(out) <= 1.0) and out.std() > 0


def test_bad_image_size():
    with pytest.raises(ConfigError, match="image_size"):
        generators.sound_to_image_generator(image_size=48)


def test_image_to_sound_generator_shapes():
    g = generators.image_to_sound_generator(z_dim=10, base_filters=4)
    assert tuple(g.get_layer("up3_relu").output.shape[1:]) == (32, 32, 8)  # 32x32x(2b)
    assert tuple(g.get_layer("up2x1_1_crop").output.shape[1:3]) == (64, 33)
    assert tuple(g.get_layer("up2x1_2_crop").output.shape[1:3]) == (128, 34)
    convs_after = [la for la in g.layers if la.name.startswith(("extra", "output")) and
                   isinstance(la, keras.layers.Conv2D)]
    assert len(convs_after) == 2  # "we add two layers to the generator"
    out = np.asarray(g(_inputs(2, 10)))
    assert out.shape == (2, 128, 34) and np.all(np.abs(out) <= 1.0)


def test_image_to_sound_generator_resize_convolutions_keep_the_shapes():
    g = generators.image_to_sound_generator(z_dim=10, base_filters=4, upsampling="resize")
    assert not [la for la in g.layers if isinstance(la, keras.layers.Conv2DTranspose)]
    assert tuple(g.get_layer("up2x1_1_conv").output.shape[1:3]) == (64, 33)
    assert tuple(g.get_layer("up2x1_2_conv").output.shape[1:3]) == (128, 34)
    out = np.asarray(g(_inputs(2, 10)))
    assert out.shape == (2, 128, 34) and out.std() > 0
    with pytest.raises(ConfigError, match="upsampling"):
        generators.image_to_sound_generator(upsampling="cubic")


def test_bilinear_upsampling_builds_both_generators_with_their_shapes():
    g = generators.sound_to_image_generator(z_dim=10, base_filters=4, upsampling="bilinear")
    assert g.get_layer("up1_resize").interpolation == "bilinear"
    assert np.asarray(g(_inputs(2, 10))).shape == (2, 64, 64, 3)
    g = generators.image_to_sound_generator(z_dim=10, base_filters=4, upsampling="bilinear")
    assert g.get_layer("up2x1_2_resize").interpolation == "bilinear"
    assert np.asarray(g(_inputs(2, 10))).shape == (2, 128, 34)


def test_generator_depends_on_encoding_and_noise():
    g = generators.sound_to_image_generator(z_dim=10, base_filters=4)
    e, z = _inputs(2, 10)
    e2, z2 = _inputs(2, 10, seed=1)
    base = np.asarray(g([e, z]))
    assert np.abs(base - np.asarray(g([e2, z]))).max() > 1e-4
    assert np.abs(base - np.asarray(g([e, z2]))).max() > 1e-4


def test_resize_spectrogram():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 128, 44)).astype("float32")
    y = np.asarray(generators.resize_spectrogram(x, 34))
    assert y.shape == (2, 128, 34)
    assert np.asarray(generators.resize_spectrogram(y, 44)).shape == (2, 128, 44)
    assert np.asarray(generators.resize_spectrogram(x[0], 34)).shape == (128, 34)
    # Only time is resampled: a spectrum constant in time is kept exactly,
    # and a linear ramp in time stays a ramp with the same end points.
    spectrum = np.broadcast_to(rng.uniform(-1, 1, (128, 1)), (128, 44)).astype("float32")
    np.testing.assert_allclose(generators.resize_spectrogram(spectrum, 34), spectrum[:, :34],
                               atol=1e-6)
    ramp = np.broadcast_to(np.linspace(-1, 1, 34, dtype="float32"), (128, 34))
    up = np.asarray(generators.resize_spectrogram(ramp, 44))
    assert np.all(np.diff(up, axis=1) >= -1e-6)
    assert up.min() >= -1 - 1e-6 and up.max() <= 1 + 1e-6


def test_image_to_sound_generator_keras_round_trip(tmp_path):
    g = generators.image_to_sound_generator(z_dim=10, base_filters=2)
    path = str(tmp_path / "g.keras")
    g.save(path)
    x = _inputs(2, 10, seed=3)
    np.testing.assert_array_equal(g(x), keras.models.load_model(path)(x))
