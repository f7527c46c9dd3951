"""A whole performance: generated videos (and soundtracks) against rendered ground truth.

The ground truth is ``python -m tfav.data synth --videos`` (:mod:`tfav.data.synth.videos`):
continuous performances by validation players of the run's dataset (its
``synth.json`` gives the seed and size of the plan), ``--seconds`` long at ``--fps``,
with the pose of every frame. It is rendered into ``--truth DIR`` (reused when it
is there already) or a temporary folder.

S2I (``--run``, an ``s2i_pose`` run; the videos play its instrument): each video's
WAV becomes a video by :func:`tfav.performance.audio_to_video` at ``--size`` pixels,
as ``python -m tfav.generate RUN --audio X.wav --video Y.mp4 --seed S`` makes it (one
noise for every frame and every video). The measures read the generated frames at
the model's resolution, :func:`tfav.performance.frame_images` with ``size=None`` (the
video's frames before nearest-neighbour upscaling and H.264; generated a second
time, not decoded from the mp4), beside the real frames (``frames.npz``, lossless):

- speed: frames generated per second, and the realtime factor of ``audio_to_video``
  (seconds of sound per second of wall time; reading the sound, generating,
  upscaling, H.264 encoding and muxing included, loading the model not);
  target >= 2x real time at 25 fps;
- pose error per frame: the cached ``pose_regressor`` (image -> pose) on the generated
  frames against the frame's ground-truth pose, next to the ``pose_from_sound``
  regressor on the LMS of the same 0.5 s starting at the frame (the chunk the
  generator heard, in the alignment of the pairs both learnt from: what the sound
  alone tells of the pose); also the pose regressor on the real frames and chance;
  target <= 1.2x the sound regressor's;
- flicker: mean absolute change of a pixel (0-255) from one frame to the next of the
  generated video over that of the real rendered video; target <= 1.5x;
- identity stability: the mean distance in the ``judge``'s features between two
  frames of one generated video over the mean distance between real frames of two
  videos of different players; target <= 0.3x. The same ratio of the real videos
  (whose poses change too) is the reference.

I2S (``--i2s-run``; the videos of its instrument, or of all 13 in turn): each rendered
mp4 gets a soundtrack by :func:`tfav.performance.video_to_soundtrack` with
``--vocoder``, then

- per-chunk accuracy: the sound classifier (``sound_encoder``) on every 0.5 s chunk of
  the soundtrack from 0 s, against the video's instrument, over the chunks whose
  real sound is above -45 dBFS (the pair dataset's rule), next to its accuracy on the
  real sound's chunks;
- border clicks: the energy of the soundtrack's second difference within 1 ms of the
  chunk borders (the 10 ms cross-fades, every 0.49 s) over its energy elsewhere (1: no
  clicks), next to the same of the real sound;
- the sound classifier on the same chunks' generated spectrograms before the vocoder
  (Table 5's measure), to tell the generator's part from the vocoder's.

Evaluators missing from the cache are trained first (as ``tfav.evaluate`` does; the
judge takes a few minutes), or given with ``--pose-regressor`` etc.

    python experiments/performance_video.py --run runs/main_baseline [--videos 4]
        [--seconds 6] [--fps 25] [--i2s-run RUN [--vocoder neural|griffin-lim]]

Writes ``experiments/results/performance_video.{json,md}``, the contact sheet
``performance_video.png`` (two videos: real frames every 0.5 s above the generated
frames at the same times) and ``performance_video.gif`` (the first video's first
``GIF_SECONDS`` at half the frame rate: the rendered frame left, the generated one
right, at the model's 64 px).
"""

import argparse
import itertools
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from results_io import RESULTS, write_results
from scipy.spatial.distance import cdist, pdist

from tfav import audio, metrics, performance, runs, tasks, training
from tfav.audio import CHUNK_SAMPLES, SAMPLE_RATE, SILENCE_DBFS
from tfav.data.pipeline import open_index
from tfav.data.synth import videos as synth_videos
from tfav.errors import ConfigError
from tfav.files import atomic_write_bytes
from tfav.models.encoders import judge_features
from tfav.models.generators import resize_spectrogram
from tfav.visualize import image_grid, save_png

TARGETS = {"realtime_factor": 2.0, "pose_error_ratio": 1.2, "flicker_ratio": 1.5,
           "identity_ratio": 0.3}
