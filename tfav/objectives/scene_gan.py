"""Audio-to-scene GAN of Wan et al. 2019 (sec. 4) with the Table 4 ablation switches.

``ABLATIONS`` maps each row of Table 4 to the switches it turns on, cumulatively:

=========  ==========================================================  =====
ablation   discriminator and loss                                       row
=========  ==========================================================  =====
wgan_gp    GAN-CLS architecture, improved WGAN (gradient penalty 10)    (b)
cgan       GAN-CLS architecture, conditional GAN (cross-entropy)        (c)
sn         + spectral norm on every discriminator layer                 (d)
hinge      + hinge loss (eqs. 1-2 without the classifier)               (e)
projection + projection discriminator                                   (f)
ac         + auxiliary classifier (eqs. 1-2 in full)                    (g)
=========  ==========================================================  =====
"""

from __future__ import annotations

import dataclasses
import os

import keras
from keras import ops

from tfav.errors import ConfigError
from tfav.models import soundnet
from tfav.models.generators import sound_to_image_generator
from tfav.models.projection import scene_discriminator
from tfav.objectives import losses, registry
from tfav.objectives.base import GANHyper, TwoOptimizerGAN, adam_pair, require
from tfav.objectives.registry import hyper_field

#: Table 4 rows (b)-(g) as switches; each row adds to the one before.
ABLATIONS = {
    "wgan_gp": dict(loss="wgan_gp", spectral_norm=False, head="concat", classifier=False),
    "cgan": dict(loss="cross_entropy", spectral_norm=False, head="concat", classifier=False),
    "sn": dict(loss="cross_entropy", spectral_norm=True, head="concat", classifier=False),
    "hinge": dict(loss="hinge", spectral_norm=True, head="concat", classifier=False),
    "projection": dict(loss="hinge", spectral_norm=True, head="projection", classifier=False),
    "ac": dict(loss="hinge", spectral_norm=True, head="projection", classifier=True),
}
TABLE4_ROWS = dict(zip(ABLATIONS, "bcdefg", strict=True))
LOSSES = ("wgan_gp", "cross_entropy", "hinge")


def ablation(name: str) -> dict:
    """The switches of one Table 4 row (see the module docstring)."""
    if name not in ABLATIONS:
        raise ConfigError(f"unknown ablation '{name}' (known: {', '.join(ABLATIONS)})")
    return dict(ABLATIONS[name])


