"""Export contract: SavedModel (TF Serving layout) and TFLite graphs from raw waveforms/images.

One tiny S2I run is trained for the module; the I2S and classifier exports use
untrained tiny models saved as run folders (what is checked is the graph, not
the training).
"""

import fcntl
import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from conftest import tiny_tone, write_tiny_pairs
from PIL import Image

from tfav import audio, export, serving, tasks
from tfav.data.decode import decode_image
from tfav.data.pipeline import to_model_inputs
from tfav.errors import ConfigError
from tfav.models import discriminators, encoders, generators
from tfav.objectives import ConditionalGAN
from tfav.runs import load_trained
from tfav.training import train

ROOT = Path(__file__).resolve().parents[1]
CLEAN_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _load_client():
    spec = importlib.util.spec_from_file_location("tfav_export_client", ROOT / "export/client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _load_client()


def _waves(n=2, samples=audio.CHUNK_SAMPLES):
    return np.stack([tiny_tone(220.0 * (k + 1), 0.3, samples) for k in range(n)])


def _run_folder(path, task, model, categories=("cello", "flute", "violin")):
    path.mkdir(parents=True)
    config = {"task": task, "categories": list(categories), "instrument": None}
    (path / "config.json").write_text(json.dumps(config))
    model.save(path / "checkpoint.keras")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def sound_classifier_run(work):
    return _run_folder(work / "sound_encoder", "sound_encoder", encoders.sound_classifier(3))


@pytest.fixture(scope="module")
def s2i(work, sound_classifier_run):
    """A trained tiny S2I run exported as SavedModel + TFLite: (run, gan, result)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFAV_CACHE", str(work / "cache"))  # nothing may touch the user's cache
        run = train(
            "s2i_instrument", data=write_tiny_pairs(work / "pairs"), epochs=1, batch_size=4,
            out=work / "s2i", hyper={"base_filters": 8, "z_dim": 16}, evaluate=False,
            encoders={"sound_encoder": sound_classifier_run}, verbose=0,
        )  # fmt: skip
    result = serving.export_run(run, fmt="both", out=work / "models", progress=False)
    return run, load_trained(run, "s2i_instrument"), result


@pytest.fixture(scope="module")
def s2i_saved(s2i):
    return tf.saved_model.load(str(s2i[2].saved_model))


def _keras_images(gan, waveforms, z):
    lms = tasks.log_mel(serving.first_chunk(tf.constant(waveforms)))
    return np.asarray(gan.generate(lms, z=z))


# --------------------------------------------------------------------------- graph pieces


def test_seeded_noise_is_normal_per_example_and_seed():
    seeds = np.arange(-500, 1500, dtype=np.int64)
    z = serving.seeded_noise(seeds, 16).numpy()
    assert z.shape == (2000, 16) and np.isfinite(z).all()
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    assert abs(np.corrcoef(z[:-1].ravel(), z[1:].ravel())[0, 1]) < 0.03
    # A row depends only on its own seed, not on the batch around it.
    again = serving.seeded_noise(np.array([7, 3, 2**40], np.int64), 16).numpy()
    np.testing.assert_array_equal(again[1], z[503])
    assert not np.allclose(again[0], again[1])


@pytest.mark.parametrize("shape", [(40, 40), (100, 130), (64, 64), (150, 90)])
def test_image_input_matches_training_decode(shape):
    rng = np.random.default_rng(sum(shape))
    images = rng.integers(0, 256, (2, *shape, 3)).astype(np.uint8)
    mine = serving.image_model_input(tf.constant(images)).numpy()
    for image, got in zip(images, mine, strict=True):
        png = tf.io.encode_png(image)
        want = to_model_inputs({"image": decode_image(png, 64)[None]})["image"][0].numpy()
        steps = np.abs(got - want) * 127.5
        assert steps.max() < 1.01 and (steps > 0.5).mean() < 1e-3  # rare rounding ties


def test_griffin_lim_matches_tfav_audio():
    db = audio.log_mel_spectrogram(_waves(1))
    db -= tf.reduce_max(db)
    want = audio.griffin_lim_from_log_mel(db, n_iter=4).numpy()
    got = audio.griffin_lim(db, n_iter=4).numpy()
    assert got.shape == (1, 43 * 512)
    # Two float32 FFT paths (RFFT2D-safe frames vs tf.signal.stft): 3 samples in 22,016
    # differed by 1.04e-5 of the peak on an AMX machine.
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


# --------------------------------------------------------------------------- S2I SavedModel


def test_s2i_saved_model_matches_keras(s2i, s2i_saved):
    _, gan, result = s2i
    assert result.saved_model == result.saved_model.parent / "1"
    waves = _waves(2, 30000)  # longer than 0.5 s: the first 0.5 s is used
    seeds = np.array([3, 11], np.int64)
    out = s2i_saved.signatures["serving_default"](waveform=tf.constant(waves), seed=seeds)
    z = serving.seeded_noise(seeds, gan.z_dim)
    want = _keras_images(gan, waves[:, : audio.CHUNK_SAMPLES], z)
    np.testing.assert_allclose(out["image_float"].numpy(), want, atol=1e-5)
    assert out["image"].dtype == tf.uint8 and out["image"].shape == (2, 64, 64, 3)
    # Float outputs agree to 1e-5; a value that close to a rounding boundary may round
    # to the next integer on one side: at most one level, on a handful of pixels.
    got, expect = out["image"].numpy().astype(int), np.asarray(serving.to_uint8(want)).astype(int)
    assert np.abs(got - expect).max() <= 1 and np.mean(got != expect) < 1e-3
    # with_noise takes z itself; a short clip is zero-padded.
    short = waves[:, :10000]
    noisy = s2i_saved.signatures["with_noise"](waveform=tf.constant(short), z=z)
    padded = np.pad(short, [(0, 0), (0, audio.CHUNK_SAMPLES - 10000)])
    np.testing.assert_allclose(noisy["image_float"], _keras_images(gan, padded, z), atol=1e-5)
    enc = s2i_saved.signatures["encode"](waveform=tf.constant(waves))["encoding"]
    lms = tasks.log_mel(waves[:, : audio.CHUNK_SAMPLES])
    np.testing.assert_allclose(enc, gan.condition_encoder(lms, training=False), atol=1e-5)
    meta = json.loads((result.saved_model / "assets.extra/tfav.json").read_text())
    assert meta["z_dim"] == 16 and meta["task"] == "s2i_instrument"


def test_s2i_loads_in_fresh_process_without_tfav(s2i, s2i_saved):
    path = s2i[2].saved_model
    code = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        f"path = {str(path)!r}\n"
        "m = tf.saved_model.load(path)\n"
        "w = np.sin(np.arange(22050, dtype=np.float32) * 0.05)[None] * 0.3\n"
        "seed = tf.constant([5], tf.int64)\n"
        "out = m.signatures['serving_default'](waveform=tf.constant(w), seed=seed)\n"
        "image = out['image_float'].numpy().tolist()\n"
        "print(json.dumps({'tfav': 'tfav' in sys.modules, 'image': image}))\n"
        # The saved_model_cli command is this module's main.
        "from tensorflow.python.tools import saved_model_cli\n"
        "sys.argv = ['saved_model_cli', 'show', '--all', '--dir', path]\n"
        "saved_model_cli.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=CLEAN_ENV, cwd="/")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    first, _, shown = done.stdout.partition("\n")
    answer = json.loads(first)
    assert answer["tfav"] is False
    w = (np.sin(np.arange(22050, dtype=np.float32) * 0.05)[None] * 0.3).astype(np.float32)
    here = s2i_saved.signatures["serving_default"](waveform=w, seed=tf.constant([5], tf.int64))
    np.testing.assert_allclose(answer["image"], here["image_float"], atol=1e-6)
    for text in ("signature_def['serving_default']", "signature_def['with_noise']",
                 "inputs['waveform']", "inputs['seed']", "inputs['z']", "outputs['image']",
                 "outputs['image_float']", "DT_UINT8", "DT_INT64"):  # fmt: skip
        assert text in shown, text


def test_bad_requests_fail_with_clear_messages(s2i_saved):
    serve = s2i_saved.signatures["serving_default"]
    seed = tf.constant([1], tf.int64)
    errors = (TypeError, ValueError, tf.errors.InvalidArgumentError)
    with pytest.raises(errors, match="int32|float"):
        serve(waveform=tf.zeros([1, 22050], tf.int32), seed=seed)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"waveform \[1,2,22050\] is not"):
        serve(waveform=tf.zeros([1, 2, 22050]), seed=seed)
    with pytest.raises(tf.errors.InvalidArgumentError, match="seed must have one row per example"):
        serve(waveform=tf.zeros([2, 22050]), seed=seed)


def test_non_finite_and_empty_inputs_are_refused(s2i_saved):
    signatures = s2i_saved.signatures
    seed, z = tf.constant([1, 2], tf.int64), tf.zeros([2, 16])
    one_nan, inf, all_nan = _waves(2), _waves(2), np.full([2, 22050], np.nan, np.float32)
    one_nan[1, 100], inf[0, 5] = np.nan, -np.inf
    late_nan = _waves(2, 30000)
    late_nan[0, -1] = np.nan  # past the 0.5 s that is used: still a bad request
    for wave in (one_nan, inf, all_nan, late_nan):
        for fn, other in ((signatures["serving_default"], {"seed": seed}),
                          (signatures["with_noise"], {"z": z}), (signatures["encode"], {})):
            with pytest.raises(tf.errors.InvalidArgumentError, match="waveform has NaN or Inf"):
                fn(waveform=tf.constant(wave), **other)
    for bad in (np.nan, np.inf):
        noise = np.zeros([2, 16], np.float32)
        noise[1, 3] = bad
        with pytest.raises(tf.errors.InvalidArgumentError, match="z has NaN or Inf values"):
            signatures["with_noise"](waveform=tf.constant(_waves(2)), z=tf.constant(noise))
    empty = tf.zeros([0, 22050])
    for fn, other in ((signatures["serving_default"], {"seed": tf.zeros([0], tf.int64)}),
                      (signatures["with_noise"], {"z": tf.zeros([0, 16])}),
                      (signatures["encode"], {})):  # fmt: skip
        with pytest.raises(tf.errors.InvalidArgumentError, match="waveform batch is empty"):
            fn(waveform=empty, **other)


# --------------------------------------------------------------------------- S2I TFLite


def _runner(path, signature="serving_default"):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    return interpreter.get_signature_runner(signature)


def test_s2i_tflite_matches_saved_model(s2i, s2i_saved):
    path = s2i[2].tflite
    assert path == s2i[2].saved_model.parent / "1.tflite" and path.stat().st_size > 0
    waves, seeds = _waves(2, 25000), np.array([4, 9], np.int64)
    want = s2i_saved.signatures["serving_default"](waveform=waves, seed=seeds)
    got = _runner(path)(waveform=waves, seed=seeds)
    np.testing.assert_allclose(got["image_float"], want["image_float"], atol=1e-3)
    assert np.abs(got["image"].astype(int) - want["image"].numpy()).max() <= 1
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    got = _runner(path, "with_noise")(waveform=waves, z=z)
    want = s2i_saved.signatures["with_noise"](waveform=waves, z=z)
    np.testing.assert_allclose(got["image_float"], want["image_float"], atol=1e-3)

    half = serving.export_run(s2i[0], fmt="tflite", quantize="float16", version=1,
                             out=path.parents[1], progress=False).tflite  # fmt: skip
    assert half.name == "1.float16.tflite" and half.stat().st_size < 0.6 * path.stat().st_size
    got = _runner(half, "with_noise")(waveform=waves, z=z)
    np.testing.assert_allclose(got["image_float"], want["image_float"], atol=0.05)


# --------------------------------------------------------------------------- writing


def test_versions_atomicity_and_cli_errors(s2i, work, monkeypatch, capsys):
    run, _, first = s2i
    out = work / "models"
    with pytest.raises(ConfigError, match="version 1 exists"):
        serving.export_run(run, out=out, version=1, progress=False)

    def fail(*args):  # runs after the SavedModel is written, before the rename
        raise OSError("disk full")

    before = sorted(p.name for p in (out / "s2i_instrument").iterdir())
    assert "1" in before and "2" not in before
    monkeypatch.setattr(serving, "_metadata", fail)
    with pytest.raises(OSError, match="disk full"):
        export.main([str(run), "--out", str(out), "--name", "s2i_instrument"])
    assert sorted(p.name for p in (out / "s2i_instrument").iterdir()) == before  # no 2, no temp
    monkeypatch.undo()
    capsys.readouterr()
    for argv, text in (([str(work)], "no config.json"),
                       ([str(run), "--quantize", "float16"], "applies to TFLite"),
                       ([str(run), "--name", "a/b"], "--name")):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            export.main([*argv, "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and text in err and "\n" not in err, err


def test_stale_staging_folders_are_removed(sound_classifier_run, tmp_path):
    base = tmp_path / "sound_encoder"
    old = time.time() - 3600  # an hour ago: past serving.STALE_AFTER

    def staging(name, lock=True, age=old):
        folder = base / name
        (folder / "saved_model").mkdir(parents=True)
        if lock:
            (folder / ".lock").touch()
        os.utime(folder, (age, age))
        return folder

    killed = staging(".1.tmp-killed")  # its export died: nobody holds the lock
    unlocked = staging(".3.tmp-oldcode", lock=False)  # staged before exports took locks
    young = staging(".2.tmp-starting", lock=False, age=time.time())  # an export starting
    live = staging(".1.tmp-live")
    held = open(live / ".lock")  # a live export holds its lock (another open file: conflicts)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        result = serving.export_run(sound_classifier_run, out=tmp_path, progress=False)
    finally:
        held.close()
    assert result.version == 1 and not killed.exists() and not unlocked.exists()
    assert young.exists() and live.exists()
    assert sorted(p.name for p in base.iterdir()) == [".1.tmp-live", ".2.tmp-starting", "1"]
    assert not (result.saved_model / ".lock").exists()


def test_unusable_out_and_version_fail_before_loading(sound_classifier_run, tmp_path,
                                                      monkeypatch, capsys):  # fmt: skip
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(serving, "load_trained", no_load)
    run = str(sound_classifier_run)
    file_out = tmp_path / "models.txt"
    file_out.write_text("not a folder")
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o555)
    if os.access(readonly, os.W_OK):  # root writes anywhere: make the folder refuse
        mkdir = serving.Path.mkdir

        def refuse(path, *args, **kwargs):
            if readonly in path.parents:
                raise PermissionError(13, "Permission denied", str(path))
            return mkdir(path, *args, **kwargs)

        monkeypatch.setattr(serving.Path, "mkdir", refuse)
    cases = ((["--out", str(file_out)], f"{file_out} is a file, not a folder"),
             (["--out", str(file_out / "sub")], f"{file_out} is a file, not a folder"),
             (["--out", str(readonly)], f"cannot write to {readonly}"))  # fmt: skip
    for argv, text in cases:
        with pytest.raises(SystemExit) as e:
            export.main([run, *argv])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and err.startswith("error: --out") and "\n" not in err, err
        assert text in err, err
    assert file_out.read_text() == "not a folder" and not any(readonly.iterdir())
    with pytest.raises(SystemExit) as e:
        export.main([run, "--version", "-3", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and "argument --version: must be >= 1, got -3" in err
    for version in (-3, 0):
        with pytest.raises(ConfigError, match="--version must be >= 1"):
            serving.export_run(run, version=version, out=tmp_path, progress=False)
    assert not any(tmp_path.glob("sound_encoder*"))


# --------------------------------------------------------------------------- client


def test_client_request_body_and_audio(tmp_path):
    waves = _waves(2, 100)
    rows = client.request_body(waves, seeds=[1, 2])
    assert rows["signature_name"] == "serving_default" and len(rows["instances"]) == 2
    sent = np.array(json.loads(json.dumps(rows))["instances"][1]["waveform"], np.float32)
    np.testing.assert_array_equal(sent, waves[1])  # exact float32 after the JSON trip
    assert rows["instances"][1]["seed"] == 2
    cols = client.request_body(waves[0], seeds=7, columnar=True)
    assert cols["inputs"]["seed"] == [7] and len(cols["inputs"]["waveform"]) == 1
    assert client.predict_url("http://h:8501/", "m", 3) == "http://h:8501/v1/models/m/versions/3:predict"

    # Stereo 22.05 kHz, 0.3 s: mono, resampled to 44.1 kHz, zero-padded to 0.5 s.
    tone = tiny_tone(441.0, 0.5, 6615, sample_rate=22050)
    soundfile.write(tmp_path / "a.wav", np.stack([tone, tone], 1), 22050)
    wave = client.read_waveform(tmp_path / "a.wav")
    assert wave.shape == (22050,) and wave.dtype == np.float32
    np.testing.assert_allclose(wave[:13230], audio.resample(tone, 22050, 44100), atol=1e-4)
    assert not wave[13230:].any()
    with pytest.raises(ValueError, match="past the end"):
        client.read_waveform(tmp_path / "a.wav", offset=1.0)


class _PredictHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST ``:predict`` (row and column forms) over a loaded SavedModel."""

    models = {}

    def log_message(self, *args):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = self.path.split("/v1/models/")[-1].split(":")[0].split("/")[0]
        if name not in self.models or not self.path.endswith(":predict"):
            return self._reply(404, {"error": f"Servable not found for request: {name}"})
        fn = self.models[name].signatures[body.get("signature_name", "serving_default")]
        specs = fn.structured_input_signature[1]
        if "instances" in body:
            columns = {k: [row[k] for row in body["instances"]] for k in specs}
        else:
            columns = body["inputs"]
        try:
            out = fn(**{k: tf.constant(columns[k], specs[k].dtype) for k in specs})
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as e:
            return self._reply(400, {"error": str(e).splitlines()[0]})
        out = {k: v.numpy().tolist() for k, v in out.items()}
        if "instances" in body:
            n = len(body["instances"])
            return self._reply(200, {"predictions": [{k: v[i] for k, v in out.items()}
                                                     for i in range(n)]})  # fmt: skip
        return self._reply(200, {"outputs": out})


def test_client_end_to_end_against_local_server(s2i, s2i_saved, tmp_path):
    _PredictHandler.models = {"s2i_instrument": s2i_saved}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PredictHandler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        soundfile.write(tmp_path / "in.wav", _waves(1, 30000)[0], 44100, subtype="FLOAT")
        command = [sys.executable, str(ROOT / "export/client.py"), str(tmp_path / "in.wav"),
                   str(tmp_path / "out.png"), "--server", url, "--seed", "3", "--timeout", "60"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        got = np.asarray(Image.open(tmp_path / "out.png"))
        want = s2i_saved.signatures["serving_default"](
            waveform=_waves(1, audio.CHUNK_SAMPLES), seed=tf.constant([3], tf.int64)
        )["image"][0].numpy()
        np.testing.assert_array_equal(got, want)
        # The column form gives the same image; a wrong model name is a clear error.
        body = client.request_body(_waves(1), seeds=3, columnar=True)
        answer = client.predict(client.predict_url(url, "s2i_instrument"), body)
        np.testing.assert_array_equal(client.images_from_response(answer)[0], want)
        with pytest.raises(RuntimeError, match="HTTP 404.*Servable not found"):
            client.predict(client.predict_url(url, "nope"), body, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- I2S and encoders


def _tiny_i2s_run(path):
    generator = generators.image_to_sound_generator(z_dim=8, base_filters=4, extra_conv_layers=1)
    discriminator = discriminators.image_to_sound_discriminator(base_filters=4, extra_conv_layers=0)
    encoder = encoders.encoder_from_classifier(encoders.image_classifier(3, base_filters=4))
    gan = ConditionalGAN(generator, discriminator, encoder, z_dim=8, seed=0)
    return _run_folder(path, "i2s", gan), gan


def test_i2s_export_image_to_log_mel_and_waveform(work):
    run, gan = _tiny_i2s_run(work / "i2s")
    result = serving.export_run(run, fmt="both", out=work / "models", progress=False)
    model = tf.saved_model.load(str(result.saved_model))
    images = np.random.default_rng(0).integers(0, 256, (2, 90, 120, 3)).astype(np.uint8)
    seeds = np.array([1, 2], np.int64)
    out = model.signatures["serving_default"](image=images, seed=seeds)
    z = serving.seeded_noise(seeds, 8)
    x = serving.image_model_input(tf.constant(images))
    want = generators.resize_spectrogram(gan.generate(x, z=z), 44).numpy()
    np.testing.assert_allclose(out["log_mel"], want, atol=1e-5)
    np.testing.assert_allclose(out["log_mel_db"], (want - 1) * 40, atol=1e-3)
    wave = out["waveform"].numpy()
    assert wave.shape == (2, 43 * 512) and np.allclose(np.abs(wave).max(axis=1), 0.9)
    reference = audio.griffin_lim_from_log_mel(out["log_mel_db"][:1]).numpy()
    np.testing.assert_allclose(wave[:1], 0.9 * reference / np.abs(reference).max(), atol=1e-3)

    got = _runner(result.tflite)(image=images, seed=seeds)
    np.testing.assert_allclose(got["log_mel"], out["log_mel"], atol=1e-3)
    np.testing.assert_allclose(got["waveform"], wave, atol=1e-3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="z has NaN or Inf values"):
        model.signatures["with_noise"](image=images, z=tf.fill([2, 8], np.inf))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image batch is empty"):
        model.signatures["encode"](image=tf.zeros([0, 64, 64, 3], tf.uint8))


def test_classifier_run_exports_encoding_and_probabilities(work, sound_classifier_run, capsys):
    out = work / "models"
    assert export.main([str(sound_classifier_run), "--out", str(out), "--version", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"SavedModel: {out / 'sound_encoder' / '4'}" in printed and "TFLite" not in printed
    assert sorted(p.name for p in (out / "sound_encoder").iterdir()) == ["4"]
    model = tf.saved_model.load(str(out / "sound_encoder" / "4"))
    waves = _waves(3, 40000)
    out = model.signatures["serving_default"](waveform=waves)
    classifier = load_trained(sound_classifier_run, "sound_encoder")
    lms = tasks.log_mel(waves[:, : audio.CHUNK_SAMPLES])
    probabilities = tf.nn.softmax(classifier(lms, training=False)).numpy()
    np.testing.assert_allclose(out["probabilities"], probabilities, atol=1e-5)
    encoder = encoders.encoder_from_classifier(classifier)
    np.testing.assert_allclose(out["encoding"], encoder(lms, training=False), atol=1e-5)
    waves[2, 7] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="waveform has NaN or Inf values"):
        model.signatures["serving_default"](waveform=waves)


def test_export_benchmark_table(s2i, capsys):
    from tfav import bench

    bench.main(["export", "--run", str(s2i[0]), "--batches", "1,2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "z_dim 16" in out and "batch 1 ms" in out and "batch 2 ms" in out
    rows = ("Keras (eager", "generator only", "SavedModel serving_default (", "TFLite float32 (")
    for row in rows:
        line = next(line for line in out.splitlines() if line.startswith(row))
        assert len([float(x) for x in line.split(")")[-1].split()]) == 4, line
    ratio = next(line for line in out.splitlines() if line.startswith("batch-1 SavedModel"))
    assert float(ratio.split(":")[1].split("x")[0]) > 0


def test_image_classifier_and_autoencoder_runs_export(work):
    classifier = encoders.image_classifier(3, base_filters=4)
    run = _run_folder(work / "image_encoder", "image_encoder", classifier)
    model = tf.saved_model.load(str(serving.export_run(run, out=work / "models",
                                                      progress=False).saved_model))  # fmt: skip
    images = np.random.default_rng(1).integers(0, 256, (2, 50, 70, 3)).astype(np.uint8)
    out = model.signatures["serving_default"](image=images)
    x = serving.image_model_input(tf.constant(images))
    want = tf.nn.softmax(classifier(x, training=False)).numpy()
    np.testing.assert_allclose(out["probabilities"], want, atol=1e-5)
    assert out["encoding"].shape == (2, 128)

    autoencoder = encoders.sound_autoencoder()
    run = _run_folder(work / "sound_autoencoder", "sound_autoencoder", autoencoder)
    result = serving.export_run(run, out=work / "models", progress=False)
    out = tf.saved_model.load(str(result.saved_model)).signatures["serving_default"](
        waveform=_waves(2)
    )
    assert set(out) == {"encoding"}
    want = autoencoder.encoder(tasks.log_mel(_waves(2)), training=False)
    np.testing.assert_allclose(out["encoding"], want, atol=1e-5)
