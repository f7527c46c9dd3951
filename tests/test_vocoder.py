"""The neural vocoder: inverse STFT, model, losses, canonical level, training, export, use."""

import json

import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from tfav import audio, generate, metrics, serving, tasks
from tfav.audio.features import _centred_stft, _hann
from tfav.models import discriminators, encoders, generators
from tfav.models.vocoder import SpectrumToWaveform, vocoder
from tfav.objectives import ConditionalGAN, registry
from tfav.objectives import vocoder as vocoder_objective
from tfav.objectives.losses import multi_resolution_stft_loss
from tfav.runs import load_trained
from tfav.training import train


def _notes(n=2, samples=22050, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 44100
    f0 = rng.uniform(100, 800, (n, 1))
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * np.exp(-2 * t)
    return (0.3 * x + 0.001 * rng.standard_normal((n, samples))).astype(np.float32)


def test_inverse_stft_inverts_the_centred_stft():
    x = _notes(2)
    stft = _centred_stft(tf.constant(x), 2048, 512, tf.constant(_hann(2048)))
    y = audio.inverse_stft(tf.math.real(stft), tf.math.imag(stft)).numpy()
    assert y.shape == (2, 43 * 512)
    np.testing.assert_allclose(y, x[:, :43 * 512], atol=1e-4)


def test_spectrum_layer_reads_log_magnitude_and_phase():
    x = _notes(1)
    stft = _centred_stft(tf.constant(x), 2048, 512, tf.constant(_hann(2048)))
    spectrum = tf.concat([tf.math.log(tf.math.abs(stft) + 1e-12), tf.math.angle(stft)], -1)
    y = SpectrumToWaveform()(spectrum).numpy()
    np.testing.assert_allclose(y, x[:, :43 * 512], atol=1e-3)


def test_vocoder_pair_is_at_the_canonical_level():
    x = _notes(1) * np.array([[0.01], [0.3], [1.0]], np.float32)  # one note, three levels
    lms, target = (np.asarray(a) for a in tasks.vocoder_pair(x))
    np.testing.assert_allclose(lms, tasks.log_mel(x).numpy(), atol=1e-6)
    assert target.shape == (3, 22016)
    peaks = audio.log_mel_spectrogram(np.pad(target, [(0, 0), (0, 34)])).numpy().max(axis=(1, 2))
    np.testing.assert_allclose(peaks, 0.0, atol=0.1)  # one level whatever the loudness
    np.testing.assert_allclose(target[0], target[2], rtol=1e-3, atol=1e-6)


def test_multi_resolution_stft_loss():
    x = tf.constant(_notes(2))
    convergence, log_magnitude = multi_resolution_stft_loss(x, x)
    assert float(convergence) < 1e-5 and float(log_magnitude) < 1e-5
    convergence, _ = multi_resolution_stft_loss(x, 0.0 * x)
    assert float(convergence) == pytest.approx(1.0, abs=1e-3)  # ||S - 0|| / ||S||
    half, _ = multi_resolution_stft_loss(x, 0.5 * x)
    assert float(half) == pytest.approx(0.5, abs=1e-3)
    assert float(vocoder_objective.log_mel_db(x, 0.5 * x)) == pytest.approx(6.02, abs=0.05)


def test_vocoder_shapes_and_serialisation(tmp_path):
    model = vocoder(channels=16, blocks=2)
    lms = tasks.log_mel(_notes(2))
    out = model(lms).numpy()
    assert out.shape == (2, 22016) and np.isfinite(out).all()
    model.save(tmp_path / "v.keras")
    again = keras.models.load_model(tmp_path / "v.keras")
    np.testing.assert_allclose(again(lms).numpy(), out, atol=1e-6)


def test_vocoder_learns_a_clip():
    """A few steps on one clip lower the loss well below its start (it can learn)."""
    keras.utils.set_random_seed(0)
    task = tasks.get_task("vocoder")
    model = vocoder_objective.build(registry.BuildContext(
        task, 1, vocoder_objective.VocoderHyper(learning_rate=3e-3, channels=32, blocks=2)))
    lms, target = tasks.vocoder_pair(_notes(1))
    before = float(model.evaluate(lms, target, verbose=0)[0])
    model.fit(tf.data.Dataset.from_tensors((lms, target)).repeat(60), verbose=0)
    after = model.evaluate(lms, target, verbose=0, return_dict=True)
    assert after["loss"] < 0.6 * before, (before, after)
    assert after["log_mel_db"] < 6.0, after


def test_vocoder_trains_in_mixed_bfloat16_with_a_float32_signal_path():
    """``--precision auto`` picks bfloat16 on AMX CPUs, where the vocoder is trained lazily."""
    from tfav.precision import policy

    keras.utils.set_random_seed(0)
    with policy("mixed_bfloat16"):
        model = vocoder_objective.build(registry.BuildContext(
            tasks.get_task("vocoder"), 1, vocoder_objective.VocoderHyper(channels=8, blocks=1)))
    assert model.get_layer("block1_expand").compute_dtype == "bfloat16"
    for name in ("spectrum", "mel_magnitude", "inverse_stft"):
        assert model.get_layer(name).compute_dtype == "float32", name
    lms, target = tasks.vocoder_pair(_notes(2))
    history = model.fit(tf.data.Dataset.from_tensors((lms, target)).repeat(2), verbose=0).history
    assert np.isfinite(history["loss"][-1])


def test_vocoder_task_trains_and_resumes(tiny_pairs, tmp_path):
    kwargs = dict(data=tiny_pairs, batch_size=4, steps_per_epoch=2,
                  hyper={"channels": 8, "blocks": 1}, verbose=0)
    run = train("vocoder", epochs=1, out=tmp_path / "voc", **kwargs)
    run = train("vocoder", epochs=2, out=run, resume=True, **kwargs)
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and {"loss", "log_mel_db", "val_loss"} <= set(state["history"][-1])
    model = load_trained(run, "vocoder")
    assert model(tasks.log_mel(_notes(1))).shape == (1, 22016)


def test_yin_pitch_matches_librosa_and_agreement():
    librosa = pytest.importorskip("librosa")
    t = np.arange(22050) / 44100
    hz = np.array([55.0, 196.0, 440.0, 1318.5])
    tones = np.stack([sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 5)) for f in hz])
    ours = metrics.yin_pitch(tones)
    theirs = [np.median(librosa.yin(x, fmin=40, fmax=2100, sr=44100, frame_length=4096,
                                    hop_length=2048, center=False)) for x in tones]
    np.testing.assert_allclose(ours, hz, rtol=2e-3)
    np.testing.assert_allclose(ours, theirs, rtol=2e-3)
    assert np.isnan(metrics.yin_pitch(np.zeros((1, 22050))))[0]
    reference = metrics.midi_to_hz([69, -1, 69, 57])
    assert np.isnan(reference[1]) and reference[0] == 440.0
    got = np.array([445.0, 100.0, 466.2, np.nan])  # 20 cents, (no reference), 100 cents, NaN
    assert metrics.pitch_agreement(got, reference) == pytest.approx(1 / 3)


