"""Image pyramids: the list of images, 4x4 first, that MSG networks exchange."""

import tensorflow as tf


def downsample_pyramid(images, num_levels):
    """Builds a pyramid by repeated 2x2 average pooling (official `process_reals`).

    Args:
        images: float `[N, R, R, C]`, R = 4 * 2**(num_levels - 1).
        num_levels: number of levels.

    Returns:
        List of `[N, r, r, C]`, r = 4, 8, ..., R; level i is the 2x2 mean of
        level i + 1, so gradients flow from every level to `images`.
    """
    levels = [images]
    for _ in range(num_levels - 1):
        images = tf.nn.avg_pool2d(images, ksize=2, strides=2, padding="VALID")
        levels.append(images)
    return levels[::-1]


def uint8_to_float(images):
    """Maps uint8 `[0, 255]` to float32 `[-1, 1]` (official drange adjustment)."""
    return tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0


def float_to_uint8(images):
    """Maps float `[-1, 1]` to uint8 `[0, 255]`, rounding and clipping."""
    images = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)
