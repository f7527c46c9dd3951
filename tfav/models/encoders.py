"""Sound and image encoders of Chen et al. 2017 (sec. 3.3, 3.4, 5.1).

Three encoders produce the 128-d condition vectors of the GANs:

* ``sound_classifier`` (Fig. 4): an instrument classifier on the normalised
  log-mel spectrogram (LMS); its 128-d FC layer is the S2I-C sound encoding and
  the whole network is the verifier of generated spectrograms (sec. 5.4).
* ``image_classifier`` (Fig. 5): an instrument classifier on images; its 128-d
  penultimate layer is the I2S image encoding, and the same network trained on
  real images verifies generated images (sec. 5.2.2).
* ``sound_autoencoder`` (sec. 5.1, S2I-A): a four-stack convolution /
  deconvolution autoencoder whose last stack projects to a 128-d bottleneck.

Both classifiers output *logits* (train them with
``SparseCategoricalCrossentropy(from_logits=True)``) and name their 128-d layer
``encoding``; ``encoder_from_classifier`` cuts the network there.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from tfav.models.blocks import down_stack

ENCODING_DIM = 128


def _dense_head(x, num_classes, hidden_units, encoding_dim, l2, dropout):
    """Three FC layers; the second (``encoding``) is the 128-d feature."""
    reg = keras.regularizers.L2(l2) if l2 else None
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden_units, activation="relu", kernel_regularizer=reg, name="fc1")(x)
    x = layers.Dropout(dropout[0], name="dropout1")(x)
    x = layers.Dense(encoding_dim, activation="relu", kernel_regularizer=reg, name="encoding")(x)
    x = layers.Dropout(dropout[1], name="dropout2")(x)
    return layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)


def sound_classifier(
    num_classes: int,
    n_mels: int = 128,
    frames: int = 44,
    base_filters: int = 32,
    hidden_units: int = 512,
    encoding_dim: int = ENCODING_DIM,
    l2: float = 0.015,
    dropout: tuple[float, float] = (0.3, 0.2),
    name: str = "sound_classifier",
    conv_layers: int = 4,
) -> keras.Model:
    """LMS instrument classifier of Chen et al. Fig. 4 (sec. 3.3).

    Four 3x3 convolution layers (ReLU, 2x2 max pooling), then three FC layers
    with L2 penalty 0.015; the 128-d second FC layer (``encoding``) is the
    sound encoding fed to the S2I GAN.

    The paper applies "dropout (0.7 and 0.8 respectively) to the last two
    layers". In the TF1 code of that era ``tf.nn.dropout`` took the *keep*
    probability, so we read these as drop rates 0.3 and 0.2: Keras
    ``Dropout(0.3)`` on the input of the second FC layer and ``Dropout(0.2)``
    on the input of the last one. The ``encoding`` output is taken before the
    second dropout, so encodings are deterministic at inference.

    Args:
        num_classes: Number of instrument categories.
        n_mels: Mel bands of the input LMS.
        frames: Time frames of the input LMS (44 for a 0.5 s chunk).
        base_filters: Filters of the first conv layer; doubled at each layer.
        hidden_units: Width of the first FC layer.
        encoding_dim: Width of the ``encoding`` layer (128 in the paper).
        l2: L2 penalty on the FC layers.
        dropout: Drop rates before the last two FC layers.
        name: Model name.
        conv_layers: Convolution layers (4 in Fig. 4; Table 1 also tries 3).

    Returns:
        A functional model ``lms [B, n_mels, frames] -> logits [B, num_classes]``.

    Example:
        >>> clf = sound_classifier(13)
        >>> encoder = encoder_from_classifier(clf)  # [B, 128, 44] -> [B, 128]
    """
    lms = keras.Input((n_mels, frames), name="lms")
    x = layers.Reshape((n_mels, frames, 1), name="add_channel")(lms)
    for i in range(conv_layers):
        x = layers.Conv2D(
            base_filters * 2**i, 3, padding="same", activation="relu", name=f"conv{i + 1}"
        )(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i + 1}")(x)
    logits = _dense_head(x, num_classes, hidden_units, encoding_dim, l2, dropout)
    return keras.Model(lms, logits, name=name)


def image_classifier(
    num_classes: int,
    image_size: int = 64,
    base_filters: int = 32,
    hidden_units: int = 512,
    encoding_dim: int = ENCODING_DIM,
    l2: float = 0.0,
    dropout: tuple[float, float] = (0.3, 0.2),
    name: str = "image_classifier",
) -> keras.Model:
    """Image instrument classifier of Chen et al. Fig. 5 (sec. 3.4).

    Six 3x3 convolution layers (ReLU; 2x2 max pooling after every second one)
    and three FC layers. "After the network is trained, its last layer is
    removed, and the feature vector of the second to the last layer having size
    128 is used as the image encoding": that is the ``encoding`` layer. The
    same network trained on real images is the verifier of generated images.
    The paper gives no regularisation for this network; ``l2`` and ``dropout``
    default to no penalty and the sound classifier's drop rates.

    Args:
        num_classes: Number of instrument categories.
        image_size: Side of the square RGB input in [-1, 1].
        base_filters: Filters of the first two conv layers; doubled every two.
        hidden_units: Width of the first FC layer.
        encoding_dim: Width of the ``encoding`` layer (128 in the paper).
        l2: L2 penalty on the FC layers.
        dropout: Drop rates before the last two FC layers.
        name: Model name.

    Returns:
        A functional model ``image [B, S, S, 3] -> logits [B, num_classes]``.
    """
    image = keras.Input((image_size, image_size, 3), name="image")
    x = image
    for i in range(6):
        x = layers.Conv2D(
            base_filters * 2 ** (i // 2), 3, padding="same", activation="relu",
            name=f"conv{i + 1}",
        )(x)
        if i % 2 == 1:
            x = layers.MaxPooling2D(2, name=f"pool{i // 2 + 1}")(x)
    logits = _dense_head(x, num_classes, hidden_units, encoding_dim, l2, dropout)
    return keras.Model(image, logits, name=name)


def encoder_from_classifier(classifier: keras.Model, name: str | None = None) -> keras.Model:
    """Cut a classifier (or the autoencoder network) at its ``encoding`` layer.

    Args:
        classifier: A model built by ``sound_classifier``, ``image_classifier``
            or the ``network`` of ``sound_autoencoder``.
        name: Name of the encoder model; defaults to ``<classifier>_encoder``.

    Returns:
        A functional model sharing the classifier's weights, mapping its input
        to the 128-d encoding.
    """
    return keras.Model(
        classifier.input,
        classifier.get_layer("encoding").output,
        name=name or f"{classifier.name}_encoder",
    )


@keras.saving.register_keras_serializable(package="tfav")
class StopGradient(layers.Layer):
    """Identity whose gradient is zero: isolates one autoencoder stack."""

    def call(self, inputs):
        return ops.stop_gradient(inputs)


def _ae_network(n_mels, frames, filters, kernels, encoding_dim):
    lms = keras.Input((n_mels, frames), name="lms")
    x = layers.Reshape((n_mels, frames, 1), name="add_channel")(lms)
    targets, reconstructions = [], []
    for i, (f, k) in enumerate(zip(filters, kernels, strict=True)):
        stack_in = StopGradient(name=f"stack{i + 1}_input")(x)
        code = layers.Conv2D(f, k, activation="tanh", name=f"stack{i + 1}_conv")(stack_in)
        recon = layers.Conv2DTranspose(
            stack_in.shape[-1], k, name=f"stack{i + 1}_deconv"
        )(code)
        targets.append(stack_in)
        reconstructions.append(recon)
        x = code
    last_shape = tuple(x.shape[1:])
    stack_in = StopGradient(name=f"stack{len(filters) + 1}_input")(x)
    flat = layers.Flatten(name="flatten")(stack_in)
    encoding = layers.Dense(encoding_dim, activation="tanh", name="encoding")(flat)
    recon = layers.Dense(flat.shape[-1], name="decode")(encoding)
    recon = layers.Reshape(last_shape, name="unflatten")(recon)
    targets.append(stack_in)
    reconstructions.append(recon)
    outputs = {"encoding": encoding}
    for i, (t, r) in enumerate(zip(targets, reconstructions, strict=True)):
        outputs[f"target_{i + 1}"] = t
        outputs[f"reconstruction_{i + 1}"] = r
    return keras.Model(lms, outputs, name="sound_autoencoder_network")


@keras.saving.register_keras_serializable(package="tfav")
class SoundAutoencoder(keras.Model):
    """Stacked conv/deconv autoencoder of S2I-A (Chen et al. sec. 5.1).

    Wraps the functional ``network`` (``lms -> {encoding, target_k,
    reconstruction_k}``) and trains it on ``sum_k MSE(reconstruction_k,
    target_k)``. Each stack's input passes a ``StopGradient``, so stack k is
    trained only by its own reconstruction error, exactly as in greedy
    stack-wise training, but all four stacks are updated in the same step
    (stack k sees the codes of stack k-1 as they improve). ``fit`` takes
    batches of LMS ``[B, n_mels, frames]`` (a ``(x, y)`` tuple's ``y`` is
    ignored). ``stacks`` limits the loss to the first stacks, for a strictly
    in-order schedule: train with ``stacks=1``, rebuild with ``stacks=2`` on the
    same network, and so on.
    """

    def __init__(self, network: keras.Model, stacks: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.num_stacks = sum(1 for k in network.output if k.startswith("target_"))
        self.stacks = stacks or self.num_stacks
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.stack_trackers = [
            keras.metrics.Mean(name=f"mse_{i + 1}") for i in range(self.num_stacks)
        ]
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, *self.stack_trackers]

    @property
    def encoder(self) -> keras.Model:
        """``lms -> encoding [B, 128]``, sharing weights with the network."""
        return encoder_from_classifier(self.network, name="sound_autoencoder_encoder")

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)["encoding"]

    def _stack_losses(self, x, training):
        out = self.network(x, training=training)
        mses = [
            ops.mean(ops.square(out[f"reconstruction_{i + 1}"] - out[f"target_{i + 1}"]))
            for i in range(self.num_stacks)
        ]
        return ops.sum(ops.stack(mses[: self.stacks])), mses

    def _update(self, loss, mses):
        self.loss_tracker.update_state(loss)
        for t, m in zip(self.stack_trackers, mses, strict=True):
            t.update_state(m)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            loss, mses = self._stack_losses(x, training=True)
        weights = self.network.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return self._update(loss, mses)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._update(*self._stack_losses(x, training=False))

    def get_config(self):
        config = super().get_config()
        config.update(
            network=keras.saving.serialize_keras_object(self.network), stacks=self.stacks
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def sound_autoencoder(
    n_mels: int = 128,
    frames: int = 44,
    filters: tuple[int, ...] = (16, 16, 1),
    kernels: tuple[int, ...] = (3, 3, 5),
    encoding_dim: int = ENCODING_DIM,
    stacks: int | None = None,
) -> SoundAutoencoder:
    """S2I-A sound autoencoder, four stacks (Chen et al. sec. 5.1).

    Stacks 1-3 are a valid (unpadded) convolution and its transposed
    convolution; the code of each feeds the next stack. With the default
    kernels 3, 3 and 5 the LMS of 128x44 shrinks to the paper's "2D array of
    shape 120x36" (one channel), which stack 4 flattens and projects to the
    128-d bottleneck ``encoding`` with an FC layer, decoded by a second FC.

    Args:
        n_mels: Mel bands of the input LMS.
        frames: Time frames of the input LMS.
        filters: Output channels of the conv of stacks 1-3 (last must be 1 for
            a 2D array as in the paper, any value works).
        kernels: Kernel sizes of stacks 1-3.
        encoding_dim: Bottleneck width.
        stacks: How many stacks contribute to the loss (default all).

    Returns:
        A ``SoundAutoencoder``; compile with an optimizer and ``fit`` on LMS.
        ``.encoder`` (or ``encoder_from_classifier(ae.network)``) is the
        ``lms -> [B, 128]`` sound encoder.
    """
    network = _ae_network(n_mels, frames, filters, kernels, encoding_dim)
    return SoundAutoencoder(network, stacks=stacks, name="sound_autoencoder")


def judge_classifier(num_classes: int, image_size: int = 64, width: int = 32,
                     name: str = "judge") -> keras.Model:
    """An image classifier of another architecture than the verifier, for judging only.

    Its features (``features``: global average pooling of the last residual stage,
    ``4 * width`` wide) give the judge FID and KID of ``tfav.evaluate``. Nothing in
    training, checkpoint choice or tuning reads it, so a generator cannot learn its
    blind spots; and it shares no design with the verifier (Fig. 5: plain 3x3
    convolutions, max pooling, an FC stack with dropout): a residual network (He et
    al. 2016) with batch norm, strided downsampling and global average pooling.

    Returns:
        A functional model ``image [B, S, S, 3] -> logits [B, num_classes]``.
    """
    image = keras.Input((image_size, image_size, 3), name="image")
    # A strided stem: the judge reads 64x64 frames at a quarter of the cost of a full-size one.
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem")(image)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    for stage, filters in enumerate((width, 2 * width, 4 * width)):
        stride = 1 if stage == 0 else 2
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                     name=f"res{stage}_project")(x)
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                          name=f"res{stage}_conv1")(x)
        y = layers.ReLU(name=f"res{stage}_relu1")(layers.BatchNormalization(
            name=f"res{stage}_bn1")(y))
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          name=f"res{stage}_conv2")(y)
        y = layers.BatchNormalization(name=f"res{stage}_bn2")(y)
        x = layers.ReLU(name=f"res{stage}_out")(layers.Add(name=f"res{stage}_add")([y, shortcut]))
    features = layers.GlobalAveragePooling2D(name="features")(x)
    logits = layers.Dense(num_classes, name="logits")(features)
    return keras.Model(image, logits, name=name)


def judge_features(judge: keras.Model) -> keras.Model:
    """The judge cut at its ``features`` layer."""
    return keras.Model(judge.input, judge.get_layer("features").output,
                       name=f"{judge.name}_features")


def latent_encoder(z_dim: int, image_size: int = 64, base_filters: int = 32,
                   name: str = "latent_encoder") -> keras.Model:
    """Image -> ``[mu, logvar]`` of the noise that, with the sound, reproduces the image.

    The encoder ``E`` of a cVAE-GAN / BicycleGAN (Zhu et al. 2017, sec. 3.3): strided
    4x4 convolutions with leaky ReLU (no normalisation, so one image's code does not
    depend on its batch) down to 4x4, then two linear heads.
    """
    image = keras.Input((image_size, image_size, 3), name="image")
    x = down_stack(image, base_filters, batch_norm=False, use_bias=True)
    x = layers.Flatten(name="flatten")(x)
    # float32 heads under a mixed policy: the codes meet float32 noise and losses
    mu = layers.Dense(z_dim, name="mu", dtype="float32")(x)
    logvar = layers.Dense(z_dim, name="logvar", dtype="float32")(x)
    return keras.Model(image, [mu, logvar], name=name)
