"""Chen et al. 2017, Table 1: the sound classifier's accuracy on five representations of
the 0.5 s chunk (MS, LMS, CQT, MFCC, STFT), with three and four convolution layers.

Every row is the Fig. 4 classifier (``tfav.models.encoders.sound_classifier``, its
``conv_layers`` 3 or 4) trained on the embedded dataset's training split with the same
budget (``--epochs`` of batch 64, Adam 1e-3, as the ``sound_encoder`` task) and read on
the validation split (other recordings). The representations are tfav's in-graph ones
(``tfav.audio``), computed per batch:

- LMS: the log-mel spectrogram ``[128, 44]`` normalised to [-1, 1] (what tfav trains on);
- MS: the linear-power mel spectrogram ``[128, 44]``, each clip divided by its peak;
- STFT: the linear magnitude ``[1025, 44]``, each clip divided by its peak;
- CQT: the constant-Q magnitude ``[84, 44]`` (7 octaves from C1), each clip divided by
  its peak;
- MFCC: 20 coefficients ``[20, 44]`` of the dB mel spectrogram, divided by 100.

The paper does not say how the linear representations were scaled; a per-clip peak keeps
them in [0, 1] without using the log that sets LMS apart from MS.

    python experiments/chen_table1.py [--epochs 3] [--features LMS MS ...] [--layers 3 4]

Writes ``experiments/results/chen_table1.{json,md}``.
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from results_io import write_results

from tfav import audio, tasks
from tfav.data.pipeline import pair_dataset
from tfav.data.synth import default_dataset
from tfav.models.encoders import sound_classifier

PAPER = {("MS", 3): 62.01, ("LMS", 3): 84.12, ("CQT", 3): 73.00, ("MFCC", 3): 80.06,
         ("STFT", 3): 74.05, ("MS", 4): 66.09, ("LMS", 4): 87.44, ("CQT", 4): 77.78,
         ("MFCC", 4): 81.05, ("STFT", 4): 75.73}


def _peak(x):
    return x / tf.maximum(tf.reduce_max(x, axis=[-2, -1], keepdims=True), 1e-10)


FEATURES = {
    "LMS": tasks.log_mel,
    "MS": lambda w: _peak(audio.mel_spectrogram(w)),
    "CQT": lambda w: _peak(audio.cqt(w)),
    "MFCC": lambda w: audio.mfcc(w) / 100.0,
    "STFT": lambda w: _peak(audio.stft_magnitude(w)),
}


def data(root, split, feature, batch):
    ds = pair_dataset(root, split, batch_size=batch, shuffle=split == "train", seed=0,
                      drop_remainder=split == "train")
    return ds.map(lambda b: (feature(b["waveform"]), b["label"]),
                  num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def markdown(result):
    lines = ["# Chen et al. 2017, Table 1: sound classifier accuracy per representation", "",
             f"Embedded dataset, {result['epochs']} epochs of batch 64 per row, validation "
             f"accuracy ({result['validation_pairs']} chunks of other recordings, chance "
             f"{100 / 13:.1f}%). Paper: Sub-URMP.", "",
             "| conv layers | " + " | ".join(result["features"]) + " |",
             "|---|" + "---|" * len(result["features"])]
    for layers_ in result["layers"]:
        cells = []
        for f in result["features"]:
            row = next(r for r in result["rows"] if r["feature"] == f and r["layers"] == layers_)
            cells.append(f"{100 * row['accuracy']:.1f}% (paper {PAPER[(f, layers_)]:.1f}%)")
        lines.append(f"| {layers_} | " + " | ".join(cells) + " |")
    best = max(result["rows"], key=lambda r: r["accuracy"])
    lines += ["", f"Best: {best['feature']} with {best['layers']} layers. Seconds per row: "
              + ", ".join(f"{r['feature']}/{r['layers']} {r['seconds']:.0f}"
                          for r in result["rows"]) + ".",
              "", f"Machine: {result['machine']}, {result['date_utc']} UTC.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=list(FEATURES))
    p.add_argument("--layers", type=int, nargs="+", default=[3, 4])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    root = default_dataset()
    rows, validation_pairs = [], 0
    for layers_ in args.layers:
        for name in args.features:
            keras.utils.set_random_seed(args.seed)
            feature = FEATURES[name]
            train, val = data(root, "train", feature, 64), data(root, "validation", feature, 64)
            bins, frames = next(iter(val))[0].shape[1:]
            model = sound_classifier(13, n_mels=bins, frames=frames, conv_layers=layers_,
                                     base_filters=tasks.get_task("sound_encoder").base_filters)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            start = time.perf_counter()
            model.fit(train, epochs=args.epochs, verbose=2)
            labels = np.concatenate([y for _, y in val])
            logits = model.predict(val, verbose=0)
            accuracy = float(np.mean(np.argmax(logits, -1) == labels))
            validation_pairs = len(labels)
            rows.append({"feature": name, "layers": layers_, "shape": [int(bins), int(frames)],
                         "accuracy": accuracy, "paper": PAPER[(name, layers_)] / 100,
                         "seconds": time.perf_counter() - start})
            print(rows[-1])
    write_results("chen_table1", {"epochs": args.epochs, "features": args.features,
                                  "layers": args.layers, "seed": args.seed, "rows": rows,
                                  "validation_pairs": validation_pairs}, markdown)


if __name__ == "__main__":
    main()
