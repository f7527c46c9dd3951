"""The wrong-pair sampler of GAN-CLS: a mismatched partner for every item of a batch.

The matching-aware discriminator of GAN-CLS (Reed et al. 2016, "Generative
Adversarial Text to Image Synthesis", ICML, Algorithm 1) also scores real
samples under a wrong condition, as fake. Chen et al. 2017 ("Deep
Cross-Modal Audio-Visual Generation", ACM MM Thematic Workshops) take this
term into their discriminator loss (eq. 4) and choose which samples are wrong
(eqs. 5-7): images of other instruments (eq. 5), other images of the same
instrument (eq. 6, pose-oriented S2I), sounds of other instruments (eq. 7).

:func:`add_wrong_pairs` draws the partner inside each batch with stateless
random ops, so the draw is a pure function of the seed;
:func:`hard_wrong_pair_weights` biases the draw towards the categories a
condition is most easily mistaken for.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfav.errors import ConfigError

WRONG_PAIR_MODES = ("other_category", "same_category")


def add_wrong_pairs(batch: dict, mode: str, seed, category_weights=None) -> dict:
    """Add a mismatched partner to every item of a batch (Chen et al. 2017, eqs. 5-7).

    For item ``i`` another item ``j`` of the same batch is drawn uniformly
    (stateless random, so the draw is a pure function of ``seed``) among:

    * ``"other_category"``: items with a different label -- the wrong-category
      images/sounds of eqs. 5 and 7;
    * ``"same_category"``: items with the same label and ``j != i`` -- the
      wrong images of the correct category of eq. 6 (pose-oriented S2I).

    When item ``i`` has no such partner in its batch (e.g. a one-instrument
    batch in ``other_category`` mode, or a category appearing once in
    ``same_category`` mode), ``j`` is drawn uniformly among all other items;
    a batch of one item pairs with itself.

    ``category_weights`` ([C, C], positive) makes the draw non-uniform: item
    ``j`` is drawn with probability proportional to
    ``category_weights[label_i, label_j]`` (see :func:`hard_wrong_pair_weights`).
    Equal weights give exactly the uniform draw, with the same ``j`` for a seed.

    Args:
        batch: dict with at least ``label`` [B], ``image`` and ``waveform``.
        mode: ``"other_category"`` or ``"same_category"``.
        seed: an int or an int tensor of shape [2] (``tf.random.stateless_*`` seed).
        category_weights: ``None`` (uniform) or [C, C] relative draw weights.

    Returns:
        A new dict with ``wrong_image``, ``wrong_waveform`` and ``wrong_label``
        (item ``j``'s) added; ``wrong_index`` holds ``j``.
    """
    if mode not in WRONG_PAIR_MODES:
        raise ConfigError(f"wrong_pairs must be one of {WRONG_PAIR_MODES}, got '{mode}'")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    label = batch["label"]
    n = tf.shape(label)[0]
    same = tf.equal(label[:, None], label[None, :])
    not_self = tf.logical_not(tf.eye(n, dtype=tf.bool))
    valid = tf.logical_not(same) if mode == "other_category" else tf.logical_and(same, not_self)
    has_partner = tf.reduce_any(valid, axis=1, keepdims=True)
    valid = tf.where(has_partner, valid, not_self)
    # The argmax of i.i.d. uniforms over a set is a uniform draw from that set;
    # with log-weights added to Gumbel noise (a monotone map of the same uniforms),
    # a draw proportional to the weights (the Gumbel-max trick).
    score = tf.random.stateless_uniform(tf.stack([n, n]), seed=seed)
    if category_weights is not None:
        w = tf.convert_to_tensor(category_weights, tf.float32)
        log_w = tf.math.log(tf.gather(tf.gather(w, label), label, axis=1))
        score = log_w - tf.math.log(-tf.math.log(tf.maximum(score, 1e-12)))
    j = tf.argmax(tf.where(valid, score, -np.inf), axis=1, output_type=tf.int32)
    out = dict(batch)
    out["wrong_index"] = j
    for key in ("image", "waveform"):
        if key in batch:  # a batch whose sounds are encoded already has no waveform
            out[f"wrong_{key}"] = tf.gather(batch[key], j)
    out["wrong_label"] = tf.gather(label, j)
    return out


def hard_wrong_pair_weights(confusion, hardness: float) -> np.ndarray:
    """Draw weights that make ``other_category`` wrong pairs harder.

    A wrong pair teaches D most when its category is one the condition is
    easily mistaken for. Row ``c`` mixes the uniform choice of another category
    (share ``1 - hardness``) with the off-diagonal of ``confusion[c]``, the
    rate at which an encoder mistakes category ``c`` for each other one (share
    ``hardness``). A row without confusion stays uniform.

    Args:
        confusion: [C, C], rows true, columns predicted: counts
            (``tfav.metrics.confusion_matrix``) or summed class probabilities.
        hardness: in [0, 1); 0 gives the uniform draw of Reed et al.

    Returns:
        float32 [C, C] for :func:`add_wrong_pairs`; rows sum to 1 off the diagonal.
    """
    if not 0.0 <= hardness < 1.0:
        raise ConfigError(f"hard wrong pairs: hardness must be in [0, 1), got {hardness}")
    c = np.asarray(confusion, np.float64).copy()
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 2:
        raise ConfigError(f"hard wrong pairs: confusion must be [C, C] with C >= 2, "
                          f"got {c.shape}")
    k = c.shape[0]
    np.fill_diagonal(c, 0.0)
    total = c.sum(axis=1, keepdims=True)
    mistaken = np.where(total > 0, c / np.maximum(total, 1e-12), 1.0 / (k - 1))
    w = (1.0 - hardness) / (k - 1) + hardness * mistaken
    np.fill_diagonal(w, 1.0)  # only drawn when an item has no other-category partner
    return w.astype(np.float32)
