"""Whole-performance ground truth (``python -m tfav.data synth --videos``) and the measures
of ``experiments/performance_video.py``, end to end on a tiny untrained run."""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from tfav import performance
from tfav.audio import SAMPLE_RATE
from tfav.data import layout
from tfav.data.synth import build, videos
from tfav.data.synth.performer import draw_performer
from tfav.data.synth.score import random_performance
from tfav.errors import ConfigError

av = pytest.importorskip("av")
PAIRS, SEED, SECONDS, FPS = 26, 3, 1.2, 10  # 26 pairs: one validation recording per instrument
FILES = ("videos.json", "labels.jsonl")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Three videos (bassoon, cello, clarinet) of 1.2 s at 10 fps, and the pair dataset
    whose validation players they show."""
    work = tmp_path_factory.mktemp("videos")
    info = videos.build_videos(work / "a", 3, SECONDS, FPS, 64, SEED, PAIRS, progress=False)
    pairs = work / "pairs"
    build.build_dataset(pairs, PAIRS, seed=SEED, workers=1, progress=False)
    return work, info, pairs


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_layout_frame_count_and_determinism(made, tmp_path):
    work, info, _ = made
    root = work / "a"
    names = [v["name"] for v in info["videos"]]
    assert [v["category"] for v in info["videos"]] == ["bassoon", "cello", "clarinet"]
    assert all(n.startswith(v["recording"]) and n.endswith("_take1")
               for n, v in zip(names, info["videos"], strict=True))
    expected = sorted([*FILES, *(f"{n}{s}" for n in names for s in (".mp4", ".wav",
                                                                    ".frames.npz"))])
    assert sorted(p.name for p in root.iterdir()) == expected
    assert not list(work.glob(".*partial*"))
    meta = json.loads((root / "videos.json").read_text())
    for v in meta["videos"]:
        assert {"name", "category", "player", "seconds", "fps", "frames", "seed"} <= set(v)
        assert v["frames"] == round(SECONDS * FPS) == 12 and v["fps"] == FPS
        frames = videos.load_frames(root / f"{v['name']}.frames.npz")
        assert frames.shape == (12, 64, 64, 3) and frames.dtype == np.uint8
        sound, sr = soundfile.read(root / f"{v['name']}.wav", dtype="int16")
        assert sr == SAMPLE_RATE and sound.shape == (round(SECONDS * SAMPLE_RATE),)
        assert soundfile.info(root / f"{v['name']}.wav").subtype == "PCM_16"
    # The same options give the same bytes; another seed other performances.
    again = videos.build_videos(tmp_path / "b", 3, SECONDS, FPS, 64, SEED, PAIRS, progress=False)
    for name in [*FILES, *(f"{n}{s}" for n in names for s in (".wav", ".frames.npz"))]:
        assert sha(root / name) == sha(tmp_path / "b" / name), name
    assert again["videos"] == info["videos"]
    other = videos.build_videos(tmp_path / "c", 1, SECONDS, FPS, 64, SEED + 1, PAIRS,
                                progress=False)
    assert sha(tmp_path / "c" / f"{other['videos'][0]['name']}.frames.npz") != sha(
        root / f"{names[0]}.frames.npz")


def test_labels_are_the_ground_truth_at_each_frame_time(made):
    work, info, _ = made
    plans = videos.plan_videos(3, PAIRS, SEED)
    rows = [json.loads(line) for line in (work / "a" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 12
    for plan, v in zip(plans, videos.read_videos(work / "a")["videos"], strict=True):
        rec = plan.recording
        assert rec.split == "validation" and v["name"] == plan.name
        perf = random_performance(rec.category, SECONDS, plan.seed,
                                  player_seed=build.player_seed(rec))
        instrument, players, scene, _ = build.recording_look(rec)
        frames = videos.load_frames(v["npz"])
        assert [r["frame"] for r in v["labels"]] == list(range(12))
        for i, row in enumerate(v["labels"]):
            truth = perf.ground_truth(i / FPS)
            assert row["time"] == pytest.approx(i / FPS)
            assert row["pose"] == pytest.approx(truth["pose"], abs=1e-5)
            assert (row["midi"], row["velocity"], row["bow_direction"]) == (
                truth["midi"], truth["velocity"], truth["bow_direction"])
            assert (row["category"], row["player"], row["recording"]) == (
                rec.category, f"{rec.category}_p{rec.player}", rec.name)
            drawn = draw_performer(instrument, truth["pose"], players[rec.player - 1], scene)
            np.testing.assert_array_equal(frames[i], drawn)


def test_players_and_scenes_are_the_pair_dataset_s(made):
    """A validation pair of the video's recording, redrawn with the video's player and
    scene at the pair's pose, is the pair's PNG."""
    _, info, pairs = made
    index = layout.index_pairs(pairs)
    for plan in videos.plan_videos(3, PAIRS, SEED):
        rec = plan.recording
        pair = next(p for p in index.pairs if p.split == "validation"
                    and index.ground_truth(p)["recording"] == rec.name)
        row = index.ground_truth(pair)
        assert row["player"] == plan.player
        instrument, players, scene, _ = build.recording_look(rec)
        want = np.asarray(Image.open(pair.image_path))
        got = draw_performer(instrument, row["pose"], players[rec.player - 1], scene)
        # the label's pose is rounded to 5 decimals: a pixel of an edge may differ
        assert np.mean(got != want) < 0.01


def test_the_mp4_decodes_to_every_frame_with_sound(made):
    work, info, _ = made
    v = videos.read_videos(work / "a")["videos"][1]
    with av.open(v["mp4"]) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and sound.codec_context.name == "aac"
        assert video.average_rate == FPS and (video.width, video.height) == (64, 64)
        assert abs(float(sound.duration * sound.time_base) - SECONDS) < 0.05
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    frames = videos.load_frames(v["npz"])
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 12  # yuv420p at 64 px, crf 18


def test_players_not_shown_yet_come_first_and_instruments_cycle():
    plans = videos.plan_videos(20, seed=0, instrument="violin")
    validation = {p.player for p in build.plan_recordings(layout.SUB_URMP_PAIRS, seed=0)
                  if p.category == "violin" and p.split == "validation"}
    first = [p.recording.player for p in plans[: len(validation)]]
    assert sorted(first) == sorted(validation)
    assert len({p.name for p in plans}) == 20 and max(p.take for p in plans) >= 2
    every = videos.plan_videos(14)
    assert [p.recording.category for p in every] == [*layout.SUB_URMP_INSTRUMENTS, "bassoon"]
    with pytest.raises(ConfigError, match="--instrument 'banjo'"):
        videos.plan_videos(1, instrument="banjo")


def test_cli_and_one_line_errors(tmp_path, capsys, monkeypatch):
    from tfav.data.__main__ import main

    out = tmp_path / "cli"
    assert main(["synth", "--videos", "1", str(out), "--seconds", "0.4", "--fps", "5",
                 "--instrument", "violin", "--pairs", str(PAIRS), "--no-progress"]) == 0
    assert "1 videos of 0.4 s at 5 fps (2 frames; violin)" in capsys.readouterr().out
    before = sorted(p.name for p in out.iterdir())
    for argv, words in (
        (["--videos", "1", str(out)], "already exists and is not empty"),
        (["--seconds", "2", str(tmp_path / "x")], "--seconds: for --videos only"),
        (["--videos", "1", "--kind", "inis", str(tmp_path / "x")], "suburmp kind only"),
        (["--videos", "1", "--fps", "0", str(tmp_path / "x")], "--fps must be a whole number"),
        (["--videos", "0", str(tmp_path / "x")], "--videos must be a positive number"),
        (["--videos", "1", "--seconds", "-1", str(tmp_path / "x")],
         "--seconds must be a positive number"),
        (["--videos", "1", "--instrument", "banjo", str(tmp_path / "x")], "not one of"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["synth", *argv, "--pairs", str(PAIRS), "--no-progress"])
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
    assert sorted(p.name for p in out.iterdir()) == before and not (tmp_path / "x").exists()

    for error in (OSError("disk full"), KeyboardInterrupt()):
        def broken(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(videos, "write_video", broken)
        with pytest.raises(type(error)):
            videos.build_videos(tmp_path / "y", 1, 0.4, 5, 64, SEED, PAIRS, progress=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cli"]  # no partial folder left


# ------------------------------------------------------------- experiments/performance_video


@pytest.fixture(scope="module")
def experiment():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import performance_video

    return performance_video


def test_measures(experiment):
    still = np.zeros((5, 8, 8, 3), np.uint8)
    moving = still.copy()
    moving[1::2] = 10
    assert experiment.flicker(still) == 0 and experiment.flicker(moving) == pytest.approx(10)
    a, b = np.zeros((3, 2)), np.full((4, 2), 3.0)
    a[1, 0] = 1.0  # distances within a: 1, 0, 1
    got = experiment.identity_distances([a, b, b], ["p1", "p2", "p2"])
    assert got["within"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert got["between"] > 3.5 and experiment.identity_distances([a, b], ["p", "p"])[
        "between"] is None
    tone = 0.3 * np.sin(2 * np.pi * 261.63 * np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE)
    assert experiment.border_click_ratio(tone) == pytest.approx(1.0, abs=0.05)
    hop, fade = performance.SOUNDTRACK_HOP, performance.SOUNDTRACK_FADE
    steps, between = tone.copy(), tone.copy()
    for border in range(hop, len(steps), hop):
        steps[border + fade // 2:] += 0.05  # a small step inside every cross-fade
        between[border + hop // 2:] += 0.05  # the same steps halfway between borders
    assert experiment.border_click_ratio(steps) > 50
    assert experiment.border_click_ratio(between) < 1.0


def test_experiment_runs_end_to_end_on_tiny_models(experiment, tmp_path, monkeypatch):
    """Both parts on an untrained S2I and I2S run with tiny untrained evaluators: the
    plumbing (ground truth, generation, measures, report), not the numbers."""
    import keras
    import results_io

    from tfav.models import discriminators, encoders, generators
    from tfav.objectives import ConditionalGAN

    data = tmp_path / "data"
    data.mkdir()
    (data / "synth.json").write_text(json.dumps({"kind": "suburmp", "seed": 0,  # embedded
                                                 "pairs": layout.SUB_URMP_PAIRS}))
    config = {"categories": list(layout.SUB_URMP_INSTRUMENTS), "instrument": "violin",
              "data": str(data)}
    s2i = tmp_path / "s2i"
    s2i.mkdir()
    (s2i / "config.json").write_text(json.dumps({**config, "task": "s2i_pose"}))
    ConditionalGAN(generators.sound_to_image_generator(z_dim=8, base_filters=4),
                   discriminators.sound_to_image_discriminator(base_filters=4),
                   encoders.encoder_from_classifier(encoders.sound_classifier(3)),
                   z_dim=8, seed=0).save(s2i / "checkpoint.keras")
    i2s = tmp_path / "i2s"
    i2s.mkdir()
    (i2s / "config.json").write_text(json.dumps({**config, "task": "i2s"}))
    ConditionalGAN(
        generators.image_to_sound_generator(z_dim=8, base_filters=4, extra_conv_layers=1),
        discriminators.image_to_sound_discriminator(base_filters=4, extra_conv_layers=0),
        encoders.encoder_from_classifier(encoders.image_classifier(3, base_filters=4)),
        z_dim=8, seed=0).save(i2s / "checkpoint.keras")

    def tiny(path, shape, outputs, features=False):
        x = keras.Input(shape)
        y = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(x) if len(shape) == 3
                                   else x)
        if features:
            y = keras.layers.Dense(6, name="features")(y)
        keras.Model(x, keras.layers.Dense(outputs)(y)).save(path)
        return str(path)

    evaluators = [
        "--pose-regressor", tiny(tmp_path / "pose.keras", (64, 64, 3), 3),
        "--pose-from-sound", tiny(tmp_path / "pfs.keras", (128, 44), 3),
        "--judge", tiny(tmp_path / "judge.keras", (64, 64, 3), 13, features=True),
        "--sound-encoder", tiny(tmp_path / "se.keras", (128, 44), 13)]
    results = tmp_path / "results"
    monkeypatch.setattr(results_io, "RESULTS", results)
    monkeypatch.setattr(experiment, "RESULTS", results)
    result = experiment.main([
        "--run", str(s2i), "--i2s-run", str(i2s), "--vocoder", "griffin-lim", "--videos", "2",
        "--seconds", "1", "--fps", "10", "--size", "64", "--truth", str(tmp_path / "truth"),
        *evaluators])
    s = result["s2i"]
    assert [r["frames"] for r in s["videos"]] == [10, 10]
    assert len({r["player"] for r in s["videos"]}) == 2  # different players first
    assert s["summary"]["realtime_factor"] > 0 and s["summary"]["identity_ratio"] is not None
    assert set(s["pose_error"]) == {"generated", "sound_regressor", "real_frames", "chance"}
    i = result["i2s"]
    assert [r["chunks"] for r in i["videos"]] == [2, 2] and i["summary"]["border_clicks_real"]
    assert sorted(p.name for p in results.iterdir()) == [
        "performance_video.gif", "performance_video.json", "performance_video.md",
        "performance_video.png"]
    with Image.open(results / "performance_video.gif") as gif:  # real | generated
        assert gif.size == (130, 64) and gif.n_frames == 5  # 1 s at 10 fps, every second frame
    text = (results / "performance_video.md").read_text()
    assert "Sound to video" in text and "Video to sound" in text and "pose error" in text
    sheet = np.asarray(Image.open(results / "performance_video.png"))
    assert sheet.shape[0] > 4 * 64  # two videos, real above generated
    # The ground truth is kept and reused; other settings for it are refused.
    assert len(list((tmp_path / "truth").iterdir())) == 1
    with pytest.raises(ConfigError, match="other settings"):
        experiment.main(["--run", str(s2i), "--videos", "3", "--seconds", "1", "--fps", "10",
                         "--truth", str(tmp_path / "truth"), *evaluators])
