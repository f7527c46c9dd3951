"""Task name -> data, encoder dependencies, model, objective and defaults.

One place knows what each ``--task`` means (Chen et al. 2017, sec. 3 and 5.1):

==================  =======================================================
sound_encoder       LMS instrument classifier (Fig. 4); its 128-d FC layer is
                    the sound encoding of S2I-C, S2I-N and pose S2I
image_encoder       image instrument classifier (Fig. 5); the image encoding
                    of I2S and the evaluation verifier (Gamma, sec. 5.2.2)
sound_autoencoder   stacked conv/deconv LMS autoencoder (sec. 5.1), S2I-A
pose_regressor      image -> pose vector, to measure pose-oriented S2I
                    (embedded dataset ground truth; not in the paper)
pose_from_sound     LMS -> pose vector: how much of the pose the sound
                    determines, the ceiling for pose-oriented S2I
s2i_instrument      S2I-C: GAN-CLS, wrong pairs = images of other instruments (eq. 5)
s2i_noneg           S2I-N: S2I-C without wrong pairs
s2i_ae              S2I-A: S2I-C conditioned on the autoencoder's encoding
s2i_pose            pose-oriented S2I, one instrument, wrong pairs = other
                    images of the same instrument (eq. 6); on data with pose
                    ground truth conditioned on pose_from_sound's encoding
                    (the instrument classifier's learns to ignore pitch and
                    loudness, which carry the pose)
i2s                 I2S: image -> 128x34 LMS, wrong pairs = sounds of other
                    instruments (eq. 7)
soundnet            SoundNet-8 trained on the dataset's labels (the sound
                    vector of a2i_scene when no published weights are given)
a2i_scene           Wan et al. 2019: sound vector -> image, Table 4 ablation
                    rows via ``Hyper.ablation``, Table 2 features via ``Hyper.features``
a2i_diverse         Yang et al.: two-stage 64 -> 128 generator, K/P discriminators,
                    I2A consistency (eqs. 3-5); wrong pairs = other categories
==================  =======================================================
"""

from __future__ import annotations

import dataclasses

import tfav  # noqa: F401  (selects the Keras backend)
from tfav.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
    """What a task trains and how.

    Attributes:
        kind: ``classifier``, ``regressor``, ``autoencoder`` or ``gan``.
        modality: input of a classifier/regressor/autoencoder: ``sound`` or ``image``.
        direction: for GANs, ``s2i`` or ``i2s``.
        wrong_pairs: how GAN wrong pairs are sampled: ``other_category``,
            ``same_category`` or ``None`` (no S_w term).
        encoder: the task whose trained model encodes a GAN's condition.
        needs_instrument: trained on one instrument (``--instrument``).
        epochs, batch_size, learning_rate: defaults, sized for a 2-core CPU.
        base_filters: default channel unit of the task's networks (for GANs,
            ``--base-filters`` overrides it).
        condition: what a GAN's condition is: ``lms`` (normalised log-mel) or
            ``waveform`` (the a2i tasks encode the raw 0.5 s chunk themselves).
        image_size: side of the images a GAN trains on.
        pose_encoder: for data with pose ground truth (``labels.jsonl``), the
            encoder task used instead of ``encoder``: one whose encoding keeps
            what the sound says about the pose.
    """

    name: str
    kind: str
    description: str
    modality: str | None = None
    direction: str | None = None
    wrong_pairs: str | None = None
    encoder: str | None = None
    needs_instrument: bool = False
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    base_filters: int = 16
    condition: str = "lms"
    image_size: int = 64
    pose_encoder: str | None = None


