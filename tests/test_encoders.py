"""Chen et al. encoders: classifiers, their 128-d cut, the S2I-A stacked autoencoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfav.models import encoders


def _lms(batch=4, seed=0, frames=44):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, 128, frames)).astype("float32")


def test_sound_classifier_fig4_structure_and_encoding():
    clf = encoders.sound_classifier(13, base_filters=4, hidden_units=16)
    convs = [la for la in clf.layers if isinstance(la, keras.layers.Conv2D)]
    dense = [la for la in clf.layers if isinstance(la, keras.layers.Dense)]
    assert len(convs) == 4 and len(dense) == 3
    assert all(d.kernel_regularizer is not None for d in dense)
    assert pytest.approx(float(dense[0].kernel_regularizer.l2)) == 0.015
    # Dropout 0.7 / 0.8 in the paper are keep probabilities.
    rates = [la.rate for la in clf.layers if isinstance(la, keras.layers.Dropout)]
    assert rates == [0.3, 0.2]
    x = _lms()
    assert clf(x).shape == (4, 13)
    encoder = encoders.encoder_from_classifier(clf)
    e = encoder(x, training=False)
    assert e.shape == (4, 128)
    np.testing.assert_allclose(e, encoder(x, training=False))
    assert encoder.layers[-1] is clf.get_layer("encoding")  # shares the weights


def test_image_classifier_fig5_structure_and_encoding():
    clf = encoders.image_classifier(5, image_size=32, base_filters=4, hidden_units=16)
    convs = [la for la in clf.layers if isinstance(la, keras.layers.Conv2D)]
    assert len(convs) == 6 and all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(la, keras.layers.Dense) for la in clf.layers) == 3
    x = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    assert clf(x).shape == (3, 5)
    assert encoders.encoder_from_classifier(clf)(x).shape == (3, 128)


def test_autoencoder_paper_shapes():
    ae = encoders.sound_autoencoder()
    shapes = {k: tuple(v.shape[1:]) for k, v in ae.network.output.items()}
    assert shapes["target_4"] == (120, 36, 1)  # "a 2D array of shape 120x36"
    assert shapes["encoding"] == (128,)
    for k in range(1, 5):
        assert shapes[f"target_{k}"] == shapes[f"reconstruction_{k}"]
    assert ae.encoder(_lms(2)).shape == (2, 128)


def test_autoencoder_stacks_trained_by_their_own_mse_only():
    ae = encoders.sound_autoencoder(filters=(2, 2, 1))
    x = tf.constant(_lms(2))
    with tf.GradientTape() as tape:
        out = ae.network(x, training=True)
        mse4 = tf.reduce_mean(tf.square(out["reconstruction_4"] - out["target_4"]))
    conv1 = ae.network.get_layer("stack1_conv").kernel
    dense = ae.network.get_layer("encoding").kernel
    g_conv1, g_dense = tape.gradient(mse4, [conv1, dense])
    assert g_conv1 is None or float(tf.reduce_max(tf.abs(g_conv1))) == 0.0
    assert float(tf.reduce_max(tf.abs(g_dense))) > 0.0


def test_autoencoder_stacks_limits_the_loss():
    ae = encoders.sound_autoencoder(n_mels=32, frames=20, filters=(2, 2, 1))
    first = encoders.SoundAutoencoder(ae.network, stacks=1)
    x = tf.constant(_lms(2)[:, :32, :20])
    full, only_first = ae.test_step(x), first.test_step(x)
    assert float(only_first["loss"]) == pytest.approx(float(only_first["mse_1"]), rel=1e-6)
    parts = sum(float(full[f"mse_{k}"]) for k in range(1, 5))
    assert float(full["loss"]) == pytest.approx(parts, rel=1e-5)
    assert float(full["loss"]) > float(only_first["loss"])


def test_autoencoder_fit_lowers_loss_and_round_trips(tmp_path):
    ae = encoders.sound_autoencoder(n_mels=32, frames=20, filters=(2, 2, 1))
    ae.compile(optimizer=keras.optimizers.Adam(3e-3), run_eagerly=True)  # tracing costs more
    ds = tf.data.Dataset.from_tensor_slices(_lms(8)[:, :32, :20]).batch(4)
    before = ae.evaluate(ds, verbose=0, return_dict=True)
    history = ae.fit(ds, epochs=4, verbose=0, shuffle=False).history
    after = ae.evaluate(ds, verbose=0, return_dict=True)
    assert set(history) == {"loss", "mse_1", "mse_2", "mse_3", "mse_4"}
    assert after["loss"] < before["loss"]
    path = str(tmp_path / "ae.keras")
    ae.save(path)
    loaded = keras.models.load_model(path)
    x = _lms(2, 5)[:, :32, :20]
    np.testing.assert_allclose(loaded.encoder(x), ae.encoder(x), atol=1e-6)
