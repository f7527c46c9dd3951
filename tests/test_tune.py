"""Hyperparameter search: search spaces, a small search end to end, resume, distributed search."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import keras_tuner
import pytest
from conftest import write_tiny_pairs

from tfav import objectives, tasks, train
from tfav.errors import ConfigError
from tfav.tune import hypermodel_for, main, parse_fixed

REPO = Path(__file__).resolve().parents[1]
GAN_TASKS = [name for name, t in tasks.TASKS.items() if t.kind == "gan"]
#: Tiny networks and batches: the plumbing is under test, not the GAN.
TINY = ["--fix", "base_filters=4", "--fix", "z_dim=8", "--fix", "batch_size=4",
        "--epochs", "1", "--steps-per-epoch", "1", "--eval-n", "8", "--quiet"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Tiny pairs and a model cache shared by the searches of this module (encoders once)."""
    root = tmp_path_factory.mktemp("tune")
    return write_tiny_pairs(root / "tiny_pairs"), root / "cache"


@pytest.fixture
def cache(shared, monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(shared[1]))
    return shared[1]


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", GAN_TASKS)
def test_space_defaults_are_the_task_defaults(name):
    """Untuned values of the space = what ``python -m tfav.train`` uses for the task."""
    task = tasks.get_task(name)
    model = hypermodel_for(task)
    hp = keras_tuner.HyperParameters()
    plan = model.build(hp)
    assert plan.batch_size == task.batch_size
    h, default = plan.hyper, objectives.make_hyper(task)
    assert type(h) is type(default)
    assert h.learning_rate == h.d_learning_rate == task.learning_rate
    assert h.base_filters == task.base_filters
    # Each objective has its own fields: compare those of these that it has.
    names = [n for n in ("beta_1", "z_dim", "g_steps", "ablation", "g_per_d", "spectral_norm")
             if hasattr(default, n)]
    assert {"beta_1", "z_dim"} <= set(names)
    # A field whose default is "the task's" (None) starts the search at the task's value.
    expected = [getattr(task, n) if getattr(default, n) is None else getattr(default, n)
                for n in names]
    assert [getattr(h, n) for n in names] == expected
    searched = {p.name for p in hp.space}
    assert {"learning_rate", "d_learning_rate", "beta_1", "z_dim", "base_filters",
            "batch_size"} <= searched
    ratio = "g_per_d" if name == "a2i_scene" else "g_steps"
    assert ratio in searched
    if name not in ("a2i_scene", "a2i_diverse"):
        assert "spectral_norm" in searched
    if name == "a2i_scene":  # spectral norm on/off through the Table 4 rows
        assert {"cgan", "sn"} <= set(next(p for p in hp.space if p.name == "ablation").values)


def test_fixed_values_and_random_draws():
    model = hypermodel_for(tasks.get_task("a2i_scene"),
                           parse_fixed(["base_filters=8", "features=mfcc", "batch_size=16"]))
    hp = keras_tuner.HyperParameters()
    model.build(hp)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        keras_tuner.Objective("acc_val", "max"), max_trials=5, seed=1, hyperparameters=hp)
    plans = []
    for i in range(5):
        values = oracle.populate_space(str(i))["values"]
        trial_hp = hp.copy()
        trial_hp.values = values
        plans.append(model.build(trial_hp))
    assert {(p.hyper.base_filters, p.hyper.features, p.batch_size) for p in plans} == {
        (8, "mfcc", 16)}
    assert len({p.hyper.learning_rate for p in plans}) == 5
    with pytest.raises(ConfigError, match="--fix filters=8"):
        parse_fixed(["filters=8"])
    with pytest.raises(ConfigError, match="GAN tasks"):
        hypermodel_for(tasks.get_task("sound_encoder"))


@pytest.mark.parametrize("argv, message", [
    (["--task", "i2s", "--objective", "fid"], "i2s measures acc_val, acc_train"),
    (["--task", "s2i_pose"], "--instrument"),
    (["--task", "s2i_instrument", "--epochs", "0"], "--epochs must be at least 1"),
])  # fmt: skip
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and message in err and "\n" not in err


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    for text, message in [('{"learning_rate": 1e-4, "lr_d": 1}', "unknown key 'lr_d'"),
                          ('{"z_dim": "many"}', "'z_dim' must be int"),
                          ('{"spectral_norm": 1}', "'spectral_norm' must be bool"),
                          ("[1, 2]", "expected a JSON object"), ("{", "not valid JSON")]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message) as e:
            train.read_config(bad)
        assert str(bad) in str(e.value)


