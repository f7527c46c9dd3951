"""GAN-CLS generators of Chen et al. 2017 (sec. 3.1).

Both generators follow GAN-CLS (Reed et al. 2016): the 128-d condition
encoding is compressed to 64 by an FC layer and a leaky ReLU (``phi`` for
sound, ``varphi`` for images in the paper; one layer named ``phi`` here),
concatenated with the noise ``z`` and decoded DCGAN-style from a 4x4 map.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from tfav.errors import ConfigError
from tfav.models.blocks import (
    UPSAMPLING,  # noqa: F401  (re-exported: documented as ``generators.UPSAMPLING``)
    TakeBackground,
    TakeCode,
    bn_relu,
    check_upsampling,
    decoder,
    doublings,
    project_to_map,
    up_block,
)


def _compress(encoding, compressed_dim, name="phi"):
    x = layers.Dense(compressed_dim, name=name)(encoding)
    return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


def _condition(encoding_dim, z_dim, compressed_dim, takes=0):
    """Inputs, the noise (with ``takes``, z's first ``takes`` entries become a one-hot
    take, ``TakeCode``), and phi concatenated with it: the head shared by both
    generators."""
    encoding = keras.Input((encoding_dim,), name="encoding")
    z = keras.Input((z_dim,), name="z")
    noise = TakeCode(takes, name="take_code")(z) if takes else z
    return encoding, z, noise, layers.Concatenate(name="phi_z")(
        [_compress(encoding, compressed_dim), noise])


def sound_to_image_generator(
    encoding_dim: int = 128,
    z_dim: int = 100,
    compressed_dim: int = 64,
    base_filters: int = 64,
    image_size: int = 64,
    upsampling: str = "deconv",
    takes: int = 0,
    take_backgrounds: bool = False,
    mask_offset: float = -2.0,
    name: str = "sound_to_image_generator",
) -> keras.Model:
    """S2I generator ``G_{S->I}(z, phi(A))`` (Chen et al. sec. 3.1).

    ``phi``: 128 -> 64 FC + leaky ReLU; concat with ``z``; FC to a 4x4 map of
    ``8 * base_filters`` channels; stride-2 4x4 transposed convolutions with
    batch norm and ReLU halve the channels while doubling the side, and the
    last one produces RGB with tanh. ``image_size=128`` adds one block.
    ``upsampling="resize"`` replaces each transposed convolution by
    nearest-neighbour upsampling and a 3x3 convolution (``UPSAMPLING``).

    Args:
        encoding_dim: Width of the sound encoding.
        z_dim: Width of the noise vector.
        compressed_dim: Width of ``phi(A)``.
        base_filters: Channels of the last hidden block (64 in DCGAN).
        image_size: 64 or 128 (any power of two >= 8).
        upsampling: ``"deconv"`` (the paper) or ``"resize"``.
        takes: With > 0, the first ``takes`` entries of ``z`` choose a training take
            (``blocks.TakeCode``; ``tfav.objectives.take_gan``); ``z_dim`` counts them.
        take_backgrounds: With ``takes``, the decoder draws a foreground and a mask over
            the chosen take's learned background image (``blocks.TakeBackground``).
        mask_offset: ``TakeBackground``'s offset of the mask logit (-2: the
            background shows through at the start).
        name: Model name.

    Returns:
        A functional model ``{encoding [B, 128], z [B, z_dim]} -> image [B, S, S, 3]``
        in [-1, 1].

    Example:
        >>> g = sound_to_image_generator()
        >>> g([encodings, keras.random.normal((len(encodings), 100))]).shape
        TensorShape([..., 64, 64, 3])
    """
    doublings(image_size)  # both checks before any layer is built
    check_upsampling(upsampling)
    if takes >= z_dim:
        raise ConfigError(f"z_dim {z_dim} must exceed the {takes} take entries")
    if take_backgrounds and not takes:
        raise ConfigError("take backgrounds need take codes (takes > 0)")
    encoding, z, noise, h = _condition(encoding_dim, z_dim, compressed_dim, takes)
    if take_backgrounds:
        raw = decoder(h, base_filters, image_size, upsampling, channels=4, activation=None)
        image = TakeBackground(takes, mask_offset, name="take_background")([raw, noise])
    else:
        image = decoder(h, base_filters, image_size, upsampling)
    return keras.Model([encoding, z], image, name=name)


def _deconv_2x1(x, filters, name, upsampling="deconv"):
    """4x4 transposed conv, stride (2, 1), zero padding 1x1 (PyTorch semantics).

    Output ``(H - 1) * 2 - 2 + 4 = 2H`` rows and ``W + 1`` columns, as in the
    paper: 32x32 -> 64x33 -> 128x34. ``upsampling="resize"`` gives the same
    shape by nearest-neighbour resizing and a 3x3 convolution.
    """
    if upsampling in ("resize", "bilinear"):
        x = layers.Resizing(
            2 * x.shape[1], x.shape[2] + 1, name=f"{name}_resize",
            interpolation="nearest" if upsampling == "resize" else "bilinear",
        )(x)
        return layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.Conv2DTranspose(
        filters, 4, strides=(2, 1), padding="valid", use_bias=False, name=f"{name}_deconv"
    )(x)
    return layers.Cropping2D(((1, 1), (1, 1)), name=f"{name}_crop")(x)


def image_to_sound_generator(
    encoding_dim: int = 128,
    z_dim: int = 100,
    compressed_dim: int = 64,
    base_filters: int = 64,
    extra_conv_layers: int = 2,
    upsampling: str = "deconv",
    name: str = "image_to_sound_generator",
) -> keras.Model:
    """I2S generator ``G_{I->S}(z, phi(I))`` (Chen et al. sec. 3.1).

    As the S2I generator up to a 32x32 map of ``2 * base_filters`` channels
    (4x4x8b -> 8x8x4b -> 16x16x2b -> 32x32x2b; 32x32x128 for b = 64), then
    "two successive deconvolution layers, where each has a kernel of size 4x4
    with stride 2x1 and 1x1 zero-padding" give 64x33 and 128x34. "We add two
    layers to the generator": ``extra_conv_layers`` stride-1 3x3 convolutions,
    the last of which outputs the single tanh channel. ``upsampling="resize"``
    replaces every transposed convolution by nearest-neighbour resizing to the
    same shape and a 3x3 convolution (``UPSAMPLING``).

    Args:
        encoding_dim: Width of the image encoding.
        z_dim: Width of the noise vector.
        compressed_dim: Width of the compressed encoding.
        base_filters: Channel unit ``b`` (64 in the paper's 32x32x128 map).
        extra_conv_layers: Stride-1 conv layers after the deconvolutions (>= 1).
        upsampling: ``"deconv"`` (the paper) or ``"resize"``.
        name: Model name.

    Returns:
        A functional model ``{encoding [B, 128], z [B, z_dim]} -> spectrogram
        [B, 128, 34]`` in [-1, 1] (normalised LMS).
    """
    if extra_conv_layers < 1:
        raise ConfigError(f"extra_conv_layers must be >= 1, got {extra_conv_layers}")
    check_upsampling(upsampling)
    b = base_filters
    encoding, z, _, h = _condition(encoding_dim, z_dim, compressed_dim)
    x = project_to_map(h, 8 * b)
    x = up_block(x, 4 * b, name="up1", upsampling=upsampling)
    x = up_block(x, 2 * b, name="up2", upsampling=upsampling)
    x = up_block(x, 2 * b, name="up3", upsampling=upsampling)
    for i, f in enumerate((b, max(b // 2, 1))):
        x = _deconv_2x1(x, f, name=f"up2x1_{i + 1}", upsampling=upsampling)
        x = bn_relu(x, f"up2x1_{i + 1}")
    for i in range(extra_conv_layers - 1):
        x = layers.Conv2D(
            max(b // 2, 1), 3, padding="same", use_bias=False, name=f"extra{i + 1}_conv"
        )(x)
        x = bn_relu(x, f"extra{i + 1}")
    x = layers.Conv2D(1, 3, padding="same", activation="tanh", name="output_conv")(x)
    spectrogram = layers.Reshape((x.shape[1], x.shape[2]), name="spectrogram")(x)
    return keras.Model([encoding, z], spectrogram, name=name)


def resize_spectrogram(x, frames: int):
    """Resize spectrograms along time only, bilinearly (Chen et al. sec. 3.1).

    The paper resizes generated 128x34 spectrograms to 128x44 for evaluation
    and real 128x44 ones to 128x34 for the I2S discriminator. Runs in
    TensorFlow (usable in ``tf.data`` and in graphs).

    Args:
        x: ``[B, n_mels, T]`` or ``[n_mels, T]`` spectrograms.
        frames: Target number of time frames.

    Returns:
        float32 ``[..., n_mels, frames]``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    squeeze = x.shape.rank == 2
    if squeeze:
        x = x[None]
    n_mels = tf.shape(x)[1]
    y = tf.image.resize(x[..., None], tf.stack([n_mels, frames]), method="bilinear")[..., 0]
    return y[0] if squeeze else y
