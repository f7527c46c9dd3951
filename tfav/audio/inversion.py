"""Waveforms from log-mel spectrograms: mel pseudo-inversion and fast Griffin-Lim.

Two implementations of the same algorithm, side by side:

* :func:`griffin_lim_from_log_mel`: complex TensorFlow ops (``tf.signal``
  STFT / inverse RFFT), any batch, the initial phases drawn per example;
* :func:`griffin_lim`: the same in real arithmetic with TFLite builtin ops
  only, for exported graphs (``tfav.serving``); the frame count is fixed at
  trace time and every example starts from the phases of example 0.

Both share the mel inversion (:func:`_mel_magnitude`), the centred STFT and
the initial phases, so for a batch of one they agree to float rounding.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfav.audio.features import _centred_stft, _hann, mel_filterbank
from tfav.audio.io import SAMPLE_RATE

#: Griffin-Lim iterations of :func:`griffin_lim` (the exported I2S graphs).
GRIFFIN_LIM_ITERATIONS = 32


def _mel_magnitude(log_mel_db, sample_rate, n_fft):
    """Linear-frequency magnitude ``[..., frames, 1 + n_fft // 2]`` of a dB mel spectrogram.

    The mel power is mapped back to linear frequency with the pseudo-inverse
    of the filterbank and clipped at zero.
    """
    n_mels = int(log_mel_db.shape[-2])
    inverse = tf.constant(np.linalg.pinv(mel_filterbank(sample_rate, n_fft, n_mels)))
    power = tf.nn.relu(tf.linalg.matmul(inverse, tf.math.pow(10.0, log_mel_db / 10.0)))
    return tf.linalg.matrix_transpose(tf.math.sqrt(power))


def _initial_phase(shape, seed):
    """Random initial phases in [0, 2 pi) of Griffin-Lim (stateless: a function of ``seed``)."""
    return tf.random.stateless_uniform(shape, [seed, 0], 0.0, 2.0 * np.pi)


# --------------------------------------------------------------------------- complex (TensorFlow)


def _istft(stft, n_fft, hop_length, window):
    """Inverse of the centred STFT with librosa's window-sum-square normalisation."""
    frames = tf.signal.irfft(stft, [n_fft]) * window
    signal = tf.signal.overlap_and_add(frames, hop_length)
    n_frames = tf.shape(stft)[-2]
    envelope = tf.signal.overlap_and_add(tf.tile((window**2)[None], [n_frames, 1]), hop_length)
    signal /= tf.where(envelope > 1e-10, envelope, 1.0)
    return signal[..., n_fft // 2 : -(n_fft // 2)]


def griffin_lim_from_log_mel(
    log_mel_db, sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=512, n_iter=32, momentum=0.99,
    seed=0,
):  # fmt: skip
    """Waveform from a log-mel spectrogram in dB: mel inversion, then Griffin-Lim.

    The mel power is mapped back to linear frequency with the pseudo-inverse
    of the filterbank, clipped at zero (the mel filtering is not invertible, so
    detail within each mel band, most of it at high frequencies, is lost: Chen
    et al. 2017, section 5.4); the phase comes from the fast Griffin-Lim
    algorithm (Perraudin et al. 2013; ``momentum=0`` is plain Griffin-Lim),
    started from random phases.

    Args:
        log_mel_db: ``[batch, n_mels, frames]`` in dB (use
            :func:`denormalize_log_mel` first for a normalised LMS).
        sample_rate, n_fft, hop_length: as for :func:`log_mel_spectrogram`.
        n_iter: Griffin-Lim iterations.
        momentum: fast Griffin-Lim momentum (librosa's default 0.99).
        seed: seed of the initial phases.

    Returns:
        float32 ``[batch, (frames - 1) * hop_length]``.
    """
    log_mel_db = tf.convert_to_tensor(log_mel_db, tf.float32)
    magnitude = tf.complex(_mel_magnitude(log_mel_db, sample_rate, n_fft), 0.0)
    window = tf.constant(_hann(n_fft))

    def unit(z):
        return z / tf.complex(tf.math.abs(z) + 1e-16, 0.0)

    phase = _initial_phase(tf.shape(magnitude), seed)
    angles = tf.complex(tf.math.cos(phase), tf.math.sin(phase))

    def step(i, angles, previous):
        signal = _istft(magnitude * angles, n_fft, hop_length, window)
        rebuilt = _centred_stft(signal, n_fft, hop_length, window)
        accelerated = rebuilt - tf.complex(momentum / (1.0 + momentum), 0.0) * previous
        return i + 1, unit(accelerated), rebuilt

    _, angles, _ = tf.while_loop(
        lambda i, *_: i < n_iter, step, (0, angles, tf.zeros_like(angles))
    )
    return _istft(magnitude * angles, n_fft, hop_length, window)


# --------------------------------------------------------------------------- real (TFLite builtins)


def _irfft_frames(real, imag, n_fft):
    """Inverse real FFT of ``[..., n_fft // 2 + 1]`` spectra with one forward RFFT.

    Builds the real sequence ``c`` whose Hartley transform is the inverse:
    ``irfft(X)[n] = (Re + Im) F(c)[n] / N`` with ``c_k = Re X_k + Im X_k`` and
    ``c_{N-k} = Re X_k - Im X_k`` (the imaginary parts of DC and Nyquist are
    ignored, as ``irfft`` does). Only builtin TFLite ops (RFFT2D): no IRFFT,
    no complex arithmetic.
    """
    half = n_fft // 2
    imag = tf.concat([tf.zeros_like(imag[..., :1]), imag[..., 1:half],
                      tf.zeros_like(imag[..., :1])], axis=-1)  # fmt: skip
    c = tf.concat([real + imag, tf.reverse((real - imag)[..., 1:half], axis=[-1])], axis=-1)
    spectrum = tf.signal.rfft(c, [n_fft])
    re, im = tf.math.real(spectrum), tf.math.imag(spectrum)
    first = re + im
    second = tf.reverse((re - im)[..., 1:half], axis=[-1])
    return tf.concat([first, second], axis=-1) / float(n_fft)


def inverse_stft(real, imag, n_fft=2048, hop_length=512):
    """Inverse of the centred STFT (:func:`tfav.audio.features._centred_stft`, periodic
    Hann window) in TFLite builtin ops: librosa's ``istft(center=True)`` with its
    window-sum-square normalisation.

    The frame count is read from the static shape (fixed at trace time); the inverse
    FFT is one forward RFFT (:func:`_irfft_frames`), the overlap-add ``n_fft //
    hop_length`` shifted sums, and the window envelope a constant.

    Args:
        real, imag: ``[B, frames, 1 + n_fft // 2]`` parts of the spectrum.

    Returns:
        float32 ``[B, (frames - 1) * hop_length]``.
    """
    frames = int(real.shape[-2])
    if n_fft % hop_length:
        raise ValueError(f"n_fft {n_fft} must be a multiple of hop_length {hop_length}")
    window = _hann(n_fft)
    envelope = np.zeros((frames - 1) * hop_length + n_fft, np.float32)
    for t in range(frames):
        envelope[t * hop_length : t * hop_length + n_fft] += window**2
    envelope = np.where(envelope > 1e-10, envelope, 1.0)
    pieces = n_fft // hop_length
    x = _irfft_frames(real, imag, n_fft) * window
    x = tf.reshape(x, [-1, frames, pieces, hop_length])
    x = sum(tf.pad(x[:, :, q], [[0, 0], [q, pieces - 1 - q], [0, 0]]) for q in range(pieces))
    x = tf.reshape(x, [-1, (frames + pieces - 1) * hop_length]) / envelope
    return x[:, n_fft // 2 : -(n_fft // 2)]


def griffin_lim(log_mel_db, n_iter=GRIFFIN_LIM_ITERATIONS, momentum=0.99, n_fft=2048,
                hop_length=512):  # fmt: skip
    """:func:`griffin_lim_from_log_mel` in real arithmetic, for TFLite builtins.

    The same mel pseudo-inversion and fast Griffin-Lim (Perraudin et al. 2013)
    with the same initial phases for a batch of one (the phases of example 0
    are used for every example, so each result is independent of its batch).
    Complex numbers are kept as (real, imaginary) pairs, the inverse FFT is a
    forward RFFT (:func:`_irfft_frames`), the window envelope of the fixed
    frame count is a constant, and the loop is a ``tf.while_loop`` (TFLite WHILE).

    Args:
        log_mel_db: ``[B, n_mels, frames]`` in dB (frames fixed at trace time).

    Returns:
        float32 ``[B, (frames - 1) * hop_length]``.
    """
    frames = int(log_mel_db.shape[-1])
    bins = n_fft // 2 + 1
    magnitude = _mel_magnitude(log_mel_db, SAMPLE_RATE, n_fft)  # [B, frames, bins]
    window = _hann(n_fft)

    def istft(re, im):
        return inverse_stft(magnitude * re, magnitude * im, n_fft, hop_length)

    def stft(signal):
        s = _centred_stft(signal, n_fft, hop_length, window)
        return tf.math.real(s), tf.math.imag(s)

    with tf.init_scope():  # a constant: the initial phases of griffin_lim_from_log_mel
        phase = _initial_phase([1, frames, bins], 0).numpy()
    re = tf.zeros_like(magnitude) + np.cos(phase)
    im = tf.zeros_like(magnitude) + np.sin(phase)
    factor = momentum / (1.0 + momentum)

    def step(i, re, im, prev_re, prev_im):
        new_re, new_im = stft(istft(re, im))
        re, im = new_re - factor * prev_re, new_im - factor * prev_im
        norm = tf.math.sqrt(re * re + im * im) + 1e-16
        return i + 1, re / norm, im / norm, new_re, new_im

    _, re, im, _, _ = tf.while_loop(
        lambda i, *_: i < n_iter, step, (0, re, im, tf.zeros_like(re), tf.zeros_like(im))
    )
    return istft(re, im)
