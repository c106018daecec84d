"""Tests of the layers (msg_stylegan_tf2/networks/layers.py says which file
holds which) and ops against numpy references (NHWC), which follow the official
TF1 ops of training/networks_stylegan.py; the equalized Dense and Conv2D layers
are in test_layers_equalized.py."""

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import ATOL, np_correlate, np_down, np_up, rand

from msg_stylegan_tf2.networks import layers
from msg_stylegan_tf2.networks.equalized import Bias, EqualizedConv2D, EqualizedDense
from msg_stylegan_tf2.networks.normalization import (
    InstanceNorm,
    MinibatchStdDev,
    PixelNorm,
)
from msg_stylegan_tf2.networks.ops import downscale2d, upscale2d
from msg_stylegan_tf2.networks.resample import Blur, Downscale2D, Upscale2D
from msg_stylegan_tf2.networks.style import NoiseInput, StyleMod, fold_in_seed


# Numpy references.
def np_depthwise(x, f):
    return np_correlate(x, f[:, :, None, None] * np.eye(x.shape[-1]))


def numeric_grad(f, x, eps):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


# Blur.
def test_blur_default_kernel_impulse_response():
    x = np.zeros((1, 5, 5, 2), np.float32)
    x[0, 2, 2] = 1
    expected = np.outer([1, 2, 1], [1, 2, 1]) / 16
    np.testing.assert_allclose(Blur()(x)[0, 1:4, 1:4, 1], expected, atol=1e-7)
    np.testing.assert_allclose(Blur()(x), np_depthwise(x, expected), atol=1e-7)


def test_blur_orientation_is_cross_correlation():
    # Cross-correlation maps an impulse to the filter rotated by 180 degrees.
    x = np.zeros((1, 4, 5, 1), np.float32)
    x[0, 2, 2] = 1
    out = Blur(((1, 2, 3), (4, 5, 6)), normalize=False)(x)[0, :, :, 0]
    expected = np.zeros((4, 5))
    expected[1:3, 1:4] = [[6, 5, 4], [3, 2, 1]]
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize(
    "blur_filter, normalize, kernel",
    [((1, 3), True, np.outer([1, 3], [1, 3]) / 16)]
    + [(((1, 2, 3), (4, 5, 6)), True, np.array([[1, 2, 3], [4, 5, 6]]) / 21)]
    + [((1, 2, 1), False, np.outer([1, 2, 1], [1, 2, 1]))],
)
def test_blur_reference(blur_filter, normalize, kernel):
    x = rand(2, 5, 4, 3, seed=8)
    out = Blur(blur_filter, normalize=normalize)(x)
    np.testing.assert_allclose(out, np_depthwise(x, kernel), atol=1e-5, rtol=1e-5)


# Resampling.
def test_upscale_downscale():
    x = np.array([[1, 2], [3, 4]], np.float32)[None, :, :, None]
    up = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_array_equal(upscale2d(x)[0, :, :, 0], up)
    np.testing.assert_array_equal(downscale2d(up[None, :, :, None] * 1.0), x)
    y = rand(2, 4, 6, 3, seed=9)
    np.testing.assert_allclose(Upscale2D()(y), np_up(y))
    np.testing.assert_allclose(Downscale2D()(y), np_down(y), atol=1e-6)
    spec = tf.TensorSpec([None, 4, 6, 3])
    dynamic = tf.function(
        lambda t: Downscale2D()(Upscale2D()(t)), input_signature=[spec]
    )
    np.testing.assert_allclose(dynamic(y), y, atol=1e-6)


# Normalisation.
def test_pixel_norm_unit_rms():
    out = PixelNorm(epsilon=0.0)(tf.constant([[3.0, 4.0]]))
    np.testing.assert_allclose(out, [[0.8485, 1.1314]], rtol=1e-4)
    out = PixelNorm(epsilon=1.0)(tf.constant([[3.0, 4.0]]))  # 1 / sqrt(12.5 + 1).
    np.testing.assert_allclose(out, [[0.8165, 1.0887]], rtol=1e-4)


def test_pixel_norm_default_epsilon():
    x = rand(2, 3, 3, 5, seed=10)
    expected = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, -1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(PixelNorm()(x), expected, rtol=1e-5)
    # With mean square 5e-9, epsilon 1e-8 dominates: 1e-4 / sqrt(1.5e-8).
    np.testing.assert_allclose(
        PixelNorm()(tf.constant([[1e-4, 0.0]])), [[0.8165, 0]], rtol=1e-4
    )


