"""GAN-CLS losses (Chen et al. eqs. 3-4) and the ConditionalGAN training model."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfav.errors import DataError
from tfav.models import discriminators, encoders, generators
from tfav.objectives import ConditionalGAN, gan_cls_discriminator_loss, gan_cls_generator_loss

Z = 8


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_losses_match_hand_computed_values():
    real, wrong, fake = np.array([2.0, -1.0]), np.array([0.5, -3.0]), np.array([-2.0, 1.0])
    s_r, s_w, s_f = _sigmoid(real), _sigmoid(wrong), _sigmoid(fake)
    eq4 = np.mean(np.log(s_r)) + (np.mean(np.log(1 - s_w)) + np.mean(np.log(1 - s_f))) / 2
    assert float(gan_cls_discriminator_loss(real, wrong, fake)) == pytest.approx(-eq4, rel=1e-6)
    plain = np.mean(np.log(s_r)) + np.mean(np.log(1 - s_f))
    assert float(gan_cls_discriminator_loss(real, None, fake)) == pytest.approx(-plain, rel=1e-6)
    assert float(gan_cls_generator_loss(fake)) == pytest.approx(-np.mean(np.log(s_f)), rel=1e-6)


def test_losses_stable_for_extreme_logits():
    big = np.array([[200.0], [-200.0]], dtype="float32")
    assert float(gan_cls_generator_loss(big)) == pytest.approx(100.0, rel=1e-5)
    d = float(gan_cls_discriminator_loss(big, big, big))
    assert np.isfinite(d) and d == pytest.approx(100.0 + 100.0, rel=1e-5)


def _sigma(wrapper):
    kernel = np.asarray(wrapper.layer.kernel)
    return float(np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0])


def _weights(model):
    return [np.array(w) for w in model.weights]


def _changed(before, model):
    pairs = zip(before, model.weights, strict=True)
    return max(float(np.abs(a - np.asarray(b)).max()) for a, b in pairs)


def _s2i_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "condition": rng.uniform(-1, 1, (n, 128, 44)).astype("float32"),
        "target": rng.uniform(-1, 1, (n, 64, 64, 3)).astype("float32"),
        "wrong_target": rng.uniform(-1, 1, (n, 64, 64, 3)).astype("float32"),
    }


def _adam():
    return keras.optimizers.Adam(1e-3, beta_1=0.5)


def _eager_d_loss(gan, data):
    """D loss of ``test_step`` on the first four examples, without tracing a graph."""
    for m in gan.metrics:
        m.reset_state()
    return float(gan.test_step({k: tf.constant(v[:4]) for k, v in data.items()})["d_loss"])


@pytest.fixture(scope="module")
def s2i():
    """A tiny S2I-C GAN with spectral norm, trained for 6 steps (compiled train_step)."""
    keras.utils.set_random_seed(0)  # the same initial weights whatever ran before
    encoder = encoders.encoder_from_classifier(
        encoders.sound_classifier(3, base_filters=2, hidden_units=8))
    g = generators.sound_to_image_generator(z_dim=Z, base_filters=4)
    d = discriminators.sound_to_image_discriminator(base_filters=4, spectral_norm=True)
    gan = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0)
    gan.compile(d_optimizer=_adam(), g_optimizer=_adam())
    data = _s2i_data()
    wrapped = [la for la in d.layers if isinstance(la, keras.layers.SpectralNormalization)]
    before = SimpleNamespace(
        encoder=_weights(encoder), g=_weights(g), d=_weights(d),
        sigma=[_sigma(w) for w in wrapped],
        d_loss=_eager_d_loss(gan, data),
    )
    ds = tf.data.Dataset.from_tensor_slices(data).batch(4)
    history = gan.fit(ds, epochs=3, verbose=0, shuffle=False).history
    return SimpleNamespace(gan=gan, data=data, ds=ds, before=before, history=history,
                           wrapped=wrapped)


def test_training_updates_g_and_d_and_freezes_encoder(s2i):
    gan, before = s2i.gan, s2i.before
    assert set(s2i.history) == {"d_loss", "g_loss", "real_score", "wrong_score", "fake_score"}
    assert all(np.isfinite(v).all() for v in s2i.history.values())
    assert abs(_eager_d_loss(gan, s2i.data) - before.d_loss) > 1e-3
    assert _changed(before.g, gan.generator) > 1e-4
    assert _changed(before.d, gan.discriminator) > 1e-4
    assert _changed(before.encoder, gan.condition_encoder) == 0.0
    assert not gan.condition_encoder.trainable
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 6


def test_spectral_norm_sigma_approaches_one(s2i):
    # Glorot-initialised kernels start far from unit spectral norm.
    assert max(abs(s - 1) for s in s2i.before.sigma) > 0.3
    sigmas = [_sigma(w) for w in s2i.wrapped]
    assert len(sigmas) == 7
    np.testing.assert_allclose(sigmas, 1.0, atol=0.05)


def test_generate_depends_on_condition_and_noise(s2i):
    gan, cond = s2i.gan, s2i.data["condition"][:2]
    z = np.random.default_rng(3).normal(size=(2, Z)).astype("float32")
    base = np.asarray(gan.generate(cond, z=z))
    assert base.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(base, np.asarray(gan.generate(cond, z=z)))
    other_cond = s2i.data["condition"][2:4]
    assert np.abs(base - np.asarray(gan.generate(other_cond, z=z))).max() > 1e-5
    assert np.abs(base - np.asarray(gan.generate(cond, z=z + 1))).max() > 1e-5
    np.testing.assert_array_equal(gan.generate(cond, seed=7), gan.generate(cond, seed=7))
    assert np.abs(np.asarray(gan.generate(cond)) - np.asarray(gan.generate(cond))).max() > 0


def test_keras_round_trip_restores_generator_and_optimizers(s2i, tmp_path):
    gan = s2i.gan
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ConditionalGAN) and loaded.z_dim == Z and loaded.use_wrong_pairs
    cond = s2i.data["condition"][:3]
    z = np.random.default_rng(4).normal(size=(3, Z)).astype("float32")
    np.testing.assert_array_equal(gan.generate(cond, z=z), loaded.generate(cond, z=z))
    for name in ("d_optimizer", "g_optimizer"):
        old, new = getattr(gan, name), getattr(loaded, name)
        assert int(new.iterations) == int(old.iterations) == 6
        assert len(new.variables) == len(old.variables) > 2
        for a, b in zip(old.variables, new.variables, strict=True):
            np.testing.assert_array_equal(a, b)


def test_i2s_without_wrong_pairs_and_g_steps():
    """The S2I-N path (no wrong pairs) on the I2S networks, two G steps per D step.

    Eager, because tracing this graph costs more than running it here.
    """
    encoder = encoders.encoder_from_classifier(
        encoders.image_classifier(3, base_filters=2, hidden_units=8))
    g = generators.image_to_sound_generator(z_dim=Z, base_filters=2)
    d = discriminators.image_to_sound_discriminator(base_filters=2, extra_conv_layers=1)
    gan = ConditionalGAN(g, d, encoder, z_dim=Z, use_wrong_pairs=False, seed=1, g_steps=2)
    gan.compile(d_optimizer=_adam(), g_optimizer=_adam(), run_eagerly=True)
    rng = np.random.default_rng(5)
    data = {"condition": rng.uniform(-1, 1, (4, 64, 64, 3)).astype("float32"),
            "target": rng.uniform(-1, 1, (4, 128, 34)).astype("float32")}
    g_before = _weights(g)
    history = gan.fit(data, batch_size=4, epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "real_score", "fake_score"}
    assert int(gan.g_optimizer.iterations) == 2 * int(gan.d_optimizer.iterations) == 2
    assert _changed(g_before, g) > 1e-4
    assert gan.generate(data["condition"]).shape == (4, 128, 34)
    val = gan.evaluate(data, batch_size=4, verbose=0, return_dict=True)
    assert np.isfinite(val["d_loss"]) and "wrong_score" not in val
    with_wrong = ConditionalGAN(g, d, encoder, z_dim=Z)
    with pytest.raises(DataError, match="wrong_target"):
        with_wrong.test_step(data)


def test_averaged_generator_follows_the_warm_up_moving_average():
    encoder = encoders.encoder_from_classifier(
        encoders.sound_classifier(3, base_filters=2, hidden_units=8))
    g = generators.sound_to_image_generator(z_dim=Z, base_filters=4, upsampling="resize")
    d = discriminators.sound_to_image_discriminator(base_filters=4)
    gan = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0, generator_average=0.9)
    gan.compile(d_optimizer=_adam(), g_optimizer=_adam())
    w0 = _weights(g)
    assert _changed(w0, gan.averaged_generator) == 0.0
    data = {k: v[:4] for k, v in _s2i_data().items()}
    gan.fit(tf.data.Dataset.from_tensor_slices(data).batch(4), epochs=1, verbose=0)
    w1 = _weights(g)
    assert _changed(w0, g) > 1e-4
    # One generator step: t = 1, momentum min(0.9, 2 / 11).
    m = 2.0 / 11.0
    for a, b, avg in zip(w0, w1, gan.averaged_generator.weights, strict=True):
        np.testing.assert_allclose(np.asarray(avg), m * a + (1 - m) * b, atol=1e-6)
    # Samples come from the averaged weights, not the trained ones.
    cond, z = data["condition"][:2], tf.ones((2, Z))
    sample = np.asarray(gan.generate(cond, z=z))
    enc = gan.condition_encoder(cond)
    np.testing.assert_allclose(sample, gan.averaged_generator([enc, z]), atol=1e-6)
    assert np.abs(sample - np.asarray(g([enc, z]))).max() > 1e-5


def test_auxiliary_classifier_learns_the_classes_and_trains_g(tmp_path):
    """D with class logits (``num_classes``): D learns the real samples' classes and
    G's samples become classified as their condition's class."""
    keras.utils.set_random_seed(0)
    encoder = encoders.encoder_from_classifier(
        encoders.sound_classifier(2, base_filters=2, hidden_units=8))
    g = generators.sound_to_image_generator(z_dim=Z, base_filters=4)
    d = discriminators.sound_to_image_discriminator(base_filters=4, num_classes=2)
    gan = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0)
    gan.compile(d_optimizer=_adam(), g_optimizer=_adam())
    rng = np.random.default_rng(0)
    label = np.arange(16) % 2
    sign = np.where(label == 1, 1.0, -1.0)[:, None, None, None]
    data = {  # class 1: bright images, loud sounds; class 0: dark, quiet
        "condition": (rng.uniform(-1, 1, (16, 128, 44)) * 0.2 + sign[:, :, :, 0] * 0.5),
        "target": np.clip(rng.normal(0, 0.2, (16, 64, 64, 3)) + 0.6 * sign, -1, 1),
        "wrong_target": np.clip(rng.normal(0, 0.2, (16, 64, 64, 3)) - 0.6 * sign, -1, 1),
        "label": label.astype("int32"),
    }
    data = {k: v.astype("float32") if k != "label" else v for k, v in data.items()}
    history = gan.fit(tf.data.Dataset.from_tensor_slices(data).batch(8), epochs=15,
                      verbose=0).history
    assert "class_loss" in history
    enc = gan.condition_encoder(data["condition"])
    _, real_classes = d([tf.constant(data["target"]), enc], training=True)
    assert (np.argmax(real_classes, -1) == label).mean() == 1.0
    # With D frozen, G's steps move its samples towards the class in ``label``: from
    # the same G, steps on the true labels make D give the true class more probability
    # than steps on the flipped labels.
    gan.d_optimizer.learning_rate.assign(0.0)
    gan.g_optimizer.learning_rate.assign(1e-2)
    z = tf.constant(rng.normal(size=(16, Z)).astype("float32"))

    def p_true():
        _, classes = d([gan.generator([enc, z], training=True), enc], training=True)
        return float(np.mean(np.asarray(keras.ops.softmax(classes))[np.arange(16), label]))

    ds = {k: tf.data.Dataset.from_tensor_slices(dict(data, label=lab)).batch(8)
          for k, lab in (("true", data["label"]), ("flipped", 1 - data["label"]))}
    start = g.get_weights()
    gan.fit(ds["true"], epochs=10, verbose=0)
    after_true = p_true()
    g.set_weights(start)
    gan.fit(ds["flipped"], epochs=10, verbose=0)
    print("p_true", after_true, p_true())
    assert p_true() < after_true - 0.3
    with pytest.raises(DataError, match="label"):
        gan.test_step({k: v for k, v in data.items() if k != "label"})
    gan.save(tmp_path / "ac.keras")
    back = keras.models.load_model(tmp_path / "ac.keras")
    assert back.classifier
    np.testing.assert_allclose(back.discriminator([tf.constant(data["target"]), enc],
                                                  training=True)[1],
                               real_classes,
                               atol=1e-5)


def test_r1_penalty_is_the_squared_gradient_norm_on_real_images():
    """For D's logit = <w, image>, the gradient is w everywhere: R1 = ||w||^2."""
    image = keras.Input((8, 8, 3))
    encoding = keras.Input((128,))
    flat = keras.layers.Flatten()(image)
    logit = keras.layers.Add()([
        keras.layers.Dense(1, use_bias=False, name="w")(flat),
        keras.layers.Dense(1, kernel_initializer="zeros", use_bias=False)(encoding)])
    d = keras.Model([image, encoding], logit)
    w = np.random.default_rng(0).normal(size=(8 * 8 * 3, 1)).astype("float32")
    d.get_layer("w").set_weights([w])
    encoder = encoders.encoder_from_classifier(
        encoders.sound_classifier(3, base_filters=2, hidden_units=8))
    g = generators.sound_to_image_generator(z_dim=Z, base_filters=4, image_size=8)
    gan = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0, r1_weight=10.0)
    batch = {"target": np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 3)).astype("float32")}
    penalty = float(gan._r1_penalty(batch, tf.zeros((4, 128))))
    np.testing.assert_allclose(penalty, float(np.sum(w ** 2)), rtol=1e-5)


