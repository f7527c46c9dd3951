"""GAN-CLS whose noise chooses a training take: the player, room and camera.

The sound determines the instrument, the pitch (the left hand) and the loudness, not
who plays, in which room, seen from where. Every pair of a dataset is cut from one
recording (a take: one player in one room before one camera), and a conditional GAN
whose noise is Gaussian alone averages the takes into one grey figure in a blended
room whatever the noise (noise spread 0.04-0.1 of the real frames'). Here the noise
names a take: its first ``K`` entries (``K`` = the training takes of the run's
instrument(s)) choose one by their argmax (:class:`tfav.models.blocks.TakeCode`; the
argmax of i.i.d. Gaussians is uniform, so ``z ~ N(0, I)`` draws every take equally
often), the other ``z_dim`` stay Gaussian. In training, the noise of each pair names
the pair's own take (a one-hot in those entries), and the generator loss of Chen et
al. eq. (3) gains the paired reconstruction of pix2pix (Isola et al. 2017, eq. 3)

    L_G = eq. (3) + lambda * |G(phi(a), z_take(a)) - I|_1,

``lambda`` = ``reconstruction_weight``: with the take given, the frame is nearly
determined by the sound (all but the inaudible bow), so the L1 term sharpens rather
than blurs, and each take's code must draw that take's player and room. The
discriminator step is eq. (4) unchanged, its fakes drawn with the pairs' takes (the
takes of real batches). Sampling is as before (``z ~ N(0, I)``): one noise, one
player and room, so a whole video keeps its performer. The names of the takes are
kept with the model (``takes``). Not in the papers.

With ``warmup_steps`` S > 0 the generator first learns the reconstruction alone: for
the first S training steps its loss is ``lambda`` times the L1 term (the eq. (3) terms
weigh 0), as SRGAN and ESRGAN (Wang et al. 2018, sec. 3.4) pre-train a PSNR-oriented
generator before the adversarial one; D trains from the first step on, so it knows the
real frames when its gradients reach G.

With ``take_backgrounds`` the generator draws a foreground and its mask over the
take's own background image (``tfav.models.blocks.TakeBackground``, the two-stream
generator of Vondrick et al. 2016, ``G = m * f + (1 - m) * b``): :func:`prepare` sets
each take's background to the per-pixel median of its training frames (the room and
the still parts of the player; the median drops what moves), and training refines it,
so the room is clean from the first step and the generator's steps go to the figure.

Over a background that already holds the room and the still parts of the player, the
plain L1 is nearly met by drawing nothing: the left hand and the lean move a few
pixels, and the mask learns to show the median pose whatever the sound. With
``motion_emphasis`` beta > 0 the L1 is weighed per pixel by how far the real frame is
from its take's background,

    w = (1 + beta * d / mean(d)) / (1 + beta),  d = mean_c |I - b_take|  (b held fixed),

so its mean weight stays 1 (the same total L1 weight) while a pixel at distance ``d``
from the background weighs ``1 + beta * d / mean(d)`` times one where the frame is the
background: the L1 goes to what moves (the hand, the lean, the bow), as the
motion-weighted losses of video prediction do. Needs ``take_backgrounds``.

With ``mask_weight`` mu > 0 the generator loss also has Vondrick et al.'s penalty on
the mask (sec. 3.1, ``lambda |m|_1``; here ``mu * mean(m)``): where the foreground has
nothing to draw (the room), the mask goes to zero and the background shows unmixed,
instead of a veil of the foreground's grain at the starting mask of about 0.12.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from tfav.data import layout
from tfav.errors import ConfigError
from tfav.models import discriminators, generators
from tfav.objectives import gan_cls, registry
from tfav.objectives.base import adam_pair, require
from tfav.objectives.gan_cls import ChenHyper, ConditionalGAN
from tfav.objectives.losses import gan_cls_generator_loss
from tfav.objectives.registry import hyper_field


def background_layer(generator):
    """The generator's ``TakeBackground`` layer, or None (a generator without take
    backgrounds)."""
    return next((layer for layer in generator.layers if layer.name == "take_background"),
                None)


@keras.saving.register_keras_serializable(package="tfav")
class TakeGAN(ConditionalGAN):
    """:class:`ConditionalGAN` whose noise's first ``len(takes)`` entries name a take.

    Args:
        takes: the training takes (recording names), in the order of the code.
        reconstruction_weight: ``lambda`` of the paired L1 term.
        z_dim: the whole noise width, the take entries included.
        Others: as :class:`ConditionalGAN`.
    """

    CONFIG = (*ConditionalGAN.CONFIG, "takes", "reconstruction_weight", "warmup_steps",
              "motion_emphasis", "mask_weight")

    def __init__(self, generator, discriminator, condition_encoder, takes=(),
                 reconstruction_weight=10.0, warmup_steps=0, motion_emphasis=0.0,
                 mask_weight=0.0, **kwargs):
        super().__init__(generator, discriminator, condition_encoder, **kwargs)
        self.takes = [str(t) for t in takes]
        if not self.takes or len(self.takes) >= self.z_dim:
            raise ConfigError(f"take codes: {len(self.takes)} takes for a noise of "
                              f"{self.z_dim} entries (need 1 <= takes < z_dim)")
        self.reconstruction_weight = float(reconstruction_weight)
        self.warmup_steps = int(warmup_steps)
        if self.warmup_steps < 0:
            raise ConfigError(f"take codes: warmup_steps must be >= 0, not {warmup_steps}")
        self.motion_emphasis = float(motion_emphasis)
        if self.motion_emphasis < 0:
            raise ConfigError(f"take codes: motion_emphasis must be >= 0, not "
                              f"{motion_emphasis}")
        if self.motion_emphasis > 0 and self._backgrounds() is None:
            raise ConfigError("take codes: motion_emphasis weighs the L1 by the distance "
                              "to the take's background; it needs take_backgrounds")
        self.mask_weight = float(mask_weight)
        if self.mask_weight < 0 or (self.mask_weight > 0 and self._backgrounds() is None):
            raise ConfigError(f"take codes: mask_weight {mask_weight} must be >= 0 and "
                              "needs take_backgrounds")
        self.make_trackers([*self.trackers, "reconstruction", "adversarial", "mask"])

    def pair_noise(self, take):
        """Noise whose take entries are the one-hot of ``take`` [B] (the rest Gaussian)."""
        z = self.noise(ops.shape(take)[0])
        code = ops.one_hot(take, len(self.takes), dtype=z.dtype)
        return ops.concatenate([code, z[:, len(self.takes):]], axis=-1)

    def _backgrounds(self):
        """The generator's take backgrounds ``[takes, S, S, 3]``, or None without them."""
        layer = background_layer(self.generator)
        return None if layer is None else layer.backgrounds

    def reconstruction_weights(self, target, take):
        """The per-pixel L1 weights ``[B, S, S, 1]`` (mean 1 per image): 1 without
        ``motion_emphasis``, else more where ``target`` differs from its take's
        background (module docstring)."""
        if self.motion_emphasis == 0:
            return 1.0
        background = ops.stop_gradient(ops.take(self._backgrounds(), take, axis=0))
        distance = ops.mean(ops.abs(target - ops.cast(background, target.dtype)), axis=-1,
                            keepdims=True)
        scale = ops.mean(distance, axis=(1, 2, 3), keepdims=True) + 1e-6
        beta = self.motion_emphasis
        return (1.0 + beta * distance / scale) / (1.0 + beta)

    def train_step(self, batch):
        require(batch, "take", why="take codes need (the pipeline adds it for --recipe "
                "take_gan)")
        encoding = self.encoding_of(batch)
        target = ops.convert_to_tensor(batch["target"], dtype=encoding.dtype)
        weights = self.reconstruction_weights(ops.cast(target, "float32"), batch["take"])
        fake = self.generator([encoding, self.pair_noise(batch["take"])], training=True)
        # 0 while the generator learns the reconstruction alone, then 1 (read before this
        # step's D update, so exactly the first warmup_steps steps are the warm-up).
        adversarial = ops.cast(ops.greater_equal(self.d_optimizer.iterations,
                                                 self.warmup_steps), "float32")
        d_loss, real, wrong, fake_logits = self.discriminator_step(batch, encoding, fake)  # eq. 4

        def g_loss_fn():
            drawn = self.generator([encoding, self.pair_noise(batch["take"])], training=True)
            logit, classes = self._d_fake(drawn, encoding, batch, encoding)
            class_loss = self._class_loss(classes, batch)
            reconstruction = ops.mean(weights * ops.abs(ops.cast(drawn, "float32")
                                                        - ops.cast(target, "float32")))
            # the mean mask of this call (TakeBackground's loss; 0 without backgrounds)
            mask = (ops.sum(ops.stack(self.generator.losses)) if self.generator.losses
                    else ops.zeros((), "float32"))
            loss = (adversarial * (gan_cls_generator_loss(logit) + class_loss)  # eq. (3)
                    + self.reconstruction_weight * reconstruction + self.mask_weight * mask)
            return loss, class_loss, reconstruction, mask

        for _ in range(self.g_steps):
            g_loss, class_loss, reconstruction, mask = self.minimize(
                g_loss_fn, self.g_optimizer, self.generator.trainable_weights)
        self.update_averaged_generator()
        return self.track({
            **self._track_values(d_loss, g_loss, real, wrong, fake_logits, class_loss),
            "reconstruction": reconstruction, "adversarial": adversarial, "mask": mask})


