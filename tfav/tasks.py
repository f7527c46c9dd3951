"""Task name -> data, encoder dependencies, objective and defaults.

One place knows what each ``--task`` means (Chen et al. 2017, sec. 3 and 5.1); the
model and its hyperparameters belong to the task's objective (``tfav.objectives``):

==================  =======================================================
sound_encoder       LMS instrument classifier (Fig. 4); its 128-d FC layer is
                    the sound encoding of S2I-C, S2I-N and pose S2I
image_encoder       image instrument classifier (Fig. 5); the image encoding
                    of I2S and the evaluation verifier (Gamma, sec. 5.2.2)
sound_autoencoder   stacked conv/deconv LMS autoencoder (sec. 5.1), S2I-A
judge               image classifier of another architecture (residual), trained on
                    real frames; its features give the judge FID/KID, and nothing
                    in training, checkpoint choice or tuning reads it
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
vocoder             neural vocoder: normalised LMS -> waveform (Vocos-style;
                    turns I2S spectrograms into sound)
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

import keras
import numpy as np
import tensorflow as tf

from tfav import audio
from tfav.data.pipeline import pair_dataset
from tfav.errors import ConfigError
from tfav.models.generators import resize_spectrogram


@dataclasses.dataclass(frozen=True)
class Task:
    """What a task trains and how.

    Attributes:
        kind: ``classifier``, ``regressor``, ``autoencoder``, ``vocoder`` or ``gan``.
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
        objective: the registered objective (``tfav.objectives``) that builds
            and trains the task's model; ``supervised`` for the non-GAN kinds.
        network: for supervised image tasks, ``chen`` (the Fig. 5 network) or
            ``judge`` (``models.encoders.judge_classifier``, a residual network).
        g_steps: GAN tasks: generator steps per discriminator step when
            ``--g-steps`` is not given (2 for s2i_pose: see
            ``experiments/results/recipe_screen.md``).
        aux_classifier: Chen GAN tasks: an auxiliary classifier in D when
            ``--aux-classifier`` is not given (on for i2s: 74-83% of its spectrograms
            recognised against 49-52% without, README "Results").
        joint_d_batch: Chen GAN tasks: D scores real, mismatched and generated samples
            in one batch when ``--joint-d-batch`` is not given (on for s2i_pose: judge
            FID 29 / 25 against 38 / 82 separately, seeds 0 / 1,
            ``experiments/results/pose_recipes.md``).
        default_hyper: ``(name, value)`` pairs: the task's own settings of its
            objective's hyperparameters, used when the run names no ``--recipe`` (a
            given flag still wins; ``--recipe OBJECTIVE`` gets that objective's plain
            defaults). s2i_pose: take codes over take backgrounds with the
            motion-weighted L1 (``tfav.objectives.take_gan``; pose error 0.186 / 0.186,
            judge FID 10.7 / 10.3 with real-vs-real 10.0, seeds 0 / 1, against 0.188 and
            a noise spread of 0.09 for the paper's ``--recipe gan_cls``,
            ``experiments/results/pose_recipes.md``).
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
    objective: str = "supervised"
    network: str = "chen"
    g_steps: int = 1
    aux_classifier: bool = False
    joint_d_batch: bool = False
    default_hyper: tuple = ()


