"""In-graph audio features (TensorFlow): STFT, mel, log-mel, MFCC, Kaldi fbank, CQT.

Everything here runs as TensorFlow ops so that the same code serves
``tf.data``, Keras models, SavedModels and TFLite. The filterbanks, windows
and bases are numpy constants computed at trace time.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from tfav.audio.io import SAMPLE_RATE

# --------------------------------------------------------------------------- constants (numpy)


def _hz_to_mel(f):
    """Slaney's mel scale (librosa's default ``htk=False``): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    mel = f / f_sp
    log_part = min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, mel)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=2048, n_mels=128, fmin=0.0, fmax=None):
    """Slaney-style mel filterbank with Slaney area normalisation (librosa's default).

    ``tf.signal.linear_to_mel_weight_matrix`` is HTK-style; this one reproduces
    ``librosa.filters.mel(sr, n_fft, n_mels)`` so features match librosa.

    Returns:
        ``np.float32`` array ``[n_mels, 1 + n_fft // 2]``.
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def _hann(n):
    """Periodic Hann window (``scipy.signal.get_window("hann", n, fftbins=True)``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def _dct_matrix(n_out, n_in):
    """Orthonormal DCT-II basis ``[n_out, n_in]`` (``scipy.fft.dct(norm="ortho")``)."""
    k, n = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2.0 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


# --------------------------------------------------------------------------- in-graph features


def _centred_stft(signal, n_fft, hop_length, window):
    """Complex STFT ``[..., 1 + samples // hop, 1 + n_fft // 2]`` of centred frames.

    The signal is zero-padded by ``n_fft // 2`` at both ends (librosa's
    ``center=True, pad_mode="constant"``) and each frame multiplied by
    ``window`` (a constant ``[n_fft]``).
    """
    pad = [[0, 0]] * (signal.shape.rank - 1) + [[n_fft // 2, n_fft // 2]]
    return tf.signal.stft(
        tf.pad(signal, pad), n_fft, hop_length, fft_length=n_fft,
        window_fn=lambda length, dtype: window,
    )  # fmt: skip


def _power_stft(waveforms, n_fft, hop_length):
    """Power spectrogram ``[..., frames, 1 + n_fft // 2]`` of centred, zero-padded frames.

    Matches ``np.abs(librosa.stft(y, n_fft, hop_length, center=True,
    pad_mode="constant")) ** 2`` (periodic Hann window); frames = 1 + samples // hop.
    """
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    stft = _centred_stft(waveforms, n_fft, hop_length, tf.constant(_hann(n_fft)))
    return tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))


def stft_magnitude(waveforms, n_fft=2048, hop_length=512, power=1.0):
    """STFT magnitude ``|X|**power`` (Chen et al. 2017, Table 1 "STFT").

    Args:
        waveforms: float32 ``[batch, samples]``.
        n_fft: FFT length (keep a power of two for TFLite).
        hop_length: hop in samples.
        power: 1 for magnitude, 2 for power.

    Returns:
        ``[batch, 1 + n_fft // 2, 1 + samples // hop_length]``, equal to
        ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)) ** power``.
    """
    spec = _power_stft(waveforms, n_fft, hop_length)
    if power != 2.0:
        spec = tf.math.pow(spec, power / 2.0)
    return tf.linalg.matrix_transpose(spec)


def mel_spectrogram(
    waveforms, sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=128, power=2.0
):
    """Mel spectrogram, linear scale (Chen et al. 2017, Table 1 "MS").

    Returns:
        ``[batch, n_mels, frames]`` equal to ``librosa.feature.melspectrogram(y=...,
        sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=power)``.
    """
    spec = _power_stft(waveforms, n_fft, hop_length)
    if power != 2.0:
        spec = tf.math.pow(spec, power / 2.0)
    # The filterbank is banded: a few matmuls on the bins each band of mels
    # covers do ~8x fewer multiply-adds than one dense matmul, same result.
    bands = [
        tf.linalg.matmul(spec[..., lo:hi], tf.constant(w))
        for lo, hi, w in _mel_bands(sample_rate, n_fft, n_mels)
    ]
    return tf.linalg.matrix_transpose(tf.concat(bands, axis=-1))


@functools.lru_cache(maxsize=8)
def _mel_bands(sample_rate, n_fft, n_mels, n_bands=8):
    """Split the mel filterbank into ``(first_bin, end_bin, weights [bins, mels])`` bands."""
    weights = mel_filterbank(sample_rate, n_fft, n_mels)
    bands = []
    for rows in np.array_split(np.arange(n_mels), min(n_bands, n_mels)):
        nonzero = np.nonzero(weights[rows].any(axis=0))[0]
        lo, hi = (nonzero[0], nonzero[-1] + 1) if nonzero.size else (0, 1)
        bands.append((int(lo), int(hi), np.ascontiguousarray(weights[rows, lo:hi].T)))
    return tuple(bands)  # cached: read-only by convention


def power_to_db(spec, amin=1e-10, top_db=80.0):
    """``10 * log10(max(spec, amin))`` clipped at each clip's maximum minus ``top_db``.

    Like ``librosa.power_to_db(spec, ref=1.0)`` applied clip by clip (librosa
    clips at the maximum of the whole array it is given).

    Args:
        spec: power ``[batch, bins, frames]``.
        amin: floor of the power.
        top_db: dynamic range kept below each clip's peak; None keeps all.
    """
    db = (10.0 / np.log(10.0)) * tf.math.log(tf.math.maximum(spec, amin))
    if top_db is None:
        return db
    peak = tf.math.reduce_max(db, axis=[-2, -1], keepdims=True)
    return tf.math.maximum(db, peak - top_db)


def log_mel_spectrogram(
    waveforms, sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=128, top_db=80.0
):
    """Log-mel spectrogram in dB, the LMS of Chen et al. 2017 (section 3.3).

    A 2048-point STFT with hop 512, a Slaney mel filterbank and the power
    converted to dB, with an ``top_db`` floor below each clip's peak. One chunk
    (22,050 samples) gives ``[128, 44]``. Pure TensorFlow ops: works in
    ``tf.data``, ``tf.function``, Keras layers, SavedModel and TFLite.

    Args:
        waveforms: float32 ``[batch, samples]`` at ``sample_rate``.
        sample_rate: sampling rate in Hz.
        n_fft: FFT length (a power of two for TFLite's RFFT2D).
        hop_length: hop in samples.
        n_mels: mel bands.
        top_db: dynamic range below each clip's peak.

    Returns:
        float32 ``[batch, n_mels, 1 + samples // hop_length]``, equal to
        ``librosa.power_to_db(librosa.feature.melspectrogram(y=clip, sr=sample_rate,
        n_fft=n_fft, hop_length=hop_length, n_mels=n_mels), ref=1.0, top_db=top_db)``
        for each clip.

    Example:
        >>> lms = log_mel_spectrogram(tf.zeros([8, 22050]) + 0.1)
        >>> lms.shape
        TensorShape([8, 128, 44])
    """
    spec = mel_spectrogram(waveforms, sample_rate, n_fft, hop_length, n_mels)
    return power_to_db(spec, top_db=top_db)


def normalize_log_mel(db, top_db=80.0):
    """Map a dB spectrogram to [-1, 1] per clip: ``(db - max_db_of_clip) / 40 + 1``.

    The clip's peak maps to 1 and the ``top_db`` = 80 dB floor to -1, the range
    of a generator's tanh output.
    """
    peak = tf.math.reduce_max(db, axis=[-2, -1], keepdims=True)
    return (db - peak) / (top_db / 2.0) + 1.0


def denormalize_log_mel(x, ref_db=0.0, top_db=80.0):
    """Inverse of :func:`normalize_log_mel` given the clip's peak level ``ref_db`` (dB)."""
    return (x - 1.0) * (top_db / 2.0) + ref_db


def mfcc(
    waveforms, sample_rate=SAMPLE_RATE, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=128,
    top_db=80.0,
):  # fmt: skip
    """Mel-frequency cepstral coefficients (Chen et al. 2017 Table 1; Wan et al. 2019 Table 2).

    The orthonormal DCT-II of the dB mel spectrogram, as ``librosa.feature.mfcc``.

    Returns:
        ``[batch, n_mfcc, frames]``.
    """
    db = log_mel_spectrogram(waveforms, sample_rate, n_fft, hop_length, n_mels, top_db)
    return tf.linalg.matmul(tf.constant(_dct_matrix(n_mfcc, n_mels)), db)


@keras.saving.register_keras_serializable(package="tfav")
class LogMelSpectrogram(keras.layers.Layer):
    """Keras layer: waveform ``[B, samples]`` -> log-mel spectrogram ``[B, n_mels, frames]``.

    Wraps :func:`log_mel_spectrogram` (Chen et al. 2017, section 3.3) and, with
    ``normalize=True``, :func:`normalize_log_mel` so the output lies in [-1, 1]
    (``[B, 128, 44]`` for a 0.5 s chunk). It has no weights.

    Example:
        >>> layer = LogMelSpectrogram()
        >>> layer(tf.random.normal([2, 22050]) * 0.1).shape
        TensorShape([2, 128, 44])
    """

    def __init__(
        self, sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=128, top_db=80.0,
        normalize=True, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self.sample_rate, self.n_fft, self.hop_length = sample_rate, n_fft, hop_length
        self.n_mels, self.top_db, self.normalize = n_mels, top_db, normalize

    def call(self, waveforms):
        db = log_mel_spectrogram(
            tf.cast(waveforms, tf.float32), self.sample_rate, self.n_fft, self.hop_length,
            self.n_mels, self.top_db,
        )  # fmt: skip
        return normalize_log_mel(db, self.top_db) if self.normalize else db

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else 1 + samples // self.hop_length
        return (*input_shape[:-1], self.n_mels, frames)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate, "n_fft": self.n_fft,
            "hop_length": self.hop_length, "n_mels": self.n_mels, "top_db": self.top_db,
            "normalize": self.normalize,
        }  # fmt: skip


# --------------------------------------------------------------------------- Kaldi-style features

_FLT_EPSILON = float(np.finfo(np.float32).eps)


def _kaldi_window(name, length):
    """Kaldi's symmetric analysis windows (``feature-window.cc``)."""
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / (length - 1))
    windows = {
        "povey": hann**0.85,
        "hamming": 0.54 - 0.46 * np.cos(2.0 * np.pi * np.arange(length) / (length - 1)),
        "hanning": hann,
    }
    if name not in windows:
        raise ValueError(f"window must be one of {sorted(windows)}, not {name!r}")
    return windows[name].astype(np.float32)


