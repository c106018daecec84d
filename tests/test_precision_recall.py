"""Improved precision and recall: k-NN balls against a numpy oracle, batching,
the VGG16 fc2 features against a numpy VGG16 in torch's layout, and `pr<N>k3`."""

import dataclasses

import numpy as np
import pytest
import scipy.spatial.distance
from numpy.lib.stride_tricks import sliding_window_view
from torch_helpers import VGG16_CONVS, vgg16_arrays

from metrics import precision_recall as pr_math
from metrics import registry
from metrics.precision_recall import inside_manifold, knn_radii, precision_recall
from metrics.registry import MetricOptions
from metrics.vgg16_features import VGG16Features, vgg16_features_of


def oracle(real, fake, k=3):
    """Precision and recall from full float64 distance matrices."""

    def radii(x):
        d = scipy.spatial.distance.cdist(x, x)
        return np.sort(d, axis=1)[:, k]  # Column 0 is the point itself.

    def inside(probes, manifold):
        d = scipy.spatial.distance.cdist(probes, manifold)
        return (d <= radii(manifold)[np.newaxis]).any(axis=1)

    return inside(fake, real).mean(), inside(real, fake).mean()


def clouds(seed=0, n=300):
    """Two Gaussian clouds in 16-d that partly overlap."""
    rng = np.random.RandomState(seed)
    real = rng.randn(n, 16).astype(np.float32)
    fake = (0.7 + 1.3 * rng.randn(n - n // 8, 16)).astype(np.float32)
    return real, fake


def test_radii_are_the_kth_neighbour_without_the_point_itself():
    real, _ = clouds()
    squared = scipy.spatial.distance.cdist(real, real, "sqeuclidean")
    for k in (1, 3):
        expected = np.sort(squared, axis=1)[:, k]
        np.testing.assert_allclose(knn_radii(real, k), expected, rtol=1e-4)


def test_two_gaussian_clouds_equal_the_numpy_oracle():
    real, fake = clouds()
    precision, recall = precision_recall(real, fake)
    assert (precision, recall) == pytest.approx(oracle(real, fake), abs=1e-12)
    assert 0.2 < precision < 0.9 and 0.2 < recall < 0.9  # A partial overlap.


def test_a_known_overlap_and_a_set_against_itself():
    rng = np.random.RandomState(1)
    real = rng.randn(200, 8)
    # Half the fakes sit on reals, half in a cloud 50 away from every real.
    near = real[:100] + 1e-3 * rng.randn(100, 8)
    far = 50.0 + rng.randn(100, 8)
    fake = np.concatenate([near, far])
    precision, recall = precision_recall(real, fake)
    assert precision == 0.5
    assert recall >= 0.5 and recall == pytest.approx(oracle(real, fake)[1], abs=1e-12)
    assert precision_recall(real, real) == (1.0, 1.0)


def test_blocks_of_any_size_give_the_same_result(monkeypatch):
    real, fake = clouds(2, n=48)
    expected = precision_recall(real, fake)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1
    blocks = []
    for name in ("_smallest", "_inside"):
        original = getattr(pr_math, name)

        def record(*args, original=original):
            blocks.append((len(args[1]), len(args[2])))  # rows, columns
            return original(*args)

        monkeypatch.setattr(pr_math, name, record)
    assert precision_recall(real, fake, row_batch_size=7, col_batch_size=5) == expected
    assert max(rows for rows, _ in blocks) == 7
    assert max(cols for _, cols in blocks) == 5
    assert precision_recall(real, fake, row_batch_size=100, col_batch_size=16) == (
        expected
    )


def test_inside_manifold_per_probe():
    manifold = np.array([[0.0, 0.0], [10.0, 0.0]])
    probes = np.array([[0.0, 1.0], [0.0, 2.1], [10.0, 3.0]])
    inside = inside_manifold(probes, manifold, radii=[4.0, 9.0], col_batch_size=1)
    assert inside.tolist() == [True, False, True]


def test_errors():
    real, fake = clouds()
    with pytest.raises(
        ValueError, match=r"`real_features` must be \[N, D\] with N >= 4"
    ):
        precision_recall(real[:3], fake)
    with pytest.raises(ValueError, match="must have the same width"):
        precision_recall(real, fake[:, :8])
    with pytest.raises(ValueError, match="`row_batch_size` must be >= 1. Received: 0"):
        precision_recall(real, fake, row_batch_size=0)
    with pytest.raises(ValueError, match="`nhood_size` must be >= 1"):
        knn_radii(real, 0)
    with pytest.raises(ValueError, match="must agree"):
        inside_manifold(fake, real, np.ones(5))


def numpy_vgg16_features(arrays, images):
    """torchvision's VGG16 up to fc2's ReLU, NCHW in float64, after TF1's
    bilinear resize to 224 and ImageNet normalisation."""
    x = images.astype(np.float64)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    for axis in (1, 2):  # TF1 resize_bilinear: src = dst * in / out.
        size = x.shape[axis]
        src = np.arange(224) * size / 224
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        frac = (src - lo).reshape([-1 if a == axis else 1 for a in range(4)])
        x = np.take(x, lo, axis) * (1 - frac) + np.take(x, hi, axis) * frac
    x = (x / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    x = x.transpose(0, 3, 1, 2)
    for convs in VGG16_CONVS:
        for i in convs:
            w, b = arrays[f"features.{i}.weight"], arrays[f"features.{i}.bias"]
            padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
            windows = sliding_window_view(padded, (3, 3), axis=(2, 3))
            x = np.einsum("nchwij,ocij->nohw", windows, w) + b[:, None, None]
            x = np.maximum(x, 0)
        n, c, h, w_ = x.shape
        x = x.reshape(n, c, h // 2, 2, w_ // 2, 2).max(axis=(3, 5))
    x = x.reshape(len(x), -1)  # torch's flatten: C, H, W.
    for i in (0, 3):
        x = np.maximum(
            x @ arrays[f"classifier.{i}.weight"].T.astype(np.float64)
            + arrays[f"classifier.{i}.bias"],
            0,
        )
    return x


@pytest.mark.parametrize("shape", [(2, 32, 32, 3), (1, 20, 20, 1)])
def test_vgg16_features_equal_torchs_vgg16_in_numpy(shape):
    arrays = vgg16_arrays(hidden=24)
    images = np.random.RandomState(3).randint(0, 256, shape).astype(np.uint8)
    features = VGG16Features(arrays)(images)
    expected = numpy_vgg16_features(arrays, images)
    assert features.shape == (shape[0], 24) and features.min() >= 0
    np.testing.assert_allclose(
        features, expected, rtol=1e-4, atol=1e-4 * expected.max()
    )


def test_vgg16_features_refuse_other_weights_and_images():
    arrays = vgg16_arrays()
    with pytest.raises(ValueError, match="no `classifier.3.bias`"):
        VGG16Features({k: v for k, v in arrays.items() if k != "classifier.3.bias"})
    wrong = dict(arrays, **{"classifier.0.weight": np.zeros([32, 100], np.float32)})
    with pytest.raises(ValueError, match=r"`classifier.0.weight` must be \[out, 784\]"):
        VGG16Features(wrong)
    with pytest.raises(ValueError, match=r"\[N, H, W, 1 or 3\]"):
        VGG16Features(arrays)(np.zeros([1, 8, 8, 4], np.uint8))


def test_pr_metric_takes_count_fakes_and_at_most_count_reals():
    rng = np.random.RandomState(4)
    fakes = rng.randint(0, 256, [30, 16, 16, 3]).astype(np.uint8)
    reals = rng.randint(0, 256, [23, 16, 16, 3]).astype(np.uint8)
    reals[:10] = fakes[:10]  # Some overlap.
    arrays = vgg16_arrays()
    network = VGG16Features(arrays)

    def generate(count, batch):
        for start in range(0, count, batch):
            yield fakes[start : min(start + batch, count)]

    def all_reals():
        yield from np.array_split(reals, 5)

    def never():
        raise AssertionError("pr reads every real once, from `all_reals`")

    options = MetricOptions(
        generate, never, batch=7, all_reals=all_reals, vgg16=lambda: arrays
    )
    for count, n_reals in ((20, 20), (30, 23)):
        result = registry.pr(dataclasses.replace(options, count=count))
        expected = precision_recall(network(reals[:n_reals]), network(fakes[:count]))
        assert result == {"precision": expected[0], "recall": expected[1]}
    assert len(vgg16_features_of(network, all_reals(), 100)) == 23
    with pytest.raises(ValueError, match="pr needs `all_reals`"):
        registry.pr(MetricOptions(generate, never, count=5, vgg16=lambda: arrays))