def test_mode_seeking_and_r1_train_and_round_trip(tmp_path):
    encoder = encoders.encoder_from_classifier(
        encoders.sound_classifier(3, base_filters=2, hidden_units=8))
    g = generators.sound_to_image_generator(z_dim=Z, base_filters=4)
    d = discriminators.sound_to_image_discriminator(base_filters=4)
    gan = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0, mode_seeking_weight=1.0,
                         r1_weight=1.0)
    gan.compile(d_optimizer=_adam(), g_optimizer=_adam(), run_eagerly=True)  # no tracing
    before = _weights(g)
    ds = tf.data.Dataset.from_tensor_slices(_s2i_data(n=4)).batch(4)
    history = gan.fit(ds, epochs=1, verbose=0, shuffle=False).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert _changed(before, gan.generator) > 1e-4
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.mode_seeking_weight == 1.0 and loaded.r1_weight == 1.0


def test_i2s_has_an_auxiliary_classifier_by_default_and_s2i_does_not():
    from tfav import objectives, tasks
    from tfav.models import encoders

    def outputs(task_name, values):
        task = tasks.get_task(task_name)
        modality = encoders.image_classifier if task.direction == "i2s" else (
            encoders.sound_classifier)
        encoder = encoders.encoder_from_classifier(modality(3, base_filters=4))
        hyper = objectives.make_hyper(task, {"base_filters": 4, "z_dim": 4, **values})
        model = objectives.build_model(task, 3, hyper, encoder=encoder)
        return len(model.discriminator.outputs)

    assert outputs("i2s", {}) == 2 and outputs("i2s", {"aux_classifier": False}) == 1
    assert outputs("s2i_instrument", {}) == 1 and outputs("s2i_instrument",
                                                          {"aux_classifier": True}) == 2


