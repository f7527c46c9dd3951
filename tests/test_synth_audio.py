"""The SoundFont sampler and the performance scores of the embedded dataset."""

import numpy as np
import pytest

from tfav.data.synth.soundfont import GM_PROGRAMS, SoundFont
from tfav.errors import AudioError, ConfigError

SR = 44100


@pytest.fixture(scope="module")
def soundfont():
    return SoundFont()


def measured_midi(x, expected):
    """The fundamental of a steady segment as a fractional MIDI number.

    YIN searches periods within a tritone of ``expected``: double reeds and
    brass put little energy in the fundamental, and an unconstrained search
    then answers the octave above. So that an octave error of the sampler
    cannot pass, the spectrum must also hold energy at the estimated fundamental
    (a note an octave too high has none there).
    """
    import librosa

    x = np.asarray(x, np.float64)
    f = 440.0 * 2 ** ((expected - 69) / 12)
    f0 = librosa.yin(x, fmin=f / 1.41, fmax=f * 1.41, sr=SR, frame_length=4096)
    f0 = float(np.median(f0))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    near = np.abs(freqs - f0) < 0.03 * f0
    assert spectrum[near].max() > 0.02 * spectrum.max(), "no energy at the fundamental"
    return 69 + 12 * np.log2(f0 / 440.0)


def test_bad_soundfont_paths_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such SoundFont"):
        SoundFont(tmp_path / "missing.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00junkjunkjunk")
    with pytest.raises(AudioError) as e:
        SoundFont(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_missing_preset_is_named(soundfont):
    with pytest.raises(ConfigError, match="no preset bank 0 program 200"):
        soundfont.zones(0, 200)
    assert (0, 40) in soundfont.presets and (128, 0) in soundfont.presets


def test_note_pitch_follows_key(soundfont):
    for key in (45, 69, 81):
        x = soundfont.render_note(*GM_PROGRAMS["violin"], key, 100, 0.8)
        assert abs(measured_midi(x[4000:30000], key) - key) < 0.3


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


SUB_URMP = (
    "bassoon", "cello", "clarinet", "double_bass", "flute", "horn", "oboe",
    "sax", "trombone", "trumpet", "tuba", "viola", "violin",
)  # fmt: skip


@pytest.mark.parametrize("instrument", SUB_URMP)
def test_pitch_accuracy_across_each_instruments_range(soundfont, instrument):
    from tfav.data.synth.score import SPECS

    spec = SPECS[instrument]
    for key in (spec.low, (spec.low + spec.high) // 2, spec.high):
        x = soundfont.render_note(spec.bank, spec.programs[0], key, 90, 0.6)
        cents = 100 * (measured_midi(x[4000:26000], key) - key)
        assert abs(cents) < 30, f"{instrument} key {key}: {cents:.1f} cents"


def test_performance_stays_in_range_with_rests_dynamics_and_vibrato():
    from tfav.data.synth.score import SPECS, random_performance

    perf = random_performance("violin", 30.0, seed=3)
    spec = SPECS["violin"]
    assert perf.keys.min() >= spec.low and perf.keys.max() <= spec.high
    assert np.all(np.diff(perf.onsets) > 0) and perf.onsets[-1] < 30.0
    assert perf.velocities.std() > 5  # dynamics vary
    assert len(np.unique(np.round(np.diff(perf.onsets), 3))) > 3  # rhythm varies
    assert (perf.vibrato[:, 0] > 0).mean() > 0.5  # strings play with vibrato
    gaps = perf.onsets[1:] - (perf.onsets[:-1] + perf.durations[:-1])
    assert (gaps > 0.1).any()  # rests between phrases
    no_vibrato = random_performance("clarinet", 10.0, seed=3)
    assert np.all(no_vibrato.vibrato[:, 0] == 0)


def test_ground_truth_follows_the_score():
    from tfav.data.synth.score import SPECS, random_performance

    perf = random_performance("cello", 40.0, seed=5)
    spec = SPECS["cello"]
    last_key = None
    for t in np.arange(0.0, 40.0, 0.05):
        gt = perf.ground_truth(float(t))
        hand, bow, dyn = gt["pose"]
        assert 0 <= hand <= 1 and 0 <= bow <= 1 and 0 <= dyn <= 1
        i = np.searchsorted(perf.onsets, t, side="right") - 1
        if gt["midi"] >= 0:
            assert gt["midi"] == perf.keys[i] and spec.low <= gt["midi"] <= spec.high
            assert hand == pytest.approx((gt["midi"] - spec.low) / (spec.high - spec.low))
            assert dyn > 0 and gt["bow_direction"] in (-1, 1)
            last_key = gt["midi"]
        else:
            assert dyn == 0 and gt["bow_direction"] == 0
            if last_key is not None:  # the hand keeps the last pitch during rests
                assert hand == pytest.approx((last_key - spec.low) / (spec.high - spec.low))


def test_bow_moves_along_the_stroke_and_turns_at_note_changes():
    from tfav.data.synth.score import random_performance

    perf = random_performance("violin", 30.0, seed=11)
    turned = 0
    for i in range(len(perf.onsets) - 1):
        on, nxt = perf.onsets[i], perf.onsets[i + 1]
        end = min(on + perf.durations[i], nxt)
        a, b = perf.ground_truth(on + 0.01), perf.ground_truth(on + 0.03)
        if a["bow_direction"] == b["bow_direction"] != 0:
            assert np.sign(b["pose"][1] - a["pose"][1]) == a["bow_direction"]
        before = perf.ground_truth(end - 0.005)
        after = perf.ground_truth(nxt + 0.001)
        if end >= nxt - 0.001 and before["bow_direction"]:  # legato: no rest between
            assert after["bow_direction"] == -before["bow_direction"]
            assert abs(after["pose"][1] - before["pose"][1]) < 0.1  # the bow does not jump
            turned += 1
    assert turned > 5
    other = random_performance("flute", 5.0, seed=1)
    assert all(other.ground_truth(t)["pose"][1] == 0.5 for t in (0.5, 1.5, 3.0))


def test_render_is_a_normalised_recording_with_a_noise_floor(soundfont):
    from tfav.data.synth.score import random_performance

    perf = random_performance("flute", 8.0, seed=2)
    x = perf.render(soundfont)
    assert x.dtype == np.float32 and x.shape == (8 * SR,)
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(perf.peak_dbfs, abs=0.5)
    assert np.abs(x).min() >= 0 and np.count_nonzero(x) == x.size  # noise floor everywhere
    np.testing.assert_array_equal(x, perf.render(soundfont))  # deterministic


def test_a_players_recordings_share_habits():
    from tfav.data.synth.score import random_performance

    a = random_performance("violin", 10.0, seed=1, player_seed=7)
    b = random_performance("violin", 10.0, seed=2, player_seed=7)
    c = random_performance("violin", 10.0, seed=3, player_seed=8)
    assert not np.array_equal(a.keys[:10], b.keys[:10])  # different pieces
    assert abs(a.vibrato[0, 1] - b.vibrato[0, 1]) <= 0.1 * a.vibrato[0, 1]  # same vibrato rate
    assert abs(a.vibrato[0, 1] - c.vibrato[0, 1]) > 0.01
