"""End-to-end training runs on the tiny pair folder: outputs, resume, reload, errors."""

import json
import shutil

import numpy as np
import pytest

from tfav import tasks
from tfav.callbacks import NanGuard
from tfav.errors import ConfigError, TfavError
from tfav.objectives.gan_cls import ChenHyper
from tfav.runs import load_trained
from tfav.train import main
from tfav.training import train

TINY = ChenHyper(base_filters=8, z_dim=16)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def sound_encoder(tiny_pairs, tmp_path, cache):
    return train("sound_encoder", data=tiny_pairs, epochs=1, batch_size=4,
                 out=tmp_path / "enc", verbose=0)


def test_classifier_run_folder(sound_encoder):
    run = sound_encoder
    for name in ("config.json", "checkpoint.keras", "state.json", "model.keras", "summary.json"):
        assert (run / name).exists(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_done"] == 1 and summary["task"] == "sound_encoder"
    assert np.isfinite(summary["final"]["loss"]) and "val_accuracy" in summary["final"]
    assert list((run / "logs").rglob("events.out.tfevents.*")), "no TensorBoard logs"


@pytest.mark.slow
def test_gan_run_resume_and_reload(tiny_pairs, tmp_path, sound_encoder):
    out = tmp_path / "gan"
    kwargs = dict(data=tiny_pairs, batch_size=4, out=out, hyper=TINY, verbose=0,
                  encoders={"sound_encoder": sound_encoder}, evaluate=False)
    train("s2i_instrument", epochs=1, **kwargs)
    first = json.loads((out / "state.json").read_text())
    assert first["epoch"] == 1 and (out / "samples" / "epoch_001.png").exists()

    with pytest.raises(ConfigError, match="--resume"):
        train("s2i_instrument", epochs=2, **kwargs)
    train("s2i_instrument", epochs=3, resume=True, **kwargs)
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]
    # Training time adds up over sessions, and a finished run resumed again keeps it.
    assert state["seconds"] > first["seconds"] > 0
    train("s2i_instrument", epochs=3, resume=True, **kwargs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seconds"] == state["seconds"]
    losses = [h["d_loss"] for h in state["history"]]
    assert all(np.isfinite(losses)) and len(set(losses)) == 3, losses

    # The final generator is the checkpointed objective's averaged generator,
    # which the checkpoint keeps apart from the trained weights.
    gan = load_trained(out, "s2i_instrument")
    generator = load_trained(out / "generator.keras", "generator")
    rng = np.random.default_rng(0)
    enc = rng.standard_normal((2, 128)).astype(np.float32)
    z = rng.standard_normal((2, 16)).astype(np.float32)
    a = np.asarray(gan.sampling_generator([enc, z], training=False))
    b = np.asarray(generator([enc, z], training=False))
    np.testing.assert_allclose(a, b, atol=1e-6)
    raw = np.asarray(gan.generator([enc, z], training=False))
    assert gan.averaged_generator is not None and np.abs(raw - a).max() > 1e-4
    # ...and its samples depend on the sound.
    lms = rng.uniform(-1, 1, (2, 128, 44)).astype(np.float32)
    z2 = np.repeat(z[:1], 2, axis=0)
    out_imgs = np.asarray(gan.generate(lms, z=z2))
    assert out_imgs.shape == (2, 64, 64, 3)


def test_hard_wrong_pairs_come_from_the_sound_classifier(tiny_pairs, tmp_path, sound_encoder):
    import dataclasses

    hard = dataclasses.replace(TINY, hard_wrong_pairs=0.5)
    kwargs = dict(data=tiny_pairs, batch_size=4, hyper=hard, verbose=0, epochs=1,
                  steps_per_epoch=2, encoders={"sound_encoder": sound_encoder}, evaluate=False)
    with pytest.raises(ConfigError, match="--hard-wrong-pairs"):
        train("i2s", out=tmp_path / "i2s", **kwargs)
    out = train("s2i_instrument", out=tmp_path / "gan", **kwargs)
    w = np.array(json.loads((out / "config.json").read_text())["wrong_pair_weights"])
    k = len(w)
    off = w[~np.eye(k, dtype=bool)].reshape(k, k - 1)
    np.testing.assert_allclose(off.sum(axis=1), 1.0, atol=1e-3)
    assert off.min() >= 0.5 / (k - 1) - 1e-4  # the uniform half of the mixture


def test_unknown_instrument_and_missing_instrument(tiny_pairs, tmp_path, cache):
    with pytest.raises(TfavError, match="unknown category 'tuba'"):
        train("sound_encoder", data=tiny_pairs, instrument="tuba", out=tmp_path / "x", verbose=0)
    with pytest.raises(ConfigError, match="--instrument"):
        train("s2i_pose", data=tiny_pairs, out=tmp_path / "y", verbose=0)


def test_cli_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--task", "sound_encoder", "--data", str(tmp_path / "nowhere")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nowhere" in err and "\n" not in err


def test_a_corrupt_file_body_is_named_in_one_line(tiny_pairs, tmp_path, cache, capsys):
    # Headers are checked up front; a WAV cut short after its header only fails in tf.data.
    wav = tiny_pairs / "chunk" / "train" / "flute" / "flute01_500.wav"
    wav.write_bytes(wav.read_bytes()[:200])
    with pytest.raises(SystemExit) as e:
        main(["--task", "sound_encoder", "--data", str(tiny_pairs), "--epochs", "1",
              "--out", str(tmp_path / "run")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {wav}: cannot be decoded (Data too short"), err
    assert "--resume" in err


def test_best_checkpoint_keeps_the_best_epoch_and_survives_a_resume(tmp_path):
    import keras

    from tfav.callbacks import BestCheckpoint
    from tfav.runs import BEST

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = BestCheckpoint(tmp_path, "acc_train", "max", history=[])
    best.set_model(model)
    weights = {}
    for epoch, acc in enumerate([0.5, 0.7, 0.6]):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))
        best.on_epoch_end(epoch, {"acc_train": acc})
        weights[epoch + 1] = float(model.layers[0].kernel[0, 0])
    assert best.best == {"epoch": 2, "acc_train": 0.7}
    kept = load_trained(tmp_path / BEST, "model")
    assert float(kept.layers[0].kernel[0, 0]) == weights[2]
    # Resumed: the best so far comes from the history; a worse epoch does not replace it.
    history = [{"epoch": 1, "acc_train": 0.5}, {"epoch": 2, "acc_train": 0.7},
               {"epoch": 3, "acc_train": 0.6}]
    again = BestCheckpoint(tmp_path, "acc_train", "max", history)
    again.set_model(model)
    assert again.best == {"epoch": 2, "acc_train": 0.7}
    again.on_epoch_end(3, {"acc_train": 0.65})
    assert again.best["epoch"] == 2
    lower = BestCheckpoint(tmp_path / "pose", "pose_err_train", "min", history=[])
    lower.set_model(model)
    (tmp_path / "pose").mkdir()
    for epoch, err in enumerate([0.3, 0.2, float("nan"), 0.25]):
        lower.on_epoch_end(epoch, {"pose_err_train": err})
    assert lower.best == {"epoch": 2, "pose_err_train": 0.2}
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no best.keras"):
        load_trained(empty, "s2i_instrument", checkpoint="best")


def test_nan_guard_stops_training():
    class Model:
        stop_training = False

    guard = NanGuard()
    guard.set_model(Model())
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"d_loss": 0.5})
    assert guard.failure is None and not guard.model.stop_training
    guard.on_train_batch_end(7, {"d_loss": float("nan")})
    assert guard.model.stop_training and "epoch 3, batch 7" in guard.failure


