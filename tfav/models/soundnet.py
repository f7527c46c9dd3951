"""Sound vectors of Wan et al. 2019 (sec. 4.1, Table 2): spectral features and SoundNet-8.

``sound_feature_encoder(kind)`` maps 0.5 s waveforms at 44.1 kHz to the
vector ``s`` the generator is conditioned on: the time average of a Kaldi
spectrogram, fbank or MFCC sequence, or SoundNet-8's pool5 (256-d) averaged
over time (the paper's "18-th hidden layer").

SoundNet-8 (Aytar et al. 2016, Table 1 / the released ``soundnet8`` model):
1-D convolutions on a 22,050 Hz waveform scaled to [-256, 256],

=======  =======  ======  ======  =====  ===========
layer    filters  kernel  stride  pad    after
=======  =======  ======  ======  =====  ===========
conv1    16       64      2       32     BN ReLU, max pool 8/8
conv2    32       32      2       16     BN ReLU, max pool 8/8
conv3    64       16      2       8      BN ReLU
conv4    128      8       2       4      BN ReLU
conv5    256      4       2       2      BN ReLU, max pool 4/4 (pool5)
conv6    512      4       2       2      BN ReLU
conv7    1024     4       2       2      BN ReLU
conv8    1000     8       2       0      (objects; conv8_2: 401 places)
=======  =======  ======  ======  =====  ===========

:func:`load_soundnet_weights` reads the published ``sound8.npy`` (a pickled
dict ``{layer: {weights, biases, gamma, beta, mean, var}}``).
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from tfav.errors import ConfigError
from tfav.models.blocks import bn_relu

#: SoundNet-8 conv layers: (name, filters, kernel, stride, padding, max-pool after).
SOUNDNET8 = (
    ("conv1", 16, 64, 2, 32, 8),
    ("conv2", 32, 32, 2, 16, 8),
    ("conv3", 64, 16, 2, 8, 0),
    ("conv4", 128, 8, 2, 4, 0),
    ("conv5", 256, 4, 2, 2, 4),
    ("conv6", 512, 4, 2, 2, 0),
    ("conv7", 1024, 4, 2, 2, 0),
)
SOUNDNET_RATE = 22050
FEATURES = ("spectrogram", "fbank", "mfcc", "soundnet")


@keras.saving.register_keras_serializable(package="tfav")
class Decimate2(layers.Layer):
    """44.1 kHz -> 22.05 kHz: a 63-tap windowed-sinc low-pass at 10 kHz, then every 2nd sample."""

    def build(self, input_shape):
        n = np.arange(63) - 31
        taps = 0.4535 * np.sinc(0.4535 * n) * np.blackman(63)  # cutoff 10 kHz / 22.05 kHz
        self.taps = ops.convert_to_tensor((taps / taps.sum()).reshape(63, 1, 1), "float32")

    def call(self, x):
        y = ops.conv(ops.expand_dims(ops.cast(x, "float32"), -1), self.taps, padding="same")
        return y[:, ::2, 0]


@keras.saving.register_keras_serializable(package="tfav")
class Standardize(layers.Layer):
    """``(x - mean) / std`` per dimension, with saved non-trainable statistics."""

    def build(self, input_shape):
        dim = input_shape[-1]
        self.mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False,
                                    name="mean")
        self.std = self.add_weight(shape=(dim,), initializer="ones", trainable=False, name="std")

    def call(self, x):
        return (ops.cast(x, "float32") - self.mean) / self.std


@keras.saving.register_keras_serializable(package="tfav")
class TimeAveragedFeature(layers.Layer):
    """A Kaldi-style feature sequence of ``tfav.audio`` averaged over time (Wan sec. 4.1).

    Args:
        kind: ``"spectrogram"`` (1025-d), ``"fbank"`` (``n_mels``-d) or ``"mfcc"``
            (``n_mfcc``-d).
        n_mels: Mel bands of fbank.
        n_mfcc: Coefficients of MFCC.
    """

    def __init__(self, kind="fbank", n_mels=80, n_mfcc=20, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("spectrogram", "fbank", "mfcc"):
            raise ConfigError(f"unknown spectral feature '{kind}'")
        self.kind, self.n_mels, self.n_mfcc = kind, int(n_mels), int(n_mfcc)

    def call(self, waveform):
        from tfav import audio

        waveform = ops.cast(waveform, "float32")
        if self.kind == "spectrogram":
            seq = audio.spectrogram(waveform)
        elif self.kind == "fbank":
            seq = audio.fbank(waveform, n_mels=self.n_mels)
        else:
            seq = audio.mfcc(waveform, n_mfcc=self.n_mfcc)
        return ops.mean(seq, axis=-1)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "n_mels": self.n_mels,
                "n_mfcc": self.n_mfcc}


def soundnet8(num_classes: int = 0, samples: int = 22050, input_rate: int = 44100,
              name: str = "soundnet8") -> keras.Model:
    """SoundNet-8 up to ``conv7`` (see the module docstring), from a waveform.

    The ``pool5`` layer (256 channels) is the feature of Wan et al. With
    ``num_classes`` a linear classifier on time-averaged pool5 is added (for
    training SoundNet on the dataset's labels when no weight file is given).

    Args:
        num_classes: Classes of the added head; 0 for none (the model then
            outputs time-averaged pool5, ``[B, 256]``).
        samples: Input waveform length at ``input_rate``.
        input_rate: 44100 (decimated to 22,050 Hz in the graph) or 22050.
        name: Model name.

    Returns:
        ``waveform [B, samples] -> [B, 256]`` or ``-> logits [B, num_classes]``.
    """
    if input_rate not in (SOUNDNET_RATE, 2 * SOUNDNET_RATE):
        raise ConfigError(f"SoundNet takes 22050 or 44100 Hz input, got {input_rate}")
    waveform = keras.Input((samples,), name="waveform")
    x = Decimate2(name="to_22050")(waveform) if input_rate != SOUNDNET_RATE else waveform
    x = layers.Reshape((-1, 1), name="add_channel")(layers.Rescaling(256.0, name="scale")(x))
    pool5 = None
    if samples * SOUNDNET_RATE // input_rate < 8192:
        raise ConfigError(f"SoundNet-8 pool5 needs >= 8192 samples at 22,050 Hz, got {samples}")
    for lname, filters, kernel, stride, pad, pool in SOUNDNET8:
        x = layers.ZeroPadding1D(pad, name=f"{lname}_pad")(x)
        x = layers.Conv1D(filters, kernel, strides=stride, name=lname)(x)
        x = bn_relu(x, lname, epsilon=1e-5)
        if pool:
            x = layers.MaxPooling1D(pool, pool, name=f"pool{lname[-1]}")(x)
        if lname == "conv5":
            pool5 = x
            break  # the feature the papers use; conv6.. are not needed for it
    features = layers.GlobalAveragePooling1D(name="pool5_mean")(pool5)
    if num_classes:
        logits = layers.Dense(num_classes, name="logits")(features)
        return keras.Model(waveform, logits, name=name)
    return keras.Model(waveform, features, name=name)


def soundnet_feature_model(model: keras.Model) -> keras.Model:
    """The frozen ``waveform -> pool5 mean [B, 256]`` part of a SoundNet-8 model."""
    feat = keras.Model(model.input, model.get_layer("pool5_mean").output, name="soundnet_pool5")
    feat.trainable = False
    return feat


def read_soundnet_npy(path, allow_pickle: bool = False) -> dict:
    """The dict of a published ``sound8.npy`` (pickled; needs ``allow_pickle=True``).

    Unpickling runs code from the file, so it is refused unless asked for.
    """
    path = Path(path)
    if not allow_pickle:
        raise ConfigError(f"{path}: SoundNet weights are a pickle; pass allow_pickle=True "
                          "(--soundnet-allow-pickle) only for a file you trust")
    try:
        params = np.load(path, allow_pickle=True, encoding="latin1")
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError(f"{path}: cannot read SoundNet weights ({e})") from e
    if isinstance(params, np.ndarray) and params.dtype == object and params.shape == ():
        params = params.item()
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: not a SoundNet weight dict (got {type(params).__name__})")
    return params


def load_soundnet_weights(model: keras.Model, path, allow_pickle: bool = False) -> list[str]:
    """Copy ``sound8.npy`` weights into a :func:`soundnet8` model; returns the layers set.

    Conv kernels may be stored ``[k, 1, in, out]`` (the TensorFlow port) or
    ``[k, in, out]``; each batch norm takes ``gamma, beta, mean, var``.
    """
    params = read_soundnet_npy(path, allow_pickle)
    done = []
    for lname, filters, kernel, *_ in SOUNDNET8:
        try:
            conv = model.get_layer(lname)
        except ValueError:
            continue
        if lname not in params:
            raise ConfigError(f"{path}: no '{lname}' in the SoundNet weights")
        p = params[lname]
        try:
            w = np.asarray(p["weights"], np.float32)
            in_ch = conv.kernel.shape[1]
            w = w.reshape(kernel, in_ch, filters)
            conv.set_weights([w, np.asarray(p["biases"], np.float32).reshape(filters)])
            bn = model.get_layer(f"{lname}_bn")
            bn.set_weights([np.asarray(p[k], np.float32).reshape(filters)
                            for k in ("gamma", "beta", "mean", "var")])
        except (KeyError, ValueError) as e:
            raise ConfigError(f"{path}: bad '{lname}' entry ({e})") from e
        done.append(lname)
    if not done:
        raise ConfigError(f"{path}: no SoundNet layer matched the model")
    return done


def sound_feature_encoder(kind: str, samples: int = 22050, soundnet: keras.Model | None = None,
                          name: str | None = None) -> keras.Model:
    """Frozen ``waveform [B, samples] -> s [B, D]`` for a Table 2 feature.

    The vector ends in a ``standardize`` layer (per-dimension mean and
    variance, identity until :func:`fit_standardization`): the raw features
    differ in scale by orders of magnitude (MFCC c0 is in the hundreds), which
    would let the projection term of the discriminator swamp its other terms.
    An affine map keeps volume information (sec. 5.3).

    Args:
        kind: ``"spectrogram"``, ``"fbank"``, ``"mfcc"`` or ``"soundnet"``.
        samples: Waveform length (0.5 s at 44.1 kHz).
        soundnet: For ``"soundnet"``, a trained or weight-loaded :func:`soundnet8`.
    """
    if kind not in FEATURES:
        raise ConfigError(f"unknown sound feature '{kind}' (known: {', '.join(FEATURES)})")
    if kind == "soundnet":
        if soundnet is None:
            raise ConfigError("the soundnet feature needs a trained or loaded SoundNet-8")
        waveform = soundnet.input
        s = soundnet.get_layer("pool5_mean").output
    else:
        waveform = keras.Input((samples,), name="waveform")
        s = TimeAveragedFeature(kind, name=kind)(waveform)
    s = Standardize(name="standardize")(s)
    model = keras.Model(waveform, s, name=name or f"{kind}_mean")
    model.trainable = False
    return model


def fit_standardization(encoder: keras.Model, waveforms) -> None:
    """Set the ``standardize`` layer of :func:`sound_feature_encoder` from training sounds."""
    layer = encoder.get_layer("standardize")
    raw = keras.Model(encoder.input, layer.input)
    feats = np.concatenate([np.asarray(raw(w, training=False)) for w in waveforms])
    layer.mean.assign(feats.mean(0))
    layer.std.assign(np.sqrt(np.maximum(feats.var(0), 1e-6)))


def feature_dim(encoder: keras.Model) -> int:
    return int(math.prod(encoder.output.shape[1:]))
