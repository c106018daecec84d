"""Pyramid-consistent DiffAugment and ADA's p (msg_stylegan_tf2/training/augment.py)."""

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.build import build_networks
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid
from msg_stylegan_tf2.training.augment import (
    OPERATIONS,
    AdaptiveProbability,
    augment_pyramid,
    cutout_offsets,
    draw,
    translation_pixels,
)


def smooth_images(n, side, seed=0):
    # Low-frequency colour images in [-1, 1], as photos are at small scales.
    rng = np.random.RandomState(seed)
    y, x = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    images = np.zeros([n, side, side, 3], np.float32)
    for i in range(n):
        for c in range(3):
            fy, fx, phase = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), rng.rand()
            wave = np.sin(2 * np.pi * (fy * y + fx * x) / side + 6.28 * phase)
            images[i, :, :, c] = 0.8 * wave
    return images


def params_for(n, **values):
    # A draw with chosen uniforms; every operation applied unless said.
    params = {f"apply_{op}": np.ones(n, np.float32) for op in OPERATIONS}
    defaults = dict(
        brightness=0.5,
        saturation=0.5,
        contrast=0.5,
        translate_y=0.5,
        translate_x=0.5,
        cutout_y=0.0,
        cutout_x=0.0,
    )
    params.update({k: np.full(n, v, np.float32) for k, v in defaults.items()})
    params.update({k: np.asarray(v, np.float32) for k, v in values.items()})
    return {k: tf.constant(v) for k, v in params.items()}


def diffaugment_reference(image, b, s, c, ty, tx, cy, cx, cutout=True):
    # DiffAugment's operations on one [H, W, C] image with explicit
    # magnitudes, integer shifts and cutout centre (Zhao et al. 2020).
    x = image + b
    mean = x.mean(axis=2, keepdims=True)
    x = (x - mean) * s + mean
    mean = x.mean()
    x = (x - mean) * c + mean
    side = x.shape[0]
    out = np.zeros_like(x)
    for i in range(side):
        for j in range(side):
            if 0 <= i + ty < side and 0 <= j + tx < side:
                out[i, j] = x[i + ty, j + tx]
    if cutout:
        half = side // 4
        out[max(cy - half, 0) : cy + half, max(cx - half, 0) : cx + half] = 0
    return out


def test_the_top_level_is_diffaugment():
    images = smooth_images(3, 32)
    # Uniforms chosen to give shifts (+4, -3), (0, 2), (-4, 4) and centres
    # (16, 8), (0, 32), (29, 3) at side 32 (reach 4: shift = floor(u*9) - 4).
    uniforms = dict(
        brightness=[0.1, 0.9, 0.5],
        saturation=[0.2, 0.7, 0.99],
        contrast=[0.0, 0.6, 0.3],
        translate_y=[8.5 / 9, 4.5 / 9, 0.5 / 9],
        translate_x=[1.5 / 9, 6.5 / 9, 8.5 / 9],
        cutout_y=[16.5 / 33, 0.5 / 33, 29.5 / 33],
        cutout_x=[8.5 / 33, 32.5 / 33, 3.5 / 33],
    )
    params = params_for(3, **uniforms)
    dy, dx = (t.numpy() for t in translation_pixels(params, 32))
    np.testing.assert_array_equal(dy, [4, 0, -4])
    np.testing.assert_array_equal(dx, [-3, 2, 4])
    cy, cx = (t.numpy() for t in cutout_offsets(params, 32))
    np.testing.assert_array_equal(cy, [16, 0, 29])
    np.testing.assert_array_equal(cx, [8, 32, 3])
    top = augment_pyramid([tf.constant(images)], params)[0].numpy()
    for i in range(3):
        expected = diffaugment_reference(
            images[i],
            uniforms["brightness"][i] - 0.5,
            uniforms["saturation"][i] * 2,
            uniforms["contrast"][i] + 0.5,
            int(dy[i]),
            int(dx[i]),
            int(cy[i]),
            int(cx[i]),
        )
        np.testing.assert_allclose(top[i], expected, atol=1e-5)


def pooled(level):
    return tf.nn.avg_pool2d(level, 2, 2, "VALID").numpy()


def test_levels_agree_exactly_where_shifts_and_cutouts_fall_on_whole_pixels():
    # Side 32 with levels 8, 16, 32: shifts of +-4 and centres that are
    # multiples of 4 fall on whole pixels of every level.
    images = smooth_images(2, 32, seed=1)
    levels = downsample_pyramid(tf.constant(images), 3)
    params = params_for(
        2,
        brightness=[0.8, 0.3],
        saturation=[0.1, 0.9],
        contrast=[0.9, 0.2],
        translate_y=[8.5 / 9, 0.5 / 9],
        translate_x=[0.5 / 9, 4.5 / 9],
        cutout_y=[12.5 / 33, 24.5 / 33],
        cutout_x=[20.5 / 33, 4.5 / 33],
    )
    augmented = augment_pyramid(levels, params)
    for low, high in zip(augmented[:-1], augmented[1:], strict=True):
        np.testing.assert_allclose(pooled(high), low.numpy(), atol=2e-6)
    # And the draw changed the images.
    assert np.abs(augmented[-1].numpy() - images).mean() > 0.1


