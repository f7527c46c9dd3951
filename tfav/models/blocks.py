"""Building blocks shared by the networks of ``tfav.models``.

The generators and discriminators of the three papers are DCGAN-shaped: a
square image side that doubles (or halves) from a 4x4 map, a channel width per
resolution, stride-2 up- or downsampling convolutions followed by batch norm
and a (leaky) ReLU, and, in the critics, optional spectral normalisation. The
pieces here build those layers with the layer names the models (and their
saved ``.keras`` files) use; callers pass a ``name`` or ``prefix`` per block.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from tfav.errors import ConfigError

#: How a generator doubles its map: ``deconv``, the paper's 4x4 stride-2 transposed
#: convolution, or ``resize``, nearest-neighbour upsampling then a 3x3 convolution
#: (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"), which avoids
#: the uneven kernel overlap that leaves pixel-level speckle in early training, or
#: ``bilinear``, the same with bilinear upsampling (no 2x2 blocks for the conv to undo).
UPSAMPLING = ("deconv", "resize", "bilinear")


def doublings(image_size: int, start: int = 4) -> int:
    """How many times a ``start`` x ``start`` map doubles to ``image_size``.

    Raises:
        ConfigError: Unless ``image_size`` is ``start`` times a power of two,
            at least ``2 * start`` (a power of two >= 8 for the default 4x4 start).
    """
    n = math.log2(image_size / start) if image_size >= 2 * start else 0.5
    if n != int(n):
        raise ConfigError(f"image_size must be a power of two >= {2 * start}, got {image_size}")
    return int(n)


def check_upsampling(upsampling: str) -> None:
    """Raise ``ConfigError`` unless ``upsampling`` is one of ``UPSAMPLING``."""
    if upsampling not in UPSAMPLING:
        raise ConfigError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")


def width(base_filters: int, side: int, image_size: int, most: int | None = 8) -> int:
    """Channels of a ``side`` x ``side`` map in a network on ``image_size`` images.

    DCGAN's schedule: ``base_filters`` at ``image_size / 2`` (and at
    ``image_size``), doubled at each halving of the side, at most ``most``
    times ``base_filters`` (no limit with ``None``). A 64x64 generator has
    8b, 4b, 2b and b channels at 4, 8, 16 and 32.
    """
    ratio = max(1, image_size // (2 * side))
    return base_filters * (ratio if most is None else min(most, ratio))


def critic_width(base_filters: int, side: int) -> int:
    """Channels of a discriminator's ``side`` x ``side`` map, at any image size.

    The 64x64 schedule of ``width`` kept for every input size: 8b at 4x4,
    4b at 8x8, 2b at 16x16 and ``base_filters`` from 32x32 up.
    """
    return width(base_filters, side, 64)


def spectral(layer, spectral_norm: bool):
    """``layer`` wrapped in ``SpectralNormalization`` (``<name>_sn``) if asked, else itself."""
    if not spectral_norm:
        return layer
    return layers.SpectralNormalization(layer, power_iterations=1, name=f"{layer.name}_sn")


def bn_relu(x, name: str, **batch_norm):
    """Batch norm ``<name>_bn`` (with ``batch_norm`` arguments) then ReLU ``<name>_relu``."""
    x = layers.BatchNormalization(name=f"{name}_bn", **batch_norm)(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def upsample(x, filters: int, name: str, upsampling: str, use_bias: bool = False,
             activation=None):
    """Double the side: ``<name>_deconv`` (4x4 stride 2) or ``<name>_resize`` + ``<name>_conv``."""
    if upsampling in ("resize", "bilinear"):
        # Resizing to a static size (not UpSampling2D, whose dynamic output shape
        # keeps TFLite from converting the next convolution to a builtin op).
        x = layers.Resizing(
            2 * x.shape[1], 2 * x.shape[2], name=f"{name}_resize",
            interpolation="nearest" if upsampling == "resize" else "bilinear",
        )(x)
        return layers.Conv2D(
            filters, 3, padding="same", use_bias=use_bias, activation=activation,
            name=f"{name}_conv",
        )(x)
    return layers.Conv2DTranspose(
        filters, 4, strides=2, padding="same", use_bias=use_bias, activation=activation,
        name=f"{name}_deconv",
    )(x)


def up_block(x, filters: int, name: str, upsampling: str = "deconv"):
    """``upsample`` without bias, then batch norm and ReLU."""
    return bn_relu(upsample(x, filters, name, upsampling), name)


def project_to_map(x, filters: int, prefix: str = ""):
    """FC ``<prefix>project`` (batch norm, ReLU) to a 4x4 map ``<prefix>seed_map``."""
    x = layers.Dense(4 * 4 * filters, use_bias=False, name=f"{prefix}project")(x)
    x = bn_relu(x, f"{prefix}project")
    return layers.Reshape((4, 4, filters), name=f"{prefix}seed_map")(x)


def decoder(x, base_filters: int, image_size: int, upsampling: str = "deconv",
            prefix: str = "", channels: int = 3, activation="tanh"):
    """DCGAN decoder of a vector to a tanh RGB image ``[B, S, S, 3]``.

    ``project_to_map``, then ``up_block``s ``<prefix>up1..`` to ``image_size / 2``
    with the channels of ``width`` and a last ``upsample`` ``<prefix>image`` to RGB
    (or to ``channels`` maps with ``activation``, e.g. ``TakeBackground``'s 3 + 1).

    Raises:
        ConfigError: For a bad ``image_size`` or ``upsampling``.
    """
    n_up = doublings(image_size)
    check_upsampling(upsampling)
    x = project_to_map(x, width(base_filters, 4, image_size), prefix)
    for i in range(1, n_up):
        x = up_block(x, width(base_filters, 4 << i, image_size), f"{prefix}up{i}", upsampling)
    return upsample(x, channels, f"{prefix}image", upsampling, use_bias=True,
                    activation=activation)


def down_block(x, filters: int, name: str, spectral_norm: bool = False, strides=2, kernel=4,
               padding: str = "same", bn: bool = True, use_bias: bool | None = None):
    """Conv ``<name>_conv`` (spectral-normalised if asked), batch norm, leaky ReLU 0.2.

    Batch norm ``<name>_bn`` is left out with ``bn=False`` or spectral norm;
    the conv has a bias when there is no batch norm, or as ``use_bias`` says.
    """
    if use_bias is None:
        use_bias = not bn or spectral_norm
    conv = layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
        name=f"{name}_conv",
    )
    x = spectral(conv, spectral_norm)(x)
    if bn and not spectral_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


def down_stack(image, base_filters: int, spectral_norm: bool = False, batch_norm: bool = True,
               widths=critic_width, use_bias: bool | None = None):
    """``down_block``s ``down1..`` halving a square image to a 4x4 map.

    Batch norm (with ``batch_norm``) after every conv but the first. ``widths``
    maps ``(base_filters, side)`` of a conv's output to its channels
    (default ``critic_width``).

    Raises:
        ConfigError: Unless the image side is a power of two >= 8.
    """
    side = image.shape[1]
    x = image
    for i in range(doublings(side)):
        side //= 2
        x = down_block(x, widths(base_filters, side), f"down{i + 1}", spectral_norm,
                       bn=batch_norm and i > 0, use_bias=use_bias)
    return x


def concat_head(x, condition, compressed_dim: int, filters: int, spectral_norm: bool,
                batch_norm: bool = True, name: str = "logit"):
    """GAN-CLS head (Reed et al. 2016) on a 4x4 map: ``[B, 1]`` score logits ``name``.

    The condition is compressed by FC ``phi`` and a leaky ReLU, replicated over
    the map and concatenated (``joint``); a 1x1 ``down_block`` and a 4x4 valid
    convolution ``score_conv`` give one score per sample.
    """
    c = spectral(layers.Dense(compressed_dim, name="phi"), spectral_norm)(condition)
    c = layers.LeakyReLU(0.2, name="phi_lrelu")(c)
    c = layers.Reshape((1, 1, compressed_dim), name="phi_1x1")(c)
    c = layers.UpSampling2D(size=(x.shape[1], x.shape[2]), name="phi_replicated")(c)
    x = layers.Concatenate(name="joint")([x, c])
    x = down_block(x, filters, "joint", spectral_norm, strides=1, kernel=1, bn=batch_norm)
    score = spectral(layers.Conv2D(1, 4, padding="valid", name="score_conv"), spectral_norm)(x)
    return layers.Flatten(name=name)(score)


@keras.saving.register_keras_serializable(package="tfav")
class TakeCode(layers.Layer):
    """The first ``takes`` entries of a Gaussian noise ``z`` name one training take
    (recording) by their argmax, replaced by its one-hot; the rest of ``z`` passes.

    The argmax of i.i.d. Gaussians is uniform, so ``z ~ N(0, I)`` draws every take
    equally often, and a one-hot ``z[:, :takes]`` (training with a pair's own take)
    names that take exactly: the generator's inputs and its noise stay as before.
    """

    def __init__(self, takes: int, **kwargs):
        super().__init__(**kwargs)
        self.takes = int(takes)

    def call(self, z):
        # tf.argmax: keras.ops.argmax adds a BitwiseAnd (for -0.0), which TFLite lacks.
        index = tf.argmax(z[:, : self.takes], axis=-1)
        code = ops.one_hot(index, self.takes, dtype=z.dtype)
        return ops.concatenate([code, z[:, self.takes :]], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "takes": self.takes}


@keras.saving.register_keras_serializable(package="tfav")
class TakeBackground(layers.Layer):
    """A take's own background behind a generated foreground: the two-stream
    generator of Vondrick et al. 2016 ("Generating Videos with Scene Dynamics", sec.
    3.1), ``G = m * f + (1 - m) * b``, with the background ``b`` a learned image per
    training take (a take is one room before one fixed camera).

    Inputs ``[raw [B, S, S, 4], code [B, >= takes]]``: ``f = tanh(raw[..., :3])``,
    ``m = sigmoid(raw[..., 3] + mask_offset)`` (the offset, -2, lets the background
    show through at the start, ``m`` about 0.12), ``b = code[:, :takes] @ backgrounds``
    (the one-hot of ``TakeCode`` picks the take's image) with ``backgrounds =
    tanh(weights)``, so every output stays in [-1, 1]. The weights [takes, S, S, 3]
    start at zero; ``tfav.objectives.take_gan.prepare`` sets each take's background
    to its per-pixel median training frame (:meth:`set_backgrounds`) before training,
    and training refines them. In training the layer adds the mean of ``m`` to its
    ``losses`` (the generator's ``losses``), which an objective may weigh to keep the
    room to the background stream.
    """

    def __init__(self, takes: int, mask_offset: float = -2.0, **kwargs):
        super().__init__(**kwargs)
        self.takes, self.mask_offset = int(takes), float(mask_offset)

    def build(self, input_shape):
        raw_shape, _ = input_shape
        self.background_logits = self.add_weight(
            name="backgrounds", shape=(self.takes, raw_shape[1], raw_shape[2], 3),
            initializer="zeros")

    @property
    def backgrounds(self):
        """The background images ``[takes, S, S, 3]`` in (-1, 1)."""
        return ops.tanh(self.background_logits)

    def set_backgrounds(self, images):
        """Start the backgrounds at ``images`` [takes, S, S, 3] in [-1, 1] (clipped to
        +-0.995 first, where tanh is invertible)."""
        images = np.clip(np.asarray(images, np.float32), -0.995, 0.995)
        self.background_logits.assign(np.arctanh(images))

    def call(self, inputs, training=None):
        raw, code = inputs
        foreground = ops.tanh(raw[..., :3])
        mask = ops.sigmoid(raw[..., 3:4] + ops.cast(self.mask_offset, raw.dtype))
        if training:  # the mask's mean, for the L1 penalty of Vondrick et al. (eq. 2)
            self.add_loss(ops.mean(ops.cast(mask, "float32")))
        background = ops.einsum("bk,khwc->bhwc", ops.cast(code[:, : self.takes], raw.dtype),
                                ops.cast(self.backgrounds, raw.dtype))
        return mask * foreground + (1.0 - mask) * background

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], 3)

    def get_config(self):
        return {**super().get_config(), "takes": self.takes, "mask_offset": self.mask_offset}


@keras.saving.register_keras_serializable(package="tfav")
class MinibatchStd(layers.Layer):
    """Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs",
    sec. 3): one channel appended to ``[B, H, W, C]``, holding, for each group of
    ``group_size`` consecutive samples, the standard deviation over the group of every
    feature at every position, averaged to one number. A critic with it sees how much
    the samples of a batch differ, so a generator that draws one picture (or one grey
    room) for every condition is told apart from real frames. Groups are consecutive,
    so a batch made of whole real and fake parts (``joint_d_batch``) never mixes them
    when each part is a multiple of ``group_size``; a batch that is not a multiple of
    it is one group."""

    def __init__(self, group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)

    def call(self, x):
        n = ops.shape(x)[0]
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        group = ops.where(ops.equal(n % self.group_size, 0), self.group_size, n)
        y = ops.reshape(ops.cast(x, "float32"), (-1, group, h, w, c))
        std = ops.sqrt(ops.var(y, axis=1) + 1e-8)  # [B / group, H, W, C]
        per_group = ops.mean(std, axis=(1, 2, 3))  # [B / group]
        feature = ops.repeat(per_group, group, axis=0)  # back to one value per sample
        feature = ops.broadcast_to(ops.reshape(feature, (-1, 1, 1, 1)), (n, h, w, 1))
        return ops.concatenate([x, ops.cast(feature, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}
