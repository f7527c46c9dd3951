"""Resynthesis: the neural vocoder against Griffin-Lim on real validation spectrograms.

Every ``--n``-th validation chunk of the embedded dataset (all instruments) is
analysed into its normalised LMS and turned back into sound by the vocoder (the
cached ``vocoder`` run, or ``--vocoder RUN``) and by Griffin-Lim with 64
iterations. Both are compared with the original clip at the same (canonical)
level, on the 22,016 samples the 44 frames cover:

- the multi-resolution STFT distance (spectral convergence + log-magnitude
  distance, Yamamoto et al. 2020) and the log-mel L1 in dB;
- the sound classifier's accuracy on the LMS re-analysed from each, next to its
  accuracy on the originals (the classifier never sees vocoded sound in training);
- pitch agreement: YIN of the resynthesis within 50 cents of YIN of the original,
  over the clips YIN finds voiced; and each against the dataset's MIDI labels;
- speed: clips of 0.5 s per second of wall time, both methods, interleaved.

    python experiments/vocoder_resynthesis.py [--vocoder RUN] [--n 256]

Writes ``experiments/results/vocoder_resynthesis.{json,md}``,
``vocoder_resynthesis.png`` (log-mel of original, vocoder and Griffin-Lim, one
row per clip) and the sound gallery: ``--wav-clips`` of those clips (instruments
spread over the dataset's) as 16-bit WAVs, original, vocoder and Griffin-Lim, in
``results/sound_gallery/`` (0.5 s each, about 44 KB).
"""

import argparse
import time

import numpy as np
import tensorflow as tf
from results_io import RESULTS, write_results

from tfav import audio, metrics, tasks
from tfav.data.pipeline import load_arrays, open_index
from tfav.data.synth import default_dataset
from tfav.files import atomic_write_bytes
from tfav.objectives.losses import multi_resolution_stft_loss
from tfav.objectives.vocoder import log_mel_distance
from tfav.runs import load_trained
from tfav.training import dependency
from tfav.visualize import image_grid, save_png, spectrogram_rgb

GRIFFIN_LIM_ITERATIONS = 64


def distances(target, generated):
    """Mean over clips of the MR-STFT distance (convergence + log magnitude) and log-mel dB
    (clip by clip: the convergence is a ratio of norms)."""
    stft, mel = [], []
    for t, g in zip(target, generated, strict=True):
        c, m = multi_resolution_stft_loss(t[None], g[None])
        stft.append(float(c + m))
        mel.append(float(log_mel_distance(t[None], g[None])) * 40.0)
    return float(np.mean(stft)), float(np.mean(mel))


