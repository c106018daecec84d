"""Tests for metrics/frechet.py, kid.py, inception_score.py on given features.

Every expected value comes from an oracle written here (scipy, an SVD identity,
mpmath, explicit loops) or from hand computation, never from the code under test.
"""

import math

import numpy as np
import pytest
import scipy.linalg

from metrics.frechet import feature_statistics, fid_from_features, frechet_distance
from metrics.inception_score import inception_score
from metrics.kid import kernel_inception_distance


def fid_nuclear_oracle(real, fake):
    """FID of two feature sets from the SVD of the centred data.

    With centred data A1, A2 and S_i = A_i^T A_i / (n_i - 1), the nonzero
    eigenvalues of S1 S2 are the squared singular values of
    A1 A2^T / sqrt((n1 - 1)(n2 - 1)), so Tr(sqrt(S1 S2)) is that matrix's
    nuclear norm. The SVD is backward stable and no square root of a round-off
    eigenvalue is taken, so this stays accurate to ~1e-13 relative for
    rank-deficient covariances (checked against mpmath below).
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    a1, a2 = real - real.mean(axis=0), fake - fake.mean(axis=0)
    n1, n2 = len(real), len(fake)
    trace_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    trace_sqrt /= math.sqrt((n1 - 1) * (n2 - 1))
    diff = real.mean(axis=0) - fake.mean(axis=0)
    traces = np.sum(a1**2) / (n1 - 1) + np.sum(a2**2) / (n2 - 1)
    return diff @ diff + traces - 2 * trace_sqrt


# ---------------------------------------------------------------------------
# FID.


def test_feature_statistics_mean_and_unbiased_covariance():
    features = np.random.RandomState(0).randn(30, 5).astype(np.float32)
    mu, sigma = feature_statistics(features)
    x = features.astype(np.float64)
    expected_mu = x.sum(axis=0) / 30
    centred = x - expected_mu
    expected_sigma = np.einsum("ni,nj->ij", centred, centred) / 29
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-12)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-12)


def test_feature_statistics_one_feature_keeps_matrix_shape():
    mu, sigma = feature_statistics([[1.0], [2.0], [6.0]])
    np.testing.assert_allclose(mu, [3.0])
    # Deviations -2, -1, 3: (4 + 1 + 9) / 2 = 7.
    np.testing.assert_allclose(sigma, [[7.0]])


def test_fid_matches_scipy_sqrtm_oracle():
    rng = np.random.RandomState(1)
    real = rng.randn(2000, 64)
    fake = rng.randn(2000, 64) @ (np.eye(64) + 0.1 * rng.randn(64, 64)) + 0.2
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    expected = (
        np.sum((mu1 - mu2) ** 2)
        + np.trace(s1)
        + np.trace(s2)
        - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    )
    np.testing.assert_allclose(fid_from_features(real, fake), expected, rtol=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("num", [2000, 50])
def test_fid_of_set_with_itself_is_zero(num):
    features = np.random.RandomState(2).randn(num, 64)
    assert 0.0 <= fid_from_features(features, features) < 1e-6


def _rank_deficient_cases():
    rng = np.random.RandomState(3)
    base = rng.randn(20, 128)
    duplicated = np.repeat(rng.randn(200, 16), 4, axis=1)
    return {
        # 50 samples in 64-D: both covariances have rank 49.
        "50_in_64d": (rng.randn(50, 64), rng.randn(50, 64) + 0.5),
        # Every column four times: both covariances have rank 16 of 64.
        "duplicated_columns": (duplicated, 1.5 * duplicated[::-1] + 0.1),
        # Rank 19 of 128 and a small FID: scipy.linalg.sqrtm(S1 @ S2) and the
        # eigenvalues of sqrt(S1) S2 sqrt(S1) are both off by ~7e-4 relative here.
        "20_in_128d_near_identical": (base, base + 0.01 * rng.randn(20, 128)),
    }


@pytest.mark.parametrize("name", list(_rank_deficient_cases()))
def test_fid_rank_deficient_matches_nuclear_norm_oracle(name):
    real, fake = _rank_deficient_cases()[name]
    fid = fid_from_features(real, fake)
    assert np.isfinite(fid) and fid >= 0
    # The oracle is good to ~1e-13; the FID's own float64 evaluation loses
    # about Tr(S1 + S2) / FID digits to cancellation (~1e4 in the
    # near-identical case), so 1e-6 leaves a wide margin yet fails any method
    # that takes square roots of round-off eigenvalues (errors 1e-8 to 1e-3).
    np.testing.assert_allclose(fid, fid_nuclear_oracle(real, fake), rtol=1e-6)


def test_fid_rank_deficient_matches_mpmath_oracle():
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.RandomState(4)
    real = rng.randn(8, 24)
    fake = real + 0.01 * rng.randn(8, 24)

    # Redo the whole FID at 50 digits from the float64 features: statistics, the
    # eigenvalues of the non-symmetric S1 S2, and the sum of their square roots.
    def statistics(features):
        x = mpmath.matrix(features.tolist())
        rows, cols = features.shape
        mu = [mpmath.fsum(x[k, j] for k in range(rows)) / rows for j in range(cols)]
        sigma = mpmath.matrix(cols, cols)
        for i in range(cols):
            for j in range(cols):
                terms = ((x[k, i] - mu[i]) * (x[k, j] - mu[j]) for k in range(rows))
                sigma[i, j] = mpmath.fsum(terms) / (rows - 1)
        return mu, sigma

    with mpmath.workdps(50):
        mu1, s1 = statistics(real)
        mu2, s2 = statistics(fake)
        eigenvalues = mpmath.eig(s1 * s2, left=False, right=False)
        trace_sqrt = mpmath.fsum(mpmath.re(mpmath.sqrt(e)) for e in eigenvalues)
        expected = float(
            mpmath.fsum((a - b) ** 2 for a, b in zip(mu1, mu2, strict=True))
            + mpmath.fsum(s1[i, i] + s2[i, i] for i in range(24))
            - 2 * trace_sqrt
        )

    # FID ~2e-3 against traces ~50: float64 cancellation allows ~1e-11 relative.
    np.testing.assert_allclose(fid_nuclear_oracle(real, fake), expected, rtol=1e-9)
    np.testing.assert_allclose(fid_from_features(real, fake), expected, rtol=1e-9)


def test_frechet_distance_one_dimensional_by_hand():
    # N(0, 1) against N(1, 4): 1 + 1 + 4 - 2 * sqrt(1 * 4) = 2.
    assert frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)


def test_frechet_distance_diagonal_by_hand():
    # ||(3, 4)||^2 + (1 + 9 - 2 * 3) + (4 + 1 - 2 * 2) = 25 + 4 + 1 = 30.
    fid = frechet_distance([0, 0], np.diag([1.0, 4.0]), [3, 4], np.diag([9.0, 1.0]))
    assert fid == pytest.approx(30.0, rel=1e-12)


def test_frechet_distance_zero_covariances_is_mean_distance():
    fid = frechet_distance([1.0, 2.0], np.zeros((2, 2)), [4.0, 6.0], np.zeros((2, 2)))
    assert fid == pytest.approx(25.0, rel=1e-12)


@pytest.mark.parametrize(
    "features, match",
    [
        (np.zeros(5), r"shape \[N, D\].*Received shape: \(5,\)"),
        (np.zeros((1, 3)), r"N >= 2.*Received shape: \(1, 3\)"),
        (np.zeros((4, 0)), r"D >= 1.*Received shape: \(4, 0\)"),
        (np.array([[0.0, 1.0], [np.nan, 2.0]]), "must be finite"),
    ],
)
def test_feature_statistics_rejects_bad_features(features, match):
    with pytest.raises(ValueError, match=match):
        feature_statistics(features)


def test_feature_statistics_rejects_non_numeric():
    with pytest.raises(TypeError, match="real numeric array.*<U1"):
        feature_statistics([["a", "b"], ["c", "d"]])


def test_fid_from_features_rejects_dimension_mismatch():
    with pytest.raises(ValueError, match=r"same feature dimension.*\(4, 3\).*\(4, 2\)"):
        fid_from_features(np.zeros((4, 3)), np.zeros((4, 2)))


@pytest.mark.parametrize(
    "args, match",
    [
        (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), r"`sigma1` shape \[D, D\]"),
        ((np.zeros((2, 1)), np.eye(2), [0.0], [[1.0]]), r"`mu1` must have shape \[D\]"),
        (([0.0, 0.0], np.eye(2), [0.0], [[1.0]]), "same dimension.*2 and 1"),
        (([0.0], [[np.inf]], [0.0], [[1.0]]), "`sigma1` must be finite"),
        (([0.0], [[1.0]], [np.nan], [[1.0]]), "`mu2` must be finite"),
        (([0, 0], [[1.0, 0.5], [0.0, 1.0]], [0, 0], np.eye(2)), "must be symmetric"),
        (([0, 0], np.eye(2), [0, 0], np.diag([1.0, -1.0])), "`sigma2`.*semi-definite"),
    ],
)
def test_frechet_distance_rejects_bad_statistics(args, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)


# ---------------------------------------------------------------------------
# KID.


def kid_loop_oracle(real, fake, num_subsets, max_subset_size, seed):
    """Unbiased MMD^2 by explicit sums, on the subsets NVIDIA's code draws."""
    rng = np.random.RandomState(seed)
    dim = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)

    def kernel(u, v):
        return (float(np.dot(u, v)) / dim + 1.0) ** 3

    estimates = []
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
        yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
        xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m))
        estimates.append(xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2)
    return sum(estimates) / num_subsets


