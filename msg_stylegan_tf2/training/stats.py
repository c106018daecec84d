"""Training statistics: values reported during a tick, their count, mean and
standard deviation at its end (stylegan2-ada's `stats.jsonl` layout), and the
figures of the tick line."""

import collections
import math
import resource

import numpy as np
import tensorflow as tf

# The key of a term's mean of squares beside its mean in a step's terms
# (`TrainingSteps.d_step`), from which a tick's standard deviation comes.
SQUARES = "^2"
# stylegan2-ada's names of the quantities both projects log under other names.
NVIDIA_NAMES = {"Loss/G/total": "Loss/G/loss"}


class Collector:
    """Accumulates named values; `stats()` gives each one's count, mean and
    standard deviation since the last reset, as stylegan2-ada's
    `training_stats` does over a tick."""

    def __init__(self):
        self._moments = collections.defaultdict(lambda: np.zeros(3))

    def report(self, name, mean, mean_of_squares=None, num=1):
        """Adds `num` values with this mean (and mean of squares; default the
        square of the mean, as for a single value)."""
        mean = float(np.mean(mean))
        if mean_of_squares is None:
            mean_of_squares = mean * mean
        self._moments[name] += (num, num * mean, num * float(mean_of_squares))

    def report_terms(self, terms, num):
        """A step's terms: `{name: mean over num images}` with, where a term
        has it, `{name + SQUARES: mean of squares}`."""
        for name, value in terms.items():
            if not name.endswith(SQUARES):
                self.report(name, value, terms.get(name + SQUARES), num)

    def stats(self):
        """`{name: {"num": n, "mean": m, "std": s}}`, names sorted."""
        result = {}
        for name in sorted(self._moments):
            num, total, squares = self._moments[name]
            mean = total / num
            variance = squares / num - mean * mean
            std = math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else variance
            result[name] = {"num": int(num), "mean": mean, "std": std}
        return result

    def means(self):
        return {name: entry["mean"] for name, entry in self.stats().items()}

    def reset(self):
        self._moments.clear()


def nvidia_name(name):
    """A term's name in stats.jsonl and TensorBoard: stylegan2-ada's where the
    quantity exists in both."""
    return NVIDIA_NAMES.get(name, name)


def record_kimg(record):
    """The kimg of a stats.jsonl record, in this layout or the flat one
    written before it."""
    if "Progress/kimg" in record:
        return record["Progress/kimg"]["mean"]
    return record["kimg"]


def format_time(seconds):
    """`42s`, `3m 07s` or `2h 05m`."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def peak_memory_name():
    """`Resources/peak_gpu_mem_gb` where a GPU is used, else the CPU one."""
    if tf.config.list_logical_devices("GPU"):
        return "Resources/peak_gpu_mem_gb"
    return "Resources/peak_cpu_mem_gb"


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
