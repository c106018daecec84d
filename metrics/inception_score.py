"""Inception Score from class probabilities, as in the original and NVIDIA code."""

import numpy as np
import scipy.special

# How far a row of probabilities may sum from 1 (float32 softmax round-off).
_ROW_SUM_ATOL = 1e-3


def inception_score(probs, num_splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over consecutive splits.

    The rows are split in order into `num_splits` parts (part i holds rows
    `i * N // num_splits` up to `(i + 1) * N // num_splits`); p(y) is the mean
    row of each part. Uses 0 * log(0) = 0, so exact zeros (one-hot rows) give
    finite scores. Computed in float64.

    Args:
        probs: float `[N, K]` softmax probabilities (K = 1008 for the TF1
            Inception graph, 1000 for others), rows non-negative and summing to 1.
        num_splits: number of splits, 1 <= num_splits <= N.

    Returns:
        `(mean, std)` of the per-split scores, Python floats (std with ddof 0).

    Raises:
        TypeError: if `probs` is not a real numeric array or `num_splits` not an int.
        ValueError: if `probs` is not `[N, K]`, not finite, has a negative entry or
            a row not summing to 1, or `num_splits` is out of range.
    """
    probs = np.asarray(probs)
    if probs.dtype.kind not in "iuf":
        raise TypeError(
            f"`probs` must be a real numeric array. Received dtype: {probs.dtype}"
        )
    if probs.ndim != 2 or probs.shape[0] < 1 or probs.shape[1] < 1:
        raise ValueError(f"`probs` must have shape [N, K]. Received: {probs.shape}")
    probs = probs.astype(np.float64, copy=False)
    if not np.all(np.isfinite(probs)):
        raise ValueError("`probs` must be finite. Received NaN or Inf values.")
    if np.any(probs < 0):
        raise ValueError(
            f"`probs` must be non-negative. Received minimum: {probs.min():.3g}"
        )
    row_error = np.max(np.abs(probs.sum(axis=1) - 1))
    if row_error > _ROW_SUM_ATOL:
        raise ValueError(
            "`probs` rows must sum to 1 (softmax outputs). "
            f"Received a row sum off by {row_error:.3g}"
        )
    if isinstance(num_splits, bool) or not isinstance(num_splits, (int, np.integer)):
        raise TypeError(f"`num_splits` must be an int. Received: {num_splits!r}")
    if not 1 <= num_splits <= probs.shape[0]:
        raise ValueError(
            f"`num_splits` must be in [1, N={probs.shape[0]}]. Received: {num_splits}"
        )

    num = probs.shape[0]
    scores = []
    for i in range(num_splits):
        part = probs[i * num // num_splits : (i + 1) * num // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = scipy.special.xlogy(part, part) - scipy.special.xlogy(part, marginal)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
