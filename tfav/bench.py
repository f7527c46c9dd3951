"""Benchmarks: ``python -m tfav.bench <name> [options]``.

Each benchmark is one function registered with :func:`benchmark`, which also
declares its command-line options; ``main`` builds one sub-command per entry::

    @benchmark("train", "steps/s of a GAN step", arg("--batch", type=int, default=64))
    def train(args):
        ...

Run ``python -m tfav.bench --help`` for the list.
"""

import argparse
import itertools
import os
import statistics
import time

import numpy as np
from tqdm import tqdm

from tfav import objectives, tasks
from tfav.cli import one_line_errors
from tfav.objectives.supervised import encoder_of
from tfav.precision import describe_cpu

#: name -> (function(args), one-line help, [(flags, argparse kwargs), ...])
BENCHMARKS = {}


def arg(*flags, **kwargs):
    """An option of a benchmark, as given to ``argparse.ArgumentParser.add_argument``."""
    return flags, kwargs


def benchmark(name, help, *arguments):
    """Register ``function(args)`` as ``python -m tfav.bench <name>`` with these options."""

    def register(function):
        BENCHMARKS[name] = (function, help, arguments)
        return function

    return register


def time_calls(calls, repeats, block=1):
    """Seconds of ``repeats`` timed runs of each of ``calls`` (warmed up by the caller).

    The calls take turns so that load from other processes on a shared machine
    hits all of them alike. With ``block`` > 1 each turn is ``block`` timed
    calls after one untimed one: a library's thread pool (TensorFlow's, or the
    BLAS threads numpy leaves spinning) then runs warm, as in a real pipeline,
    rather than paying for the other library's turn.
    """
    seconds = [[] for _ in calls]
    turns = -(-repeats // block)
    for _ in tqdm(range(turns), desc="timing", leave=False):
        for call, times in zip(calls, seconds, strict=True):
            if block > 1:
                call()
            for _ in range(block):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
    return seconds


def test_clips(batch, samples, sample_rate=44100, seed=0):
    """``[batch, samples]`` float32 notes: harmonic tones with decay, vibrato and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    f0 = 55.0 * 2.0 ** (rng.integers(0, 48, batch) / 12.0)
    vibrato = 1.0 + 0.005 * np.sin(2 * np.pi * rng.uniform(4, 7, (batch, 1)) * t)
    phase = 2 * np.pi * np.cumsum(f0[:, None] * vibrato, axis=1) / sample_rate
    clips = sum(np.sin(k * phase) / k for k in range(1, 9))
    clips *= np.exp(-t * rng.uniform(0.5, 6.0, (batch, 1)))
    clips += 0.003 * rng.standard_normal((batch, samples))
    clips *= rng.uniform(0.05, 0.5, (batch, 1)) / np.abs(clips).max(axis=1, keepdims=True)
    return clips.astype(np.float32)


@benchmark(
    "features",
    "clips/s of the in-graph log-mel spectrogram against librosa",
    arg("--batch", type=int, default=256, help="clips per batch (default 256)"),
    arg("--seconds", type=float, default=0.5, help="clip length (default 0.5 s)"),
    arg("--repeats", type=int, default=9, help="timed calls of each (default 9)"),
    arg("--block", type=int, default=3, help="timed calls per turn, after a warm-up (default 3)"),
    arg("--threads", type=int, default=0, help="TF intra-op threads (default: TF's choice)"),
)
def features(args):
    """Time ``tfav.audio.log_mel_spectrogram`` (tf.function) and librosa on one batch."""
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from tfav import audio

    samples = int(round(args.seconds * audio.SAMPLE_RATE))
    clips = test_clips(args.batch, samples)
    lms = tf.function(
        audio.log_mel_spectrogram, input_signature=[tf.TensorSpec([None, None], tf.float32)]
    )
    tf_out = lms(clips).numpy()  # warm up: trace and first run
    lms(clips).numpy()
    # The floor: the STFT of the same centred, windowed frames, nothing after it.
    window = tf.constant(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def rfft_only(x):
        frames = tf.signal.frame(tf.pad(x, [[0, 0], [1024, 1024]]), 2048, 512)
        return tf.signal.rfft(frames * window)

    rfft_only(clips).numpy()
    names = ["tfav (tf.function)", "rfft only (the floor)"]
    calls = [lambda: lms(clips).numpy(), lambda: rfft_only(clips).numpy()]
    try:
        import librosa
    except ImportError:
        librosa = None
    if librosa is not None:

        def librosa_lms():
            power = librosa.feature.melspectrogram(
                y=clips, sr=audio.SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=128
            )
            db = librosa.power_to_db(power, ref=1.0, top_db=None)
            # librosa's top_db clips at the peak of the whole batch; tfav per clip.
            return np.maximum(db, db.max(axis=(1, 2), keepdims=True) - 80.0)

        librosa_out = librosa_lms()
        names.append(f"librosa {librosa.__version__}")
        calls.append(librosa_lms)
    rows = list(zip(names, time_calls(calls, args.repeats, args.block), strict=True))

    print(
        f"log-mel spectrogram {tuple(tf_out.shape[1:])} per clip, batch {args.batch} x "
        f"{samples} samples, median of {args.repeats} calls in turns of {args.block}, "
        f"{os.cpu_count()} CPU cores "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(f"CPU {describe_cpu()}")
    print(f"{'implementation':<22}{'clips/s':>10}{'ms/batch':>11}")
    for name, seconds in rows:
        median = statistics.median(seconds)
        print(f"{name:<22}{args.batch / median:>10.0f}{1000 * median:>11.1f}")
    floor = statistics.median(rows[0][1]) / statistics.median(rows[1][1])
    verdict = "meets" if floor <= 1.5 else "misses"
    print(f"tfav LMS / rfft only: {floor:.2f}x ({verdict} the 1.5x target)")
    if librosa is None:
        print("librosa is not installed (pip install librosa): no comparison made")
        return
    ratio = statistics.median(rows[2][1]) / statistics.median(rows[0][1])
    difference = float(np.abs(tf_out - librosa_out).max())
    print(f"speed-up tfav/librosa: {ratio:.2f}x   max |dB difference|: {difference:.2e}")


@benchmark(
    "export",
    "waveform -> image latency of an S2I export: Keras, SavedModel, TFLite; sizes",
    arg("--run", dest="run_dir", help="S2I run folder (default: an untrained generator built now)"),
    arg("--base-filters", type=int, default=64, help="untrained generator width (default 64)"),
    arg("--z-dim", type=int, default=100, help="untrained generator noise (default 100)"),
    arg("--batches", default="1,64", help="comma-separated batch sizes (default 1,64)"),
    arg("--repeats", type=int, default=10, help="timed calls of each (default 10)"),
    arg("--quantized", action="store_true", help="also time float16 and dynamic-range TFLite"),
)
def export(args):
    """Median latency of waveform -> image through each runtime, and the model sizes.

    Keras runs eagerly (``tasks.log_mel``, the encoder and the generator, as
    ``tfav.generate`` does); the generator alone and the front end alone (first
    0.5 s, LMS, encoder) run as ``tf.function``; the SavedModel is the
    ``serving_default`` signature; TFLite runs with ``ai_edge_litert`` on all cores.
    """
    import json
    import tempfile
    from pathlib import Path

    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from tfav import serving
    from tfav.runs import load_trained

    batches = [int(b) for b in args.batches.split(",")]
    work = Path(tempfile.mkdtemp(prefix="tfav-bench-export-"))
    run = args.run_dir
    if run is None:
        from tfav.models import encoders

        classifier = encoders.sound_classifier(13)
        s2i = tasks.get_task("s2i_instrument")
        hyper = objectives.make_hyper(s2i, {"base_filters": args.base_filters,
                                            "z_dim": args.z_dim})
        gan = objectives.build_model(s2i, 13, hyper,
                                encoder=encoders.encoder_from_classifier(classifier))
        run = work / "run"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"task": "s2i_instrument"}))
        gan.save(run / "checkpoint.keras")
    gan = load_trained(run, "s2i_instrument")
    if not hasattr(gan, "generator"):
        from tfav.errors import ConfigError

        raise ConfigError(f"{run}: not an S2I generator run")
    quantizations = ("none", "float16", "dynamic") if args.quantized else ("none",)
    results = [
        serving.export_run(run, fmt="both" if q == "none" else "tflite", name="bench", version=1,
                      out=work / "models", quantize=q)
        for q in quantizations
    ]  # fmt: skip
    saved = tf.saved_model.load(str(results[0].saved_model)).signatures["serving_default"]
    encoder, generator = gan.condition_encoder, gan.generator
    front = tf.function(lambda w: encoder(tasks.log_mel(serving.first_chunk(w)), training=False))
    forward = tf.function(lambda e, z: generator([e, z], training=False))

    def size_mb(path):
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files) / 1e6

    rows = {"Keras (eager: LMS + encoder + generator)": None,
            "front end only (0.5 s, LMS, encoder; tf.function)": None,
            "generator only (tf.function)": None,
            f"SavedModel serving_default ({size_mb(results[0].saved_model):.1f} MB)": None}
    for q, result in zip(quantizations, results, strict=True):
        rows[f"TFLite {'float32' if q == 'none' else q} ({size_mb(result.tflite):.1f} MB)"] = q
    interpreters = [
        Interpreter(model_path=str(r.tflite), num_threads=os.cpu_count()) for r in results
    ]

    def calls_for(batch):
        waves = test_clips(batch, 22050)
        seeds = np.arange(batch, dtype=np.int64)
        z = serving.seeded_noise(seeds, gan.z_dim)
        encoding = front(waves)
        calls = [
            lambda: gan.generate(tasks.log_mel(waves), z=z).numpy(),
            lambda: front(waves).numpy(),
            lambda: forward(encoding, z).numpy(),
            lambda: saved(waveform=waves, seed=seeds)["image"].numpy(),
        ]
        for interpreter in interpreters:
            runner = interpreter.get_signature_runner("serving_default")
            calls.append(lambda r=runner: r(waveform=waves, seed=seeds)["image"])
        return calls

    times = {name: {} for name in rows}
    for batch in batches:
        calls = calls_for(batch)
        for call in calls:  # warm up: tracing, allocation
            call()
        for name, seconds in zip(rows, time_calls(calls, args.repeats), strict=True):
            times[name][batch] = statistics.median(seconds)

    source = f"run {args.run_dir}" if args.run_dir else "untrained"
    print(
        f"S2I export, generator base_filters {generator.get_layer('project').units // 128}, "
        f"z_dim {gan.z_dim}, {source}; median of "
        f"{args.repeats} calls; {os.cpu_count()} CPU cores (load average "
        f"{os.getloadavg()[0]:.1f})"
    )
    print(f"CPU {describe_cpu()}")
    header = "".join(f"{f'batch {b} ms':>13}{'img/s':>8}" for b in batches)
    print(f"{'path':<54}{header}")
    for name in rows:
        cells = "".join(f"{1000 * times[name][b]:>13.1f}{b / times[name][b]:>8.0f}"
                        for b in batches)  # fmt: skip
        print(f"{name:<54}{cells}")
    if 1 in batches:
        names = list(rows)
        ratio = times[names[3]][1] / times[names[2]][1]
        verdict = "meets" if ratio <= 2.0 else "misses"
        print(f"batch-1 SavedModel / generator forward: {ratio:.2f}x ({verdict} the 2x target)")
    import shutil

    shutil.rmtree(work, ignore_errors=True)


def forward_flops(model) -> int:
    """Multiply-adds x 2 of one forward pass per example through conv/deconv/dense layers."""
    from keras import layers

    total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # SpectralNormalization wraps its layer
        if isinstance(layer, layers.Layer) and hasattr(layer, "layers") and layer.layers:
            total += forward_flops(layer)
            continue
        if not isinstance(inner, (layers.Conv2D, layers.Conv2DTranspose, layers.Dense)):
            continue
        kernel = inner.kernel.shape
        if isinstance(inner, layers.Dense):
            total += 2 * kernel[0] * kernel[1]
            continue
        # Conv2D: one kernel per output position; Conv2DTranspose: one per input position.
        deconv = isinstance(inner, layers.Conv2DTranspose)
        shape = layer.input.shape if deconv else layer.output.shape
        total += 2 * shape[1] * shape[2] * kernel[0] * kernel[1] * kernel[2] * kernel[3]
    return int(total)


@benchmark(
    "train",
    "images/s of the S2I-C train step: real input pipeline vs in-memory tensors (and "
    "bfloat16), interleaved; GFLOP/s",
    arg("--data", help="pair folder (default: the embedded dataset)"),
    arg("--batch", type=int, default=64, help="batch size (default 64)"),
    arg("--base-filters", type=int, default=32, help="GAN width (default 32, the task's)"),
    arg("--steps", type=int, default=8, help="timed steps per turn (default 8)"),
    arg("--repeats", type=int, default=7, help="turns of each variant (default 7)"),
    arg("--precisions", default="float32,mixed_bfloat16",
        help="comma-separated precisions to time on in-memory batches (default "
             "float32,mixed_bfloat16; the real pipeline runs in the first)"),
)
def train(args):
    """S2I-C GAN-CLS steps fed by ``tasks.make_dataset`` as in training (files decoded,
    the frozen encoder's codes computed once and cached in a first, untimed pass) and by
    the same kind of batches already held in memory, then the in-memory steps in each
    other precision. The variants take turns of ``--steps`` steps, each after an untimed
    step, ``--repeats`` times; each is reported as the median and range of its turns, and
    the pipeline's cost as the median of the per-turn ratios. FLOPs are counted per layer
    (backward = 2 x forward) against a 4096^2 fp32 matmul."""
    import tensorflow as tf

    from tfav import precision
    from tfav.data.pipeline import open_index
    from tfav.models import encoders

    root = args.data
    if root is None:
        from tfav.data.synth import default_dataset

        root = default_dataset()
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    for name in precisions:
        if name not in precision.PRECISIONS[1:]:
            from tfav.errors import ConfigError

            raise ConfigError(f"--precisions: '{name}' is not one of float32, mixed_bfloat16")
    task = tasks.get_task("s2i_instrument")
    width = tasks.get_task("sound_encoder").base_filters
    encoder = encoder_of("sound_encoder", encoders.sound_classifier(13, base_filters=width))
    hyper = objectives.make_hyper(task, {"base_filters": args.base_filters})

    def make_step(policy):
        with precision.policy(policy):
            model = objectives.build_model(task, 13, hyper, encoder=encoder)
        model.build_optimizers()
        return model, tf.function(model.train_step)

    real = tasks.make_dataset(task, root, "train", batch_size=args.batch,
                              encoder=encoder).repeat()
    real_batches = iter(real)
    n = open_index(root).count("train")
    first, step0 = make_step(precisions[0])
    for _ in tqdm(range(max(1, (n // args.batch))), desc="first pass (decode, encode, cache)",
                  leave=False):
        step0(next(real_batches))
    held = [next(real_batches) for _ in range(4)]  # model inputs already in memory

    def memory_batches():
        return itertools.cycle(held)

    variants = {"real pipeline": (step0, real_batches)}
    variants["in-memory tensors"] = (step0, memory_batches())
    for name in precisions[1:]:
        variants[f"in-memory, {name}"] = (make_step(name)[1], memory_batches())

    def turn(step, batches):
        return lambda: [step(next(batches))["d_loss"].numpy() for _ in range(args.steps)]

    calls = [turn(step, batches) for step, batches in variants.values()]
    for call in calls:
        call()  # tracing and the first steps of every variant, untimed
    load_before = os.getloadavg()
    seconds = time_calls(calls, args.repeats, block=1)
    load_after = os.getloadavg()
    rates = {name: sorted(args.steps * args.batch / t for t in times)
             for name, times in zip(variants, seconds, strict=True)}

    g, d = forward_flops(first.generator), forward_flops(first.discriminator)
    # D step: G forward, D forward+backward on real, wrong and fake; G step (x g_steps):
    # G and D forward+backward. The frozen encoder ran once per item, in the first pass.
    step_flops = (g + 3 * 3 * d) + first.g_steps * 3 * (g + d)
    a = tf.random.normal((4096, 4096))
    matmul = tf.function(lambda: tf.matmul(a, a))
    matmul()
    start = time.perf_counter()
    for _ in range(10):
        matmul().numpy()
    peak = 10 * 2 * 4096**3 / (time.perf_counter() - start) / 1e9

    print(f"S2I-C train step, batch {args.batch}, base filters {args.base_filters}, {n} "
          f"training pairs; {args.repeats} turns of {args.steps} steps per variant")
    print(f"  CPU {describe_cpu()}; {os.cpu_count()} cores; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; --precision auto here: "
          f"{precision.resolve('auto')[0]}")
    for name, r in rates.items():
        print(f"  {name:<30} {statistics.median(r):8.1f} images/s (range {r[0]:.1f}-{r[-1]:.1f})")
    ratios = sorted(a / b for a, b in zip(seconds[1], seconds[0], strict=True))
    verdict = "meets" if statistics.median(ratios) >= 0.95 else "misses"
    print(f"  real pipeline / in-memory      {statistics.median(ratios):8.3f}x  (per-turn range "
          f"{ratios[0]:.3f}-{ratios[-1]:.3f}; {verdict} the 0.95x target)")
    for k, name in enumerate(precisions[1:], start=2):
        speed = sorted(a / b for a, b in zip(seconds[1], seconds[k], strict=True))
        print(f"  {name} / {precisions[0]}      {statistics.median(speed):8.3f}x  (per-turn "
              f"range {speed[0]:.3f}-{speed[-1]:.3f})")
    achieved = statistics.median(rates["real pipeline"]) * step_flops / 1e9
    print(f"  FLOPs per example              {step_flops / 1e9:8.3f} GFLOP (G {g / 1e6:.0f}M, "
          f"D {d / 1e6:.0f}M forward; g_steps {first.g_steps})")
    print(f"  achieved                       {achieved:8.1f} GFLOP/s = {achieved / peak:.0%} "
          f"of fp32 matmul peak {peak:.1f} GFLOP/s")


@benchmark(
    "vocoder",
    "x real time of the neural vocoder against Griffin-Lim, on batches of 0.5 s LMS",
    arg("--batch", type=int, default=32, help="0.5 s chunks per batch (default 32)"),
    arg("--repeats", type=int, default=9, help="timed calls of each (default 9)"),
    arg("--iterations", type=int, default=64, help="Griffin-Lim iterations (default 64)"),
    arg("--vocoder", default=None,
        help="a trained vocoder run or .keras (default: an untrained one of the default "
             "size; the speed does not depend on the weights)"),
    arg("--threads", type=int, default=0, help="TF intra-op threads (default: TF's choice)"),
)
def vocoder(args):
    """Time the vocoder (``tfav.models.vocoder``) and fast Griffin-Lim
    (``tfav.audio.griffin_lim_from_log_mel``) on the same batch of LMS of test notes,
    each a ``tf.function``, taking turns, after a warm-up; prints the median and range."""
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from tfav import audio
    from tfav.models.vocoder import vocoder as build_vocoder
    from tfav.runs import load_trained

    model = load_trained(args.vocoder, "vocoder") if args.vocoder else build_vocoder()
    lms = tasks.log_mel(test_clips(args.batch, audio.CHUNK_SAMPLES))
    vocode = tf.function(lambda x: model(x, training=False))
    griffin = tf.function(lambda x: audio.griffin_lim_from_log_mel(
        audio.denormalize_log_mel(x), n_iter=args.iterations))
    calls = [lambda: vocode(lms).numpy(), lambda: griffin(lms).numpy()]
    for call in calls:
        call()
    seconds = time_calls(calls, args.repeats)
    audio_seconds = args.batch * audio.CHUNK_SAMPLES / audio.SAMPLE_RATE
    print(f"{args.batch} chunks of 0.5 s ({audio_seconds:.1f} s of sound) per call, "
          f"{args.repeats} calls each; load average {os.getloadavg()[0]:.1f}; "
          f"vocoder {model.count_params():,} parameters")
    for name, times in zip(("vocoder", f"Griffin-Lim ({args.iterations} it.)"), seconds,
                           strict=True):
        rates = sorted(audio_seconds / t for t in times)
        print(f"  {name:<22} {statistics.median(rates):8.1f}x real time "
              f"(range {rates[0]:.1f}-{rates[-1]:.1f})")
    ratio = statistics.median(seconds[1]) / statistics.median(seconds[0])
    print(f"  vocoder / Griffin-Lim  {ratio:8.1f}x faster")
    print(f"  CPU {describe_cpu()}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tfav.bench", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, (function, help, arguments) in BENCHMARKS.items():
        sub = commands.add_parser(name, help=help, description=function.__doc__)
        for flags, kwargs in arguments:
            sub.add_argument(*flags, **kwargs)
        sub.set_defaults(benchmark_function=function)
    return parser


@one_line_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    args.benchmark_function(args)


if __name__ == "__main__":
    main()
