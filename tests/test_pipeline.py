import os

import numpy as np
import pytest
import soundfile
from conftest import TINY_CATEGORIES, TINY_COLOURS, TINY_TONES_HZ, tiny_tone
from PIL import Image

from tfav import audio
from tfav.data import layout, pipeline, tfrecord
from tfav.data.__main__ import main as data_main
from tfav.errors import AudioError, DataError, ImageError


def batches(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def ids(ds):
    return [i.decode() for b in ds for i in b["id"].numpy()]


def test_shapes_dtypes_ranges_and_content(tiny_pairs):
    ds = pipeline.pair_dataset(tiny_pairs, "train", image_size=32, batch_size=4, seed=1)
    got = batches(ds)
    assert len(got) == 3  # 12 pairs
    b = got[0]
    assert b["waveform"].shape == (4, 22050) and b["waveform"].dtype == np.float32
    assert b["image"].shape == (4, 32, 32, 3) and b["image"].dtype == np.float32
    assert b["label"].dtype == np.int32 and b["pose"].shape == (4, 3)
    assert b["id"].dtype == object
    for bt in got:
        assert bt["image"].min() >= -1.0 and bt["image"].max() <= 1.0
        for i, id_ in enumerate(bt["id"]):
            split, category, stem = id_.decode().split("/")
            k = int(stem.split("_")[1]) // 500
            assert split == "train" and bt["label"][i] == TINY_CATEGORIES.index(category)
            # The stereo tone mixed to mono, as written (16-bit).
            want = tiny_tone(TINY_TONES_HZ[category], 0.2 + 0.1 * k)
            np.testing.assert_allclose(bt["waveform"][i], want, atol=2e-4)
            colour = (np.array(TINY_COLOURS[category]) * (0.6 + 0.1 * k)).astype(np.uint8)
            pixel = (bt["image"][i].mean(axis=(0, 1)) + 1) * 127.5
            np.testing.assert_allclose(pixel, colour, atol=3)  # JPG
            np.testing.assert_allclose(bt["pose"][i], [k / 10, 0.5, bt["label"][i] / 2])


def test_labels_stable_under_category_restriction(tiny_pairs):
    ds = pipeline.pair_dataset(tiny_pairs, "validation", categories="violin", batch_size=2)
    got = batches(ds)
    assert sum(len(b["label"]) for b in got) == 2
    assert all((b["label"] == 2).all() for b in got)
    two = pipeline.pair_dataset(tiny_pairs, "train", categories=["flute", "cello"], batch_size=8,
                                drop_remainder=False)  # fmt: skip
    labels = np.concatenate([b["label"] for b in batches(two)])
    assert sorted(labels.tolist()) == [0] * 4 + [1] * 4
    with pytest.raises(DataError, match="unknown category 'piano'"):
        pipeline.pair_dataset(tiny_pairs, "train", categories="piano")
    with pytest.raises(DataError, match="only 2 pairs, fewer than batch_size=64"):
        pipeline.pair_dataset(tiny_pairs, "validation", categories="violin")


def test_seeded_shuffle_deterministic_and_cache_independent(tiny_pairs):
    kw = dict(batch_size=3, image_size=16)
    a = ids(pipeline.pair_dataset(tiny_pairs, "train", seed=7, **kw))
    b = ids(pipeline.pair_dataset(tiny_pairs, "train", seed=7, cache=False, **kw))
    c = ids(pipeline.pair_dataset(tiny_pairs, "train", seed=8, **kw))
    plain = ids(pipeline.pair_dataset(tiny_pairs, "train", shuffle=False, **kw))
    assert a == b and a != c and sorted(a) == sorted(plain) and a != plain
    assert plain == sorted(plain)
    # Each epoch is reshuffled, reproducibly.
    rep = pipeline.pair_dataset(tiny_pairs, "train", seed=7, repeat=True, **kw)
    two_epochs = [i.decode() for b in rep.take(8) for i in b["id"].numpy()]
    assert two_epochs[:12] == a and two_epochs[12:] != a and sorted(two_epochs[12:]) == sorted(a)


def test_unpaired_files_not_used_and_pose_optional(tiny_pairs):
    soundfile.write(tiny_pairs / "chunk/train/cello/stray.wav", np.ones(22050) * 0.1, 44100)
    os.remove(tiny_pairs / "labels.jsonl")
    ds = pipeline.pair_dataset(tiny_pairs, "train", batch_size=20, drop_remainder=False)
    (b,) = batches(ds)
    assert len(b["id"]) == 12 and "pose" not in b
    assert not any(b"stray" in i for i in b["id"])


def test_other_formats_go_through_load_audio(tmp_path):
    # 48 kHz stereo float WAVs and a FLAC: decoded with tfav.audio.load_audio, resampled.
    rng = np.random.default_rng(0)
    for split in layout.SPLITS:
        for k, ext in enumerate(["wav", "flac"]):
            x = tiny_tone(300.0 + 100 * k, 0.5, samples=24000, sample_rate=48000)
            path = layout.audio_path(tmp_path, split, "drum", f"d{k}", f".{ext}")
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, np.stack([x, 0.5 * x], 1), 48000,
                            subtype="FLOAT" if ext == "wav" else "PCM_24")  # fmt: skip
            img = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            ipath = layout.image_path(tmp_path, split, "drum", f"d{k}", ".png")
            ipath.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(ipath)
    ds = pipeline.pair_dataset(tmp_path, "train", batch_size=2, shuffle=False, image_size=8)
    (b,) = batches(ds)
    for i, ext in enumerate(["wav", "flac"]):
        want = audio.load_audio(layout.audio_path(tmp_path, "train", "drum", f"d{i}", f".{ext}"))
        assert want.shape == (22050,)
        np.testing.assert_array_equal(b["waveform"][i], want)
        png = np.asarray(Image.open(layout.image_path(tmp_path, "train", "drum", f"d{i}", ".png")))
        np.testing.assert_allclose((b["image"][i] + 1) * 127.5, png, atol=1e-3)


