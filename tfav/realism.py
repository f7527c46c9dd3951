"""Measures of realism that no network in training looks at (pure numpy).

A verifier trained beside the generator accepts textures a person rejects, so
generated images are also judged by their statistics against real frames:

- :func:`spectrum_gap_db`: the mean radial power spectrum (dB) of grey-level
  images against real ones, mean absolute difference over radial bins, and the
  signed gap of the upper half of the frequencies (speckle raises it, blur
  lowers it). Durall et al. 2020 ("Watch your up-convolution") show generated
  images betray themselves in this spectrum.
- :func:`total_variation_ratio`: mean absolute difference between neighbouring
  pixels of generated images over the same of real images (1 for real-like
  texture; speckle above, flat or blurred frames below).
- :func:`contrast_ratio` and :func:`colourfulness_ratio`: the mean per-image pixel
  standard deviation, and the mean colourfulness of Hasler & Suesstrunk 2003, of
  generated images over those of real ones (1 for real-like contrast and colour; a
  washed-out grey picture scores well below).
- :func:`noise_spread`: mean pixel L1 between images of one condition drawn with
  different noise, over the same between real frames of that class (0: the noise
  is ignored; real data asks for about 1 when the sound does not determine player,
  room or camera).
- :func:`kernel_inception_distance`: the unbiased MMD^2 with the cubic polynomial
  kernel of Binkowski et al. 2018 (KID), on judge features.

Images are ``[N, H, W, 3]`` in ``[-1, 1]``.
"""

from __future__ import annotations

import numpy as np

#: ITU-R BT.601 luma weights for the grey level.
_LUMA = np.array([0.299, 0.587, 0.114])


def _images(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] < 1:
        raise ValueError(f"{name}: expected [N, H, W, 3] images, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def radial_power_spectrum(images) -> np.ndarray:
    """Mean power (dB) of the grey-level images' 2-D spectrum per integer radius
    ``0 .. min(H, W) // 2 - 1`` (the mean over the batch is taken before the log)."""
    x = _images(images, "images")
    grey = x @ _LUMA
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)  # the DC term says nothing of texture
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey), axes=(1, 2))) ** 2
    power = power.mean(axis=0)
    h, w = power.shape
    yy, xx = np.indices((h, w))
    radius = np.hypot(yy - h // 2, xx - w // 2).astype(int)
    bins = min(h, w) // 2
    total = np.bincount(radius.ravel(), power.ravel(), minlength=bins)[:bins]
    count = np.bincount(radius.ravel(), minlength=bins)[:bins]
    return 10.0 * np.log10(np.maximum(total / count, 1e-12))


def spectrum_gap_db(generated, real) -> dict[str, float]:
    """``{"spectrum_gap_db": mean |P_gen - P_real| over radial bins 1.., "spectrum_high_db":
    mean P_gen - P_real over the upper half of the bins}`` (the DC bin is left out)."""
    gen, ref = radial_power_spectrum(generated), radial_power_spectrum(real)
    if gen.shape != ref.shape:
        raise ValueError(f"spectrum_gap_db: image sizes differ ({gen.shape} vs {ref.shape} bins)")
    diff = (gen - ref)[1:]
    return {"spectrum_gap_db": float(np.mean(np.abs(diff))),
            "spectrum_high_db": float(np.mean(diff[len(diff) // 2:]))}


def total_variation(images) -> float:
    """Mean absolute difference between horizontally and vertically neighbouring pixels."""
    x = _images(images, "images")
    dy = np.abs(np.diff(x, axis=1)).mean()
    dx = np.abs(np.diff(x, axis=2)).mean()
    return float((dx + dy) / 2.0)


def total_variation_ratio(generated, real) -> float:
    """:func:`total_variation` of ``generated`` over that of ``real``."""
    return total_variation(generated) / max(total_variation(real), 1e-12)


def contrast(images) -> float:
    """Mean over images of the standard deviation of their pixel values (all channels)."""
    x = _images(images, "images")
    return float(x.reshape(len(x), -1).std(axis=1).mean())


def contrast_ratio(generated, real) -> float:
    """:func:`contrast` of ``generated`` over that of ``real``."""
    return contrast(generated) / max(contrast(real), 1e-12)


def colourfulness(images) -> float:
    """Mean over images of Hasler & Suesstrunk's (2003) colourfulness, on ``[0, 255]``
    RGB: ``sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)`` with
    ``rg = R - G`` and ``yb = (R + G) / 2 - B`` over the pixels of one image."""
    x = (_images(images, "images") + 1.0) * 127.5
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg, yb = (r - g).reshape(len(x), -1), (0.5 * (r + g) - b).reshape(len(x), -1)
    value = (np.hypot(rg.std(axis=1), yb.std(axis=1))
             + 0.3 * np.hypot(rg.mean(axis=1), yb.mean(axis=1)))
    return float(value.mean())


def colourfulness_ratio(generated, real) -> float:
    """:func:`colourfulness` of ``generated`` over that of ``real``."""
    return colourfulness(generated) / max(colourfulness(real), 1e-12)


def mean_pairwise_l1(images) -> float:
    """Mean pixel L1 distance over unordered pairs of ``images`` ``[K, H, W, 3]``, K >= 2."""
    x = _images(images, "images").reshape(len(images), -1)
    if len(x) < 2:
        raise ValueError("mean_pairwise_l1: need at least 2 images")
    i, j = np.triu_indices(len(x), k=1)
    return float(np.mean([np.abs(x[a] - x[b]).mean() for a, b in zip(i, j, strict=True)]))


def noise_spread(draws_per_condition, real_images, real_labels, condition_labels,
                 max_per_class: int = 64, seed: int = 0) -> float:
    """Spread of one condition's images over the spread of real frames of its class.

    Args:
        draws_per_condition: ``[C, K, H, W, 3]``: K >= 2 noise draws for each of C
            conditions.
        real_images, real_labels: real frames and their classes.
        condition_labels: ``[C]`` the class of each condition.
        max_per_class: real frames sampled per class (seeded) for the reference.

    Returns:
        mean over conditions of ``mean_pairwise_l1(draws) / mean_pairwise_l1(real frames
        of the condition's class)``.
    """
    draws = np.asarray(draws_per_condition)
    if draws.ndim != 5 or draws.shape[1] < 2:
        raise ValueError(f"noise_spread: expected [C, K>=2, H, W, 3], got {draws.shape}")
    real, labels = np.asarray(real_images), np.asarray(real_labels)
    rng = np.random.default_rng(seed)
    reference = {}
    for c in np.unique(condition_labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            raise ValueError(f"noise_spread: class {c} has fewer than 2 real frames")
        if idx.size > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        reference[int(c)] = mean_pairwise_l1(real[idx])
    return float(np.mean([mean_pairwise_l1(d) / reference[int(c)]
                          for d, c in zip(draws, condition_labels, strict=True)]))


def kernel_inception_distance(features_a, features_b) -> float:
    """Unbiased MMD^2 with the kernel ``k(x, y) = (x.y / d + 1)^3`` (Binkowski et al. 2018)."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"kernel_inception_distance: expected [N>=2, D] features, got "
                         f"{a.shape} and {b.shape}")
    d = a.shape[1]

    def kernel(x, y):
        return (x @ y.T / d + 1.0) ** 3

    kaa, kbb, kab = kernel(a, a), kernel(b, b), kernel(a, b)
    m, n = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1))
                 + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2.0 * kab.mean())