@pytest.mark.parametrize(
    "num_real, num_fake, max_subset_size, seed",
    [(40, 35, 1000, 0), (40, 35, 20, 7), (25, 60, 1000, 3)],
)
def test_kid_matches_loop_oracle(num_real, num_fake, max_subset_size, seed):
    rng = np.random.RandomState(5)
    real = rng.randn(num_real, 16)
    fake = 1.3 * rng.randn(num_fake, 16) + 0.2
    kid = kernel_inception_distance(
        real, fake, num_subsets=4, max_subset_size=max_subset_size, seed=seed
    )
    expected = kid_loop_oracle(real, fake, 4, max_subset_size, seed)
    assert kid == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_kid_float32_features_computed_in_float64():
    rng = np.random.RandomState(6)
    real, fake = (
        rng.randn(30, 8).astype(np.float32),
        rng.randn(30, 8).astype(np.float32),
    )
    kid = kernel_inception_distance(real, fake, num_subsets=3, seed=1)
    expected = kid_loop_oracle(
        real.astype(np.float64), fake.astype(np.float64), 3, 30, 1
    )
    assert kid == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_kid_same_distribution_near_zero_and_grows_with_shift():
    rng = np.random.RandomState(8)
    real = rng.randn(500, 16)
    kids = [
        kernel_inception_distance(
            real, rng.randn(500, 16) + shift, num_subsets=20, max_subset_size=200
        )
        for shift in (0.0, 0.25, 0.5, 1.0)
    ]
    # Independent draws: the estimator's noise, here ~1e-3, against 0.27 at 0.25.
    assert abs(kids[0]) < 0.02
    assert kids[0] < kids[1] < kids[2] < kids[3]


