"""Decoding image and sound files as the pipeline sees them, and naming those that fail.

Decoding runs in the graph: images with ``tf.io.decode_image`` (a non-square
image is centre-cropped to a square, then resized to S x S with antialiased
bilinear filtering and rounded to uint8, as if stored at that size); sounds
with ``tf.audio.decode_wav`` when the files are 16-bit PCM WAV at 44.1 kHz
(the Sub-URMP format; channels are averaged to mono, then the clip is cropped
or zero-padded to 22,050 samples). When any sound has another rate or format,
all go through :func:`tfav.audio.load_audio` in a ``tf.numpy_function``.
Every header is read up front (about 0.1 ms a pair) to choose the decoder and
to report an unreadable file by name before the first batch
(:func:`audio_decoder`); :func:`find_undecodable` names a file whose body
fails later, inside ``tf.data``.
"""

from __future__ import annotations

import os
import re

import numpy as np
import soundfile
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from tfav import audio
from tfav.data import layout
from tfav.errors import AudioError, ImageError, TfavError

#: Show a progress bar while checking headers of more files than this.
HEADER_PROGRESS_FROM = 5000


def decode_image(data: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPG/PNG bytes -> uint8 ``[S, S, 3]`` (centre-crop to square, resize)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    image = tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
    image.set_shape([None, None, 3])

    def resized():
        x = tf.image.resize(image, [image_size, image_size], antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)

    image = tf.cond(tf.equal(side, image_size), lambda: image, resized)
    return tf.ensure_shape(image, [image_size, image_size, 3])


def read_image(path, image_size: int) -> np.ndarray:
    """One image file as the pipeline sees it: float32 ``[S, S, 3]`` in [-1, 1]."""
    try:
        image = decode_image(tf.io.read_file(str(path)), image_size)
    except (tf.errors.OpError, ValueError) as e:
        raise ImageError(f"{path}: unreadable image ({' '.join(str(e).split())[:200]})") from e
    return image.numpy().astype(np.float32) / 127.5 - 1.0


def fit_waveform(samples: tf.Tensor) -> tf.Tensor:
    """Mono waveform of any length -> exactly ``CHUNK_SAMPLES`` (crop or zero-pad at the end)."""
    samples = samples[: audio.CHUNK_SAMPLES]
    pad = audio.CHUNK_SAMPLES - tf.shape(samples)[0]
    return tf.ensure_shape(tf.pad(samples, [[0, pad]]), [audio.CHUNK_SAMPLES])


def _decode_wav_pcm16(path: tf.Tensor) -> tf.Tensor:
    wav, rate = tf.audio.decode_wav(tf.io.read_file(path))
    check = tf.debugging.Assert(
        tf.equal(rate, audio.SAMPLE_RATE), ["expected a 44100 Hz WAV:", path, rate]
    )
    with tf.control_dependencies([check]):
        return fit_waveform(tf.reduce_mean(wav, axis=1))


def _load_any_audio(path) -> np.ndarray:
    # bytes inside a tf.data graph, a 0-d object array when called eagerly
    x = audio.load_audio(os.fsdecode(np.asarray(path).item()), audio.SAMPLE_RATE,
                         allow_silent=True)
    out = np.zeros(audio.CHUNK_SAMPLES, np.float32)
    out[: min(len(x), audio.CHUNK_SAMPLES)] = x[: audio.CHUNK_SAMPLES]
    return out


def _decode_any_audio(path: tf.Tensor) -> tf.Tensor:
    x = tf.numpy_function(_load_any_audio, [path], tf.float32, stateful=False)
    return tf.ensure_shape(x, [audio.CHUNK_SAMPLES])


def is_native_wav(info) -> bool:
    """True for the format decoded in-graph: 16-bit PCM WAV at 44.1 kHz."""
    return info.format == "WAV" and info.subtype == "PCM_16" and info.samplerate == 44100


def _check_headers(pairs: list[layout.Pair]) -> bool:
    """Read every header (about 0.1 ms a pair); True when all sounds are native WAVs.

    Raises:
        AudioError / ImageError naming the first unreadable file, so that bad
        files are reported before training starts rather than mid-epoch.
    """
    native = True
    bar = tqdm(pairs, desc="checking files", unit="pair", leave=False,
               disable=len(pairs) < HEADER_PROGRESS_FROM)  # fmt: skip
    for pair in bar:
        try:
            info = soundfile.info(pair.audio_path)
        except (RuntimeError, OSError, ValueError) as e:
            reason = " ".join(str(e).split())
            raise AudioError(f"{pair.audio_path}: unreadable audio ({reason})") from e
        if info.frames == 0:
            raise AudioError(f"{pair.audio_path}: audio has zero frames")
        native = native and is_native_wav(info)
        try:
            with Image.open(pair.image_path) as im:
                if im.format not in ("JPEG", "PNG"):
                    raise ImageError(f"{pair.image_path}: {im.format} images are not supported")
        except (OSError, ValueError) as e:
            raise ImageError(f"{pair.image_path}: unreadable image ({e})") from e
    return native


def audio_decoder(pairs: list[layout.Pair]):
    """The decoder of these pairs' sounds, a path tensor -> float32 ``[CHUNK_SAMPLES]``.

    Reads every header first (:func:`_check_headers`, which raises naming an
    unreadable file): the in-graph WAV decoder when every sound is a native
    WAV (:func:`is_native_wav`), else :func:`tfav.audio.load_audio` for all.
    """
    return _decode_wav_pcm16 if _check_headers(pairs) else _decode_any_audio


def find_undecodable(root_or_index, split: str, *, categories=None, image_size: int = 64):
    """The first file of ``split`` the pipeline cannot decode, as ``"<path>: <problem>"``.

    Headers are checked before training (:func:`_check_headers`); a file whose
    body is corrupt (a WAV cut short, NaN samples, a damaged JPEG) only fails
    when ``tf.data`` decodes it, in an error that does not say which file.
    This decodes every pair of the split with the pipeline's own decoders, one
    by one, to name it. Returns ``None`` when every file decodes (or for a
    TFRecord folder, whose records were checked when written).
    """
    is_index = isinstance(root_or_index, layout.PairIndex)
    if not is_index and layout.is_tfrecord_folder(root_or_index):
        return None
    pairs = layout.select_pairs(layout.as_index(root_or_index), split, categories)
    decode_audio = audio_decoder(pairs)
    for pair in tqdm(pairs, desc="looking for the file that failed", unit="pair", leave=False):
        for path, decode in (
            (pair.audio_path, decode_audio),
            (pair.image_path, lambda path: decode_image(tf.io.read_file(path), image_size)),
        ):
            try:
                decode(tf.constant(str(path)))
            except (tf.errors.OpError, TfavError) as e:
                message = e.message if isinstance(e, tf.errors.OpError) else str(e)
                message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
                message = message.replace("tfav.errors.AudioError: ", "")
                message = re.sub(r"\s*\[Op:\w+\].*", "", message)
                lines = [line for line in message.splitlines() if line.strip()]
                reason = lines[0] if lines else type(e).__name__
                if str(path) in reason:
                    reason = reason.split(f"{path}: ", 1)[-1]
                return f"{path}: cannot be decoded ({reason.strip()[:200]})"
    return None
