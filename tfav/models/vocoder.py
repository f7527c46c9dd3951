"""The neural vocoder: normalised log-mel spectrogram -> waveform (not in the papers).

Chen et al. 2017 turn their generated spectrograms into sound by Griffin-Lim
(sec. 5.4), which loses the detail the mel filterbank averages away and leaves
a rough, phasey timbre. Later work uses a neural vocoder (MelGAN, HiFi-GAN,
Vocos). None has weights usable from TensorFlow without a download, so tfav
trains its own on the dataset's audio (the ``vocoder`` task,
``tfav.objectives.vocoder``).

The network follows Vocos (Siuzdenko et al. 2023, sec. 3): it works at the frame
rate of the spectrogram (44 frames per half second) rather than the sample rate,
so it is cheap on a CPU. A 1-D convolution embeds each frame's 128 mel bands;
ConvNeXt blocks (Liu et al. 2022: depthwise 7-tap convolution, layer norm, an
inverted bottleneck with GELU, a learned per-channel scale, a residual) mix
neighbouring frames; a dense layer predicts, for every STFT bin, a log magnitude
and a phase (``X = exp(m) * (cos p + i sin p)``, Vocos eq. 2), and the inverse
STFT of the centred 2048-point, hop-512 analysis gives the waveform. Every op is
a TFLite builtin (the inverse FFT is :func:`tfav.audio.inverse_stft`).

The input is the normalised LMS of ``tfav.tasks.log_mel`` (the clip's peak at 1,
80 dB below it at -1, as the I2S generator outputs it); the output is the sound
at the level where that peak is 0 dB (``canonical_level``), which the callers
scale to the loudness they want.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfav.audio import denormalize_log_mel, inverse_stft
from tfav.audio.inversion import _mel_magnitude

#: Clip of the predicted log magnitude (``exp(7)`` ~ 1100, far above any bin of a
#: clip whose mel peak is 0 dB).
MAX_LOG_MAGNITUDE = 7.0


@keras.saving.register_keras_serializable(package="tfav")
class LayerScale(layers.Layer):
    """A learned per-channel scale, initialised small (Touvron et al. 2021)."""

    def __init__(self, init_value: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.gamma = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value), name="gamma")

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@keras.saving.register_keras_serializable(package="tfav")
class SpectrumToWaveform(layers.Layer):
    """``[B, frames, 2 * bins]`` (log magnitudes, then phases) -> waveform
    ``[B, (frames - 1) * hop_length]`` by the inverse centred STFT (Vocos eq. 2)."""

    def __init__(self, n_fft: int = 2048, hop_length: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.hop_length = int(n_fft), int(hop_length)

    def call(self, x):
        bins = self.n_fft // 2 + 1
        magnitude = tf.math.exp(tf.math.minimum(x[..., :bins], MAX_LOG_MAGNITUDE))
        phase = x[..., bins:]
        return inverse_stft(magnitude * tf.math.cos(phase), magnitude * tf.math.sin(phase),
                            self.n_fft, self.hop_length)

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else (frames - 1) * self.hop_length)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop_length": self.hop_length}


@keras.saving.register_keras_serializable(package="tfav")
class MelMagnitude(layers.Layer):
    """Normalised LMS ``[B, n_mels, frames]`` -> ``[B, frames, 2 * bins]``: the log STFT
    magnitudes that the mel pseudo-inverse gives (Griffin-Lim's, ``tfav.audio.inversion``),
    at the canonical level, then zero phases: the prior the vocoder's spectrum is
    predicted as a correction of."""

    def __init__(self, n_fft: int = 2048, sample_rate: int = 44100, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.sample_rate = int(n_fft), int(sample_rate)

    def call(self, lms):
        magnitude = _mel_magnitude(denormalize_log_mel(lms), self.sample_rate, self.n_fft)
        log_magnitude = 0.5 * tf.math.log(tf.math.square(magnitude) + 1e-10)
        return tf.concat([log_magnitude, tf.zeros_like(log_magnitude)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "sample_rate": self.sample_rate}


def _convnext_block(x, channels: int, name: str, scale: float):
    """Depthwise conv (7 taps), layer norm, 1x1 expand x3 + GELU, 1x1 back, scale, residual."""
    h = layers.DepthwiseConv1D(7, padding="same", name=f"{name}_dwconv")(x)
    h = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm")(h)
    h = layers.Dense(3 * channels, name=f"{name}_expand")(h)
    h = layers.Activation("gelu", name=f"{name}_gelu")(h)
    h = layers.Dense(channels, name=f"{name}_project")(h)
    h = LayerScale(scale, name=f"{name}_scale")(h)
    return layers.Add(name=f"{name}_residual")([x, h])


def vocoder(n_mels: int = 128, frames: int = 44, channels: int = 128, blocks: int = 6,
            n_fft: int = 2048, hop_length: int = 512, magnitude_prior: bool = True,
            name: str = "vocoder") -> keras.Model:
    """The Vocos-style vocoder ``normalised LMS [B, n_mels, frames] -> waveform``.

    Args:
        n_mels: Mel bands of the input (128).
        frames: Frames of the input (44 for half a second; fixed for TFLite).
        channels: Width of the ConvNeXt blocks.
        blocks: Number of ConvNeXt blocks.
        n_fft, hop_length: The STFT the waveform is synthesised by (the LMS's).
        magnitude_prior: Predict the log magnitudes as a correction of the mel
            pseudo-inverse's (``MelMagnitude``) rather than from scratch.

    Returns:
        A functional model ``[B, n_mels, frames] -> [B, (frames - 1) * hop_length]``
        at the canonical level (module docstring).

    Example:
        >>> v = vocoder()
        >>> v(tasks.log_mel(waveforms)).shape  # 0.5 s chunks
        TensorShape([..., 22016])
    """
    if blocks < 1 or channels < 1:
        raise ValueError(f"blocks and channels must be >= 1, got {blocks}, {channels}")
    lms = keras.Input((n_mels, frames), name="log_mel")
    x = layers.Permute((2, 1), name="frames_first")(lms)
    x = layers.Conv1D(channels, 7, padding="same", name="embed")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="embed_norm")(x)
    for i in range(blocks):
        x = _convnext_block(x, channels, f"block{i + 1}", scale=1.0 / blocks)
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    bins = n_fft // 2 + 1
    # Start from quiet frames of one phase (small weights; log magnitudes near -5, or the
    # prior's).
    # The spectrum head and the signal processing after it compute in float32 under a
    # mixed policy (exp of log magnitudes, the mel pseudo-inverse and the inverse STFT).
    spectrum = layers.Dense(
        2 * bins, name="spectrum", dtype="float32",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        bias_initializer=keras.initializers.Constant(np.concatenate(
            [np.full(bins, 0.0 if magnitude_prior else -5.0), np.zeros(bins)]).astype(np.float32)),
    )(x)
    if magnitude_prior:
        prior = MelMagnitude(n_fft, name="mel_magnitude", dtype="float32")(lms)
        spectrum = layers.Add(name="corrected_spectrum", dtype="float32")([spectrum, prior])
    wave = SpectrumToWaveform(n_fft, hop_length, name="inverse_stft", dtype="float32")(spectrum)
    return keras.Model(lms, wave, name=name)