#: Half-width of the window around a chunk border in which clicks are looked for.
CLICK_MS = 1.0
#: Seconds between the columns of the contact sheet; videos it shows.
SHEET_STEP, SHEET_VIDEOS = 0.5, 2
#: Length of the GIF (s); it shows every second frame.
GIF_SECONDS = 2.0


# ----------------------------------------------------------------------------- measures


def flicker(frames) -> float:
    """Mean absolute change of a pixel value (0-255) from one frame to the next."""
    x = np.asarray(frames, np.float32)
    return float(np.abs(np.diff(x, axis=0)).mean()) if len(x) > 1 else 0.0


def identity_distances(features, players) -> dict:
    """``within``: mean over videos of the mean distance between two frames of the video;
    ``between``: mean over pairs of videos of different players of the mean distance
    between a frame of one and a frame of the other (``None`` with one player)."""
    within = [pdist(f).mean() for f in features if len(f) > 1]
    between = [cdist(a, b).mean() for (a, pa), (b, pb)
               in itertools.combinations(zip(features, players, strict=True), 2) if pa != pb]
    return {"within": float(np.mean(within)) if within else None,
            "between": float(np.mean(between)) if between else None}


def border_click_ratio(wave, hop: int = performance.SOUNDTRACK_HOP,
                       fade: int = performance.SOUNDTRACK_FADE, ms: float = CLICK_MS):
    """Mean energy of the second difference of ``wave`` within ``ms`` of the chunk
    borders (the cross-fades ``[k hop, k hop + fade]``, k >= 1) over its mean energy
    elsewhere (``None`` when either is empty or the rest is silent)."""
    x = np.asarray(wave, np.float64)
    energy = (x[2:] - 2.0 * x[1:-1] + x[:-2]) ** 2  # energy[j] is centred on sample j + 1
    radius = int(round(ms * 1e-3 * SAMPLE_RATE))
    near = np.zeros(len(energy), bool)
    for border in range(hop, len(x), hop):
        near[max(0, border - 1 - radius) : max(0, border + fade + radius)] = True
    if not near.any() or near.all() or not energy[~near].mean() > 0:
        return None
    return float(energy[near].mean() / energy[~near].mean())


def _pose_dict(err) -> dict:
    return {"overall": float(err.overall),
            **{d: float(v) for d, v in zip(metrics.POSE_DIMENSIONS, err.per_dimension,
                                           strict=True)}}


def _log_mel(chunks, batch=64):
    return np.concatenate([tasks.log_mel(chunks[i : i + batch]).numpy()
                           for i in range(0, len(chunks), batch)])


def _predict(model, x, batch=128):
    return np.asarray(model.predict(x, batch_size=batch, verbose=0), np.float64)


def _at_size(images, size):
    """uint8 or float frames as float32 pixel values (0-255) at ``size`` (area resizing)."""
    x = np.asarray(images, np.float32)
    if x.shape[1] != size:
        x = tf.image.resize(x, (size, size), method="area").numpy()
    return x


# ------------------------------------------------------------------------ ground truth


def dataset_plan(data) -> dict:
    """The seed and pair count of the embedded-style dataset ``data`` (its ``synth.json``)."""
    path = Path(data) / "synth.json"
    if not path.is_file():
        raise ConfigError(f"{data}: no synth.json; the ground-truth videos are played by the "
                          "players of a dataset built by python -m tfav.data synth")
    meta = json.loads(path.read_text())
    if meta.get("kind", "suburmp") != "suburmp":
        raise ConfigError(f"{data}: a {meta['kind']} dataset; its images do not follow the "
                          "sound, so it has no whole performances")
    return {"seed": int(meta["seed"]), "pairs": int(meta["pairs"])}


def ground_truth(folder: Path, instrument, args, data, log=print) -> dict:
    """The first ``args.videos`` videos of ``folder``, rendered into it if it has none."""
    plan = dataset_plan(data)
    want = {**plan, "fps": args.fps, "seconds": float(args.seconds), "instrument": instrument,
            "size": 64}
    if (folder / synth_videos.INFO_FILE).is_file():
        info = synth_videos.read_videos(folder)
        differs = [f"{k} {info.get(k)!r}, not {v!r}" for k, v in want.items()
                   if info.get(k) != v]
        if len(info["videos"]) < args.videos:
            differs.append(f"{len(info['videos'])} videos, not {args.videos}")
        if differs:
            raise ConfigError(f"{folder}: ground truth of other settings ({'; '.join(differs)}); "
                              "remove it or give another --truth")
        log(f"[performance_video] reusing the ground truth in {folder}")
    else:
        synth_videos.build_videos(folder, args.videos, args.seconds, args.fps, 64, plan["seed"],
                                  plan["pairs"], instrument, progress=sys.stderr.isatty())
        info = synth_videos.read_videos(folder)
    info["videos"] = info["videos"][: args.videos]
    return info


