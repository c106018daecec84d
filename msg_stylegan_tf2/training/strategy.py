"""Choosing the tf.distribute strategy from `--strategy`."""

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def make_strategy(name="auto", devices=None):
    """Returns a strategy.

    auto: MirroredStrategy over all GPUs when there are several, else the one
    device. one_device: the first GPU, else the CPU. mirrored: MirroredStrategy
    over `devices` (default: all GPUs, else the CPU). multi_worker:
    MultiWorkerMirroredStrategy configured by the TF_CONFIG environment variable.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {STRATEGIES}. Received: {name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy(devices)
    device = gpus[0].name if gpus else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)
