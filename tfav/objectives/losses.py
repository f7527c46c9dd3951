"""GAN losses as small pure functions, named like TF-GAN's.

All take discriminator *logits* and apply the sigmoid inside a softplus, which
is numerically stable: ``-log(sigmoid(x)) = softplus(-x)`` and
``-log(1 - sigmoid(x)) = softplus(x)``. Each returns a scalar to *minimise*
(the negative of the objective the paper maximises), averaged over the batch.
"""

from __future__ import annotations

from keras import ops


def _neg_log_sigmoid(logits):
    """Mean of ``-log(sigmoid(logits))``."""
    return ops.mean(ops.softplus(-ops.cast(logits, "float32")))


def _neg_log_one_minus_sigmoid(logits):
    """Mean of ``-log(1 - sigmoid(logits))``."""
    return ops.mean(ops.softplus(ops.cast(logits, "float32")))


def gan_cls_discriminator_loss(real_logits, wrong_logits, fake_logits):
    """GAN-CLS discriminator loss (Chen et al. 2017, eq. 4; Reed et al. 2016).

    The discriminator maximises ``log(S_r) + (log(1 - S_w) + log(1 - S_f)) / 2``
    where ``S = sigmoid(logit)`` for real pairs, wrong pairs (a real sample of
    the other modality that does not match the condition) and fake pairs. This
    returns its negative. Without wrong pairs (``wrong_logits=None``, the
    S2I-N variant of sec. 5.1) the discriminator maximises the plain
    ``log(S_r) + log(1 - S_f)``.

    Args:
        real_logits: Discriminator logits of matching real pairs.
        wrong_logits: Logits of mismatched real pairs, or ``None``.
        fake_logits: Logits of generated samples with their condition.

    Returns:
        Scalar loss to minimise.
    """
    real = _neg_log_sigmoid(real_logits)
    fake = _neg_log_one_minus_sigmoid(fake_logits)
    if wrong_logits is None:
        return real + fake
    return real + (_neg_log_one_minus_sigmoid(wrong_logits) + fake) / 2


def gan_cls_generator_loss(fake_logits):
    """Non-saturating GAN-CLS generator loss (Chen et al. 2017, eq. 3).

    The generator maximises ``log(S_f)``; this returns ``-mean(log(S_f))``.

    Args:
        fake_logits: Discriminator logits of generated samples.

    Returns:
        Scalar loss to minimise.
    """
    return _neg_log_sigmoid(fake_logits)