def truth_folder(args, work, instrument, data) -> Path:
    """Where the ground truth of ``instrument`` at the options' length and rate is kept."""
    plan = dataset_plan(data)
    name = (f"{instrument or 'all'}-{args.seconds:g}s-{args.fps}fps-seed{plan['seed']}-"
            f"pairs{plan['pairs']}")
    return Path(args.truth or work / "truth") / name


def evaluator(name, data, explicit=None, instrument=None):
    """A trained evaluator: ``explicit`` (a run folder or .keras), else the cached one
    of ``data`` (trained now if the cache has none; ``training.dependency``)."""
    if explicit:
        return runs.load_trained(explicit, name)
    return training.dependency(name, data, open_index(data), instrument=instrument)


# -------------------------------------------------------------------------------- S2I


def s2i_part(args, work: Path) -> tuple[dict, list]:
    """The S2I measures and the contact sheet's rows."""
    task, config = runs.read_generator_run(args.run)
    if task.direction != "s2i":
        raise ConfigError(f"{args.run}: a {task.name} run; --run takes an S2I run "
                          "(--i2s-run an I2S one)")
    instrument, data = config.get("instrument"), config["data"]
    if not instrument:
        raise ConfigError(f"{args.run}: trained on every instrument; the pose measures need a "
                          "one-instrument run (s2i_pose)")
    truth = ground_truth(truth_folder(args, work, instrument, data), instrument, args, data)
    model = runs.load_trained(args.run, task.name, checkpoint=args.checkpoint)
    condition = getattr(task, "condition", "lms")
    pose_regressor = evaluator("pose_regressor", data, args.pose_regressor, instrument)
    pose_from_sound = evaluator("pose_from_sound", data, args.pose_from_sound, instrument)
    features = judge_features(evaluator("judge", data, args.judge))
    z = performance.noise(model.z_dim, args.seed)
    size = 64  # the real frames' and the evaluators' size

    first = truth["videos"][0]
    warm = performance.frame_times(0, min(args.batch, first["frames"]), args.fps)
    performance.frame_images(model, audio.load_audio(first["wav"], allow_silent=True), warm, z,
                             condition, args.size)  # first calls build and allocate

    rows, pooled, gen_features, real_features, sheet, gif = [], {}, [], [], [], []
    for video in truth["videos"]:
        out = work / "s2i" / f"{video['name']}.mp4"
        speed = performance.audio_to_video(model, video["wav"], out, fps=args.fps,
                                           seed=args.seed, size=args.size, batch=args.batch,
                                           progress=False, condition=condition)
        wave = audio.load_audio(video["wav"], allow_silent=True)
        n = video["frames"]
        if speed["frames"] != n:
            raise AssertionError(f"{out}: {speed['frames']} frames, the truth has {n}")
        times = performance.frame_times(0, n, args.fps)
        generated = np.concatenate([
            performance.frame_images(model, wave, times[i : i + args.batch], z, condition)
            for i in range(0, n, args.batch)])
        real = synth_videos.load_frames(video["npz"])
        gen_px, real_px = _at_size(generated, size), real.astype(np.float32)
        gen_in, real_in = gen_px / 127.5 - 1.0, real_px / 127.5 - 1.0
        pose = np.array([r["pose"] for r in video["labels"]], np.float64)
        lms = _log_mel(audio.chunks_at(wave, times))
        preds = {"generated": _predict(pose_regressor, gen_in),
                 "sound_regressor": _predict(pose_from_sound, lms),
                 "real_frames": _predict(pose_regressor, real_in)}
        for key, value in {**preds, "truth": pose}.items():
            pooled.setdefault(key, []).append(value)
        gen_features.append(_predict(features, gen_in))
        real_features.append(_predict(features, real_in))
        one = identity_distances(gen_features[-1:], [video["player"]])["within"]
        one_real = identity_distances(real_features[-1:], [video["player"]])["within"]
        rows.append({
            "video": video["name"], "player": video["player"], "frames": n,
            "audio_seconds": speed["audio_seconds"], "wall_seconds": speed["wall_seconds"],
            "generation_fps": speed["generation_fps"],
            "generate_seconds": speed["generate_seconds"],
            "encode_seconds": speed["encode_seconds"],
            "realtime_factor": speed["realtime_factor"],
            "pose_error": float(metrics.pose_error(preds["generated"], pose).overall),
            "pose_error_sound_regressor": float(
                metrics.pose_error(preds["sound_regressor"], pose).overall),
            "pose_error_real_frames": float(metrics.pose_error(preds["real_frames"], pose).overall),
            "flicker_generated": flicker(gen_px), "flicker_real": flicker(real_px),
            "identity_within_generated": one, "identity_within_real": one_real,
        })  # fmt: skip
        rows[-1]["flicker_ratio"] = rows[-1]["flicker_generated"] / max(rows[-1]["flicker_real"],
                                                                        1e-9)
        if not gif:
            gap = np.full((size, 2, 3), 255, np.uint8)
            shown = range(0, min(n, round(GIF_SECONDS * args.fps)), 2)
            gif += [np.concatenate([real[i].astype(np.uint8), gap, gen_px[i].astype(np.uint8)],
                                   axis=1) for i in shown]
        if len(sheet) < 2 * SHEET_VIDEOS:
            picks = [round(t * args.fps) for t in np.arange(0, n / args.fps, SHEET_STEP)]
            picks = [i for i in picks if i < n]
            sheet += [(f"{video['name']} real", [real[i] for i in picks]),
                      (f"{video['name']} generated", [generated[i] for i in picks])]

    truth_pose = np.concatenate(pooled["truth"])
    pose_errors = {k: _pose_dict(metrics.pose_error(np.concatenate(v), truth_pose))
                   for k, v in pooled.items() if k != "truth"}
    pose_errors["chance"] = _pose_dict(metrics.chance_pose_error(truth_pose))
    players = [r["player"] for r in rows]
    gen_id, real_id = identity_distances(gen_features, players), identity_distances(
        real_features, players)
    between = real_id["between"]
    frames = sum(r["frames"] for r in rows)
    summary = {
        "generation_fps": frames / sum(r["generate_seconds"] for r in rows),
        "realtime_factor": sum(r["audio_seconds"] for r in rows) / sum(
            r["wall_seconds"] for r in rows),
        "realtime_factor_min": min(r["realtime_factor"] for r in rows),
        "pose_error_ratio": pose_errors["generated"]["overall"] / max(
            pose_errors["sound_regressor"]["overall"], 1e-9),
        "flicker_generated": float(np.mean([r["flicker_generated"] for r in rows])),
        "flicker_real": float(np.mean([r["flicker_real"] for r in rows])),
        "identity_within_generated": gen_id["within"],
        "identity_within_real": real_id["within"],
        "identity_between_players_real": between,
        "identity_between_players_generated": gen_id["between"],
        "identity_ratio": gen_id["within"] / between if between else None,
        "identity_ratio_real": real_id["within"] / between if between else None,
    }  # fmt: skip
    summary["flicker_ratio"] = summary["flicker_generated"] / max(summary["flicker_real"], 1e-9)
    targets = {k: {"target": v, "value": summary[k],
                   "met": None if summary[k] is None else bool(
                       summary[k] >= v if k == "realtime_factor" else summary[k] <= v)}
               for k, v in TARGETS.items()}
    result = {
        "run": str(args.run), "task": task.name, "instrument": instrument,
        "checkpoint": args.checkpoint, "noise_seed": args.seed, "video_size": args.size,
        "model_size": int(generated.shape[1]), "truth": str(truth["path"]),
        "measured_frames": "performance.frame_images(size=None): before upscaling and H.264, "
                           "not decoded from the mp4",
        "videos": rows, "pose_error": pose_errors, "summary": summary, "targets": targets,
    }  # fmt: skip
    return result, sheet, gif


