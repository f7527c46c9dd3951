"""Tests of tfav.bench: the sub-command registry and a tiny features run."""

import sys

import pytest

from tfav import bench


def test_registering_a_benchmark_adds_a_subcommand(monkeypatch, capsys):
    monkeypatch.setattr(bench, "BENCHMARKS", dict(bench.BENCHMARKS))
    calls = []

    @bench.benchmark("echo", "print a number", bench.arg("--n", type=int, default=3))
    def echo(args):
        calls.append(args.n)

    bench.main(["echo", "--n", "7"])
    assert calls == [7]
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    out = capsys.readouterr().out
    assert "echo" in out and "features" in out
    with pytest.raises(SystemExit):
        bench.main(["no-such-benchmark"])


def test_features_prints_throughputs_ratio_and_difference(capsys):
    bench.main(["features", "--batch", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "(128, 44) per clip, batch 4 x 22050 samples" in out
    assert "tfav (tf.function)" in out and "librosa" in out and "rfft only (the floor)" in out
    floor = next(line for line in out.splitlines() if line.startswith("tfav LMS / rfft only"))
    assert float(floor.split(":")[1].split("x")[0]) > 0
    assert "CPU " in out
    ratio_line = next(line for line in out.splitlines() if line.startswith("speed-up"))
    difference = float(ratio_line.split("max |dB difference|:")[1])
    assert difference < 0.01


def test_features_without_librosa(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "librosa", None)  # import librosa now fails
    bench.main(["features", "--batch", "2", "--repeats", "1", "--seconds", "0.1"])
    out = capsys.readouterr().out
    assert "librosa is not installed" in out
    assert "tfav (tf.function)" in out and "speed-up" not in out
    assert "(128, 9) per clip" in out


def test_test_clips_are_audible_float32():
    clips = bench.test_clips(3, 1000)
    assert clips.shape == (3, 1000) and clips.dtype.name == "float32"
    assert 0.04 < abs(clips).max() <= 0.5


def test_vocoder_benchmark_reports_both_methods(capsys):
    bench.main(["vocoder", "--batch", "2", "--repeats", "1", "--iterations", "2"])
    out = capsys.readouterr().out
    rates = {line.split()[0]: float(line.split("x real time")[0].split()[-1])
             for line in out.splitlines() if "x real time" in line}
    assert set(rates) == {"vocoder", "Griffin-Lim"} and min(rates.values()) > 0
    assert "2 chunks of 0.5 s (1.0 s of sound)" in out and "faster" in out


def test_vocoder_benchmark_names_a_missing_vocoder(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["vocoder", "--vocoder", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "nowhere: no trained vocoder here" in err and "\n" not in err


def test_train_benchmark_times_interleaved_variants_on_a_pair_folder(tiny_pairs, capsys):
    bench.main(["train", "--data", str(tiny_pairs), "--batch", "4", "--steps", "1",
                "--repeats", "2", "--base-filters", "4"])
    out = capsys.readouterr().out
    for words in ("real pipeline", "in-memory tensors", "in-memory, mixed_bfloat16",
                  "real pipeline / in-memory", "mixed_bfloat16 / float32", "load average",
                  "--precision auto here:"):
        assert words in out, words
    rates = [float(line.split("images/s")[0].split()[-1]) for line in out.splitlines()
             if "images/s" in line]
    assert len(rates) == 3 and all(r > 0 for r in rates)
