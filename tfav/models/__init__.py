"""Keras functional builders named after the papers' networks."""

from tfav.models.discriminators import image_to_sound_discriminator, sound_to_image_discriminator
from tfav.models.encoders import (
    SoundAutoencoder,
    encoder_from_classifier,
    image_classifier,
    sound_autoencoder,
    sound_classifier,
)
from tfav.models.generators import (
    image_to_sound_generator,
    resize_spectrogram,
    sound_to_image_generator,
)

__all__ = [
    "SoundAutoencoder",
    "encoder_from_classifier",
    "image_classifier",
    "image_to_sound_discriminator",
    "image_to_sound_generator",
    "resize_spectrogram",
    "sound_autoencoder",
    "sound_classifier",
    "sound_to_image_discriminator",
    "sound_to_image_generator",
]
