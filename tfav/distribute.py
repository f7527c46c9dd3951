"""``--strategy``: one device, several local devices, or several machines (tf.distribute).

=============  ===============================================================
default        one device (TensorFlow's default strategy)
mirrored       ``MirroredStrategy`` over every local GPU, or over every logical
               CPU device when there is no GPU (tests split the CPU in two)
multiworker    ``MultiWorkerMirroredStrategy`` across machines described by
               ``TF_CONFIG`` (one process per machine, the same command on each)
=============  ===============================================================

The batch size a user gives is the global batch: each of the ``N`` replicas
trains on ``batch / N`` pairs per step. The GAN objectives divide each
replica's loss by ``N`` before differentiating, because the optimizer sums
gradients over replicas (:meth:`tfav.objectives.base.TwoOptimizerGAN.scaled_loss`),
draw each replica's rows of one global noise batch, and batch normalisation
runs synchronised over replicas (cross-replica batch norm, as BigGAN trains),
so a step on ``N`` replicas computes what one device computes on the whole
batch, up to float rounding.

Under ``multiworker`` every worker runs the same command; only the chief
(``chief``, or ``worker`` 0 without one) writes the run folder, and trained
dependencies (encoders, verifier) come from the shared cache or ``--sound-encoder``
etc. It trains the GAN tasks: Keras 3 ``fit`` cannot build a compiled
classifier from a batch split over workers.
"""

from __future__ import annotations

import json
import os

from tfav.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker")


def read_tf_config() -> dict:
    """``TF_CONFIG`` parsed and checked: a cluster and this process's place in it."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError(
            "--strategy multiworker: TF_CONFIG is not set (JSON with 'cluster' and 'task'; "
            "see the README section on training on several machines)"
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG: not valid JSON ({e.msg} at character {e.pos})") from e
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError("TF_CONFIG: 'cluster' must map job names to lists of host:port")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ConfigError("TF_CONFIG: 'task' must give this process's 'type' and 'index'")
    hosts = cluster.get(task["type"])
    if not isinstance(hosts, list) or not hosts:
        raise ConfigError(f"TF_CONFIG: task type '{task['type']}' is not a job of the cluster "
                          f"(jobs: {', '.join(cluster)})")
    index = task["index"]
    if not isinstance(index, int) or not 0 <= index < len(hosts):
        raise ConfigError(f"TF_CONFIG: task index {index!r} is outside '{task['type']}' "
                          f"(0..{len(hosts) - 1})")
    return config


def make_strategy(name: str = "default"):
    """The ``tf.distribute.Strategy`` called ``name`` (see the module docstring).

    ``multiworker`` must be created before TensorFlow runs any operation, so
    command-line tools call this first.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy '{name}' (known: {', '.join(STRATEGIES)})")
    if name == "multiworker":
        read_tf_config()  # a clear error before TensorFlow starts
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy) -> bool:
    """Whether this process writes the run folder (the chief, or worker 0 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    jobs = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in jobs


def num_workers(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    jobs = resolver.cluster_spec().as_dict()
    return sum(len(jobs.get(job, [])) for job in ("chief", "worker"))


def prepare(model, strategy) -> None:
    """Ready a model built under ``strategy.scope()`` for ``fit`` on its replicas.

    Batch norm is synchronised over replicas (or not, on one), and a GAN's
    optimizer slots are created now: replicas cannot create variables lazily
    inside a step.
    """
    synchronize_batch_norm(model, strategy.num_replicas_in_sync > 1)
    if hasattr(model, "build_optimizers"):
        model.build_optimizers()
    if num_workers(strategy) > 1:
        _rank1_step_results(model)


def _rank1_step_results(model) -> None:
    """Work around Keras 3 ``fit`` under ``MultiWorkerMirroredStrategy``.

    Keras averages a step's results over workers with ``strategy.reduce("MEAN",
    v, axis=0)``, which fails on scalars ("Invalid reduction dimension 0 for
    input with 0 dimensions", tensorflow/tensorflow#72388); results of shape
    ``[1]`` reduce to the scalar mean.
    """
    from keras import ops, tree

    step = model.train_step

    def train_step(data):
        return tree.map_structure(lambda v: ops.reshape(v, (1,)), step(data))

    model.train_step = train_step


def synchronize_batch_norm(model, synchronized: bool = True) -> int:
    """Make every ``BatchNormalization`` of ``model`` compute statistics over all replicas.

    Per-replica statistics would make a step depend on how the batch is split
    (and be noisy at small per-replica batches). ``synchronized=False`` turns it
    back off for one device, where the synchronised formula only adds rounding.
    Returns how many layers changed.
    """
    import keras

    changed = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            changed += layer.synchronized != synchronized
            layer.synchronized = synchronized
    return changed


def shard_by_data(dataset):
    """Shard a dataset across workers by element: pair files are not split per worker."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
