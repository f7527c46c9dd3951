"""Conditional GAN with matching-aware discriminator (GAN-CLS), Chen et al. sec. 3.2.

One ``keras.Model`` wraps a frozen condition encoder, a generator and a
discriminator built by ``tfav.models``; ``fit`` runs the adversarial training
of Chen et al. eqs. (3)-(7) on batches
``{"condition", "target"[, "wrong_target"]}``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import tfav.models  # noqa: F401  (registers the custom layers of saved sub-models)
from tfav import tasks
from tfav.data.wrong_pairs import hard_wrong_pair_weights
from tfav.errors import ConfigError
from tfav.models import discriminators, generators
from tfav.objectives import registry
from tfav.objectives.augment import diff_augment, parse_policy
from tfav.objectives.base import GANHyper, TwoOptimizerGAN, adam_pair, require
from tfav.objectives.losses import (
    auxiliary_classifier_loss,
    gan_cls_discriminator_loss,
    gan_cls_generator_loss,
    mode_seeking_loss,
)
from tfav.objectives.registry import hyper_field
from tfav.objectives.supervised import encoder_of


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
        mode_seeking_weight: Weight of the mode-seeking term (Mao et al. 2019,
            ``losses.mode_seeking_loss``): each G step draws two noises per
            condition and is also rewarded for images that differ with them
            (0: off, the paper's setting).
        r1_weight: Weight ``gamma`` of the R1 gradient penalty on real pairs
            (Mescheder et al. 2018; ``gamma / 2 * E||grad_x D(x, c)||^2``; 0: off,
            the paper's setting).
        joint_d_batch: Score real, wrong and fake samples in one call of D (and, in
            G's step, the fakes beside the real batch), so that D's batch norm
            normalises them together; separately (the default, DCGAN's practice),
            each batch is normalised by its own statistics and a shift that all
            fakes share (washed-out colour, low contrast) is invisible to D's
            normalised layers.

    Example:
        >>> gan = ConditionalGAN(g, d, sound_encoder, seed=0)
        >>> gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
        ...             g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
        >>> gan.fit(dataset_of_dicts, epochs=200)
        >>> images = gan.generate(lms_batch)
    """

    SUB_MODELS = ("generator", "discriminator", "condition_encoder")
    CONFIG = ("z_dim", "use_wrong_pairs", "seed", "g_steps", "generator_average", "augment",
              "mode_seeking_weight", "r1_weight", "joint_d_batch")

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
        mode_seeking_weight: float = 0.0,
        r1_weight: float = 0.0,
        joint_d_batch: bool = False,
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
        self.mode_seeking_weight = float(mode_seeking_weight)
        self.r1_weight = float(r1_weight)
        self.joint_d_batch = bool(joint_d_batch)
        self._init_averaged_generator(generator_average)
        self.augment = ",".join(parse_policy(augment))
        if self.augment and len(generator.outputs[0].shape) != 4:
            raise ConfigError("augment applies to image samples (S2I) only")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.classifier = len(discriminator.outputs) == 2
        self.make_trackers(["d_loss", "g_loss", "real_score"]
                           + (["wrong_score"] if self.use_wrong_pairs else [])
                           + ["fake_score"] + (["class_loss"] if self.classifier else []))
        # The sub-models are built functional models; nothing is left to build.
        self.built = True

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
        require(batch, "label", why="the auxiliary classifier needs")
        return auxiliary_classifier_loss(class_logits, batch["label"])

    def _scores(self, batch, encoding, fake, training):
        """D's logits for real, wrong (or ``None``) and fake pairs, and its
        class losses on the real and the fake samples (0 without a classifier)."""
        samples = [ops.convert_to_tensor(batch["target"], dtype=encoding.dtype)]
        if self.use_wrong_pairs:
            require(batch, "wrong_target", why="wrong pairs need (sample them, or set "
                    "use_wrong_pairs=False)")
            samples.append(ops.convert_to_tensor(batch["wrong_target"], dtype=encoding.dtype))
        samples.append(fake)
        if self.joint_d_batch:  # one batch for D's batch norm, split back
            logits, classes = self._d(ops.concatenate(samples, axis=0),
                                      ops.concatenate([encoding] * len(samples), axis=0),
                                      training)
            logits = ops.split(logits, len(samples), axis=0)
            classes = (ops.split(classes, len(samples), axis=0) if classes is not None
                       else [None] * len(samples))
            scores = list(zip(logits, classes, strict=True))
        else:
            scores = [self._d(s, encoding, training) for s in samples]
        (real, real_classes), (fake, fake_classes) = scores[0], scores[-1]
        wrong = scores[1][0] if self.use_wrong_pairs else None
        class_losses = self._class_loss(real_classes, batch), self._class_loss(fake_classes, batch)
        return real, wrong, fake, class_losses

    def _d_fake(self, fake, condition, batch, encoding):
        """D's ``(logit, class logits)`` for G's step on ``fake`` samples of
        ``condition``; with ``joint_d_batch`` scored in one batch with the real pairs
        ``(batch["target"], encoding)``, as in the discriminator step."""
        if not self.joint_d_batch:
            return self._d(fake, condition, training=True)
        target = ops.convert_to_tensor(batch["target"], dtype=encoding.dtype)
        n = ops.shape(target)[0]
        logit, classes = self._d(ops.concatenate([target, fake], axis=0),
                                 ops.concatenate([encoding, condition], axis=0), training=True)
        return logit[n:], None if classes is None else classes[n:]

    @staticmethod
    def _track_values(d_loss, g_loss, real, wrong, fake, class_loss=0.0):
        return {"d_loss": d_loss, "g_loss": g_loss, "real_score": ops.mean(ops.sigmoid(real)),
                "wrong_score": None if wrong is None else ops.mean(ops.sigmoid(wrong)),
                "fake_score": ops.mean(ops.sigmoid(fake)), "class_loss": class_loss}

    def _track(self, *values):
        return self.track(self._track_values(*values))

    def _r1_penalty(self, batch, encoding):
        """R1 (Mescheder et al. 2018, eq. 9): the mean squared norm of the gradient
        of D's logit with respect to the real images, on the real pairs."""
        target = ops.convert_to_tensor(batch["target"], dtype=encoding.dtype)
        with tf.GradientTape() as tape:
            tape.watch(target)
            logit, _ = self._d(target, encoding, training=True)
            total = ops.sum(logit)
        grad = tape.gradient(total, target)
        return ops.mean(ops.sum(ops.square(grad), axis=list(range(1, len(grad.shape)))))

    def discriminator_step(self, batch, encoding, fake):
        """One D step on eq. (4) with real, wrong and ``fake`` pairs; returns
        ``(d_loss, real, wrong, fake)`` logits."""

        def d_loss_fn():
            real, wrong, fake_logits, (real_class_loss, _) = self._scores(
                batch, encoding, fake, training=True)
            loss = gan_cls_discriminator_loss(real, wrong, fake_logits) + real_class_loss
            if self.r1_weight:
                loss += self.r1_weight / 2 * self._r1_penalty(batch, encoding)
            return loss, real, wrong, fake_logits

        return self.minimize(d_loss_fn, self.d_optimizer, self.discriminator.trainable_weights)

    def train_step(self, batch):
        encoding = self.encoding_of(batch)
        batch_size = ops.shape(encoding)[0]

        fake = self.generator([encoding, self.noise(batch_size)], training=True)
        d_loss, real, wrong, fake_logits = self.discriminator_step(batch, encoding, fake)

        # With mode seeking, two noises per condition in one batch (Mao et al. 2019).
        copies = 2 if self.mode_seeking_weight else 1

        def g_loss_fn():  # eq. (3)
            condition = ops.concatenate([encoding] * copies, axis=0) if copies > 1 else encoding
            z = self.noise(copies * batch_size)
            fake = self.generator([condition, z], training=True)
            logit, classes = self._d_fake(fake, condition, batch, encoding)
            labels = batch if copies == 1 or "label" not in batch else {
                "label": ops.concatenate([batch["label"]] * copies, axis=0)}
            fake_class_loss = self._class_loss(classes, labels)
            loss = gan_cls_generator_loss(logit) + fake_class_loss
            if copies > 1:
                loss += self.mode_seeking_weight * mode_seeking_loss(
                    fake[:batch_size], fake[batch_size:], z[:batch_size], z[batch_size:])
            return loss, fake_class_loss

        for _ in range(self.g_steps):
            g_loss, fake_class_loss = self.minimize(
                g_loss_fn, self.g_optimizer, self.generator.trainable_weights)
        self.update_averaged_generator()
        return self._track(d_loss, g_loss, real, wrong, fake_logits, fake_class_loss)

    def test_step(self, batch):
        """The losses of ``train_step`` in inference mode, without updates."""
        encoding = self.encoding_of(batch)
        fake = self.generator([encoding, self.noise(ops.shape(encoding)[0])], training=False)
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
            z = self.noise(ops.shape(encoding)[0], seed=seed)
        z = ops.convert_to_tensor(z, dtype=encoding.dtype)
        return self.sampling_generator([encoding, z], training=False)


