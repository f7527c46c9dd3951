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

