import os

import numpy as np
import pytest
import soundfile
from conftest import TINY_CATEGORIES, TINY_COUNTS
from PIL import Image

from tfav.data import layout
from tfav.errors import DataError


def test_index_of_tiny_pairs(tiny_pairs):
    index = layout.index_pairs(tiny_pairs)
    assert index.categories == TINY_CATEGORIES
    assert len(index.pairs) == len(TINY_CATEGORIES) * sum(TINY_COUNTS.values())
    assert index.unpaired == []
    assert index.counts()["validation"] == {"cello": 2, "flute": 2, "violin": 2}
    violin = index.select("train", "violin")
    stems = ["violin01_0", "violin01_1000", "violin01_1500", "violin01_500"]
    assert [p.stem for p in violin] == stems
    assert {index.label_of(p) for p in violin} == {2}
    assert index.ground_truth(violin[1])["pose"] == [0.2, 0.5, 1.0]
    with pytest.raises(DataError, match="unknown category 'piano'"):
        index.select("train", "piano")


def test_write_pair_is_sub_urmp_format(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    audio = np.linspace(-0.5, 0.5, 22050, dtype=np.float32)
    pair = layout.write_pair(tmp_path, "train", "viola", "viola02_500", image, audio)
    assert pair.image_path.endswith("img/train/viola/viola02_500.jpg")
    info = soundfile.info(pair.audio_path)
    assert (info.samplerate, info.frames, info.subtype) == (44100, 22050, "PCM_16")
    back, _ = soundfile.read(pair.audio_path, dtype="float32")
    np.testing.assert_allclose(back, audio, atol=1 / 32767)
    png = layout.write_pair(tmp_path, "validation", "viola", "p", image, audio, image_format="png")
    np.testing.assert_array_equal(np.asarray(Image.open(png.image_path)), image)
    assert not [f for f in os.listdir(tmp_path / "img/train/viola") if f.endswith(".tmp")]
    with pytest.raises(DataError, match="split"):
        layout.write_pair(tmp_path, "test", "viola", "x", image, audio)


def test_unpaired_and_hidden_files(tiny_pairs):
    (tiny_pairs / "chunk/train/cello/extra.wav").write_bytes(b"")
    (tiny_pairs / "img/train/cello/.hidden.jpg").write_bytes(b"")
    index = layout.index_pairs(tiny_pairs)
    assert [os.path.basename(u) for u in index.unpaired] == ["extra.wav"]
    assert len(index.pairs) == 18


def test_bad_label_line_names_file_and_line(tiny_pairs):
    with open(tiny_pairs / "labels.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(DataError, match=r"labels.jsonl:19: bad label line"):
        layout.index_pairs(tiny_pairs)


def test_broken_links_are_reported_as_such(tiny_pairs, tmp_path):
    gone = tmp_path / "gone"
    jpg = tiny_pairs / "img/validation/cello/cello01_500.jpg"
    jpg.unlink()
    jpg.symlink_to(gone)
    with pytest.raises(DataError) as e:
        layout.index_pairs(tiny_pairs)
    assert str(e.value) == f"{jpg}: broken link (to {gone}, which does not exist)"
    jpg.unlink()
    category = tiny_pairs / "chunk/train/oboe"
    category.symlink_to(gone)
    with pytest.raises(DataError, match=f"{category}: broken link"):
        layout.index_pairs(tiny_pairs)
    category.unlink()
    labels = tiny_pairs / layout.LABELS_FILE
    labels.unlink()
    labels.symlink_to(gone)
    with pytest.raises(DataError, match=f"{labels}: broken link"):
        layout.index_pairs(tiny_pairs)
    labels.unlink()
    (tiny_pairs / "img/train/cello/.hidden.jpg").symlink_to(gone)  # hidden files are skipped
    assert len(layout.index_pairs(tiny_pairs).pairs) == 17


def test_one_stem_in_two_formats_is_reported(tiny_pairs):
    jpg = tiny_pairs / "img/train/flute/flute01_500.jpg"
    Image.open(jpg).save(jpg.with_suffix(".png"))
    with pytest.raises(DataError) as e:
        layout.index_pairs(tiny_pairs)
    stem = jpg.with_suffix("")
    assert str(e.value) == f"{stem}: two files of one stem (flute01_500.jpg and flute01_500.png)" \
        "; keep one"
    jpg.with_suffix(".png").unlink()
    wav = tiny_pairs / "chunk/validation/violin/violin01_0.wav"
    soundfile.write(wav.with_suffix(".flac"), np.zeros(100, np.float32), 44100)
    with pytest.raises(DataError, match=r"one stem \(violin01_0.flac and violin01_0.wav\)"):
        layout.index_pairs(tiny_pairs)
