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
fails later, inside ``tf.data``; :func:`check_sound` and :func:`check_image`
find every problem of one file that training would meet (``stats --strict``,
``to-tfrecord``).

A sound of any length becomes exactly one 0.5 s chunk in one place,
:func:`fit_waveform`, whichever decoder read it; :func:`read_sound` is one
sound file as the pipeline sees it.
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
#: The format each file extension of the pair layout promises (``layout.IMAGE_EXTENSIONS``,
#: ``layout.AUDIO_EXTENSIONS``); images of other formats are refused.
IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
SOUND_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}


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
        raise ImageError(f"{path}: unreadable image ({decode_error_reason(e, path)})") from e
    return image.numpy().astype(np.float32) / 127.5 - 1.0


def fit_waveform(samples: tf.Tensor) -> tf.Tensor:
    """Mono waveform of any length -> exactly ``CHUNK_SAMPLES`` (crop or zero-pad at the end).

    The one place where a short chunk is padded and a long one cropped: every
    decoder, the TFRecord reader and writer, the probe and the preview use it.
    """
    samples = samples[: audio.CHUNK_SAMPLES]
    pad = audio.CHUNK_SAMPLES - tf.shape(samples)[0]
    return tf.ensure_shape(tf.pad(samples, [[0, pad]]), [audio.CHUNK_SAMPLES])


def chunk_length(frames: int, sample_rate: int) -> str:
    """``"short"``, ``"exact"`` or ``"long"``: a sound of ``frames`` at ``sample_rate``
    against one chunk once resampled to 44.1 kHz (:func:`fit_waveform` pads a short
    one with zeros and crops a long one)."""
    samples = audio.resampled_length(frames, sample_rate, audio.SAMPLE_RATE)
    if samples == audio.CHUNK_SAMPLES:
        return "exact"
    return "short" if samples < audio.CHUNK_SAMPLES else "long"


def _decode_wav_pcm16(path: tf.Tensor) -> tf.Tensor:
    wav, rate = tf.audio.decode_wav(tf.io.read_file(path))
    check = tf.debugging.Assert(
        tf.equal(rate, audio.SAMPLE_RATE), ["expected a 44100 Hz WAV:", path, rate]
    )
    with tf.control_dependencies([check]):
        return fit_waveform(tf.reduce_mean(wav, axis=1))


def _load_any_audio(path) -> np.ndarray:
    # bytes inside a tf.data graph, a 0-d object array when called eagerly
    return audio.load_audio(os.fsdecode(np.asarray(path).item()), audio.SAMPLE_RATE,
                            allow_silent=True)


def _decode_any_audio(path: tf.Tensor) -> tf.Tensor:
    x = tf.numpy_function(_load_any_audio, [path], tf.float32, stateful=False)
    return fit_waveform(tf.ensure_shape(x, [None]))


def read_sound(path) -> np.ndarray:
    """One sound file as the pipeline sees it: float32 ``[CHUNK_SAMPLES]``, mono, 44.1 kHz.

    :func:`tfav.audio.load_audio`, then :func:`fit_waveform`: for a 16-bit 44.1 kHz
    WAV, the samples of the in-graph decoder (up to float rounding of a channel mean).

    Raises:
        AudioError naming the file.
    """
    x = audio.load_audio(path, audio.SAMPLE_RATE, allow_silent=True)
    return fit_waveform(x).numpy()


def is_native_wav(info) -> bool:
    """True for the format decoded in-graph: 16-bit PCM WAV at 44.1 kHz."""
    return info.format == "WAV" and info.subtype == "PCM_16" and info.samplerate == 44100


def sound_header(path):
    """The ``soundfile.info`` of a sound the pipeline can open.

    Raises:
        AudioError: ``"<path>: unreadable audio (...)"`` or ``"<path>: audio has zero frames"``.
    """
    try:
        info = soundfile.info(path)
    except (RuntimeError, OSError, ValueError) as e:
        # libsndfile says "Error opening '<path>': <reason>"; keep only the reason.
        reason = " ".join(str(e).split()).rpartition("': ")[2] or type(e).__name__
        raise AudioError(f"{path}: unreadable audio ({reason})") from e
    if info.frames == 0:
        raise AudioError(f"{path}: audio has zero frames")
    return info


