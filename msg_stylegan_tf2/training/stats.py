"""Training statistics: `report(name, value)` during a tick, means at its end."""

import collections

import numpy as np


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


_default = Collector()


def report(name, value):
    """Reports a value to the default collector (read by the training loop)."""
    _default.report(name, value)


def default_collector():
    return _default
