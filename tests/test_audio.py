"""Tests of tfav.audio: loading fixtures written with soundfile, features vs librosa/numpy."""

import numpy as np
import pytest
import soundfile as sf

from tfav import audio
from tfav.errors import AudioError

SR = audio.SAMPLE_RATE


def tone(freq, seconds=0.25, sr=SR, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize(
    "name,sr,channels,subtype,fmt",
    [
        ("a.wav", 44100, 1, "PCM_16", "WAV"),
        ("b.wav", 48000, 2, "PCM_32", "WAV"),
        ("c.wav", 44100, 4, "FLOAT", "WAV"),
        ("d.flac", 48000, 2, "PCM_16", "FLAC"),
        ("e.ogg", 44100, 1, "VORBIS", "OGG"),
    ],
)
def test_load_audio_formats_rates_channels(tmp_path, name, sr, channels, subtype, fmt):
    mono = tone(440.0, seconds=0.2, sr=sr)
    # Each channel a different scaling so the mono mix is their mean.
    gains = np.linspace(0.5, 1.5, channels) if channels > 1 else np.ones(1)
    data = mono[:, None] * gains[None, :].astype(np.float32)
    path = tmp_path / name
    sf.write(path, data, sr, subtype=subtype, format=fmt)
    x = audio.load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.shape[0] - round(mono.shape[0] * SR / sr)) <= 1
    expected = audio.resample(mono * np.float32(gains.mean()), sr, SR)
    n = min(len(x), len(expected))
    tol = 0.05 if fmt == "OGG" else 1e-3  # Vorbis is lossy
    # Skip the edges where the resampling filter and the codec's priming differ.
    np.testing.assert_allclose(x[200 : n - 200], expected[200 : n - 200], atol=tol)


def test_load_audio_int_pcm_scaling(tmp_path):
    pcm = (tone(220.0) * 32767).astype(np.int16)
    path = tmp_path / "i.wav"
    sf.write(path, pcm, SR, subtype="PCM_16")
    x = audio.load_audio(path)
    np.testing.assert_allclose(x, pcm / 32768.0, atol=1e-6)


def test_load_audio_resample_to_other_rate(tmp_path):
    path = tmp_path / "r.wav"
    sf.write(path, tone(440.0, seconds=0.5), SR)
    x = audio.load_audio(path, sample_rate=16000)
    assert x.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 16000 / len(x) - 440.0) < 3.0


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def test_load_audio_bad_files(tmp_path):
    bad = {
        "garbage.wav": lambda p: _write_bytes(p, b"RIFF\x00\x01garbage" * 10),
        "empty.wav": lambda p: _write_bytes(p, b""),
        "zero_frames.wav": lambda p: sf.write(p, np.zeros((0, 1), np.float32), SR),
        "nan.wav": lambda p: sf.write(p, np.array([0.1, np.nan, 0.2], np.float32), SR,
                                      subtype="FLOAT"),
        "inf.wav": lambda p: sf.write(p, np.array([0.1, np.inf, 0.2], np.float32), SR,
                                      subtype="FLOAT"),
        "silent.flac": lambda p: sf.write(p, np.zeros(1000, np.float32), SR),
    }
    problems = {
        "garbage.wav": "unreadable", "empty.wav": "unreadable", "zero_frames.wav": "zero frames",
        "nan.wav": "NaN", "inf.wav": "Inf", "silent.flac": "silent",
    }  # fmt: skip
    for name, make in bad.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(AudioError) as info:
            audio.load_audio(path)
        message = str(info.value)
        assert message.startswith(str(path) + ":"), message
        assert problems[name] in message, message
        assert "\n" not in message
    with pytest.raises(AudioError, match="no such file"):
        audio.load_audio(tmp_path / "missing.wav")
    silent = audio.load_audio(tmp_path / "silent.flac", allow_silent=True)
    assert silent.shape == (1000,) and not silent.any()


def test_resample_length_and_frequency():
    x = tone(1000.0, seconds=0.5, sr=48000)
    y = audio.resample(x, 48000, SR)
    assert y.dtype == np.float32 and y.shape == (SR // 2,)
    assert abs(np.argmax(np.abs(np.fft.rfft(y))) * SR / len(y) - 1000.0) < 3.0
    assert audio.resample(x, 48000, 48000) is not None


def test_chunk_audio_pads_last_chunk():
    x = np.arange(1, 50001, dtype=np.float32)
    chunks = audio.chunk_audio(x)
    assert chunks.shape == (3, audio.CHUNK_SAMPLES)
    np.testing.assert_array_equal(chunks.reshape(-1)[:50000], x)
    assert not chunks[2, 50000 - 2 * audio.CHUNK_SAMPLES :].any()
    short = audio.chunk_audio(np.ones(100, np.float32))
    assert short.shape == (1, audio.CHUNK_SAMPLES) and short.sum() == 100
    assert audio.chunk_audio(np.ones(2 * audio.CHUNK_SAMPLES)).shape == (2, audio.CHUNK_SAMPLES)


def test_loudness_dbfs_and_silence():
    assert audio.loudness_dbfs(np.ones(100, np.float32)) == pytest.approx(0.0)
    sine = tone(441.0, seconds=1.0, amp=1.0)
    assert audio.loudness_dbfs(sine) == pytest.approx(-3.0103, abs=1e-3)
    assert audio.loudness_dbfs(sine * 0.01) == pytest.approx(-43.0103, abs=1e-3)
    full_int16 = np.full(10, -32768, np.int16)
    assert audio.loudness_dbfs(full_int16) == pytest.approx(0.0)
    assert audio.loudness_dbfs(np.full(10, 16384, np.int16)) == pytest.approx(-6.0206, abs=1e-3)
    assert audio.loudness_dbfs(np.zeros(10)) == float("-inf")
    assert audio.SILENCE_DBFS == -45.0
    assert not audio.is_silent(sine * 0.01)
    assert audio.is_silent(sine * 0.005)
    assert audio.is_silent(np.zeros(10, np.float32))
