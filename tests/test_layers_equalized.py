"""Tests of the equalized learning-rate layers (EqualizedDense, EqualizedConv2D)
and their coefficients against numpy references written here (NHWC), which
follow the official TF1 ops of training/networks_stylegan.py."""

import math

import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import ATOL, np_correlate, np_down, np_up, rand

from msg_stylegan_tf2.networks.equalized import EqualizedConv2D, EqualizedDense
from msg_stylegan_tf2.networks.ops import equalized_coefficients


# Numpy references.
def np_activation(x, activation):
    slope = {"linear": 1.0, "lrelu": 0.2, "relu": 0.0}[activation]
    return np.maximum(x, slope * x)


def np_conv_transpose2x(x, w):
    """tf.nn.conv2d_transpose, stride 2, 'SAME', as a scatter-add; w `[k, k, F, C]`."""
    n, h, wd, _ = x.shape
    k = w.shape[0]
    top = max((h - 1) * 2 + k - 2 * h, 0) // 2
    full = np.zeros((n, 2 * h + k, 2 * wd + k, w.shape[2]))
    for i in range(h):
        for j in range(wd):
            full[:, 2 * i : 2 * i + k, 2 * j : 2 * j + k] += np.einsum(
                "nc,pqfc->npqf", x[:, i, j], w
            )
    return full[:, top : top + 2 * h, top : top + 2 * wd]


def np_shift_sum(w):
    w = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]


# equalized_coefficients and initialisation.
@pytest.mark.parametrize(
    "use_wscale, lrmul, expected",
    [(True, 1.0, (1.0, 0.5)), (True, 0.25, (4.0, 0.125))]
    + [(False, 1.0, (0.5, 1.0)), (False, 0.25, (2.0, 0.25))],
)
def test_equalized_coefficients(use_wscale, lrmul, expected):
    # he_std = 2 / sqrt(16) = 0.5.
    coefs = equalized_coefficients(np.int64(16), 2.0, use_wscale, lrmul)
    assert all(type(c) is float for c in coefs)
    np.testing.assert_allclose(coefs, expected, rtol=1e-12)


@pytest.mark.parametrize("use_wscale, lrmul", [(True, 0.5), (False, 1.0)])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_initial_weight_std(kind, use_wscale, lrmul):
    kw = dict(use_wscale=use_wscale, lrmul=lrmul)
    layer = (
        EqualizedDense(256, **kw) if kind == "dense" else EqualizedConv2D(64, 3, **kw)
    )
    shape = (2, 512) if kind == "dense" else (2, 4, 4, 64)
    out = layer(tf.ones(shape))
    fan_in = 512 if kind == "dense" else 9 * 64
    init_std = 1 / lrmul if use_wscale else math.sqrt(2 / fan_in) / lrmul
    np.testing.assert_allclose(np.std(layer.weight.numpy()), init_std, rtol=0.03)
    assert out.dtype == tf.float32 and layer.weight.dtype == "float32"


# EqualizedDense.
@pytest.mark.parametrize(
    "activation, use_wscale, lrmul, shape",
    [("linear", True, 1.0, (3, 5)), ("lrelu", True, 0.01, (3, 2, 2, 3))]
    + [("relu", False, 0.5, (3, 2, 2, 3))],
)
def test_equalized_dense(activation, use_wscale, lrmul, shape):
    layer = EqualizedDense(4, use_wscale=use_wscale, lrmul=lrmul, activation=activation)
    x = rand(*shape, seed=1)
    layer.build(shape)
    w, b = rand(x[0].size, 4, seed=2), rand(4, seed=3)
    layer.weight.assign(w)
    layer.bias.assign(b)
    coef = math.sqrt(2) / math.sqrt(x[0].size) * lrmul if use_wscale else lrmul
    expected = np_activation(x.reshape(3, -1) @ (w * coef) + b * lrmul, activation)
    np.testing.assert_allclose(layer(x), expected, atol=ATOL, rtol=1e-5)


# EqualizedConv2D.
def conv_reference(x, w, b, resample, fused, activation):
    if resample == "up" and fused:
        y = np_conv_transpose2x(x, np_shift_sum(w.transpose(0, 1, 3, 2)))
    elif resample == "down" and fused:
        y = np_correlate(x, np_shift_sum(w) * 0.25, stride=2)
    else:
        y = np_correlate(np_up(x) if resample == "up" else x, w)
        y = np_down(y) if resample == "down" else y
    return np_activation(y + b, activation)


def make_conv(k, resample, fused, x, seed=4, **kwargs):
    layer = EqualizedConv2D(2, k, resample=resample, fused_scale=fused, **kwargs)
    layer.build(x.shape)
    w, b = rand(k, k, x.shape[-1], 2, seed=seed), rand(2, seed=seed + 1)
    layer.weight.assign(w)
    layer.bias.assign(b)
    return layer, w, b


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize(
    "resample, fused, activation",
    [(None, False, "lrelu"), ("up", False, "relu"), ("up", True, "lrelu")]
    + [("down", False, "linear"), ("down", True, "lrelu")],
)
def test_equalized_conv2d(k, resample, fused, activation):
    x = rand(2, 4, 4, 3, seed=5)
    layer, w, b = make_conv(k, resample, fused, x, activation=activation, lrmul=0.5)
    coef = math.sqrt(2) / math.sqrt(k * k * 3) * 0.5
    expected = conv_reference(x, w * coef, b * 0.5, resample, fused, activation)
    assert layer.fused == fused
    np.testing.assert_allclose(layer(x), expected, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_fused_down_equals_unfused(k):
    # Exact everywhere, borders included (measured max difference 4.8e-7, rounding).
    x = rand(2, 6, 6, 3, seed=6)
    fused = make_conv(k, "down", True, x)[0](x)
    np.testing.assert_allclose(fused, make_conv(k, "down", False, x)[0](x), atol=ATOL)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_fused_up_equals_unfused_with_flipped_kernel(k):
    # The official fused transposed conv equals upscale-then-conv with the kernel
    # flipped spatially (everywhere, borders included; measured max 1e-6). With the
    # same kernel they differ, interior too (measured max 4.9 for k=3, 5.3 for k=5),
    # unless the kernel is symmetric (k=1 here).
    x = rand(2, 6, 6, 3, seed=7)
    fused, w, _ = make_conv(k, "up", True, x)
    unfused = make_conv(k, "up", False, x)[0]
    same_kernel_diff = np.abs(fused(x) - unfused(x)).max()
    assert same_kernel_diff < 1e-5 if k == 1 else same_kernel_diff > 0.5
    unfused.weight.assign(w[::-1, ::-1])
    np.testing.assert_allclose(fused(x), unfused(x), atol=ATOL)


@pytest.mark.parametrize(
    "resample, shape, fused",
    [("up", (None, 64, 64, 2), True), ("up", (None, 32, 32, 2), False)]
    + [("up", (None, 64, 32, 2), False), ("down", (None, 128, 128, 2), True)]
    + [("down", (None, 64, 64, 2), False), ("down", (None, 128, 64, 2), False)]
    + [(None, (None, 256, 256, 2), False)],
)
def test_fused_scale_auto(resample, shape, fused):
    layer = EqualizedConv2D(2, 3, resample=resample)
    layer.build(shape)
    assert layer.fused is fused