@dataclasses.dataclass
class ChenHyper(GANHyper):
    """Hyperparameters of the Chen et al. GANs (S2I-C, S2I-N, S2I-A, pose S2I, I2S)."""

    spectral_norm: bool = hyper_field(False, "spectral norm in Chen discriminators "
                                      "(default off)", tune=("boolean",))
    g_steps: int | None = hyper_field(
        None, "Chen and a2i_diverse GANs: generator steps per discriminator step (default: "
        "the task's; 2 for s2i_pose, 1 otherwise, the papers')", tune=("choice", [1, 2, 3]),
        task_default="g_steps", low=1)
    augment: str = hyper_field("", "Chen S2I GANs: DiffAugment of D's images, e.g. "
                               "translation,cutout or color,translation,cutout (default none)")
    # 0 = the uniform draw of Reed et al.
    hard_wrong_pairs: float = hyper_field(
        0.0, "S2I-C / S2I-A: share of wrong pairs whose category is drawn by how often the "
        "sound classifier mistakes the condition's category for it (default 0: uniform)",
        low=0.0, high=1.0)
    # Not in Chen et al. (Odena et al. 2017, as in Wan's row g).
    mode_seeking_weight: float = hyper_field(
        0.0, "Chen and a2i_diverse GANs: weight of the mode-seeking term of Mao et al. 2019, "
        "which rewards images that differ with z (default 0: off)",
        tune=("choice", [0.0, 0.5, 1.0, 2.0]), low=0.0)
    r1_weight: float = hyper_field(
        0.0, "Chen GANs: weight gamma of the R1 gradient penalty on real pairs (Mescheder et "
        "al. 2018; default 0: off)", tune=("choice", [0.0, 0.1, 1.0, 10.0]), low=0.0)
    joint_d_batch: bool | None = hyper_field(
        None, "Chen GANs: D scores real, wrong and fake pairs in one batch, so that its "
        "batch norm normalises them together (default: the task's; on for s2i_pose, off "
        "otherwise: separate batches, DCGAN's practice)", tune=("boolean",),
        task_default="joint_d_batch")
    minibatch_std: int = hyper_field(
        0, "Chen S2I GANs: group size of a minibatch standard-deviation channel in D "
        "(Karras et al. 2018), which lets D see how much a batch's images differ (default "
        "0: off)", tune=("choice", [0, 4]), low=0)
    aux_classifier: bool | None = hyper_field(
        None, "Chen GANs with several categories: D also classifies the instrument and G is "
        "trained to be classified as the condition's (Odena et al. 2017; default: the task's, "
        "on for i2s, off otherwise, the paper's)", task_default="aux_classifier")


