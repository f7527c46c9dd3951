"""What every GAN objective shares: its common hyperparameters, two optimizers, noise,
condition encoding, one gradient step that respects replicas, trackers, and
(de)serialisation driven by the declared sub-models and constructor arguments."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from tfav.errors import DataError
from tfav.objectives.registry import hyper_field


@dataclasses.dataclass
class GANHyper:
    """Hyperparameters every GAN objective has (each objective extends this)."""

    learning_rate: float | None = hyper_field(
        None, "Adam learning rate (of G for GANs; default: the task's)",
        tune=("float", 5e-5, 1e-3, "log"), task_default="learning_rate", low=0.0, low_open=True)
    d_learning_rate: float | None = hyper_field(
        None, "GANs: D's learning rate (default: G's)", tune=("float", 5e-5, 1e-3, "log"),
        task_default="learning_rate", low=0.0, low_open=True)
    beta_1: float = hyper_field(0.5, "Adam beta_1 of GANs (default 0.5)",
                                tune=("float", 0.0, 0.9, "linear", 0.1), low=0.0, high=0.999)
    z_dim: int = hyper_field(100, "noise width (default 100)",
                             tune=("choice", [16, 32, 64, 100, 128]), low=1)
    base_filters: int | None = hyper_field(
        None, "channel unit (default: the task's)", tune=("choice", [16, 32, 48, 64]),
        task_default="base_filters", low=1)
    # The papers' "deconv" leaves pixel speckle for thousands of steps.
    upsampling: str = hyper_field(
        "resize", "GAN generators: resize-convolution (default) or the papers' transposed "
        "convolution", choices=("resize", "deconv", "bilinear"))
    generator_average: float = hyper_field(
        0.999, "GANs: sample from a moving average of G's weights (default 0.999; 0 = off)",
        low=0.0, high=0.9999)


def adam_pair(hyper, learning_rate: float):
    """``(d_optimizer, g_optimizer)``: Adam at D's and G's rates, beta_1 of ``hyper``."""
    d_rate = hyper.d_learning_rate or learning_rate
    return (keras.optimizers.Adam(d_rate, beta_1=hyper.beta_1),
            keras.optimizers.Adam(learning_rate, beta_1=hyper.beta_1))


def require(batch, *keys, why: str):
    """A one-line :class:`DataError` when ``batch`` lacks one of ``keys``."""
    for key in keys:
        if key not in batch:
            raise DataError(f"batch has no '{key}', which {why}")


class TwoOptimizerGAN(keras.Model):
    """Base of the GAN objectives: one optimizer for D, one for G.

    Subclasses name their serialised sub-models in ``SUB_MODELS`` and their
    other constructor arguments (kept as attributes of the same name) in
    ``CONFIG``; :meth:`get_config` / :meth:`from_config` follow both. When they
    have more than one generator or discriminator, they override
    :meth:`d_variables` / :meth:`g_variables`.
    """

    SUB_MODELS: tuple[str, ...] = ("generator", "discriminator", "condition_encoder")
    CONFIG: tuple[str, ...] = ()
    condition_encoder = None
    seed_generator = None
    z_dim = None

    # --- shared plumbing --------------------------------------------------------------
    def make_trackers(self, names):
        """One ``keras.metrics.Mean`` per name, in ``metrics`` (and logs) order."""
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def track(self, values: dict):
        """Update the trackers named in ``values``; the logs of the step (every tracker)."""
        for name, tracker in self.trackers.items():
            if name in values:
                tracker.update_state(values[name])
        return {name: t.result() for name, t in self.trackers.items()}

    def noise(self, n, seed=None):
        """Noise ``[n, z_dim]`` from the model's own seed generator (or ``seed``)."""
        return self.replica_noise(n, self.z_dim, self.seed_generator if seed is None else seed)

    def encode(self, condition):
        """The frozen encoder's code of a batch of conditions (the condition itself,
        as float32, when the model has no encoder)."""
        if self.condition_encoder is None:
            return ops.cast(condition, "float32")
        return ops.stop_gradient(self.condition_encoder(condition, training=False))

    def encoding_of(self, batch):
        """The code of a training batch's condition: ``batch["encoding"]`` when the
        pipeline computed it once per item (``tasks.make_dataset(encoder=...)``, cached
        with the decoded data), else :meth:`encode` of ``batch["condition"]``."""
        if "encoding" in batch:
            return ops.cast(batch["encoding"], "float32")
        return self.encode(batch["condition"])

    def minimize(self, loss_fn, optimizer, variables):
        """One optimizer step on ``loss_fn() -> (loss, *extras)``; returns its result.

        The loss is scaled for the replicas (:meth:`scaled_loss`) inside the tape.
        """
        with tf.GradientTape() as tape:
            result = loss_fn()
            scaled = self.scaled_loss(result[0], optimizer)
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables, strict=True))
        return result

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Set one optimizer per network (Adam 2e-4, beta_1 0.5 in DCGAN/GAN-CLS)."""
        super().compile(**kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)

    @staticmethod
    def scaled_loss(loss, optimizer):
        """The loss to differentiate in a replica of a ``tf.distribute`` strategy.

        Optimizers sum gradients over replicas, and each replica's loss is a
        mean over its share of the global batch; dividing by the number of
        replicas makes the sum the gradient of the mean over the global batch.
        ``optimizer.scale_loss`` applies a mixed-precision loss scale (if any).
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
        return optimizer.scale_loss(loss)

    @staticmethod
    def replica_noise(batch_size, z_dim, seed):
        """Noise ``[batch_size, z_dim]`` for this replica: its rows of one global draw.

        The seed state is mirrored, so a plain draw would give every replica
        the same noise; drawing for the global batch and slicing gives each
        replica different noise, and one device the same rows.
        """
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return keras.random.normal((batch_size, z_dim), seed=seed)
        z = keras.random.normal((batch_size * replicas, z_dim), seed=seed)
        start = context.replica_id_in_sync_group * batch_size
        return z[start : start + batch_size]

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build before ``fit``: sub-models are built, :meth:`build_optimizers`
        creates the slots. (Under ``tf.distribute``, Keras' version draws an extra batch,
        which shifts shuffled epochs, and cannot reduce dict batches across workers.)"""

    # --- generator weight averaging -------------------------------------------------
    averaged_generator = None

    def _init_averaged_generator(self, momentum):
        """Keep an exponential moving average of the generator's weights to sample from.

        Averaging the generator over training steps (Yazici et al. 2019, "The
        Unusual Effectiveness of Averaging in GAN Training") removes much of the
        step-to-step oscillation of a GAN without changing its training: the
        discriminator still plays against the current generator. ``momentum=0``
        samples from the trained weights directly, as the papers do.
        """
        self.generator_average = float(momentum)
        if self.generator_average:
            self.averaged_generator = keras.models.clone_model(self.generator)
            self.averaged_generator.set_weights(self.generator.get_weights())
            self.averaged_generator.trainable = False

    @property
    def sampling_generator(self):
        """The generator to sample, evaluate and export: the averaged one if kept."""
        return self.averaged_generator if self.averaged_generator is not None else self.generator

    def update_averaged_generator(self):
        """One moving-average step, with the usual warm-up ``min(m, (1 + t) / (10 + t))``
        so that short runs are not dominated by the initial weights. All weights,
        batch-norm statistics included, are averaged."""
        if self.averaged_generator is None:
            return
        pairs = list(zip(self.averaged_generator.weights, self.generator.weights, strict=True))

        def update(strategy):
            # In cross-replica context a read gives the synchronised value and an
            # assign writes every replica's copy (mirrored and sync-on-read alike).
            t = tf.cast(self.g_optimizer.iterations, tf.float32)
            m = tf.minimum(self.generator_average, (1.0 + t) / (10.0 + t))
            for average, weight in pairs:
                average.assign(m * tf.convert_to_tensor(average)
                               + (1.0 - m) * tf.convert_to_tensor(weight))

        tf.distribute.get_replica_context().merge_call(update)

    def call(self, inputs, training=False):
        """``{"condition"[, "z"]}`` (or a condition alone) -> samples of ``generate``."""
        if isinstance(inputs, dict):
            return self.generate(inputs["condition"], z=inputs.get("z"))
        return self.generate(inputs)

    def d_variables(self):
        return self.discriminator.trainable_variables

    def g_variables(self):
        return self.generator.trainable_variables

    def get_config(self):
        config = super().get_config()
        ser = keras.saving.serialize_keras_object
        for key in self.SUB_MODELS:
            model = getattr(self, key)
            config[key] = None if model is None else ser(model)
        config.update({key: getattr(self, key) for key in self.CONFIG})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.SUB_MODELS:
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def get_compile_config(self):
        if not getattr(self, "compiled", False) or not hasattr(self, "d_optimizer"):
            return None
        ser = keras.saving.serialize_keras_object
        return {"d_optimizer": ser(self.d_optimizer), "g_optimizer": ser(self.g_optimizer)}

    def compile_from_config(self, config):
        de = keras.saving.deserialize_keras_object
        self.compile(d_optimizer=de(config["d_optimizer"]), g_optimizer=de(config["g_optimizer"]))
        # Create the slot variables now so the saved optimizer state loads into them.
        self.build_optimizers()

    def build_optimizers(self):
        """Create the optimizers' slot variables (under a ``tf.distribute`` scope, they
        must exist before the first step: replicas cannot create them lazily)."""
        for optimizer, variables in ((self.d_optimizer, self.d_variables()),
                                     (self.g_optimizer, self.g_variables())):
            if not optimizer.built:
                optimizer.build(variables)
