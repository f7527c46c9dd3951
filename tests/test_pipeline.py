import os

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from conftest import TINY_CATEGORIES, TINY_COLOURS, TINY_TONES_HZ, tiny_tone
from PIL import Image

from tfav import audio
from tfav.data import layout, pipeline, tfrecord
from tfav.data.__main__ import main as data_main
from tfav.errors import AudioError, ConfigError, DataError, ImageError


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


def _wrong_pair_batch(labels):
    labels = tf.constant(labels, tf.int32)
    n = labels.shape[0]
    image = tf.reshape(tf.range(n * 2 * 2 * 3, dtype=tf.float32), [n, 2, 2, 3])
    waveform = tf.reshape(tf.range(n * 5, dtype=tf.float32), [n, 5])
    return {"label": labels, "image": image, "waveform": waveform}


def test_add_wrong_pairs_other_and_same_category():
    batch = _wrong_pair_batch([0, 0, 1, 1, 1, 2, 0, 2])
    labels = batch["label"].numpy()
    for seed in range(20):
        other = pipeline.add_wrong_pairs(batch, "other_category", seed)
        j = other["wrong_index"].numpy()
        assert (labels[j] != labels).all()
        np.testing.assert_array_equal(other["wrong_label"], labels[j])
        np.testing.assert_array_equal(other["wrong_image"], batch["image"].numpy()[j])
        np.testing.assert_array_equal(other["wrong_waveform"], batch["waveform"].numpy()[j])
        same = pipeline.add_wrong_pairs(batch, "same_category", [seed, 3])
        js = same["wrong_index"].numpy()
        assert (labels[js] == labels).all() and (js != np.arange(8)).all()
    a = pipeline.add_wrong_pairs(batch, "other_category", 5)["wrong_index"].numpy()
    b = pipeline.add_wrong_pairs(batch, "other_category", 5)["wrong_index"].numpy()
    np.testing.assert_array_equal(a, b)


def test_add_wrong_pairs_fallback_and_uniform():
    # One category only: other_category falls back to any other item.
    one = _wrong_pair_batch([3, 3, 3, 3])
    for seed in range(10):
        j = pipeline.add_wrong_pairs(one, "other_category", seed)["wrong_index"].numpy()
        assert (j != np.arange(4)).all()
    # A category appearing once: same_category falls back to another item.
    j = pipeline.add_wrong_pairs(_wrong_pair_batch([0, 1, 1]), "same_category", 0)["wrong_index"]
    assert j.numpy()[0] != 0 and list(j.numpy()[1:]) == [2, 1]
    # Uniform over the valid partners: item 0 (label 0) has partners 2, 3, 4, 5, 7.
    batch = _wrong_pair_batch([0, 0, 1, 1, 1, 2, 0, 2])
    draw = tf.function(
        lambda s: pipeline.add_wrong_pairs(batch, "other_category", s)["wrong_index"]
    )
    draws = [draw(tf.constant([s, 1]))[0].numpy() for s in range(1000)]
    counts = np.bincount(draws, minlength=8)
    assert counts[[0, 1, 6]].sum() == 0
    assert counts[[2, 3, 4, 5, 7]].min() > 150 and counts.max() < 250  # expected 200 each
    with pytest.raises(Exception, match="wrong_pairs"):
        pipeline.add_wrong_pairs(batch, "random", 0)


def test_hard_wrong_pairs_follow_the_confusion():
    # Category 0 is mistaken for 2 only; category 1 for nothing (its row stays uniform).
    confusion = np.array([[90, 0, 10], [0, 100, 0], [5, 5, 90]])
    w = pipeline.hard_wrong_pair_weights(confusion, 0.6)
    np.testing.assert_allclose(w[0], [1.0, 0.2, 0.8], atol=1e-6)  # 0.4/2 + 0.6 * (0, 1)
    np.testing.assert_allclose(w[1], [0.5, 1.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(w[2], [0.5, 0.5, 1.0], atol=1e-6)  # 0.2 + 0.6 * (.5, .5)
    np.testing.assert_allclose(pipeline.hard_wrong_pair_weights(confusion, 0.0)[0, 1:], 0.5)
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="hardness"):
            pipeline.hard_wrong_pair_weights(confusion, bad)
    with pytest.raises(ConfigError, match=r"\[C, C\]"):
        pipeline.hard_wrong_pair_weights(np.ones((2, 3)), 0.5)

    batch = _wrong_pair_batch([0, 0, 1, 1, 1, 2, 0, 2])
    labels = batch["label"].numpy()
    draw = tf.function(lambda s, cw: pipeline.add_wrong_pairs(
        batch, "other_category", s, cw)["wrong_index"])
    # Equal weights draw exactly what the uniform draw does.
    equal = tf.ones((3, 3))
    for s in range(20):
        seed = tf.constant([s, 2])
        np.testing.assert_array_equal(draw(seed, equal), pipeline.add_wrong_pairs(
            batch, "other_category", seed)["wrong_index"])
    # Item 0 (category 0): category 1 has 3 items of weight 0.2, category 2 two of 0.8,
    # so category 2 is drawn 1.6 / (0.6 + 1.6) = 73% of the time, against 40% uniformly.
    js = np.array([draw(tf.constant([s, 1]), w).numpy() for s in range(1000)])
    assert (labels[js] != labels).all()
    share = (labels[js[:, 0]] == 2).mean()
    assert 0.68 < share < 0.78, share


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
    assert pipeline.is_tfrecord_folder(out) and not pipeline.is_tfrecord_folder(tiny_pairs)
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


def test_find_undecodable_names_the_file_with_a_corrupt_body(tiny_pairs):
    assert pipeline.find_undecodable(tiny_pairs, "train") is None
    # NaN samples in a float WAV (decoded through soundfile): the header is fine.
    wav = tiny_pairs / "chunk" / "validation" / "violin" / "violin01_500.wav"
    soundfile.write(wav, np.full(22050, np.nan, np.float32), 44100, subtype="FLOAT")
    found = pipeline.find_undecodable(tiny_pairs, "validation")
    assert found == f"{wav}: cannot be decoded (audio contains NaN or Inf samples)"
