"""Wan et al. 2019 losses (eqs. 1-2), the Table 4 ablation switches and SceneGAN training."""

import keras
import numpy as np
import pytest

from tfav.errors import ConfigError, DataError
from tfav.objectives import losses
from tfav.objectives.scene_gan import ABLATIONS, SceneGAN, ablation, scene_gan

DIM, Z, CLASSES = 6, 4, 3


def test_hinge_and_wasserstein_losses_by_hand():
    real, fake, wrong = np.array([2.0, 0.5]), np.array([-0.5, 1.0]), np.array([0.0, -2.0])
    d = np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))
    assert float(losses.hinge_discriminator_loss(real, fake)) == pytest.approx(d)
    yang = np.mean(np.maximum(0, 1 - real)) + (
        np.mean(np.maximum(0, 1 + wrong)) + np.mean(np.maximum(0, 1 + fake))) / 2
    assert float(losses.hinge_discriminator_loss(real, fake, wrong)) == pytest.approx(yang)
    assert float(losses.hinge_generator_loss(fake)) == pytest.approx(-0.25)
    assert float(losses.wasserstein_discriminator_loss(real, fake)) == pytest.approx(0.25 - 1.25)
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ce = -np.mean(np.log([p[0, 0], p[1, 2]]))
    assert float(losses.auxiliary_classifier_loss(logits, [0, 2])) == pytest.approx(ce, rel=1e-5)


def test_gradient_penalty_of_a_linear_critic():
    # D(x, s) = <w, x>: the gradient is w everywhere, so the penalty is (sqrt(|w|^2+eps) - 1)^2.
    w = np.random.default_rng(0).normal(size=(1, 4, 4, 2)).astype("float32") * 0.3

    def critic(inputs):
        return keras.ops.sum(inputs[0] * w, axis=(1, 2, 3))

    real = np.ones((3, 4, 4, 2), "float32")
    fake = -np.ones((3, 4, 4, 2), "float32")
    gp = float(losses.wasserstein_gradient_penalty(critic, real, fake, None, seed=1))
    assert gp == pytest.approx((np.sqrt(np.sum(w**2) + 1e-10) - 1) ** 2, rel=1e-4)
    # epsilon inside the root keeps the penalty finite and differentiable at a zero gradient.
    zero = float(losses.wasserstein_gradient_penalty(lambda i: keras.ops.sum(0 * i[0]), real,
                                                     fake, None, epsilon=1e-2))
    assert zero == pytest.approx((np.sqrt(1e-2) - 1) ** 2, rel=1e-5)


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "condition": rng.normal(size=(n, DIM)).astype("float32"),
        "target": rng.uniform(-1, 1, (n, 16, 16, 3)).astype("float32"),
        "label": rng.integers(0, CLASSES, n).astype("int32"),
    }


def _gan(name, **kw):
    return scene_gan(DIM, CLASSES, name, z_dim=Z, base_filters=4, image_size=16, seed=0, **kw)


def test_ablation_rows_switch_the_right_parts():
    assert list(ABLATIONS) == ["wgan_gp", "cgan", "sn", "hinge", "projection", "ac"]
    for name in ABLATIONS:
        gan = _gan(name)
        layers = {type(layer).__name__ for layer in gan.discriminator.layers}
        sw = ablation(name)
        assert ("SpectralNormalization" in layers) == sw["spectral_norm"], name
        assert ("InnerProduct" in layers) == (sw["head"] == "projection"), name
        assert (len(gan.discriminator.outputs) == 2) == sw["classifier"], name
        assert gan.loss == sw["loss"]
    critic = _gan("wgan_gp").discriminator.layers  # a gradient penalty needs no batch norm
    assert "BatchNormalization" not in {type(x).__name__ for x in critic}
    with pytest.raises(ConfigError, match="unknown ablation"):
        ablation("dropout")


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_every_row_trains_finite(name):
    gan = _gan(name, g_steps=2)
    logs = gan.train_step(_batch())
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    assert int(gan.g_optimizer.iterations) == 2 * int(gan.d_optimizer.iterations) == 2
    if name == "wgan_gp":
        assert float(logs["gradient_penalty"]) > 0
    if name == "ac":
        assert "class_loss" in logs


def test_default_ratio_is_five_generator_steps_per_discriminator_step():
    gan = _gan("ac")
    gan.train_step(_batch())
    assert int(gan.d_optimizer.iterations) == 1 and int(gan.g_optimizer.iterations) == 5


