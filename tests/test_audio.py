"""Tests of tfav.audio: loading fixtures written with soundfile, features vs librosa/numpy."""

import functools
import logging
import os

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
    for n, rate in ((24000, 48000), (1001, 48000), (777, 22050), (12345, 16000), (5, SR)):
        assert audio.resampled_length(n, rate, SR) == len(audio.resample(np.zeros(n), rate, SR))


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


# --------------------------------------------------------------------------- features

librosa = pytest.importorskip("librosa")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@functools.cache
def soundfont_sample(name):
    """``(pcm float32, sample_rate, loop_start, loop_end)`` of a sample of pretty_midi's
    General MIDI SoundFont (TimGM6mb.sf2: recorded instruments)."""
    import pretty_midi
    from sf2utils.sf2parse import Sf2File

    path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    logging.disable(logging.WARNING)  # sf2utils warns about loops of synth samples
    try:
        with open(path, "rb") as f:
            s = next(s for s in Sf2File(f).samples if s.name == name)
            pcm = np.frombuffer(s.raw_sample_data, "<i2").astype(np.float32) / 32768.0
            return pcm, s.sample_rate, s.start_loop, s.end_loop
    finally:
        logging.disable(logging.NOTSET)


def soundfont_note(name, seconds=0.5, gain=1.0, delay=0.0):
    """A recorded instrument note: the sample's attack, its sustain loop repeated, a fade."""
    pcm, rate, start_loop, end_loop = soundfont_sample(name)
    needed = int(seconds * rate) + 1
    loops = -(-max(needed - end_loop, 0) // (end_loop - start_loop))
    x = np.concatenate([pcm[:end_loop]] + [pcm[start_loop:end_loop]] * loops)
    x = audio.resample(x[:needed], rate, SR)[: int(seconds * SR)]
    x[-220:] *= np.linspace(1.0, 0.0, 220, dtype=np.float32)
    x = np.concatenate([np.zeros(int(delay * SR), np.float32), x])[: int(seconds * SR)]
    return (gain * x).astype(np.float32)


@pytest.fixture(scope="module")
def notes():
    """Three 0.5 s chunks: a flute, a quiet violin that starts late, a cello."""
    return np.stack(
        [
            soundfont_note("FluteG5"),
            soundfont_note("Violin G3", gain=0.05, delay=0.2),
            soundfont_note("Arco Cello D2", gain=0.5),
        ]
    )


def librosa_mel(y, **kwargs):
    return librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=2048, hop_length=512, n_mels=128, power=2.0, **kwargs
    )


def test_log_mel_matches_librosa(notes):
    got = audio.log_mel_spectrogram(notes).numpy()
    assert got.shape == (3, 128, 44) and got.dtype == np.float32
    for clip, lms in zip(notes, got, strict=True):
        ref = librosa.power_to_db(librosa_mel(clip), ref=1.0, top_db=80.0)
        difference = np.abs(lms - ref)
        assert difference.max() < 0.01 and difference.mean() < 1e-4, difference.max()
        assert lms.max() - lms.min() == pytest.approx(80.0, abs=1e-3)  # floor is reached


def test_mel_filterbank_matches_librosa():
    for sr, n_fft, n_mels in [(44100, 2048, 128), (16000, 512, 40)]:
        np.testing.assert_allclose(
            audio.mel_filterbank(sr, n_fft, n_mels),
            librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels),
            rtol=1e-5, atol=1e-9,
        )  # fmt: skip


def test_mel_spectrogram_and_stft_match_librosa(notes):
    clips = notes[:2]
    mel = audio.mel_spectrogram(clips).numpy()
    magnitude = audio.stft_magnitude(clips).numpy()
    power = audio.stft_magnitude(clips, n_fft=1024, hop_length=256, power=2.0).numpy()
    assert mel.shape == (2, 128, 44) and magnitude.shape == (2, 1025, 44)
    assert power.shape == (2, 513, 87)
    for i, clip in enumerate(clips):
        ref = librosa_mel(clip)
        np.testing.assert_allclose(mel[i], ref, rtol=1e-3, atol=1e-6 * ref.max())
        ref = np.abs(librosa.stft(clip, n_fft=2048, hop_length=512))
        np.testing.assert_allclose(magnitude[i], ref, rtol=1e-3, atol=1e-5 * ref.max())
        ref = np.abs(librosa.stft(clip, n_fft=1024, hop_length=256)) ** 2
        np.testing.assert_allclose(power[i], ref, rtol=1e-3, atol=1e-6 * ref.max())