# -------------------------------------------------------------------------------- I2S


def _chunks(wave, n):
    return audio.chunk_audio(np.asarray(wave, np.float32)[: n * CHUNK_SAMPLES])


def i2s_part(args, work: Path) -> dict:
    task, config = runs.read_generator_run(args.i2s_run)
    if task.direction != "i2s":
        raise ConfigError(f"{args.i2s_run}: a {task.name} run; --i2s-run takes an I2S run")
    instrument, data = config.get("instrument"), config["data"]
    categories = list(config["categories"])
    truth = ground_truth(truth_folder(args, work, instrument, data), instrument, args, data)
    model = runs.load_trained(args.i2s_run, task.name, checkpoint=args.checkpoint)
    vocoder = training.vocoder_for(args.vocoder, data)
    classifier = evaluator("sound_encoder", data, args.sound_encoder)
    rows, correct, correct_real, correct_all, correct_lms = [], [], [], [], []
    for video in truth["videos"]:
        out = work / "i2s" / f"{video['name']}.wav"
        speed = performance.video_to_soundtrack(model, vocoder, video["mp4"], out,
                                                seed=args.seed, progress=False)
        generated = audio.load_audio(out, allow_silent=True)
        real = audio.load_audio(video["wav"], allow_silent=True)
        n = min(len(generated), len(real)) // CHUNK_SAMPLES
        label = categories.index(video["category"])
        row = {"video": video["name"], "category": video["category"], "chunks": n,
               "realtime_factor": speed["realtime_factor"],
               "border_clicks": border_click_ratio(generated),
               "border_clicks_real": border_click_ratio(real)}
        if n:
            real_chunks = _chunks(real, n)
            audible = np.array([audio.loudness_dbfs(c) > SILENCE_DBFS for c in real_chunks])
            hit = np.argmax(_predict(classifier, _log_mel(_chunks(generated, n))), -1) == label
            hit_real = np.argmax(_predict(classifier, _log_mel(real_chunks)), -1) == label
            correct.append(hit[audible])
            correct_real.append(hit_real[audible])
            correct_all.append(hit)
            row.update(audible_chunks=int(audible.sum()),
                       accuracy=float(hit[audible].mean()) if audible.any() else None,
                       accuracy_real=float(hit_real[audible].mean()) if audible.any() else None)
        # The same chunks' spectrograms before the vocoder (Table 5's measure of I2S).
        frames, _ = performance.chunk_frames(video["mp4"])
        z = np.repeat(performance.noise(model.z_dim, args.seed), len(frames), axis=0)
        lms = resize_spectrogram(model.generate(frames.astype(np.float32) / 127.5 - 1.0, z=z),
                                 tasks.LMS_FRAMES)
        hit_lms = np.argmax(_predict(classifier, np.asarray(lms)), -1) == label
        correct_lms.append(hit_lms)
        row["accuracy_spectrogram"] = float(hit_lms.mean())
        rows.append(row)

    def pooled(parts):
        hits = np.concatenate(parts) if parts else np.zeros(0, bool)
        return float(hits.mean()) if len(hits) else None

    def mean(key):
        values = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(values)) if values else None

    return {
        "run": str(args.i2s_run), "task": task.name, "instrument": instrument,
        "vocoder": args.vocoder, "checkpoint": args.checkpoint, "noise_seed": args.seed,
        "truth": str(truth["path"]), "videos": rows,
        "summary": {"chunk_accuracy": pooled(correct), "chunk_accuracy_real": pooled(correct_real),
                    "chunk_accuracy_all_chunks": pooled(correct_all),
                    "spectrogram_accuracy": pooled(correct_lms),
                    "border_clicks": mean("border_clicks"),
                    "border_clicks_real": mean("border_clicks_real"),
                    "realtime_factor": mean("realtime_factor")},
    }  # fmt: skip