def test_random_draws_agree_up_to_resampling():
    # With any draw, a level differs from the pooled level above only by
    # resampling (fractional shifts, partly covered pixels): far less than
    # the augmentation changes it, and far less than two independent draws
    # differ (what levels augmented independently would give). The share
    # grows toward 4x4, where the top level's shift of at most 4 of 32
    # pixels is half a pixel.
    images = smooth_images(64, 32, seed=2)
    levels = downsample_pyramid(tf.constant(images), 4)
    params = draw(tf.constant([5, 6], tf.int64), 64)
    other = draw(tf.constant([7, 8], tf.int64), 64)
    augmented = augment_pyramid(levels, params)
    independent = augment_pyramid(levels, other)
    bound = {4: 0.4, 8: 0.12, 16: 0.04}  # Measured: 0.32, 0.09, 0.026.
    for i in range(1, 4):
        low = augmented[i - 1].numpy()
        disagreement = np.abs(pooled(augmented[i]) - low).mean()
        change = np.abs(low - levels[i - 1].numpy()).mean()
        unrelated = np.abs(independent[i - 1].numpy() - low).mean()
        share = bound[low.shape[1]]
        assert disagreement < share * change, (i, disagreement, change)
        assert disagreement < share * unrelated, (i, disagreement, unrelated)


def test_p_gates_each_operation():
    seed = tf.constant([1, 2], tf.int64)
    assert all(
        float(tf.reduce_sum(v)) == 0
        for k, v in draw(seed, 100, 0.0).items()
        if k.startswith("apply_")
    )
    images = tf.constant(smooth_images(4, 16))
    levels = downsample_pyramid(images, 3)
    unchanged = augment_pyramid(levels, draw(seed, 4, 0.0))
    for a, b in zip(levels, unchanged, strict=True):  # Identity arithmetic.
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    params = draw(seed, 20000, 0.3)
    for op in OPERATIONS:
        rate = float(tf.reduce_mean(params[f"apply_{op}"]))
        assert abs(rate - 0.3) < 0.02, (op, rate)
    assert float(tf.reduce_min(draw(seed, 1000, 1.0)["apply_cutout"])) == 1.0


def test_gradients_reach_g_through_the_augmentation():
    G, D = build_networks("tiny", use_noise=False, mbstd_group_size=0)
    latents = tf.random.normal([4, G.latent_size], seed=1)
    params = draw(tf.constant([0, 9], tf.int64), 4)
    with tf.GradientTape() as tape:
        fakes = G(latents, training=True)
        scores = D(augment_pyramid(fakes, params))
        loss = tf.reduce_sum(tf.nn.softplus(-scores))
    grads = tape.gradient(loss, G.trainable_weights)
    assert all(g is not None for g in grads)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    # Every weight of G, the ToRGB of each level included, gets a gradient.
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_p_rises_when_real_scores_are_all_positive_and_falls_when_mixed():
    ada = AdaptiveProbability(ada_target=0.6, ada_interval=4, ada_kimg=1.0)
    for _ in range(3):  # 8 reals of 8 scored positive, three steps: not yet.
        ada.accumulate(8.0, 8)
    assert float(ada.p) == 0.0
    rt = ada.accumulate(8.0, 8)
    assert float(rt) == 1.0
    assert float(ada.p) == pytest.approx(32 / 1000)  # 32 images of 1 kimg.
    ada.p.assign(0.5)
    for _ in range(4):  # Half positive: r_t = 0 < 0.6.
        ada.accumulate(0.0, 8)
    assert float(ada.p) == pytest.approx(0.5 - 32 / 1000)
    # p stays in [0, 1].
    ada.p.assign(0.999)
    for _ in range(4):
        ada.accumulate(8.0, 8)
    assert float(ada.p) == 1.0
    ada.p.assign(0.001)
    for _ in range(4):
        ada.accumulate(-8.0, 8)
    assert float(ada.p) == 0.0


def test_p_holds_when_r_t_equals_the_target():
    ada = AdaptiveProbability(ada_target=0.5, ada_interval=2, ada_kimg=1.0)
    ada.p.assign(0.25)
    ada.accumulate(4.0, 8)
    ada.accumulate(4.0, 8)  # r_t = 8 / 16 = 0.5 exactly.
    assert float(ada.p) == 0.25
    assert int(ada.steps) == 0 and float(ada.images) == 0.0
