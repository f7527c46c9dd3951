"""The supervised objectives: the encoders, the verifier and the evaluation regressors.

Chen et al. 2017 sec. 3.1: the LMS instrument classifier (Fig. 4) and the image
classifier (Fig. 5) are trained by cross-entropy, and their 128-d layers encode
the conditions of the GANs; the stacked autoencoder of sec. 5.1 by
reconstruction. The pose regressors (not in the paper) measure pose-oriented
S2I on data with pose ground truth, by mean squared error.
"""

from __future__ import annotations

import dataclasses

import keras

from tfav.models import encoders
from tfav.models.soundnet import soundnet8
from tfav.objectives import registry
from tfav.objectives.registry import hyper_field


@dataclasses.dataclass
class SupervisedHyper:
    """Hyperparameters of the classifiers, regressors and the autoencoder."""

    learning_rate: float | None = hyper_field(
        None, "Adam learning rate (of G for GANs; default: the task's)",
        task_default="learning_rate", low=0.0, low_open=True)
    base_filters: int | None = hyper_field(None, "channel unit (default: the task's)",
                                           task_default="base_filters", low=1)


def build(ctx: registry.BuildContext) -> keras.Model:
    """The compiled classifier, regressor or autoencoder of ``ctx.task``."""
    task, lr, bf = ctx.task, ctx.learning_rate, ctx.base_filters
    if task.kind == "classifier":
        if task.modality == "waveform":
            model = soundnet8(num_classes=ctx.num_classes)
        elif task.modality == "sound":
            model = encoders.sound_classifier(ctx.num_classes, base_filters=bf)
        elif task.network == "judge":
            model = encoders.judge_classifier(ctx.num_classes, image_size=ctx.image_size,
                                              width=bf * 2)
        else:
            model = encoders.image_classifier(ctx.num_classes, image_size=ctx.image_size,
                                              base_filters=bf)
        model.compile(
            optimizer=keras.optimizers.Adam(lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model
    if task.kind == "regressor":
        # The Fig. 4/5 networks with a linear 3-output head regress the pose vector.
        if task.modality == "sound":
            model = encoders.sound_classifier(3, base_filters=bf, name=task.name)
        else:
            model = encoders.image_classifier(3, image_size=ctx.image_size, base_filters=bf,
                                              name=task.name)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse", metrics=["mae"])
        return model
    model = encoders.sound_autoencoder()
    model.compile(optimizer=keras.optimizers.Adam(lr))
    return model


def encoder_of(task_name: str, model):
    """The frozen 128-d condition encoder from a trained encoder task's model."""
    if task_name == "sound_autoencoder":
        encoder = model.encoder
    else:
        encoder = encoders.encoder_from_classifier(model)
    encoder.trainable = False
    return encoder


OBJECTIVE = registry.register(registry.Objective("supervised", SupervisedHyper, build))
