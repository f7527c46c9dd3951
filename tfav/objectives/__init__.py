"""Training objectives, one module each, registered by name (``registry``).

Importing this package registers the built-in objectives (and their Keras classes,
so saved models load): ``supervised`` (encoders, verifier, regressors),
``gan_cls`` (Chen et al. 2017), ``scene_gan`` (Wan et al. 2019) and
``diverse_gan`` (Yang et al.), ``paired_gan``, ``take_gan`` and ``vocoder`` (the neural vocoder of
the I2S sound). ``losses`` holds the pure loss functions.
"""

from tfav.objectives import (
    diverse_gan,
    gan_cls,
    paired_gan,
    registry,
    scene_gan,
    supervised,
    take_gan,
    vocoder,
)
from tfav.objectives.gan_cls import ConditionalGAN
from tfav.objectives.losses import gan_cls_discriminator_loss, gan_cls_generator_loss
from tfav.objectives.registry import BuildContext, Objective, get, register


def for_task(task) -> Objective:
    """The objective that trains ``task`` (a ``tfav.tasks.Task``)."""
    return get(task.objective)


def build_model(task, num_classes: int, hyper, encoder=None, image_size: int = 64, seed: int = 0):
    """The compiled Keras model that ``python -m tfav.train`` fits for ``task``."""
    return for_task(task).build(BuildContext(task, num_classes, hyper, encoder, image_size, seed))


def make_hyper(task, values: dict | None = None, *, source: str = "option"):
    """``task``'s hyperparameter dataclass with ``values`` (the task's own settings,
    ``Task.default_hyper``, then the objective's defaults for the rest)."""
    return for_task(task).make_hyper(registry.task_defaults(task, values), source=source)


__all__ = ["BuildContext", "ConditionalGAN", "Objective", "build_model", "diverse_gan",
           "for_task", "gan_cls", "gan_cls_discriminator_loss", "gan_cls_generator_loss", "get",
           "make_hyper", "paired_gan", "register", "scene_gan", "supervised", "take_gan",
           "vocoder"]
