"""Conditional GAN with matching-aware discriminator (GAN-CLS), Chen et al. sec. 3.2.

One ``keras.Model`` wraps a frozen condition encoder, a generator and a
discriminator built by ``tfav.models``; ``fit`` runs the adversarial training
of Chen et al. eqs. (3)-(7) on batches
``{"condition", "target"[, "wrong_target"]}``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

import tfav.models  # noqa: F401  (registers the custom layers of saved sub-models)
from tfav.errors import ConfigError, DataError
from tfav.objectives.augment import diff_augment, parse_policy
from tfav.objectives.base import TwoOptimizerGAN
from tfav.objectives.losses import (
    auxiliary_classifier_loss,
    gan_cls_discriminator_loss,
    gan_cls_generator_loss,
)


@keras.saving.register_keras_serializable(package="tfav")
class ConditionalGAN(TwoOptimizerGAN):
    """GAN-CLS training of a conditional generator (Chen et al. 2017, sec. 3.2).

    Per batch: the frozen encoder turns ``condition`` into the 128-d encoding
    (the generator and discriminator compress it with their own ``phi``); one
    discriminator step on eq. (4) with real, wrong and fake pairs, then
    ``g_steps`` generator steps on eq. (3) with fresh noise. With
    ``use_wrong_pairs=False`` (S2I-N) the discriminator sees only real and
    fake pairs.

    A discriminator with a second output, class logits (``num_classes`` in
    ``tfav.models.discriminators``), is an auxiliary classifier (Odena et al.
    2017; Wan et al. eq. 2's last term): D also minimises the cross-entropy of
    the real samples' classes, and G that of its samples for the condition's
    class. Batches then need ``label``. Not in Chen et al.

    Args:
        generator: ``[encoding, z] -> sample`` (e.g. ``sound_to_image_generator``).
        discriminator: ``[sample, encoding] -> logit`` (or ``[logit, class_logits]``).
        condition_encoder: Frozen ``condition -> encoding`` (e.g. the sound
            classifier cut at ``encoding`` for S2I, the image one for I2S).
        z_dim: Noise width; must match the generator's ``z`` input.
        use_wrong_pairs: Use ``wrong_target`` in the discriminator loss.
        seed: Seed of the noise ``SeedGenerator``.
        g_steps: Generator steps per discriminator step.
        generator_average: Momentum of the moving average of the generator's
            weights that :meth:`generate` samples from (0: no averaging, the
            paper's setting; see ``TwoOptimizerGAN._init_averaged_generator``).
        augment: DiffAugment policy for the images D sees in training, e.g.
            ``"translation,cutout"`` (``tfav.objectives.augment``; S2I only;
            empty: none, the paper's setting).

    Example:
        >>> gan = ConditionalGAN(g, d, sound_encoder, seed=0)
        >>> gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
        ...             g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
        >>> gan.fit(dataset_of_dicts, epochs=200)
        >>> images = gan.generate(lms_batch)
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        condition_encoder: keras.Model,
        z_dim: int = 100,
        use_wrong_pairs: bool = True,
        seed: int | None = None,
        g_steps: int = 1,
        generator_average: float = 0.0,
        augment: str = "",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.condition_encoder = condition_encoder
        self.condition_encoder.trainable = False
        self.z_dim = int(z_dim)
        self.use_wrong_pairs = bool(use_wrong_pairs)
        self.seed = seed
        self.g_steps = int(g_steps)
        self._init_averaged_generator(generator_average)
        self.augment = ",".join(parse_policy(augment))
        if self.augment and len(generator.outputs[0].shape) != 4:
            raise ConfigError("augment applies to image samples (S2I) only")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")
        self.wrong_score_tracker = keras.metrics.Mean(name="wrong_score")
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")
        self.classifier = len(discriminator.outputs) == 2
        self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
        # The sub-models are built functional models; nothing is left to build.
        self.built = True

    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker]
        if self.use_wrong_pairs:
            trackers.append(self.wrong_score_tracker)
        trackers.append(self.fake_score_tracker)
        return [*trackers, self.class_loss_tracker] if self.classifier else trackers

    def _noise(self, batch_size, seed=None):
        return self.replica_noise(
            batch_size, self.z_dim, self.seed_generator if seed is None else seed
        )

    def _encode(self, condition):
        return ops.stop_gradient(self.condition_encoder(condition, training=False))

    def _d(self, sample, encoding, training):
        """D's ``(logit, class logits or None)`` for ``(sample, encoding)``, the
        sample augmented in training."""
        if training and self.augment:
            sample = diff_augment(sample, self.augment, self.seed_generator)
        out = self.discriminator([sample, encoding], training=training)
        return tuple(out) if self.classifier else (out, None)

    def _class_loss(self, class_logits, batch):
        if not self.classifier:
            return 0.0
        if "label" not in batch:
            raise DataError("batch has no 'label', which the auxiliary classifier needs")
        return auxiliary_classifier_loss(class_logits, batch["label"])

    def _scores(self, batch, encoding, fake, training):
        """D's logits for real, wrong (or ``None``) and fake pairs, and its
        class losses on the real and the fake samples (0 without a classifier)."""
        target = ops.convert_to_tensor(batch["target"], dtype=encoding.dtype)
        real, real_classes = self._d(target, encoding, training)
        wrong = None
        if self.use_wrong_pairs:
            if "wrong_target" not in batch:
                raise DataError(
                    "batch has no 'wrong_target': sample wrong pairs or set use_wrong_pairs=False"
                )
            wrong_target = ops.convert_to_tensor(batch["wrong_target"], dtype=encoding.dtype)
            wrong, _ = self._d(wrong_target, encoding, training)
        fake, fake_classes = self._d(fake, encoding, training)
        class_losses = self._class_loss(real_classes, batch), self._class_loss(fake_classes, batch)
        return real, wrong, fake, class_losses

    def _track(self, d_loss, g_loss, real, wrong, fake, class_loss=0.0):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(ops.mean(ops.sigmoid(real)))
        if wrong is not None:
            self.wrong_score_tracker.update_state(ops.mean(ops.sigmoid(wrong)))
        self.fake_score_tracker.update_state(ops.mean(ops.sigmoid(fake)))
        self.class_loss_tracker.update_state(class_loss)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, batch):
        encoding = self._encode(batch["condition"])
        batch_size = ops.shape(encoding)[0]

        fake = self.generator([encoding, self._noise(batch_size)], training=True)
        with tf.GradientTape() as tape:
            real, wrong, fake_logits, (real_class_loss, _) = self._scores(
                batch, encoding, fake, training=True)
            d_loss = gan_cls_discriminator_loss(real, wrong, fake_logits) + real_class_loss
            scaled = self.scaled_loss(d_loss, self.d_optimizer)
        d_weights = self.discriminator.trainable_weights
        d_grads = tape.gradient(scaled, d_weights)
        self.d_optimizer.apply_gradients(zip(d_grads, d_weights, strict=True))

        for _ in range(self.g_steps):
            z = self._noise(batch_size)
            with tf.GradientTape() as tape:
                fake = self.generator([encoding, z], training=True)
                logit, classes = self._d(fake, encoding, training=True)
                fake_class_loss = self._class_loss(classes, batch)
                g_loss = gan_cls_generator_loss(logit) + fake_class_loss
                scaled = self.scaled_loss(g_loss, self.g_optimizer)
            g_weights = self.generator.trainable_weights
            g_grads = tape.gradient(scaled, g_weights)
            self.g_optimizer.apply_gradients(zip(g_grads, g_weights, strict=True))
        self.update_averaged_generator()
        return self._track(d_loss, g_loss, real, wrong, fake_logits, fake_class_loss)

    def test_step(self, batch):
        """The losses of ``train_step`` in inference mode, without updates."""
        encoding = self._encode(batch["condition"])
        fake = self.generator([encoding, self._noise(ops.shape(encoding)[0])], training=False)
        real, wrong, fake_logits, (real_class_loss, fake_class_loss) = self._scores(
            batch, encoding, fake, training=False)
        d_loss = gan_cls_discriminator_loss(real, wrong, fake_logits) + real_class_loss
        g_loss = gan_cls_generator_loss(fake_logits) + fake_class_loss
        return self._track(d_loss, g_loss, real, wrong, fake_logits, fake_class_loss)

    def generate(self, condition, z=None, seed=None):
        """Generate samples for a batch of conditions (inference mode).

        Args:
            condition: What the condition encoder takes (LMS for S2I, images
                for I2S), batched.
            z: Noise ``[B, z_dim]``; drawn from ``seed`` (an int or a
                ``SeedGenerator``) or the model's own generator when ``None``.
            seed: Seed for the noise when ``z`` is not given.

        Returns:
            The generator's output for ``condition``.
        """
        encoding = self.condition_encoder(condition, training=False)
        if z is None:
            z = self._noise(ops.shape(encoding)[0], seed=seed)
        z = ops.convert_to_tensor(z, dtype=encoding.dtype)
        return self.sampling_generator([encoding, z], training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            condition_encoder=keras.saving.serialize_keras_object(self.condition_encoder),
            z_dim=self.z_dim,
            use_wrong_pairs=self.use_wrong_pairs,
            seed=self.seed,
            g_steps=self.g_steps,
            generator_average=self.generator_average,
            augment=self.augment,
        )
        return config
