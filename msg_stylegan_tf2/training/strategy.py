"""Choosing the tf.distribute strategy from `strategy` (`choices.STRATEGIES`)."""

import tensorflow as tf

from msg_stylegan_tf2.choices import STRATEGIES
from msg_stylegan_tf2.validation import check_choice


def make_strategy(name="auto", devices=None):
    """Returns a strategy.

    auto: MirroredStrategy over all GPUs when there are several, else the one
    device. one_device: the first GPU, else the CPU. mirrored: MirroredStrategy
    over `devices` (default: all GPUs, else the CPU). multi_worker:
    MultiWorkerMirroredStrategy configured by the TF_CONFIG environment variable.
    """
    check_choice("strategy", name, STRATEGIES)
    if name == "multi_worker":  # Before anything initialises the runtime.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy(devices)
    device = gpus[0].name if gpus else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)


def worker_index(strategy):
    """This worker's index under MultiWorkerMirroredStrategy, else 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0
    return int(resolver.task_id or 0)


def worker_count(strategy):
    """The number of workers (chief included) under MultiWorkerMirroredStrategy,
    else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return max(1, len(spec.get("worker", ())) + len(spec.get("chief", ())))


def every_worker(strategy, value):
    """Whether `value` (this worker's bool) holds on every worker: each replica
    votes its worker's value in one all-reduce. Every worker must call it at the
    same point, as any collective."""
    dissent = tf.constant(0.0 if value else 1.0)

    @tf.function
    def count():
        votes = strategy.run(lambda: tf.identity(dissent))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)

    return float(count()) == 0.0
