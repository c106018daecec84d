"""Frechet distance between Gaussians fitted to features (FID without the network).

Matrix square roots come from symmetric eigendecompositions, so rank-deficient
covariances (fewer samples than feature dimensions) stay accurate.
"""

import numpy as np

# Tolerances for covariances a user passes in: relative asymmetry, and how
# negative the smallest eigenvalue may be relative to the largest (float32-stored
# covariances of rank-deficient features round to tiny negative eigenvalues).
_SYMMETRY_RTOL = 1e-4
_PSD_RTOL = 1e-3


def check_features(name: str, features) -> np.ndarray:
    """Validates a feature matrix and returns it as float64.

    Args:
        name: argument name used in error messages.
        features: real `[N, D]` array-like with N >= 2.

    Returns:
        float64 `[N, D]`.

    Raises:
        TypeError: if `features` is not a real numeric array.
        ValueError: if it is not 2-D, has fewer than 2 rows or no columns, or
            holds NaN or Inf.
    """
    array = np.asarray(features)
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"`{name}` must be a real numeric array. Received dtype: {array.dtype}"
        )
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(
            f"`{name}` must have shape [N, D] with N >= 2 and D >= 1. "
            f"Received shape: {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite. Received NaN or Inf values.")
    return array.astype(np.float64, copy=False)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of features, as TTUR and NVIDIA's TF code use.

    Args:
        features: real `[N, D]` array-like with N >= 2.

    Returns:
        `(mu, sigma)`: float64 `[D]` and `[D, D]` (covariance with N - 1).

    Raises:
        TypeError: if `features` is not a real numeric array.
        ValueError: if `features` is not `[N, D]` with N >= 2, or not finite.
    """
    features = check_features("features", features)
    mu = features.mean(axis=0)
    # Reshape because np.cov returns a 0-d array for a single feature.
    sigma = np.cov(features, rowvar=False).reshape(mu.size, mu.size)
    return mu, sigma


def _check_statistics(index, mu, sigma):
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    for name, array in ((f"mu{index}", mu), (f"sigma{index}", sigma)):
        if array.dtype.kind not in "iuf":
            raise TypeError(
                f"`{name}` must be a real numeric array. Received dtype: {array.dtype}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"`{name}` must be finite. Received NaN or Inf values.")
    if mu.ndim != 1 or mu.size < 1 or sigma.shape != (mu.size, mu.size):
        raise ValueError(
            f"`mu{index}` must have shape [D] and `sigma{index}` shape [D, D]. "
            f"Received shapes: {mu.shape} and {sigma.shape}"
        )
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    asymmetry = np.max(np.abs(sigma - sigma.T))
    if asymmetry > _SYMMETRY_RTOL * np.max(np.abs(sigma)):
        raise ValueError(
            f"`sigma{index}` must be symmetric. Received max |sigma - sigma.T| = "
            f"{asymmetry:.3g} for max |sigma| = {np.max(np.abs(sigma)):.3g}"
        )
    return mu, (sigma + sigma.T) / 2


def _psd_sqrt(name, sigma):
    """Square root of a symmetric PSD matrix, with round-off eigenvalues zeroed."""
    eigenvalues, eigenvectors = np.linalg.eigh(sigma)
    largest = max(eigenvalues[-1], 0.0)
    if eigenvalues[0] < -_PSD_RTOL * largest:
        raise ValueError(
            f"`{name}` must be positive semi-definite. Received eigenvalues "
            f"from {eigenvalues[0]:.3g} to {eigenvalues[-1]:.3g}"
        )
    # Zero eigenvalues below eigh's resolution (numpy's matrix_rank tolerance),
    # so a rank-deficient covariance has an exact null space.
    tolerance = largest * sigma.shape[0] * np.finfo(np.float64).eps
    eigenvalues = np.where(eigenvalues > tolerance, eigenvalues, 0.0)
    return (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), in float64.

    Tr(sqrt(S1 S2)) is computed as the sum of singular values of
    sqrt(S1) sqrt(S2): their squares are the eigenvalues of sqrt(S1) S2 sqrt(S1),
    which are those of S1 S2. Both square roots come from symmetric
    eigendecompositions with round-off eigenvalues set to 0, and summing singular
    values (not square roots of eigenvalues) keeps round-off from being amplified
    by a square root. Unlike `scipy.linalg.sqrtm(S1 @ S2)`, this stays accurate
    for singular covariances (fewer samples than dimensions, duplicated
    features) and never returns complex values.

    Args:
        mu1: float `[D]` mean of the first set.
        sigma1: float `[D, D]` symmetric PSD covariance of the first set.
        mu2: float `[D]` mean of the second set.
        sigma2: float `[D, D]` symmetric PSD covariance of the second set.

    Returns:
        The distance, a non-negative Python float (round-off below 0 is clipped).

    Raises:
        TypeError: if an input is not a real numeric array.
        ValueError: if shapes do not match `[D]`, `[D, D]`, or an input is not
            finite, or a covariance is not symmetric positive semi-definite.
    """
    mu1, sigma1 = _check_statistics(1, mu1, sigma1)
    mu2, sigma2 = _check_statistics(2, mu2, sigma2)
    if mu1.size != mu2.size:
        raise ValueError(
            "`mu1` and `mu2` must have the same dimension. "
            f"Received: {mu1.size} and {mu2.size}"
        )

    # Sum the singular values of sqrt(S1) sqrt(S2).
    product = _psd_sqrt("sigma1", sigma1) @ _psd_sqrt("sigma2", sigma2)
    trace_sqrt = np.sum(np.linalg.svd(product, compute_uv=False))

    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return max(float(distance), 0.0)


def fid_from_features(real, fake) -> float:
    """FID between two feature sets.

    Args:
        real: float `[N1, D]` features of real images, N1 >= 2.
        fake: float `[N2, D]` features of generated images, N2 >= 2.

    Returns:
        The Frechet distance between their Gaussian fits, a Python float.

    Raises:
        TypeError: if an input is not a real numeric array.
        ValueError: if an input is not `[N, D]` with N >= 2 and finite, or the
            two feature dimensions differ.
    """
    real, fake = check_features("real", real), check_features("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real` and `fake` must have the same feature dimension. "
            f"Received shapes: {real.shape} and {fake.shape}"
        )
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))
