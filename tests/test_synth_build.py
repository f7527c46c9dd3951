"""Building the embedded dataset: layout, determinism, splits, ground truth, caching."""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from tfav.audio import SILENCE_DBFS, loudness_dbfs
from tfav.data import layout
from tfav.data.synth import build
from tfav.data.synth.score import SPECS

SR = 44100


def digest(root):
    """Hash of every file (path and bytes) under ``root``."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """40 pairs built with one worker."""
    root = tmp_path_factory.mktemp("synth") / "tiny"
    info = build.build_dataset(root, n_pairs=40, seed=3, workers=1, progress=False)
    return root, info


def test_layout_counts_and_labels_match_files(tiny):
    root, info = tiny
    index = layout.index_pairs(root)
    assert len(index.pairs) == 40 == info["pairs"] and not index.unpaired
    assert index.categories == layout.SUB_URMP_INSTRUMENTS
    keys = {(p.split, p.category, p.stem) for p in index.pairs}
    assert keys == set(index.labels)
    per_category = [sum(c.get(k, 0) for c in index.counts().values()) for k in index.categories]
    assert max(per_category) - min(per_category) <= 1  # balanced
    for pair in index.pairs:
        row = index.ground_truth(pair)
        spec = SPECS[row["instrument"]]
        assert row["instrument"] == pair.category and row["recording"] in pair.stem
        assert row["midi"] == -1 or spec.low <= row["midi"] <= spec.high
        assert len(row["pose"]) == 3 and all(0.0 <= v <= 1.0 for v in row["pose"])
        assert row["bow_direction"] in (-1, 0, 1)
        if not spec.bowed:
            assert row["pose"][1] == 0.5 and row["bow_direction"] == 0
        if row["midi"] >= 0:
            hand = (row["midi"] - spec.low) / (spec.high - spec.low)
            assert row["pose"][0] == pytest.approx(hand, abs=1e-4)
        image = np.asarray(Image.open(pair.image_path))
        assert image.shape == (64, 64, 3) and pair.image_path.endswith(".png")
        audio, sr = soundfile.read(pair.audio_path, dtype="float32")
        assert sr == SR and audio.shape == (22050,)
        # the -45 dBFS rule, checked on the file as written (16-bit)
        assert loudness_dbfs(audio) > SILENCE_DBFS
        assert loudness_dbfs(audio) == pytest.approx(row["loudness_dbfs"], abs=0.05)
    meta = json.loads((Path(root) / "synth.json").read_text())
    assert meta["pairs"] == 40 and meta["kind"] == "suburmp"


def test_split_is_by_recording(tiny):
    root, _ = tiny
    rows = layout.read_labels(root).values()
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["recording"], row["split"]) == row["split"]
    for category in layout.SUB_URMP_INSTRUMENTS:
        splits = {row["split"] for row in rows if row["category"] == category}
        assert splits == {"train", "validation"}
    plans = build.plan_recordings(17555, "suburmp", 0)
    assert sum(p.pairs for p in plans) == 17555
    validation = sum(p.pairs for p in plans if p.split == "validation")
    assert 0.17 < validation / 17555 < 0.23
    assert len({(p.category, p.number) for p in plans}) == len(plans)


def test_same_seed_same_bytes_whatever_the_workers(tiny, tmp_path):
    root, _ = tiny
    other = tmp_path / "again"
    build.build_dataset(other, n_pairs=40, seed=3, workers=2, progress=False)
    assert digest(root) == digest(other)
    different = tmp_path / "seed4"
    build.build_dataset(different, n_pairs=40, seed=4, workers=1, progress=False)
    assert digest(different) != digest(root)


def test_silent_chunks_are_dropped_by_the_minus_45_dbfs_rule():
    t = np.arange(4 * 22050) / SR
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    x[22050:44100] *= 10 ** (-50 / 20) / 0.3 * np.sqrt(2)  # chunk 1 at -50 dBFS: dropped
    x[44100:66150] *= 10 ** (-44 / 20) / 0.3 * np.sqrt(2)  # chunk 2 at -44 dBFS: kept
    x[66150:] = 0.0  # chunk 3 digital silence: dropped
    kept = build.audible_chunks(x)
    assert [k for k, _ in kept] == [0, 2]
    assert loudness_dbfs(kept[1][1]) == pytest.approx(-44, abs=0.1)


def test_pairs_audio_and_ground_truth_come_from_the_same_chunk(tmp_path):
    """The pitch measured at the start of a pair's audio is the label's MIDI pitch."""
    import librosa

    root = tmp_path / "pitch"
    build.build_dataset(root, n_pairs=130, seed=1, workers=2, progress=False)
    index = layout.index_pairs(root)
    checked = agree = 0
    for pair in index.pairs:
        row = index.ground_truth(pair)
        if row["midi"] < 0 or row["category"] in ("oboe", "bassoon", "horn"):
            continue
        audio, _ = soundfile.read(pair.audio_path, dtype="float32")
        f = 440.0 * 2 ** ((row["midi"] - 69) / 12)
        # periods from an octave below to an octave above the label
        f0 = librosa.yin(audio[:6144].astype(np.float64), fmin=max(f / 2.1, 25), fmax=f * 2.1,
                         sr=SR, frame_length=4096, hop_length=512)  # fmt: skip
        measured = 69 + 12 * np.log2(np.median(f0[:3]) / 440.0)
        checked += 1
        agree += abs(measured - row["midi"]) < 0.5
    assert checked >= 40
    assert agree / checked > 0.7, f"{agree}/{checked}"


def test_inis_pairs_by_category_only(tmp_path):
    root = tmp_path / "inis"
    info = build.build_dataset(root, n_pairs=20, seed=0, kind="inis", size=128, workers=1,
                               progress=False)  # fmt: skip
    index = layout.index_pairs(root)
    assert np.asarray(Image.open(index.pairs[0].image_path)).shape == (128, 128, 3)
    assert index.categories == ("drum", "guitar", "piano", "saxophone", "violin")
    rows = list(index.labels.values())
    assert len(rows) == 20 and info["pose_source"] == "image"
    assert all(r["pose_source"] == "image" for r in rows)
    # sound ground truth (pitch) stays the sound's; the pose is an independent draw
    assert all(r["midi"] == -1 or SPECS[r["category"]].low <= r["midi"] for r in rows)
    hands = np.array([r["pose"][0] for r in rows if r["midi"] >= 0 and r["category"] != "drum"])
    pitched = [r for r in rows if r["midi"] >= 0 and r["category"] != "drum"]
    sound_hands = np.array([
        (r["midi"] - spec.low) / (spec.high - spec.low)
        for r in pitched
        for spec in [SPECS[r["category"]]]
    ])  # fmt: skip
    assert not np.allclose(hands, sound_hands, atol=1e-3)


def test_bad_soundfont_and_options_are_one_line_errors(tmp_path, capsys):
    from tfav.data.__main__ import main

    missing = tmp_path / "nope.sf2"
    with pytest.raises(SystemExit) as e:
        main(["synth", str(tmp_path / "out"), "--pairs", "26", "--soundfont", str(missing)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and str(missing) in err and "\n" not in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "out"), "--pairs", "5"])
    assert "at least" in capsys.readouterr().err


def test_cli_writes_the_layout(tmp_path, capsys):
    from tfav.data.__main__ import main

    main(["synth", str(tmp_path / "cli"), "--pairs", "26", "--workers", "1", "--no-progress"])
    assert "26 pairs" in capsys.readouterr().out
    assert len(layout.index_pairs(tmp_path / "cli").pairs) == 26
    with pytest.raises(SystemExit):  # an existing, non-empty folder is never overwritten
        main(["synth", str(tmp_path / "cli"), "--pairs", "26", "--no-progress"])


def test_default_dataset_is_built_once_atomically_and_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build, "DEFAULT_PAIRS", 26)
    calls = []
    real_render = build.render_recording

    def failing_render(plan, *args, **kwargs):
        calls.append(plan)
        if len(calls) == 5:
            raise KeyboardInterrupt  # an interrupted build
        return real_render(plan, *args, **kwargs)

    monkeypatch.setattr(build, "render_recording", failing_render)
    with pytest.raises(KeyboardInterrupt):
        build.default_dataset(progress=False, workers=1)
    datasets = tmp_path / "cache" / "datasets"
    assert os.listdir(datasets) == []  # no half dataset, no leftovers

    killed = datasets / f".suburmp-64-0-v{build.DATASET_VERSION}.partial-dead"
    killed.mkdir()  # what a killed build leaves: removed once old enough
    os.utime(killed, (0, 0))
    monkeypatch.setattr(build, "render_recording", real_render)
    path = build.default_dataset(progress=False, workers=1)
    assert os.listdir(datasets) == [Path(path).name]
    assert Path(path).parent == datasets
    assert Path(path).name == f"suburmp-64-0-v{build.DATASET_VERSION}"
    assert len(layout.index_pairs(path).pairs) == 26
    assert path in capsys.readouterr().err
    monkeypatch.setattr(build, "build_dataset", lambda *a, **k: pytest.fail("rebuilt"))
    assert build.default_dataset(progress=False, workers=1) == path


def _children(pid):
    """Pids whose parent is ``pid`` (from /proc)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _gone(pid):
    from pathlib import Path

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie left to an init that does not reap is gone


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_killed_build_leaves_no_worker_and_sigterm_no_partial_folder(tmp_path, how):
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "data"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-m", "tfav.data", "synth", str(out),
                                "--pairs", "3000", "--workers", "2", "--no-progress"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2 and process.poll() is None:
        workers = [p for p in _children(process.pid)]
        time.sleep(0.2)
    assert len(workers) >= 2, "the build did not start its workers"
    time.sleep(1.0)  # rendering
    process.send_signal(getattr(signal, how))
    process.wait(timeout=60)
    deadline = time.time() + 10
    while time.time() < deadline and not all(_gone(p) for p in workers):
        time.sleep(0.2)
    assert all(_gone(p) for p in workers), f"orphaned workers {workers}"
    if how == "SIGTERM":  # cleaned up as after Ctrl-C
        assert process.returncode != 0 and not out.exists()
        assert not list(tmp_path.glob(".data.partial-*"))
