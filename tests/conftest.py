"""Shared test fixtures.

``tiny_pairs(tmp_path)`` writes a small but real pair folder (Sub-URMP layout,
real JPG and WAV files) and returns its root. Its shape is stable; tests of any
module may rely on it:

* categories ``TINY_CATEGORIES = ("cello", "flute", "violin")`` (labels 0, 1, 2);
* ``TINY_COUNTS = {"train": 4, "validation": 2}`` pairs per category;
* stems ``<category>01_<k * 500>`` for k = 0, 1, ... (e.g. ``violin01_1000``);
* images: 40x40 RGB JPG (quality 95), a flat colour per category
  (``TINY_COLOURS``: cello red, flute green, violin blue) whose brightness
  grows with k (``colour * (0.6 + 0.1 * k)``);
* sounds: 0.5 s (22,050 frames) 16-bit stereo WAV at 44.1 kHz (the Sub-URMP
  format); a sine of ``TINY_TONES_HZ[category]`` Hz at amplitude ``0.2 + 0.1 * k``,
  the same in both channels;
* ``labels.jsonl``: one row per pair with ``split, category, stem, instrument,
  player, recording, midi, loudness_dbfs`` and ``pose = [k / 10, 0.5, label / 2]``.
"""

import json

import numpy as np
import pytest

import tfav  # noqa: F401  (sets the Keras backend before anything imports keras)
from tfav.data import layout

TINY_CATEGORIES = ("cello", "flute", "violin")
TINY_COUNTS = {"train": 4, "validation": 2}
TINY_COLOURS = {"cello": (230, 40, 40), "flute": (40, 230, 40), "violin": (40, 40, 230)}
TINY_TONES_HZ = {"cello": 220.0, "flute": 880.0, "violin": 440.0}
TINY_MIDI = {"cello": 57, "flute": 81, "violin": 69}


def tiny_tone(hz, amplitude, samples=22050, sample_rate=44100):
    """A float32 sine of ``samples`` samples."""
    t = np.arange(samples) / sample_rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_tiny_pairs(root):
    """Write the ``tiny_pairs`` folder under ``root`` and return ``root``."""
    rows = []
    for label, category in enumerate(TINY_CATEGORIES):
        for split, n in TINY_COUNTS.items():
            for k in range(n):
                stem = f"{category}01_{k * 500}"
                colour = np.array(TINY_COLOURS[category], dtype=np.float64) * (0.6 + 0.1 * k)
                image = np.broadcast_to(colour.astype(np.uint8), (40, 40, 3))
                tone = tiny_tone(TINY_TONES_HZ[category], 0.2 + 0.1 * k)
                layout.write_pair(root, split, category, stem, image, np.stack([tone, tone], 1))
                rows.append(
                    {
                        "split": split,
                        "category": category,
                        "stem": stem,
                        "instrument": category,
                        "player": 1,
                        "recording": f"{category}01",
                        "midi": TINY_MIDI[category],
                        "loudness_dbfs": float(20 * np.log10((0.2 + 0.1 * k) / np.sqrt(2))),
                        "pose": [k / 10, 0.5, label / 2],
                    }
                )
    layout.write_labels(root, rows)
    return root


@pytest.fixture
def tiny_pairs(tmp_path):
    """A real 3-category pair folder; see the module docstring. Returns its root (Path)."""
    return write_tiny_pairs(tmp_path / "tiny_pairs")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
