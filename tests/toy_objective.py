"""A toy objective, as a user would add one: this module and nothing else.

A least-squares GAN (Mao et al. 2017) from the sound classifier's encoding to
a 64x64 image: its hyperparameters, its builder, its ``keras.Model`` with
``train_step``, and its task, registered at import. ``tests/test_objectives.py``
trains, checkpoints, reloads and evaluates it through the ordinary commands.
"""

import dataclasses

import keras
from keras import ops

from tfav import tasks
from tfav.objectives import gan_cls, registry
from tfav.objectives.base import GANHyper, TwoOptimizerGAN, adam_pair
from tfav.objectives.registry import hyper_field


@dataclasses.dataclass
class ToyHyper(GANHyper):
    target_score: float = hyper_field(1.0, "toy: the score G aims at (least squares)")


@keras.saving.register_keras_serializable(package="tfav_toy")
class LeastSquaresGAN(TwoOptimizerGAN):
    """``min_D (D(x) - 1)^2 + D(G(z))^2``, ``min_G (D(G(z)) - target_score)^2``."""

    CONFIG = ("z_dim", "seed", "target_score", "generator_average")

    def __init__(self, generator, discriminator, condition_encoder, z_dim=8, seed=None,
                 target_score=1.0, generator_average=0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.condition_encoder = condition_encoder
        self.z_dim, self.seed, self.target_score = int(z_dim), seed, float(target_score)
        self._init_averaged_generator(generator_average)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.make_trackers(["d_loss", "g_loss"])
        self.built = True

    def train_step(self, batch):
        e = self.encoding_of(batch)
        fake = self.generator([e, self.noise(ops.shape(e)[0])], training=True)

        def d_loss():
            real = self.discriminator([batch["target"], e], training=True)
            faked = self.discriminator([fake, e], training=True)
            return (ops.mean((real - 1.0) ** 2) + ops.mean(faked**2),)

        def g_loss():
            image = self.generator([e, self.noise(ops.shape(e)[0])], training=True)
            score = self.discriminator([image, e], training=True)
            return (ops.mean((score - self.target_score) ** 2),)

        (d,) = self.minimize(d_loss, self.d_optimizer, self.d_variables())
        (g,) = self.minimize(g_loss, self.g_optimizer, self.g_variables())
        self.update_averaged_generator()
        return self.track({"d_loss": d, "g_loss": g})

    def generate(self, condition, z=None, seed=None):
        e = self.encode(condition)
        z = self.noise(ops.shape(e)[0], seed=seed) if z is None else ops.cast(z, e.dtype)
        return self.sampling_generator([e, z], training=False)


def build(ctx):
    from tfav.models import discriminators, generators

    h = ctx.hyper
    g = generators.sound_to_image_generator(z_dim=h.z_dim, base_filters=ctx.base_filters)
    d = discriminators.sound_to_image_discriminator(base_filters=ctx.base_filters)
    model = LeastSquaresGAN(g, d, ctx.encoder, z_dim=h.z_dim, seed=ctx.seed,
                            target_score=h.target_score, generator_average=h.generator_average)
    d_opt, g_opt = adam_pair(h, ctx.learning_rate)
    model.compile(d_optimizer=d_opt, g_optimizer=g_opt)
    return model


registry.register(registry.Objective("least_squares", ToyHyper, build,
                                     condition_encoder=gan_cls.condition_encoder))
tasks.register_task(tasks.Task(
    "toy_lsgan", "gan", "toy least-squares S2I GAN", direction="s2i",
    encoder="sound_encoder", epochs=1, learning_rate=2e-4, base_filters=4,
    objective="least_squares"))
