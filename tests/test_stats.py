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


def stats_args(path, json=False, limit=20, strict=False):
    import argparse

    return argparse.Namespace(path=str(path), json=json, limit=limit, strict=strict)


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
    assert len(s["problems"]) == 1 and "cello01_0.wav: unreadable audio" in s["problems"][0]


def test_short_and_long_chunks_counted(tiny_pairs, capsys):
    # 0.3 s at 44.1 kHz, 0.7 s at 48 kHz, and 0.5 s at 48 kHz (one chunk once resampled).
    chunk = tiny_pairs / "chunk/train/violin"
    soundfile.write(chunk / "violin01_0.wav", np.full(13230, 0.1), 44100, subtype="PCM_16")
    soundfile.write(chunk / "violin01_500.wav", np.full(33600, 0.1), 48000, subtype="PCM_16")
    soundfile.write(chunk / "violin01_1000.wav", np.full(24000, 0.1), 48000, subtype="PCM_16")
    s = stats.dataset_stats(tiny_pairs, progress=False)
    assert s["chunk_lengths"] == {"exact": 16, "short": 1, "long": 1}
    assert data_main(["stats", str(tiny_pairs)]) is None
    out = capsys.readouterr().out
    assert "16 exact, 1 short (zero-padded), 1 long (cropped)" in out
    assert "problems (headers only; --strict decodes every file): 0" in out


def break_files(root):
    """Five files training would trip on (or that lie about their format), by name."""
    jpg = root / "img/train/cello/cello01_500.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(jpg, quality=95)
    jpg.write_bytes(jpg.read_bytes()[:2000])  # truncated: the header still opens
    nan = root / "chunk/train/flute/flute01_0.wav"
    soundfile.write(nan, np.full(22050, np.nan, np.float32), 44100, subtype="FLOAT")
    short = root / "chunk/validation/violin/violin01_500.wav"
    short.write_bytes(short.read_bytes()[:3000])  # cut short after a complete header
    not_audio = root / "chunk/validation/cello/cello01_0.wav"
    not_audio.write_bytes(b"<html>not a sound</html>")
    png = root / "img/train/violin/violin01_0.png"  # a JPEG under a .png name
    (root / "img/train/violin/violin01_0.jpg").rename(png)
    return {
        jpg: "cannot be decoded (jpeg::Uncompress failed",
        nan: "cannot be decoded (audio contains NaN or Inf samples)",
        short: "cannot be decoded (Data too short",
        not_audio: "unreadable audio (Format not recognised",
        png: "named .png but holds a JPEG image",
    }


def test_strict_lists_every_problem_in_one_line_each_and_fails(tiny_pairs, capsys):
    broken = break_files(tiny_pairs)
    # Without --strict: the report says how many problems the headers show, and exits 0.
    assert data_main(["stats", str(tiny_pairs)]) is None
    out = capsys.readouterr().out
    assert "problems (headers only; --strict decodes every file): 2" in out
    with pytest.raises(SystemExit) as e:
        data_main(["stats", str(tiny_pairs), "--strict"])
    assert e.value.code == 2
    captured = capsys.readouterr()
    listed = [line.strip() for line in captured.out.splitlines() if line.startswith("  /")]
    problems = [line for line in listed if ": " in line and "unpaired" not in line]
    assert len(problems) == 5, captured.out
    for path, problem in broken.items():
        (line,) = [p for p in problems if p.startswith(f"{path}: ")]
        assert line.startswith(f"{path}: {problem}"), line
    assert "problems (every file decoded): 5" in captured.out
    err = captured.err.strip()
    assert err == f"error: {tiny_pairs}: 5 problems (listed above)"
    # --json --strict: the counts on stdout, each problem on stderr.
    with pytest.raises(SystemExit):
        data_main(["stats", str(tiny_pairs), "--json", "--strict"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["train"]["cello"] == 4
    assert len(captured.err.strip().splitlines()) == 6  # five problems, then the error


def test_strict_passes_a_clean_folder(tiny_pairs, capsys):
    assert data_main(["stats", str(tiny_pairs), "--strict"]) is None
    assert "problems (every file decoded): 0" in capsys.readouterr().out


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


def test_stats_of_a_tfrecord_folder_and_strict_finds_a_damaged_shard(tiny_pairs, tmp_path,
                                                                     capsys):
    out = tmp_path / "records"
    data_main(["to-tfrecord", str(tiny_pairs), str(out)])
    capsys.readouterr()
    data_main(["stats", str(out), "--json"])
    assert json.loads(capsys.readouterr().out) == {
        "train": {"cello": 4, "flute": 4, "violin": 4},
        "validation": {"cello": 2, "flute": 2, "violin": 2}}
    data_main(["stats", str(out), "--strict"])
    assert "TFRecord folder; problems (every record decoded): 0" in capsys.readouterr().out
    shard = out / "train-00000-of-00001.tfrecord"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])  # cut short, as by a full disk
    data_main(["stats", str(out)])  # without --strict: counts only, exit 0
    assert "--strict decodes every record" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        data_main(["stats", str(out), "--strict"])
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert "split 'train' has 6 readable records, tfrecord.json lists 12" in captured.out
    assert captured.err.strip().endswith("1 problem (listed above)")
