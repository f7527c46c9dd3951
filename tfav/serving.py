"""TFLite-safe serving graphs: the in-graph pieces and archives of ``python -m tfav.export``.

A served model starts from what a client has, not from model features: the
first 0.5 s of a waveform and its log-mel front end (Chen et al. 2017, sec.
3.3), the image crop and resize of the training pipeline, per-example seeded
noise and (for I2S) the neural vocoder (``tfav.models.vocoder``) or Griffin-Lim
(:func:`tfav.audio.griffin_lim`) all run in the graph, with TFLite builtin ops
only. :func:`build_archive` turns a trained model into the
``keras.export.ExportArchive`` whose signatures are listed in :mod:`tfav.export`
and ``export/README.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfav import audio, tasks
from tfav.audio import CHUNK_SAMPLES
from tfav.errors import ConfigError
from tfav.models.encoders import encoder_from_classifier
from tfav.models.generators import resize_spectrogram
from tfav.runs import load_trained, read_config

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
    """``x`` checked at run time, since a server passes anything to a signature.

    Its shape must match ``spec``, its batch must not be empty and, if it is
    float, all its values must be finite: NaN or Inf would otherwise come out
    as a normal-looking (or all-zero) image. Each failure is an
    ``InvalidArgumentError`` that names the input. The TFLite converter drops
    these checks (see :func:`convert_to_tflite`).
    """
    name = spec.name
    x = tf.ensure_shape(x, spec.shape, name=f"check_{name}_shape")
    nonempty = tf.debugging.assert_positive(
        tf.shape(x)[0], message=f"{name} batch is empty (0 examples)", name=f"check_{name}_batch"
    )
    with tf.control_dependencies([nonempty]):
        x = tf.identity(x)
    if spec.dtype.is_floating:
        x = tf.debugging.assert_all_finite(x, f"{name} has NaN or Inf values",
                                           name=f"check_{name}_finite")  # fmt: skip
    return x


def _same_batch(a, b, what):
    """An assertion that ``b`` has one row per example of ``a`` (clear error in TF Serving)."""
    return tf.debugging.assert_equal(
        tf.shape(b)[0], tf.shape(a)[0],
        message=f"{what} must have one row per example (the same batch size as the first input)",
    )  # fmt: skip


# --------------------------------------------------------------------------- archives


def _spec(shape, dtype, name):
    return tf.TensorSpec(shape, dtype, name=name)


def _gan_archive(gan, direction, vocoder=None):
    """The ExportArchive of a GAN: ``serving_default``, ``with_noise`` and ``encode``; an
    I2S one makes its ``waveform`` by ``vocoder`` (a trained vocoder model) or, when
    ``None``, Griffin-Lim."""
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
            wave = audio.griffin_lim(db) if vocoder is None else vocoder(log_mel, training=False)
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


def build_archive(task, model, vocoder=None):
    """The ``keras.export.ExportArchive`` of a trained model of ``task`` (see module doc);
    ``vocoder``: the vocoder model an I2S archive synthesises its waveform with (``None``:
    Griffin-Lim)."""
    if task.kind == "gan":
        return _gan_archive(model, task.direction, vocoder)
    return _classifier_archive(model, task)


# --------------------------------------------------------------------------- writing


FORMATS = ("savedmodel", "tflite", "both")
QUANTIZATIONS = ("none", "float16", "dynamic")


# --------------------------------------------------------------------------- writing


def _run_config(run):
    """``(task, config)`` of a run folder written by ``python -m tfav.train``."""
    run = Path(run)
    config = read_config(run)
    if "task" not in config:
        raise ConfigError(f"{run / 'config.json'}: unreadable run configuration (no task)")
    task = tasks.get_task(config["task"])
    if task.kind == "regressor":
        raise ConfigError(f"{run}: '{task.name}' runs are evaluation tools; nothing to export")
    return task, config


@dataclasses.dataclass
class ExportResult:
    """Where an export went: the SavedModel version folder and/or the TFLite file."""

    name: str
    version: int
    saved_model: Path | None
    tflite: Path | None
    signatures: list


def next_version(base: Path) -> int:
    """1 + the highest version under ``base`` (folders ``N`` and files ``N[.q].tflite``)."""
    taken = [0]
    if base.is_dir():
        for p in base.iterdir():
            head = p.name.split(".")[0]
            if head.isdigit() and (p.is_dir() or p.name.endswith(".tflite")):
                taken.append(int(head))
    return max(taken) + 1


#: A staging folder is ``.<version>.tmp-<random>`` in ``<out>/<name>``.
_STAGING = re.compile(r"\.\d+\.tmp-")
#: The lock file in a staging folder, held by its export while it runs.
_STAGING_LOCK = ".lock"
#: Seconds a staging folder must be unlocked and unchanged before it counts as stale
#: (a new folder exists for an instant before its export locks it).
STALE_AFTER = 60.0


def _check_out(out, base: Path):
    """Refuse an ``--out`` that is (or lies under) a file, before any work is done."""
    try:
        existing = next(p for p in (base, *base.parents) if p.exists())
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot use it ({e.strerror}: {e.filename})") from None
    if not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is a file, not a folder")


def _staging_folder(out, base: Path, version: int):
    """``(folder, lock)``: a new hidden staging folder in ``base``, locked by this export.

    The lock (an ``flock`` on the folder's ``.lock``) lasts while the file
    stays open and ends with the process, however it ends: this is how
    :func:`remove_stale_staging` tells a live export from a killed one.

    Raises:
        ConfigError: ``base`` cannot be created or written (read-only, no permission).
    """
    try:
        base.mkdir(parents=True, exist_ok=True)
        # A hidden folder beside the versions: a server never mistakes it for one.
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=base))
    except OSError as e:
        where = e.filename or base
        raise ConfigError(f"--out {out}: cannot write to {where} ({e.strerror})") from None
    lock = open(tmp / _STAGING_LOCK, "w")  # closed by the caller
    fcntl.flock(lock, fcntl.LOCK_EX)
    return tmp, lock


def remove_stale_staging(base, older_than: float = STALE_AFTER) -> list:
    """Remove the staging folders that exports killed mid-write left in ``base``.

    A folder is stale if no process holds its lock (a live export always
    does; a lock ends with its process) and it has not changed for
    ``older_than`` seconds. Folders without a lock file count as unlocked.

    Returns:
        The removed folders.
    """
    base, removed = Path(base), []
    if not base.is_dir():
        return removed
    now = time.time()
    for folder in base.iterdir():
        if not (_STAGING.match(folder.name) and folder.is_dir()):
            continue
        try:
            if now - folder.stat().st_mtime < older_than:
                continue
            handle = open(folder / _STAGING_LOCK)
        except FileNotFoundError:
            handle = None
        except OSError:
            continue
        try:
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except OSError:  # locked: a live export
            pass
        finally:
            if handle is not None:
                handle.close()
    return removed


def convert_to_tflite(saved_model_dir, signature_keys, quantize="none") -> bytes:
    """TFLite flatbuffer of a SavedModel's signatures, builtin ops only.

    ``quantize``: ``none`` (float32), ``float16`` (weights stored as float16)
    or ``dynamic`` (int8 weights, dynamic-range quantisation).

    The input checks of the SavedModel (empty batch, NaN or Inf values; see
    ``_checked``) have no TFLite builtin: the converter drops their
    ``Assert`` and ``CheckNumerics`` ops, so the TFLite graph checks only
    shapes. A TFLite caller must check its inputs itself (NaN in gives NaN or
    meaningless values out).
    """
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, not {quantize}")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=list(signature_keys)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _metadata(task, config, model, signatures, vocoder=None):

    meta = {
        "task": task.name, "kind": task.kind, "direction": task.direction,
        "categories": config.get("categories"), "instrument": config.get("instrument"),
        "sample_rate": audio.SAMPLE_RATE, "chunk_samples": audio.CHUNK_SAMPLES,
        "signatures": signatures,
    }  # fmt: skip
    if task.kind == "gan":
        meta["z_dim"] = int(model.z_dim)
    if task.direction == "i2s":
        meta["waveform_by"] = "griffin_lim" if vocoder is None else "vocoder"
    return meta


def export_run(run, *, fmt="savedmodel", name=None, version=None, out="export/models",
               quantize="none", progress=True, checkpoint="last",
               vocoder=None) -> ExportResult:  # fmt: skip
    """Export a run folder (see the module docstring); returns where it went.

    ``vocoder``: for an I2S run, a callable returning the trained vocoder model its
    waveform output is synthesised by (called once the export's checks have passed;
    ``None``: Griffin-Lim).

    ``checkpoint="best"`` exports the generator of the run's ``best.keras``.
    The export is staged in a locked hidden folder of ``<out>/<name>`` and
    renamed into place; staging folders that killed exports left there are
    removed first (:func:`remove_stale_staging`).

    Raises:
        ConfigError: not a run folder, unknown format, a version below 1 or one
            that exists, or an ``out`` that is a file or cannot be written
            (all before the model is loaded).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt}")
    if quantize != "none" and fmt == "savedmodel":
        raise ConfigError("--quantize applies to TFLite: add --format tflite or both")
    task, config = _run_config(run)
    name = name or task.name + (f"_{config['instrument']}" if config.get("instrument") else "")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"--name {name!r}: use letters, digits, '_' and '-' only")
    base = Path(out) / name
    _check_out(out, base)
    version = int(version) if version is not None else next_version(base)
    if version < 1:
        raise ConfigError(f"--version must be >= 1, not {version}")
    final = base / str(version)
    suffix = "" if quantize == "none" else f".{quantize}"
    tflite_path = base / f"{version}{suffix}.tflite"
    for path, wanted in ((final, fmt != "tflite"), (tflite_path, fmt != "savedmodel")):
        if wanted and path.exists():
            raise ConfigError(f"{path}: version {version} exists already; pass another --version")
    tmp, lock = _staging_folder(out, base, version)
    steps = tqdm(total=3 + (fmt != "savedmodel"), desc="export", disable=not progress)
    try:
        remove_stale_staging(base)  # this export's own folder is locked
        model = load_trained(run, task.name, checkpoint=checkpoint)
        steps.update()
        vocoder_model = vocoder() if vocoder is not None and task.direction == "i2s" else None
        archive = build_archive(task, model, vocoder_model)
        signatures = ["serving_default", "with_noise", "encode"] if task.kind == "gan" else [
            "serving_default"
        ]
        steps.update()
        saved = tmp / "saved_model"
        with contextlib.redirect_stdout(sys.stderr):
            archive.write_out(str(saved), verbose=False)
        extra = saved / "assets.extra"
        extra.mkdir(exist_ok=True)
        meta = _metadata(task, config, model, signatures, vocoder_model)
        (extra / "tfav.json").write_text(json.dumps(meta, indent=1))
        steps.update()
        if fmt != "savedmodel":
            (tmp / "model.tflite").write_bytes(convert_to_tflite(saved, signatures, quantize))
            steps.update()
        if fmt != "tflite":
            os.rename(saved, final)
        if fmt != "savedmodel":
            os.replace(tmp / "model.tflite", tflite_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        lock.close()
        steps.close()
    return ExportResult(
        name, version, final if fmt != "tflite" else None,
        tflite_path if fmt != "savedmodel" else None, signatures,
    )  # fmt: skip
