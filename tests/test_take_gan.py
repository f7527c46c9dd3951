"""Take codes (``tfav.objectives.take_gan``): the noise names a training take, each
pair's own take in training; the pipeline gives every pair its take."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfav import objectives, runs, tasks, training
from tfav.data import layout, pipeline
from tfav.errors import ConfigError, DataError
from tfav.models import encoders
from tfav.models.blocks import TakeBackground, TakeCode
from tfav.objectives import registry


def test_take_code_is_the_one_hot_of_the_argmax_and_uniform_under_gaussian_noise():
    layer = TakeCode(5)
    z = np.random.default_rng(0).standard_normal((6000, 9)).astype("float32")
    out = np.asarray(layer(z))
    assert out.shape == z.shape
    np.testing.assert_array_equal(out[:, 5:], z[:, 5:])  # the Gaussian rest passes
    np.testing.assert_array_equal(out[:, :5].argmax(1), z[:, :5].argmax(1))
    assert set(np.unique(out[:, :5])) == {0.0, 1.0} and (out[:, :5].sum(1) == 1).all()
    counts = np.bincount(out[:, :5].argmax(1), minlength=5)
    assert np.all(np.abs(counts - 1200) < 120), counts  # every take about 1/5 of draws
    one_hot = np.eye(5, 9, dtype="float32")[[3, 0]]  # a pair's own take names itself
    np.testing.assert_array_equal(np.asarray(layer(one_hot))[:, :5], one_hot[:, :5])


def test_pipeline_gives_each_pair_its_take(tiny_pairs):
    index = layout.index_pairs(tiny_pairs)
    takes = layout.takes(index, "train")
    assert takes == ["cello01", "flute01", "violin01"]
    batch = next(iter(pipeline.pair_dataset(tiny_pairs, "train", batch_size=12, shuffle=False,
                                            takes=["flute01", "violin01"])))
    labels, take = np.asarray(batch["label"]), np.asarray(batch["take"])
    np.testing.assert_array_equal(take, np.select([labels == 1, labels == 2], [0, 1], -1))
    plain = next(iter(pipeline.pair_dataset(tiny_pairs, "train", batch_size=12)))
    assert "take" not in plain


def _model(takes=("a", "b"), weight=100.0, warmup_steps=0, take_backgrounds=False,
           motion_emphasis=0.0, mask_weight=0.0):
    task = tasks.get_task("s2i_pose")
    objective = objectives.get("take_gan")
    hyper = objective.make_hyper({"base_filters": 4, "z_dim": 4, "generator_average": 0.0,
                                  "reconstruction_weight": weight, "learning_rate": 2e-3,
                                  "warmup_steps": warmup_steps,
                                  "take_backgrounds": take_backgrounds,
                                  "motion_emphasis": motion_emphasis,
                                  "mask_weight": mask_weight})
    encoder = encoders.encoder_from_classifier(encoders.sound_classifier(3, base_filters=4))
    return objective.build(registry.BuildContext(task, 3, hyper, encoder, 64, 0,
                                                 {"takes": list(takes)}))


def test_each_take_code_learns_its_take_and_survives_saving(tmp_path):
    from test_objectives import run_serialization_test

    model = _model()
    assert model.z_dim == 2 + 4 and model.generator.get_layer("take_code").takes == 2
    rng = np.random.default_rng(0)
    take = np.array([0, 1] * 4, "int32")  # take 0's frames are light, take 1's dark
    target = np.where(take[:, None, None, None] == 0, 0.6, -0.6) * np.ones((8, 64, 64, 3))
    batch = {"condition": rng.uniform(-1, 1, (8, 128, 44)).astype("float32"),
             "target": target.astype("float32"), "take": take,
             "wrong_target": target[::-1].astype("float32")}
    history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(40), epochs=2,
                        verbose=0).history
    assert history["reconstruction"][-1] < history["reconstruction"][0]
    z = rng.standard_normal((8, 6)).astype("float32")
    z[:, :2] = np.eye(2)[take]  # the sampling noise naming each pair's take
    images = np.asarray(model.generate(batch["condition"], z=z))
    light, dark = images[take == 0].mean(), images[take == 1].mean()
    assert light > dark + 0.3, (light, dark)
    loaded = run_serialization_test(model, {"condition": batch["condition"][:2], "z": z[:2]})
    assert loaded.takes == ["a", "b"] and loaded.reconstruction_weight == 100.0


def test_warm_up_steps_train_g_on_the_reconstruction_alone():
    """During the warm-up G's step does not depend on D (the eq. (3) terms weigh 0);
    after it, it does."""
    a, b = _model(warmup_steps=1), _model(warmup_steps=1)
    b.generator.set_weights(a.generator.get_weights())
    b.condition_encoder.set_weights(a.condition_encoder.get_weights())
    rng = np.random.default_rng(1)
    b.discriminator.set_weights([w + rng.normal(0, 0.5, w.shape).astype(w.dtype)
                                 for w in a.discriminator.get_weights()])
    target = rng.uniform(-1, 1, (4, 64, 64, 3)).astype("float32")
    batch = {"condition": rng.uniform(-1, 1, (4, 128, 44)).astype("float32"),
             "target": target, "take": np.array([0, 1, 0, 1], "int32"),
             "wrong_target": target[::-1].copy()}

    def step_and_compare():
        logs = [float(m.train_step(batch)["adversarial"]) for m in (a, b)]
        same = all(np.allclose(x, y, atol=1e-6) for x, y in zip(
            a.generator.get_weights(), b.generator.get_weights(), strict=True))
        return logs, same

    assert step_and_compare() == ([0.0, 0.0], True)  # the warm-up step: D does not matter
    # then D's gradients reach G (the tracker is the running mean of 0 and 1)
    assert step_and_compare() == ([0.5, 0.5], False)
    with pytest.raises(ConfigError, match="warmup_steps must be >= 0"):
        from tfav.objectives.take_gan import TakeGAN

        TakeGAN(a.generator, a.discriminator, a.condition_encoder, takes=["a"], z_dim=6,
                warmup_steps=-1)


def test_take_background_composites_the_foreground_over_the_takes_image():
    layer = TakeBackground(2)
    raw = np.zeros((3, 4, 4, 4), "float32")
    raw[..., :3] = 0.5
    raw[0, ..., 3], raw[1, ..., 3], raw[2, ..., 3] = -50.0, 50.0, 2.0  # m = 0, 1, 1/2
    code = np.array([[1, 0, 9], [0, 1, 9], [0, 1, 9]], "float32")  # the noise passes
    layer.build([raw.shape, code.shape])
    backgrounds = np.stack([np.full((4, 4, 3), -0.8), np.full((4, 4, 3), 0.3)])
    layer.set_backgrounds(backgrounds)
    out = np.asarray(layer([raw, code]))
    np.testing.assert_allclose(out[0], -0.8, atol=1e-5)  # take 0's background alone
    np.testing.assert_allclose(out[1], np.tanh(0.5), atol=1e-5)  # the foreground alone
    np.testing.assert_allclose(out[2], (np.tanh(0.5) + 0.3) / 2, atol=1e-5)
    layer.background_logits.assign(np.full((2, 4, 4, 3), 40.0, "float32"))  # trained far
    assert np.asarray(layer([raw, code])).max() <= 1.0  # the outputs stay images


def test_backgrounds_start_at_each_takes_median_frame_and_survive_saving():
    from test_objectives import run_serialization_test

    from tfav.objectives.take_gan import prepare

    model = _model(take_backgrounds=True)
    rng = np.random.default_rng(2)
    take = np.array([0, 1, 0, 1, 0, 1], "int32")
    target = rng.uniform(-1, 1, (6, 64, 64, 3)).astype("float32")
    batches = [{"target": target[:3], "take": take[:3]}, {"target": target[3:],
                                                          "take": take[3:]}]
    prepare(model, batches, log=lambda *a: None)
    got = np.asarray(model.generator.get_layer("take_background").backgrounds)
    for k in (0, 1):  # within the +-0.995 where the backgrounds' tanh is inverted
        want = np.clip(np.median(target[take == k], axis=0), -0.995, 0.995)
        np.testing.assert_allclose(got[k], want, atol=1e-5)
    batch = {"condition": rng.uniform(-1, 1, (6, 128, 44)).astype("float32"),
             "target": target, "take": take, "wrong_target": target[::-1].copy()}
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, verbose=0)
    z = rng.standard_normal((2, 6)).astype("float32")
    run_serialization_test(model, {"condition": batch["condition"][:2], "z": z})
    with pytest.raises(ConfigError, match="take backgrounds need take codes"):
        from tfav.models import generators

        generators.sound_to_image_generator(z_dim=8, base_filters=4, take_backgrounds=True)


def test_a_batch_without_takes_and_missing_or_too_many_takes_are_one_line_errors():
    model = _model()
    batch = {"condition": np.zeros((2, 128, 44), "float32"),
             "target": np.zeros((2, 64, 64, 3), "float32"),
             "wrong_target": np.zeros((2, 64, 64, 3), "float32")}
    with pytest.raises(DataError, match="batch has no 'take'"):
        model.train_step(batch)
    with pytest.raises(ConfigError, match="the training takes were not given"):
        _model(takes=())
    from tfav.objectives.take_gan import TakeGAN

    with pytest.raises(ConfigError, match="6 takes for a noise of 6 entries"):
        TakeGAN(model.generator, model.discriminator, model.condition_encoder,
                takes=[str(i) for i in range(6)], z_dim=6)


@pytest.mark.slow
def test_take_gan_trains_from_the_cli_path_and_keeps_its_takes(tiny_pairs, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    encoder = training.train("sound_encoder", data=tiny_pairs, epochs=1, batch_size=4,
                             out=tmp_path / "enc", verbose=0)
    run = training.train("s2i_instrument", data=tiny_pairs, recipe="take_gan",
                         out=tmp_path / "run", epochs=1, batch_size=2, evaluate=False,
                         encoders={"sound_encoder": encoder},
                         hyper={"base_filters": 4, "z_dim": 4, "take_backgrounds": True},
                         verbose=0)
    takes = ["cello01", "flute01", "violin01"]  # one recording per tiny category
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == "take_gan" and config["takes"] == takes
    model = runs.load_trained(run, "s2i_instrument")
    assert model.takes == takes and model.z_dim == 7
    # prepare() started each take's background at its frames' median: the tiny takes'
    # frames are flat colours, so the backgrounds differ and none is still zero.
    backgrounds = np.asarray(model.generator.get_layer("take_background").backgrounds)
    assert np.all(np.abs(backgrounds).mean(axis=(1, 2, 3)) > 0.1)
    assert np.abs(backgrounds[0] - backgrounds[2]).mean() > 0.1
    # The generator, take code and backgrounds included, converts to builtin TFLite ops
    # (keras.ops.argmax would add a BitwiseAnd TFLite lacks), and runs.
    from test_export import _runner

    from tfav import serving

    path = serving.export_run(run, fmt="tflite", version=1, out=tmp_path / "models",
                              progress=False).tflite
    waves = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 22050)).astype("float32")
    z = np.random.default_rng(1).standard_normal((2, 7)).astype("float32")
    got = _runner(path, "with_noise")(waveform=waves, z=z)["image_float"]
    assert got.shape == (2, 64, 64, 3) and np.isfinite(got).all()


def test_motion_emphasis_weighs_the_l1_where_the_frame_leaves_its_background():
    """Weights have mean 1 per image; a pixel at distance d from the take's background
    weighs 1 + beta * d / mean(d) times a still one; beta 0 is the plain L1; it needs
    backgrounds."""
    model = _model(take_backgrounds=True, motion_emphasis=4.0)
    backgrounds = np.zeros((2, 64, 64, 3), "float32")
    backgrounds[1] = 0.5
    model.generator.get_layer("take_background").set_backgrounds(backgrounds)
    target = np.zeros((2, 64, 64, 3), "float32")
    target[1] = 0.5
    target[:, :8, :8] = 0.9  # the same moving patch over each take's still background
    w = np.asarray(model.reconstruction_weights(target, np.array([0, 1], "int32")))
    assert w.shape == (2, 64, 64, 1)
    np.testing.assert_allclose(w.mean(axis=(1, 2, 3)), 1.0, rtol=1e-3)
    # the patch covers 1/64 of the image, so d / mean(d) = 64 there: 1 + 4 * 64
    np.testing.assert_allclose(w[:, 0, 0, 0] / w[:, 40, 40, 0], 257.0, rtol=1e-3)
    np.testing.assert_allclose(w[:, 40, 40, 0], w[0, 63, 63, 0], rtol=1e-6)
    assert _model(take_backgrounds=True).reconstruction_weights(target, [0, 1]) == 1.0
    with pytest.raises(ConfigError, match="needs take_backgrounds"):
        _model(motion_emphasis=1.0)


def test_mask_weight_drives_the_foreground_mask_towards_the_background():
    """The layer reports its mean mask in training only; with a mask weight, G's steps
    lower it (the room shows the background unmixed); it needs backgrounds."""
    rng = np.random.default_rng(2)
    target = rng.uniform(-1, 1, (4, 64, 64, 3)).astype("float32")
    batch = {"condition": rng.uniform(-1, 1, (4, 128, 44)).astype("float32"),
             "target": target, "take": np.array([0, 1, 0, 1], "int32"),
             "wrong_target": target[::-1].copy()}
    means = []
    for mask_weight in (0.0, 50.0):
        keras.utils.set_random_seed(0)
        model = _model(weight=0.0, take_backgrounds=True, mask_weight=mask_weight)
        history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(15), epochs=1,
                            verbose=0).history
        means.append(history["mask"][-1])
        z = np.zeros((4, model.z_dim), "float32")
        model.generator([model.condition_encoder(batch["condition"]), tf.constant(z)],
                        training=False)
        assert not model.generator.losses  # nothing added outside training
    assert 0.0 < means[1] < 0.8 * means[0], means
    with pytest.raises(ConfigError, match="needs take_backgrounds"):
        _model(mask_weight=1.0)