TASKS = {
    t.name: t
    for t in [
        Task("sound_encoder", "classifier", "LMS instrument classifier (Chen Fig. 4)",
             modality="sound", epochs=10),
        Task("image_encoder", "classifier", "image instrument classifier / verifier (Chen Fig. 5)",
             modality="image", epochs=5),
        Task("sound_autoencoder", "autoencoder", "stacked LMS autoencoder (Chen sec. 5.1)",
             modality="sound", epochs=8),
        Task("pose_regressor", "regressor", "image -> pose vector, for evaluation",
             modality="image", epochs=40),
        Task("pose_from_sound", "regressor", "sound -> pose vector: what the sound tells",
             modality="sound", epochs=40),
        Task("s2i_instrument", "gan", "S2I-C (Chen eq. 5)", direction="s2i",
             wrong_pairs="other_category", encoder="sound_encoder", epochs=10,
             learning_rate=2e-4, base_filters=32),
        Task("s2i_noneg", "gan", "S2I-N: S2I-C without wrong pairs", direction="s2i",
             wrong_pairs=None, encoder="sound_encoder", epochs=10, learning_rate=2e-4,
             base_filters=32),
        Task("s2i_ae", "gan", "S2I-A: autoencoder sound encoding", direction="s2i",
             wrong_pairs="other_category", encoder="sound_autoencoder", epochs=10,
             learning_rate=2e-4, base_filters=32),
        Task("s2i_pose", "gan", "pose-oriented S2I, one instrument (Chen eq. 6)",
             direction="s2i", wrong_pairs="same_category", encoder="sound_encoder",
             needs_instrument=True, epochs=40, batch_size=32, learning_rate=2e-4,
             base_filters=32, pose_encoder="pose_from_sound"),
        Task("i2s", "gan", "I2S: image -> log-mel spectrogram (Chen eq. 7)", direction="i2s",
             wrong_pairs="other_category", encoder="image_encoder", epochs=10,
             learning_rate=2e-4, base_filters=32),
        Task("soundnet", "classifier", "SoundNet-8 trained on the dataset labels (Wan Table 2)",
             modality="waveform", epochs=5),
        Task("a2i_scene", "gan", "audio to scene image (Wan et al. 2019 eqs. 1-2, Table 4)",
             direction="s2i", wrong_pairs=None, epochs=10, learning_rate=2e-4, base_filters=32,
             condition="waveform"),
        Task("a2i_diverse", "gan", "diverse audio to image, 64 -> 128 (Yang et al. eqs. 1-5)",
             direction="s2i", wrong_pairs="other_category", epochs=10, learning_rate=2e-4,
             base_filters=32, condition="waveform", image_size=128),
    ]
}  # fmt: skip

#: Frames of a generated I2S spectrogram (Chen sec. 3.1) and of a real 0.5 s LMS.
I2S_FRAMES, LMS_FRAMES = 34, 44


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
    return TASKS[name]


# --- data: pipeline batches -> model inputs ---------------------------------


def log_mel(waveform):
    """Normalised LMS ``[B, 128, 44]`` of a batch of 0.5 s waveforms, in-graph."""
    from tfav import audio

    return audio.normalize_log_mel(audio.log_mel_spectrogram(waveform))


def image_augmentation(seed=0):
    """Camera and lighting jitter for image classifiers and regressors (training only).

    Evaluation images come from unseen recordings (other players, rooms and
    camera placements), so the verifier learns to ignore those; hue and flips
    are left alone because colour and handedness carry the instrument and pose.
    """
    import keras

    return keras.Sequential([
        keras.layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=seed),
        keras.layers.RandomZoom(0.08, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomBrightness(0.15, value_range=(-1.0, 1.0), seed=seed + 2),
        keras.layers.RandomContrast(0.2, value_range=(-1.0, 1.0), seed=seed + 3),
    ], name="augmentation")  # fmt: skip


def model_inputs(task: Task, augment: bool = False, seed: int = 0):
    """The map from a pipeline batch (dict) to what the task's model trains on.

    Args:
        augment: jitter images of image classifiers/regressors (training split).
    """
    import tensorflow as tf

    from tfav.models.generators import resize_spectrogram

    if task.kind in ("classifier", "regressor", "autoencoder"):
        jitter = image_augmentation(seed) if augment and task.modality == "image" else None

        def features(batch):
            if task.modality == "waveform":
                return batch["waveform"]
            if task.modality == "sound":
                return log_mel(batch["waveform"])
            if jitter is None:
                return batch["image"]
            return tf.clip_by_value(jitter(batch["image"], training=True), -1.0, 1.0)

        if task.kind == "classifier":
            return lambda b: (features(b), b["label"])
        if task.kind == "regressor":
            return lambda b: (features(b), b["pose"])
        return lambda b: (features(b), features(b))

    if task.condition == "waveform":
        def a2i(batch):
            out = {"condition": batch["waveform"], "target": batch["image"],
                   "label": batch["label"]}
            if task.wrong_pairs:
                out["wrong_target"] = batch["wrong_image"]
            return out

        return a2i

    if task.direction == "s2i":
        def s2i(batch):
            out = {"condition": log_mel(batch["waveform"]), "target": batch["image"],
                   "label": batch["label"]}
            if task.wrong_pairs:
                out["wrong_target"] = batch["wrong_image"]
            return out

        return s2i

    def i2s(batch):
        out = {
            "condition": batch["image"],
            "target": resize_spectrogram(log_mel(batch["waveform"]), I2S_FRAMES),
            "label": batch["label"],
        }
        if task.wrong_pairs:
            out["wrong_target"] = resize_spectrogram(log_mel(batch["wrong_waveform"]), I2S_FRAMES)
        return out

    return i2s


