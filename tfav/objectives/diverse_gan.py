"""Diverse audio-to-image GAN of Yang et al. (sec. II, eqs. 1-5).

Two generators ``G64(a, z) -> (I64, h)`` and ``G128(a, h, I64) -> I128``; two
discriminators ``D64``, ``D128``, each a projection critic ``K`` with an
auxiliary classifier ``P`` (``tfav.models.projection.scene_discriminator``,
spectral norm, hinge loss); a frozen image-to-audio regressor (I2A),
pretrained on the training pairs, gives the consistency loss
``L_con = L2(a, I2A(I128))`` (eq. 4).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfav import metrics
from tfav.models import soundnet
from tfav.models.projection import scene_discriminator
from tfav.models.two_stage import image_to_audio_regressor, stage1_generator, stage2_generator
from tfav.objectives import losses, registry
from tfav.objectives.base import GANHyper, TwoOptimizerGAN, require
from tfav.objectives.registry import hyper_field
from tfav.objectives.scene_gan import (
    recompile_for_d_rate,
    sound_vector_source,
    standardize_sound_vector,
)


def downsample(images, size):
    """Area-average images to ``size`` (the real 64x64 pairs of ``D64``)."""
    return tf.image.resize(ops.cast(images, "float32"), (size, size), method="area")


@keras.saving.register_keras_serializable(package="tfav")
class DiverseGAN(TwoOptimizerGAN):
    """Yang et al.'s model; ``fit`` on ``{"condition", "target", "wrong_target", "label"}``.

    ``target`` are 128x128 real images of the condition's pair and
    ``wrong_target`` real images of another category (``(a^m, I^n), m != n``,
    false for ``K``). Per batch: one step of both discriminators on eq. (5),
    then ``g_steps`` generator steps on eq. (3) summed over both scales plus
    ``consistency_weight * L_con`` (eq. 4). With ``mode_seeking_weight > 0`` each
    generator step draws every condition twice, with independent noise, and
    adds Mao et al.'s mode-seeking term on the two 128x128 images
    (``losses.mode_seeking_loss``; not in Yang et al.).

    Args:
        g64, g128: ``[a, z] -> [I64, h]`` and ``[a, h, I64] -> I128``.
        d64, d128: ``[image, a] -> [score, class_logits]``.
        i2a: Pretrained ``I128 -> a~`` (frozen here).
        condition_encoder: Frozen ``condition -> a`` (``None``: batches hold ``a``).
        z_dim: Noise width.
        consistency_weight: Weight of ``L_con`` (the paper sums with weight 1).
        mode_seeking_weight: Weight of the mode-seeking term (0: off, the paper).
        g_steps: Generator steps per discriminator step.
        generator_average: Momentum of the moving average of ``G64`` and ``G128``
            that samples are drawn from (0: the trained weights, the paper's
            setting; see ``TwoOptimizerGAN._init_averaged_generator``).
        seed: Noise seed.
    """

    def __init__(self, g64, g128, d64, d128, i2a, condition_encoder=None, z_dim=100,
                 consistency_weight=1.0, g_steps=1, generator_average=0.0, seed=None,
                 mode_seeking_weight=0.0, **kwargs):
        super().__init__(**kwargs)
        self.g64, self.g128, self.d64, self.d128, self.i2a = g64, g128, d64, d128, i2a
        self.condition_encoder = condition_encoder
        for frozen in (i2a, condition_encoder):
            if frozen is not None:
                frozen.trainable = False
        self.z_dim, self.consistency_weight = int(z_dim), float(consistency_weight)
        self.mode_seeking_weight = float(mode_seeking_weight)
        self.g_steps, self.seed = int(g_steps), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.make_trackers(["d_loss", "g_loss", "consistency", "class_loss", "real_score",
                            "wrong_score", "fake_score"]
                           + (["mode_seeking"] if self.mode_seeking_weight else []))
        a = keras.Input(g64.inputs[0].shape[1:], name="condition")
        z = keras.Input((self.z_dim,), name="z")
        i64, h = g64([a, z])
        self._two_stage = keras.Model([a, z], g128([a, h, i64]), name="yang_generator")
        self._init_averaged_generator(generator_average)
        self.built = True

    @property
    def generator(self):
        """``[a, z] -> I128``: ``G128`` after ``G64`` (their weights, not copies)."""
        return self._two_stage

    SUB_MODELS = ("g64", "g128", "d64", "d128", "i2a", "condition_encoder")
    CONFIG = ("z_dim", "consistency_weight", "g_steps", "generator_average", "seed",
              "mode_seeking_weight")

    def d_variables(self):
        return self.d64.trainable_variables + self.d128.trainable_variables

    def g_variables(self):
        return self.g64.trainable_variables + self.g128.trainable_variables

    def _generate(self, a, z, training):
        i64, h = self.g64([a, z], training=training)
        return i64, self.g128([a, h, i64], training=training)

    def _d_loss(self, batch, a, fakes, training=True):
        real128 = ops.cast(batch["target"], "float32")
        wrong128 = ops.cast(batch["wrong_target"], "float32")
        reals = (downsample(real128, self.d64.inputs[0].shape[1]), real128)
        wrongs = (downsample(wrong128, self.d64.inputs[0].shape[1]), wrong128)
        total, scores = 0.0, []
        for d, real, wrong, fake in zip((self.d64, self.d128), reals, wrongs, fakes,
                                        strict=True):
            r, r_cls = d([real, a], training=training)
            w, _ = d([wrong, a], training=training)
            f, _ = d([fake, a], training=training)
            total += losses.hinge_discriminator_loss(r, f, w)
            total += losses.auxiliary_classifier_loss(r_cls, batch["label"])
            scores.append((r, w, f))
        return total, scores

    def _g_loss(self, labels, a, fakes, training=True):
        adv, cls = 0.0, 0.0
        for d, fake in zip((self.d64, self.d128), fakes, strict=True):
            f, f_cls = d([fake, a], training=training)
            adv += losses.hinge_generator_loss(f)
            cls += losses.auxiliary_classifier_loss(f_cls, labels)
        con = losses.feature_consistency_loss(a, self.i2a(fakes[1], training=False))
        return adv + cls + self.consistency_weight * con, con, cls

    def train_step(self, batch):
        require(batch, "wrong_target", "label", why="a2i_diverse needs (mismatched pairs, "
                "classes)")
        a = self.encoding_of(batch)
        n = ops.shape(a)[0]
        fakes = self._generate(a, self.noise(n), training=True)
        d_loss, scores = self.minimize(lambda: self._d_loss(batch, a, fakes),
                                       self.d_optimizer, self.d_variables())
        # With mode seeking, G sees every condition twice (independent z).
        twice = bool(self.mode_seeking_weight)
        a_g = ops.concatenate([a, a], axis=0) if twice else a
        labels = batch["label"]
        labels = ops.concatenate([labels, labels], axis=0) if twice else labels

        def g_loss_fn():  # eq. (3) at both scales + eq. (4)
            z = self.noise(2 * n if twice else n)
            fakes = self._generate(a_g, z, training=True)
            g_loss, con, cls = self._g_loss(labels, a_g, fakes)
            ms = 0.0
            if twice:
                ms = losses.mode_seeking_loss(fakes[1][:n], fakes[1][n:], z[:n], z[n:])
                g_loss += self.mode_seeking_weight * ms
            return g_loss, con, cls, ms

        for _ in range(self.g_steps):
            g_loss, con, cls, ms = self.minimize(g_loss_fn, self.g_optimizer, self.g_variables())
        self.update_averaged_generator()
        return self._track(d_loss, g_loss, con, cls, scores[1], ms)

    def test_step(self, batch):
        a = self.encoding_of(batch)
        fakes = self._generate(a, self.noise(ops.shape(a)[0]), training=False)
        d_loss, scores = self._d_loss(batch, a, fakes, training=False)
        g_loss, con, cls = self._g_loss(batch["label"], a, fakes, training=False)
        return self._track(d_loss, g_loss, con, cls, scores[1])

    def _track(self, d_loss, g_loss, con, cls, scores, mode_seeking=0.0):
        r, w, f = scores
        values = dict(d_loss=d_loss, g_loss=g_loss, consistency=con, class_loss=cls,
                      real_score=ops.mean(r), wrong_score=ops.mean(w), fake_score=ops.mean(f),
                      mode_seeking=mode_seeking)
        return self.track(values)

    def generate(self, condition, z=None, seed=None, size=None):
        """128x128 images (or ``size``) for a batch of conditions, inference mode,
        from the averaged generator if one is kept."""
        a = self.encode(condition)
        if z is None:
            z = self.noise(ops.shape(a)[0], seed=seed)
        image = self.sampling_generator([a, ops.cast(z, "float32")], training=False)
        return image if size is None else downsample(image, size)


def diverse_gan(condition_dim, num_classes, condition_encoder=None, z_dim=100, base_filters=32,
                latent_dim=128, consistency_weight=1.0, g_steps=1, learning_rate=2e-4,
                beta_1=0.5, upsampling="deconv", generator_average=0.0, seed=None,
                mode_seeking_weight=0.0):
    """A compiled :class:`DiverseGAN` with an untrained I2A (see :func:`pretrain_i2a`).

    ``upsampling`` is how ``G64`` and ``G128`` double their maps
    (``tfav.models.generators.UPSAMPLING``); ``generator_average`` the momentum
    of the generator weight average samples come from (0: off, as in the paper).
    """
    bf = base_filters
    g64 = stage1_generator(condition_dim, z_dim, latent_dim, base_filters=bf,
                           upsampling=upsampling)
    g128 = stage2_generator(condition_dim, latent_dim, base_filters=max(bf // 2, 1),
                            upsampling=upsampling)
    d64, d128 = (
        scene_discriminator(condition_dim, base_filters=max(bf // (size // 64), 1),
                            image_size=size, head="projection", num_classes=num_classes,
                            spectral_norm=True, name=f"d{size}")
        for size in (64, 128)
    )
    i2a = image_to_audio_regressor(condition_dim, 128, base_filters=max(bf // 2, 1))
    model = DiverseGAN(g64, g128, d64, d128, i2a, condition_encoder, z_dim=z_dim,
                       consistency_weight=consistency_weight, g_steps=g_steps,
                       generator_average=generator_average, seed=seed,
                       mode_seeking_weight=mode_seeking_weight)
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                  g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1))
    return model


def pretrain_i2a(model: DiverseGAN, dataset, epochs: int = 3, learning_rate: float = 1e-3,
                 verbose: int = 0) -> float:
    """Fit the I2A regressor on real training pairs ``(I128, a)`` by MSE, then freeze it.

    Returns:
        The last epoch's mean squared error.
    """
    pairs = dataset.map(lambda b: (b["target"], model.encoding_of(b)))
    i2a = model.i2a
    i2a.trainable = True
    # A wrapper holds the optimizer, so the saved I2A carries no training state.
    image = keras.Input(i2a.inputs[0].shape[1:])
    trainer = keras.Model(image, i2a(image))
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    history = trainer.fit(pairs, epochs=epochs, verbose=verbose, shuffle=False)
    i2a.trainable = False
    return float(history.history["loss"][-1])


def r_precision_metrics(model: DiverseGAN, waveforms, seed: int = 0, pool_size: int = 100,
                        batch: int = 64) -> dict:
    """R-precision@1/5/10 of Yang et al. (sec. III-B, Table II).

    Each audio's own generated image among ``pool_size - 1`` images generated
    from other audio, ranked by cosine similarity between ``a`` and
    ``I2A(image)``. The Inception-style score, accuracy and diversity are
    measured by ``tfav.evaluate`` as for every S2I model.
    """
    rng = np.random.default_rng(seed)
    a = np.asarray(model.encode(waveforms))
    z = rng.standard_normal((len(a), model.z_dim)).astype("float32")
    i2a = np.concatenate([
        np.asarray(model.i2a(model.generate(waveforms[i:i + batch], z=z[i:i + batch]),
                             training=False))
        for i in range(0, len(a), batch)])
    pool = min(pool_size, len(a))
    rp = metrics.r_precision(a, i2a, k=[k for k in (1, 5, 10) if k <= pool], pool_size=pool,
                             seed=seed)
    out = {f"r_precision@{k}": v for k, v in rp.items()}
    out["r_precision_pool"] = pool
    return out


@dataclasses.dataclass
class DiverseHyper(GANHyper):
    """Hyperparameters of Yang et al.'s model (a2i_diverse)."""

    features: str = hyper_field(
        "fbank", "a2i tasks: sound vector (Wan et al. Table 2; default fbank)",
        choices=("spectrogram", "fbank", "mfcc", "soundnet"))
    g_steps: int = hyper_field(1, "Chen and a2i_diverse GANs: generator steps per "
                               "discriminator step (default 1)", tune=("choice", [1, 2]), low=1)
    # The paper sums the losses with weight 1 (eq. 4).
    consistency_weight: float = hyper_field(
        1.0, "a2i_diverse: weight of the audio consistency loss L2(a, I2A(G(a, z))) "
        "(default 1, the paper)", low=0.0)
    # Not in Yang et al. (Mao et al. 2019).
    mode_seeking_weight: float = hyper_field(
        0.0, "a2i_diverse and Chen GANs: weight of the mode-seeking term of Mao et al. 2019, "
        "which rewards images that differ with z (default 0, as in the papers)", low=0.0)


