"""Audio file I/O (numpy): loading, resampling, chunking and loudness.

Loading turns any WAV/FLAC/OGG file into the project's audio convention:
44,100 Hz mono float32 in [-1, 1], cut into 0.5 s chunks of 22,050 samples
(Chen et al. 2017, section 4).
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import scipy.signal
import soundfile

from tfav.errors import AudioError

#: The sampling rate of all audio in tfav (Sub-URMP and the papers use 44.1 kHz).
SAMPLE_RATE = 44100
#: One chunk is 0.5 s of audio (Chen et al. 2017, section 4).
CHUNK_SAMPLES = 22050
#: Chunks at or below this loudness are silent and dropped (Chen et al. 2017, section 4).
SILENCE_DBFS = -45.0


# --------------------------------------------------------------------------- loading


def load_audio(path, sample_rate=SAMPLE_RATE, *, allow_silent=False):
    """Read an audio file as mono float32 at ``sample_rate``.

    WAV, FLAC and OGG (anything libsndfile reads), integer or float PCM, any
    number of channels (mixed to mono by averaging) and any sampling rate
    (resampled with :func:`resample`). Float files are returned as stored, so
    values above 1 in the file stay above 1.

    Args:
        path: the file.
        sample_rate: the rate of the returned samples.
        allow_silent: return an all-zero file instead of raising.

    Returns:
        ``np.float32`` array ``[samples]``.

    Raises:
        AudioError: ``"<path>: <problem>"`` when the file is missing,
            unreadable or corrupt, has zero frames, holds NaN or Inf, or is
            all zeros (unless ``allow_silent``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: no such file")
    try:
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError, EOFError) as e:
        # libsndfile says "Error opening '<path>': <reason>"; keep only the reason.
        reason = " ".join(str(e).split()).rpartition("': ")[2] or type(e).__name__
        raise AudioError(f"{path}: unreadable or corrupt audio ({reason})") from e
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio has zero frames")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: audio contains NaN or Inf samples")
    if not allow_silent and not np.any(data):
        raise AudioError(f"{path}: audio is all zeros (silent)")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return resample(mono, file_rate, sample_rate)


def resample(x, orig_sr, target_sr):
    """Resample along the last axis with a polyphase filter (``scipy.signal.resample_poly``).

    Args:
        x: array ``[..., samples]``.
        orig_sr: its sampling rate (integer Hz).
        target_sr: the wanted sampling rate (integer Hz).

    Returns:
        ``np.float32`` array ``[..., round(samples * target_sr / orig_sr)]``.
    """
    x = np.asarray(x, dtype=np.float32)
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr == target_sr:
        return x
    g = math.gcd(orig_sr, target_sr)
    y = scipy.signal.resample_poly(x, target_sr // g, orig_sr // g, axis=-1)
    return y.astype(np.float32, copy=False)


def resampled_length(samples, orig_sr, target_sr):
    """The number of samples :func:`resample` returns for ``samples`` at ``orig_sr``.

    ``ceil(samples * target_sr / orig_sr)``, as ``scipy.signal.resample_poly`` gives.
    """
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr == target_sr:
        return int(samples)
    g = math.gcd(orig_sr, target_sr)
    return -(-int(samples) * (target_sr // g) // (orig_sr // g))


def chunk_audio(x, chunk_samples=CHUNK_SAMPLES):
    """Cut a waveform into consecutive chunks, zero-padding the last one.

    Args:
        x: waveform ``[samples]``.
        chunk_samples: chunk length (0.5 s at 44.1 kHz by default).

    Returns:
        ``np.float32`` array ``[ceil(samples / chunk_samples), chunk_samples]``;
        a clip shorter than one chunk gives one padded chunk, an empty one none.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    n = -(-x.shape[0] // chunk_samples)
    out = np.zeros((n, chunk_samples), dtype=np.float32)
    out.reshape(-1)[: x.shape[0]] = x
    return out


def chunks_at(x, starts, chunk_samples=CHUNK_SAMPLES):
    """The chunks of a waveform starting at given samples, zero beyond both ends.

    The chunk of start ``s`` is samples ``[s, s + chunk_samples)``; the parts of it
    outside the waveform are zeros, as :func:`chunk_audio` pads its last chunk. A
    pair's image is the first frame of its chunk, so the chunk at a frame's time is
    what a model trained on pairs heard for that frame.

    Args:
        x: waveform ``[samples]``.
        starts: integer sample indices ``[n]`` (any, inside the waveform or not).
        chunk_samples: chunk length (0.5 s at 44.1 kHz by default).

    Returns:
        ``np.float32`` array ``[n, chunk_samples]``.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    out = np.zeros((starts.shape[0], chunk_samples), dtype=np.float32)
    for row, start in zip(out, starts, strict=True):
        lo, hi = max(start, 0), min(start + chunk_samples, x.shape[0])
        if lo < hi:
            row[lo - start : hi - start] = x[lo:hi]
    return out


def wav_bytes(x, sample_rate=SAMPLE_RATE) -> bytes:
    """A waveform as the bytes of a 16-bit PCM WAV file (mono ``[L]`` or ``[L, channels]``),
    to write atomically (``tfav.files.atomic_write_bytes``)."""
    buf = io.BytesIO()
    soundfile.write(buf, np.asarray(x), sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def loudness_dbfs(x):
    """Loudness of a waveform in dBFS (Chen et al. 2017, section 4).

    The paper defines the loudness of a chunk as
    ``Gamma = 20 * log10(|psi| / max(psi))``. We read ``|psi|`` as the RMS of
    the samples and ``max(psi)`` as the full-scale value of the sample type,
    which is pydub's ``AudioSegment.dBFS``: full scale is 1.0 for float audio
    and ``2 ** (bits - 1)`` for integer PCM (32768 for int16). A full-scale
    square wave is 0 dBFS, a full-scale sine about -3 dBFS.

    Args:
        x: waveform, float in [-1, 1] or integer PCM.

    Returns:
        Python float; ``-inf`` for all-zero or empty input.
    """
    x = np.asarray(x)
    full_scale = float(np.iinfo(x.dtype).max + 1) if np.issubdtype(x.dtype, np.integer) else 1.0
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))
    if rms == 0.0:
        return float("-inf")
    return 20.0 * math.log10(rms / full_scale)


def is_silent(x):
    """True when :func:`loudness_dbfs` is at or below :data:`SILENCE_DBFS` (-45 dBFS)."""
    return loudness_dbfs(x) <= SILENCE_DBFS
