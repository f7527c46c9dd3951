"""Yang et al.: two-stage generator, K/P discriminators, I2A consistency, metrics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfav.errors import DataError
from tfav.models.two_stage import image_to_audio_regressor, stage1_generator, stage2_generator
from tfav.objectives import losses
from tfav.objectives.diverse_gan import DiverseGAN, diverse_gan, pretrain_i2a, r_precision_metrics

DIM, Z, CLASSES = 6, 4, 3


def _batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "condition": rng.normal(size=(n, DIM)).astype("float32"),
        "target": rng.uniform(-1, 1, (n, 128, 128, 3)).astype("float32"),
        "wrong_target": rng.uniform(-1, 1, (n, 128, 128, 3)).astype("float32"),
        "label": rng.integers(0, CLASSES, n).astype("int32"),
    }


@pytest.fixture(scope="module")
def gan():
    return diverse_gan(DIM, CLASSES, z_dim=Z, base_filters=4, latent_dim=8, seed=0)


def test_shapes_of_the_two_stages():
    g64 = stage1_generator(DIM, Z, latent_dim=8, base_filters=4)
    g128 = stage2_generator(DIM, latent_dim=8, base_filters=4)
    a = tf.zeros((2, DIM))
    image, h = g64([a, tf.ones((2, Z))])
    assert image.shape == (2, 64, 64, 3) and h.shape == (2, 8)
    assert g128([a, h, image]).shape == (2, 128, 128, 3)
    assert image_to_audio_regressor(DIM, base_filters=4)(np.zeros((1, 128, 128, 3))).shape == (
        1, DIM)


def test_stage2_refines_the_stage1_image():
    # Sec. II-B: G128 takes I64 (and so z's variation), not only (a, h).
    g128 = stage2_generator(DIM, latent_dim=8, base_filters=4)
    a, h = tf.zeros((2, DIM)), tf.ones((2, 8))
    images = tf.random.stateless_uniform((2, 64, 64, 3), seed=(1, 2), minval=-1, maxval=1)
    out = g128([a, h, images])
    same = g128([a, h, tf.reverse(images, axis=[0])])
    assert float(tf.reduce_max(tf.abs(out[0] - same[1]))) < 1e-4
    assert float(tf.reduce_mean(tf.abs(out[0] - out[1]))) > 1e-3


def test_consistency_loss_by_hand():
    a, b = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[1.0, 0.0], [3.0, 4.0]])
    # Euclidean distances 2 and 5, averaged over the batch.
    assert float(losses.feature_consistency_loss(a, b)) == pytest.approx((2 + 5) / 2)


def test_train_step_updates_both_stages_and_keeps_i2a_frozen(gan):
    before = {m.name: [np.array(w) for w in m.weights] for m in (gan.g64, gan.g128, gan.i2a)}
    logs = gan.train_step(_batch())
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    for m in (gan.g64, gan.g128):
        assert any(np.abs(a - np.asarray(w)).max() > 0 for a, w in zip(before[m.name], m.weights,
                                                                          strict=True)), m.name
    for a, w in zip(before["i2a"], gan.i2a.weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(w))
    with pytest.raises(DataError, match="wrong_target"):
        gan.train_step({k: v for k, v in _batch().items() if k != "wrong_target"})


def test_noise_gives_different_images_for_one_sound(gan):
    a = np.repeat(_batch()["condition"][:1], 2, axis=0)
    z = np.random.default_rng(1).normal(size=(2, Z)).astype("float32")
    images = np.asarray(gan.generate(a, z=z))
    assert images.shape == (2, 128, 128, 3)
    # (An untrained G draws faint images: compare with their own magnitude.)
    assert np.abs(images[0] - images[1]).mean() > 0.05 * np.abs(images).mean() > 0
    same = np.asarray(gan.generate(a, z=np.repeat(z[:1], 2, axis=0)))
    np.testing.assert_allclose(same[0], same[1], atol=1e-7)
    assert gan.generate(a, z=z, size=64).shape == (2, 64, 64, 3)


def test_consistency_gradient_reaches_the_generator(gan):
    # With a frozen linear I2A, the consistency term alone must move G.
    b = _batch()
    a = tf.constant(b["condition"])
    with tf.GradientTape() as tape:
        fakes = gan._generate(a, tf.zeros((4, Z)), training=True)
        con = losses.feature_consistency_loss(a, gan.i2a(fakes[1], training=False))
    grads = tape.gradient(con, gan.g128.trainable_weights)
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_pretrain_i2a_fits_and_metrics(gan, tmp_path):
    batches = [_batch(seed=s) for s in range(3)]
    ds = tf.data.Dataset.from_tensor_slices({k: np.concatenate([b[k] for b in batches])
                                             for k in batches[0]}).batch(4)
    mse = pretrain_i2a(gan, ds, epochs=2)
    assert np.isfinite(mse) and not gan.i2a.trainable
    cond = np.concatenate([b["condition"] for b in batches])
    m = r_precision_metrics(gan, cond, batch=5)
    assert m["r_precision_pool"] == 12 and 0 <= m["r_precision@1"] <= m["r_precision@5"] <= 1
    gan.save(tmp_path / "yang.keras")
    back = keras.models.load_model(tmp_path / "yang.keras")
    assert isinstance(back, DiverseGAN)
    z = np.zeros((2, Z), "float32")
    np.testing.assert_allclose(np.asarray(back.generate(cond[:2], z=z)),
                               np.asarray(gan.generate(cond[:2], z=z)), atol=1e-5)


def test_a2i_diverse_train_and_evaluate(tiny_pairs, tmp_path, monkeypatch):
    import json

    from tfav.data.layout import index_pairs
    from tfav.objectives.diverse_gan import DiverseHyper
    from tfav.runs import cached_model_dir
    from tfav.training import evaluate_run, train

    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))

    train("image_encoder", data=tiny_pairs, epochs=1, batch_size=4, verbose=0,
          out=cached_model_dir("image_encoder", index_pairs(tiny_pairs)))
    out = train("a2i_diverse", data=tiny_pairs, epochs=1, batch_size=4, out=tmp_path / "yang",
                hyper=DiverseHyper(base_filters=4, z_dim=4, features="fbank"), verbose=0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "a2i_diverse" and "acc_val" in summary["final"]
    assert np.isfinite(summary["final"]["consistency"])
    metrics = evaluate_run(out, n=16, log=lambda *a: None)
    for key in ("r_precision@1", "r_precision@5", "inception_score", "acc_val", "diversity",
                "diversity_ratio", "frechet_distance"):
        assert np.isfinite(metrics[key]), key
    assert metrics["r_precision_pool"] == 6


def test_resize_upsampling_and_averaged_sampler_survive_saving(tmp_path):
    gan = diverse_gan(DIM, CLASSES, z_dim=Z, base_filters=4, latent_dim=8, seed=0,
                      upsampling="resize", generator_average=0.9)
    assert any("resize" in layer.name for layer in gan.g128.layers)
    assert gan.sampling_generator is not gan.generator
    for step in range(3):
        gan.train_step(_batch(seed=step))
    trained = [np.asarray(w) for w in gan.generator.weights]
    averaged = [np.asarray(w) for w in gan.sampling_generator.weights]
    # The average trails the trained weights: it moved, but not all the way.
    assert any(np.abs(t - a).max() > 1e-6 for t, a in zip(trained, averaged, strict=True))
    cond, z = _batch()["condition"][:2], np.ones((2, Z), "float32")
    direct = np.asarray(gan.generator([cond, z], training=False))
    sampled = np.asarray(gan.generate(cond, z=z))
    assert np.abs(direct - sampled).max() > 1e-6, "generate() does not use the average"
    gan.save(tmp_path / "yang.keras")
    back = keras.models.load_model(tmp_path / "yang.keras")
    np.testing.assert_allclose(np.asarray(back.generate(cond, z=z)), sampled, atol=1e-5)


def test_mode_seeking_loss_by_hand():
    # Mao et al. 2019: 1 / (mean|I1 - I2| / mean|z1 - z2| + eps).
    i1, i2 = np.zeros((2, 3)), np.full((2, 3), 0.5)
    z1, z2 = np.zeros((2, 4)), np.full((2, 4), 2.0)
    assert float(losses.mode_seeking_loss(i1, i2, z1, z2)) == pytest.approx(1 / (0.25 + 1e-5))


def test_mode_seeking_pushes_images_of_one_sound_apart(tmp_path):
    gan = diverse_gan(DIM, CLASSES, z_dim=Z, base_filters=4, latent_dim=8, seed=0,
                      mode_seeking_weight=1.0)
    a = tf.constant(np.repeat(_batch()["condition"][:2], 2, axis=0))
    z = tf.constant(np.random.default_rng(3).normal(size=(4, Z)).astype("float32"))
    weights = gan.g64.trainable_weights + gan.g128.trainable_weights
    optimizer = keras.optimizers.Adam(1e-2)

    def spread():
        images = gan._generate(a, z, training=False)[1]
        return float(tf.reduce_mean(tf.abs(images[:2] - images[2:])))

    before = spread()
    for _ in range(5):  # the term alone, on the same two noises per sound
        with tf.GradientTape() as tape:
            images = gan._generate(a, z, training=True)[1]
            ms = losses.mode_seeking_loss(images[:2], images[2:], z[:2], z[2:])
        optimizer.apply_gradients(zip(tape.gradient(ms, weights), weights, strict=True))
    assert spread() > 1.5 * before
    logs = gan.train_step(_batch())
    assert np.isfinite(float(logs["mode_seeking"])) and float(logs["mode_seeking"]) > 0
    gan.save(tmp_path / "ms.keras")
    assert keras.models.load_model(tmp_path / "ms.keras").mode_seeking_weight == 1.0