def build(ctx: registry.BuildContext) -> DiverseGAN:
    """Yang et al.'s model on the ``features`` sound vector, its I2A not yet trained."""
    hyper = ctx.hyper
    encoder = soundnet.sound_feature_encoder(hyper.features, soundnet=ctx.encoder)
    model = diverse_gan(
        soundnet.feature_dim(encoder), ctx.num_classes, condition_encoder=encoder,
        z_dim=hyper.z_dim, base_filters=ctx.base_filters, learning_rate=ctx.learning_rate,
        beta_1=hyper.beta_1, seed=ctx.seed, g_steps=hyper.g_steps, upsampling=hyper.upsampling,
        consistency_weight=hyper.consistency_weight,
        mode_seeking_weight=hyper.mode_seeking_weight,
        generator_average=hyper.generator_average,
    )
    recompile_for_d_rate(model, hyper, ctx.learning_rate)
    return model


def prepare(model, dataset, log=print):
    """Standardise the sound vector, then pretrain the I2A on the training pairs (sec. II-B)."""
    standardize_sound_vector(model, dataset)
    mse = pretrain_i2a(model, dataset, epochs=3)
    log(f"[tfav] I2A pretrained on the training pairs: mse {mse:.4f}")


def extra_metrics(model, validation, seed=0):
    """R-precision (Yang et al. Table II) on the validation sounds."""
    return r_precision_metrics(model, validation["waveform"], seed=seed)


OBJECTIVE = registry.register(registry.Objective(
    "diverse_gan", DiverseHyper, build, condition_encoder=sound_vector_source, prepare=prepare,
    extra_metrics=extra_metrics,
    extra_metric_names=("accuracy", "r_precision@1", "r_precision@5", "r_precision@10")))
