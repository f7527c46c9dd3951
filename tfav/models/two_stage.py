"""Two-stage generator and image-to-audio regressor of Yang et al. (sec. II-A, II-B, Fig. 1).

``G64(a, z) -> (I64, h)``: the audio feature ``a`` and noise ``z`` are mapped
to the visual latent ``h`` (eq. 1), from which a DCGAN decoder draws a 64x64
image. ``G128(a, h) -> I128`` (eq. 2) decodes the concatenation of ``a`` and
``h`` to 128x128. The image-to-audio regressor (I2A) maps a 128x128 image back
to the audio feature space, for the consistency loss (eq. 4) and R-precision.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from tfav.errors import ConfigError
from tfav.models.generators import UPSAMPLING, _up_block, _upsample


def _decoder(x, base_filters, image_size, prefix, upsampling="deconv"):
    n_up = math.log2(image_size / 4)
    if image_size < 8 or n_up != int(n_up):
        raise ConfigError(f"image_size must be a power of two >= 8, got {image_size}")
    n_up = int(n_up)
    if upsampling not in UPSAMPLING:
        raise ConfigError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")

    def width(i):
        return base_filters * min(8, 2 ** (n_up - 1 - i))

    x = layers.Dense(4 * 4 * width(0), use_bias=False, name=f"{prefix}_project")(x)
    x = layers.BatchNormalization(name=f"{prefix}_project_bn")(x)
    x = layers.ReLU(name=f"{prefix}_project_relu")(x)
    x = layers.Reshape((4, 4, width(0)), name=f"{prefix}_seed_map")(x)
    for i in range(1, n_up):
        x = _up_block(x, width(i), f"{prefix}_up{i}", upsampling)
    return _upsample(x, 3, f"{prefix}_image", upsampling, use_bias=True, activation="tanh")


def stage1_generator(condition_dim: int, z_dim: int = 100, latent_dim: int = 128,
                     base_filters: int = 64, image_size: int = 64, upsampling: str = "deconv",
                     name: str = "g64") -> keras.Model:
    """``G64``: ``[a, z] -> [image [B, 64, 64, 3], h [B, latent_dim]]`` (Yang et al. eq. 1).

    Args:
        condition_dim: Width ``d`` of the audio feature.
        z_dim: Noise width.
        latent_dim: Width ``e`` of the visual latent ``h``.
        base_filters: Channels of the last hidden block.
        image_size: Output side (64).
        upsampling: ``"deconv"`` (DCGAN's transposed convolutions, the paper) or
            ``"resize"`` (see ``tfav.models.generators.UPSAMPLING``).
        name: Model name.
    """
    a = keras.Input((condition_dim,), name="condition")
    z = keras.Input((z_dim,), name="z")
    h = layers.Concatenate(name="a_z")([a, z])
    h = layers.Dense(latent_dim, name="latent_dense")(h)
    h = layers.LeakyReLU(0.2, name="latent")(h)
    image = _decoder(h, base_filters, image_size, "g64", upsampling)
    return keras.Model([a, z], [image, h], name=name)


def stage2_generator(condition_dim: int, latent_dim: int = 128, base_filters: int = 32,
                     image_size: int = 128, upsampling: str = "deconv",
                     name: str = "g128") -> keras.Model:
    """``G128``: ``[a, h] -> image [B, 128, 128, 3]`` (Yang et al. eq. 2)."""
    a = keras.Input((condition_dim,), name="condition")
    h = keras.Input((latent_dim,), name="latent")
    x = layers.Concatenate(name="a_h")([a, h])
    return keras.Model([a, h], _decoder(x, base_filters, image_size, "g128", upsampling), name=name)


def image_to_audio_regressor(condition_dim: int, image_size: int = 128, base_filters: int = 16,
                             name: str = "i2a") -> keras.Model:
    """I2A: ``image [B, S, S, 3] -> a~ [B, d]`` (Yang et al. sec. II-B, Fig. 1).

    Strided 4x4 convolutions (leaky ReLU, batch norm) to a 4x4 map, global
    average pooling and a linear layer into the audio feature space.
    """
    n_down = math.log2(image_size / 4)
    if image_size < 8 or n_down != int(n_down):
        raise ConfigError(f"image_size must be a power of two >= 8, got {image_size}")
    image = keras.Input((image_size, image_size, 3), name="image")
    x = image
    for i in range(int(n_down)):
        x = layers.Conv2D(base_filters * min(8, 2**i), 4, strides=2, padding="same",
                          name=f"down{i + 1}_conv")(x)
        if i:
            x = layers.BatchNormalization(name=f"down{i + 1}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(image, layers.Dense(condition_dim, name="audio_feature")(x), name=name)
