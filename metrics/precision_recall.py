"""Improved precision and recall (Kynkäänniemi et al. 2019), as stylegan2-ada's
`pr50k3` computes them, on feature vectors.

Each set's manifold is the union of balls around its points, the radius of a
point being the distance to its k-th nearest neighbour in the set (itself not
counted). Precision is the fraction of generated points inside the reals'
manifold; recall the fraction of real points inside the generated one.
Distances are computed a block of `row_batch_size` x `col_batch_size` at a
time, so memory stays bounded at any N.
"""

import numpy as np
import tensorflow as tf

NHOOD_SIZE = 3
# NVIDIA's row and column batches (stylegan2-ada metric_main.pr50k3).
ROW_BATCH_SIZE = 10000
COL_BATCH_SIZE = 10000


@tf.function(reduce_retracing=True)
def _squared_distances(rows, cols):
    # [R, C] squared Euclidean distances (the order of Euclidean ones).
    row_norms = tf.reduce_sum(tf.square(rows), axis=1, keepdims=True)
    col_norms = tf.reduce_sum(tf.square(cols), axis=1)[tf.newaxis]
    products = tf.matmul(rows, cols, transpose_b=True)
    return tf.maximum(row_norms - 2.0 * products + col_norms, 0.0)


@tf.function(reduce_retracing=True)
def _smallest(smallest, rows, cols):
    # The k + 1 smallest distances per row, merged with those of a new block.
    distances = tf.concat([smallest, _squared_distances(rows, cols)], axis=1)
    return -tf.math.top_k(-distances, k=tf.shape(smallest)[1], sorted=True).values


@tf.function(reduce_retracing=True)
def _inside(rows, cols, radii):
    return tf.reduce_any(_squared_distances(rows, cols) <= radii[tf.newaxis], axis=1)


def _check(name, features, minimum):
    features = np.asarray(features, np.float32)
    if features.ndim != 2 or len(features) < minimum:
        raise ValueError(
            f"`{name}` must be [N, D] with N >= {minimum}. Received shape: "
            f"{features.shape}"
        )
    return features


def _check_batches(row_batch_size, col_batch_size):
    for name, value in (
        ("row_batch_size", row_batch_size),
        ("col_batch_size", col_batch_size),
    ):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1. Received: {value}")


def knn_radii(
    features,
    nhood_size: int = NHOOD_SIZE,
    row_batch_size: int = ROW_BATCH_SIZE,
    col_batch_size: int = COL_BATCH_SIZE,
) -> np.ndarray:
    """Squared distance from each point to its `nhood_size`-th nearest neighbour
    (the point itself, at distance 0, not counted).

    Args:
        features: `[N, D]`, N > `nhood_size`.
        nhood_size: k.
        row_batch_size, col_batch_size: the block of distances held at a time.

    Returns:
        float32 `[N]`.

    Raises:
        ValueError: too few points, or a batch size below 1.
    """
    if nhood_size < 1:
        raise ValueError(f"`nhood_size` must be >= 1. Received: {nhood_size}")
    features = _check("features", features, nhood_size + 1)
    _check_batches(row_batch_size, col_batch_size)
    radii = []
    for start in range(0, len(features), row_batch_size):
        rows = tf.constant(features[start : start + row_batch_size])
        smallest = tf.fill([len(rows), nhood_size + 1], np.float32(np.inf))
        for col in range(0, len(features), col_batch_size):
            smallest = _smallest(smallest, rows, features[col : col + col_batch_size])
        radii.append(smallest[:, nhood_size].numpy())
    return np.concatenate(radii)


def inside_manifold(
    probes,
    manifold,
    radii,
    row_batch_size: int = ROW_BATCH_SIZE,
    col_batch_size: int = COL_BATCH_SIZE,
) -> np.ndarray:
    """Whether each probe lies within `radii` (squared) of some manifold point.

    Args:
        probes: `[M, D]`.
        manifold: `[N, D]`.
        radii: `[N]` squared radii (`knn_radii(manifold)`).

    Returns:
        bool `[M]`.
    """
    probes = _check("probes", probes, 1)
    manifold = _check("manifold", manifold, 1)
    radii = np.asarray(radii, np.float32)
    if radii.shape != manifold.shape[:1] or probes.shape[1] != manifold.shape[1]:
        raise ValueError(
            "`probes` [M, D], `manifold` [N, D] and `radii` [N] must agree. "
            f"Received: {probes.shape}, {manifold.shape}, {radii.shape}"
        )
    _check_batches(row_batch_size, col_batch_size)
    out = []
    for start in range(0, len(probes), row_batch_size):
        rows = tf.constant(probes[start : start + row_batch_size])
        inside = np.zeros(len(rows), bool)
        for col in range(0, len(manifold), col_batch_size):
            end = col + col_batch_size
            inside |= _inside(rows, manifold[col:end], radii[col:end]).numpy()
            if inside.all():
                break
        out.append(inside)
    return np.concatenate(out)


def precision_recall(
    real_features,
    fake_features,
    nhood_size: int = NHOOD_SIZE,
    row_batch_size: int = ROW_BATCH_SIZE,
    col_batch_size: int = COL_BATCH_SIZE,
) -> tuple[float, float]:
    """Improved precision and recall of generated features against real ones.

    Args:
        real_features: `[N, D]`, N > `nhood_size`.
        fake_features: `[M, D]`, M > `nhood_size`.
        nhood_size: k, the neighbour that sets each ball's radius.
        row_batch_size, col_batch_size: the block of distances held at a time
            (results do not depend on them).

    Returns:
        `(precision, recall)`, each in [0, 1].

    Raises:
        ValueError: too few points, mismatched widths, a batch size below 1.
    """
    real = _check("real_features", real_features, nhood_size + 1)
    fake = _check("fake_features", fake_features, nhood_size + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real_features` and `fake_features` must have the same width. "
            f"Received: {real.shape} and {fake.shape}"
        )
    results = []
    for manifold, probes in ((real, fake), (fake, real)):
        radii = knn_radii(manifold, nhood_size, row_batch_size, col_batch_size)
        inside = inside_manifold(
            probes, manifold, radii, row_batch_size, col_batch_size
        )
        results.append(float(inside.mean()))
    return results[0], results[1]