def test_cache_folder_follows_the_training_recipe(tiny_pairs, cache, monkeypatch):
    import dataclasses

    from tfav import tasks
    from tfav.data.layout import index_pairs
    from tfav.runs import cached_model_dir

    index = index_pairs(tiny_pairs)
    before = cached_model_dir("sound_encoder", index)
    assert before.parent.parent == cache / "models" and before.name.startswith("sound_encoder-")
    task = tasks.TASKS["sound_encoder"]
    monkeypatch.setitem(tasks.TASKS, "sound_encoder",
                        dataclasses.replace(task, description="reworded"))
    assert cached_model_dir("sound_encoder", index) == before
    monkeypatch.setitem(tasks.TASKS, "sound_encoder", dataclasses.replace(task, epochs=99))
    assert cached_model_dir("sound_encoder", index) != before


def test_selection_score_prefers_clean_samples_to_slightly_better_speckled_ones():
    from tfav.probe import selection_score

    clean = {"pose_err_train": 0.20, "spectrum_gap_db_train": 0.5, "tv_ratio_train": 1.1}
    speckled = {"pose_err_train": 0.18, "spectrum_gap_db_train": 3.0, "tv_ratio_train": 2.3}
    assert selection_score(clean) < selection_score(speckled)
    # A perfectly real-looking sample is scored by its content error alone.
    assert selection_score({"acc_train": 0.61, "spectrum_gap_db_train": 0.0,
                            "tv_ratio_train": 1.0}) == pytest.approx(0.40)
    # Too smooth (TV far below the real frames') is penalised like too rough.
    rough = selection_score({"acc_train": 0.9, "tv_ratio_train": 2.0})
    smooth = selection_score({"acc_train": 0.9, "tv_ratio_train": 0.5})
    assert rough == pytest.approx(smooth)
    assert rough > selection_score({"acc_train": 0.9})
    assert selection_score({"spectrum_gap_db_train": 1.0}) is None