TASKS = {
    t.name: t
    for t in [
        Task("sound_encoder", "classifier", "LMS instrument classifier (Chen Fig. 4)",
             modality="sound", epochs=10),
        Task("image_encoder", "classifier", "image instrument classifier / verifier (Chen Fig. 5)",
             modality="image", epochs=5),
        Task("sound_autoencoder", "autoencoder", "stacked LMS autoencoder (Chen sec. 5.1)",
             modality="sound", epochs=8),
        Task("judge", "classifier", "image judge of another architecture, for evaluation only",
             modality="image", epochs=5, network="judge"),
        Task("pose_regressor", "regressor", "image -> pose vector, for evaluation",
             modality="image", epochs=40),
        Task("pose_from_sound", "regressor", "sound -> pose vector: what the sound tells",
             modality="sound", epochs=40),
        Task("s2i_instrument", "gan", "S2I-C (Chen eq. 5)", direction="s2i", objective="gan_cls",
             wrong_pairs="other_category", encoder="sound_encoder", epochs=10,
             learning_rate=2e-4, base_filters=32),
        Task("s2i_noneg", "gan", "S2I-N: S2I-C without wrong pairs", direction="s2i",
             objective="gan_cls",
             wrong_pairs=None, encoder="sound_encoder", epochs=10, learning_rate=2e-4,
             base_filters=32),
        Task("s2i_ae", "gan", "S2I-A: autoencoder sound encoding", direction="s2i",
             objective="gan_cls",
             wrong_pairs="other_category", encoder="sound_autoencoder", epochs=10,
             learning_rate=2e-4, base_filters=32),
        Task("s2i_pose", "gan", "pose-oriented S2I, one instrument (Chen eq. 6)",
             direction="s2i", wrong_pairs="same_category", encoder="sound_encoder",
             objective="take_gan",
             needs_instrument=True, epochs=40, g_steps=2, batch_size=32, learning_rate=2e-4,
             base_filters=32, pose_encoder="pose_from_sound", joint_d_batch=True,
             default_hyper=(("reconstruction_weight", 30.0), ("take_backgrounds", True),
                            ("motion_emphasis", 4.0))),
        Task("i2s", "gan", "I2S: image -> log-mel spectrogram (Chen eq. 7)", direction="i2s",
             objective="gan_cls",
             wrong_pairs="other_category", encoder="image_encoder", epochs=10,
             learning_rate=2e-4, base_filters=32, aux_classifier=True),
        Task("vocoder", "vocoder", "neural vocoder: LMS -> waveform (Vocos-style, not in the "
             "papers; the I2S sound)", modality="sound", objective="vocoder", epochs=4,
             batch_size=16, learning_rate=1e-3),
        Task("soundnet", "classifier", "SoundNet-8 trained on the dataset labels (Wan Table 2)",
             modality="waveform", epochs=5),
        Task("a2i_scene", "gan", "audio to scene image (Wan et al. 2019 eqs. 1-2, Table 4)",
             direction="s2i", wrong_pairs=None, epochs=10, learning_rate=2e-4, base_filters=32,
             condition="waveform", objective="scene_gan"),
        Task("a2i_diverse", "gan", "diverse audio to image, 64 -> 128 (Yang et al. eqs. 1-5)",
             direction="s2i", wrong_pairs="other_category", epochs=10, learning_rate=2e-4,
             base_filters=32, condition="waveform", image_size=128, objective="diverse_gan"),
    ]
}  # fmt: skip

#: Frames of a generated I2S spectrogram (Chen sec. 3.1) and of a real 0.5 s LMS.
I2S_FRAMES, LMS_FRAMES = 34, 44


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
    return TASKS[name]


def register_task(task: Task) -> Task:
    """Add a task (an objective module that brings its own task calls this at import)."""
    TASKS[task.name] = task
    return task


# --- data: pipeline batches -> model inputs ---------------------------------


def log_mel(waveform):
    """Normalised LMS ``[B, 128, 44]`` of a batch of 0.5 s waveforms, in-graph."""
    return audio.normalize_log_mel(audio.log_mel_spectrogram(waveform))


