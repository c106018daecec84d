"""FID statistics (mean and covariance) of a feature stream of any length, in
memory independent of its length (for `fid<N>k_full` over a whole dataset)."""

import numpy as np


class FeatureMoments:
    """Accumulates `[n, D]` feature batches; `statistics()` gives what
    `metrics.frechet.feature_statistics` gives on all of them at once.

    Sums are float64 and taken about the first batch's mean, so that the
    covariance keeps its precision when the features' mean is large. Batches
    are folded in `fold_rows` rows at a time (a `[D, D]` product per fold, not
    per batch), so memory stays `fold_rows x D` beside the `D x D` sums.
    """

    def __init__(self, fold_rows: int = 1024):
        self.count, self.fold_rows = 0, fold_rows
        self._shift = self._sum = self._products = None
        self._pending, self._pending_rows = [], 0

    def add(self, features) -> None:
        """Adds a batch of features `[n, D]`."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2:
            raise ValueError(
                f"`features` must be [n, D]. Received shape: {features.shape}"
            )
        if not len(features):
            return
        if self._shift is None:
            self._shift = features.mean(axis=0)
            width = features.shape[1]
            self._sum = np.zeros(width)
            self._products = np.zeros([width, width])
        self._pending.append(features)
        self._pending_rows += len(features)
        self.count += len(features)
        if self._pending_rows >= self.fold_rows:
            self._fold()

    def _fold(self):
        if not self._pending:
            return
        centred = np.concatenate(self._pending) - self._shift
        self._pending, self._pending_rows = [], 0
        self._sum += centred.sum(axis=0)
        self._products += centred.T @ centred

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """`(mu [D], sigma [D, D])`: mean and unbiased covariance (N - 1).

        Raises:
            ValueError: fewer than 2 features were added.
        """
        if self.count < 2:
            raise ValueError(
                f"FID statistics need at least 2 images. Received: {self.count}"
            )
        self._fold()
        mean = self._sum / self.count
        sigma = (self._products - self.count * np.outer(mean, mean)) / (self.count - 1)
        return self._shift + mean, (sigma + sigma.T) / 2