def image_header(path) -> tuple[str, int, int]:
    """``(format, width, height)`` of an image the pipeline can open (a JPEG or a PNG).

    Raises:
        ImageError: ``"<path>: unreadable image (...)"`` or ``"<path>: GIF images are not
        supported (JPG or PNG)"``.
    """
    try:
        with Image.open(path) as im:
            found = im.format, im.width, im.height
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: unreadable image ({' '.join(str(e).split())})") from e
    if found[0] not in IMAGE_FORMATS.values():
        raise ImageError(f"{path}: {found[0]} images are not supported (JPG or PNG)")
    return found


def mislabelled(path, found: str) -> str | None:
    """``"<path>: named .png but holds a JPEG image"`` when the content's format is not
    the one the extension promises, else ``None``. The decoders read the content, so
    training does not fail on such a file; other tools may."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    kind, promised = ("image", IMAGE_FORMATS) if ext in IMAGE_FORMATS else ("sound",
                                                                          SOUND_FORMATS)
    if ext in promised and promised[ext] != found:
        return f"{path}: named {ext} but holds a {found} {kind}"
    return None


def sound_decoder(info):
    """The pipeline's decoder of a sound with this header: in-graph for a native WAV
    (:func:`is_native_wav`), else :func:`tfav.audio.load_audio`."""
    return _decode_wav_pcm16 if is_native_wav(info) else _decode_any_audio


def decode_problem(path, decode) -> str | None:
    """``None`` when ``decode`` (a decoder of this module: path tensor -> tensor) reads
    ``path``, else ``"<path>: cannot be decoded (<reason>)"`` in one line."""
    try:
        decode(tf.constant(str(path)))
    except (tf.errors.OpError, TfavError) as e:
        return f"{path}: cannot be decoded ({decode_error_reason(e, path)})"
    return None


def image_file_decoder(image_size: int = 64):
    """The pipeline's decoder of an image file (a path tensor -> uint8 ``[S, S, 3]``)."""
    return lambda path: decode_image(tf.io.read_file(path), image_size)


def check_sound(path, *, body: bool = True):
    """The header of a sound file training can use (:func:`sound_header`); with ``body``,
    the file is also decoded by the pipeline's decoder (:func:`sound_decoder`), which
    finds what only fails inside ``tf.data``: a file cut short, NaN samples.

    Raises:
        AudioError: ``"<path>: <problem>"`` in one line.
    """
    info = sound_header(path)
    problem = decode_problem(path, sound_decoder(info)) if body else None
    if problem:
        raise AudioError(problem)
    return info


def check_image(path, *, body: bool = True) -> tuple[str, int, int]:
    """``(format, width, height)`` of an image file training can use
    (:func:`image_header`); with ``body``, the file is also decoded as the pipeline
    does, which finds a damaged or truncated JPEG or PNG.

    Raises:
        ImageError: ``"<path>: <problem>"`` in one line.
    """
    found = image_header(path)
    problem = decode_problem(path, image_file_decoder()) if body else None
    if problem:
        raise ImageError(problem)
    return found


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
        native = is_native_wav(sound_header(pair.audio_path)) and native
        image_header(pair.image_path)
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
        for path, decode in ((pair.audio_path, decode_audio),
                             (pair.image_path, image_file_decoder(image_size))):
            problem = decode_problem(path, decode)
            if problem:
                return problem
    return None


def decode_error_reason(error, path=None) -> str:
    """The first line of a decoding error, without TensorFlow's decorations or ``path``."""
    message = error.message if isinstance(error, tf.errors.OpError) else str(error)
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
    message = message.replace("tfav.errors.AudioError: ", "")
    message = re.sub(r"\s*\[Op:\w+\].*", "", message)
    lines = [line for line in message.splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    if path is not None and str(path) in reason:
        reason = reason.split(f"{path}: ", 1)[-1]
    return reason.strip()[:200]
