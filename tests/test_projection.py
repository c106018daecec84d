"""projection.py: stylegan2-ada's projector schedule, noise regularisation and
Adam against numpy and hand values; a projection of G(w*) that recovers w*."""

import math

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.inference.projection import (
    Adam,
    LPIPSDistance,
    ProjectionOptions,
    Projector,
    PyramidDistance,
    learning_rate,
    noise_regularization,
    normalized,
    synthesize,
    w_noise_scale,
    w_statistics,
)
from msg_stylegan_tf2.networks.generator import Generator
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid

TINY_G = dict(
    resolution=16,
    fmap_base=64,
    fmap_max=32,
    latent_size=16,
    dlatent_size=16,
    mapping_fmaps=16,
)


def test_the_schedule_is_stylegan2_adas():
    options = ProjectionOptions()  # 1000 steps, lr 0.1, ramps 0.05 up, 0.25 down.
    # Hand values: t = step / 1000.
    assert learning_rate(0, options) == 0.0
    assert learning_rate(25, options) == pytest.approx(0.05)  # Half of the ramp-up.
    assert learning_rate(50, options) == pytest.approx(0.1)
    assert learning_rate(500, options) == pytest.approx(0.1)
    # t = 0.9: (1 - t) / 0.25 = 0.4, 0.5 - 0.5 cos(0.4 pi) = 0.3454915.
    assert learning_rate(900, options) == pytest.approx(0.1 * 0.3454915, rel=1e-6)
    # Noise on w: 0.05 w_std, to 0 over the first 75% of the steps, squared.
    assert w_noise_scale(0, 2.0, options) == pytest.approx(0.1)
    assert w_noise_scale(375, 2.0, options) == pytest.approx(0.1 * 0.25)
    assert w_noise_scale(750, 2.0, options) == 0.0
    assert w_noise_scale(999, 2.0, options) == 0.0


def numpy_noise_regularization(maps):
    # Per image: over each map and its 2x2-mean pyramid down to 8x8, the
    # squared means of the map times itself rolled by one pixel, both axes.
    total = np.zeros(len(maps[0]))
    for noise in maps:
        noise = noise[..., 0].astype(np.float64)
        while True:
            for axis in (1, 2):
                total += np.mean(noise * np.roll(noise, 1, axis=axis), axis=(1, 2)) ** 2
            if noise.shape[1] <= 8:
                break
            n, h, w = noise.shape
            noise = noise.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    return total


