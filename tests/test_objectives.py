"""The objective registry: a new objective is one module (``toy_objective.py``), and
every objective's model survives the ``.keras`` round trip with the same outputs."""

import dataclasses
import json

import numpy as np
import pytest

from tfav import objectives, runs, tasks, training
from tfav.errors import ConfigError
from tfav.objectives import registry


def test_every_task_names_a_registered_objective():
    for task in tasks.TASKS.values():
        assert objectives.for_task(task).name == task.objective


def test_hyper_of_another_objective_is_a_one_line_error():
    with pytest.raises(ConfigError, match="--ablation: not a hyperparameter of the gan_cls"):
        objectives.make_hyper(tasks.get_task("s2i_instrument"), {"ablation": "ac"})
    with pytest.raises(ConfigError, match="--ablation: not a hyperparameter of the take_gan"):
        objectives.make_hyper(tasks.get_task("s2i_pose"), {"ablation": "ac"})


def test_a_task_s_own_settings_are_its_defaults_and_a_given_value_wins():
    pose = tasks.get_task("s2i_pose")
    assert pose.objective == "take_gan"
    hyper = objectives.make_hyper(pose)
    assert (hyper.reconstruction_weight, hyper.take_backgrounds, hyper.motion_emphasis) == (
        30.0, True, 4.0)
    assert objectives.make_hyper(pose, {"motion_emphasis": 0.0}).motion_emphasis == 0.0
    # The objective's own defaults, which --recipe take_gan gets, are the plain ones.
    plain = objectives.get("take_gan").make_hyper()
    assert (plain.reconstruction_weight, plain.take_backgrounds, plain.motion_emphasis) == (
        10.0, False, 0.0)
    # Every task's settings name fields of its own objective.
    for task in tasks.TASKS.values():
        objectives.make_hyper(task)


def test_each_objective_declares_only_its_own_fields():
    chen = {f.name for f in dataclasses.fields(objectives.get("gan_cls").hyper)}
    scene = {f.name for f in dataclasses.fields(objectives.get("scene_gan").hyper)}
    assert "aux_classifier" in chen and "ablation" not in chen and "consistency_weight" not in chen
    assert "ablation" in scene and "aux_classifier" not in scene


def test_defaults_come_from_the_task_where_the_field_says_so():
    fields = {f.name: f for f in dataclasses.fields(objectives.get("gan_cls").hyper)}
    task = tasks.get_task("s2i_instrument")
    assert registry.default_of(fields["learning_rate"], task) == task.learning_rate == 2e-4
    assert registry.default_of(fields["z_dim"], task) == 100


@pytest.mark.slow
def test_a_toy_objective_trains_resumes_and_evaluates(tiny_pairs, tmp_path, monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    import toy_objective  # noqa: F401  (registers the objective and its task)

    run = training.train("toy_lsgan", data=tiny_pairs, out=tmp_path / "run", epochs=1,
                         batch_size=4, hyper={"z_dim": 4, "target_score": 0.5}, verbose=0)
    config = json.loads((run / "config.json").read_text())
    assert config["hyper"]["target_score"] == 0.5
    assert "ablation" not in config["hyper"]  # only the fields the run used
    state = runs.read_state(run)
    assert {"d_loss", "g_loss", "acc_train", "acc_val"} <= set(state["history"][0])
    model = runs.load_trained(run, "toy_lsgan")
    assert type(model).__name__ == "LeastSquaresGAN" and model.target_score == 0.5
    # Resuming keeps the run's values; a different one is refused.
    training.train("toy_lsgan", data=tiny_pairs, out=run, epochs=2, batch_size=4, resume=True,
                   verbose=0)
    assert runs.read_state(run)["epoch"] == 2
    with pytest.raises(ConfigError, match="trained with target_score=0.5"):
        training.train("toy_lsgan", data=tiny_pairs, out=run, epochs=3, batch_size=4,
                       resume=True, hyper={"target_score": 0.9}, verbose=0)
    # --recipe: the same task trained by another objective, kept on resume.
    other = training.train("toy_lsgan", data=tiny_pairs, out=tmp_path / "other", epochs=1,
                           batch_size=4, hyper={"z_dim": 4}, recipe="gan_cls", verbose=0)
    assert json.loads((other / "config.json").read_text())["objective"] == "gan_cls"
    assert type(runs.load_trained(other, "toy_lsgan")).__name__ == "ConditionalGAN"
    with pytest.raises(ConfigError, match="trained with --recipe gan_cls, not least_squares"):
        training.train("toy_lsgan", data=tiny_pairs, out=other, epochs=2, batch_size=4,
                       resume=True, recipe="least_squares", verbose=0)
    metrics = training.evaluate_run(run, n=6, log=lambda *a: None)
    assert 0.0 <= metrics["acc_val"] <= 1.0
    # The realism measures, the judge's among them, reach metrics.json.
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("spectrum_gap_db", "tv_ratio", "noise_spread", "judge_fid", "judge_fid_real",
                "judge_kid", "real_halves_spectrum_gap_db", "acc_val_violin"):
        assert np.isfinite(saved[key]), key
    assert np.asarray(saved["confusion"]).shape == (3, 3)
    assert np.asarray(saved["confusion"]).sum() == 6


def run_serialization_test(model, inputs):
    """Save, load and compare: the loaded model's config and outputs equal the original's
    (in the spirit of keras-hub's ``run_serialization_test``)."""
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "model.keras"
    model.save(path)
    loaded = runs.load_trained(path, "test")
    assert type(loaded) is type(model)
    strip = ("name", "trainable", "dtype")
    a = {k: v for k, v in model.get_config().items() if k not in strip}
    b = {k: v for k, v in loaded.get_config().items() if k not in strip}
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                    default=str)
    np.testing.assert_allclose(np.asarray(loaded.generate(inputs["condition"], z=inputs["z"])),
                               np.asarray(model.generate(inputs["condition"], z=inputs["z"])),
                               atol=1e-5)
    return loaded