def test_trains_on_a_tfrecord_folder_with_short_and_long_chunks(tiny_pairs, tmp_path, cache):
    from test_probe import write_odd_lengths

    from tfav.data.__main__ import main as data_main

    write_odd_lengths(tiny_pairs)  # a 0.3 s and a 0.7 s sound: padded and cropped alike
    records = tmp_path / "records"
    data_main(["to-tfrecord", str(tiny_pairs), str(records)])
    enc = tmp_path / "enc"
    assert main(["--task", "sound_encoder", "--data", str(records), "--epochs", "1",
                 "--batch-size", "4", "--out", str(enc)]) == 0
    gan = tmp_path / "gan"
    assert main(["--task", "s2i_instrument", "--data", str(records), "--epochs", "1",
                 "--batch-size", "4", "--steps-per-epoch", "1", "--base-filters", "8",
                 "--z-dim", "16", "--no-eval", "--sound-encoder", str(enc),
                 "--out", str(gan)]) == 0
    summary = json.loads((gan / "summary.json").read_text())
    assert summary["data"] == str(records) and summary["train_pairs"] == 12
    assert summary["validation_pairs"] == 6 and summary["epochs_done"] == 1
    assert (gan / "samples" / "epoch_001.png").exists()  # the probe read the records


# --------------------------------------------------------------------------- bad run folders