def _tiny_i2s(path):
    generator = generators.image_to_sound_generator(z_dim=8, base_filters=4, extra_conv_layers=1)
    discriminator = discriminators.image_to_sound_discriminator(base_filters=4, extra_conv_layers=0)
    encoder = encoders.encoder_from_classifier(encoders.image_classifier(3, base_filters=4))
    gan = ConditionalGAN(generator, discriminator, encoder, z_dim=8, seed=0)
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(
        {"task": "i2s", "categories": ["cello", "flute", "violin"], "instrument": None}))
    gan.save(path / "checkpoint.keras")
    return path, gan


def test_i2s_export_synthesises_with_the_vocoder(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    run, gan = _tiny_i2s(tmp_path / "i2s")
    voc = vocoder(channels=8, blocks=1)
    result = serving.export_run(run, fmt="both", out=tmp_path / "models", progress=False,
                                vocoder=lambda: voc)
    meta = json.loads((result.saved_model / "assets.extra" / "tfav.json").read_text())
    assert meta["waveform_by"] == "vocoder"
    model = tf.saved_model.load(str(result.saved_model))
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    seeds = np.array([1, 2], np.int64)
    out = model.signatures["serving_default"](image=images, seed=seeds)
    want = voc(out["log_mel"]).numpy()
    want = 0.9 * want / np.abs(want).max(axis=1, keepdims=True)
    np.testing.assert_allclose(out["waveform"], want, atol=1e-4)
    interpreter = Interpreter(model_path=str(result.tflite))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    got = interpreter.get_signature_runner("serving_default")(image=images, seed=seeds)
    np.testing.assert_allclose(got["waveform"], out["waveform"], atol=1e-3)


def test_generate_image_by_vocoder_or_griffin_lim(tmp_path, capsys):
    run, gan = _tiny_i2s(tmp_path / "i2s")
    image = tmp_path / "frame.png"
    from PIL import Image

    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(image)
    voc = vocoder(channels=8, blocks=1)
    lms, waves = generate.image_to_sounds(gan, image, n=2, seed=3, vocoder=voc)
    want = voc(lms).numpy()
    np.testing.assert_allclose(waves, 0.9 * want / np.abs(want).max(axis=1, keepdims=True),
                               atol=1e-5)
    out = tmp_path / "out"
    assert generate.main([str(run), "--image", str(image), "--n", "2", "--out", str(out),
                          "--vocoder", "griffin-lim"]) == 0
    wave, rate = sf.read(out / "sound_0.wav")
    assert rate == 44100 and len(wave) == 22016 and np.abs(wave).max() > 0.5
    with pytest.raises(SystemExit):
        generate.main([str(run), "--audio", str(image), "--vocoder", "neural"])
    assert "--vocoder: for --image or --audio-out" in capsys.readouterr().err


def _write_video(path, seconds=1.3, fps=20, size=48):
    """A silent video whose frame n is a flat grey of level 2 n (so its index is readable)."""
    av = pytest.importorskip("av")
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for n in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 2 * n, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize("hop,fade", [(None, None), (1000, 1000), (1000, 37)])
def test_overlap_add_rebuilds_a_signal_cut_into_overlapping_chunks(hop, fade):
    from tfav.performance import SOUNDTRACK_FADE, SOUNDTRACK_HOP, overlap_add, overlap_add_stream

    hop, fade = hop or SOUNDTRACK_HOP, fade or SOUNDTRACK_FADE
    x = np.random.default_rng(0).standard_normal(8 * hop + fade).astype(np.float32)
    chunks = np.stack([x[k * hop:k * hop + hop + fade] for k in range(8)])
    np.testing.assert_allclose(overlap_add(chunks, hop, fade=fade), x, atol=1e-5)
    streamed = np.concatenate(list(overlap_add_stream([chunks[:3], chunks[3:]], hop, fade)))
    np.testing.assert_array_equal(streamed, overlap_add(chunks, hop, fade=fade))
    # Chunks that disagree are cross-faded, not cut: no jump at any border.
    steps = overlap_add(np.stack([np.full(hop + fade, float(k)) for k in range(4)]), hop,
                        fade=fade)
    assert np.abs(np.diff(steps)).max() < 3.0 / fade
    # Outside the cross-fades each chunk plays alone, unchanged.
    np.testing.assert_array_equal(steps[fade:hop], 0.0)
    np.testing.assert_array_equal(steps[hop + fade:2 * hop], 1.0)


def test_overlap_add_refuses_a_fade_longer_than_the_hop():
    from tfav.errors import ConfigError
    from tfav.performance import overlap_add

    with pytest.raises(ConfigError, match="cross-fade"):
        overlap_add(np.zeros((2, 30), np.float32), 10, fade=20)


def test_chunk_frames_takes_the_frame_at_each_chunk_start(tmp_path):
    from tfav.performance import chunk_frames

    frames, seconds = chunk_frames(_write_video(tmp_path / "v.mp4"), image_size=16)
    assert seconds == pytest.approx(1.3, abs=0.01)
    # Chunks of 0.5 s start every 0.49 s (10 ms cross-fades): three cover 2 x 0.49 + 0.5 =
    # 1.48 s >= 1.3 s (two: 0.99 s).
    assert len(frames) == 3
    # Chunk k starts at 0.49 k s: the first frame at or after it is frame 10 k at 20 fps
    # (0.5 k s), of level 20 k. The chunk of 0.25 s strides: five, from frames 5 k.
    np.testing.assert_allclose(frames.reshape(3, -1).mean(axis=1), [0, 20, 40], atol=3)
    frames, _ = chunk_frames(_write_video(tmp_path / "v.mp4"), image_size=16, hop=11025,
                             fade=11025)
    np.testing.assert_allclose(frames.reshape(5, -1).mean(axis=1), [0, 10, 20, 30, 40], atol=3)


def test_video_to_soundtrack_writes_the_whole_video_length(tmp_path, capsys):
    run, _ = _tiny_i2s(tmp_path / "i2s")
    video = _write_video(tmp_path / "v.mp4")
    out = tmp_path / "sound.wav"
    assert generate.main([str(run), "--video", str(video), "--audio-out", str(out),
                          "--vocoder", "griffin-lim"]) == 0
    wave, rate = sf.read(out)
    assert rate == 44100 and len(wave) == round(1.3 * 44100)
    assert np.abs(wave).max() == pytest.approx(0.9, abs=1e-3)
    assert "wrote" in capsys.readouterr().out and not list(tmp_path.glob("*.tmp*"))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        generate.main([str(run), "--video", str(tmp_path / "none.mp4"), "--audio-out",
                       str(out)])
    assert "none.mp4: no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(SystemExit):
        generate.main([str(run), "--video", str(broken), "--audio-out", str(tmp_path / "b.wav"),
                       "--vocoder", "griffin-lim"])
    err = capsys.readouterr().err.strip()
    assert "broken.mp4: cannot read the video" in err and "\n" not in err
    assert not (tmp_path / "b.wav").exists() and not list(tmp_path.glob("*.tmp*"))


def test_soundtrack_output_must_be_a_wav_file_name(tmp_path, capsys):
    run, _ = _tiny_i2s(tmp_path / "i2s")
    video = _write_video(tmp_path / "v.mp4", seconds=0.5)
    (tmp_path / "folder.wav").mkdir()
    for out, words in ((tmp_path / "sound.mp3", "the soundtrack is written as .wav"),
                       (tmp_path / "folder.wav", "is a folder, not a sound file name")):
        with pytest.raises(SystemExit) as e:
            generate.main([str(run), "--video", str(video), "--audio-out", str(out),
                           "--vocoder", "griffin-lim"])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and words in err and "\n" not in err
    assert not (tmp_path / "sound.mp3").exists()


def test_mux_copies_the_picture_and_adds_the_generated_soundtrack(tmp_path, capsys):
    """``--mux``: the input's video packets copied untouched, the WAV in AAC, cut to the
    video's length; a bad output name is refused before anything is generated."""
    av = pytest.importorskip("av")
    run, _ = _tiny_i2s(tmp_path / "i2s")
    video = _write_video(tmp_path / "v.mp4")
    wav, muxed = tmp_path / "sound.wav", tmp_path / "with_sound.mp4"
    assert generate.main([str(run), "--video", str(video), "--audio-out", str(wav),
                          "--vocoder", "griffin-lim", "--mux", str(muxed)]) == 0
    assert f"wrote {muxed}" in capsys.readouterr().out
    with av.open(str(video)) as a, av.open(str(muxed)) as b:
        packets_in = [bytes(p) for p in a.demux(a.streams.video[0]) if p.dts is not None]
        assert len(b.streams.video) == 1 and len(b.streams.audio) == 1
        packets_out = [bytes(p) for p in b.demux(b.streams.video[0]) if p.dts is not None]
        assert packets_out == packets_in  # copied, not re-encoded
    with av.open(str(muxed)) as b:
        sound = np.concatenate([f.to_ndarray().reshape(-1)
                                for f in b.decode(b.streams.audio[0])])
    reference, _ = sf.read(wav)
    # AAC adds a priming delay and pads its last frame: the length agrees within a frame.
    assert abs(len(sound) - len(reference)) <= 2048 + 1024
    # The same sound, through a lossy codec (which smooths the peaks): its loudness holds.
    rms = float(np.sqrt(np.mean(sound**2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(reference**2))), rel=0.25)
    assert not list(tmp_path.glob("*.tmp*"))

    for out, words in ((tmp_path / "x.wav2", "write the video as one of"),
                       (video, "is the input video")):
        with pytest.raises(SystemExit) as e:
            generate.main([str(run), "--video", str(video), "--audio-out",
                           str(tmp_path / "y.wav"), "--mux", str(out)])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and words in err and "\n" not in err
    assert not (tmp_path / "y.wav").exists()  # refused before generating
    with pytest.raises(SystemExit):
        generate.main([str(run), "--image", str(video), "--mux", str(muxed)])
    assert "--mux: with --video IN --audio-out OUT.wav" in capsys.readouterr().err