def classify(classifier, waves, labels):
    """Accuracy of the sound classifier on the LMS of ``waves`` (padded to 0.5 s)."""
    padded = np.pad(waves, [(0, 0), (0, audio.CHUNK_SAMPLES - waves.shape[1])])
    logits = np.concatenate([np.asarray(classifier(tasks.log_mel(padded[i:i + 64]),
                                                   training=False))
                             for i in range(0, len(padded), 64)])
    return metrics.classification_accuracy(logits, labels)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocoder", help="vocoder run folder (default: the cached one)")
    p.add_argument("--n", type=int, default=256, help="validation clips (default 256)")
    p.add_argument("--grid-clips", type=int, default=6)
    p.add_argument("--wav-clips", type=int, default=3,
                   help="grid clips also written as WAVs (default 3)")
    args = p.parse_args()
    data = default_dataset()
    index = open_index(data)
    total = index.count("validation")
    positions = np.linspace(0, total - 1, min(args.n, total)).astype(int)
    arrays = load_arrays(index, "validation", positions=positions)
    lms, target = (np.asarray(a) for a in tasks.vocoder_pair(arrays["waveform"]))
    labels = arrays["label"]
    midi = [index.labels.get(tuple(i.decode().split("/")), {}).get("midi", -1)
            for i in arrays["id"]]

    model = load_trained(args.vocoder, "vocoder") if args.vocoder else dependency(
        "vocoder", data, index)
    classifier = dependency("sound_encoder", data, index)
    vocode = tf.function(lambda x: model(x, training=False))
    griffin = tf.function(lambda x: audio.griffin_lim_from_log_mel(
        audio.denormalize_log_mel(x), n_iter=GRIFFIN_LIM_ITERATIONS))

    def run(fn):
        return np.concatenate([np.asarray(fn(lms[i:i + 32])) for i in range(0, len(lms), 32)])

    vocoded, griffin_lim = run(vocode), run(griffin)
    # Speed: the two take turns on one batch of 32 clips, after a warm-up.
    speed = {"vocoder": [], "griffin_lim": []}
    batch = lms[:32]
    for _ in range(5):
        for name, fn in (("vocoder", vocode), ("griffin_lim", griffin)):
            start = time.perf_counter()
            np.asarray(fn(batch))
            speed[name].append(len(batch) * 0.5 / (time.perf_counter() - start))

    original_pitch = metrics.yin_pitch(target)
    label_pitch = metrics.midi_to_hz(midi)
    rows = {}
    for name, waves in (("original", target), ("vocoder", vocoded),
                        ("griffin_lim", griffin_lim)):
        pitch = metrics.yin_pitch(waves)
        row = {"accuracy": classify(classifier, waves, labels),
               "pitch_vs_labels": metrics.pitch_agreement(pitch, label_pitch)}
        if name != "original":
            row["stft_distance"], row["log_mel_db"] = distances(target, waves)
            row["pitch_vs_original"] = metrics.pitch_agreement(pitch, original_pitch)
            row["realtime"] = float(np.median(speed[name]))
            row["realtime_spread"] = [float(min(speed[name])), float(max(speed[name]))]
        rows[name] = row
    v, g, o = rows["vocoder"], rows["griffin_lim"], rows["original"]
    result = {
        "clips": len(lms), "griffin_lim_iterations": GRIFFIN_LIM_ITERATIONS,
        "vocoder": args.vocoder or "cached", "rows": rows,
        "targets": {
            "stft_distance_ratio": v["stft_distance"] / g["stft_distance"],
            "log_mel_ratio": v["log_mel_db"] / g["log_mel_db"],
            "accuracy_ratio": v["accuracy"] / o["accuracy"],
            "pitch_vs_original": v["pitch_vs_original"],
            "realtime": v["realtime"],
        },
    }
    shown = np.linspace(0, len(lms) - 1, args.grid_clips).astype(int)
    grid = [[spectrogram_rgb(np.asarray(tasks.log_mel(np.pad(w[i:i + 1], [(0, 0), (0, 34)])))[0])
             for w in (target, vocoded, griffin_lim)] for i in shown]
    save_png(RESULTS / "vocoder_resynthesis.png", image_grid(
        grid, cell_height=128, col_labels=["original", "vocoder", "Griffin-Lim 64"],
        row_labels=[index.categories[labels[i]] for i in shown]))
    gallery = RESULTS / "sound_gallery"
    gallery.mkdir(parents=True, exist_ok=True)
    wav_rows = []
    for i in shown[np.linspace(0, len(shown) - 1, args.wav_clips).astype(int)]:
        stem = f"{index.categories[labels[i]]}_{int(i):03d}"
        cells = []
        for name, w in (("original", target), ("vocoder", vocoded), ("griffin_lim", griffin_lim)):
            clip = w[i] / max(float(np.abs(w[i]).max()), 1e-6) * 0.9  # one peak level for all
            atomic_write_bytes(gallery / f"{stem}_{name}.wav", audio.wav_bytes(clip))
            cells.append(f"[{name}](sound_gallery/{stem}_{name}.wav)")
        wav_rows.append(f"| {index.categories[labels[i]]} | " + " | ".join(cells) + " |")
    lines = ["# Vocoder resynthesis (validation clips of the embedded dataset)", "",
             f"{len(lms)} clips, all instruments; Griffin-Lim with {GRIFFIN_LIM_ITERATIONS} "
             "iterations from the same LMS.", "",
             "| | MR-STFT distance | log-mel L1 (dB) | classifier accuracy | pitch vs original "
             "(YIN, 50 cents) | pitch vs MIDI labels | x real time (median, range) |",
             "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        def cell(key, fmt="{:.3f}", row=row):
            return fmt.format(row[key]) if key in row else "-"
        speed_cell = (f"{row['realtime']:.0f} ({row['realtime_spread'][0]:.0f}-"
                      f"{row['realtime_spread'][1]:.0f})" if "realtime" in row else "-")
        lines.append(f"| {name} | {cell('stft_distance')} | {cell('log_mel_db', '{:.2f}')} | "
                     f"{cell('accuracy', '{:.1%}')} | {cell('pitch_vs_original', '{:.1%}')} | "
                     f"{cell('pitch_vs_labels', '{:.1%}')} | {speed_cell} |")
    t = result["targets"]
    lines += ["", "Targets: MR-STFT and log-mel each <= 0.5x Griffin-Lim's "
              f"(here {t['stft_distance_ratio']:.2f}x and {t['log_mel_ratio']:.2f}x); accuracy "
              f">= 98% of the originals' ({t['accuracy_ratio']:.1%}); pitch agreement >= 95% "
              f"({t['pitch_vs_original']:.1%}); >= 20x real time ({t['realtime']:.0f}x).", "",
              "![original, vocoder, Griffin-Lim](vocoder_resynthesis.png)", "",
              "Listen (0.5 s, each at a 0.9 peak):", "",
              "| instrument | original | vocoder | Griffin-Lim 64 |", "|---|---|---|---|",
              *wav_rows, ""]
    write_results("vocoder_resynthesis", result, lambda r: "\n".join(
        lines + [f"Machine: {r['machine']}, {r['date_utc']} UTC.", ""]))


if __name__ == "__main__":
    main()