def test_non_square_image_is_centre_cropped(tiny_pairs):
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :10] = (255, 0, 0)
    img[:, 50:] = (255, 0, 0)
    img[:, 10:50] = (0, 0, 255)
    Image.fromarray(img).save(tiny_pairs / "img/train/cello/cello01_0.jpg", quality=95)
    ds = pipeline.pair_dataset(tiny_pairs, "train", categories="cello", shuffle=False,
                               image_size=20, batch_size=1)  # fmt: skip
    first = batches(ds)[0]["image"][0]
    px = (first + 1) * 127.5
    assert px[..., 0].max() < 40 and px[..., 2].min() > 200  # no red margin, all blue


def test_bad_files_named(tiny_pairs):
    bad = tiny_pairs / "chunk/train/flute/flute01_500.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AudioError, match="flute01_500.wav"):
        pipeline.pair_dataset(tiny_pairs, "train")
    bad_image = tiny_pairs / "img/validation/cello/cello01_500.jpg"
    bad_image.write_bytes(b"hello")
    with pytest.raises(ImageError, match="cello01_500.jpg: unreadable image"):
        pipeline.pair_dataset(tiny_pairs, "validation")


def test_one_non_native_file_switches_decoder(tiny_pairs):
    odd = tiny_pairs / "chunk/train/violin/violin01_1000.wav"
    x = tiny_tone(440.0, 0.4, samples=24000, sample_rate=48000)
    soundfile.write(odd, x, 48000, subtype="PCM_16")
    ds = pipeline.pair_dataset(tiny_pairs, "train", categories="violin", shuffle=False,
                               batch_size=4, image_size=8)  # fmt: skip
    (b,) = batches(ds)
    assert b["id"][1] == b"train/violin/violin01_1000"
    np.testing.assert_array_equal(b["waveform"][1], audio.load_audio(odd))


def test_pipeline_wrong_pairs_per_batch(tiny_pairs):
    ds = pipeline.pair_dataset(tiny_pairs, "train", batch_size=6, wrong_pairs="other_category",
                               image_size=16, repeat=True)  # fmt: skip
    seen = set()
    for b in batches(ds.take(6)):
        assert (b["wrong_label"] != b["label"]).all()
        np.testing.assert_array_equal(b["wrong_image"], b["image"][b["wrong_index"]])
        seen.add(tuple(b["wrong_index"]))
    assert len(seen) > 1  # a fresh draw per batch
    same = pipeline.pair_dataset(tiny_pairs, "train", categories="violin", batch_size=4,
                                 wrong_pairs="same_category", image_size=16)  # fmt: skip
    (b,) = batches(same)
    assert (b["wrong_label"] == 2).all() and (b["wrong_index"] != np.arange(4)).all()


