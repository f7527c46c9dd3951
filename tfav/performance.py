"""A whole performance: a sound file -> a video of the performer, with the sound
(:func:`audio_to_video`), and a silent video -> its soundtrack (:func:`video_to_soundtrack`).

Frame ``i`` of the video is shown at ``i / fps`` s and is generated from the
0.5 s of sound that starts then (:func:`tfav.audio.chunks_at`: zeros beyond the
end of the file), as every training pair's image is the first frame of its chunk;
through the task's condition
(:func:`tfav.tasks.sound_condition`) and the model's own ``generate``. Every
frame uses the same noise vector (one player, one room); it is the first row of
the noise ``python -m tfav.generate --audio`` draws with the same ``--seed``.
Frames are upscaled with nearest-neighbour sampling (the generated pixels,
enlarged, with no detail invented), encoded as H.264 and muxed with the sound as
the model heard it (mono, 44.1 kHz) in AAC.

The sound file is read once; frames are generated, encoded and muxed ``batch``
at a time, so memory does not grow with the length of the piece. The video is
written to a temporary file in the target's folder and renamed over it at the
end (:func:`tfav.files.atomic_path`): a failure leaves nothing behind.

The soundtrack of a video (an I2S model and the vocoder): a half-second chunk is
generated from the video frame at its start (a pair's image is its chunk's first
frame) every 0.5 s less ``SOUNDTRACK_FADE`` (10 ms), with one noise for the whole
video (one instrument), turned into sound by the vocoder and joined to the next by
a 10 ms cross-fade whose two ramps sum to one: each chunk plays whole (a
half-overlapping Hann overlap-add instead mixes two chunks everywhere, and two
generated chunks agree so little that the mix loses the instrument's low
harmonics), and there is no hard border where one ends. The track is written at a
fixed level, then scaled to a 0.9 peak in a second pass over the file, both
streamed.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfav import audio, tasks
from tfav.audio import SAMPLE_RATE
from tfav.data.videos import VideoReadError, decoded_frames, import_av, square_image
from tfav.errors import ConfigError, DataError
from tfav.files import atomic_path
from tfav.visualize import to_uint8_image

#: Frame rates ``audio_to_video`` accepts.
FPS_RANGE = (1, 120)
#: Containers it writes (chosen by the output's extension).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
#: x264's constant quality (18: visually lossless) and speed preset.
H264_OPTIONS = {"crf": "18", "preset": "veryfast"}


def noise(z_dim: int, seed: int, n: int = 1) -> np.ndarray:
    """``[n, z_dim]`` standard normal noise from ``numpy.random.default_rng(seed)``,
    the draw of every ``python -m tfav.generate`` output."""
    return np.random.default_rng(seed).standard_normal((n, z_dim)).astype(np.float32)


def frame_count(samples: int, fps: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames that cover ``samples`` of sound at ``fps`` (at least one)."""
    return max(1, -(-int(samples) * int(fps) // int(sample_rate)))


def frame_times(first: int, count: int, fps: int, sample_rate: int = SAMPLE_RATE):
    """The sample each of frames ``first .. first + count - 1`` is shown at
    (``round(i * sample_rate / fps)``, in integers)."""
    i = np.arange(first, first + count, dtype=np.int64)
    return (2 * i * sample_rate + fps) // (2 * fps)


def frame_images(model, wave, times, z, condition="lms", size=None) -> np.ndarray:
    """uint8 RGB frames ``[n, size, size, 3]`` generated from the 0.5 s of ``wave``
    starting at each of ``times`` (samples), all with the noise ``z`` ``[1, z_dim]``.

    ``size=None`` keeps the generator's size; otherwise frames are upscaled
    (or downscaled) by nearest-neighbour sampling.
    """
    chunks = audio.chunks_at(wave, times)
    cond = tasks.sound_condition(chunks, condition)
    images = to_uint8_image(model.generate(cond, z=np.repeat(z, len(chunks), axis=0)))
    if size is not None and images.shape[1:3] != (size, size):  # uint8 first: less to move
        images = tf.image.resize(images, (size, size), method="nearest").numpy()
    return images


def check_video_options(out_path, fps, size, batch) -> None:
    """A one-line :class:`ConfigError` for an output or option ``audio_to_video`` cannot use."""
    low, high = FPS_RANGE
    if not (isinstance(fps, int | np.integer) and low <= fps <= high):
        raise ConfigError(f"--fps must be a whole number from {low} to {high}, got {fps}")
    if not (isinstance(size, int | np.integer) and size >= 16 and size % 2 == 0):
        raise ConfigError(f"--size must be an even number of pixels >= 16 (H.264), got {size}")
    if not (isinstance(batch, int | np.integer) and batch >= 1):
        raise ConfigError(f"batch must be a positive number of frames, got {batch}")
    out_path = Path(out_path)
    if out_path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"{out_path}: a video must end in one of {', '.join(VIDEO_SUFFIXES)}")
    if out_path.is_dir():
        raise ConfigError(f"{out_path}: is a folder, not a video file name")


def audio_to_video(model, audio_path, out_path, fps=25, seed=0, size=256, batch=64,
                   progress=True, condition="lms") -> dict:
    """Write the video of a whole sound file generated by an S2I model.

    Args:
        model: a trained S2I GAN (``runs.load_trained``); its ``generate`` and
            ``z_dim`` are used.
        audio_path: any file :func:`tfav.audio.load_audio` reads (silent
            stretches, or a silent file, are fine).
        out_path: the video (``.mp4``, ``.mov``, ``.mkv`` or ``.m4v``).
        fps: frames per second, 1 to 120.
        seed: picks the noise vector shared by all frames.
        size: the frames' width and height in pixels (even).
        batch: frames generated and encoded at a time (bounds memory).
        progress: show a tqdm bar.
        condition: the task's condition (``lms`` or ``waveform``).

    Returns:
        ``{"frames", "fps", "audio_seconds", "wall_seconds", "generate_seconds",
        "encode_seconds", "generation_fps", "realtime_factor"}``: the time spent
        in ``generate`` (conditions included) and in encoding and muxing, and
        ``audio_seconds / wall_seconds`` (loading the model not counted).

    Raises:
        AudioError: the sound file cannot be read.
        ConfigError: an option out of range or PyAV missing.
    """
    start = time.perf_counter()
    check_video_options(out_path, fps, size, batch)
    av = import_av("writing videos")
    out_path = Path(out_path)
    wave = audio.load_audio(audio_path, allow_silent=True)
    n_frames = frame_count(len(wave), fps)
    z = noise(model.z_dim, seed)
    generate_seconds = encode_seconds = 0.0
    bar = tqdm(total=n_frames, desc="video", unit="frame", disable=not progress)
    try:
        with atomic_path(out_path, suffix=".tmp" + out_path.suffix) as tmp:
            with av.open(str(tmp), "w") as container:
                video = container.add_stream("h264", rate=fps)
                video.width = video.height = size
                video.pix_fmt = "yuv420p"
                if video.codec_context.name == "libx264":
                    video.options = dict(H264_OPTIONS)
                sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
                for first in range(0, n_frames, batch):
                    count = min(batch, n_frames - first)
                    t0 = time.perf_counter()
                    images = frame_images(model, wave, frame_times(first, count, fps), z,
                                          condition, size)
                    t1 = time.perf_counter()
                    for k, image in enumerate(images):
                        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                        frame.pts, frame.time_base = first + k, Fraction(1, fps)
                        container.mux(video.encode(frame))
                    # The sound of these frames' display time (the rest after the last batch).
                    lo = first * SAMPLE_RATE // fps
                    hi = len(wave) if first + count == n_frames else (
                        (first + count) * SAMPLE_RATE // fps)
                    if hi > lo:
                        piece = np.clip(wave[lo:hi], -1.0, 1.0)[None]
                        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
                        frame.sample_rate, frame.pts = SAMPLE_RATE, lo
                        frame.time_base = Fraction(1, SAMPLE_RATE)
                        container.mux(sound.encode(frame))
                    generate_seconds += t1 - t0
                    encode_seconds += time.perf_counter() - t1
                    bar.update(count)
                t1 = time.perf_counter()
                container.mux(video.encode(None))
                container.mux(sound.encode(None))
            encode_seconds += time.perf_counter() - t1
    finally:
        bar.close()
    wall = time.perf_counter() - start
    seconds = len(wave) / SAMPLE_RATE
    return {
        "frames": n_frames,
        "fps": fps,
        "audio_seconds": seconds,
        "wall_seconds": wall,
        "generate_seconds": generate_seconds,
        "encode_seconds": encode_seconds,
        "generation_fps": n_frames / max(generate_seconds, 1e-9),
        "realtime_factor": seconds / max(wall, 1e-9),
    }


#: The soundtrack's cross-fade between consecutive chunks (10 ms), and its chunk stride:
#: a chunk's length less the cross-fade.
SOUNDTRACK_FADE = 441
SOUNDTRACK_HOP = audio.CHUNK_SAMPLES - SOUNDTRACK_FADE


def chunk_frames(video_path, image_size: int = 64, hop: int = SOUNDTRACK_HOP,
                 fade: int = SOUNDTRACK_FADE):
    """``(frames [K, S, S, 3] uint8, seconds)``: for chunk ``k`` (starting at ``k * hop``
    samples) the first video frame at or after its start, square-cropped and resized
    to ``image_size``; and the video's duration. ``K`` chunks of ``hop + fade``
    samples cover the duration.

    Raises:
        DataError: the video cannot be read or has no frames.
    """
    import_av("reading videos")
    step = hop / SAMPLE_RATE
    wanted, frames, last, duration = 0, [], None, 0.0
    try:
        for t, length, frame in decoded_frames(video_path):
            duration = max(duration, t + length)
            image = None
            while t + 1e-6 >= wanted * step:
                if image is None:
                    image = square_image(frame.to_ndarray(format="rgb24"), image_size)
                frames.append(image)
                wanted += 1
            last = frame
    except VideoReadError as e:
        raise DataError(f"{video_path}: cannot read the video ({e})") from e
    if last is None:
        raise DataError(f"{video_path}: no video frames")
    # Chunks that start inside the video after its last frame's time take that frame.
    needed = max(1, int(np.ceil((duration * SAMPLE_RATE - fade) / hop)))
    tail = square_image(last.to_ndarray(format="rgb24"), image_size)
    frames += [tail] * max(0, needed - len(frames))
    return np.stack(frames[:needed]), duration


def overlap_add_stream(batches, hop: int = SOUNDTRACK_HOP, fade: int = SOUNDTRACK_FADE):
    """Chunks (each ``<= hop + fade`` samples, zero-padded to it) placed ``hop`` apart and
    cross-faded over the ``fade`` samples where two overlap, by ramps ``sin^2`` and
    ``cos^2`` that sum to one (``fade = hop``: a periodic Hann window of ``2 * hop``,
    half-overlapping chunks); the first chunk's start and the last one's end are kept
    unweighted (nothing overlaps them). Takes an iterable of ``[k, L]`` batches and
    yields the finished samples, ``hop`` per chunk, then the last ``fade``.
    """
    if not 0 < fade <= hop:
        raise ConfigError(f"overlap_add: the cross-fade ({fade}) must be in 1..hop ({hop})")
    up = (np.sin(np.pi * np.arange(fade) / (2 * fade)) ** 2).astype(np.float32)
    down = (1.0 - up).astype(np.float32)
    length = hop + fade
    carry = None
    for chunks in batches:
        for chunk in np.asarray(chunks, np.float32):
            c = np.zeros(length, np.float32)
            c[: min(len(chunk), length)] = chunk[:length]
            head = c[:hop].copy()
            if carry is not None:
                head[:fade] = carry + up * c[:fade]
            yield head
            carry, last = down * c[hop:], c[hop:]
    if carry is not None:
        yield last


def overlap_add(chunks, hop: int = SOUNDTRACK_HOP, length: int | None = None,
                fade: int = SOUNDTRACK_FADE) -> np.ndarray:
    """:func:`overlap_add_stream` of one array of chunks ``[K, L]``, cut to ``length``."""
    out = np.concatenate(list(overlap_add_stream([chunks], hop, fade)))
    return out[:length] if length is not None else out


def video_to_soundtrack(model, vocoder, video_path, out_path, seed=0, batch=32,
                        progress=True) -> dict:
    """Write the soundtrack of a video generated by an I2S model (module docstring).

    Args:
        model: a trained I2S GAN (``runs.load_trained``).
        vocoder: normalised LMS -> waveforms (``training.vocoder_for``, or a trained
            ``tfav.models.vocoder``).
        video_path: any video PyAV reads (its sound, if any, is ignored).
        out_path: the WAV file (16-bit, 44.1 kHz mono), written atomically.
        seed: picks the noise shared by all chunks.
        batch: chunks generated at a time.

    Returns:
        ``{"chunks", "audio_seconds", "wall_seconds", "realtime_factor"}``.

    Raises:
        DataError: the video cannot be read. ConfigError: a bad output name.
    """
    import soundfile as sf

    from tfav.models.generators import resize_spectrogram

    start = time.perf_counter()
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".wav":
        raise ConfigError(f"{out_path}: the soundtrack is written as .wav")
    if out_path.is_dir():
        raise ConfigError(f"{out_path}: is a folder, not a sound file name")
    frames, duration = chunk_frames(video_path)
    z = noise(model.z_dim, seed)
    length = int(round(duration * SAMPLE_RATE))
    bar = tqdm(total=len(frames), desc="soundtrack", unit="chunk", disable=not progress)

    def sounds():  # the vocoded chunks, ``batch`` at a time
        for first in range(0, len(frames), batch):
            part = frames[first : first + batch].astype(np.float32) / 127.5 - 1.0
            lms = resize_spectrogram(model.generate(part, z=np.repeat(z, len(part), axis=0)),
                                     tasks.LMS_FRAMES)
            yield np.asarray(vocoder(lms))
            bar.update(len(part))

    peak, written = 0.0, 0
    try:
        with atomic_path(out_path, suffix=".tmp.wav") as tmp:
            raw = tmp.with_name(tmp.name + ".float.wav")
            try:
                with sf.SoundFile(raw, "w", SAMPLE_RATE, 1, subtype="FLOAT") as f:
                    for piece in overlap_add_stream(sounds()):
                        piece = piece[: max(0, length - written)]
                        f.write(piece)
                        written += len(piece)
                        peak = max(peak, float(np.abs(piece).max(initial=0.0)))
                gain = 0.9 / peak if peak > 1e-9 else 1.0
                with sf.SoundFile(raw) as source, sf.SoundFile(
                        tmp, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="WAV") as sink:
                    for block in source.blocks(blocksize=1 << 16, dtype="float32"):
                        sink.write(np.clip(block * gain, -1.0, 1.0))
            finally:
                raw.unlink(missing_ok=True)
    finally:
        bar.close()
    wall = time.perf_counter() - start
    return {"chunks": len(frames), "audio_seconds": written / SAMPLE_RATE, "wall_seconds": wall,
            "realtime_factor": written / SAMPLE_RATE / max(wall, 1e-9)}


def check_mux_name(out_path, video_path) -> None:
    """A one-line :class:`ConfigError` for an output name :func:`mux_soundtrack` cannot
    write (checked before anything is generated)."""
    out_path = Path(out_path)
    if out_path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"{out_path}: write the video as one of {', '.join(VIDEO_SUFFIXES)}")
    if out_path.is_dir():
        raise ConfigError(f"{out_path}: is a folder, not a video file name")
    if out_path.resolve() == Path(video_path).resolve():
        raise ConfigError(f"{out_path}: is the input video; write the muxed copy elsewhere")


def mux_soundtrack(video_path, wav_path, out_path) -> dict:
    """Write ``out_path``: the video stream of ``video_path`` copied as it is (no
    re-encoding) and the sound of ``wav_path`` in AAC, cut to the video's length; any
    sound the video had is dropped. Written atomically.

    Returns:
        ``{"video_packets", "audio_seconds"}``.

    Raises:
        DataError: the video has no video stream or cannot be read.
        ConfigError: a bad output name.
    """
    import soundfile as sf

    av = import_av("writing videos")
    out_path = Path(out_path)
    check_mux_name(out_path, video_path)
    try:
        source = av.open(str(video_path))
    except av.error.FFmpegError as e:
        raise DataError(f"{video_path}: cannot read the video ({e})") from e
    packets, seconds = 0, 0.0
    with source:
        if not source.streams.video:
            raise DataError(f"{video_path}: no video stream")
        video_in = source.streams.video[0]
        duration = _video_seconds(video_in, source)
        with atomic_path(out_path, suffix=".tmp" + out_path.suffix) as tmp, \
                av.open(str(tmp), "w") as container:
            video_out = container.add_stream_from_template(video_in)
            sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            try:
                for packet in source.demux(video_in):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    packet.stream = video_out
                    container.mux(packet)
                    packets += 1
            except av.error.FFmpegError as e:
                raise DataError(f"{video_path}: cannot read the video ({e})") from e
            limit = int(round(duration * SAMPLE_RATE)) if duration else None
            written = 0
            with sf.SoundFile(wav_path) as track:
                if track.samplerate != SAMPLE_RATE:
                    raise DataError(f"{wav_path}: {track.samplerate} Hz; the soundtrack is "
                                    f"{SAMPLE_RATE} Hz")
                for block in track.blocks(blocksize=1 << 15, dtype="float32", always_2d=True):
                    block = block.mean(axis=1)
                    if limit is not None:
                        block = block[: max(0, limit - written)]
                    if not len(block):
                        break
                    frame = av.AudioFrame.from_ndarray(np.clip(block, -1, 1)[None],
                                                       format="fltp", layout="mono")
                    frame.sample_rate, frame.pts = SAMPLE_RATE, written
                    frame.time_base = Fraction(1, SAMPLE_RATE)
                    container.mux(sound.encode(frame))
                    written += len(block)
            container.mux(sound.encode(None))
            seconds = written / SAMPLE_RATE
    return {"video_packets": packets, "audio_seconds": seconds}


def _video_seconds(stream, container) -> float | None:
    """The video stream's duration in seconds (the container's when the stream has none)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None
