"""Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel.

Follows NVIDIA's stylegan2-ada `metrics/kernel_inception_distance.py`.
"""

import numpy as np

from metrics.frechet import check_features


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int. Received: {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}. Received: {value}")
    return int(value)


def kernel_inception_distance(
    real, fake, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0
) -> float:
    """KID between two feature sets, averaged over random subsets.

    With d the feature dimension and k(x, y) = (x . y / d + 1)^3, each subset
    draws m = min(N1, N2, max_subset_size) fake rows, then m real rows, without
    replacement from `np.random.RandomState(seed)`, and contributes the
    unbiased MMD^2 estimate. Computed in float64.

    Args:
        real: float `[N1, D]` features of real images, N1 >= 2.
        fake: float `[N2, D]` features of generated images, N2 >= 2.
        num_subsets: number of random subsets, >= 1.
        max_subset_size: largest subset size m, >= 2.
        seed: seed of the `np.random.RandomState` that draws the subsets.

    Returns:
        The mean MMD^2 over subsets, a Python float (may be slightly negative,
        since the estimate is unbiased).

    Raises:
        TypeError: if an input is not a real numeric array or an option not an int.
        ValueError: if an input is not `[N, D]` with N >= 2 and finite, the two
            feature dimensions differ, or an option is out of range.
    """
    real, fake = check_features("real", real), check_features("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real` and `fake` must have the same feature dimension. "
            f"Received shapes: {real.shape} and {fake.shape}"
        )
    num_subsets = _check_int("num_subsets", num_subsets, 1)
    max_subset_size = _check_int("max_subset_size", max_subset_size, 2)
    seed = _check_int("seed", seed, 0)

    dim = real.shape[1]
    m = min(real.shape[0], fake.shape[0], max_subset_size)
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        # Draw the fake subset first, then the real one, as NVIDIA does.
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        within = (x @ x.T / dim + 1) ** 3 + (y @ y.T / dim + 1) ** 3
        between = (x @ y.T / dim + 1) ** 3
        total += (within.sum() - np.trace(within)) / (m - 1) - between.sum() * 2 / m
    return float(total / num_subsets / m)