def condition_encoder(task, hyper, resources):
    """The frozen 128-d encoder of the task's encoder task (Chen et al. sec. 3.1).

    On data with pose ground truth, ``task.pose_encoder`` (the sound -> pose
    regressor) replaces the classifier unless an encoder file is given.
    """
    name = task.encoder
    if task.pose_encoder and resources.index.has_pose and not resources.explicit(task.encoder):
        name = task.pose_encoder
        resources.log(f"[tfav] {task.name}: the data has pose ground truth, so the condition is "
                      f"the {name} encoding (--{task.encoder.replace('_', '-')} PATH to override)")
    model = resources.dependency(name, instrument=resources.instrument)
    return encoder_of(name, model), {"condition_encoder": name}


def dataset_options(task, hyper, resources):
    """With ``hard_wrong_pairs``: wrong-category draw weights from the sound classifier's
    confusion on the training sounds (``tfav.data.wrong_pairs.hard_wrong_pair_weights``)."""
    if not hyper.hard_wrong_pairs:
        return {}, {}
    if task.wrong_pairs != "other_category" or task.direction != "s2i" or task.condition != "lms":
        raise ConfigError(f"--hard-wrong-pairs: for S2I tasks with wrong-category pairs "
                          f"(s2i_instrument, s2i_ae), not {task.name}")
    classifier = resources.dependency("sound_encoder")
    index = resources.index
    sounds = tasks.make_dataset(tasks.get_task("sound_encoder"), index.root, "train",
                                batch_size=256, shuffle=False, drop_remainder=False)
    # Summed class probabilities rather than counts of argmax mistakes: a category the
    # classifier almost never gets wrong still has a graded "looks like" row.
    confusion = np.zeros((len(index.categories),) * 2)
    for lms, label in sounds:
        np.add.at(confusion, np.asarray(label), np.asarray(
            keras.ops.softmax(classifier(lms, training=False))))
    weights = hard_wrong_pair_weights(confusion, hyper.hard_wrong_pairs)
    others = weights - np.eye(len(weights))  # the diagonal (1) is not a wrong category
    rows = [f"{index.categories[c]} -> {index.categories[int(np.argmax(row))]} {row.max():.0%}"
            for c, row in enumerate(others)]
    resources.log(f"[tfav] hard wrong pairs ({hyper.hard_wrong_pairs:g}): each category's most "
                  "drawn wrong one: " + ", ".join(rows))
    return ({"wrong_pair_weights": weights},
            {"wrong_pair_weights": np.round(weights, 4).tolist()})