@pytest.mark.parametrize("epsilon", [None, 0.5])
def test_instance_norm(epsilon):
    x = rand(2, 3, 4, 5, seed=11) * 3 + 1
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    layer = InstanceNorm() if epsilon is None else InstanceNorm(epsilon)
    expected = (x - mean) / np.sqrt(var + (epsilon or 1e-8))
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_instance_norm_computes_float16_in_float32():
    # Squares of values ~1000 overflow float16 (max 65504); float32 does not.
    x = (rand(2, 4, 4, 3, seed=12) * 1000).astype(np.float16)
    out = InstanceNorm(dtype="float16")(x)
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean((1, 2), keepdims=True)) / x64.std((1, 2), keepdims=True)
    assert out.dtype == tf.float16
    np.testing.assert_allclose(out.numpy().astype(np.float64), expected, atol=1e-2)


# Bias, StyleMod, NoiseInput.
def test_bias():
    x, b = rand(2, 3, 3, 4, seed=13), rand(4, seed=14)
    layer = Bias(lrmul=0.1)
    layer.build(x.shape)
    layer.bias.assign(b)
    np.testing.assert_allclose(layer(x), x + 0.1 * b, atol=1e-6)


@pytest.mark.parametrize("use_wscale", [True, False])
def test_style_mod(use_wscale):
    x, dlatent = rand(2, 3, 3, 4, seed=15), rand(2, 6, seed=16)
    layer = StyleMod(use_wscale=use_wscale)
    layer(x, dlatent)
    w, b = rand(6, 8, seed=17), rand(8, seed=18)
    layer.dense.weight.assign(w)
    layer.dense.bias.assign(b)
    style = dlatent @ (w * (1 / math.sqrt(6) if use_wscale else 1.0)) + b
    scale, shift = style[:, None, None, :4], style[:, None, None, 4:]
    np.testing.assert_allclose(layer(x, dlatent), x * (1 + scale) + shift, atol=ATOL)


def test_noise_input_stored_noise():
    x = rand(2, 4, 4, 3, seed=19)
    layer = NoiseInput()
    np.testing.assert_array_equal(layer(x, randomize_noise=False), x)
    assert layer.noise.shape == (1, 4, 4, 1) and not layer.noise.trainable
    assert layer.weight.shape == (3,) and layer.weight.trainable
    weight = np.array([0.5, -1.0, 2.0], np.float32)
    layer.weight.assign(weight)
    expected = x + layer.noise.numpy() * weight
    np.testing.assert_allclose(layer(x, randomize_noise=False), expected, atol=1e-6)


def test_noise_input_randomized():
    x = np.zeros((4, 16, 16, 3), np.float32)
    layer = NoiseInput()
    layer.build(x.shape)
    layer.weight.assign([1.0, 2.0, -3.0])
    first, second = layer(x).numpy(), layer(x).numpy()
    noise = first[..., :1]
    np.testing.assert_allclose(
        first / [1.0, 2.0, -3.0], np.repeat(noise, 3, -1), rtol=1e-6
    )
    assert not np.allclose(first, second)
    assert not np.allclose(noise[0], noise[1])
    assert abs(noise.mean()) < 0.1 and abs(noise.std() - 1) < 0.1


def test_noise_input_seeded_per_image_ignores_the_batch():
    x = np.zeros((3, 8, 8, 2), np.float32)
    layer = NoiseInput()
    layer.build(x.shape)
    layer.weight.assign([1.0, 1.0])
    seeds = np.array([[5, 0], [5, 1], [6, 0]], np.int64)
    batched = layer(x, seed=seeds).numpy()
    for i in range(3):  # Image i's noise is the draw from row i alone.
        alone = tf.random.stateless_normal([1, 8, 8, 1], seeds[i]).numpy()
        np.testing.assert_array_equal(batched[i : i + 1], np.repeat(alone, 2, -1))
    assert not np.allclose(batched[0], batched[1])
    # fold_in_seed folds each row as stateless_fold_in folds one seed.
    folded = fold_in_seed(seeds, 7).numpy()
    for row, seed in zip(folded, seeds, strict=True):
        expected = tf.random.experimental.stateless_fold_in(seed, 7)
        np.testing.assert_array_equal(row, expected)


