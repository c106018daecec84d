"""Tests for metrics/lpips.py: a numpy oracle, the real lpips package's outputs."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf
from torch_helpers import write_vgg16_stand_in

from metrics import lpips

DATA = pathlib.Path(__file__).parent / "data"
# Written from the `lpips` package (ScalingLayer, normalize_tensor) and torchvision's
# vgg16.features, independently of the module under test.
SHIFT = np.array([-0.030, -0.088, -0.188])
SCALE = np.array([0.458, 0.448, 0.450])
CONVS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
WIDTHS = (4, 6, 8, 8, 12)


def _stand_in_vgg(widths, rng):
    """A torchvision-style VGG16 state dict (OIHW) with the given stage widths."""
    state, channels = {"classifier.0.weight": np.zeros([2, 3], np.float32)}, 3
    for width, indices in zip(widths, CONVS, strict=True):
        for index in indices:
            std = np.sqrt(2.0 / (9 * channels))
            weight = rng.normal(0.0, std, [width, channels, 3, 3])
            state[f"features.{index}.weight"] = weight.astype(np.float32)
            state[f"features.{index}.bias"] = rng.normal(0, 0.1, width).astype(
                np.float32
            )
            channels = width
    return state


def _stand_in_lins(widths, rng):
    return {
        f"lin{k}": rng.uniform(0, 1, w).astype(np.float32) for k, w in enumerate(widths)
    }


def _images(rng, shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def _conv3x3(x, weight, bias):
    """Torch's Conv2d(3x3, padding=1) on NHWC `x` with an OIHW weight."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros([n, h, w, weight.shape[0]]) + bias
    for dy in range(3):
        for dx in range(3):
            patch = padded[:, dy : dy + h, dx : dx + w]
            out += np.einsum("nhwc,oc->nhwo", patch, weight[:, :, dy, dx])
    return out