def build(ctx: registry.BuildContext) -> ConditionalGAN:
    """The compiled GAN-CLS model of a Chen task: S2I (Figs. 4-6) or I2S (Fig. 7) G and D."""
    task, hyper = ctx.task, ctx.hyper
    lr, bf = ctx.learning_rate, ctx.base_filters
    if ctx.encoder is None:
        raise ConfigError(f"task '{task.name}' needs a trained {task.encoder}")
    aux_classifier = registry.resolved(hyper, "aux_classifier", task)
    if aux_classifier and task.wrong_pairs == "same_category":
        raise ConfigError(f"--aux-classifier needs several categories; '{task.name}' trains one")
    classes = ctx.num_classes if aux_classifier else 0
    if task.direction == "s2i":
        generator = generators.sound_to_image_generator(
            z_dim=hyper.z_dim, base_filters=bf, image_size=ctx.image_size,
            upsampling=hyper.upsampling,
        )
        discriminator = discriminators.sound_to_image_discriminator(
            base_filters=bf, image_size=ctx.image_size, spectral_norm=hyper.spectral_norm,
            num_classes=classes, minibatch_std=hyper.minibatch_std,
        )
    else:
        generator = generators.image_to_sound_generator(
            z_dim=hyper.z_dim, base_filters=bf, upsampling=hyper.upsampling
        )
        discriminator = discriminators.image_to_sound_discriminator(
            base_filters=bf, spectral_norm=hyper.spectral_norm, num_classes=classes
        )
    model = ConditionalGAN(
        generator, discriminator, ctx.encoder, z_dim=hyper.z_dim,
        use_wrong_pairs=task.wrong_pairs is not None, g_steps=ctx.g_steps, seed=ctx.seed,
        generator_average=hyper.generator_average,
        augment=hyper.augment if task.direction == "s2i" else "",
        mode_seeking_weight=hyper.mode_seeking_weight, r1_weight=hyper.r1_weight,
        joint_d_batch=registry.resolved(hyper, "joint_d_batch", task),
    )
    d_optimizer, g_optimizer = adam_pair(hyper, lr)
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)
    return model


OBJECTIVE = registry.register(registry.Objective(
    "gan_cls", ChenHyper, build, condition_encoder=condition_encoder,
    dataset_options=dataset_options))