@dataclasses.dataclass
class TakeHyper(ChenHyper):
    """:class:`ChenHyper` plus the weight of the paired reconstruction."""

    reconstruction_weight: float = hyper_field(
        10.0, "take codes: weight of the L1 reconstruction of the paired frame from its "
        "take's code (default 10)", low=0.0)
    warmup_steps: int = hyper_field(
        0, "take codes: training steps in which G learns the L1 reconstruction alone "
        "before the adversarial terms join (default 0)", low=0)
    take_backgrounds: bool = hyper_field(
        False, "take codes: G draws a foreground and a mask over each take's background "
        "image, started at the median of the take's training frames (default off)")
    mask_offset: float = hyper_field(
        -2.0, "take backgrounds: offset of the foreground mask's logit; -2 lets the "
        "background show through at the start (mask about 0.12), 0 starts at one half")
    motion_emphasis: float = hyper_field(
        0.0, "take backgrounds: a pixel at distance d from its take's background weighs "
        "1 + this * d / mean(d) in the L1 (mean weight 1; default 0, the plain L1)",
        low=0.0)
    mask_weight: float = hyper_field(
        0.0, "take backgrounds: weight of the mean foreground mask in G's loss (Vondrick "
        "et al.'s mask L1; default 0)", low=0.0)