def test_kid_seed_selects_subsets():
    rng = np.random.RandomState(9)
    real, fake = rng.randn(50, 4), rng.randn(50, 4)

    def kid(seed):
        return kernel_inception_distance(real, fake, 5, 10, seed)

    assert kid(1) == kid(1)
    assert kid(1) != kid(2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"fake": np.zeros((10, 3))}, ValueError, "same feature dimension"),
        ({"real": np.zeros((1, 4))}, ValueError, r"`real`.*N >= 2"),
        ({"num_subsets": 0}, ValueError, "`num_subsets` must be >= 1. Received: 0"),
        ({"max_subset_size": 1}, ValueError, "`max_subset_size` must be >= 2"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0"),
        ({"num_subsets": 2.0}, TypeError, "`num_subsets` must be an int"),
    ],
)
def test_kid_rejects_bad_inputs(kwargs, error, match):
    args = {"real": np.zeros((10, 4)), "fake": np.ones((10, 4)), **kwargs}
    with pytest.raises(error, match=match):
        kernel_inception_distance(**args)


# ---------------------------------------------------------------------------
# Inception Score.


def inception_score_loop_oracle(probs, num_splits):
    """exp(mean_x KL(p(y|x) || p(y))) per split by explicit loops, mean and std."""
    num, classes = len(probs), len(probs[0])
    scores = []
    for i in range(num_splits):
        rows = probs[i * num // num_splits : (i + 1) * num // num_splits]
        marginal = [sum(row[k] for row in rows) / len(rows) for k in range(classes)]
        kls = [
            sum(
                row[k] * math.log(row[k] / marginal[k])
                for k in range(classes)
                if row[k] > 0  # 0 * log(0) = 0.
            )
            for row in rows
        ]
        scores.append(math.exp(sum(kls) / len(kls)))
    mean = sum(scores) / num_splits
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / num_splits)