# ---------------------------------------------------------------------------- report


def _f(value, fmt="{:.3f}"):
    return "-" if value is None else fmt.format(value)


def markdown(result) -> str:
    lines = ["# A whole performance: generated videos against rendered ground truth", "",
             f"{result['videos']} videos of {result['seconds']:g} s at {result['fps']} fps "
             "(python -m tfav.data synth --videos: validation players and scenes of the run's "
             "dataset), noise seed "
             f"{result['seed']} for every frame of every video.", ""]
    s2i = result.get("s2i")
    if s2i:
        s, t = s2i["summary"], s2i["targets"]
        lines += [f"## Sound to video: `{s2i['run']}` ({s2i['task']}, {s2i['instrument']}, "
                  f"{s2i['checkpoint']} checkpoint)", "",
                  f"Videos written at {s2i['video_size']} px; measured on the generated frames "
                  f"at the model's {s2i['model_size']} px ({s2i['measured_frames']}) against "
                  "the rendered frames (frames.npz).", "",
                  "| video | player | frames | generation (frames/s) | x real time | pose error "
                  "| sound regressor | pose regressor on real frames | flicker gen / real "
                  "| identity within (gen / real) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in s2i["videos"]:
            lines.append(
                f"| {r['video']} | {r['player']} | {r['frames']} | {r['generation_fps']:.0f} | "
                f"{r['realtime_factor']:.2f} | {r['pose_error']:.3f} | "
                f"{r['pose_error_sound_regressor']:.3f} | {r['pose_error_real_frames']:.3f} | "
                f"{r['flicker_generated']:.2f} / {r['flicker_real']:.2f} | "
                f"{_f(r['identity_within_generated'], '{:.2f}')} / "
                f"{_f(r['identity_within_real'], '{:.2f}')} |")
        pe = s2i["pose_error"]
        lines += ["", "Pose error per frame, all videos (mean absolute error; overall and "
                  "hand / bow / dynamics):", "", "| read by | overall | hand | bow | dynamics |",
                  "|---|---|---|---|---|"]
        names = {"generated": "pose regressor, generated frames",
                 "sound_regressor": "pose_from_sound, the 0.5 s from the frame (the "
                                    "generator's input)",
                 "real_frames": "pose regressor, real frames", "chance": "chance"}
        for key, name in names.items():
            e = pe[key]
            lines.append(f"| {name} | {e['overall']:.3f} | {e['hand']:.3f} | {e['bow']:.3f} | "
                         f"{e['dynamics']:.3f} |")

        def verdict(key, fmt="{:.2f}"):
            met = {True: "met", False: "not met", None: "-"}[t[key]["met"]]
            return f"{_f(t[key]['value'], fmt)}x ({met})"

        lines += ["", "Targets:", "",
                  f"- realtime factor (sound seconds per wall second, encoding and muxing "
                  f"included) >= {TARGETS['realtime_factor']:g}x: "
                  f"{verdict('realtime_factor')}; slowest video "
                  f"{s['realtime_factor_min']:.2f}x; generation {s['generation_fps']:.0f} "
                  "frames/s",
                  f"- pose error <= {TARGETS['pose_error_ratio']:g}x the sound regressor's: "
                  f"{verdict('pose_error_ratio')}",
                  f"- flicker <= {TARGETS['flicker_ratio']:g}x the real video's: "
                  f"{verdict('flicker_ratio')}; {s['flicker_generated']:.2f} against "
                  f"{s['flicker_real']:.2f} per pixel and frame (0-255)",
                  f"- identity distance within a video <= {TARGETS['identity_ratio']:g}x "
                  f"between players (judge features; between: real frames of videos of "
                  f"different players, {_f(s['identity_between_players_real'], '{:.2f}')}): "
                  f"{verdict('identity_ratio')}; real videos "
                  f"{_f(s['identity_ratio_real'], '{:.2f}')}x; generated videos of different "
                  f"players are {_f(s['identity_between_players_generated'], '{:.2f}')} apart",
                  "", "![real frames every 0.5 s above the generated ones]"
                  f"({result.get('name', 'performance_video')}.png)",
                  ""]
    i2s = result.get("i2s")
    if i2s:
        s = i2s["summary"]
        lines += [f"## Video to sound: `{i2s['run']}` ({i2s['task']}, "
                  f"{i2s['instrument'] or 'all instruments'}, {i2s['vocoder']} vocoder)", "",
                  "Soundtracks of the rendered mp4s (tfav.performance.video_to_soundtrack); "
                  "the sound classifier on each 0.5 s chunk from 0 s whose real sound is above "
                  f"{SILENCE_DBFS:g} dBFS; border clicks: second-difference energy within "
                  f"{CLICK_MS:g} ms of the chunk borders (the 10 ms cross-fades, every 0.49 s) "
                  "over elsewhere.", "",
                  "The spectrogram column: the same chunks' generated spectrograms, every "
                  "0.49 s, before the vocoder (Table 5's measure).", "",
                  "| video | instrument | chunks (audible) | accuracy | spectrogram, no vocoder "
                  "| on the real sound | border clicks | real sound | x real time |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in i2s["videos"]:
            lines.append(f"| {r['video']} | {r['category']} | {r['chunks']} "
                         f"({r.get('audible_chunks', 0)}) | {_f(r.get('accuracy'), '{:.1%}')} | "
                         f"{_f(r.get('accuracy_spectrogram'), '{:.1%}')} | "
                         f"{_f(r.get('accuracy_real'), '{:.1%}')} | "
                         f"{_f(r['border_clicks'], '{:.2f}')} | "
                         f"{_f(r['border_clicks_real'], '{:.2f}')} | "
                         f"{r['realtime_factor']:.2f} |")
        lines += ["", f"All videos: chunk accuracy {_f(s['chunk_accuracy'], '{:.1%}')} "
                  f"(real sound {_f(s['chunk_accuracy_real'], '{:.1%}')}; every chunk, silent "
                  f"ones too, {_f(s['chunk_accuracy_all_chunks'], '{:.1%}')}; spectrograms "
                  f"before the vocoder {_f(s.get('spectrogram_accuracy'), '{:.1%}')}); "
                  "border clicks "
                  f"{_f(s['border_clicks'], '{:.2f}')}x (real sound "
                  f"{_f(s['border_clicks_real'], '{:.2f}')}x); "
                  f"{_f(s['realtime_factor'], '{:.2f}')}x real time.", ""]
    lines += [f"Machine: {result['machine']}, {result['date_utc']} UTC.", ""]
    return "\n".join(lines)


def contact_sheet(path, sheet) -> None:
    """Rows of frames (real above generated) at ``SHEET_STEP`` s apart."""
    if not sheet:
        return
    columns = max(len(cells) for _, cells in sheet)
    save_png(path, image_grid([cells for _, cells in sheet], cell_height=64,
                              row_labels=[name for name, _ in sheet],
                              col_labels=[f"{k * SHEET_STEP:g}s" for k in range(columns)]))


def write_gif(path, frames, fps) -> None:
    """An endless animated GIF of ``frames`` (uint8 ``[H, W, 3]``) at ``fps``."""
    import io

    from PIL import Image

    if not frames:
        return
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0)
    atomic_write_bytes(path, buf.getvalue())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="S2I run folder (s2i_pose: one instrument)")
    p.add_argument("--i2s-run", help="I2S run folder: also measure its soundtracks")
    p.add_argument("--videos", type=int, default=4, help="videos (default 4)")
    p.add_argument("--seconds", type=float, default=6.0, help="length of each (default 6)")
    p.add_argument("--fps", type=int, default=25, help="frames per second (default 25)")
    p.add_argument("--seed", type=int, default=0, help="noise seed, as tfav.generate --seed")
    p.add_argument("--size", type=int, default=256,
                   help="S2I: side of the written video frames (default 256, as tfav.generate)")
    p.add_argument("--batch", type=int, default=64, help="frames generated at a time")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last")
    p.add_argument("--vocoder", choices=("neural", "griffin-lim"), default="neural",
                   help="I2S: how spectrograms become sound (default neural)")
    p.add_argument("--truth", help="folder keeping the ground-truth videos, a subfolder per "
                   "instrument, length and frame rate, reused when there (default: a "
                   "temporary one)")
    p.add_argument("--work", help="keep the generated videos and soundtracks here "
                   "(default: a temporary folder, removed)")
    p.add_argument("--name", default="performance_video",
                   help="results/<name>.{json,md,png,gif} (default performance_video, the "
                   "main model's; another name for a recipe's videos)")
    for name in ("pose-regressor", "pose-from-sound", "judge", "sound-encoder"):
        p.add_argument(f"--{name}", help=f"a trained {name.replace('-', '_')} (default: the "
                       "cached one of the run's dataset)")
    args = p.parse_args(argv)
    if not (args.run or args.i2s_run):
        p.error("give --run S2I_RUN and/or --i2s-run I2S_RUN")
    if args.videos < 1 or args.seconds <= 0:
        p.error("--videos and --seconds must be positive")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="performance_video-"))
    try:
        result = {"name": args.name, "videos": args.videos, "seconds": args.seconds,
                  "fps": args.fps, "seed": args.seed, "s2i": None, "i2s": None}
        sheet, gif = [], []
        if args.run:
            result["s2i"], sheet, gif = s2i_part(args, work)
        if args.i2s_run:
            result["i2s"] = i2s_part(args, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    contact_sheet(RESULTS / f"{args.name}.png", sheet)
    write_gif(RESULTS / f"{args.name}.gif", gif, args.fps / 2)
    write_results(args.name, result, markdown)
    return result


if __name__ == "__main__":
    main()
