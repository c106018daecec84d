"""Blocks: output shapes, config round trips and the combine functions' widths.
Their numbers are checked through the networks against the official code
(test_official_fidelity.py, test_progan.py, test_progan_fade.py)."""

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.blocks import Combine, DBlock, GBlock, LayerEpilogue

STYLE = {"use_noise": True, "use_instance_norm": True, "use_styles": True}


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# (factory, call inputs, expected output shapes).
CASES = [
    (lambda: LayerEpilogue(**STYLE), [(2, 4, 4, 8), (2, 6)], [(2, 4, 4, 8)]),
    (lambda: GBlock(2, 8, 3, STYLE), [(2, 6), (2, 2, 6)], [(2, 4, 4, 8), (2, 4, 4, 3)]),
    (
        lambda: GBlock(3, 4, 1, STYLE, blur_filter=None, fused_scale=True),
        [(2, 4, 4, 8), (2, 2, 6)],
        [(2, 8, 8, 4), (2, 8, 8, 1)],
    ),
    (
        lambda: GBlock(2, 8, 3, {"use_pixel_norm": True}, False, progan=True),
        [(2, 5)],
        [(2, 4, 4, 8), (2, 4, 4, 3)],
    ),
    (lambda: Combine("simple", 8), [(2, 8, 8, 8), (2, 8, 8, 3)], [(2, 8, 8, 11)]),
    (lambda: Combine("lin_cat", 8), [(2, 8, 8, 8), (2, 8, 8, 3)], [(2, 8, 8, 12)]),
    (lambda: Combine("cat_lin", 8), [(2, 8, 8, 8), (2, 8, 8, 3)], [(2, 8, 8, 8)]),
    (
        lambda: DBlock(3, 8, 16, combine="cat_lin", mbstd_group_size=2),
        [(2, 8, 8, 8), (2, 8, 8, 3)],
        [(2, 4, 4, 16)],
    ),
    (
        lambda: DBlock(3, 8, 16, fromrgb=True, fused_scale=False, progan=True),
        [(2, 8, 8, 8), (2, 8, 8, 3)],
        [(2, 4, 4, 16)],
    ),
    (
        lambda: DBlock(2, 8, 16, combine="lin_cat", units=3, blur_filter=None),
        [(2, 4, 4, 8), (2, 4, 4, 3)],
        [(2, 3)],
    ),
]


@pytest.mark.parametrize("factory, shapes, expected", CASES)
def test_block_shapes_and_config_round_trip(factory, shapes, expected):
    block = factory()
    inputs = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    noisy = isinstance(block, (LayerEpilogue, GBlock))
    kwargs = {"randomize_noise": False} if noisy else {}
    outputs = tf.nest.flatten(block(*inputs, **kwargs))
    assert [tuple(x.shape) for x in outputs] == expected
    weights = [rand(*w.shape, seed=9 + i) for i, w in enumerate(block.get_weights())]
    block.set_weights(weights)
    config = block.get_config()
    clone = type(block).from_config(config)
    assert clone.get_config() == config
    clone(*inputs, **kwargs)
    clone.set_weights(weights)
    for ours, theirs in zip(
        tf.nest.flatten(clone(*inputs, **kwargs)),
        tf.nest.flatten(block(*inputs, **kwargs)),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_dblock_starts_from_fromrgb_without_an_activation():
    block = DBlock(3, 8, 16, fromrgb=True, mbstd_group_size=0)
    block.build((None, 8, 8, 8), (None, 8, 8, 3))
    image = rand(2, 8, 8, 3)
    np.testing.assert_allclose(block(None, image), block(block.fromrgb(image)))


def test_combine_rejects_an_unknown_function():
    with pytest.raises(ValueError, match="Received: 'sum'"):
        Combine("sum", 8)