def test_inception_score_identical_rows_is_one():
    probs = np.tile(np.random.RandomState(10).dirichlet(np.ones(1008)), (50, 1))
    mean, std = inception_score(probs, num_splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_even_one_hot_is_number_of_classes():
    # Each split holds each of the 5 one-hot rows once: p(y) is uniform, KL = log 5.
    mean, std = inception_score(np.tile(np.eye(5), (2, 1)), num_splits=2)
    assert mean == pytest.approx(5.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_small_cases_by_hand():
    # p(y) = (3/4, 1/4); KLs 0.5 * log(4/3) and log(4/3): IS = (4/3)^(3/4).
    mean, std = inception_score([[0.5, 0.5], [1.0, 0.0]], num_splits=1)
    assert mean == pytest.approx((4 / 3) ** 0.75, rel=1e-12)
    assert std == 0.0
    # Splits scoring 2 (two one-hot classes) and 1 (identical rows).
    mean, std = inception_score([[1, 0], [0, 1], [0.3, 0.7], [0.3, 0.7]], 2)
    assert mean == pytest.approx(1.5, rel=1e-12)
    assert std == pytest.approx(0.5, rel=1e-12)


def test_inception_score_matches_loop_oracle_with_uneven_splits():
    probs = np.random.RandomState(11).dirichlet(np.full(1008, 0.1), size=103)
    mean, std = inception_score(probs.astype(np.float32), num_splits=10)
    expected_mean, expected_std = inception_score_loop_oracle(
        probs.astype(np.float32).astype(np.float64).tolist(), 10
    )
    assert mean == pytest.approx(expected_mean, rel=1e-9)
    assert std == pytest.approx(expected_std, rel=1e-6)


@pytest.mark.parametrize(
    "probs, num_splits, error, match",
    [
        (np.full(4, 0.25), 1, ValueError, r"shape \[N, K\]. Received: \(4,\)"),
        ([[1.2, -0.2], [0.5, 0.5]], 1, ValueError, "non-negative.*-0.2"),
        ([[0.5, 0.6], [0.5, 0.5]], 1, ValueError, "sum to 1.*0.1"),
        ([[np.nan, 1.0], [0.5, 0.5]], 1, ValueError, "must be finite"),
        ([[0.5, 0.5], [0.5, 0.5]], 0, ValueError, r"\[1, N=2\]. Received: 0"),
        ([[0.5, 0.5], [0.5, 0.5]], 3, ValueError, r"\[1, N=2\]. Received: 3"),
        ([[0.5, 0.5], [0.5, 0.5]], 1.0, TypeError, "`num_splits` must be an int"),
    ],
)
def test_inception_score_rejects_bad_inputs(probs, num_splits, error, match):
    with pytest.raises(error, match=match):
        inception_score(probs, num_splits)
