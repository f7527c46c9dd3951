"""GAN losses as small pure functions, named like TF-GAN's.

All take discriminator *logits* and apply the sigmoid inside a softplus, which
is numerically stable: ``-log(sigmoid(x)) = softplus(-x)`` and
``-log(1 - sigmoid(x)) = softplus(x)``. Each returns a scalar to *minimise*
(the negative of the objective the paper maximises), averaged over the batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf
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


# --- Wan et al. 2019 (Table 4 ablation) and Yang et al. ------------------------


def hinge_discriminator_loss(real_logits, fake_logits, wrong_logits=None):
    """Hinge discriminator loss (Wan et al. 2019, eq. 2, first two terms; Yang et al. eq. 5).

    ``E[max(0, 1 - D(x, s))] + E[max(0, 1 + D(G(s, z), s))]`` (Lim & Ye 2017).
    Yang et al. also treat mismatched real pairs as false: with
    ``wrong_logits`` the false term averages fake and wrong pairs,
    ``E[max(0, 1 - D_r)] + (E[max(0, 1 + D_w)] + E[max(0, 1 + D_f)]) / 2``.

    Args:
        real_logits: Scores of matching real pairs.
        fake_logits: Scores of generated samples with their condition.
        wrong_logits: Scores of mismatched real pairs, or ``None``.

    Returns:
        Scalar loss to minimise.
    """
    real = ops.mean(ops.relu(1.0 - ops.cast(real_logits, "float32")))
    fake = ops.mean(ops.relu(1.0 + ops.cast(fake_logits, "float32")))
    if wrong_logits is None:
        return real + fake
    wrong = ops.mean(ops.relu(1.0 + ops.cast(wrong_logits, "float32")))
    return real + (wrong + fake) / 2


def hinge_generator_loss(fake_logits):
    """Hinge-GAN generator loss ``-E[D(G(s, z), s)]`` (Wan et al. 2019, eq. 1, first term).

    Args:
        fake_logits: Discriminator scores of generated samples.

    Returns:
        Scalar loss to minimise.
    """
    return -ops.mean(ops.cast(fake_logits, "float32"))


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """Critic loss of (improved) WGAN ``E[D(fake)] - E[D(real)]`` (Gulrajani et al. 2017, eq. 3).

    Wan et al. 2019, Table 4 row (b). Add :func:`wasserstein_gradient_penalty`.
    """
    return ops.mean(ops.cast(fake_logits, "float32")) - ops.mean(ops.cast(real_logits, "float32"))


def wasserstein_generator_loss(fake_logits):
    """WGAN generator loss ``-E[D(fake)]`` (Arjovsky et al. 2017)."""
    return -ops.mean(ops.cast(fake_logits, "float32"))


def wasserstein_gradient_penalty(critic, real, fake, condition, *, seed=None, epsilon=1e-10):
    """Gradient penalty of improved WGAN (Gulrajani et al. 2017, eq. 3, second term).

    ``E[(||grad_x_hat D(x_hat, s)||_2 - 1)^2]`` at ``x_hat = u x + (1 - u) G(s, z)``
    with ``u ~ U[0, 1]`` per sample; as in TF-GAN the norm is
    ``sqrt(sum(g^2) + epsilon)`` so that its gradient stays finite where
    ``g = 0``. The condition is held fixed (the penalty is on the image).

    Args:
        critic: Callable ``[image, condition] -> score`` (or ``[score, ...]``).
        real: Real images ``[B, H, W, C]``.
        fake: Generated images of the same shape.
        condition: The condition ``[B, D]`` of both.
        seed: Seed (int or ``keras.random.SeedGenerator``) of ``u``.
        epsilon: Added inside the square root.

    Returns:
        Scalar penalty (multiply by the weight, 10 in the paper).
    """

    real = ops.cast(real, "float32")
    fake = ops.cast(fake, "float32")
    u = keras.random.uniform((ops.shape(real)[0], 1, 1, 1), seed=seed)
    x_hat = u * real + (1.0 - u) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        score = critic([x_hat, condition])
        if isinstance(score, list | tuple):
            score = score[0]
        score = ops.sum(score)
    grads = tape.gradient(score, x_hat)
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]) + epsilon)
    return ops.mean(ops.square(norm - 1.0))


def auxiliary_classifier_loss(class_logits, labels):
    """``-E[log P_C(c | x)]`` of the auxiliary classifier (Odena et al. 2017).

    The third term of Wan et al. 2019 eq. (2) on real images and the second
    term of eq. (1) on generated ones; ``-log P_j(m | I)`` of Yang et al.
    eqs. (3) and (5).

    Args:
        class_logits: ``[B, C]`` classifier logits.
        labels: ``[B]`` integer classes.

    Returns:
        Scalar mean cross-entropy.
    """

    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    return ops.mean(
        keras.losses.sparse_categorical_crossentropy(
            labels, ops.cast(class_logits, "float32"), from_logits=True
        )
    )


def feature_consistency_loss(features, reconstructed, epsilon=1e-8):
    """Audio feature consistency ``L2(a, a~)`` (Yang et al. eq. 4), batch mean.

    The paper "calculates the L2 distances between the audio feature of the
    input signal and that encoded by the generated image" and adds them to
    the generator's loss with weight 1: the Euclidean distance ``||a - a~||``,
    not its square, whose sum over the feature's dimensions (80 for fbank,
    256 for SoundNet) would outweigh the adversarial terms many times over.
    ``epsilon`` inside the root keeps the gradient finite at ``a = a~``.
    """
    diff = ops.cast(features, "float32") - ops.cast(reconstructed, "float32")
    return ops.mean(ops.sqrt(ops.sum(ops.square(diff), axis=-1) + epsilon))


def mode_seeking_loss(images_1, images_2, z_1, z_2, epsilon=1e-5):
    """Mode-seeking regulariser of Mao et al. 2019 (MSGAN, eqs. 4-5), to minimise.

    The generator maximises ``d_I(G(c, z1), G(c, z2)) / d_z(z1, z2)``, the
    image distance per unit of noise distance for one condition; as in the
    authors' code both distances are mean absolute differences over the batch
    and the loss is ``1 / (ratio + epsilon)``.
    """
    d_image = ops.mean(ops.abs(ops.cast(images_1, "float32") - ops.cast(images_2, "float32")))
    d_z = ops.mean(ops.abs(ops.cast(z_1, "float32") - ops.cast(z_2, "float32")))
    return 1.0 / (d_image / d_z + epsilon)


#: ``(n_fft, hop_length)`` of the multi-resolution STFT loss (Yamamoto et al. 2020,
#: Table 1, scaled to 44.1 kHz).
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


def _stft_magnitude(waveforms, n_fft, hop_length):
    stft = tf.signal.stft(waveforms, n_fft, hop_length, fft_length=n_fft,
                          window_fn=tf.signal.hann_window, pad_end=False)
    return tf.math.sqrt(tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))
                        + 1e-7)


def multi_resolution_stft_loss(target, generated, resolutions=STFT_RESOLUTIONS):
    """Multi-resolution STFT loss (Yamamoto et al. 2020, eqs. 5-7): at each resolution
    the spectral convergence ``|| |S| - |S^| ||_F / || |S| ||_F`` plus the mean
    absolute log-magnitude difference, averaged over the resolutions.

    Returns:
        ``(spectral_convergence, log_magnitude)``, each averaged over resolutions.
    """
    convergence, log_magnitude = 0.0, 0.0
    for n_fft, hop in resolutions:
        s, s_hat = _stft_magnitude(target, n_fft, hop), _stft_magnitude(generated, n_fft, hop)
        convergence += tf.norm(s - s_hat) / (tf.norm(s) + 1e-7)
        log_magnitude += tf.reduce_mean(tf.math.abs(tf.math.log(s) - tf.math.log(s_hat)))
    n = float(len(resolutions))
    return convergence / n, log_magnitude / n
