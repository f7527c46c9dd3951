"""Discriminators of Wan et al. 2019 (sec. 4.2, Fig. 1) and Yang et al. (sec. II-C, Fig. 1b).

One builder covers the rows of Wan et al.'s Table 4 and Yang et al.'s D:

* the body: 4x4 stride-2 convolutions with leaky ReLU down to a 4x4 map
  ("four convolution layers" at 64x64, one more per doubling of the side);
  batch normalisation only when neither spectral norm nor a gradient penalty
  is used (both assume a per-sample function);
* ``head="concat"``: the GAN-CLS head of Reed et al. 2016 (the condition,
  compressed and replicated over the 4x4 map, concatenated, scored), rows (b)-(e);
* ``head="projection"``: the projection discriminator (Miyato & Koyama 2018):
  the image features ``h`` (sum over the 4x4 map) give the unconditional
  score ``psi(h)``; a linear projection ``V s`` of the sound vector is
  multiplied with ``h`` and the inner product is added, ``D = psi(h) + <V s, h>``,
  rows (f)-(g) and Yang's K;
* ``num_classes > 0``: an auxiliary classifier ``P_C`` sharing the body
  (Odena et al. 2017), row (g) and Yang's P.

With ``spectral_norm=True`` every conv/dense layer (including the projection
and the classifier) is wrapped in ``keras.layers.SpectralNormalization``.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from tfav.errors import ConfigError
from tfav.models.blocks import concat_head, doublings, down_stack, spectral


@keras.saving.register_keras_serializable(package="tfav")
class InnerProduct(layers.Layer):
    """Row-wise inner product ``<a, b>`` of two ``[B, D]`` tensors -> ``[B, 1]``."""

    def call(self, inputs):
        a, b = inputs
        return ops.sum(a * b, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package="tfav")
class SumPool(layers.Layer):
    """Sum over the spatial axes ``[B, H, W, C] -> [B, C]`` (Miyato & Koyama's ResNet D)."""

    def call(self, x):
        return ops.sum(x, axis=(1, 2))


def scene_discriminator(
    condition_dim: int,
    base_filters: int = 64,
    image_size: int = 64,
    head: str = "projection",
    num_classes: int = 0,
    spectral_norm: bool = True,
    batch_norm: bool = True,
    compressed_dim: int = 64,
    name: str = "scene_discriminator",
) -> keras.Model:
    """``D(x, s)`` of Wan et al. 2019 (sec. 4.2) or ``(K, P)`` of Yang et al. (sec. II-C).

    Args:
        condition_dim: Width of the sound vector ``s`` (256 for SoundNet pool5).
        base_filters: Channels of the first conv layer (doubling to 8x).
        image_size: Side of the input images (a power of two >= 8; 64 or 128).
        head: ``"concat"`` (GAN-CLS) or ``"projection"``.
        num_classes: Classes of the auxiliary classifier; 0 for none.
        spectral_norm: Spectral normalisation on every layer (Miyato et al. 2018).
        batch_norm: Batch norm after conv layers 2.. (ignored with spectral norm).
        compressed_dim: Width of the condition compression of the concat head.
        name: Model name.

    Returns:
        Functional model ``[image [B, S, S, 3], condition [B, D]] -> score [B, 1]``,
        or ``-> [score [B, 1], class_logits [B, num_classes]]`` with a classifier.

    Example:
        >>> d = scene_discriminator(256, head="projection", num_classes=9)
        >>> score, class_logits = d([images, soundnet_features])
    """
    if head not in ("concat", "projection"):
        raise ConfigError(f"head must be 'concat' or 'projection', got {head!r}")
    doublings(image_size)  # the size's ConfigError before keras.Input sees it
    image = keras.Input((image_size, image_size, 3), name="image")
    condition = keras.Input((condition_dim,), name="condition")
    x = down_stack(image, base_filters, spectral_norm, batch_norm)
    h = SumPool(name="features")(x)
    if head == "concat":
        score = concat_head(x, condition, compressed_dim, 8 * base_filters, spectral_norm,
                            batch_norm, name="score")
    else:
        psi = spectral(layers.Dense(1, name="psi"), spectral_norm)(h)
        v_s = spectral(layers.Dense(h.shape[-1], use_bias=False, name="projection"),
                       spectral_norm)(condition)
        score = layers.Add(name="score")([psi, InnerProduct(name="inner_product")([v_s, h])])
    if num_classes <= 0:
        return keras.Model([image, condition], score, name=name)
    class_logits = spectral(layers.Dense(num_classes, name="class_logits"), spectral_norm)(h)
    return keras.Model([image, condition], [score, class_logits], name=name)