def test_noise_changes_the_image():
    gan = _gan("ac")
    s = np.repeat(_batch()["condition"][:1], 2, axis=0)
    z = np.random.default_rng(3).normal(size=(2, Z)).astype("float32")
    images = np.asarray(gan.generate(s, z=z))
    assert np.abs(images[0] - images[1]).mean() > 1e-3
    same = np.asarray(gan.generate(s, z=np.repeat(z[:1], 2, axis=0)))
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)


def _sigma(wrapper):
    kernel = np.asarray(wrapper.layer.kernel)
    return float(np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0])


def test_spectral_norm_power_iteration_runs_in_training():
    gan = _gan("ac", g_steps=1)
    wrappers = [x for x in gan.discriminator.layers
                if isinstance(x, keras.layers.SpectralNormalization)]
    # Make every raw kernel far from sigma = 1 first.
    for w in wrappers:
        w.layer.kernel.assign(np.asarray(w.layer.kernel) * 7.0)
    batch = _batch()
    for step in range(12):
        gan.train_step(_batch(seed=step) if step else batch)
    sigmas = [_sigma(w) for w in wrappers]
    assert all(abs(s - 1) < 0.2 for s in sigmas), sigmas


def test_auxiliary_classifier_needs_labels_and_model_round_trips(tmp_path):
    gan = _gan("ac", g_steps=1, upsampling="resize", generator_average=0.9)
    batch = _batch()
    with pytest.raises(DataError, match="label"):
        gan.train_step({k: v for k, v in batch.items() if k != "label"})
    for step in range(3):
        gan.train_step(_batch(seed=step))
    z = np.zeros((6, Z), "float32")
    sample = np.asarray(gan.generate(batch["condition"], z=z))
    # Samples come from the weight average, which lags the trained generator.
    s = gan.encode(batch["condition"])
    trained = np.asarray(gan.generator([s, keras.ops.convert_to_tensor(z)], training=False))
    assert np.abs(sample - trained).max() > 1e-4
    path = tmp_path / "gan.keras"
    gan.save(path)
    back = keras.models.load_model(path)
    assert isinstance(back, SceneGAN) and back.g_steps == 1 and back.classifier
    assert back.generator_average == 0.9
    np.testing.assert_allclose(np.asarray(back.generate(batch["condition"], z=z)), sample,
                               atol=1e-5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a2i_scene_trains_through_the_cli(tiny_pairs, tmp_path, cache):
    import json

    from tfav.runs import load_trained
    from tfav.train import main

    out = tmp_path / "scene"
    assert main(["--task", "a2i_scene", "--data", str(tiny_pairs), "--out", str(out),
                 "--epochs", "1", "--batch-size", "4", "--base-filters", "4", "--z-dim", "4",
                 "--ablation", "projection", "--features", "mfcc", "--g-per-d", "2",
                 "--no-eval"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sound_vector"] == "mfcc averaged over time"
    assert summary["hyper"]["ablation"] == "projection" and np.isfinite(summary["final"]["d_loss"])
    gan = load_trained(out, "a2i_scene", compile=True)
    assert isinstance(gan, SceneGAN) and gan.g_steps == 2 and gan.loss == "hinge"
    assert int(gan.g_optimizer.iterations) == 2 * int(gan.d_optimizer.iterations) > 0
    wave = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 22050)).astype("float32")
    assert np.asarray(gan.generate(wave)).shape == (2, 64, 64, 3)
    assert list((out / "samples").glob("*.png")), "no sample grid from waveform conditions"
    # The volume experiment (Wan sec. 5.3): one grid row per gain, same noise in each row.
    from PIL import Image

    from tfav.generate import main as generate_main

    wav = next((tiny_pairs / "chunk" / "train").rglob("*.wav"))
    assert generate_main([str(out), "--audio", str(wav), "--gains", "0.25,1,4", "--n", "2",
                          "--out", str(tmp_path / "gen")]) == 0
    rows = [np.asarray(Image.open(tmp_path / "gen" / f"gain_{g}_image_0.png"), np.float32)
            for g in ("0.25", "1", "4")]
    assert np.abs(rows[0] - rows[2]).mean() > 0.5, "volume does not reach the generator"
    grid = Image.open(tmp_path / "gen" / "grid.png")
    assert grid.height >= 3 * 64