def _one_line_error(capsys, argv) -> str:
    """The ``error: ...`` line of a ``tfav.train`` command that exits with status 2."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_resume_of_a_folder_that_is_not_a_run_is_refused(tiny_pairs, tmp_path, cache, capsys):
    resume = ["--task", "sound_encoder", "--data", str(tiny_pairs), "--epochs", "1", "--resume"]
    missing = tmp_path / "missing"
    err = _one_line_error(capsys, [*resume, "--out", str(missing)])
    assert err == f"error: --resume: {missing}: no such run folder"
    assert not missing.exists()  # not a fresh run instead
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _one_line_error(capsys, [*resume, "--out", str(empty)])
    assert err == f"error: --resume: {empty}: not a run folder (no config.json)"
    assert not list(empty.iterdir())


def test_corrupt_run_files_are_named_in_one_line(tiny_pairs, tmp_path, cache, capsys):
    import keras

    from tfav.runs import CHECKPOINT, save_model_atomically

    run = tmp_path / "run"
    run.mkdir()
    resume = ["--task", "sound_encoder", "--data", str(tiny_pairs), "--epochs", "2", "--resume",
              "--out", str(run)]
    state = json.dumps({"epoch": 1, "history": [{"epoch": 1, "loss": 1.0}]})
    (run / "config.json").write_text('{"task": "sound_encoder", "epo')
    (run / "state.json").write_text(state)
    err = _one_line_error(capsys, resume)
    assert err.startswith(f"error: {run / 'config.json'}: not valid JSON ("), err
    (run / "config.json").write_text(json.dumps({"task": "sound_encoder"}))
    (run / "state.json").write_text(state[:20])  # a run whose checkpoint holds no state
    err = _one_line_error(capsys, resume)
    assert err.startswith(f"error: {run / 'state.json'}: not valid JSON ("), err
    (run / "state.json").write_text(state)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    save_model_atomically(model, run / CHECKPOINT, state=json.loads(state))
    data = (run / CHECKPOINT).read_bytes()
    (run / CHECKPOINT).write_bytes(data[: len(data) // 2])
    err = _one_line_error(capsys, resume)
    assert err.startswith(f"error: {run / CHECKPOINT}: truncated or corrupt .keras file"), err
    with pytest.raises(ConfigError, match="truncated or corrupt"):  # not "File not found"
        load_trained(run, "sound_encoder")


def test_a_second_training_of_one_run_folder_is_refused(tiny_pairs, tmp_path, cache, capsys):
    import subprocess
    import sys

    from tfav.runs import RUN_LOCK, run_lock

    run = tmp_path / "run"
    run.mkdir()
    # Another process holds the folder's lock, as a training in progress does.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(run / RUN_LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        err = _one_line_error(capsys, ["--task", "sound_encoder", "--data", str(tiny_pairs),
                                       "--epochs", "1", "--out", str(run)])
    finally:
        holder.kill()
        holder.wait()
    assert err == (f"error: {run}: another training is writing this run folder (wait for it to "
                   "finish, or give another --out)")
    assert [p.name for p in run.iterdir()] == [RUN_LOCK]  # it wrote nothing
    with run_lock(run):  # free again once the holder is gone
        pass


def test_a_kill_before_state_json_neither_repeats_nor_loses_an_epoch(tiny_pairs, tmp_path, cache,
                                                                    monkeypatch):
    from pathlib import Path

    from tfav import callbacks
    from tfav.runs import STATE, read_state

    class Killed(BaseException):
        pass

    write = callbacks.atomic_write_bytes

    def killed_before_state_json_of_epoch_2(path, data):
        if Path(path).name == STATE and json.loads(data)["epoch"] == 2:
            raise Killed  # checkpoint.keras of epoch 2 is in place
        write(path, data)

    run = tmp_path / "run"
    kwargs = dict(data=tiny_pairs, batch_size=4, out=run, steps_per_epoch=1, verbose=0)
    monkeypatch.setattr(callbacks, "atomic_write_bytes", killed_before_state_json_of_epoch_2)
    with pytest.raises(Killed):
        train("sound_encoder", epochs=2, **kwargs)
    monkeypatch.setattr(callbacks, "atomic_write_bytes", write)
    assert json.loads((run / STATE).read_text())["epoch"] == 1  # one epoch behind the model
    second = read_state(run)["history"][1]  # the checkpoint's own state
    assert second["epoch"] == 2

    train("sound_encoder", epochs=3, resume=True, **kwargs)
    state = json.loads((run / STATE).read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]
    assert state["history"][1] == second  # epoch 2 was not trained again...
    model = load_trained(run, "sound_encoder", compile=True)
    assert int(model.optimizer.iterations) == 3  # ...nor was any other: one step an epoch


def test_cli_names_a_broken_link_in_the_data(tiny_pairs, tmp_path, cache, capsys):
    wav = tiny_pairs / "chunk" / "train" / "flute" / "flute01_500.wav"
    wav.unlink()
    wav.symlink_to(tmp_path / "gone.wav")
    err = _one_line_error(capsys, ["--task", "sound_encoder", "--data", str(tiny_pairs),
                                   "--epochs", "1", "--out", str(tmp_path / "run")])
    assert err == f"error: {wav}: broken link (to {tmp_path / 'gone.wav'}, which does not exist)"


def test_wrong_pairs_of_other_categories_need_two_categories(tiny_pairs, tmp_path, cache, capsys):
    import shutil

    argv = ["--task", "s2i_instrument", "--epochs", "1", "--steps-per-epoch", "1", "--no-eval",
            "--base-filters", "8", "--z-dim", "16", "--out", str(tmp_path / "run")]
    err = _one_line_error(capsys, [*argv, "--data", str(tiny_pairs), "--instrument", "violin"])
    assert err == ("error: task 's2i_instrument' draws its wrong pairs from other categories, but "
                   "with --instrument violin there is 1 category to train on (violin); give it 2 "
                   "or more (without --instrument)")
    for kind in ("img", "chunk"):
        for split in ("train", "validation"):
            for category in ("cello", "flute"):
                shutil.rmtree(tiny_pairs / kind / split / category)
    err = _one_line_error(capsys, [*argv, "--data", str(tiny_pairs)])
    assert err == (f"error: task 's2i_instrument' draws its wrong pairs from other categories, "
                   f"but {tiny_pairs} has 1 category to train on (violin); give it 2 or more")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_three_kill_9s_at_random_moments_lose_and_repeat_no_epoch(tiny_pairs, tmp_path, cache):
    """SIGKILL a CLI training three times at random moments of its epochs, resume each time:
    the history has every epoch once and the optimizer took the steps of a run never
    killed (one per epoch here)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    epochs, times = 30, 3
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "tfav.train", "--task", "sound_encoder", "--data",
            str(tiny_pairs), "--epochs", str(epochs), "--batch-size", "4",
            "--steps-per-epoch", "1", "--out", str(run)]
    env = {**os.environ, "TFAV_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    rng = np.random.default_rng(0)
    kills = 0
    while kills < times:
        resume = ["--resume"] if (run / "config.json").exists() else []
        process = subprocess.Popen(argv + resume, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        # Wait until this process has finished an epoch of its own, then kill it at a
        # random moment of the ones that follow.
        start = json.loads((run / "state.json").read_text())["epoch"] if (
            run / "state.json").exists() else 0
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            done = json.loads((run / "state.json").read_text())["epoch"] if (
                run / "state.json").exists() else 0
            if done > start:
                break
            time.sleep(0.05)
        if process.poll() is not None:
            break  # finished before a kill: the run is complete
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills == times, f"the run finished before it was killed {times} times"
    finished = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    state = json.loads((run / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == list(range(1, epochs + 1))
    model = load_trained(run, "sound_encoder", compile=True)
    assert int(model.optimizer.iterations) == epochs  # --steps-per-epoch 1


def test_resume_accepts_a_value_equal_to_the_task_default_it_ran_with():
    from tfav.training import hyper_for

    task = tasks.get_task("s2i_pose")  # its g_steps default is 2
    assert hyper_for(task, {"g_steps": task.g_steps}, stored={"g_steps": None}).g_steps == 2
    with pytest.raises(ConfigError, match="trained with g_steps=2, not 1"):
        hyper_for(task, {"g_steps": 1}, stored={"g_steps": None})


def test_a_resumed_run_keeps_its_identity(tiny_pairs, tmp_path, cache, capsys):
    run = tmp_path / "run"
    train("sound_encoder", data=tiny_pairs, epochs=1, batch_size=4, seed=3, out=run,
          steps_per_epoch=1, verbose=0)
    other = tmp_path / "other_pairs"
    shutil.copytree(tiny_pairs, other)
    base = ["--out", str(run), "--resume"]
    for argv, words in (
        (["--task", "image_encoder"], "is a sound_encoder run, not image_encoder"),
        (["--task", "sound_encoder", "--data", str(other)], "was trained on"),
        (["--task", "sound_encoder", "--seed", "4"], "was trained with --seed 3, not 4"),
        (["--task", "sound_encoder", "--batch-size", "2"], "with --batch-size 4, not 2"),
        (["--task", "sound_encoder", "--epochs", "1", "--instrument", "flute"],
         "with --instrument None, not flute"),
    ):
        err = _one_line_error(capsys, argv + base)
        assert words in err, err
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 3 and config["batch_size"] == 4 and config["epochs"] == 1
    # No options: the run's own; a larger epoch count continues it.
    main(["--task", "sound_encoder", "--epochs", "2", "--steps-per-epoch", "1"] + base)
    config = json.loads((run / "config.json").read_text())
    assert (config["seed"], config["batch_size"], config["epochs"]) == (3, 4, 2)
    assert config["data"] == str(tiny_pairs.resolve()) or config["data"] == str(tiny_pairs)
    err = _one_line_error(capsys, ["--task", "sound_encoder", "--epochs", "1"] + base)
    assert "is a 2-epoch run; --epochs may only grow (got 1)" in err


def test_mixed_bfloat16_trains_resumes_in_it_and_saves_float32(tiny_pairs, tmp_path,
                                                              sound_encoder):
    """``--precision mixed_bfloat16``: bfloat16 compute inside training, float32
    variables; the run keeps its precision on resume, and what is loaded to sample,
    measure or export computes in float32."""
    import keras

    out = tmp_path / "bf16"
    kwargs = dict(data=tiny_pairs, batch_size=4, out=out, hyper=TINY, verbose=0,
                  encoders={"sound_encoder": sound_encoder}, evaluate=False)
    train("s2i_instrument", epochs=1, precision="mixed_bfloat16", **kwargs)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    config = json.loads((out / "config.json").read_text())
    assert config["precision"] == "mixed_bfloat16"
    resumed = load_trained(out, "s2i_instrument", compile=True)
    assert resumed.generator.layers[-1].dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == "float32" for w in resumed.generator.weights)
    with pytest.raises(ConfigError, match="--precision mixed_bfloat16, not float32"):
        train("s2i_instrument", epochs=2, resume=True, precision="float32", **kwargs)
    train("s2i_instrument", epochs=2, resume=True, **kwargs)
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert all(np.isfinite(h["d_loss"]) for h in state["history"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["precision"] == "mixed_bfloat16"
    assert summary["precision_why"] == "the run's own"

    generator = keras.models.load_model(out / "generator.keras")  # as saved, not converted
    assert {layer.dtype_policy.name for layer in generator.layers} == {"float32"}
    gan = load_trained(out, "s2i_instrument")
    assert gan.generator.layers[-1].dtype_policy.name == "float32"
    rng = np.random.default_rng(0)
    enc = rng.standard_normal((2, 128)).astype(np.float32)
    z = rng.standard_normal((2, 16)).astype(np.float32)
    image = generator([enc, z], training=False)
    assert image.dtype == "float32"
    bf16 = np.asarray(resumed.sampling_generator([enc, z], training=False), np.float32)
    # bfloat16 round-off only: the same picture (on AMX, whose bfloat16 kernels round
    # otherwise, this untrained generator's outputs, about 0.07 in size, differ by about
    # 0.02 with a correlation of 0.96; another generator's would be uncorrelated)
    difference = np.abs(np.asarray(image) - bf16)
    assert difference.max() < 0.3, difference.max()
    assert np.corrcoef(np.asarray(image).ravel(), bf16.ravel())[0, 1] > 0.9


def test_precision_auto_is_float32_without_bfloat16_hardware(monkeypatch):
    from tfav import precision

    monkeypatch.setattr(precision, "cpu_features", lambda: {"avx512f", "avx512_bf16"})
    assert precision.resolve("auto") == ("float32", "auto: no AMX or bfloat16 GPU found")
    monkeypatch.setattr(precision, "cpu_features", lambda: {"amx_tile", "amx_bf16"})
    assert precision.resolve(None)[0] == "mixed_bfloat16"
    assert precision.resolve("float32") == ("float32", "asked for")
    with pytest.raises(ConfigError, match="--precision half: expected one of auto"):
        precision.resolve("half")