def test_mfcc_matches_librosa(notes):
    got = audio.mfcc(notes[:2]).numpy()
    assert got.shape == (2, 20, 44)
    for i, clip in enumerate(notes[:2]):
        ref = librosa.feature.mfcc(y=clip, sr=SR, n_mfcc=20, n_fft=2048, hop_length=512)
        np.testing.assert_allclose(got[i], ref, atol=2e-3)
    assert audio.mfcc(notes[:1], n_mfcc=13).shape == (1, 13, 44)


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")
def test_cqt_peaks_and_librosa_agreement(notes):
    tones = np.stack([tone(440.0, 0.5), tone(110.0, 0.5) + tone(1760.0, 0.5, amp=0.3)])
    got = audio.cqt(tones).numpy()
    assert got.shape == (2, 84, 44)
    # A4 is 45 semitones above C1, A2 21 and A6 69.
    assert (got[0, :, 4:-4].argmax(axis=0) == 45).all()
    assert (got[1, :, 4:-4].argmax(axis=0) == 21).all()
    assert (got[1, 60:, 4:-4].argmax(axis=0) == 69 - 60).all()
    # librosa downsamples by 2 per lower octave (soxr resampling) while we filter
    # every octave at 44.1 kHz: the top octave, which librosa also computes at
    # full rate, agrees to 1e-3 of the peak; elsewhere resampling ripple and the
    # 1 % kernel sparsification leave errors below 2 % of the peak, and bins
    # within 20 dB of the peak agree within 0.5 dB.
    clips = np.concatenate([tones, notes[:1]])
    got = audio.cqt(clips).numpy()
    for i, clip in enumerate(clips):
        ref = np.abs(librosa.cqt(clip, sr=SR, hop_length=512))
        assert (got[i].argmax(axis=0) == ref.argmax(axis=0))[4:-4].all()
        error = np.abs(got[i] - ref) / ref.max()
        assert error.max() < 0.02 and error[-12:].max() < 1e-3, (error.max(), error[-12:].max())
        loud = ref > ref.max() / 10
        db_error = 20 * np.abs(np.log10(got[i][loud] / ref[loud]))
        assert db_error.max() < 0.5, db_error.max()


