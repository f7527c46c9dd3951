"""Evaluation and generation commands on a tiny trained run."""

import json

import numpy as np
import pytest
from conftest import tiny_tone
from PIL import Image

from tfav.evaluate import main as evaluate_main
from tfav.generate import main as generate_main
from tfav.objectives.gan_cls import ChenHyper
from tfav.probe import selection_score
from tfav.training import evaluate_run, train


@pytest.fixture
def pose_run(tiny_pairs, tmp_path, monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    # The task's own recipe (take codes over take backgrounds), smaller.
    return train("s2i_pose", data=tiny_pairs, instrument="violin", epochs=2, batch_size=2,
                 out=tmp_path / "run", hyper={"base_filters": 8, "z_dim": 16}, verbose=0)


@pytest.mark.slow
def test_evaluate_and_generate(pose_run, tmp_path, capsys):
    history = json.loads((pose_run / "state.json").read_text())["history"]
    # With pose ground truth, pose S2I is conditioned on the sound->pose encoding.
    config = json.loads((pose_run / "config.json").read_text())
    assert config["condition_encoder"] == "pose_from_sound"
    # Without --recipe, the task's own recipe: take codes over take backgrounds.
    assert config["objective"] == "take_gan"
    assert config["hyper"]["take_backgrounds"] and config["hyper"]["motion_emphasis"] == 4.0
    # The run measured its samples every epoch with the verifier and the pose regressor.
    assert all({"acc_train", "acc_val", "pose_err", "pose_err_train"} <= set(h) for h in history)
    # best.keras holds the epoch with the lowest selection score on training sounds:
    # the pose error weighed by the realism of the training-sound samples.
    best = json.loads((pose_run / "summary.json").read_text())["best"]
    for h in history:
        assert h["selection_train"] == pytest.approx(selection_score(h))
        assert h["selection_train"] >= h["pose_err_train"]
    lowest = min(history, key=lambda h: h["selection_train"])
    assert best == {"epoch": lowest["epoch"], "selection_train": lowest["selection_train"]}
    assert (pose_run / "best.keras").exists()
    assert evaluate_main([str(pose_run), "--checkpoint", "best", "--n", "16"]) == 0
    assert json.loads((pose_run / "metrics_best.json").read_text())["checkpoint"] == "best"

    results = evaluate_run(pose_run, log=lambda *a: None)
    assert 0.0 <= results["acc_val"] <= 1.0 and 1.0 <= results["inception_score"] <= 3.0
    assert results["frechet_distance"] >= 0.0 and results["diversity"] >= 0.0
    for dim in ("hand", "bow", "dynamics"):
        assert 0.0 <= results[f"pose_error_{dim}"] <= 1.0
    assert results["pose_error_chance"] > 0.0
    assert json.loads((pose_run / "metrics.json").read_text())["acc_val"] == results["acc_val"]
    with Image.open(pose_run / "accuracy_curve.png") as im:
        assert im.size[0] > 100

    wav = tmp_path / "note.wav"
    import soundfile as sf

    sf.write(wav, tiny_tone(440.0, 0.3, samples=44100), 44100)
    assert generate_main([str(pose_run), "--audio", str(wav), "--n", "3", "--seed", "1"]) == 0
    out = pose_run / "generated" / "note"
    images = [np.asarray(Image.open(out / f"image_{i}.png")) for i in range(3)]
    assert all(im.shape == (64, 64, 3) for im in images) and (out / "grid.png").exists()
    assert generate_main([str(pose_run), "--audio", str(wav), "--n", "3", "--seed", "1",
                          "--out", str(tmp_path / "again")]) == 0
    again = np.asarray(Image.open(tmp_path / "again" / "image_0.png"))
    np.testing.assert_array_equal(again, images[0])  # seeded: the same images

    # Wrong inputs give one-line errors.
    for argv in ([str(pose_run), "--image", str(wav)], [str(tmp_path), "--audio", str(wav)],
                 [str(pose_run), "--audio", str(tmp_path / "missing.wav")]):
        with pytest.raises(SystemExit) as e:
            generate_main(argv)
        assert e.value.code == 2
    with pytest.raises(SystemExit):
        evaluate_main([str(tmp_path / "nowhere")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, errors


@pytest.mark.slow
def test_i2s_evaluation_has_sound_fid_and_noise_spread(tiny_pairs, tmp_path, monkeypatch):
    monkeypatch.setenv("TFAV_CACHE", str(tmp_path / "cache"))
    run = train("i2s", data=tiny_pairs, epochs=1, batch_size=4, out=tmp_path / "i2s",
                hyper=ChenHyper(base_filters=4, z_dim=8), verbose=0, evaluate=False,
                precision="float32")  # the same run on every CPU (auto: bfloat16 on AMX)
    results = evaluate_run(run, n=6, log=lambda *a: None)
    assert results["sound_fid"] > 0 and results["sound_fid_real"] >= 0
    # four noises give four spectrograms (an untrained G on 6 tiny-data sounds: its spread
    # over the real one's was below 10 on one CPU, 14 on another)
    assert 0 < results["noise_spread"] < 100
    assert {"acc_val_cello", "acc_val_flute", "acc_val_violin"} <= set(results)
    assert np.array(results["confusion"]).shape == (3, 3)
