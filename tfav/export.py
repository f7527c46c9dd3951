"""``python -m tfav.export RUN``: a trained run as a TF Serving SavedModel and/or TFLite.

The exported graphs start from what a client has, not from model features:
the log-mel front end (Chen et al. 2017, sec. 3.3), the image resize of the
training pipeline, the noise and (for I2S) the neural vocoder (``--vocoder
neural``, the default: trained once per dataset and cached) or Griffin-Lim
(``--vocoder griffin-lim``) all run in the graph,
so a server needs nothing but TensorFlow. Signatures (see ``export/README.md``):

=================  ========================================  =================================
run                ``serving_default`` inputs                outputs
=================  ========================================  =================================
S2I GAN            ``waveform`` f32 [B, samples] at 44.1 kHz  ``image`` u8 [B, 64, 64, 3],
                   (first 0.5 s used, shorter zero-padded),  ``image_float`` f32 in [-1, 1]
                   ``seed`` i64 [B]
I2S GAN            ``image`` u8 [B, H, W, 3] (any size),     ``log_mel`` [B, 128, 44] in
                   ``seed`` i64 [B]                          [-1, 1], ``log_mel_db`` (dB below
                                                             the clip's peak), ``waveform``
sound_encoder run  ``waveform``                              ``encoding`` [B, 128],
image_encoder run  ``image``                                 ``probabilities`` [B, classes]
=================  ========================================  =================================

GAN exports also have ``with_noise`` (the condition and ``z`` [B, z_dim]
instead of ``seed``) and ``encode`` (the condition -> 128-d encoding of the
frozen condition encoder). Each example has its own seed, so a result does not
depend on the batch a server's batcher put it in; the same seed gives the
same noise (:func:`tfav.serving.seeded_noise`) in Keras, the SavedModel and TFLite.
The graphs themselves are built by :mod:`tfav.serving`.

The SavedModel refuses an empty batch and NaN or Inf in any float input
(``waveform``, ``z``) with an ``InvalidArgumentError`` naming the input; the
TFLite graph has no such checks (see :func:`tfav.serving.convert_to_tflite`).

Layout: ``<out>/<name>/<version>/`` (SavedModel, written to a hidden temporary
folder and renamed, so a failed export leaves no version) and
``<out>/<name>/<version>[.<quantize>].tflite``, which a server ignores. The
temporary folders of killed exports are removed by the next export.
"""

from __future__ import annotations

import argparse
import sys

from tfav import runs, training
from tfav.cli import number_in, one_line_errors
from tfav.data.pipeline import open_index
from tfav.serving import FORMATS, QUANTIZATIONS, export_run


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.export", description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder written by python -m tfav.train")
    p.add_argument("--format", default="savedmodel", choices=FORMATS)
    p.add_argument("--name", help="model name (default: the task[_instrument])")
    p.add_argument("--version", type=number_in(int, 1),
                   help="version number (default: the next free one)")
    p.add_argument("--out", default="export/models", help="models folder (default export/models)")
    p.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                   help="TFLite weights: none (float32), float16 or dynamic (int8)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="the last epoch (default) or the run's best.keras")
    p.add_argument("--vocoder", choices=("neural", "griffin-lim"), default="neural",
                   help="I2S runs: the waveform output by the neural vocoder (default) or "
                   "Griffin-Lim")
    return p.parse_args(argv)


@one_line_errors
def main(argv=None):
    args = parse_args(argv)

    def vocoder():  # the run's dataset's vocoder, trained now if the cache has none
        config = runs.read_config(args.run)
        return training.dependency("vocoder", config["data"], open_index(config["data"]),
                                   log=lambda *a: print(*a, file=sys.stderr))

    result = export_run(args.run, fmt=args.format, name=args.name, version=args.version,
                        out=args.out, quantize=args.quantize, checkpoint=args.checkpoint,
                        vocoder=vocoder if args.vocoder == "neural" else None)
    for label, path in (("SavedModel", result.saved_model), ("TFLite", result.tflite)):
        if path is not None:
            print(f"{label}: {path}")
    print(f"signatures: {', '.join(result.signatures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