@pytest.mark.parametrize("task_name", ["s2i_instrument", "i2s", "a2i_scene", "a2i_diverse"])
def test_every_gan_objective_round_trips(task_name):
    from tfav.models import encoders

    task = tasks.get_task(task_name)
    objective = objectives.for_task(task)
    hyper = objective.make_hyper({"base_filters": 4, "z_dim": 4})
    encoder = None
    if task.condition == "lms":
        if task.direction == "s2i":
            encoder = encoders.encoder_from_classifier(encoders.sound_classifier(3, base_filters=4))
            condition = np.random.default_rng(0).uniform(-1, 1, (2, 128, 44)).astype("float32")
        else:
            encoder = encoders.encoder_from_classifier(
                encoders.image_classifier(3, base_filters=4))
            condition = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    else:
        condition = np.random.default_rng(0).normal(0, 0.1, (2, 22050)).astype("float32")
    model = objectives.build_model(task, 3, hyper, encoder=encoder, image_size=task.image_size)
    z = np.random.default_rng(1).standard_normal((2, 4)).astype("float32")
    run_serialization_test(model, {"condition": condition, "z": z})


@pytest.mark.parametrize("feature_matching", [0.0, 10.0])
def test_paired_gan_round_trips_and_learns_to_reconstruct(feature_matching):
    import tensorflow as tf

    from tfav.models import encoders

    task = tasks.get_task("s2i_pose")
    objective = objectives.get("paired_gan")
    hyper = objective.make_hyper({"base_filters": 4, "z_dim": 4, "generator_average": 0.0,
                                  "feature_matching_weight": feature_matching})
    encoder = encoders.encoder_from_classifier(encoders.sound_classifier(3, base_filters=4))
    model = objective.build(registry.BuildContext(task, 3, hyper, encoder, 64, 0))
    rng = np.random.default_rng(0)
    batch = {"condition": rng.uniform(-1, 1, (8, 128, 44)).astype("float32"),
             "target": np.tanh(rng.normal(0, 1, (8, 64, 64, 3))).astype("float32"),
             "wrong_target": np.tanh(rng.normal(0, 1, (8, 64, 64, 3))).astype("float32")}
    ds = tf.data.Dataset.from_tensors(batch).repeat(30)
    history = model.fit(ds, epochs=2, verbose=0).history
    assert {"reconstruction", "kl", "latent", "d_loss"} <= set(history)
    assert history["reconstruction"][-1] < history["reconstruction"][0]
    if feature_matching:  # D's four strided blocks of a 64 px image, matched
        assert len(model.discriminator_features.outputs) == 4
        assert history["feature_matching"][-1] > 0
    z = rng.standard_normal((2, 4)).astype("float32")
    loaded = run_serialization_test(model, {"condition": batch["condition"][:2], "z": z})
    assert loaded.reconstruction_weight == 10.0
    assert loaded.feature_matching_weight == feature_matching
    assert len(loaded.g_variables()) == len(model.g_variables())
    assert len(loaded.weights) == len(model.weights)


@pytest.mark.parametrize("task_name,recipe", [
    ("s2i_pose", "gan_cls"), ("s2i_pose", "paired_gan"), ("i2s", "gan_cls")])
def test_gan_objectives_train_in_mixed_bfloat16(task_name, recipe):
    """``--precision auto`` picks bfloat16 on AMX CPUs: every loss must still build there."""
    import tensorflow as tf

    from tfav.models import encoders
    from tfav.precision import policy

    task = tasks.get_task(task_name)
    objective = objectives.get(recipe)
    hyper = objective.make_hyper({"base_filters": 4, "z_dim": 4})
    rng = np.random.default_rng(0)
    if task.direction == "s2i":
        shape_in, shape_out = (8, 128, 44), (8, 64, 64, 3)
        classifier = encoders.sound_classifier(3, base_filters=4)
    else:
        shape_in, shape_out = (8, 64, 64, 3), (8, 128, 34)
        classifier = encoders.image_classifier(3, base_filters=4)
    with policy("mixed_bfloat16"):
        encoder = encoders.encoder_from_classifier(classifier)
        model = objective.build(registry.BuildContext(task, 3, hyper, encoder, 64, 0))
    batch = {"condition": rng.uniform(-1, 1, shape_in).astype("float32"),
             "target": rng.uniform(-1, 1, shape_out).astype("float32"),
             "wrong_target": rng.uniform(-1, 1, shape_out).astype("float32"),
             "label": np.zeros(8, "int32")}
    history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1,
                        verbose=0).history
    assert model.generator.compute_dtype == "bfloat16"
    assert all(np.isfinite(v[-1]) for v in history.values())