def _kaldi_power_frames(waveforms, sample_rate, frame_length_ms, frame_shift_ms, window):
    """Kaldi framing (snip_edges), DC removal, pre-emphasis 0.97, window, power spectrum.

    Returns ``(power [..., frames, n_fft // 2 + 1], log raw frame energy [..., frames], n_fft)``.
    """
    length = int(sample_rate * 0.001 * frame_length_ms)
    shift = int(sample_rate * 0.001 * frame_shift_ms)
    n_fft = 1 << (length - 1).bit_length()
    frames = tf.signal.frame(tf.convert_to_tensor(waveforms, tf.float32), length, shift)
    frames -= tf.math.reduce_mean(frames, axis=-1, keepdims=True)
    raw_energy = tf.math.log(tf.math.maximum(tf.math.reduce_sum(frames**2, -1), _FLT_EPSILON))
    frames = tf.concat([frames[..., :1] * 0.03, frames[..., 1:] - 0.97 * frames[..., :-1]], -1)
    spec = tf.signal.rfft(frames * _kaldi_window(window, length), [n_fft])
    power = tf.math.square(tf.math.real(spec)) + tf.math.square(tf.math.imag(spec))
    return power, raw_energy, n_fft


def kaldi_mel_banks(n_mels, n_fft, sample_rate, low_freq=20.0, high_freq=0.0):
    """Kaldi's triangular mel filters (``mel-computations.cc``), ``[n_fft // 2, n_mels]``.

    Triangles are linear in HTK mel (``1127 ln(1 + f / 700)``) and unnormalised;
    ``high_freq <= 0`` is an offset from Nyquist. The Nyquist bin gets no weight.
    """
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, np.float64) / 700.0)

    high_freq = sample_rate / 2.0 + high_freq if high_freq <= 0 else high_freq
    delta = (mel(high_freq) - mel(low_freq)) / (n_mels + 1)
    left = mel(low_freq) + delta * np.arange(n_mels)[None, :]
    center, right = left + delta, left + 2 * delta
    bin_mel = mel(np.arange(n_fft // 2) * sample_rate / n_fft)[:, None]
    up, down = (bin_mel - left) / (center - left), (right - bin_mel) / (right - center)
    weights = np.where(bin_mel <= center, up, down)
    return np.where((bin_mel > left) & (bin_mel < right), weights, 0.0).astype(np.float32)


def fbank(
    waveforms, sample_rate=SAMPLE_RATE, n_mels=80, frame_length_ms=25.0, frame_shift_ms=10.0,
    window="povey",
):  # fmt: skip
    """Kaldi ``compute-fbank-feats`` log mel filterbank energies (Wan et al. 2019, Table 2).

    25 ms Povey (or ``"hamming"``) window every 10 ms, only whole frames
    (``snip_edges``), DC offset removed, pre-emphasis 0.97, FFT padded to a power
    of two, power spectrum, Kaldi mel triangles from 20 Hz to Nyquist,
    ``log(max(E, FLT_EPSILON))``. No dither, so the result is deterministic.
    The waveform is used at its own scale (Kaldi reads int16 PCM: multiply by
    32768 for Kaldi's numbers).

    Args:
        waveforms: float32 ``[batch, samples]``.
        sample_rate: Hz.
        n_mels: mel bins (Wan et al. use 40 or 80).
        frame_length_ms, frame_shift_ms: analysis frame and hop.
        window: ``"povey"``, ``"hamming"`` or ``"hanning"``.

    Returns:
        ``[batch, n_mels, 1 + (samples - frame_length) // frame_shift]``.
    """
    power, _, n_fft = _kaldi_power_frames(
        waveforms, sample_rate, frame_length_ms, frame_shift_ms, window
    )
    banks = tf.constant(kaldi_mel_banks(n_mels, n_fft, sample_rate))
    energies = tf.linalg.matmul(power[..., : n_fft // 2], banks)
    return tf.linalg.matrix_transpose(tf.math.log(tf.math.maximum(energies, _FLT_EPSILON)))


def spectrogram(
    waveforms, sample_rate=SAMPLE_RATE, frame_length_ms=25.0, frame_shift_ms=10.0, window="povey"
):
    """Kaldi ``compute-spectrogram-feats`` log power spectrogram (Wan et al. 2019, Table 2).

    Same framing as :func:`fbank`; ``log(max(|X|^2, FLT_EPSILON))`` of every
    linear-frequency bin, except that bin 0 holds the log energy of the frame
    before pre-emphasis and windowing, as Kaldi does.

    Returns:
        ``[batch, n_fft // 2 + 1, frames]`` (1025 bins for 25 ms at 44.1 kHz).
    """
    power, raw_energy, _ = _kaldi_power_frames(
        waveforms, sample_rate, frame_length_ms, frame_shift_ms, window
    )
    log_power = tf.math.log(tf.math.maximum(power, _FLT_EPSILON))
    log_power = tf.concat([raw_energy[..., None], log_power[..., 1:]], axis=-1)
    return tf.linalg.matrix_transpose(log_power)


# --------------------------------------------------------------------------- constant-Q


@functools.lru_cache(maxsize=8)
def _cq_kernel(sample_rate, fmin, n_bins, bins_per_octave, sparsity=0.01):
    """Spectral kernel of a constant-Q transform (Brown & Puckette 1992), librosa's filters.

    Each filter is a Hann-windowed complex phasor of length ``Q * sr / f_k``,
    L1-normalised and scaled by ``length / n_fft`` as in ``librosa.cqt``; its FFT
    is sparsified to keep 99 % of its magnitude, and only the FFT bins some
    filter uses are kept.

    Returns:
        ``(kernel complex [n_bins, hi - lo], n_fft, lo, hi, lengths [n_bins])``.
    """
    freqs = fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)
    alpha = (2.0 ** (2.0 / bins_per_octave) - 1) / (2.0 ** (2.0 / bins_per_octave) + 1)
    lengths = sample_rate / (alpha * freqs)
    n_fft = 1 << int(np.ceil(np.log2(lengths.max())))
    basis = np.zeros((n_bins, n_fft), np.complex128)
    for k, (length, freq) in enumerate(zip(lengths, freqs, strict=True)):
        t = np.arange(-length // 2, length // 2)
        filt = np.exp(2j * np.pi * freq / sample_rate * t) * _hann(len(t))
        start = (n_fft - len(t)) // 2
        basis[k, start : start + len(t)] = filt / np.abs(filt).sum() * length / n_fft
    kernel = np.fft.fft(basis, axis=1)[:, : n_fft // 2 + 1]
    mags = np.abs(kernel)
    ordered = np.sort(mags, axis=1)
    first_kept = np.argmin(np.cumsum(ordered / mags.sum(1, keepdims=True), 1) < sparsity, 1)
    kernel[mags < ordered[np.arange(n_bins), first_kept][:, None]] = 0
    used = np.nonzero(np.abs(kernel).any(axis=0))[0]
    lo, hi = int(used[0]), int(used[-1]) + 1
    return kernel[:, lo:hi], n_fft, lo, hi, lengths


def cqt(
    waveforms, sample_rate=SAMPLE_RATE, hop_length=512, fmin=32.70319566257483, n_bins=84,
    bins_per_octave=12,
):  # fmt: skip
    """Constant-Q transform magnitude (Chen et al. 2017, Table 1 "CQT").

    A fixed complex constant-Q kernel applied to the FFT of centred,
    zero-padded frames (one real matmul on [Re, Im]), at the full sampling
    rate for every octave. ``librosa.cqt`` computes the same filters but
    downsamples by 2 per lower octave, so the two agree closely in the top
    octave and within a fraction of a dB where there is energy below.

    Args:
        waveforms: float32 ``[batch, samples]``.
        sample_rate: Hz.
        hop_length: hop in samples.
        fmin: centre of the lowest bin (default C1, as librosa).
        n_bins: number of bins (default 7 octaves).
        bins_per_octave: bins per octave.

    Returns:
        ``[batch, n_bins, 1 + samples // hop_length]`` magnitudes, scaled like
        ``np.abs(librosa.cqt(y, sr=sample_rate, hop_length=hop_length))``.
    """
    kernel, n_fft, lo, hi, lengths = _cq_kernel(sample_rate, fmin, n_bins, bins_per_octave)
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    pad = [[0, 0]] * (waveforms.shape.rank - 1) + [[n_fft // 2, n_fft // 2]]
    spec = tf.signal.rfft(tf.signal.frame(tf.pad(waveforms, pad), n_fft, hop_length))
    spec = spec[..., lo:hi]
    kr, ki = kernel.real.T, kernel.imag.T
    block = tf.constant(np.block([[kr, ki], [-ki, kr]]).astype(np.float32))
    product = tf.linalg.matmul(tf.concat([tf.math.real(spec), tf.math.imag(spec)], -1), block)
    magnitude = tf.math.sqrt(product[..., :n_bins] ** 2 + product[..., n_bins:] ** 2)
    return tf.linalg.matrix_transpose(magnitude) / np.sqrt(lengths).astype(np.float32)[:, None]
