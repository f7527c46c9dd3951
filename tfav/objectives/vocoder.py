"""The ``vocoder`` objective: the Vocos-style vocoder (``tfav.models.vocoder``) trained by
spectral losses on the dataset's audio (not in the papers).

The loss is the multi-resolution STFT loss of Yamamoto et al. 2020 (eqs. 5-7:
spectral convergence plus log-magnitude distance at three resolutions) plus the
mean absolute difference of the log-mel spectrograms (HiFi-GAN's mel loss, Kong
et al. 2020 eq. 3), in units of the normalised LMS (1 = 40 dB) times
``mel_weight``. The target is the clip at the canonical level (its LMS peak at
0 dB, ``tasks.vocoder_pair``), so the vocoder's output level is defined.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfav import audio
from tfav.models.vocoder import vocoder
from tfav.objectives import registry
from tfav.objectives.losses import multi_resolution_stft_loss
from tfav.objectives.registry import hyper_field

#: The floor of the log-mel loss, below the canonical 0 dB peak (the LMS's range).
_TOP_DB = 80.0


def log_mel_distance(target, generated):
    """Mean absolute difference of the two clips' log-mel spectrograms in dB, each floored
    at -80 dB (the LMS's floor below a 0 dB peak), over 40 dB (normalised LMS units)."""
    db = [tf.math.maximum(audio.log_mel_spectrogram(w, top_db=None), -_TOP_DB)
          for w in (target, generated)]
    return tf.reduce_mean(tf.math.abs(db[0] - db[1])) / (_TOP_DB / 2.0)


@keras.saving.register_keras_serializable(package="tfav")
class VocoderLoss(keras.losses.Loss):
    """Multi-resolution STFT loss + ``mel_weight`` x log-mel distance (module docstring)."""

    def __init__(self, mel_weight: float = 1.0, name="vocoder_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mel_weight = float(mel_weight)

    def call(self, y_true, y_pred):
        convergence, log_magnitude = multi_resolution_stft_loss(y_true, y_pred)
        return convergence + log_magnitude + self.mel_weight * log_mel_distance(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "mel_weight": self.mel_weight}


@keras.saving.register_keras_serializable(package="tfav")
def spectral_convergence(y_true, y_pred):
    return multi_resolution_stft_loss(y_true, y_pred)[0]


@keras.saving.register_keras_serializable(package="tfav")
def log_mel_db(y_true, y_pred):
    """The log-mel distance in dB (what the resynthesis targets compare)."""
    return log_mel_distance(y_true, y_pred) * (_TOP_DB / 2.0)


@dataclasses.dataclass
class VocoderHyper:
    """Hyperparameters of the vocoder."""

    learning_rate: float | None = hyper_field(
        None, "Adam learning rate (default: the task's)", task_default="learning_rate",
        low=0.0, low_open=True)
    channels: int = hyper_field(128, "vocoder: width of the ConvNeXt blocks (default 128)",
                                low=8)
    blocks: int = hyper_field(6, "vocoder: ConvNeXt blocks (default 6)", low=1)
    magnitude_prior: bool = hyper_field(
        True, "vocoder: predict magnitudes as a correction of the mel pseudo-inverse's "
        "(default on; off: from scratch)")
    mel_weight: float = hyper_field(1.0, "vocoder: weight of the log-mel loss next to the "
                                    "multi-resolution STFT loss (default 1)", low=0.0)


def build(ctx: registry.BuildContext) -> keras.Model:
    """The compiled vocoder of ``ctx.hyper``."""
    hyper = ctx.hyper
    model = vocoder(channels=hyper.channels, blocks=hyper.blocks,
                    magnitude_prior=hyper.magnitude_prior)
    model.compile(
        optimizer=keras.optimizers.Adam(ctx.learning_rate),
        loss=VocoderLoss(hyper.mel_weight),
        metrics=[keras.metrics.MeanMetricWrapper(spectral_convergence, name="convergence"),
                 keras.metrics.MeanMetricWrapper(log_mel_db, name="log_mel_db")],
    )
    return model


OBJECTIVE = registry.register(registry.Objective("vocoder", VocoderHyper, build))
