"""Differentiable augmentation of the discriminator's images (DiffAugment).

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training": every image the discriminator sees, real, wrong or generated, in
its own step and in the generator's, goes through the same random,
differentiable transforms, drawn independently per image and per call. The
discriminator can then no longer separate real from fake by memorising the
training images, and the generator still gets gradients through the
transforms. Images are in [-1, 1], ``[batch, height, width, channels]``.

Policies are comma-separated names of ``TRANSFORMS``: ``color`` (brightness,
saturation, contrast), ``translation`` (shift by up to 1/8 of the side,
zero-filled) and ``cutout`` (a zeroed square of half the side), as in the
paper's reference implementation.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfav.errors import ConfigError


def _uniform(x, seed, low=0.0, high=1.0):
    return keras.random.uniform((ops.shape(x)[0], 1, 1, 1), low, high, seed=seed)


def color(x, seed):
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5)."""
    x = x + _uniform(x, seed, -0.5, 0.5)
    mean = ops.mean(x, axis=-1, keepdims=True)
    x = (x - mean) * _uniform(x, seed, 0.0, 2.0) + mean
    mean = ops.mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _uniform(x, seed, 0.5, 1.5) + mean


def _shifted_index(size, shift):
    """``[batch, size]`` source indices into a 1-padded axis; out-of-range hits the padding."""
    index = ops.arange(size)[None, :] + shift + 1
    return ops.clip(index, 0, size + 1)


def translation(x, seed, ratio=0.125):
    """Shift each image by up to ``ratio`` of its side in x and y, filling with zeros."""
    batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
    sy, sx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = keras.random.randint((batch, 1), -sy, sy + 1, seed=seed)
    dx = keras.random.randint((batch, 1), -sx, sx + 1, seed=seed)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = tf.gather(padded, _shifted_index(height, dy), axis=1, batch_dims=1)
    return tf.gather(rows, _shifted_index(width, dx), axis=2, batch_dims=1)


def cutout(x, seed, ratio=0.5):
    """Zero a square of ``ratio`` of the side at a random place in each image."""
    batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
    h, w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    cy = keras.random.randint((batch, 1, 1), 0, height + (1 - h % 2), seed=seed)
    cx = keras.random.randint((batch, 1, 1), 0, width + (1 - w % 2), seed=seed)
    ys = ops.arange(height)[None, :, None]
    xs = ops.arange(width)[None, None, :]
    inside = ((ys >= cy - h // 2) & (ys < cy - h // 2 + h)
              & (xs >= cx - w // 2) & (xs < cx - w // 2 + w))  # fmt: skip
    return x * ops.cast(~inside, x.dtype)[..., None]


def _gaussian_kernel(sigma, channels):
    radius = max(1, int(3 * sigma + 0.5))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    return np.tile(np.outer(k, k)[:, :, None, None], (1, 1, channels, 1)), radius


def blur(x, seed, sigma=1.0):
    """A Gaussian blur of ``sigma`` pixels (reflect-padded): the discriminator no
    longer sees, so the generator is no longer pushed by, pixel-level detail
    (Karras et al. 2021, StyleGAN3 sec. 4, blur the discriminator's images)."""
    kernel, radius = _gaussian_kernel(sigma, x.shape[-1])
    padded = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, tf.constant(kernel, x.dtype), [1, 1, 1, 1], "VALID")


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout, "blur": blur}


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; ``""``/None/"none" -> ()."""
    if not policy or policy == "none":
        return ()
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ConfigError(
            f"unknown augmentation {', '.join(unknown)} (known: {', '.join(TRANSFORMS)})"
        )
    return names


def diff_augment(images, policy, seed):
    """Apply the transforms of ``policy`` (a comma-separated string) to ``images``.

    Args:
        images: ``[batch, height, width, channels]`` in [-1, 1].
        policy: e.g. ``"translation,cutout"``; empty for none.
        seed: a ``keras.random.SeedGenerator`` (each call draws new transforms).
    """
    for name in parse_policy(policy):
        images = TRANSFORMS[name](images, seed)
    return images