def test_in_memory_dataset_matches_pipeline(tiny_pairs):
    arrays = pipeline.load_arrays(tiny_pairs, "train", image_size=16)
    assert arrays["image"].shape == (12, 16, 16, 3) and arrays["waveform"].shape == (12, 22050)
    kw = dict(batch_size=4, seed=3, wrong_pairs="other_category")
    want = batches(pipeline.pair_dataset(tiny_pairs, "train", image_size=16, **kw))
    got = batches(pipeline.in_memory_dataset(arrays, **kw))
    assert len(got) == len(want) == 3
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for k in w:
            np.testing.assert_array_equal(g[k], w[k])


def test_tfrecord_round_trip_identical(tiny_pairs, tmp_path):
    out = tmp_path / "records"
    data_main(["to-tfrecord", str(tiny_pairs), str(out), "--shards", "2"])
    assert sorted(os.listdir(out)) == [
        "tfrecord.json",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
        "validation-00000-of-00002.tfrecord",
        "validation-00001-of-00002.tfrecord",
    ]
    assert layout.is_tfrecord_folder(out) and not layout.is_tfrecord_folder(tiny_pairs)
    for split, kw in [
        ("train", dict(seed=4, batch_size=5, wrong_pairs="other_category", drop_remainder=False)),
        ("validation", dict(shuffle=False, batch_size=2, categories="flute")),
        ("train", dict(seed=1, batch_size=3, cache=False, categories=["violin", "cello"])),
    ]:
        want = batches(pipeline.pair_dataset(tiny_pairs, split, image_size=24, **kw))
        got = batches(pipeline.pair_dataset(out, split, image_size=24, **kw))
        assert len(got) == len(want) > 0
        for g, w in zip(got, want, strict=True):
            assert g.keys() == w.keys()
            for k in w:
                np.testing.assert_array_equal(g[k], w[k], err_msg=k)
    meta = tfrecord.read_meta(out)
    assert meta["counts"]["validation"] == {"cello": 2, "flute": 2, "violin": 2}
    os.remove(out / "train-00001-of-00002.tfrecord")
    with pytest.raises(DataError, match="train-00001-of-00002.tfrecord"):
        pipeline.pair_dataset(out, "train")


def test_to_tfrecord_refuses_a_truncated_jpeg_and_writes_nothing(tiny_pairs, tmp_path, capsys):
    jpg = tiny_pairs / "img/validation/flute/flute01_500.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(jpg, quality=95)
    whole = jpg.read_bytes()
    jpg.write_bytes(whole[:2000])  # the header opens; the body is cut short
    fresh = tmp_path / "fresh"
    with pytest.raises(SystemExit) as e:
        data_main(["to-tfrecord", str(tiny_pairs), str(fresh)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {jpg}: cannot be decoded (") and err.count("\n") == 1, err
    assert not fresh.exists()
    # Over an earlier conversion: every file stays as it was, and it still reads.
    jpg.write_bytes(whole)
    earlier = tmp_path / "earlier"
    data_main(["to-tfrecord", str(tiny_pairs), str(earlier), "--shards", "2"])
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    jpg.write_bytes(whole[:2000])
    with pytest.raises(SystemExit):
        data_main(["to-tfrecord", str(tiny_pairs), str(earlier)])
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    assert len(ids(pipeline.pair_dataset(earlier, "validation", batch_size=6))) == 6
    # Converted again with fewer shards: the shards no longer listed are removed.
    jpg.write_bytes(whole)
    data_main(["to-tfrecord", str(tiny_pairs), str(earlier)])
    assert sorted(os.listdir(earlier)) == [
        "tfrecord.json", "train-00000-of-00001.tfrecord", "validation-00000-of-00001.tfrecord"]


def test_a_damaged_record_is_named_by_shard_and_id(tiny_pairs, tmp_path, monkeypatch):
    out = tmp_path / "records"
    tfrecord.write_tfrecords(tiny_pairs, out, progress=False)
    assert pipeline.find_undecodable(out, "train") is None
    # A shard written by other means, whose image bytes are not an image.
    monkeypatch.setattr(tfrecord, "_image_bytes", lambda path: b"not an image")
    tfrecord.write_tfrecords(tiny_pairs, out, progress=False)
    found = pipeline.find_undecodable(out, "validation", categories="violin")
    shard = out / "validation-00000-of-00001.tfrecord"
    assert found.startswith(f"{shard}: record validation/violin/violin01_0 cannot be decoded ("
                            ), found
