"""GAN-CLS discriminators (Chen et al. sec. 3.1), with and without spectral norm."""

import keras
import numpy as np

from tfav.models import discriminators


def _encoding(batch, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 128)).astype("float32")


def test_sound_to_image_discriminator_gan_cls_head():
    d = discriminators.sound_to_image_discriminator(base_filters=4)
    assert tuple(d.get_layer("phi_replicated").output.shape[1:]) == (4, 4, 64)
    assert tuple(d.get_layer("down4_lrelu").output.shape[1:]) == (4, 4, 32)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 64, 64, 3)).astype("float32")
    logits = np.asarray(d([x, _encoding(3)]))
    assert logits.shape == (3, 1) and np.all(np.isfinite(logits))
    # The score depends on the condition (matching-aware discriminator).
    assert np.abs(logits - np.asarray(d([x, _encoding(3, seed=1)]))).max() > 1e-5
    assert discriminators.sound_to_image_discriminator(
        base_filters=4, image_size=128).output.shape[1:] == (1,)


def test_image_to_sound_discriminator_shapes():
    d = discriminators.image_to_sound_discriminator(base_filters=4, extra_conv_layers=3)
    assert tuple(d.get_layer("down2x1_1_lrelu").output.shape[1:3]) == (64, 33)
    assert tuple(d.get_layer("down2x1_2_lrelu").output.shape[1:3]) == (32, 32)
    extra = [la for la in d.layers if la.name.startswith("extra") and la.name.endswith("_conv")]
    assert len(extra) == 3 and all(la.strides == (1, 1) for la in extra)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 128, 34)).astype("float32")
    logits = np.asarray(d([x, _encoding(2)]))
    assert logits.shape == (2, 1) and np.all(np.isfinite(logits))


def test_image_to_sound_discriminator_default_has_12_extra_layers():
    d = discriminators.image_to_sound_discriminator()
    extra = [la for la in d.layers if la.name.startswith("extra") and la.name.endswith("_conv")]
    assert len(extra) == 12 and all(la.filters == 32 for la in extra)


def test_spectral_norm_wraps_every_conv_and_dense():
    for d in (discriminators.sound_to_image_discriminator(base_filters=4, spectral_norm=True),
              discriminators.image_to_sound_discriminator(
                  base_filters=4, extra_conv_layers=2, spectral_norm=True)):
        kinds = [type(la) for la in d.layers]
        assert keras.layers.Conv2D not in kinds and keras.layers.Dense not in kinds
        assert keras.layers.BatchNormalization not in kinds
        wrapped = [la for la in d.layers if isinstance(la, keras.layers.SpectralNormalization)]
        assert wrapped and all(
            isinstance(w.layer, (keras.layers.Conv2D, keras.layers.Dense)) for w in wrapped)
    plain = discriminators.sound_to_image_discriminator(base_filters=4)
    assert not any(isinstance(la, keras.layers.SpectralNormalization) for la in plain.layers)


def test_spectral_norm_discriminator_keras_round_trip(tmp_path):
    d = discriminators.image_to_sound_discriminator(
        base_filters=2, extra_conv_layers=1, spectral_norm=True)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 128, 34)).astype("float32")
    d([x, _encoding(2)], training=True)  # one power iteration: kernels and u change
    path = str(tmp_path / "d.keras")
    d.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded([x, _encoding(2)]), d([x, _encoding(2)]), atol=1e-6)


def test_minibatch_std_channel_by_hand_groups_consecutive_samples_and_round_trips(tmp_path):
    from tfav.models.blocks import MinibatchStd

    layer = MinibatchStd(group_size=2)
    x = np.zeros((4, 2, 2, 1), "float32")
    x[1] = 2.0  # group (0, 1): every feature differs by 2 -> std 1; group (2, 3): identical
    out = np.asarray(layer(x))
    assert out.shape == (4, 2, 2, 2)
    np.testing.assert_allclose(out[..., :1], x)
    np.testing.assert_allclose(out[:2, ..., 1], 1.0, atol=1e-4)
    np.testing.assert_allclose(out[2:, ..., 1], 0.0, atol=1e-3)
    # A batch that is not a multiple of the group is one group.
    odd = np.asarray(layer(x[:3]))[..., 1]
    np.testing.assert_allclose(odd, np.std(x[:3, 0, 0, 0]), atol=1e-4)
    d = discriminators.sound_to_image_discriminator(base_filters=4, minibatch_std=4)
    assert tuple(d.get_layer("minibatch_std").output.shape[1:]) == (4, 4, 33)
    images = np.random.default_rng(0).uniform(-1, 1, (8, 64, 64, 3)).astype("float32")
    collapsed = np.repeat(images[:1], 8, axis=0)
    # The channel reads how much the batch differs: zero for a collapsed batch.
    probe = keras.Model(d.inputs, d.get_layer("minibatch_std").output)
    assert float(np.asarray(probe([collapsed, _encoding(8)]))[..., -1].max()) < 1e-3
    assert float(np.asarray(probe([images, _encoding(8)]))[..., -1].min()) > 1e-3
    path = tmp_path / "d.keras"
    d.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(again([images, _encoding(8)])),
                               np.asarray(d([images, _encoding(8)])), rtol=1e-5, atol=1e-5)
