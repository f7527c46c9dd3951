"""GAN-CLS with paired reconstruction: the noise carries what the sound does not say.

The sound determines the instrument, the pitch (the left hand) and the loudness,
but not the player, the room or the camera; a conditional GAN whose only signal
for those is the adversarial loss learns to ignore its noise. Every training pair
has its frame, so, as in BicycleGAN (Zhu et al. 2017, sec. 3.3-3.4), an encoder
``E`` maps the real frame ``I`` to a Gaussian code and two more terms join the
GAN-CLS generator loss of Chen et al. eq. (3):

- cVAE-GAN: ``z_e ~ N(mu_E(I), sigma_E(I))``, ``|G(phi(a), z_e) - I|_1`` weighted by
  ``reconstruction_weight`` (10 in BicycleGAN), plus ``kl_weight`` (0.01) times
  ``KL(N(mu, sigma) || N(0, I))``, so that codes look like the prior noise;
- cLR: ``|mu_E(G(phi(a), z)) - z|_1`` weighted by ``latent_weight`` (0.5): the noise
  of a random draw must be recoverable from its image, so different ``z`` give
  different images;
- with ``feature_matching_weight``, the discriminator feature matching of
  pix2pixHD (Wang et al. 2018, eq. 4): ``sum_i 1/N_i |D_i(I, a) - D_i(G(phi(a), z_e), a)|_1``
  over the outputs ``D_i`` of D's strided blocks (``down<i>_lrelu``), so that the
  reconstruction is asked to match the frame in D's features rather than only pixel
  by pixel, which blurs what the code leaves uncertain.

The discriminator step is eq. (4) unchanged (real, wrong and random-``z`` fake
pairs). Samples use ``z ~ N(0, I)`` as before. Not in Chen et al.
"""

from __future__ import annotations

import dataclasses
import re

import keras
from keras import ops

from tfav.models.encoders import latent_encoder
from tfav.objectives import gan_cls, registry
from tfav.objectives.gan_cls import ChenHyper, ConditionalGAN
from tfav.objectives.losses import gan_cls_generator_loss
from tfav.objectives.registry import hyper_field


