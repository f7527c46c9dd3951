"""The probe's fixed pairs are the training pipeline's items, from a pair or TFRecord folder."""

import numpy as np
import soundfile
from conftest import TINY_CATEGORIES, tiny_tone

from tfav import tasks
from tfav.data import layout, pipeline, tfrecord
from tfav.probe import Probe


def write_odd_lengths(root):
    """A 0.3 s and a 0.7 s sound in each split (the pipeline pads and crops them)."""
    for split in layout.SPLITS:
        for stem, seconds in (("violin01_0", 0.3), ("violin01_500", 0.7)):
            wav = layout.audio_path(root, split, "violin", stem)
            x = tiny_tone(440.0, 0.3, samples=int(seconds * 44100))
            soundfile.write(wav, np.stack([x, x], 1), 44100, subtype="PCM_16")


def test_short_and_long_chunks_are_the_pipelines_from_either_folder(tiny_pairs, tmp_path):
    write_odd_lengths(tiny_pairs)
    task = tasks.get_task("s2i_instrument")
    # More conditions than pairs: the probe holds every pair, in the pipeline's order.
    probe = Probe.from_index(task, layout.index_pairs(tiny_pairs), seed=1)
    for split in layout.SPLITS:
        want = pipeline.load_arrays(tiny_pairs, split)
        got = probe.data[split]
        for key in ("waveform", "image", "label", "pose"):
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        assert got["lms"].shape == (len(want["id"]), 128, 44)
        short = list(want["id"]).index(f"{split}/violin/violin01_0".encode())
        wave = got["waveform"][short]
        assert np.any(wave[:13000]) and not np.any(wave[13230:])  # zero-padded after 0.3 s
        assert got["name"][short] == "violin midi 69"
    # Four of each split, the same four from the TFRecord copy (which has no pitch labels).
    some = Probe.from_index(task, layout.index_pairs(tiny_pairs), n=4, seed=1)
    records = tmp_path / "records"
    tfrecord.write_tfrecords(tiny_pairs, records, progress=False)
    again = Probe.from_index(task, records, n=4, seed=1)
    for split in layout.SPLITS:
        assert some.data[split]["waveform"].shape == (4, 22050)
        for key in ("waveform", "image", "label", "pose"):
            np.testing.assert_array_equal(again.data[split][key], some.data[split][key])
        assert set(again.data[split]["name"]) <= set(TINY_CATEGORIES)



def test_retrieval_pose_error_reads_the_frame_nearest_the_sound_estimate():
    """For each sound the pool frame whose pose is nearest the estimate is read by the
    regressor and compared with the true pose; a perfect estimate over a pool holding
    every true pose scores the regressor's own error on those frames (here 0)."""
    import keras

    from tfav.probe import retrieval_pose_error

    rng = np.random.default_rng(0)
    poses = rng.uniform(0, 1, (50, 3)).astype("float32")
    images = np.zeros((50, 8, 8, 3), "float32")
    images[:, 0, 0] = poses  # the picture carries its pose in one pixel
    reader = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Lambda(lambda x: x[:, 0, 0])])
    pool = {"image": images, "pose": poses}
    target = poses[[3, 7, 11]]
    exact = retrieval_pose_error(pool, target + 0.001, target, reader)
    np.testing.assert_allclose(exact.per_dimension, 0.0, atol=1e-6)
    estimate = target + np.float32(0.3)  # far off: the nearest frames are other ones
    nearest = [np.abs(poses - e).sum(1).argmin() for e in estimate]
    got = retrieval_pose_error(pool, estimate, target, reader)
    np.testing.assert_allclose(got.per_dimension, np.abs(poses[nearest] - target).mean(0),
                               rtol=1e-5)
    assert got.overall > 0.05
