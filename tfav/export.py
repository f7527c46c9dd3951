"""``python -m tfav.export RUN``: a trained run as a TF Serving SavedModel and/or TFLite.

The exported graphs start from what a client has, not from model features:
the log-mel front end (Chen et al. 2017, sec. 3.3), the image resize of the
training pipeline, the noise and (for I2S) Griffin-Lim all run in the graph,
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

Layout: ``<out>/<name>/<version>/`` (SavedModel, written to a hidden temporary
folder and renamed, so a failed export leaves no version) and
``<out>/<name>/<version>[.<quantize>].tflite``, which a server ignores.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import tfav  # noqa: F401  (selects the Keras backend before keras is imported)
from tfav.cli import one_line_errors
from tfav import tasks
from tfav.runs import load_trained, read_config
from tfav.errors import ConfigError

FORMATS = ("savedmodel", "tflite", "both")
QUANTIZATIONS = ("none", "float16", "dynamic")


# --------------------------------------------------------------------------- writing


def _run_config(run):
    """``(task, config)`` of a run folder written by ``python -m tfav.train``."""
    run = Path(run)
    config = read_config(run)
    if "task" not in config:
        raise ConfigError(f"{run / 'config.json'}: unreadable run configuration (no task)")
    task = tasks.get_task(config["task"])
    if task.kind == "regressor":
        raise ConfigError(f"{run}: '{task.name}' runs are evaluation tools; nothing to export")
    return task, config


@dataclasses.dataclass
class ExportResult:
    """Where an export went: the SavedModel version folder and/or the TFLite file."""

    name: str
    version: int
    saved_model: Path | None
    tflite: Path | None
    signatures: list


def next_version(base: Path) -> int:
    """1 + the highest version under ``base`` (folders ``N`` and files ``N[.q].tflite``)."""
    taken = [0]
    if base.is_dir():
        for p in base.iterdir():
            head = p.name.split(".")[0]
            if head.isdigit() and (p.is_dir() or p.name.endswith(".tflite")):
                taken.append(int(head))
    return max(taken) + 1


def convert_to_tflite(saved_model_dir, signature_keys, quantize="none") -> bytes:
    """TFLite flatbuffer of a SavedModel's signatures, builtin ops only.

    ``quantize``: ``none`` (float32), ``float16`` (weights stored as float16)
    or ``dynamic`` (int8 weights, dynamic-range quantisation).
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, not {quantize}")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=list(signature_keys)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _metadata(task, config, model, signatures):
    from tfav import audio

    meta = {
        "task": task.name, "kind": task.kind, "direction": task.direction,
        "categories": config.get("categories"), "instrument": config.get("instrument"),
        "sample_rate": audio.SAMPLE_RATE, "chunk_samples": audio.CHUNK_SAMPLES,
        "signatures": signatures,
    }  # fmt: skip
    if task.kind == "gan":
        meta["z_dim"] = int(model.z_dim)
    return meta


def export_run(run, *, fmt="savedmodel", name=None, version=None, out="export/models",
               quantize="none", progress=True, checkpoint="last") -> ExportResult:  # fmt: skip
    """Export a run folder (see the module docstring); returns where it went.

    ``checkpoint="best"`` exports the generator of the run's ``best.keras``.

    Raises:
        ConfigError: not a run folder, unknown format, or the version exists.
    """
    from tqdm import tqdm

    from tfav.serving import build_archive

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt}")
    if quantize != "none" and fmt == "savedmodel":
        raise ConfigError("--quantize applies to TFLite: add --format tflite or both")
    task, config = _run_config(run)
    name = name or task.name + (f"_{config['instrument']}" if config.get("instrument") else "")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"--name {name!r}: use letters, digits, '_' and '-' only")
    base = Path(out) / name
    version = int(version) if version is not None else next_version(base)
    final = base / str(version)
    suffix = "" if quantize == "none" else f".{quantize}"
    tflite_path = base / f"{version}{suffix}.tflite"
    for path, wanted in ((final, fmt != "tflite"), (tflite_path, fmt != "savedmodel")):
        if wanted and path.exists():
            raise ConfigError(f"{path}: version {version} exists already; pass another --version")
    steps = tqdm(total=3 + (fmt != "savedmodel"), desc="export", disable=not progress)
    model = load_trained(run, task.name, checkpoint=checkpoint)
    steps.update()
    archive = build_archive(task, model)
    signatures = ["serving_default", "with_noise", "encode"] if task.kind == "gan" else [
        "serving_default"
    ]
    steps.update()
    base.mkdir(parents=True, exist_ok=True)
    # A hidden folder beside the versions: a server never mistakes it for one.
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=base))
    try:
        saved = tmp / "saved_model"
        with contextlib.redirect_stdout(sys.stderr):
            archive.write_out(str(saved), verbose=False)
        extra = saved / "assets.extra"
        extra.mkdir(exist_ok=True)
        meta = _metadata(task, config, model, signatures)
        (extra / "tfav.json").write_text(json.dumps(meta, indent=1))
        steps.update()
        if fmt != "savedmodel":
            (tmp / "model.tflite").write_bytes(convert_to_tflite(saved, signatures, quantize))
            steps.update()
        if fmt != "tflite":
            os.rename(saved, final)
        if fmt != "savedmodel":
            os.replace(tmp / "model.tflite", tflite_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        steps.close()
    return ExportResult(
        name, version, final if fmt != "tflite" else None,
        tflite_path if fmt != "savedmodel" else None, signatures,
    )  # fmt: skip


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.export", description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder written by python -m tfav.train")
    p.add_argument("--format", default="savedmodel", choices=FORMATS)
    p.add_argument("--name", help="model name (default: the task[_instrument])")
    p.add_argument("--version", type=int, help="version number (default: the next free one)")
    p.add_argument("--out", default="export/models", help="models folder (default export/models)")
    p.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                   help="TFLite weights: none (float32), float16 or dynamic (int8)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="the last epoch (default) or the run's best.keras")
    return p.parse_args(argv)


@one_line_errors
def main(argv=None):
    args = parse_args(argv)
    result = export_run(args.run, fmt=args.format, name=args.name, version=args.version,
                        out=args.out, quantize=args.quantize,
                        checkpoint=args.checkpoint)  # fmt: skip
    for label, path in (("SavedModel", result.saved_model), ("TFLite", result.tflite)):
        if path is not None:
            print(f"{label}: {path}")
    print(f"signatures: {', '.join(result.signatures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
