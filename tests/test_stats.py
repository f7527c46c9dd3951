import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from PIL import Image

from tfav.data import stats
from tfav.data.__main__ import main as data_main
from tfav.errors import DataError


def test_json_counts_exact(tiny_pairs, capsys):
    stats.run(stats_args(tiny_pairs, json=True))
    out = capsys.readouterr().out
    assert json.loads(out) == {
        "train": {"cello": 4, "flute": 4, "violin": 4},
        "validation": {"cello": 2, "flute": 2, "violin": 2},
    }
    assert out.strip().startswith("{") and out.count("\n") == 1  # only the object


def stats_args(path, json=False, limit=20):
    import argparse

    return argparse.Namespace(path=str(path), json=json, limit=limit)


def test_unpaired_reported_and_not_counted(tiny_pairs):
    # An image without a sound, a sound without an image, a new category with one of each.
    Image.new("RGB", (8, 8)).save(tiny_pairs / "img/train/violin/lonely.jpg")
    soundfile.write(tiny_pairs / "chunk/validation/cello/orphan.wav", np.zeros(100), 44100)
    violin = tiny_pairs / "img/train/violin"
    shutil.copy(violin / "violin01_0.jpg", violin / "x.png")
    s = stats.dataset_stats(tiny_pairs, progress=False)
    assert s["counts"]["train"]["violin"] == 4 and s["counts"]["validation"]["cello"] == 2
    names = sorted(p.rsplit("/", 1)[1] for p in s["unpaired"])
    assert names == ["lonely.jpg", "orphan.wav", "x.png"]
    text = stats.format_stats(s, unpaired_limit=2)
    assert "unpaired files (not used): 3" in text and "... and 1 more" in text


def test_formats_summarised(tiny_pairs):
    # Replace one sound by a 48 kHz mono 1 s file and one image by a 20x10 PNG-in-JPG name.
    soundfile.write(tiny_pairs / "chunk/train/flute/flute01_0.wav", np.zeros(48000), 48000)
    Image.new("RGB", (20, 10)).save(tiny_pairs / "img/train/flute/flute01_0.jpg")
    s = stats.dataset_stats(tiny_pairs, progress=False)
    assert s["sample_rates"] == {"44100": 17, "48000": 1}
    assert s["channels"] == {"2": 17, "1": 1}
    assert s["durations"] == {"0.500": 17, "1.000": 1}
    assert s["image_sizes"] == {"40x40": 17, "20x10": 1}
    assert s["audio_formats"]["WAV PCM_16"] == 18


def test_any_category_names(tmp_path):
    from tfav.data import layout

    for split in ("train", "validation"):
        for cat in ("Piano", "drum kit"):
            layout.write_pair(tmp_path, split, cat, "a", np.zeros((4, 4, 3)), np.ones(10) * 0.1)
    s = stats.dataset_stats(tmp_path, progress=False)
    one_each = {"Piano": 1, "drum kit": 1}
    assert s["counts"] == {"train": one_each, "validation": one_each}


def test_unreadable_audio_listed(tiny_pairs):
    (tiny_pairs / "chunk/train/cello/cello01_0.wav").write_bytes(b"not a wav")
    s = stats.dataset_stats(tiny_pairs, progress=False)
    assert len(s["unreadable"]) == 1 and "cello01_0.wav" in s["unreadable"][0]


@pytest.mark.parametrize("make", ["missing", "empty", "no_pairs"])
def test_missing_or_empty_folder_is_one_line_error(tmp_path, make, capsys):
    root = tmp_path / "d"
    if make != "missing":
        (root / "img/train/violin").mkdir(parents=True)
        (root / "chunk/train/violin").mkdir(parents=True)
    if make == "no_pairs":
        Image.new("RGB", (8, 8)).save(root / "img/train/violin/a.jpg")
    with pytest.raises(DataError, match=str(root)):
        stats.dataset_stats(root, progress=False)
    with pytest.raises(SystemExit) as e:
        data_main(["stats", str(root), "--json"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_subprocess_json(tiny_pairs):
    r = subprocess.run(
        [sys.executable, "-m", "tfav.data", "stats", str(tiny_pairs), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(r.stdout)["validation"] == {"cello": 2, "flute": 2, "violin": 2}
