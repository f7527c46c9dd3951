"""The task registry: names, model inputs, augmentation."""

import numpy as np
import pytest
import tensorflow as tf

from tfav import tasks
from tfav.errors import ConfigError


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "waveform": tf.constant(rng.uniform(-0.5, 0.5, (n, 22050)).astype("float32")),
        "image": tf.constant(rng.uniform(-1, 1, (n, 64, 64, 3)).astype("float32")),
        "wrong_image": tf.constant(rng.uniform(-1, 1, (n, 64, 64, 3)).astype("float32")),
        "wrong_waveform": tf.constant(rng.uniform(-0.5, 0.5, (n, 22050)).astype("float32")),
        "label": tf.constant(np.arange(n, dtype="int32")),
        "pose": tf.constant(rng.uniform(0, 1, (n, 3)).astype("float32")),
    }


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown task 'nope'.*s2i_pose"):
        tasks.get_task("nope")


@pytest.mark.parametrize(
    "name, shapes",
    [
        ("sound_encoder", [(4, 128, 44), (4,)]),
        ("image_encoder", [(4, 64, 64, 3), (4,)]),
        ("pose_regressor", [(4, 64, 64, 3), (4, 3)]),
        ("pose_from_sound", [(4, 128, 44), (4, 3)]),
        ("sound_autoencoder", [(4, 128, 44), (4, 128, 44)]),
    ],
)
def test_supervised_inputs(name, shapes):
    x, y = tasks.model_inputs(tasks.get_task(name))(batch())
    assert [tuple(x.shape), tuple(y.shape)] == shapes


def test_gan_inputs_follow_the_papers_shapes():
    s2i = tasks.model_inputs(tasks.get_task("s2i_instrument"))(batch())
    assert s2i["condition"].shape == (4, 128, 44) and s2i["target"].shape == (4, 64, 64, 3)
    assert "wrong_target" in s2i
    assert "wrong_target" not in tasks.model_inputs(tasks.get_task("s2i_noneg"))(batch())
    i2s = tasks.model_inputs(tasks.get_task("i2s"))(batch())
    assert i2s["condition"].shape == (4, 64, 64, 3)
    assert i2s["target"].shape == i2s["wrong_target"].shape == (4, 128, 34)
    lms = s2i["condition"].numpy()
    assert lms.max() <= 1.0 + 1e-6 and lms.min() >= -1.0 - 1e-6
    np.testing.assert_array_equal(i2s["label"], np.arange(4))  # for --aux-classifier


def test_aux_classifier_adds_class_logits_to_chen_discriminators():
    from tfav import objectives
    from tfav.models import encoders
    from tfav.objectives.gan_cls import ChenHyper

    encoder = encoders.encoder_from_classifier(encoders.sound_classifier(5, base_filters=2))
    hyper = ChenHyper(aux_classifier=True, base_filters=4)
    gan = objectives.build_model(tasks.get_task("s2i_instrument"), 5, hyper, encoder=encoder)
    assert gan.classifier and gan.discriminator.outputs[1].shape == (None, 5)
    pose = tasks.get_task("s2i_pose")
    with pytest.raises(ConfigError, match="several categories"):
        objectives.get("gan_cls").build(
            objectives.BuildContext(pose, 5, hyper, encoder))
    take_hyper = objectives.make_hyper(pose, {"aux_classifier": True, "base_filters": 4})
    with pytest.raises(ConfigError, match="several categories"):
        objectives.get("take_gan").build(objectives.BuildContext(
            pose, 5, take_hyper, encoder, dataset_options={"takes": ["a", "b"]}))


def test_image_augmentation_jitters_but_keeps_the_value_range():
    b = batch(16)
    blocks = np.random.default_rng(1).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    b["image"] = tf.constant(np.kron(blocks, np.ones((1, 8, 8, 1), "float32")))  # smooth images
    task = tasks.get_task("image_encoder")
    plain, _ = tasks.model_inputs(task)(b)
    jittered, _ = tasks.model_inputs(task, augment=True)(b)
    np.testing.assert_array_equal(plain.numpy(), b["image"].numpy())
    x = jittered.numpy()
    assert np.abs(x - b["image"].numpy()).mean() > 0.01  # it does change the images
    # ...but keeps [-1, 1] images in [-1, 1] with their brightness (a contrast layer left at
    # its default 0..255 range would clip every negative value to 0).
    assert x.min() >= -1.0 and x.max() <= 1.0 and (x < -0.5).mean() > 0.15
    assert abs(x.mean() - b["image"].numpy().mean()) < 0.1


def test_generator_steps_default_to_the_tasks_and_an_option_overrides_them():
    from tfav import objectives
    from tfav.models import encoders
    from tfav.objectives.gan_cls import ChenHyper

    encoder = encoders.encoder_from_classifier(encoders.sound_classifier(5, base_filters=2))
    pose, chen = tasks.get_task("s2i_pose"), tasks.get_task("s2i_instrument")
    assert (pose.g_steps, chen.g_steps) == (2, 1)
    for task, hyper, expected in ((pose, ChenHyper(base_filters=4), 2),
                                  (chen, ChenHyper(base_filters=4), 1),
                                  (pose, ChenHyper(base_filters=4, g_steps=1), 1)):
        gan = objectives.get("gan_cls").build(objectives.BuildContext(task, 5, hyper, encoder))
        assert gan.g_steps == expected, task.name


@pytest.mark.parametrize("name", ["s2i_instrument", "i2s"])
def test_frozen_encodings_are_computed_once_with_the_data_and_equal_the_step_s(tiny_pairs,
                                                                               name):
    """``make_dataset(encoder=...)`` carries each item's code in ``encoding`` (and no
    ``condition``): the values a training step would compute from the condition, for
    the same items in the same order."""
    import keras

    task = tasks.get_task(name)
    encoded = tf.Variable(0, dtype=tf.int64)  # items encoded, counted in the graph

    shape = (128, 44) if task.direction == "s2i" else (64, 64, 3)
    x = keras.Input(shape)
    encoder = keras.Model(x, keras.layers.Dense(5)(keras.layers.Flatten()(x)))
    counted = keras.Model(x, encoder(x))

    def encode(condition, training=False):
        encoded.assign_add(tf.shape(condition, out_type=tf.int64)[0])
        return counted(condition, training=training)

    kwargs = dict(batch_size=3, seed=0, shuffle=True)
    plain = tasks.make_dataset(task, tiny_pairs, "train", **kwargs)
    coded = tasks.make_dataset(task, tiny_pairs, "train", encoder=encode, **kwargs)
    for _epoch in range(2):
        for a, b in zip(plain, coded, strict=True):
            assert "condition" not in b and "condition" in a
            np.testing.assert_allclose(b["encoding"], encoder(a["condition"]), atol=1e-5)
            np.testing.assert_array_equal(a["target"], b["target"])
            np.testing.assert_array_equal(a["label"], b["label"])
    n = sum(int(b["label"].shape[0]) for b in plain)
    assert int(encoded.numpy()) == n  # once per item: the second epoch reads the cache


def test_only_gan_tasks_take_an_encoder(tiny_pairs):
    with pytest.raises(ConfigError, match="sound_encoder has no condition to encode"):
        tasks.make_dataset(tasks.get_task("sound_encoder"), tiny_pairs, "train",
                           encoder=lambda c, training=False: c)