def _max_pool(x):
    """2x2 max-pool, stride 2, odd sides floored."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _oracle_stages(state, lins, x, y):
    """Float64 LPIPS per stage, `[N, 5]`, and the five feature shapes."""

    def features(images):
        h = (images.astype(np.float64) - SHIFT) / SCALE
        outputs = []
        for k, indices in enumerate(CONVS):
            if k:
                h = _max_pool(h)
            for i in indices:
                w = state[f"features.{i}.weight"].astype(np.float64)
                h = np.maximum(_conv3x3(h, w, state[f"features.{i}.bias"]), 0.0)
            outputs.append(h)
        return outputs

    shares = []
    for k, (fx, fy) in enumerate(zip(features(x), features(y), strict=True)):
        ux = fx / (np.sqrt((fx**2).sum(-1, keepdims=True)) + 1e-10)
        uy = fy / (np.sqrt((fy**2).sum(-1, keepdims=True)) + 1e-10)
        weighted = ((ux - uy) ** 2 * lins[f"lin{k}"].astype(np.float64)).sum(-1)
        shares.append(weighted.mean(axis=(1, 2)))
    return np.stack(shares, 1), [f.shape for f in features(x)]


def test_matches_numpy_oracle_with_odd_sizes():
    rng = np.random.RandomState(0)
    state, lins = _stand_in_vgg(WIDTHS, rng), _stand_in_lins(WIDTHS, rng)
    x, y = _images(rng, [2, 35, 41, 3]), _images(rng, [2, 35, 41, 3])
    y[1] = np.clip(x[1] + rng.normal(0, 0.05, x[1].shape), -1, 1)
    expected, shapes = _oracle_stages(state, lins, x, y)

    metric = lpips.LPIPS.from_state_dicts(state, lins)
    assert shapes == [
        (2, 35, 41, 4),
        (2, 17, 20, 6),
        (2, 8, 10, 8),
        (2, 4, 5, 8),
        (2, 2, 2, 12),
    ]
    assert [tuple(f.shape) for f in metric.features(x)] == shapes
    np.testing.assert_allclose(metric.stage_distances(x, y), expected, rtol=1e-4)
    distance = metric(x, y)
    assert distance.shape == (2,) and distance.dtype == tf.float32
    np.testing.assert_allclose(distance, expected.sum(1), rtol=1e-4)


def test_matches_the_real_lpips_package():
    # lpips 0.1.4 (torch) on a slim random VGG16: tests/data/lpips_reference.md.
    ref = dict(np.load(DATA / "lpips_reference.npz"))
    state = {k: v for k, v in ref.items() if k.startswith("features.")}
    metric = lpips.LPIPS.from_state_dicts(state, ref)
    x = tf.constant(ref["x"])
    with tf.GradientTape() as tape:
        tape.watch(x)
        distance = metric(x, ref["y"])
    np.testing.assert_allclose(distance, ref["distance"], rtol=1e-5)
    np.testing.assert_allclose(
        metric.stage_distances(x, ref["y"]),
        ref["stage_distances"],
        rtol=1e-5,
        atol=1e-9,
    )
    gradient = tape.gradient(distance, x)
    scale = np.abs(ref["grad_x"]).max()
    np.testing.assert_allclose(gradient, ref["grad_x"], rtol=1e-3, atol=1e-4 * scale)


def test_self_distance_is_zero_and_symmetric():
    rng = np.random.RandomState(1)
    metric = lpips.LPIPS.from_state_dicts(
        _stand_in_vgg(WIDTHS, rng), _stand_in_lins(WIDTHS, rng)
    )
    x, y = _images(rng, [2, 32, 32, 3]), _images(rng, [2, 32, 32, 3])
    np.testing.assert_array_equal(metric(x, x), [0.0, 0.0])
    np.testing.assert_allclose(metric(x, y), metric(y, x), rtol=1e-6)
    assert np.all(metric(x, y).numpy() > 0)


def test_gradients_finite_and_nonzero_in_tf_function_with_a_dead_stage():
    rng = np.random.RandomState(2)
    state = _stand_in_vgg(WIDTHS, rng)
    # Switch relu5_3 off everywhere: its features are all 0 (norm 0).
    state["features.28.bias"][:] = -1e3
    metric = lpips.LPIPS.from_state_dicts(state, _stand_in_lins(WIDTHS, rng))
    x, y = _images(rng, [2, 16, 16, 3]), _images(rng, [2, 16, 16, 3])

    @tf.function
    def distance_and_gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            distance = metric(x, y)
        return distance, metric.stage_distances(x, y), tape.gradient(distance, x)

    distance, shares, gradient = distance_and_gradient(tf.constant(x), tf.constant(y))
    assert np.all(shares[:, 4].numpy() == 0) and np.all(distance.numpy() > 0)
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0
    assert not metric.trainable_variables


def test_shipped_lin_weights():
    lins = lpips.load_lin_weights()
    assert sorted(lins) == [f"lin{k}" for k in range(5)]
    assert [lins[f"lin{k}"].shape for k in range(5)] == [
        (64,),
        (128,),
        (256,),
        (512,),
        (512,),
    ]
    for weights in lins.values():
        assert weights.dtype == np.float32
        assert np.all(np.isfinite(weights)) and np.all(weights >= 0)


def test_shipped_lin_weights_fit_full_width_vgg16():
    rng = np.random.RandomState(3)
    state = _stand_in_vgg((64, 128, 256, 512, 512), rng)
    metric = lpips.LPIPS.from_state_dicts(state, lpips.load_lin_weights())
    distance = metric(_images(rng, [1, 16, 16, 3]), _images(rng, [1, 16, 16, 3]))
    assert distance.shape == (1,) and np.isfinite(distance[0]) and distance[0] > 0


def test_lin_weights_in_torch_layout():
    rng = np.random.RandomState(4)
    lins = _stand_in_lins(WIDTHS, rng)
    torch_layout = {k: v.reshape(1, -1, 1, 1) for k, v in lins.items()}
    state = _stand_in_vgg(WIDTHS, rng)
    x, y = _images(rng, [1, 16, 16, 3]), _images(rng, [1, 16, 16, 3])
    np.testing.assert_array_equal(
        lpips.LPIPS.from_state_dicts(state, torch_layout)(x, y),
        lpips.LPIPS.from_state_dicts(state, lins)(x, y),
    )


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda state, lins: state.pop("features.12.bias"), "no `features.12.bias`"),
        (
            lambda state, lins: state.update(
                {"features.5.weight": np.zeros([6, 5, 3, 3])}
            ),
            r"features.5.weight` must be OIHW \[out, 4, 3, 3\]",
        ),
        (
            lambda state, lins: state.update(
                {"features.0.weight": np.zeros([4, 3, 1, 1])}
            ),
            r"must be OIHW \[out, 3, 3, 3\]",
        ),
        (
            lambda state, lins: state.update({"features.0.bias": np.zeros([5])}),
            r"features.0.bias` must have shape \[4\]",
        ),
        (
            lambda state, lins: lins.update({"lin2": np.zeros([7])}),
            r"lin2` must have shape \[8\]",
        ),
        (lambda state, lins: lins.pop("lin4"), "must hold lin0 ... lin4"),
    ],
)
def test_bad_weights_raise(change, match):
    rng = np.random.RandomState(5)
    state, lins = _stand_in_vgg(WIDTHS, rng), _stand_in_lins(WIDTHS, rng)
    change(state, lins)
    with pytest.raises(ValueError, match=match):
        lpips.LPIPS.from_state_dicts(state, lins)


def test_bad_images_raise():
    rng = np.random.RandomState(6)
    metric = lpips.LPIPS.from_state_dicts(
        _stand_in_vgg(WIDTHS, rng), _stand_in_lins(WIDTHS, rng)
    )
    good = _images(rng, [1, 16, 16, 3])
    with pytest.raises(ValueError, match=r"NHWC \[N, H, W, 3\]"):
        metric(good, _images(rng, [1, 16, 16, 4]))
    with pytest.raises(ValueError, match="at least 16x16"):
        metric(_images(rng, [1, 15, 16, 3]), _images(rng, [1, 15, 16, 3]))
    with pytest.raises(ValueError, match="same shape"):
        metric(good, _images(rng, [1, 16, 17, 3]))
    with pytest.raises(TypeError, match="float images"):
        metric(good, np.zeros([1, 16, 16, 3], np.uint8))


def test_lpips_from_files_reads_a_vgg16_file_in_torchs_layout(tmp_path):
    # A stand-in for torchvision's file (random weights, small widths) written
    # in torch's zip layout; the shipped heads cut to those widths.
    widths = (4, 6, 8, 8, 12)
    state = write_vgg16_stand_in(tmp_path / "vgg16.pth", widths=widths, seed=7)
    lins = {
        k: v[:w]
        for (k, v), w in zip(lpips.load_lin_weights().items(), widths, strict=True)
    }
    np.savez(tmp_path / "lins.npz", **lins)
    metric = lpips.lpips_from_files(tmp_path / "vgg16.pth", tmp_path / "lins.npz")
    np.testing.assert_array_equal(metric.lins[2].numpy(), lins["lin2"])
    rng = np.random.RandomState(7)
    x, y = _images(rng, [1, 16, 16, 3]), _images(rng, [1, 16, 16, 3])
    expected, _ = _oracle_stages(state, lins, x, y)
    np.testing.assert_allclose(metric(x, y), expected.sum(1), rtol=1e-4)
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pth: "):
        lpips.lpips_from_files(tmp_path / "bad.pth")


def test_shipped_lin_weights_equal_the_lpips_checkpoint():
    # tests/data/lpips_vgg_v0.1.pth is the lpips wheel's weights/v0.1/vgg.pth.
    from dnnlib.torch_checkpoint import load_state_dict

    state = load_state_dict(DATA / "lpips_vgg_v0.1.pth")
    assert list(state) == [f"lin{k}.model.1.weight" for k in range(5)]
    for k, weights in lpips.load_lin_weights().items():
        expected = state[f"{k}.model.1.weight"]
        assert expected.shape == (1, weights.size, 1, 1)
        np.testing.assert_array_equal(weights, expected.reshape(-1))
