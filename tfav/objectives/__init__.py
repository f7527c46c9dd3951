"""GAN objectives: loss functions and ``keras.Model`` wrappers with ``train_step``."""

from tfav.objectives.gan_cls import ConditionalGAN
from tfav.objectives.losses import gan_cls_discriminator_loss, gan_cls_generator_loss

__all__ = ["ConditionalGAN", "gan_cls_discriminator_loss", "gan_cls_generator_loss"]