def test_noise_regularization_and_normalisation_equal_numpy():
    rng = np.random.RandomState(0)
    maps = [rng.randn(3, side, side, 1).astype(np.float32) for side in (4, 8, 32)]
    maps[2] += 0.5 * np.roll(maps[2], 1, axis=1)  # Correlated: a larger penalty.
    ours = noise_regularization([tf.constant(m) for m in maps]).numpy()
    np.testing.assert_allclose(ours, numpy_noise_regularization(maps), rtol=1e-4)
    unit = normalized(tf.constant(maps[2] * 3 + 1)).numpy()
    np.testing.assert_allclose(unit.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose((unit**2).mean(axis=(1, 2, 3)), 1, rtol=1e-5)


def test_adam_is_torchs_update():
    # torch.optim.Adam: eps added to sqrt(v) / sqrt(1 - beta2^t).
    rng = np.random.RandomState(1)
    start, grads = rng.randn(5), rng.randn(3, 5)
    variable = tf.Variable(start.astype(np.float32))
    adam = Adam([variable])
    p, m, v = start.copy(), np.zeros(5), np.zeros(5)
    for t, (g, lr) in enumerate(zip(grads, (0.0, 0.1, 0.05), strict=True), start=1):
        adam.apply([tf.constant(g, tf.float32)], tf.constant(lr, tf.float32))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        denominator = np.sqrt(v) / math.sqrt(1 - 0.999**t) + 1e-8
        p -= lr / (1 - 0.9**t) * m / denominator
    np.testing.assert_allclose(variable.numpy(), p, rtol=1e-5)


def test_distances_over_the_pyramid():
    rng = np.random.RandomState(2)
    a = downsample_pyramid(
        tf.constant(rng.uniform(-1, 1, [2, 16, 16, 3]), tf.float32), 3
    )
    b = downsample_pyramid(
        tf.constant(rng.uniform(-1, 1, [2, 16, 16, 3]), tf.float32), 3
    )
    per_level = [
        np.mean((x.numpy() - y.numpy()) ** 2, axis=(1, 2, 3))
        for x, y in zip(a, b, strict=True)
    ]
    top = PyramidDistance(0.0)(a, b).numpy()
    np.testing.assert_allclose(top, per_level[2], rtol=1e-5)
    weighted = PyramidDistance(0.5)(a, b).numpy()
    expected = per_level[2] + 0.5 * (per_level[0] + per_level[1])
    np.testing.assert_allclose(weighted, expected, rtol=1e-5)
    # LPIPS at the top (here a stand-in distance), pixel MSE below.
    lpips = LPIPSDistance(lambda x, y: tf.reduce_sum(x - y, axis=[1, 2, 3]), 1.0)
    sums = np.sum(a[2].numpy() - b[2].numpy(), axis=(1, 2, 3))
    np.testing.assert_allclose(
        lpips(a, b).numpy(), sums + per_level[0] + per_level[1], rtol=1e-4
    )


def tame_generator():
    """An untrained tiny G whose images stay inside [-1, 1]: its ToRGB weights
    scaled by 0.3 (an untrained G's images saturate, and a uint8 target of a
    saturated image is no longer one that G makes)."""
    G = Generator(**TINY_G)
    G.build()
    for torgb in G.synthesis.torgbs:
        for weight in torgb.weights:
            weight.assign(weight * 0.3)
    return G


def test_w_statistics_are_the_mean_and_rms_distance_of_mapped_latents():
    G = tame_generator()
    w_avg, w_std = w_statistics(G, 300, batch=128)
    z = np.random.RandomState(123).randn(300, 16).astype(np.float32)
    ws = G.mapping(tf.constant(z))[:, 0].numpy().astype(np.float64)
    np.testing.assert_allclose(w_avg[0, 0], ws.mean(axis=0), rtol=1e-5, atol=1e-7)
    rms = np.sqrt(np.sum((ws - ws.mean(axis=0)) ** 2) / 300)
    assert w_std == pytest.approx(rms, rel=1e-5)


def test_projecting_g_of_w_recovers_w():
    # An untrained MSG G's lower levels are images of their own, not the 2x2
    # means of its top that a target's pyramid holds (a trained G's are
    # close): the pixel distance here is the top level's alone.
    G = tame_generator()
    w_star = G.mapping(tf.constant(np.random.RandomState(5).randn(2, 16), tf.float32))
    target = synthesize(G, w_star.numpy())
    options = ProjectionOptions(num_steps=300, w_avg_samples=1000)
    projector = Projector(G, PyramidDistance(pyramid_weight=0.0), options)
    steps = list(projector.steps(target))
    assert [step for step, _, _ in steps] == list(range(300))
    result = projector.result
    assert result.w.shape == (2, G.num_layers, 16)
    assert [n.shape for n in result.noise] == [
        (2, *s[1:]) for s in G.synthesis.noise_shapes
    ]
    start = synthesize(G, np.repeat(np.repeat(projector.w_avg, 2, 0), G.num_layers, 1))
    end = synthesize(G, result.w, [tf.constant(n) for n in result.noise])
    np.testing.assert_array_equal(end, steps[-1][2])  # The last step's images.

    def mse(a, b):
        return np.mean((a.astype(np.float64) - b) ** 2, axis=(1, 2, 3))

    # Measured: from about 1,100 to under 0.1 (PSNR about 60 dB).
    assert np.all(mse(end, target) * 1000 < mse(start, target))
    psnr = 10 * np.log10(255**2 / np.maximum(mse(end, target), 1e-12))
    assert np.all(psnr > 40), psnr
