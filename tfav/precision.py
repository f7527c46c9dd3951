"""Which number format training computes in, chosen from what the hardware has.

``--precision auto`` trains in ``mixed_bfloat16`` (Keras' mixed-precision policy:
bfloat16 activations and matmuls, float32 variables and losses) where the hardware
multiplies bfloat16 natively -- a CPU with AMX tiles (``amx_bf16``) or a GPU of
compute capability 8.0 or more -- and in ``float32`` elsewhere. A CPU with only
AVX512_BF16 converts and dots bfloat16 pairs but has no tile unit; TensorFlow's
oneDNN kernels then gain little or lose, so ``auto`` keeps float32 there
(``python -m tfav.bench precision`` measures both on the machine at hand).

Saved generators are always float32 (:func:`as_float32`), so sampling, evaluation
and export do not depend on how a run was trained.
"""

from __future__ import annotations

import contextlib
import platform

from tfav.errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16")


def cpu_features() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bfloat16_hardware() -> str | None:
    """What multiplies bfloat16 natively here (``"AMX"``, ``"GPU <name>"``) or ``None``."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if tuple(details.get("compute_capability", (0, 0))) >= (8, 0):
            return f"GPU {details.get('device_name', gpu.name)}"
    if {"amx_bf16", "amx_tile"} <= cpu_features():
        return "AMX"
    return None


def describe_cpu() -> str:
    """One line: the processor and the features that matter for speed here."""
    flags = cpu_features()
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
              "amx_int8")
    have = [f for f in wanted if f in flags] or ["(flags unknown)"]
    return f"{platform.processor() or platform.machine()}: {' '.join(have)}"


def resolve(precision: str | None) -> tuple[str, str]:
    """``(policy, why)`` for ``--precision`` (``None`` = ``auto``).

    Raises:
        ConfigError: an unknown value.
    """
    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision, "asked for"
    hardware = bfloat16_hardware()
    if hardware:
        return "mixed_bfloat16", f"auto: {hardware} multiplies bfloat16"
    return "float32", "auto: no AMX or bfloat16 GPU found"


@contextlib.contextmanager
def policy(name: str):
    """Keras' global dtype policy set to ``name`` for the models built inside."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _float32_config(config):
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    return config


def as_float32(model):
    """``model`` itself when it computes in float32, else a float32 copy with its weights
    (the same architecture; the weights are float32 in both)."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in _all_layers(model)):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
