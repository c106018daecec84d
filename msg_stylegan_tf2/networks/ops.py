"""The official networks' tensor operations as plain functions (NHWC):
activations, nearest upscaling, box downscaling, the blur kernel, the equalized
learning-rate coefficients and the feature-map widths `nf(stage)`."""

import math

import numpy as np
import tensorflow as tf

SQRT2 = math.sqrt(2.0)
LRELU_ALPHA = 0.2
ACTIVATIONS = ("linear", "lrelu", "relu")
NONLINEARITIES = ("lrelu", "relu")  # Of the networks' hidden layers.


def apply_activation(x, activation):
    """Applies "linear", "lrelu" (slope 0.2, as the official code) or "relu"."""
    if activation == "lrelu":
        # Equal to the official max(x, 0.2 x); one fused op with a one-op
        # gradient, which oneDNN can also fuse into the convolution before it.
        return tf.nn.leaky_relu(x, alpha=LRELU_ALPHA)
    if activation == "relu":
        return tf.nn.relu(x)
    return x


def upscale2d(x, factor=2):
    """Nearest-neighbour upscaling, with the official code's efficient gradient.

    The gradient of nearest upscaling sums each `factor` x `factor` block of dy.
    The official `upscale2d` has a custom gradient for it (a downscale with gain
    factor^2: a strided blur in float32). Here it is an average pool x factor^2
    (one oneDNN kernel), not TensorFlow's gradient of `tf.tile`, a strided `Sum`
    that took 5-10x as long (`bench/step_profile.py`). Its own gradient, the
    pooling's, is upscaling again, as in the official code.

    Args:
        x: `[N, H, W, C]`.
        factor: integer scale factor.

    Returns:
        `[N, H * factor, W * factor, C]`.
    """
    if factor == 1:
        return x

    @tf.custom_gradient
    def upscale(x):
        def grad(dy):
            size = [1, factor, factor, 1]
            pooled = tf.nn.avg_pool2d(dy, ksize=size, strides=size, padding="VALID")
            return pooled * tf.constant(factor * factor, dy.dtype)

        return _tile_upscale2d(x, factor), grad

    return upscale(x)


def _tile_upscale2d(x, factor):
    # Nearest upscaling by reshape, tile, reshape (the official `_upscale2d`).
    shape = tf.shape(x)
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    x = tf.reshape(x, [shape[0], h, 1, w, 1, c])
    x = tf.tile(x, [1, 1, factor, 1, factor, 1])
    return tf.reshape(x, [shape[0], h * factor, w * factor, c])


def downscale2d(x, factor=2):
    """Box-filter downscaling (average of each `factor` x `factor` block).

    Args:
        x: `[N, H, W, C]` with H and W divisible by `factor`.

    Returns:
        `[N, H / factor, W / factor, C]`.
    """
    if factor == 1:
        return x
    size = [1, factor, factor, 1]
    return tf.nn.avg_pool2d(x, ksize=size, strides=size, padding="VALID")


def blur_kernel(blur_filter, normalize=True):
    """Returns the 2-D float32 filter of the official `_blur2d` (outer product)."""
    f = np.asarray(blur_filter, dtype=np.float32)
    if f.ndim == 1:
        f = f[:, np.newaxis] * f[np.newaxis, :]
    if normalize:
        f = f / np.sum(f)
    return f


def blur2d(x, kernel):
    """Depthwise 'SAME' cross-correlation of every channel with a 2-D kernel.

    Args:
        x: `[N, H, W, C]`.
        kernel: numpy `[kh, kw]`.

    Returns:
        `[N, H, W, C]`.
    """
    channels = x.shape[-1]
    f = np.tile(kernel[:, :, np.newaxis, np.newaxis], [1, 1, channels, 1])
    f = tf.constant(f, dtype=x.dtype)
    return tf.nn.depthwise_conv2d(x, f, strides=[1, 1, 1, 1], padding="SAME")


def equalized_coefficients(fan_in, gain, use_wscale, lrmul):
    """Initial standard deviation and runtime multiplier of an equalized weight.

    he_std = gain / sqrt(fan_in). With `use_wscale` the weight starts as
    N(0, 1 / lrmul) and is multiplied by he_std * lrmul when used; without it
    the weight starts as N(0, he_std / lrmul) and is multiplied by lrmul.
    Both are Python floats so that float32 tensors stay float32.

    Returns:
        `(init_std, runtime_coef)`.
    """
    he_std = float(gain) / math.sqrt(float(fan_in))
    if use_wscale:
        return 1.0 / float(lrmul), he_std * float(lrmul)
    return he_std / float(lrmul), float(lrmul)


def feature_maps(fmap_base, fmap_decay, fmap_max):
    """Returns the official `nf(stage)`: min(fmap_base / 2^(stage * decay), max)."""

    def nf(stage):
        return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)

    return nf