@keras.saving.register_keras_serializable(package="tfav")
class SceneGAN(TwoOptimizerGAN):
    """Conditional GAN from a sound vector (Wan et al. 2019, eqs. 1-2, Table 4).

    Per batch ``{"condition", "target"[, "label"]}``: the frozen
    ``condition_encoder`` (a time-averaged spectral feature or SoundNet pool5)
    maps ``condition`` to the sound vector ``s``; ``d_steps`` discriminator
    steps then ``g_steps`` generator steps, each with fresh noise ``z``
    (sec. 4.3 and 5: "we train generator five times per each update of
    discriminator"). Sub-models are called with ``training=True`` so that the
    spectral-norm power iteration runs.

    The class ``c`` of eqs. (1)-(2) comes from SoundNet / Inception in the
    paper; here it is the pair's dataset label (``batch["label"]``).

    Args:
        generator: ``[s, z] -> image``.
        discriminator: ``[image, s] -> score`` or ``-> [score, class_logits]``.
        condition_encoder: Frozen ``condition -> s``; ``None`` when the batch
            already holds ``s``.
        z_dim: Noise width (10 in the paper).
        loss: ``"wgan_gp"``, ``"cross_entropy"`` or ``"hinge"``.
        classifier: Use the discriminator's auxiliary classifier (row g).
        g_steps: Generator steps per discriminator step (5 in the paper).
        d_steps: Discriminator steps per iteration.
        gp_weight: Gradient penalty weight for ``wgan_gp`` (10, Gulrajani et al.).
        seed: Seed of the noise.
        generator_average: Momentum of the generator weight average that
            :meth:`generate` samples from (0: the trained weights, the paper's
            setting; see ``TwoOptimizerGAN._init_averaged_generator``).
    """

    CONFIG = ("z_dim", "loss", "classifier", "g_steps", "d_steps", "gp_weight", "seed",
              "generator_average")

    def __init__(self, generator, discriminator, condition_encoder=None, z_dim=100,
                 loss="hinge", classifier=False, g_steps=5, d_steps=1, gp_weight=10.0,
                 seed=None, generator_average=0.0, **kwargs):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ConfigError(f"unknown loss '{loss}' (known: {', '.join(LOSSES)})")
        if g_steps < 1 or d_steps < 1:
            raise ConfigError(f"g_steps and d_steps must be >= 1, got {g_steps}, {d_steps}")
        self.generator = generator
        self.discriminator = discriminator
        self.condition_encoder = condition_encoder
        if condition_encoder is not None:
            condition_encoder.trainable = False
        self.z_dim, self.loss, self.classifier = int(z_dim), loss, bool(classifier)
        self.g_steps, self.d_steps, self.gp_weight = int(g_steps), int(d_steps), float(gp_weight)
        self.seed = seed
        self._init_averaged_generator(generator_average)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.make_trackers(["d_loss", "g_loss", "real_score", "fake_score"]
                           + (["class_loss"] if self.classifier else [])
                           + (["gradient_penalty"] if loss == "wgan_gp" else []))
        self.built = True

    def _d(self, image, s, training):
        out = self.discriminator([image, s], training=training)
        if isinstance(out, list | tuple):
            return out[0], out[1]
        return out, None

    def _adversarial(self, real, fake):
        if self.loss == "hinge":
            return losses.hinge_discriminator_loss(real, fake)
        if self.loss == "wgan_gp":
            return losses.wasserstein_discriminator_loss(real, fake)
        return losses.gan_cls_discriminator_loss(real, None, fake)

    def _generator_adversarial(self, fake):
        if self.loss == "cross_entropy":
            return losses.gan_cls_generator_loss(fake)
        return losses.hinge_generator_loss(fake)  # = -E[D(G(s, z), s)] for WGAN too

    def _class_loss(self, class_logits, label):
        if not self.classifier or class_logits is None:
            return 0.0
        return losses.auxiliary_classifier_loss(class_logits, label)

    def discriminator_loss(self, batch, s, fake, training=True):
        """Eq. (2) (or the row's loss); returns ``(loss, real, fake, class, gp)``."""
        target = ops.cast(batch["target"], "float32")
        real, real_class = self._d(target, s, training)
        fake_score, _ = self._d(fake, s, training)
        loss = self._adversarial(real, fake_score)
        class_loss = self._class_loss(real_class, batch.get("label"))
        gp = 0.0
        if self.loss == "wgan_gp":
            gp = losses.wasserstein_gradient_penalty(
                lambda inputs: self.discriminator(inputs, training=training), target, fake, s,
                seed=self.seed_generator,
            )
        return loss + class_loss + self.gp_weight * gp, real, fake_score, class_loss, gp

    def generator_loss(self, batch, s, fake, training=True):
        """Eq. (1): ``-E[D(G(s, z), s) + log P_C(c | G(s, z))]`` (or the row's loss)."""
        score, class_logits = self._d(fake, s, training)
        return self._generator_adversarial(score) + self._class_loss(
            class_logits, batch.get("label")
        )

    def train_step(self, batch):
        if self.classifier:
            require(batch, "label", why="the auxiliary classifier needs")
        s = self.encoding_of(batch)
        n = ops.shape(s)[0]
        for _ in range(self.d_steps):
            fake = self.generator([s, self.noise(n)], training=True)
            d_loss, real, fake_score, class_loss, gp = self.minimize(
                lambda: self.discriminator_loss(batch, s, fake),  # noqa: B023 (called now)
                self.d_optimizer, self.discriminator.trainable_weights)

        def g_loss_fn():
            fake = self.generator([s, self.noise(n)], training=True)
            return (self.generator_loss(batch, s, fake),)

        for _ in range(self.g_steps):
            (g_loss,) = self.minimize(g_loss_fn, self.g_optimizer,
                                      self.generator.trainable_weights)
        self.update_averaged_generator()
        return self._track(d_loss, g_loss, real, fake_score, class_loss, gp)

    def test_step(self, batch):
        s = self.encoding_of(batch)
        fake = self.generator([s, self.noise(ops.shape(s)[0])], training=False)
        d_loss, real, fake_score, class_loss, gp = self.discriminator_loss(
            batch, s, fake, training=False
        )
        g_loss = self.generator_loss(batch, s, fake, training=False)
        return self._track(d_loss, g_loss, real, fake_score, class_loss, gp)

    def _track(self, d_loss, g_loss, real, fake, class_loss, gp):
        return self.track({"d_loss": d_loss, "g_loss": g_loss, "real_score": ops.mean(real),
                           "fake_score": ops.mean(fake), "class_loss": class_loss,
                           "gradient_penalty": gp})

    def generate(self, condition, z=None, seed=None):
        """Images for a batch of conditions (inference mode); ``z`` drawn when ``None``."""
        s = self.encode(condition)
        if z is None:
            z = self.noise(ops.shape(s)[0], seed=seed)
        return self.sampling_generator([s, ops.cast(z, s.dtype)], training=False)


