"""Training statistics: values reported during a tick, their means at its
end, and the figures of the tick line."""

import collections
import resource

import numpy as np
import tensorflow as tf


class Collector:
    """Accumulates named scalars and returns their means since the last reset."""

    def __init__(self):
        self._sums = collections.defaultdict(float)
        self._counts = collections.defaultdict(int)

    def report(self, name, value):
        value = float(np.mean(value))
        self._sums[name] += value
        self._counts[name] += 1

    def means(self):
        return {
            name: self._sums[name] / self._counts[name] for name in sorted(self._sums)
        }

    def reset(self):
        self._sums.clear()
        self._counts.clear()


def format_time(seconds):
    """`42s`, `3m 07s` or `2h 05m`."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def peak_memory_gb(status="/proc/self/status"):
    """Peak memory of the first GPU, else of this process, in GiB.

    On Linux the process's peak is its resident high-water mark (`VmHWM`):
    `ru_maxrss` would also count the parent's memory at the fork that started
    this program (Linux keeps it across exec), e.g. a notebook's or a
    launcher's.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_memory_info(gpus[0].name)["peak"] / 2**30
    try:
        with open(status) as lines:
            for line in lines:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB.
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
