"""GAN-CLS discriminators of Chen et al. 2017 (sec. 3.1).

GAN-CLS (Reed et al. 2016): strided 4x4 convolutions bring the sample down to
a 4x4 map; the condition encoding, compressed to 64 by its own FC layer and a
leaky ReLU, is replicated over the 4x4 grid and concatenated; a 1x1 and a 4x4
convolution then give one score. The models output the *logit* of that score;
the losses apply the sigmoid (numerically stable, see ``tfav.objectives``).

With ``spectral_norm=True`` every conv/dense layer is wrapped in
``keras.layers.SpectralNormalization`` (Miyato et al. 2018) and batch
normalisation is dropped, as is usual for spectrally normalised critics.
"""

from __future__ import annotations

import keras
from keras import layers

from tfav.models.blocks import (
    MinibatchStd,
    concat_head,
    doublings,
    down_block,
    down_stack,
    spectral,
)


def _gan_cls_head(x, encoding, compressed_dim, filters, spectral_norm, num_classes=0):
    """Replicate the compressed encoding over the 4x4 map, concat, score.

    With ``num_classes``, also class logits of the sample alone, read from the
    4x4 map before the encoding joins it (the auxiliary classifier of Odena et
    al. 2017, as Wan et al. and Yang et al. add it; not in Chen et al.).
    """
    classes = None
    if num_classes:
        flat = layers.Flatten(name="class_features")(x)
        classes = spectral(layers.Dense(num_classes, name="class_logits"), spectral_norm)(flat)
    logit = concat_head(x, encoding, compressed_dim, filters, spectral_norm)
    return logit if classes is None else [logit, classes]


def sound_to_image_discriminator(
    encoding_dim: int = 128,
    compressed_dim: int = 64,
    base_filters: int = 64,
    image_size: int = 64,
    spectral_norm: bool = False,
    num_classes: int = 0,
    minibatch_std: int = 0,
    name: str = "sound_to_image_discriminator",
) -> keras.Model:
    """S2I discriminator ``D_{S->I}(image, phi(A))`` (Chen et al. sec. 3.1).

    4x4 stride-2 convolutions (leaky ReLU 0.2, batch norm after the first)
    double the channels from ``base_filters`` to ``8 * base_filters`` while
    halving the side to 4; then the GAN-CLS head (``_gan_cls_head``).

    Args:
        encoding_dim: Width of the sound encoding.
        compressed_dim: Width of the discriminator's own compression ``phi``.
        base_filters: Channels of the first conv layer.
        image_size: 64 or 128 (any power of two >= 8).
        spectral_norm: Wrap every conv/dense in spectral normalisation.
        num_classes: With > 0, a second output of class logits ``[B, num_classes]``
            (auxiliary classifier; see ``_gan_cls_head``).
        minibatch_std: With > 0, the group size of a minibatch standard deviation
            channel appended to the 4x4 map (``blocks.MinibatchStd``; not in Chen et al.).
        name: Model name.

    Returns:
        A functional model ``[image [B, S, S, 3], encoding [B, 128]] -> logit [B, 1]``
        (``[logit, class_logits]`` with ``num_classes``).
    """
    doublings(image_size)  # the size's ConfigError before keras.Input sees it
    image = keras.Input((image_size, image_size, 3), name="image")
    encoding = keras.Input((encoding_dim,), name="encoding")
    x = down_stack(image, base_filters, spectral_norm)
    if minibatch_std:
        x = MinibatchStd(minibatch_std, name="minibatch_std")(x)
    logit = _gan_cls_head(x, encoding, compressed_dim, 8 * base_filters, spectral_norm,
                          num_classes)
    return keras.Model([image, encoding], logit, name=name)


def image_to_sound_discriminator(
    encoding_dim: int = 128,
    compressed_dim: int = 64,
    base_filters: int = 64,
    n_mels: int = 128,
    frames: int = 34,
    extra_conv_layers: int = 12,
    extra_filters: int | None = None,
    spectral_norm: bool = False,
    num_classes: int = 0,
    name: str = "image_to_sound_discriminator",
) -> keras.Model:
    """I2S discriminator ``D_{I->S}(spectrogram, phi(I))`` (Chen et al. sec. 3.1).

    "Two successive convolution layers, where each has a kernel of size 4x4
    with stride 2x1 and 1x1 zero-padding" take the 128x34 spectrogram to
    64x33 and then to a 32x32 map; "we add ... 12 layers to the discriminator
    network": ``extra_conv_layers`` stride-1 3x3 convolutions of
    ``extra_filters`` channels (default ``base_filters // 2``, narrow enough
    for a CPU) at 32x32; then the GAN-CLS body of a 32x32 input (three stride-2
    convs to 4x4 with 2, 4 and 8 times ``base_filters`` channels) and head.

    Args:
        encoding_dim: Width of the image encoding.
        compressed_dim: Width of the discriminator's own compression.
        base_filters: Channel unit (64 in DCGAN).
        n_mels: Mel bands of the input (128).
        frames: Time frames of the input (34, the generator's output width).
        extra_conv_layers: Stride-1 conv layers at 32x32 (12 in the paper).
        extra_filters: Their channels; default ``max(base_filters // 2, 1)``.
        spectral_norm: Wrap every conv/dense in spectral normalisation.
        num_classes: With > 0, a second output of class logits ``[B, num_classes]``
            (auxiliary classifier; see ``_gan_cls_head``).
        name: Model name.

    Returns:
        A functional model ``[spectrogram [B, 128, 34], encoding [B, 128]] -> logit [B, 1]``
        (``[logit, class_logits]`` with ``num_classes``).
    """
    b = base_filters
    spectrogram = keras.Input((n_mels, frames), name="spectrogram")
    encoding = keras.Input((encoding_dim,), name="encoding")
    x = layers.Reshape((n_mels, frames, 1), name="add_channel")(spectrogram)
    for i, f in enumerate((max(b // 2, 1), b)):
        x = layers.ZeroPadding2D(1, name=f"down2x1_{i + 1}_pad")(x)
        x = down_block(
            x, f, f"down2x1_{i + 1}", spectral_norm, strides=(2, 1), padding="valid", bn=i > 0
        )
    for i in range(extra_conv_layers):
        x = down_block(
            x, extra_filters or max(b // 2, 1), f"extra{i + 1}", spectral_norm, strides=1,
            kernel=3,
        )
    for i, f in enumerate((2 * b, 4 * b, 8 * b)):
        x = down_block(x, f, f"down{i + 1}", spectral_norm)
    logit = _gan_cls_head(x, encoding, compressed_dim, 8 * b, spectral_norm, num_classes)
    return keras.Model([spectrogram, encoding], logit, name=name)