@keras.saving.register_keras_serializable(package="tfav")
class PairedGAN(ConditionalGAN):
    """:class:`ConditionalGAN` plus the encoder ``E`` and the cVAE-GAN and cLR terms.

    Args:
        image_encoder: ``image -> [mu, logvar]`` of width ``z_dim``
            (``tfav.models.encoders.latent_encoder``), trained with G.
        reconstruction_weight, kl_weight, latent_weight, feature_matching_weight:
            weights of the four terms.
        Others: as :class:`ConditionalGAN`.
    """

    SUB_MODELS = (*ConditionalGAN.SUB_MODELS, "image_encoder")
    CONFIG = (*ConditionalGAN.CONFIG, "reconstruction_weight", "kl_weight", "latent_weight",
              "feature_matching_weight")

    def __init__(self, generator, discriminator, condition_encoder, image_encoder,
                 reconstruction_weight=10.0, kl_weight=0.01, latent_weight=0.5,
                 feature_matching_weight=0.0, **kwargs):
        super().__init__(generator, discriminator, condition_encoder, **kwargs)
        self.image_encoder = image_encoder
        self.reconstruction_weight = float(reconstruction_weight)
        self.kl_weight = float(kl_weight)
        self.latent_weight = float(latent_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self.discriminator_features = None
        if self.feature_matching_weight:  # shares D's weights; not saved on its own
            blocks = [layer.output for layer in discriminator.layers
                      if re.fullmatch(r"down\d+_lrelu", layer.name)]
            self.discriminator_features = keras.Model(discriminator.inputs, blocks)
        self.make_trackers([*self.trackers, "reconstruction", "kl", "latent"]
                           + (["feature_matching"] if self.feature_matching_weight else []))

    def feature_matching(self, target, rebuilt, encoding):
        """pix2pixHD's eq. 4: the mean L1 distance between D's block outputs for the
        real frame and for its reconstruction, summed over the blocks."""
        real = self.discriminator_features([target, encoding], training=True)
        fake = self.discriminator_features([rebuilt, encoding], training=True)
        return sum(ops.mean(ops.abs(ops.cast(f, "float32")
                                    - ops.stop_gradient(ops.cast(r, "float32"))))
                   for r, f in zip(real, fake, strict=True))

    def g_variables(self):
        return self.generator.trainable_variables + self.image_encoder.trainable_variables

    def train_step(self, batch):
        encoding = self.encoding_of(batch)
        n = ops.shape(encoding)[0]
        target = ops.convert_to_tensor(batch["target"], dtype=encoding.dtype)
        fake = self.generator([encoding, self.noise(n)], training=True)
        d_loss, real, wrong, fake_logits = self.discriminator_step(batch, encoding, fake)  # eq. 4

        def g_loss_fn():
            z = self.noise(n)
            drawn = self.generator([encoding, z], training=True)
            logit, classes = self._d_fake(drawn, encoding, batch, encoding)
            class_loss = self._class_loss(classes, batch)
            adversarial = gan_cls_generator_loss(logit) + class_loss  # eq. (3)
            mu, logvar = self.image_encoder(target, training=True)  # float32 heads
            z_e = mu + ops.exp(0.5 * logvar) * self.noise(n)
            rebuilt = self.generator([encoding, z_e], training=True)
            reconstruction = ops.mean(ops.abs(ops.cast(rebuilt, "float32") - target))
            kl = ops.mean(ops.sum(ops.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)) * 0.5
            recovered, _ = self.image_encoder(drawn, training=True)
            latent = ops.mean(ops.abs(recovered - z))
            loss = (adversarial + self.reconstruction_weight * reconstruction
                    + self.kl_weight * kl + self.latent_weight * latent)
            matched = 0.0
            if self.feature_matching_weight:
                matched = self.feature_matching(target, rebuilt, encoding)
                loss += self.feature_matching_weight * matched
            return loss, class_loss, reconstruction, kl, latent, matched

        for _ in range(self.g_steps):
            g_loss, class_loss, reconstruction, kl, latent, matched = self.minimize(
                g_loss_fn, self.g_optimizer, self.g_variables())
        self.update_averaged_generator()
        return self.track({
            **self._track_values(d_loss, g_loss, real, wrong, fake_logits, class_loss),
            "reconstruction": reconstruction, "kl": kl, "latent": latent,
            "feature_matching": matched})


@dataclasses.dataclass
class PairedHyper(ChenHyper):
    """:class:`ChenHyper` plus the weights of the paired terms (BicycleGAN's values)."""

    reconstruction_weight: float = hyper_field(
        10.0, "paired recipe: weight of the L1 reconstruction of the paired frame from its "
        "encoded noise (default 10)", low=0.0)
    kl_weight: float = hyper_field(0.01, "paired recipe: weight of the KL of the encoded "
                                   "noise to N(0, I) (default 0.01)", low=0.0)
    latent_weight: float = hyper_field(0.5, "paired recipe: weight of recovering z from "
                                       "its image (default 0.5)", low=0.0)
    feature_matching_weight: float = hyper_field(
        0.0, "paired recipe: weight of pix2pixHD's feature matching of the reconstruction "
        "to the frame in D's block outputs (default 0: off)", low=0.0)


def build(ctx: registry.BuildContext) -> PairedGAN:
    """Chen's G and D (``gan_cls.build``) with the encoder ``E`` beside them."""
    base = gan_cls.build(ctx)
    hyper = ctx.hyper
    encoder = latent_encoder(hyper.z_dim, image_size=ctx.image_size,
                             base_filters=ctx.base_filters)
    model = PairedGAN(
        base.generator, base.discriminator, base.condition_encoder, encoder,
        reconstruction_weight=hyper.reconstruction_weight, kl_weight=hyper.kl_weight,
        latent_weight=hyper.latent_weight,
        feature_matching_weight=hyper.feature_matching_weight, z_dim=base.z_dim,
        use_wrong_pairs=base.use_wrong_pairs, g_steps=base.g_steps, seed=base.seed,
        generator_average=base.generator_average, augment=base.augment,
        joint_d_batch=base.joint_d_batch,
    )
    model.compile(d_optimizer=base.d_optimizer, g_optimizer=base.g_optimizer)
    return model


OBJECTIVE = registry.register(registry.Objective(
    "paired_gan", PairedHyper, build, condition_encoder=gan_cls.condition_encoder,
    dataset_options=gan_cls.dataset_options))
