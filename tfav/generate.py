"""``python -m tfav.generate RUN --audio F.wav | --image F.jpg``: use a trained generator.

S2I runs take ``--audio``: the half second starting at ``--offset`` seconds is
encoded and ``--n`` images are generated with different noise; they are
written as PNGs and as one grid. ``--gains 0.25,0.5,1,2,4`` (Wan et al. 2019
sec. 5.3) scales the half second by each gain and writes one grid row per
gain, the same noise in every row. I2S runs take ``--image``: ``--n``
spectrograms are generated, written as a PNG grid, and each is turned back
into sound by Griffin-Lim inversion of the mel spectrogram (the mel filterbank
loses detail, Chen sec. 5.4, so expect a rough timbre).

``--video out.mp4`` (S2I runs, with ``--audio``) writes the whole sound file as a
video instead: one frame per ``1/--fps`` s, each generated from the half second
starting at its time (as ``--offset`` does), all with the noise of ``--seed``,
upscaled to ``--size`` pixels and muxed with the sound (:mod:`tfav.performance`). I2S runs take
``--video in.mp4 --audio-out out.wav`` instead: the video's soundtrack, a chunk
every 0.49 s from the frame at its start, vocoded and joined by 10 ms cross-fades.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tfav import audio, performance, tasks, training
from tfav.audio import wav_bytes
from tfav.cli import number_in, one_line_errors
from tfav.data.decode import read_image
from tfav.errors import AudioError, ConfigError
from tfav.files import atomic_write_bytes
from tfav.models.generators import resize_spectrogram
from tfav.runs import load_trained, read_generator_run
from tfav.visualize import image_grid, save_png, spectrogram_rgb, to_uint8_image


def sound_to_images(model, audio_path, n=8, seed=0, offset=0.0, gain=1.0,
                    condition="lms") -> np.ndarray:
    """``n`` images ``[n, 64, 64, 3]`` in [-1, 1] generated from half a second of a sound file.

    ``gain`` scales the waveform (not clipped); ``condition`` is the task's
    (``lms`` or ``waveform``).
    """
    wave = audio.load_audio(audio_path)
    start = int(round(offset * audio.SAMPLE_RATE))
    if start >= len(wave):
        length = len(wave) / audio.SAMPLE_RATE
        raise AudioError(f"{audio_path}: --offset {offset}s is past the end ({length:.2f}s)")
    chunk = audio.chunk_audio(wave[start:])[:1] * np.float32(gain)
    cond = tasks.sound_condition(chunk, condition)
    z = performance.noise(model.z_dim, seed, n)
    return np.asarray(model.generate(np.repeat(cond, n, axis=0), z=z))


def image_to_sounds(model, image_path, n=4, seed=0, vocoder=None):
    """``n`` normalised LMS ``[n, 128, 44]`` and their waveforms (peak 0.9) from one image:
    by ``vocoder`` (LMS -> waveforms: ``training.vocoder_for`` or a trained
    ``tfav.models.vocoder``) or, when ``None``, Griffin-Lim."""
    image = read_image(image_path, 64)[None]
    z = performance.noise(model.z_dim, seed, n)
    lms = resize_spectrogram(model.generate(np.repeat(image, n, axis=0), z=z), tasks.LMS_FRAMES)
    if vocoder is not None:
        wave = np.asarray(vocoder(lms))
    else:
        wave = np.asarray(audio.griffin_lim_from_log_mel(audio.denormalize_log_mel(lms)))
    peak = np.max(np.abs(wave), axis=-1, keepdims=True)
    return np.asarray(lms), 0.9 * wave / np.maximum(peak, 1e-9)


@one_line_errors
def main(argv=None):
    lo, hi = performance.FPS_RANGE
    p = argparse.ArgumentParser(prog="python -m tfav.generate", description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder written by python -m tfav.train")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--audio", help="sound file (S2I runs)")
    source.add_argument("--image", help="image file (I2S runs)")
    p.add_argument("--n", type=number_in(int, 1), default=8,
                   help="samples with different noise (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--offset", type=number_in(float, 0.0), default=None,
                   help="start of the half second, in s (default 0)")
    p.add_argument("--out", help="output folder (default RUN/generated/<input name>)")
    p.add_argument("--gains", help="S2I: comma-separated volume gains, one row each (Wan 5.3)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="the last epoch (default) or the run's best.keras")
    p.add_argument("--vocoder", choices=("neural", "griffin-lim"), default=None,
                   help="I2S: how spectrograms become sound: the neural vocoder (default; "
                   "trained and cached the first time) or Griffin-Lim")
    p.add_argument("--video", help="S2I: write the whole --audio file as this video "
                   "(.mp4, .mov, .mkv or .m4v; one noise, so --n does not apply); I2S: the "
                   "video to give a soundtrack (with --audio-out)")
    p.add_argument("--audio-out", help="I2S, with --video: write the video's generated "
                   "soundtrack to this .wav file")
    p.add_argument("--mux", metavar="OUT_VIDEO", help="I2S, with --audio-out: also write the "
                   "video with the generated soundtrack (its picture copied, sound in AAC)")
    p.add_argument("--fps", type=int, default=None,
                   help=f"--video: frames per second, {lo} to {hi} (default 25)")
    p.add_argument("--size", type=int, default=None,
                   help="--video: frame width and height in pixels, even (default 256)")
    args = p.parse_args(argv)
    soundtrack = args.audio_out is not None
    if soundtrack and (not args.video or args.audio or args.image):
        raise ConfigError("--audio-out: give the silent video as --video (not --audio or --image)")
    if args.mux and not soundtrack:
        raise ConfigError("--mux: with --video IN --audio-out OUT.wav (I2S runs)")
    if args.mux:
        performance.check_mux_name(args.mux, args.video)
    if not (soundtrack or args.audio or args.image):
        raise ConfigError("give --audio (S2I runs), --image (I2S runs) or --video with "
                          "--audio-out (I2S runs)")
    try:
        gains = [float(g) for g in args.gains.split(",")] if args.gains else [1.0]
    except ValueError as e:
        raise ConfigError(f"--gains: expected numbers like 0.25,0.5,1,2,4 ({e})") from e
    if args.gains and (args.image or min(gains) <= 0):
        raise ConfigError("--gains: positive gains, for --audio only")
    if args.vocoder and not (args.image or soundtrack):
        raise ConfigError("--vocoder: for --image or --audio-out (I2S runs) only")
    video_only = [f"--{k}" for k in ("fps", "size") if getattr(args, k) is not None]
    if video_only and not args.video:
        raise ConfigError(f"{', '.join(video_only)}: for --video only")
    if args.video and not soundtrack:
        clash = [f for f, v in (("--gains", args.gains), ("--offset", args.offset),
                                ("--out", args.out)) if v is not None]
        if clash:
            raise ConfigError(f"{', '.join(clash)}: not with --video (it covers the whole sound)")
        fps = 25 if args.fps is None else args.fps
        size = 256 if args.size is None else args.size
        performance.check_video_options(args.video, fps, size, 1)

    run_dir = Path(args.run)
    task, config = read_generator_run(run_dir)
    source = args.audio or args.image or args.video
    if soundtrack and task.direction != "i2s":
        raise ConfigError(f"{run_dir}: --audio-out is for I2S runs; a {task.name} run makes "
                          "videos from --audio with --video")
    if args.video and not soundtrack and task.direction != "s2i":
        raise ConfigError(f"{run_dir}: a {task.name} run makes sound: --image, or --video "
                          "IN with --audio-out OUT.wav")
    if not soundtrack and (task.direction == "s2i") != bool(args.audio):
        wanted = "--audio" if task.direction == "s2i" else "--image"
        raise ConfigError(f"{run_dir}: a {task.name} run generates from {wanted}")
    if not Path(source).exists():
        raise ConfigError(f"{source}: no such file")
    out = Path(args.out) if args.out else run_dir / "generated" / Path(source).stem
    model = load_trained(run_dir, task.name, checkpoint=args.checkpoint)
    condition = getattr(task, "condition", "lms")
    if soundtrack:
        done = performance.video_to_soundtrack(
            model, training.vocoder_for(args.vocoder or "neural", config.get("data")), source,
            args.audio_out, seed=args.seed, progress=sys.stderr.isatty())
        print(f"[tfav] wrote {args.audio_out}: {done['audio_seconds']:.2f} s from "
              f"{done['chunks']} chunks in {done['wall_seconds']:.2f} s "
              f"({done['realtime_factor']:.2f}x real time)")
        if args.mux:
            muxed = performance.mux_soundtrack(source, args.audio_out, args.mux)
            print(f"[tfav] wrote {args.mux}: the video of {source} with "
                  f"{muxed['audio_seconds']:.2f} s of generated sound")
        return 0
    if args.video:
        done = performance.audio_to_video(model, source, args.video, fps=fps, seed=args.seed,
                                          size=size, progress=sys.stderr.isatty(),
                                          condition=condition)
        print(f"[tfav] wrote {args.video}: {done['frames']} frames at {fps} fps, "
              f"{size}x{size}, {done['audio_seconds']:.2f} s of sound in "
              f"{done['wall_seconds']:.2f} s (generation {done['generation_fps']:.0f} "
              f"frames/s, {done['generate_seconds']:.2f} s; encoding "
              f"{done['encode_seconds']:.2f} s)")
        print(f"[tfav] real-time factor {done['realtime_factor']:.2f}x")
        return 0
    if task.direction == "s2i":
        rows = []
        for gain in gains:
            generated = sound_to_images(model, source, args.n, args.seed, args.offset or 0.0,
                                        gain, condition)
            rows.append([to_uint8_image(x) for x in generated])
            prefix = f"gain_{gain:g}_" if args.gains else ""
            for i, im in enumerate(rows[-1]):
                save_png(out / f"{prefix}image_{i}.png", im)
        labels = [f"x{g:g}" for g in gains] if args.gains else None
        save_png(out / "grid.png", image_grid(rows, row_labels=labels))
    else:
        vocoder = (training.vocoder_for("neural", config["data"])
                   if args.vocoder != "griffin-lim" else None)
        lms, waves = image_to_sounds(model, source, args.n, args.seed, vocoder)
        cells = [[spectrogram_rgb(x) for x in lms]]
        save_png(out / "log_mel.png", image_grid(cells, cell_height=128))
        for i, w in enumerate(waves):
            atomic_write_bytes(out / f"sound_{i}.wav", wav_bytes(w))
    print(f"[tfav] wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
