"""The SoundFont sampler and the performance scores of the embedded dataset."""

import numpy as np
import pytest

from tfav.data.synth.soundfont import GM_PROGRAMS, SoundFont
from tfav.errors import AudioError, ConfigError

SR = 44100


@pytest.fixture(scope="module")
def soundfont():
    return SoundFont()


def measured_midi(x, fmin=30.0, fmax=2500.0):
    """Median YIN fundamental of a steady segment, as a fractional MIDI number."""
    import librosa

    f0 = librosa.yin(np.asarray(x, np.float64), fmin=fmin, fmax=fmax, sr=SR, frame_length=4096)
    return 69 + 12 * np.log2(np.median(f0) / 440.0)


def test_bad_soundfont_paths_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such SoundFont"):
        SoundFont(tmp_path / "missing.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00junkjunkjunk")
    with pytest.raises(AudioError) as e:
        SoundFont(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_note_pitch_follows_key(soundfont):
    for key in (45, 69, 81):
        x = soundfont.render_note(*GM_PROGRAMS["violin"], key, 100, 0.8)
        assert abs(measured_midi(x[4000:30000]) - key) < 0.3


def test_loop_sustains_notes_longer_than_the_sample(soundfont):
    # The violin samples are a few thousand frames long; a 2 s note must keep sounding.
    x = soundfont.render_note(*GM_PROGRAMS["violin"], 67, 100, 2.0)
    assert len(x) > 2 * SR
    late = x[int(1.8 * SR) : int(1.95 * SR)]
    assert np.sqrt(np.mean(late**2)) > 0.02


def test_velocity_and_release(soundfont):
    loud = soundfont.render_note(*GM_PROGRAMS["cello"], 48, 120, 0.5)
    soft = soundfont.render_note(*GM_PROGRAMS["cello"], 48, 40, 0.5)
    assert np.abs(loud).max() > 3 * np.abs(soft).max()
    # after note-off the release tail decays
    tail = loud[int(0.5 * SR) :]
    assert len(tail) > 0 and np.abs(tail[-500:]).max() < 0.1 * np.abs(loud).max()
