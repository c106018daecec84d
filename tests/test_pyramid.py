"""Image pyramids: 2x2 means of the level above, in [-1, 1]."""

import numpy as np
import tensorflow as tf

from msg_stylegan_tf2.networks.pyramid import (
    downsample_pyramid,
    float_to_uint8,
    uint8_to_float,
)


def test_pyramid_levels_are_2x2_means_in_minus_one_one():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [10, 16, 16, 3]).astype(np.uint8)
    pyramid = downsample_pyramid(uint8_to_float(tf.constant(images)), num_levels=3)
    assert [tuple(x.shape) for x in pyramid] == [
        (10, 4, 4, 3),
        (10, 8, 8, 3),
        (10, 16, 16, 3),
    ]
    top = images.astype(np.float64) * (2 / 255) - 1
    np.testing.assert_allclose(pyramid[-1], top, atol=1e-6)
    for lower, upper in zip(pyramid[:-1], pyramid[1:], strict=True):
        n, side = upper.shape[0], upper.shape[1] // 2
        box = upper.numpy().reshape(n, side, 2, side, 2, 3).mean(axis=(2, 4))
        np.testing.assert_allclose(lower, box, atol=1e-6)


def test_uint8_round_trip():
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    back = float_to_uint8(uint8_to_float(tf.constant(images)))
    np.testing.assert_array_equal(back, images)
    edges = float_to_uint8(tf.constant([-2.0, -1.0, 0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(edges, [0, 0, 128, 255, 255])