# MinibatchStdDev.
def np_mbstd(x, group_size, num_new_features):
    n, h, w, c = x.shape
    groups = min(group_size, n)
    m_count, per = n // groups, c // num_new_features
    extra = np.zeros((n, h, w, num_new_features))
    for m in range(m_count):
        members = x[m::m_count].astype(np.float64)  # Images m, m + M, m + 2M, ...
        std = np.sqrt(members.var(axis=0) + 1e-8)
        for j in range(num_new_features):
            extra[m::m_count, :, :, j] = std[..., j * per : (j + 1) * per].mean()
    return np.concatenate([x, extra], axis=-1)


@pytest.mark.parametrize(
    "n, group_size, num_new_features", [(8, 4, 1), (6, 2, 2), (2, 4, 1)]
)
def test_minibatch_stddev(n, group_size, num_new_features):
    x = (
        rand(n, 3, 3, 4, seed=20)
        * np.arange(1, n + 1, dtype=np.float32)[:, None, None, None]
    )
    layer = MinibatchStdDev(group_size, num_new_features)
    expected = np_mbstd(x, group_size, num_new_features)
    np.testing.assert_allclose(layer(x), expected, atol=ATOL, rtol=1e-5)
    spec = tf.TensorSpec([None, 3, 3, 4])
    dynamic = tf.function(MinibatchStdDev(group_size, num_new_features).__call__)
    out = dynamic.get_concrete_function(spec)(tf.constant(x))
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=1e-5)


def test_minibatch_stddev_static_batch_checks():
    with pytest.raises(ValueError, match=re.escape("minibatch (6)")):
        MinibatchStdDev(group_size=4).build((6, 4, 4, 2))
    with pytest.raises(ValueError, match=re.escape("(4, 4, 4, 3)")):
        MinibatchStdDev(num_new_features=2).build((4, 4, 4, 3))
    MinibatchStdDev(group_size=4).build((None, 4, 4, 2))


# Gradients (float64; MinibatchStdDev computes in float32 inside, as official).
GRADIENT_CASES = {
    "blur": lambda: Blur(dtype="float64"),
    "conv_up_fused": lambda: EqualizedConv2D(
        2, 3, resample="up", fused_scale=True, activation="lrelu", dtype="float64"
    ),
    "conv_down_fused": lambda: EqualizedConv2D(
        2, 3, resample="down", fused_scale=True, dtype="float64"
    ),
    "mbstd": lambda: MinibatchStdDev(2, dtype="float64"),
}


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_first_order_gradients(name):
    layer = GRADIENT_CASES[name]()
    eps, atol = (1e-3, 1e-3) if name == "mbstd" else (1e-6, 1e-7)
    x = rand(4 if name == "mbstd" else 1, 4, 4, 2, seed=24, dtype=np.float64) + 0.1
    r = rand(*layer(x).shape, seed=21, dtype=np.float64)

    def loss(value):
        return float(tf.reduce_sum(layer(value) * r))

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(layer(xt) * r)
    grads = tape.gradient(score, [xt, *layer.trainable_weights])
    np.testing.assert_allclose(grads[0], numeric_grad(loss, x, eps), atol=atol)
    for var, grad in zip(layer.trainable_weights, grads[1:], strict=True):
        value = var.numpy()

        def loss_of_var(v, var=var):
            var.assign(v)
            return loss(x)

        expected = numeric_grad(loss_of_var, value, eps)
        var.assign(value)
        np.testing.assert_allclose(grad, expected, atol=atol)


@pytest.mark.parametrize("name", ["blur", "conv_up_fused", "conv_down_fused"])
def test_second_order_gradients(name):
    # R1-style penalty |d score / dx|^2 and its gradient, checked numerically.
    layer = GRADIENT_CASES[name]()
    x = rand(1, 4, 4, 2, seed=22, dtype=np.float64) + 0.1
    r = rand(*layer(x).shape, seed=23, dtype=np.float64)

    def penalty(value):
        xt = tf.constant(value)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            score = tf.reduce_sum(tf.nn.softplus(layer(xt)) * r)
        return tf.reduce_sum(tf.square(tape.gradient(score, xt)))

    xt = tf.constant(x)
    with tf.GradientTape() as outer:
        outer.watch(xt)
        value = penalty(xt)
    grads = outer.gradient(value, [xt, *layer.trainable_weights])
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
    expected = numeric_grad(lambda v: float(penalty(v)), x, 1e-6)
    np.testing.assert_allclose(grads[0], expected, atol=1e-6)