def scene_gan(condition_dim, num_classes, ablation_name="ac", condition_encoder=None, z_dim=100,
              base_filters=64, image_size=64, g_steps=5, d_steps=1, learning_rate=2e-4,
              beta_1=0.5, seed=None, upsampling="deconv", generator_average=0.0):
    """A compiled :class:`SceneGAN` for one Table 4 row (Wan et al. 2019, sec. 5).

    The generator is the S2I generator
    (``tfav.models.generators.sound_to_image_generator``, four deconvolutions
    or, with ``upsampling="resize"``, resize-convolutions) taking ``s`` as its
    condition; the discriminator is ``tfav.models.projection.scene_discriminator``
    with the row's switches. Wan et al. draw z of width 10; tfav's default is 100
    (``--z-dim 10`` for theirs).
    """
    sw = ablation(ablation_name)
    generator = sound_to_image_generator(encoding_dim=condition_dim, z_dim=z_dim,
                                         base_filters=base_filters, image_size=image_size,
                                         upsampling=upsampling)
    discriminator = scene_discriminator(
        condition_dim, base_filters=base_filters, image_size=image_size, head=sw["head"],
        num_classes=num_classes if sw["classifier"] else 0, spectral_norm=sw["spectral_norm"],
        batch_norm=sw["loss"] != "wgan_gp",
    )
    model = SceneGAN(generator, discriminator, condition_encoder, z_dim=z_dim, loss=sw["loss"],
                     classifier=sw["classifier"], g_steps=g_steps, d_steps=d_steps, seed=seed,
                     generator_average=generator_average)
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                  g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1))
    return model


@dataclasses.dataclass
class SceneHyper(GANHyper):
    """Hyperparameters of Wan et al.'s model (a2i_scene)."""

    ablation: str = hyper_field(
        "ac", "a2i_scene: Wan et al. Table 4 row (b)-(g) (default ac, the full model)",
        tune=("choice", ["cgan", "sn", "hinge", "projection", "ac"]), choices=tuple(ABLATIONS))
    features: str = hyper_field(
        "fbank", "a2i tasks: sound vector (Wan et al. Table 2; default fbank)",
        choices=("spectrogram", "fbank", "mfcc", "soundnet"))
    # Wan et al. sec. 5: "we train generator five times per each update of discriminator".
    g_per_d: int = hyper_field(5, "a2i_scene: generator steps per discriminator step "
                               "(default 5)", tune=("choice", [1, 2, 5]), low=1)


def sound_vector_source(task, hyper, resources):
    """SoundNet-8 for ``features="soundnet"``: published weights, or trained on the labels
    (``None`` for the spectral features, which need no network); the a2i tasks' hook."""
    if hyper.features != "soundnet":
        return None, {"sound_vector": f"{hyper.features} averaged over time"}
    weights = resources.explicit("soundnet_weights")
    if weights:
        model = soundnet.soundnet8()
        soundnet.load_soundnet_weights(model, weights,
                                       allow_pickle=bool(resources.explicit("allow_pickle")))
        resources.log(f"[tfav] SoundNet-8 with published weights from {weights}")
        return model, {"sound_vector": "SoundNet-8 pool5 (256-d), published weights "
                                       f"{os.path.abspath(weights)}"}
    model = resources.dependency("soundnet")
    return model, {"sound_vector": "SoundNet-8 pool5 (256-d), trained on this dataset's labels "
                                   "(no weight file)"}


def standardize_sound_vector(model, dataset, log=print, batches: int = 8):
    """Standardise the sound vector with statistics of ``batches`` training batches."""
    waves = [b["condition"] for b in dataset.take(batches)]
    soundnet.fit_standardization(model.condition_encoder, waves)


def recompile_for_d_rate(model, hyper, learning_rate):
    """Give D its own learning rate when ``d_learning_rate`` differs from G's."""
    if hyper.d_learning_rate and hyper.d_learning_rate != learning_rate:
        d_optimizer, _ = adam_pair(hyper, learning_rate)
        model.compile(d_optimizer=d_optimizer, g_optimizer=model.g_optimizer)


def build(ctx: registry.BuildContext) -> SceneGAN:
    """Wan et al.'s model for the ``ablation`` row on the ``features`` sound vector."""
    hyper = ctx.hyper
    encoder = soundnet.sound_feature_encoder(hyper.features, soundnet=ctx.encoder)
    model = scene_gan(
        soundnet.feature_dim(encoder), ctx.num_classes, hyper.ablation, condition_encoder=encoder,
        z_dim=hyper.z_dim, base_filters=ctx.base_filters, image_size=ctx.image_size,
        g_steps=hyper.g_per_d, learning_rate=ctx.learning_rate, beta_1=hyper.beta_1,
        seed=ctx.seed, upsampling=hyper.upsampling, generator_average=hyper.generator_average,
    )
    recompile_for_d_rate(model, hyper, ctx.learning_rate)
    return model


OBJECTIVE = registry.register(registry.Objective(
    "scene_gan", SceneHyper, build, condition_encoder=sound_vector_source,
    prepare=standardize_sound_vector))