def kaldi_reference(x, sr, n_mels=None, window="povey"):
    """Kaldi's fbank (n_mels given) or spectrogram, frame by frame in float64."""
    length, shift = int(sr * 0.025), int(sr * 0.010)
    n_fft = 2 ** int(np.ceil(np.log2(length)))
    i = np.arange(length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * i / (length - 1))
    w = hann**0.85 if window == "povey" else 0.54 - 0.46 * np.cos(2 * np.pi * i / (length - 1))
    eps = np.finfo(np.float32).eps
    if n_mels:
        mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)
        lo, hi = mel(20.0), mel(sr / 2.0)
        delta = (hi - lo) / (n_mels + 1)
        banks = np.zeros((n_mels, n_fft // 2))
        for m in range(n_mels):
            left, center, right = lo + m * delta, lo + (m + 1) * delta, lo + (m + 2) * delta
            for k in range(n_fft // 2):
                z = mel(k * sr / n_fft)
                if left < z <= center:
                    banks[m, k] = (z - left) / (center - left)
                elif center < z < right:
                    banks[m, k] = (right - z) / (right - center)
    features = []
    for t in range(1 + (len(x) - length) // shift):
        frame = x[t * shift : t * shift + length].astype(np.float64)
        frame = frame - frame.mean()
        energy = np.log(max(np.sum(frame**2), eps))
        frame = np.concatenate([[frame[0] * (1 - 0.97)], frame[1:] - 0.97 * frame[:-1]]) * w
        power = np.abs(np.fft.rfft(frame, n_fft)) ** 2
        if n_mels:
            features.append(np.log(np.maximum(banks @ power[: n_fft // 2], eps)))
        else:
            features.append(np.concatenate([[energy], np.log(np.maximum(power[1:], eps))]))
    return np.array(features).T


@pytest.mark.parametrize("n_mels,window", [(40, "povey"), (80, "hamming")])
def test_fbank_matches_kaldi_reference(notes, n_mels, window):
    got = audio.fbank(notes[:2], n_mels=n_mels, window=window).numpy()
    frames = 1 + (audio.CHUNK_SAMPLES - 1102) // 441
    assert got.shape == (2, n_mels, frames)
    for i in range(2):
        # Natural-log energies; 5e-3 (0.02 dB) covers float32 rounding in the weakest bands.
        np.testing.assert_allclose(got[i], kaldi_reference(notes[i], SR, n_mels, window), atol=5e-3)


def test_spectrogram_matches_kaldi_reference(notes):
    clip = notes[2] + 1e-3 * np.random.default_rng(0).standard_normal(len(notes[2]))
    got = audio.spectrogram(clip[None].astype(np.float32)).numpy()[0]
    ref = kaldi_reference(clip, SR)
    assert got.shape == ref.shape == (1025, 48)
    # float32 FFT rounding is ~1e-7 of the frame's peak, so compare bins within
    # 100 dB (log 1e10) of it tightly.
    strong = ref > ref.max(axis=0) - np.log(1e10)
    assert strong.mean() > 0.99
    np.testing.assert_allclose(got[strong], ref[strong], atol=1e-2)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-4)  # bin 0 holds the frame energy
    with pytest.raises(ValueError, match="window"):
        audio.fbank(notes[:1], window="blackman")


def test_normalize_and_denormalize_log_mel(notes):
    db = audio.log_mel_spectrogram(notes)
    x = audio.normalize_log_mel(db).numpy()
    np.testing.assert_allclose(x.max(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(x.min(axis=(1, 2)), -1.0, atol=1e-5)  # the 80 dB floor
    peaks = db.numpy().max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(audio.denormalize_log_mel(x, peaks), db.numpy(), atol=1e-4)
    np.testing.assert_allclose(x, (db.numpy() - peaks) / 40.0 + 1.0, atol=1e-6)


def test_features_in_tf_function_with_dynamic_batch(notes):
    features = {
        "lms": (audio.log_mel_spectrogram, (128, 44)),
        "ms": (audio.mel_spectrogram, (128, 44)),
        "stft": (audio.stft_magnitude, (1025, 44)),
        "mfcc": (audio.mfcc, (20, 44)),
        "fbank": (audio.fbank, (80, 48)),
        "spectrogram": (audio.spectrogram, (1025, 48)),
    }
    spec = tf.TensorSpec([None, audio.CHUNK_SAMPLES], tf.float32)
    for name, (feature, shape) in features.items():
        graph = tf.function(feature, input_signature=[spec])
        assert graph.get_concrete_function().output_shapes.as_list() == [None, *shape], name
        one, three = graph(notes[:1]).numpy(), graph(notes).numpy()
        assert three.shape == (3, *shape), name
        np.testing.assert_allclose(one[0], three[0], rtol=1e-5, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(three, feature(notes).numpy(), rtol=1e-5, atol=1e-4)


def test_log_mel_layer_config_round_trip(notes, tmp_path):
    layer = audio.LogMelSpectrogram(n_mels=64, name="lms")
    config = layer.get_config()
    assert config["n_mels"] == 64 and config["normalize"] is True
    clone = audio.LogMelSpectrogram.from_config(config)
    np.testing.assert_allclose(clone(notes).numpy(), layer(notes).numpy())
    assert layer(notes).shape == (3, 64, 44)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, audio.LogMelSpectrogram) and restored.n_mels == 64

    inputs = keras.Input((audio.CHUNK_SAMPLES,))
    outputs = audio.LogMelSpectrogram()(inputs)
    assert tuple(outputs.shape) == (None, 128, 44)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "lms.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    expected = audio.normalize_log_mel(audio.log_mel_spectrogram(notes)).numpy()
    np.testing.assert_allclose(loaded.predict(notes, verbose=0), expected, atol=1e-5)
    assert expected.min() >= -1.0 - 1e-6 and expected.max() <= 1.0 + 1e-6
    raw = audio.LogMelSpectrogram(normalize=False)(notes).numpy()
    np.testing.assert_allclose(raw, audio.log_mel_spectrogram(notes).numpy(), atol=1e-5)


def test_griffin_lim_keeps_pitch_and_converges():
    clip = (tone(440.0, 0.5) + tone(880.0, 0.5, amp=0.2))[None]
    db = audio.log_mel_spectrogram(clip)
    target = np.sqrt(audio.mel_spectrogram(clip).numpy())

    def convergence(waveform):
        rebuilt = np.sqrt(audio.mel_spectrogram(waveform).numpy())
        inner = slice(2, -2)  # the edge frames see the padding
        return np.linalg.norm(rebuilt[..., inner] - target[..., inner]) / np.linalg.norm(
            target[..., inner]
        )

    errors = {}
    for n_iter in (0, 4, 32):
        waveform = audio.griffin_lim_from_log_mel(db, n_iter=n_iter).numpy()
        assert waveform.shape == (1, 43 * 512) and np.isfinite(waveform).all()
        errors[n_iter] = convergence(waveform)
    assert errors[32] < errors[4] < errors[0], errors
    assert errors[32] < 0.3
    spectrum = np.abs(np.fft.rfft(waveform[0]))
    fundamental = np.argmax(spectrum) * SR / waveform.shape[1]
    assert abs(fundamental - 440.0) < 10.0, fundamental  # within a fifth of a semitone
    plain = audio.griffin_lim_from_log_mel(db, n_iter=8, momentum=0.0).numpy()
    assert convergence(plain) < errors[0]


def test_log_mel_converts_to_tflite_builtins(notes):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    spec = tf.TensorSpec([1, audio.CHUNK_SAMPLES], tf.float32)
    lms = tf.function(lambda x: audio.normalize_log_mel(audio.log_mel_spectrogram(x)), [spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([lms.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no TF fallback
    interpreter = litert.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], notes[:1])
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, lms(notes[:1]).numpy(), atol=1e-4)  # 1e-4 = 0.004 dB
