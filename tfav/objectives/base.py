"""What every GAN objective shares: two optimizers and sub-model (de)serialisation."""

import keras


class TwoOptimizerGAN(keras.Model):
    """Base of the GAN objectives: one optimizer for D, one for G.

    Subclasses name their serialised sub-models in ``SUB_MODELS`` (their
    ``get_config`` stores them under those keys) and, when they have more than
    one generator or discriminator, override :meth:`d_variables` /
    :meth:`g_variables`.
    """

    SUB_MODELS: tuple[str, ...] = ("generator", "discriminator", "condition_encoder")

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Set one optimizer per network (Adam 2e-4, beta_1 0.5 in DCGAN/GAN-CLS)."""
        super().compile(**kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)

    def d_variables(self):
        return self.discriminator.trainable_variables

    def g_variables(self):
        return self.generator.trainable_variables

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
        self.d_optimizer.build(self.d_variables())
        self.g_optimizer.build(self.g_variables())
