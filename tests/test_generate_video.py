"""``python -m tfav.generate RUN --audio F --video out.mp4``: a whole sound file as a video.

The run is an untrained tiny S2I-C GAN saved as a run folder: what is checked is
the plumbing (windows, noise, encoding, muxing, errors), not the training, and
training even the tiny run would take longer than all of these tests.
"""

import json

import numpy as np
import pytest
import soundfile
from conftest import tiny_tone

from tfav import audio, performance
from tfav.generate import main as generate_main
from tfav.generate import sound_to_images
from tfav.models import discriminators, encoders, generators
from tfav.objectives import ConditionalGAN
from tfav.runs import load_trained
from tfav.visualize import to_uint8_image

av = pytest.importorskip("av")
SR = audio.SAMPLE_RATE


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("video")


@pytest.fixture(scope="module")
def run(work):
    """A tiny S2I-C run folder (config.json + checkpoint.keras), untrained.

    At their initial scale the untrained encoder and generator give flat grey
    images whatever the sound; with every kernel doubled the images depend
    visibly on the sound and on the noise, which is what these tests look at.
    """
    generator = generators.sound_to_image_generator(z_dim=8, base_filters=4)
    discriminator = discriminators.sound_to_image_discriminator(base_filters=4)
    encoder = encoders.encoder_from_classifier(encoders.sound_classifier(3))
    for model in (generator, encoder):
        for weight in model.weights:
            if "kernel" in weight.path:
                weight.assign(2.0 * weight)
    gan = ConditionalGAN(generator, discriminator, encoder, z_dim=8, seed=0)
    path = work / "s2i"
    path.mkdir()
    config = {"task": "s2i_instrument", "categories": ["cello", "flute", "violin"],
              "instrument": None}
    (path / "config.json").write_text(json.dumps(config))
    gan.save(path / "checkpoint.keras")
    return path


@pytest.fixture(scope="module")
def piece(work):
    """2.3 s: 1 s of silence, then 1.3 s of a steady 440 Hz tone (16-bit WAV)."""
    wave = np.concatenate([np.zeros(SR, np.float32), tiny_tone(440.0, 0.5, int(1.3 * SR))])
    path = work / "piece.wav"
    soundfile.write(path, wave, SR, subtype="PCM_16")
    return path