def make_dataset(task: Task, root, split: str, *, categories=None, batch_size=64, seed=0,
                 image_size=64, shuffle=True, drop_remainder=True, wrong_pair_weights=None):
    """Batches of ``split`` mapped to the task's model inputs."""
    import tensorflow as tf

    from tfav.data.pipeline import pair_dataset

    ds = pair_dataset(
        root, split, categories=categories, image_size=image_size, batch_size=batch_size,
        shuffle=shuffle, seed=seed, wrong_pairs=task.wrong_pairs if task.kind == "gan" else None,
        drop_remainder=drop_remainder, wrong_pair_weights=wrong_pair_weights,
    )
    mapping = model_inputs(task, augment=split == "train" and shuffle, seed=seed)
    return ds.map(mapping, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


# --- models -------------------------------------------------------------------


@dataclasses.dataclass
class Hyper:
    """Hyperparameters a user (or a tuner) may change."""

    learning_rate: float | None = None  # None: the task's default (of G for GANs)
    d_learning_rate: float | None = None  # GANs: None = learning_rate
    beta_1: float = 0.5
    z_dim: int = 100
    base_filters: int | None = None  # None: the task's default
    spectral_norm: bool = False
    g_steps: int = 1
    # All GANs: how G upsamples (``tfav.models.generators.UPSAMPLING``; the
    # papers' "deconv" leaves pixel speckle for thousands of steps) and the momentum of
    # the generator weight average samples are drawn from (0 = the papers' raw weights).
    upsampling: str = "resize"
    generator_average: float = 0.999
    # Chen S2I GANs: DiffAugment policy for the images D sees (``tfav.objectives.augment``).
    augment: str = ""
    # a2i tasks (Wan et al. 2019): Table 4 row, Table 2 sound feature, steps per D step.
    ablation: str = "ac"
    features: str = "fbank"
    g_per_d: int = 5
    # a2i_diverse: weight of Yang et al.'s audio consistency loss (eq. 4; the paper sums with 1).
    consistency_weight: float = 1.0
    # a2i_diverse: weight of Mao et al.'s mode-seeking term (not in Yang et al.; 0 = off).
    mode_seeking_weight: float = 0.0
    # S2I-C / S2I-A: share of wrong pairs drawn by how often the sound classifier mistakes
    # the condition's category for each other one (``pipeline.hard_wrong_pair_weights``);
    # 0 = the uniform draw of Reed et al.
    hard_wrong_pairs: float = 0.0
    # Chen GANs except pose: an auxiliary classifier on D (Odena et al. 2017, as in Wan's
    # row g); not in Chen et al.
    aux_classifier: bool = False


def build_model(task: Task, num_classes: int, hyper: Hyper, encoder=None, image_size=64, seed=0):
    """The compiled Keras model that ``python -m tfav.train`` fits for ``task``.

    Args:
        encoder: for GAN tasks, the frozen condition encoder (128-d output).
    """
    import keras

    from tfav.models import discriminators, encoders, generators

    lr = hyper.learning_rate or task.learning_rate
    bf = hyper.base_filters or task.base_filters
    if task.kind == "classifier":
        if task.modality == "waveform":
            model = _soundnet_classifier(num_classes)
        elif task.modality == "sound":
            model = encoders.sound_classifier(num_classes, base_filters=bf)
        else:
            model = encoders.image_classifier(num_classes, image_size=image_size, base_filters=bf)
        model.compile(
            optimizer=keras.optimizers.Adam(lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model
    if task.kind == "regressor":
        # The Fig. 4/5 networks with a linear 3-output head regress the pose vector.
        if task.modality == "sound":
            model = encoders.sound_classifier(3, base_filters=bf, name=task.name)
        else:
            model = encoders.image_classifier(3, image_size=image_size, base_filters=bf,
                                              name=task.name)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse", metrics=["mae"])
        return model
    if task.kind == "autoencoder":
        model = encoders.sound_autoencoder()
        model.compile(optimizer=keras.optimizers.Adam(lr))
        return model

    if task.condition == "waveform":
        return _build_a2i(task, num_classes, hyper, encoder, image_size, seed, lr, bf)

    from tfav.objectives.gan_cls import ConditionalGAN

    if encoder is None:
        raise ConfigError(f"task '{task.name}' needs a trained {task.encoder}")
    if hyper.aux_classifier and task.wrong_pairs == "same_category":
        raise ConfigError(f"--aux-classifier needs several categories; '{task.name}' trains one")
    classes = num_classes if hyper.aux_classifier else 0
    if task.direction == "s2i":
        generator = generators.sound_to_image_generator(
            z_dim=hyper.z_dim, base_filters=bf, image_size=image_size,
            upsampling=hyper.upsampling,
        )
        discriminator = discriminators.sound_to_image_discriminator(
            base_filters=bf, image_size=image_size, spectral_norm=hyper.spectral_norm,
            num_classes=classes,
        )
    else:
        generator = generators.image_to_sound_generator(
            z_dim=hyper.z_dim, base_filters=bf, upsampling=hyper.upsampling
        )
        discriminator = discriminators.image_to_sound_discriminator(
            base_filters=bf, spectral_norm=hyper.spectral_norm, num_classes=classes
        )
    model = ConditionalGAN(
        generator, discriminator, encoder, z_dim=hyper.z_dim,
        use_wrong_pairs=task.wrong_pairs is not None, g_steps=hyper.g_steps, seed=seed,
        generator_average=hyper.generator_average,
        augment=hyper.augment if task.direction == "s2i" else "",
    )
    model.compile(
        d_optimizer=keras.optimizers.Adam(hyper.d_learning_rate or lr, beta_1=hyper.beta_1),
        g_optimizer=keras.optimizers.Adam(lr, beta_1=hyper.beta_1),
    )
    return model


def _soundnet_classifier(num_classes):
    from tfav.models.soundnet import soundnet8

    return soundnet8(num_classes=num_classes)


def _build_a2i(task, num_classes, hyper, soundnet, image_size, seed, lr, bf):
    """Wan et al. 2019: the sound vector of ``hyper.features`` and the ``hyper.ablation`` row.

    Args:
        soundnet: a trained or weight-loaded SoundNet-8, for ``features="soundnet"``.
    """
    import keras

    from tfav.models.soundnet import feature_dim, sound_feature_encoder
    from tfav.objectives.scene_gan import scene_gan

    encoder = sound_feature_encoder(hyper.features, soundnet=soundnet)
    if task.name == "a2i_diverse":
        from tfav.objectives.diverse_gan import diverse_gan

        model = diverse_gan(
            feature_dim(encoder), num_classes, condition_encoder=encoder, z_dim=hyper.z_dim,
            base_filters=bf, learning_rate=lr, beta_1=hyper.beta_1, seed=seed,
            g_steps=hyper.g_steps, upsampling=hyper.upsampling,
            consistency_weight=hyper.consistency_weight,
            mode_seeking_weight=hyper.mode_seeking_weight,
            generator_average=hyper.generator_average,
        )
    else:
        model = scene_gan(
            feature_dim(encoder), num_classes, hyper.ablation, condition_encoder=encoder,
            z_dim=hyper.z_dim, base_filters=bf, image_size=image_size, g_steps=hyper.g_per_d,
            learning_rate=lr, beta_1=hyper.beta_1, seed=seed, upsampling=hyper.upsampling,
            generator_average=hyper.generator_average,
        )
    if hyper.d_learning_rate and hyper.d_learning_rate != lr:
        model.compile(d_optimizer=keras.optimizers.Adam(hyper.d_learning_rate, beta_1=hyper.beta_1),
                      g_optimizer=model.g_optimizer)
    return model


def fit_sound_vector(model, dataset, batches: int = 8, i2a_epochs: int = 3):
    """Standardise an a2i model's sound vector with statistics of training sounds.

    For a2i_diverse, then pretrain its I2A regressor on the training pairs
    (Yang et al. sec. II-B); returns its final MSE (else ``None``).
    """
    from tfav.models.soundnet import fit_standardization

    waves = [b["condition"] for b in dataset.take(batches)]
    fit_standardization(model.condition_encoder, waves)
    if not hasattr(model, "i2a"):
        return None
    from tfav.objectives.diverse_gan import pretrain_i2a

    return pretrain_i2a(model, dataset, epochs=i2a_epochs)


def encoder_of(task_name: str, model):
    """The frozen 128-d condition encoder from a trained encoder task's model."""
    from tfav.models import encoders

    if task_name == "sound_autoencoder":
        encoder = model.encoder
    else:
        encoder = encoders.encoder_from_classifier(model)
    encoder.trainable = False
    return encoder