def test_joint_d_batch_scores_real_wrong_and_fake_in_one_batch_norm_batch(tmp_path):
    encoder = encoders.encoder_from_classifier(
        encoders.sound_classifier(3, base_filters=2, hidden_units=8))
    g = generators.sound_to_image_generator(z_dim=Z, base_filters=4)
    d = discriminators.sound_to_image_discriminator(base_filters=4)
    joint = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0, joint_d_batch=True,
                           mode_seeking_weight=1.0)
    apart = ConditionalGAN(g, d, encoder, z_dim=Z, seed=0)
    data = _s2i_data(n=4)
    enc = tf.random.normal((4, 128), seed=1)
    fake = tf.tanh(tf.random.normal((4, 64, 64, 3), seed=2))
    samples = [data["target"], data["wrong_target"], fake]
    whole = d([tf.concat(samples, 0), tf.concat([enc] * 3, 0)], training=True)
    real, wrong, fake_logit, _ = joint._scores(data, enc, fake, training=True)
    np.testing.assert_allclose(tf.concat([real, wrong, fake_logit], 0), whole, atol=1e-5)
    _, _, alone, _ = apart._scores(data, enc, fake, training=True)
    assert float(tf.reduce_max(tf.abs(alone - fake_logit))) > 1e-3  # batch norm differs
    g_logit, _ = joint._d_fake(fake, enc, data, enc)
    beside_real = d([tf.concat([data["target"], fake], 0), tf.concat([enc] * 2, 0)],
                    training=True)
    np.testing.assert_allclose(g_logit, beside_real[4:], atol=1e-5)
    joint.compile(d_optimizer=_adam(), g_optimizer=_adam())
    ds = tf.data.Dataset.from_tensor_slices(data).batch(4)
    history = joint.fit(ds, epochs=1, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    joint.save(tmp_path / "joint.keras")
    assert keras.models.load_model(tmp_path / "joint.keras").joint_d_batch
