import argparse

import numpy as np
import pytest
from PIL import Image

from tfav.data import preview
from tfav.data.layout import index_pairs, write_labels, write_pair
from tfav.data.synth.performer import draw_performer, random_player, random_scene
from tfav.errors import DataError, ImageError

SR = 44100


def _tone(freq, seconds=0.5):
    t = np.arange(int(SR * seconds)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def pair_folder(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for category, freq in (("cello", 130.8), ("flute", 1046.5)):
        player, scene = random_player(category, rng), random_scene(rng)
        for split, n in (("train", 2), ("validation", 3)):
            for i in range(n):
                stem = f"{category}01_{split[0]}{i}"
                img = draw_performer(category, (i / 3, 0.5, 0.5), player, scene)
                write_pair(tmp_path, split, category, stem, img, _tone(freq))
                rows.append({"split": split, "category": category, "stem": stem,
                             "midi": 60 + i, "pose": [i / 3, 0.5, 0.5]})  # fmt: skip
    write_labels(tmp_path, rows)
    return tmp_path


def _args(path, **kw):
    ns = dict(path=str(path), out=None, per_category=4, split=None, seed=0, cell=64)
    ns.update(kw)
    return argparse.Namespace(**ns)


def test_spectrogram_has_low_frequencies_at_the_bottom():
    db = np.full((128, 44), -80.0)
    db[5] = 0.0  # a low mel band
    rgb = preview.spectrogram_rgb(db, 44, 128)
    bright = rgb.astype(int).sum(-1).mean(1)
    assert bright.argmax() == 127 - 5


def test_preview_writes_png_of_expected_size(pair_folder):
    assert preview.run(_args(pair_folder)) == 0
    out = pair_folder / "preview.png"
    with Image.open(out) as im:
        # validation by default: 2 categories x 3 pairs, cells of 64 + 64 + label.
        gap, label = preview._GAP, preview._LABEL_H
        assert im.size == (3 * (64 + gap) + gap, 2 * (2 * 64 + label + gap) + gap)
        grid = np.asarray(im.convert("RGB"))
    # The first cell shows the stored image above a spectrogram of a low tone.
    img = np.asarray(
        Image.open(index_pairs(pair_folder).select("validation", "cello")[0].image_path)
    )
    cell = grid[gap : gap + 64, gap : gap + 64].astype(int)
    assert np.abs(cell - img.astype(int)).mean() < 12  # JPEG on disk vs its decoded copy
    spec = grid[gap + 64 : gap + 128, gap : gap + 64].astype(int).sum(-1)
    assert spec[48:].mean() > spec[:16].mean() + 50  # 131 Hz lights the bottom rows


def test_preview_options(pair_folder, tmp_path):
    out = tmp_path / "sub" / "p.png"
    preview.run(_args(pair_folder, out=str(out), per_category=1, split="train", cell=32))
    with Image.open(out) as im:
        assert im.size == (32 + 2 * preview._GAP, 2 * (64 + preview._LABEL_H + preview._GAP)
                           + preview._GAP)  # fmt: skip
    assert not list(out.parent.glob(".*tmp"))  # the atomic write left no temporary file


def test_labels_show_pitch_and_pose(pair_folder):
    index = index_pairs(pair_folder)
    pair = index.select("validation", "flute")[1]
    assert preview._label(pair, index.ground_truth(pair)) == (
        "flute",
        "midi 61  pose 0.33 0.50 0.50",
    )
    assert preview._label(pair, {}) == ("flute", pair.stem)


def test_choice_is_seeded(pair_folder):
    index = index_pairs(pair_folder)
    a = preview.choose_pairs(index, "validation", 2, seed=1)
    assert a == preview.choose_pairs(index, "validation", 2, seed=1)
    assert all(len(v) == 2 for v in a.values())
    assert {p.split for v in a.values() for p in v} == {"validation"}


def test_bad_inputs_fail_with_one_clear_error(pair_folder, tmp_path):
    with pytest.raises(DataError, match="no such dataset folder"):
        preview.run(_args(tmp_path / "missing"))
    bad = index_pairs(pair_folder).select("train", "cello")[0].image_path
    with open(bad, "wb") as f:
        f.write(b"not a jpeg")
    with pytest.raises(ImageError, match=bad.split("/")[-1]):
        preview.run(_args(pair_folder, split="train"))


def test_command_line(pair_folder, tmp_path):
    from tfav.data.__main__ import main

    out = tmp_path / "cli.png"
    main(["preview", str(pair_folder), "--out", str(out), "--per-category", "2", "--seed", "3"])
    assert out.exists() and Image.open(out).size[0] == 2 * (128 + preview._GAP) + preview._GAP