def read_video(path):
    """(frames [n, h, w, 3] uint8, video stream facts, audio duration in s)."""
    with av.open(str(path)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        facts = {"codec": video.codec_context.name, "rate": video.average_rate,
                 "size": (video.width, video.height), "audio_codec": sound.codec_context.name}
        if sound.duration is not None:  # MP4 keeps it (the encoder's priming excluded)
            seconds = float(sound.duration * sound.time_base)
        else:  # Matroska does not: the end of the last decoded frame
            *_, last = container.decode(sound)
            seconds = float(last.pts * last.time_base) + last.samples / last.sample_rate
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return frames, facts, seconds


def test_chunks_at_pad_with_zeros_at_both_ends():
    x = np.arange(1, 11, dtype=np.float32)
    got = audio.chunks_at(x, [-2, 3, 8, -5], chunk_samples=4)
    np.testing.assert_array_equal(got, [[0, 0, 1, 2], [4, 5, 6, 7], [9, 10, 0, 0], [0, 0, 0, 0]])
    # Starting where chunk_audio cuts, they are chunk_audio's chunks.
    wave = tiny_tone(220.0, 0.3, 3 * audio.CHUNK_SAMPLES - 100)
    starts = np.arange(3) * audio.CHUNK_SAMPLES
    np.testing.assert_array_equal(audio.chunks_at(wave, starts), audio.chunk_audio(wave))


def test_frames_follow_the_sound_with_one_noise(run, piece, work, capsys):
    out = work / "videos" / "piece.mp4"
    argv = [str(run), "--audio", str(piece), "--video", str(out), "--fps", "10", "--size", "128"]
    assert generate_main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 23 frames at 10 fps" in printed
    factor = float(printed.split("real-time factor ")[1].split("x")[0])
    assert factor > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["piece.mp4"]  # no temporary left

    frames, facts, seconds = read_video(out)
    assert facts == {"codec": "h264", "rate": 10, "size": (128, 128), "audio_codec": "aac"}
    assert abs(len(frames) - round(2.3 * 10)) <= 1 and frames.shape[1:] == (128, 128, 3)
    assert abs(seconds - 2.3) < 0.1
    frames = frames.astype(np.float32)
    # Frame i hears [i / 10, i / 10 + 0.5) s: frames 0-5 only silence, frames 10-18
    # only the tone (from 19 on, the zeros after the end of the file come in).
    silence, tone = frames[:6], frames[10:19]
    steady = max(np.abs(np.diff(tone, axis=0)).mean(axis=(1, 2, 3)).max(),
                 np.abs(np.diff(silence, axis=0)).mean(axis=(1, 2, 3)).max())
    change = np.abs(tone.mean(0) - silence.mean(0)).mean()
    assert change > 5 * steady and change > 1.0, (change, steady)


def test_a_frame_is_generate_s_first_image_at_that_time(run, piece):
    """The library path: the frame at t is what ``generate --audio --offset t`` gives
    with the same seed (same window, same noise), before upscaling and encoding."""
    model = load_trained(run, "s2i_instrument")
    wave = audio.load_audio(piece)
    z = performance.noise(model.z_dim, seed=3)
    fps = 4
    times = performance.frame_times(5, 2, fps)  # frames at 1.25 s and 1.5 s
    frames = performance.frame_images(model, wave, times, z)
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8
    for frame, t in zip(frames, (1.25, 1.5), strict=True):
        want = to_uint8_image(sound_to_images(model, piece, n=2, seed=3, offset=t)[0])
        assert np.abs(frame.astype(int) - want).max() <= 1
    big = performance.frame_images(model, wave, times, z, size=256)
    np.testing.assert_array_equal(big[:, ::4, ::4], frames)  # nearest: each pixel 4x4
    assert performance.frame_count(int(2.3 * SR), 25) == 58
    assert performance.frame_count(1, 25) == 1


def test_seed_changes_the_player_and_batches_do_not_matter(run, piece, work):
    model = load_trained(run, "s2i_instrument")
    kwargs = dict(fps=5, size=64)
    one = performance.audio_to_video(model, piece, work / "b64.mkv", batch=64, progress=False,
                                     **kwargs)
    performance.audio_to_video(model, piece, work / "b3.mkv", batch=3, progress=False, **kwargs)
    performance.audio_to_video(model, piece, work / "seed1.mkv", seed=1, progress=True, **kwargs)
    assert one["frames"] == 12 and abs(one["audio_seconds"] - 2.3) < 1e-3
    assert one["generation_fps"] > 0 and one["wall_seconds"] > 0
    videos = [read_video(work / f"{n}.mkv") for n in ("b64", "b3", "seed1")]
    assert all(abs(seconds - 2.3) < 0.1 for _, _, seconds in videos)
    a, b, c = (frames.astype(np.float32) for frames, _, _ in videos)
    assert np.abs(a - b).max() <= 2  # same frames in batches of 3 (encoder rounding aside)
    assert np.abs(a - c).mean() > 5 * np.abs(a - b).mean() + 0.5


def test_unreadable_audio_is_one_line_and_leaves_nothing(run, work, capsys):
    bad = work / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = work / "failed"
    out.mkdir()
    with pytest.raises(SystemExit) as stop:
        generate_main([str(run), "--audio", str(bad), "--video", str(out / "x.mp4")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(bad) in err[0]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("extra, words", [
    (["--fps", "0"], "--fps must be a whole number from 1 to 120, got 0"),
    (["--fps", "121"], "--fps must be"),
    (["--size", "101"], "--size must be an even number"),
    (["--gains", "1,2"], "--gains: not with --video"),
])
def test_bad_video_options_are_one_line(run, piece, work, capsys, extra, words):
    out = work / "refused"
    out.mkdir(exist_ok=True)
    with pytest.raises(SystemExit) as stop:
        generate_main([str(run), "--audio", str(piece), "--video", str(out / "x.mp4"), *extra])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert list(out.iterdir()) == []


def test_video_is_for_s2i_runs_and_needs_a_video_name(run, piece, work, capsys):
    i2s = work / "i2s"
    i2s.mkdir()
    (i2s / "config.json").write_text(json.dumps({"task": "i2s"}))
    image = work / "frame.png"
    image.write_bytes(b"")
    for argv, words in (
        ([str(i2s), "--image", str(image), "--video", str(work / "x.mp4")],
         "--video IN with --audio-out OUT.wav"),
        ([str(run), "--video", str(work / "x.mp4"), "--audio-out", str(work / "x.wav")],
         "--audio-out is for I2S runs"),
        ([str(run), "--audio", str(piece), "--audio-out", str(work / "x.wav")],
         "give the silent video as --video"),
        ([str(run), "--audio", str(piece), "--video", str(work / "x.gif")], "a video must end"),
        ([str(run), "--audio", str(piece), "--fps", "30"], "--fps: for --video only"),
    ):
        with pytest.raises(SystemExit):
            generate_main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def test_a_failure_while_encoding_removes_the_temporary_file(run, piece, work):
    model = load_trained(run, "s2i_instrument")
    calls = []

    class Failing:
        z_dim = model.z_dim

        def generate(self, condition, z=None):
            calls.append(len(condition))
            if len(calls) == 2:
                raise RuntimeError("out of memory")
            return model.generate(condition, z=z)

    out = work / "half"
    with pytest.raises(RuntimeError, match="out of memory"):
        performance.audio_to_video(Failing(), piece, out / "x.mp4", fps=10, batch=8,
                                   progress=False)
    assert calls == [8, 8] and list(out.iterdir()) == []