@pytest.mark.slow
def test_small_search_resumes_and_its_best_config_trains(shared, cache, tmp_path, monkeypatch):
    data, _ = shared
    out = tmp_path / "search"
    args = ["--task", "s2i_instrument", "--data", str(data), "--out", str(out), *TINY,
            "--no-baseline"]  # the distributed test below adds a defaults row
    assert main([*args, "--max-trials", "1"]) == 0
    first = {p: p.stat().st_mtime_ns for p in out.glob("trial_*/run/*.keras")}
    assert first, "the first trial saved no model"
    assert main([*args, "--max-trials", "2"]) == 0  # resumes: adds one trial
    rows = read_rows(out / "results.csv")
    assert sorted(r["trial"] for r in rows) == ["0", "1"]
    assert all(r["status"] == "COMPLETED" and 0 <= float(r["acc_val"]) <= 1 for r in rows)
    again = {p: p.stat().st_mtime_ns for p in out.glob("trial_*/run/*.keras")}
    assert {k: again[k] for k in first} == first, "finished trials were trained again"
    assert (out / "results.md").read_text().startswith("# Hyperparameter search: s2i_instrument")

    # Every trial trained what the tuner drew (the run folders record the hyperparameters).
    for row in rows:
        run = out / f"trial_{row['trial']}" / "run"
        hyper = json.loads((run / "config.json").read_text())["hyper"]
        assert hyper["learning_rate"] == pytest.approx(float(row["learning_rate"]))
        assert hyper["base_filters"] == 4 and hyper["z_dim"] == 8

    best = json.loads((out / "best_config.json").read_text())
    top = max(rows, key=lambda r: float(r["acc_val"]))
    assert best["task"] == "s2i_instrument" and best["batch_size"] == 4
    assert best["learning_rate"] == pytest.approx(float(top["learning_rate"]))

    calls = []
    monkeypatch.setattr(train, "train", lambda task, **kw: calls.append((task, kw)))
    train.main(["--config", str(out / "best_config.json"), "--z-dim", "12", "--data", str(data)])
    task, kw = calls[0]
    assert task == "s2i_instrument" and kw["batch_size"] == 4
    hyper = objectives.make_hyper(tasks.get_task(task), kw["hyper"])  # what train() builds
    assert hyper.learning_rate == best["learning_rate"]
    assert hyper.beta_1 == best["beta_1"] and hyper.z_dim == 12  # option wins


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_chief_and_two_workers(shared, tmp_path, monkeypatch):
    """A chief (the oracle) and two workers on localhost finish one search together."""
    data, cache_dir = shared
    out = tmp_path / "search"
    env = dict(os.environ, TFAV_CACHE=str(cache_dir), KERASTUNER_ORACLE_IP="127.0.0.1",
               KERASTUNER_ORACLE_PORT=str(_free_port()), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "tfav.tune", "--task", "s2i_instrument", "--data",
               str(data), "--out", str(out), "--max-trials", "2", *TINY]
    procs = []
    try:
        for tuner_id in ("chief", "w0", "w1"):
            procs.append(subprocess.Popen(
                command, env=dict(env, KERASTUNER_TUNER_ID=tuner_id), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True))
        logs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    ran = [line.split(": trial ")[1].split()[0] for log in logs[1:] for line in log.splitlines()
           if ": trial " in line and line.startswith("[tfav] w")]
    assert sorted(ran) == ["0", "1"], ran
    rows = read_rows(out / "results.csv")  # written by the chief
    assert sorted(r["trial"] for r in rows) == ["0", "1"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert (out / "best_config.json").exists()

    # The same command on one machine adds the defaults row and keeps the trials.
    trained = {p: p.stat().st_mtime_ns for p in out.glob("trial_*/run/checkpoint.keras")}
    monkeypatch.setenv("TFAV_CACHE", str(cache_dir))
    assert main(command[3:]) == 0
    rows = read_rows(out / "results.csv")
    assert sorted(r["trial"] for r in rows) == ["0", "1", "defaults"]
    assert {p: p.stat().st_mtime_ns for p in trained} == trained
