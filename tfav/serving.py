"""TFLite-safe serving graphs: the in-graph pieces and archives of ``python -m tfav.export``.

A served model starts from what a client has, not from model features: the
first 0.5 s of a waveform and its log-mel front end (Chen et al. 2017, sec.
3.3), the image crop and resize of the training pipeline, per-example seeded
noise and (for I2S) Griffin-Lim (:func:`tfav.audio.griffin_lim`) all run in
the graph, with TFLite builtin ops only. :func:`build_archive` turns a trained
model into the ``keras.export.ExportArchive`` whose signatures are listed in
:mod:`tfav.export` and ``export/README.md``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfav import audio, tasks
from tfav.audio import CHUNK_SAMPLES
from tfav.models.encoders import encoder_from_classifier
from tfav.models.generators import resize_spectrogram

#: Modulus of the noise hash (a prime; seeds are taken modulo it).
NOISE_PRIME = 2**31 - 1
_NOISE_ROUNDS = 6


# --------------------------------------------------------------------------- in-graph pieces


def seeded_noise(seed, z_dim: int):
    """Standard normal noise ``[B, z_dim]`` that is a pure function of each example's seed.

    ``tf.random.stateless_normal`` has no TFLite builtin, so the uniforms come
    from a keyed power-map permutation of the counter ``0..2*z_dim-1`` over the
    prime field of :data:`NOISE_PRIME` (MiMC-style rounds ``x <- (x + seed +
    c_r)^5 mod p``; only int64 multiplies and remainders, exact on every
    runtime), and Box-Muller turns pairs of uniforms into normals.

    Args:
        seed: int ``[B]`` (one seed per example; taken modulo 2**31 - 1).
        z_dim: noise width.

    Returns:
        float32 ``[B, z_dim]``.
    """
    p = tf.constant(NOISE_PRIME, tf.int64)
    key = tf.math.floormod(tf.cast(seed, tf.int64), p)[:, None]
    x = tf.range(2 * z_dim, dtype=tf.int64)[None, :] + tf.zeros_like(key)
    for r in range(_NOISE_ROUNDS):
        x = tf.math.floormod(x + key + (0x9E3779B1 * (r + 1)) % NOISE_PRIME, p)
        x2 = tf.math.floormod(x * x, p)
        x = tf.math.floormod(tf.math.floormod(x2 * x2, p) * x, p)
    # Only the top 24 of 31 bits: exact in float32, so u in (0, 1) is the same everywhere.
    u = (tf.cast(x - tf.math.floormod(x, 128), tf.float32) + 64.0) / float(2**31)
    radius = tf.math.sqrt(-2.0 * tf.math.log(u[:, :z_dim]))
    return radius * tf.math.cos((2.0 * np.pi) * u[:, z_dim:])


def first_chunk(waveform):
    """``[B, samples]`` -> ``[B, 22050]``: the first 0.5 s, zero-padded at the end if shorter."""
    waveform = waveform[:, :CHUNK_SAMPLES]
    pad = CHUNK_SAMPLES - tf.shape(waveform)[1]
    return tf.reshape(tf.pad(waveform, [[0, 0], [0, pad]]), [-1, CHUNK_SAMPLES])


def _antialias_matrix(in_size, out_size: int):
    """``[out, in]`` weights of ``tf.image.resize(..., antialias=True)`` (bilinear).

    The triangle filter of TensorFlow's ``ScaleAndTranslate`` kernel, widened
    by the downscale factor and normalised per output pixel, as a dense matrix:
    two matmuls then resize on every runtime (``ScaleAndTranslate`` has no
    TFLite builtin).
    """
    in_f = tf.cast(in_size, tf.float32)
    inv_scale = in_f / float(out_size)
    support = tf.math.maximum(inv_scale, 1.0)
    sample = (tf.range(out_size, dtype=tf.float32)[:, None] + 0.5) * inv_scale
    source = tf.range(in_f, dtype=tf.float32)[None, :] + 0.5
    weights = tf.nn.relu(1.0 - tf.math.abs(source - sample) / support)
    return weights / tf.math.reduce_sum(weights, axis=1, keepdims=True)


def image_model_input(image, image_size: int = 64):
    """uint8 ``[B, H, W, 3]`` -> float32 ``[B, S, S, 3]`` in [-1, 1], as in training.

    The steps of ``tfav.data.decode.decode_image`` and ``to_model_inputs``:
    centre crop to a square, antialiased bilinear resize to ``S x S``, round
    to whole uint8 levels, then ``x / 127.5 - 1``.
    """
    shape = tf.shape(image)
    side = tf.math.minimum(shape[1], shape[2])
    top, left = (shape[1] - side) // 2, (shape[2] - side) // 2
    x = tf.cast(tf.slice(image, tf.stack([0, top, left, 0]), tf.stack([-1, side, side, 3])),
                tf.float32)  # fmt: skip
    m = _antialias_matrix(side, image_size)
    x = tf.transpose(x, [0, 3, 1, 2])  # [B, 3, side, side]
    x = tf.linalg.matmul(tf.linalg.matmul(m, x), m, transpose_b=True)
    x = tf.transpose(x, [0, 2, 3, 1])
    return tf.clip_by_value(tf.math.round(x), 0.0, 255.0) / 127.5 - 1.0


def to_uint8(image):
    """Images in [-1, 1] -> uint8 levels (``round((x + 1) * 127.5)``, clipped)."""
    levels = tf.math.round((image + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(levels, 0.0, 255.0), tf.uint8)


def _checked(x, spec):
    """``x`` with its shape checked at run time: a server passes any shape to a signature."""
    return tf.ensure_shape(x, spec.shape, name=f"check_{spec.name}_shape")


def _same_batch(a, b, what):
    """An assertion that ``b`` has one row per example of ``a`` (clear error in TF Serving)."""
    return tf.debugging.assert_equal(
        tf.shape(b)[0], tf.shape(a)[0],
        message=f"{what} must have one row per example (the same batch size as the first input)",
    )  # fmt: skip


# --------------------------------------------------------------------------- archives


def _spec(shape, dtype, name):
    return tf.TensorSpec(shape, dtype, name=name)


def _gan_archive(gan, direction):
    """The ExportArchive of a GAN: ``serving_default``, ``with_noise`` and ``encode``."""
    encoder, generator, z_dim = gan.condition_encoder, gan.sampling_generator, int(gan.z_dim)
    # Endpoints track the variables they use. (Tracking the models as well
    # would store every weight twice: Keras wrappers and TF variables.)
    archive = keras.export.ExportArchive()
    if direction == "s2i":
        condition_spec = _spec([None, None], tf.float32, "waveform")

        def encode(waveform):
            return encoder(tasks.log_mel(first_chunk(waveform)), training=False)

        def outputs(encoding, z):
            image = generator([encoding, z], training=False)
            return {"image": to_uint8(image), "image_float": image}
    else:
        condition_spec = _spec([None, None, None, 3], tf.uint8, "image")

        def encode(image):
            return encoder(image_model_input(image), training=False)

        def outputs(encoding, z):
            log_mel = resize_spectrogram(generator([encoding, z], training=False),
                                         tasks.LMS_FRAMES)  # fmt: skip
            db = audio.denormalize_log_mel(log_mel)
            wave = audio.griffin_lim(db)
            peak = tf.math.reduce_max(tf.math.abs(wave), axis=-1, keepdims=True)
            wave = 0.9 * wave / tf.math.maximum(peak, 1e-9)
            return {"log_mel": log_mel, "log_mel_db": db, "waveform": wave}

    # The names of the TensorSpecs are the names of the signature's inputs.
    seed_spec, z_spec = _spec([None], tf.int64, "seed"), _spec([None, z_dim], tf.float32, "z")

    def serve(condition, seed):
        condition, seed = _checked(condition, condition_spec), _checked(seed, seed_spec)
        with tf.control_dependencies([_same_batch(condition, seed, "seed")]):
            return outputs(encode(condition), seeded_noise(seed, z_dim))

    def with_noise(condition, z):
        condition, z = _checked(condition, condition_spec), _checked(z, z_spec)
        with tf.control_dependencies([_same_batch(condition, z, "z")]):
            return outputs(encode(condition), z)

    def encoding(condition):
        return {"encoding": encode(_checked(condition, condition_spec))}

    archive.add_endpoint("serving_default", serve, [condition_spec, seed_spec])
    archive.add_endpoint("with_noise", with_noise, [condition_spec, z_spec])
    archive.add_endpoint("encode", encoding, [condition_spec])
    return archive


def _classifier_archive(model, task):
    """Sound/image classifier or autoencoder run: the raw input -> encoding (+ probabilities)."""
    encoder = model.encoder if task.kind == "autoencoder" else encoder_from_classifier(model)
    archive = keras.export.ExportArchive()  # endpoints track their variables
    if task.modality == "sound":
        spec = _spec([None, None], tf.float32, "waveform")

        def features(waveform):
            return tasks.log_mel(first_chunk(waveform))
    else:
        spec = _spec([None, None, None, 3], tf.uint8, "image")
        features = image_model_input

    def serve(x):
        x = features(_checked(x, spec))
        out = {"encoding": encoder(x, training=False)}
        if task.kind == "classifier":
            out["probabilities"] = tf.nn.softmax(model(x, training=False), axis=-1)
        return out

    archive.add_endpoint("serving_default", serve, [spec])
    return archive


def build_archive(task, model):
    """The ``keras.export.ExportArchive`` of a trained model of ``task`` (see module doc)."""
    if task.kind == "gan":
        return _gan_archive(model, task.direction)
    return _classifier_archive(model, task)