def dataset_options(task, hyper, resources):
    """Every training pair's take: its recording's position among the training takes of
    the run's instrument(s) (``tfav.data.layout.takes``)."""
    if task.direction != "s2i" or task.kind != "gan" or task.condition != "lms":
        raise ConfigError(f"--recipe take_gan: for the Chen S2I tasks, not {task.name}")
    options, notes = gan_cls.dataset_options(task, hyper, resources)
    index = resources.index
    if not hasattr(index, "pairs"):
        raise ConfigError(f"{index.root}: a TFRecord folder keeps no recording of each pair, "
                          "which take codes need (train from the pair folder, or --recipe gan_cls)")
    takes = layout.takes(index, "train", resources.instrument)
    resources.log(f"[tfav] take codes: {len(takes)} training takes")
    return {**options, "takes": takes}, {**notes, "takes": takes}


def build(ctx: registry.BuildContext) -> TakeGAN:
    """Chen's S2I G (with ``TakeCode`` in front of its noise) and D, as ``gan_cls.build``."""
    task, hyper = ctx.task, ctx.hyper
    takes = ctx.dataset_options.get("takes")
    if not takes:
        raise ConfigError("take codes: the training takes were not given (dataset_options)")
    if ctx.encoder is None:
        raise ConfigError(f"task '{task.name}' needs a trained {task.encoder}")
    aux_classifier = registry.resolved(hyper, "aux_classifier", task)
    if aux_classifier and task.wrong_pairs == "same_category":
        raise ConfigError(f"--aux-classifier needs several categories; '{task.name}' trains one")
    classes = ctx.num_classes if aux_classifier else 0
    z_dim = len(takes) + hyper.z_dim
    generator = generators.sound_to_image_generator(
        z_dim=z_dim, base_filters=ctx.base_filters, image_size=ctx.image_size,
        upsampling=hyper.upsampling, takes=len(takes),
        take_backgrounds=hyper.take_backgrounds, mask_offset=hyper.mask_offset)
    discriminator = discriminators.sound_to_image_discriminator(
        base_filters=ctx.base_filters, image_size=ctx.image_size,
        spectral_norm=hyper.spectral_norm, num_classes=classes,
        minibatch_std=hyper.minibatch_std)
    model = TakeGAN(
        generator, discriminator, ctx.encoder, takes=takes,
        reconstruction_weight=hyper.reconstruction_weight,
        warmup_steps=hyper.warmup_steps, motion_emphasis=hyper.motion_emphasis,
        mask_weight=hyper.mask_weight, z_dim=z_dim,
        use_wrong_pairs=task.wrong_pairs is not None, g_steps=ctx.g_steps, seed=ctx.seed,
        generator_average=hyper.generator_average, augment=hyper.augment,
        joint_d_batch=registry.resolved(hyper, "joint_d_batch", task),
    )
    d_optimizer, g_optimizer = adam_pair(hyper, ctx.learning_rate)
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)
    return model


def median_frames(dataset, takes: int) -> np.ndarray:
    """The per-pixel median of every take's frames in ``dataset`` (batches with
    ``target`` and ``take``): ``[takes, S, S, 3]``, zero for a take with no frame."""
    frames: dict[int, list] = {}
    for batch in dataset:
        for image, take in zip(np.asarray(batch["target"], np.float32),
                               np.asarray(batch["take"]), strict=True):
            frames.setdefault(int(take), []).append(image)
    shape = next(iter(frames.values()))[0].shape
    out = np.zeros((takes, *shape), np.float32)
    for take, images in frames.items():
        out[take] = np.median(np.stack(images), axis=0)
    return out


def prepare(model, dataset, log=print):
    """With take backgrounds, start each take's background (in the generator and its
    average) at the median of the take's training frames."""
    if background_layer(model.generator) is None:
        return
    backgrounds = median_frames(dataset, len(model.takes))
    for generator in {id(g): g for g in (model.generator, model.sampling_generator)}.values():
        background_layer(generator).set_backgrounds(backgrounds)
    log(f"[tfav] take backgrounds: the median frame of each of {len(model.takes)} takes")


OBJECTIVE = registry.register(registry.Objective(
    "take_gan", TakeHyper, build, condition_encoder=gan_cls.condition_encoder,
    dataset_options=dataset_options, prepare=prepare))