# Configuration round trip.
IMAGE = [(2, 4, 4, 3)]
CONFIG_CASES = [
    (
        lambda: EqualizedDense(
            5, gain=1.0, use_wscale=False, lrmul=0.5, use_bias=False, activation="relu"
        ),
        IMAGE,
    ),
    (
        lambda: EqualizedConv2D(
            4, 3, resample="down", fused_scale=True, lrmul=0.5, activation="lrelu"
        ),
        IMAGE,
    ),
    (lambda: EqualizedConv2D(4, 1, resample="up"), IMAGE),
    (lambda: Bias(lrmul=0.1), IMAGE),
    (lambda: Blur(((1, 2), (3, 4)), normalize=False), IMAGE),
    (Upscale2D, IMAGE),
    (Downscale2D, IMAGE),
    (lambda: PixelNorm(epsilon=1e-4), IMAGE),
    (lambda: InstanceNorm(epsilon=1e-5), IMAGE),
    (lambda: StyleMod(use_wscale=False), [*IMAGE, (2, 6)]),
    (NoiseInput, IMAGE),
    (lambda: MinibatchStdDev(group_size=2, num_new_features=3), IMAGE),
]


@pytest.mark.parametrize("factory, shapes", CONFIG_CASES)
def test_get_config_round_trip(factory, shapes):
    layer = factory()
    inputs = [rand(*s, seed=30 + i) for i, s in enumerate(shapes)]
    kwargs = {"randomize_noise": False} if isinstance(layer, NoiseInput) else {}
    layer(*inputs, **kwargs)
    weights = [rand(*w.shape, seed=40 + i) for i, w in enumerate(layer.get_weights())]
    layer.set_weights(weights)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(*inputs, **kwargs)
    clone.set_weights(weights)
    np.testing.assert_allclose(clone(*inputs, **kwargs), layer(*inputs, **kwargs))


def test_every_layer_keeps_its_registered_name_and_loads_from_layers_py():
    # Saved models name each layer `msg_stylegan_tf2>Class`; those written
    # before the layers left layers.py also name that module.
    made = [factory() for factory, _ in CONFIG_CASES]
    exported = {getattr(layers, name) for name in layers.__all__}
    assert {type(layer) for layer in made} == {c for c in exported if type(c) is type}
    for layer in made:
        name = f"msg_stylegan_tf2>{type(layer).__name__}"
        assert keras.saving.get_registered_name(type(layer)) == name
        config = keras.saving.serialize_keras_object(layer)
        assert config["registered_name"] == name
        config["module"] = "msg_stylegan_tf2.networks.layers"
        loaded = keras.saving.deserialize_keras_object(config)
        assert type(loaded) is type(layer)
        assert loaded.get_config() == layer.get_config()


# Argument validation.
@pytest.mark.parametrize(
    "factory, received",
    [
        (lambda: EqualizedConv2D(4, 2), "2"),
        (lambda: EqualizedConv2D(0, 3), "0"),
        (lambda: EqualizedConv2D(4, 3, resample="sideways"), "'sideways'"),
        (lambda: EqualizedConv2D(4, 3, fused_scale="yes"), "'yes'"),
        (lambda: EqualizedConv2D(4, 3, activation="tanh"), "'tanh'"),
        (lambda: EqualizedDense(4, gain=0), "0"),
        (lambda: EqualizedDense(4, lrmul=-1), "-1"),
        (lambda: EqualizedDense(0), "0"),
        (lambda: Bias(lrmul=0), "0"),
        (lambda: MinibatchStdDev(group_size=0), "0"),
        (lambda: MinibatchStdDev(num_new_features=0), "0"),
        (lambda: Blur(blur_filter=()), "()"),
        (lambda: Blur(blur_filter=(1, -1)), "(1, -1)"),
        (lambda: PixelNorm(epsilon=-1), "-1"),
        (lambda: InstanceNorm(epsilon=-1), "-1"),
    ],
)
def test_invalid_arguments(factory, received):
    with pytest.raises(ValueError, match=re.escape(f"Received: {received}") + "$"):
        factory()