def vocoder_pair(waveforms, hop_length=512):
    """``(normalised LMS [B, 128, 44], waveform [B, 22016])`` for the vocoder: the clip
    scaled to the canonical level (its LMS peak at 0 dB, ``tfav.models.vocoder``) and cut
    to the ``(frames - 1) * hop`` samples the inverse STFT of its 44 frames covers."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    db = audio.log_mel_spectrogram(waveforms)
    peak = tf.math.reduce_max(db, axis=[-2, -1])
    target = waveforms * tf.math.pow(10.0, -peak / 20.0)[:, None]
    frames = int(db.shape[-1])
    return audio.normalize_log_mel(db), target[:, : (frames - 1) * hop_length]


def sound_condition(waveforms, condition="lms"):
    """What an S2I task's model is conditioned on, from a batch of 0.5 s waveforms
    ``[B, 22050]``: the waveforms themselves (``condition="waveform"``) or their
    :func:`log_mel` (``"lms"``), as a numpy array."""
    if condition == "waveform":
        return np.asarray(waveforms, dtype=np.float32)
    return log_mel(waveforms).numpy()


def image_augmentation(seed=0):
    """Camera and lighting jitter for image classifiers and regressors (training only).

    Evaluation images come from unseen recordings (other players, rooms and
    camera placements), so the verifier learns to ignore those; hue and flips
    are left alone because colour and handedness carry the instrument and pose.
    """
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

    if task.kind == "vocoder":
        return lambda b: vocoder_pair(b["waveform"])

    def gan(batch):
        if "encoding" in batch:  # computed once per item by the pipeline (make_dataset)
            out = {"encoding": batch["encoding"]}
        else:
            out = {"condition": gan_condition(task, batch)}
        out["label"] = batch["label"]
        if "take" in batch:
            out["take"] = batch["take"]
        if task.direction == "s2i":
            out["target"] = batch["image"]
            if task.wrong_pairs:
                out["wrong_target"] = batch["wrong_image"]
        else:
            out["target"] = resize_spectrogram(log_mel(batch["waveform"]), I2S_FRAMES)
            if task.wrong_pairs:
                out["wrong_target"] = resize_spectrogram(log_mel(batch["wrong_waveform"]),
                                                         I2S_FRAMES)
        return out

    return gan


def gan_condition(task: Task, batch: dict):
    """What a GAN task's generator is conditioned on, from a pipeline batch: the
    waveform (``condition="waveform"``), its :func:`log_mel` (S2I) or the image (I2S)."""
    if task.condition == "waveform":
        return batch["waveform"]
    if task.direction == "s2i":
        return log_mel(batch["waveform"])
    return batch["image"]


def make_dataset(task: Task, root, split: str, *, categories=None, batch_size=64, seed=0,
                 image_size=64, shuffle=True, drop_remainder=True, wrong_pair_weights=None,
                 encoder=None, takes=None):
    """Batches of ``split`` mapped to the task's model inputs.

    Args:
        encoder: a GAN task's frozen condition encoder: its code of each item's
            condition is computed once, before the pipeline's cache, and batches carry
            ``encoding`` instead of ``condition`` (the objective's ``encoding_of``), so a
            training step runs only the generator and the discriminator; S2I batches
            then carry no waveform either.
        takes: recording names: batches carry each pair's ``take`` (its position there;
            ``pipeline.pair_dataset``).
    """
    precompute = None
    if encoder is not None:
        if task.kind != "gan":
            raise ConfigError(f"make_dataset: {task.name} has no condition to encode")

        def precompute(items):
            return {"encoding": encoder(gan_condition(task, items), training=False)}

    # Once encoded, an S2I step reads no sound (I2S still needs it: its target).
    drop = ("waveform",) if encoder is not None and task.direction == "s2i" else ()
    ds = pair_dataset(
        root, split, categories=categories, image_size=image_size, batch_size=batch_size,
        shuffle=shuffle, seed=seed, wrong_pairs=task.wrong_pairs if task.kind == "gan" else None,
        drop_remainder=drop_remainder, wrong_pair_weights=wrong_pair_weights,
        precompute=precompute, drop=drop, takes=takes,
    )
    mapping = model_inputs(task, augment=split == "train" and shuffle, seed=seed)
    return ds.map(mapping, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )
