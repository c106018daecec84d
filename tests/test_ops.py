"""Tests of ops.py: the gradients of nearest upscaling (the official custom
gradient, as a pooling) against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.ops import upscale2d


def np_block_sums(dy, factor):
    """[N, H*f, W*f, C] -> [N, H, W, C]: the sum of each f x f block."""
    n, h, w, c = dy.shape
    return dy.reshape(n, h // factor, factor, w // factor, factor, c).sum(axis=(2, 4))


def np_nearest(x, factor):
    return np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_gradient_sums_each_block(factor):
    rng = np.random.RandomState(factor)
    x = tf.constant(rng.randn(2, 3, 5, 4), tf.float32)
    dy = rng.randn(2, 3 * factor, 5 * factor, 4).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = upscale2d(x, factor)
    np.testing.assert_array_equal(y, np_nearest(x.numpy(), factor))
    grad = tape.gradient(y, x, output_gradients=tf.constant(dy))
    np.testing.assert_allclose(grad, np_block_sums(dy, factor), rtol=1e-6, atol=1e-6)


def test_upscale_second_order_gradient_is_upscaling():
    # g(w) = d/dx sum(upscale(x) * w) = block sums of w; d/dw sum(g * v) = upscale(v).
    rng = np.random.RandomState(0)
    x = tf.constant(rng.randn(2, 4, 4, 3), tf.float32)
    w = tf.Variable(rng.randn(2, 8, 8, 3).astype(np.float32))
    v = rng.randn(2, 4, 4, 3).astype(np.float32)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(upscale2d(x) * w)
        g = inner.gradient(y, x)
        z = tf.reduce_sum(g * v)
    np.testing.assert_allclose(outer.gradient(z, w), np_nearest(v, 2), atol=1e-6)


def test_upscale_gradient_keeps_bfloat16_and_dynamic_batch():
    # Integers are exact in bfloat16, so the sums are exact too.
    dy = np.arange(2 * 4 * 4 * 2).reshape(2, 4, 4, 2) % 7

    @tf.function(input_signature=[tf.TensorSpec([None, 2, 2, 2], tf.bfloat16)])
    def grad_of(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = upscale2d(x)
        return tape.gradient(y, x, output_gradients=tf.cast(dy, tf.bfloat16))

    grad = grad_of(tf.zeros([2, 2, 2, 2], tf.bfloat16))
    assert grad.dtype == tf.bfloat16
    np.testing.assert_array_equal(tf.cast(grad, tf.float32), np_block_sums(dy, 2))


def test_upscale_gradient_is_the_pooling_not_tiles_sum():
    @tf.function(input_signature=[tf.TensorSpec([2, 4, 4, 3])])
    def grad_of(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = upscale2d(x)
        return tape.gradient(y, x, output_gradients=tf.ones_like(y))

    types = {op.type for op in grad_of.get_concrete_function().graph.get_operations()}
    assert "AvgPool" in types and "Sum" not in types, sorted(types)
