"""SoundNet-8 (layer list, published-format weights) and the Table 2 sound vectors."""

import keras
import numpy as np
import pytest

from tfav import audio
from tfav.errors import ConfigError
from tfav.models import soundnet

LAYERS = {"conv1": (64, 1, 16), "conv2": (32, 16, 32), "conv3": (16, 32, 64),
          "conv4": (8, 64, 128), "conv5": (4, 128, 256), "conv6": (4, 256, 512),
          "conv7": (4, 512, 1024), "conv8": (8, 1024, 1000), "conv8_2": (8, 1024, 401)}


def write_sound8(path, seed=0):
    """A weight file in the published ``sound8.npy`` format, with random values."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, (k, cin, cout) in LAYERS.items():
        p = {"weights": rng.normal(0, 0.05, (k, 1, cin, cout)).astype("float32"),
             "biases": rng.normal(0, 0.1, cout).astype("float32")}
        if not name.startswith("conv8"):
            p.update(gamma=rng.uniform(0.5, 1.5, cout).astype("float32"),
                     beta=rng.normal(0, 0.1, cout).astype("float32"),
                     mean=rng.normal(0, 0.1, cout).astype("float32"),
                     var=rng.uniform(0.5, 2, cout).astype("float32"))
        params[name] = p
    np.save(path, params, allow_pickle=True)
    return params


def test_layer_list_and_pool5_feature():
    model = soundnet.soundnet8()
    assert model.output.shape == (None, 256)
    assert model.get_layer("conv1").kernel.shape == (64, 1, 16)
    assert model.get_layer("conv5").kernel.shape == (4, 128, 256)
    assert model.get_layer("pool1").output.shape[1] == 689  # 11,025 samples at 22,050 Hz
    assert model.get_layer("pool5").output.shape == (None, 1, 256)


def test_published_weights_load_and_conv1_matches_numpy(tmp_path):
    path = tmp_path / "sound8.npy"
    params = write_sound8(path)
    model = soundnet.soundnet8(input_rate=22050, samples=11025)
    with pytest.raises(ConfigError, match="allow_pickle"):
        soundnet.load_soundnet_weights(model, path)
    done = soundnet.load_soundnet_weights(model, path, allow_pickle=True)
    assert done == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    np.testing.assert_array_equal(model.get_layer("conv3_bn").moving_variance.numpy(),
                                  params["conv3"]["var"])
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 11025)).astype("float32")
    conv1 = keras.Model(model.input, model.get_layer("conv1_relu").output)(x).numpy()[0]
    p = params["conv1"]
    padded = np.pad(x[0] * 256.0, 32)
    w = p["weights"][:, 0, 0, :]  # [64, 16]
    frames = np.stack([padded[i:i + 64] for i in range(0, len(padded) - 63, 2)])
    pre = frames @ w + p["biases"]
    ref = np.maximum(0, p["gamma"] * (pre - p["mean"]) / np.sqrt(p["var"] + 1e-5) + p["beta"])
    np.testing.assert_allclose(conv1, ref, rtol=1e-3, atol=1e-3)


def test_bad_weight_files(tmp_path):
    model = soundnet.soundnet8(input_rate=22050, samples=11025)
    np.save(tmp_path / "list.npy", np.zeros(3))
    with pytest.raises(ConfigError, match="not a SoundNet weight dict"):
        soundnet.load_soundnet_weights(model, tmp_path / "list.npy", allow_pickle=True)
    np.save(tmp_path / "partial.npy", {"conv1": {"weights": np.zeros((3, 3))}}, allow_pickle=True)
    with pytest.raises(ConfigError, match="conv1"):
        soundnet.load_soundnet_weights(model, tmp_path / "partial.npy", allow_pickle=True)


def test_decimation_keeps_low_and_removes_high_frequencies():
    t = np.arange(8192) / 44100
    low = np.sin(2 * np.pi * 1000 * t).astype("float32")[None]
    high = np.sin(2 * np.pi * 15000 * t).astype("float32")[None]
    layer = soundnet.Decimate2()
    y_low, y_high = layer(low).numpy()[0, 100:-100], layer(high).numpy()[0, 100:-100]
    assert layer(low).shape == (1, 4096)
    assert np.abs(y_low).max() == pytest.approx(1.0, abs=0.02)
    assert np.abs(y_high).max() < 0.01


@pytest.mark.parametrize("kind,dim", [("spectrogram", 1025), ("fbank", 80), ("mfcc", 20)])
def test_time_averaged_features(kind, dim):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 22050)).astype("float32")
    enc = soundnet.sound_feature_encoder(kind)
    s = enc(x).numpy()
    assert s.shape == (2, dim) and not enc.trainable
    ref = {"spectrogram": audio.spectrogram, "fbank": audio.fbank, "mfcc": audio.mfcc}[kind](x)
    np.testing.assert_allclose(s, np.asarray(ref).mean(-1), rtol=1e-4, atol=1e-4)
    # Louder sound -> a different vector (Wan sec. 5.3 relies on it).
    assert not np.allclose(enc(4 * x).numpy(), s, atol=1e-2)


def test_soundnet_feature_needs_a_model():
    with pytest.raises(ConfigError, match="SoundNet"):
        soundnet.sound_feature_encoder("soundnet")
    with pytest.raises(ConfigError, match="unknown sound feature"):
        soundnet.sound_feature_encoder("cqt")
    feat = soundnet.sound_feature_encoder("soundnet", soundnet=soundnet.soundnet8(num_classes=3))
    assert feat.output.shape == (None, 256) and not feat.trainable


def test_standardization_is_fitted_and_saved(tmp_path):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (6, 22050)).astype("float32")
    enc = soundnet.sound_feature_encoder("fbank")
    soundnet.fit_standardization(enc, [x[:3], x[3:]])
    s = enc(x).numpy()
    np.testing.assert_allclose(s.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(s.std(0), 1, atol=1e-3)
    enc.save(tmp_path / "enc.keras")
    back = keras.models.load_model(tmp_path / "enc.keras")
    np.testing.assert_allclose(back(x).numpy(), s, atol=1e-5)


def test_soundnet_classifier_task_and_published_weights_through_train(tiny_pairs, tmp_path,
                                                                      monkeypatch):
    import json

    from tfav import objectives, tasks
    from tfav.train import main

    task = tasks.get_task("soundnet")
    clf = objectives.build_model(task, 3, objectives.make_hyper(task))
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (4, 22050)).astype("float32")
    loss, _ = clf.train_on_batch(x, np.array([0, 1, 2, 0]))
    assert np.isfinite(loss) and clf.output.shape == (None, 3)

    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "sound8.npy"
    write_sound8(weights)
    out = tmp_path / "run"
    args = ["--task", "a2i_scene", "--data", str(tiny_pairs), "--out", str(out), "--epochs", "1",
            "--batch-size", "4", "--base-filters", "4", "--z-dim", "4", "--features",
            "soundnet", "--soundnet-weights", str(weights), "--steps-per-epoch", "1",
            "--g-per-d", "1", "--no-eval"]
    with pytest.raises(SystemExit) as exit_info:  # the pickle must be allowed explicitly
        main(args)
    assert exit_info.value.code == 2
    assert main([*args, "--soundnet-allow-pickle"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "published weights" in summary["sound_vector"]
    assert summary["hyper"]["features"] == "soundnet"
