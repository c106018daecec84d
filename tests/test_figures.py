"""Figures: samples, multi-scale sheets, interpolation, style mixing, truncation."""

import types

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.inference import figures
from msg_stylegan_tf2.networks.build import build_networks


def assert_images_equal(a, b):
    # Different batch sizes may round a pixel differently (oneDNN blocking).
    difference = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
    assert difference.max() <= 1 and difference.mean() < 0.05


@pytest.fixture(scope="module")
def G():
    G, _ = build_networks("tiny")
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape))
    return G


def test_samples_depend_only_on_the_seeds(G):
    a = figures.samples(G, [3, 4])
    b = figures.samples(G, [4])
    assert a.shape == (2, 16, 16, 3) and a.dtype == np.uint8
    assert_images_equal(a[1], b[0])


def test_multiscale_sheet_rows_hold_every_level(G):
    sheet = figures.multiscale_sheet(G, [0, 1])
    assert sheet.shape == (32, 3 * 16, 3)
    latents = figures.latents_for_seeds([0], 16)
    pyramid = G(latents, truncation_psi=1.0, randomize_noise=False)
    top = figures.to_uint8(np.asarray(pyramid[-1]))[0]
    assert_images_equal(sheet[:16, 32:], top)
    four = figures.to_uint8(np.asarray(pyramid[0]))[0]
    assert_images_equal(sheet[:16, :16][::4, ::4], four)


def test_interpolation_starts_at_each_seed_and_loops(G):
    frames = figures.interpolation_frames(G, [0, 1], steps=3)
    assert len(frames) == 6 and frames[0].shape == (16, 48, 3)
    sheet = figures.multiscale_sheet(G, [0, 1])
    assert_images_equal(frames[0], sheet[:16])
    assert_images_equal(frames[3], sheet[16:])


def test_style_mixing_takes_the_chosen_layers_from_the_columns(G):
    grid = figures.style_mixing(G, [0, 1], [5, 6, 7], mix_layers=range(G.num_layers))
    assert grid.shape == (3 * 16, 4 * 16, 3)
    # Mixing every layer reproduces the column image in every row.
    assert_images_equal(grid[16:32, 16:32], grid[:16, 16:32])
    assert_images_equal(grid[32:48, 48:64], grid[:16, 48:64])
    none = figures.style_mixing(G, [0], [5], mix_layers=[])
    assert_images_equal(none[16:32, 16:32], none[16:32, :16])


def test_truncation_sweep_columns(G):
    grid = figures.truncation_sweep(G, [0, 1], psis=(1.0, 0.0))
    assert grid.shape == (32, 32, 3)
    assert_images_equal(grid[:16, :16], figures.samples(G, [0])[0])
    # psi 0 maps every latent to the average: all rows equal.
    assert_images_equal(grid[:16, 16:], grid[16:, 16:])


def test_style_mixing_needs_styles():
    P, _ = build_networks("msg_progan_32", resolution=8, fmap_max=16, latent_size=8)
    with pytest.raises(ValueError, match="needs an MSG-StyleGAN generator"):
        figures.style_mixing(P, [0], [1], [0])


def test_every_figure_is_the_same_in_batches_as_one_at_a_time():
    G, _ = build_networks("tiny")
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape))
    # Noise weights on, so that noise drawn per batch would show.
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    seeds, cols = [0, 1, 2, 3, 4], [5, 6, 7]
    # Given w, some with noise maps of their own, some with the stored noise.
    maps = [random_maps(G, i) if i % 3 else None for i in range(5)]
    w = np.random.RandomState(0).randn(5, 6, 16).astype(np.float32)
    w = figures.Dlatents(w, maps)
    figures_of = {
        "samples": lambda **kw: figures.samples(G, seeds, 0.7, **kw),
        "sheet": lambda **kw: figures.multiscale_sheet(G, seeds, **kw),
        "interp": lambda **kw: np.stack(
            figures.interpolation_frames(G, seeds[:2], steps=3, **kw)
        ),
        "mixing": lambda **kw: figures.style_mixing(G, seeds, cols, [0, 1], 0.7, **kw),
        "truncation": lambda **kw: figures.truncation_sweep(G, seeds, (1.0, 0.5), **kw),
        "w_samples": lambda **kw: np.concatenate(
            list(figures.iter_w_samples(G, w, 0.7, **kw))
        ),
        "w_mixing": lambda **kw: figures.w_style_mixing(G, w[:3], w[3:], [0, 4], **kw),
    }
    images = {"samples": 5, "sheet": 5, "interp": 6, "mixing": 5 + 3 + 15}
    images.update(truncation=10, w_samples=5, w_mixing=3 + 2 + 6)
    for name, figure in figures_of.items():
        counts = []
        whole = figure(batch=64)
        assert_images_equal(figure(batch=2, progress=counts.append), whole)
        assert max(counts) <= 2 and sum(counts) == images[name], name
        assert_images_equal(figure(batch=1), whole)


def test_batch_must_be_a_positive_integer(G):
    with pytest.raises(ValueError, match="`batch` must be an integer >= 1.*0"):
        figures.samples(G, [0], batch=0)


# Conditional generators: labels reach G in every figure.
@pytest.fixture(scope="module")
def G3():
    G, _ = build_networks("tiny", label_size=3)
    return G


def one_hot(index, rows=1):
    return np.repeat(np.eye(3, dtype=np.float32)[[index]], rows, axis=0)


def direct(G, seeds, labels):
    """Top-level images of `G(latents, labels)` called directly, uint8."""
    latents = figures.latents_for_seeds(seeds, G.latent_size)
    pyramid = G(latents, labels, truncation_psi=1.0, randomize_noise=False)
    return figures.to_uint8(np.asarray(pyramid[-1]))


def test_a_class_reaches_the_generator_and_changes_the_images(G3):
    by_class = [
        figures.samples(G3, [0, 1], labels=figures.class_labels(c, 3)) for c in range(3)
    ]
    for c in range(3):
        assert_images_equal(by_class[c], direct(G3, [0, 1], one_hot(c, 2)))
    difference = np.abs(by_class[0].astype(float) - by_class[1].astype(float))
    assert difference.mean() > 5
    np.testing.assert_array_equal(figures.class_labels(1, 3), [[0, 1, 0]])


def test_every_figure_passes_the_labels(G3):
    label_rows = np.concatenate([one_hot(2), one_hot(0)])  # seed 0: 2, seed 1: 0
    seed0, seed1 = direct(G3, [0], one_hot(2))[0], direct(G3, [1], one_hot(0))[0]
    samples = figures.samples(G3, [0, 1], labels=label_rows)
    assert_images_equal(samples[0], seed0)
    assert_images_equal(samples[1], seed1)
    sheet = figures.multiscale_sheet(G3, [0, 1], labels=label_rows)
    assert_images_equal(sheet[:16, 32:], seed0)
    assert_images_equal(sheet[16:, 32:], seed1)
    sweep = figures.truncation_sweep(G3, [0, 1], psis=(1.0,), labels=label_rows)
    assert_images_equal(sweep[:16], seed0)
    assert_images_equal(sweep[16:], seed1)
    frames = figures.interpolation_frames(G3, [0, 1], steps=2, labels=label_rows)
    assert_images_equal(frames[0][:, 32:], seed0)
    assert_images_equal(frames[2][:, 32:], seed1)
    # Style mixing: the rows' labels, then the columns'.
    grid = figures.style_mixing(G3, [0], [1], mix_layers=[], labels=label_rows)
    assert_images_equal(grid[16:, :16], seed0)
    assert_images_equal(grid[:16, 16:], seed1)


def test_conditional_progan_takes_labels():
    P, _ = build_networks("tiny_progan", label_size=3)
    images = [figures.samples(P, [0], labels=one_hot(c)) for c in (0, 1)]
    assert_images_equal(images[0], direct(P, [0], one_hot(0)))
    assert np.abs(images[0].astype(float) - images[1].astype(float)).mean() > 1


def test_labels_are_checked(G, G3):
    with pytest.raises(ValueError, match="conditional .label_size 3. and needs labels"):
        figures.samples(G3, [0])
    with pytest.raises(ValueError, match="unconditional"):
        figures.samples(G, [0], labels=one_hot(0))
    with pytest.raises(ValueError, match="unconditional"):
        figures.class_labels(0, 0)
    with pytest.raises(ValueError, match="class 3 is out of range.*classes 0-2"):
        figures.class_labels(3, 3)
    with pytest.raises(ValueError, match=r"shape \[1, 3\] or \[3, 3\].*\[2, 3\]"):
        figures.check_labels(np.zeros([2, 3]), 3, 3)
    with pytest.raises(ValueError, match="finite. Received: NaN"):
        figures.check_labels(np.full([1, 3], np.nan), 3, 3)
    with pytest.raises(ValueError, match="numbers. Received dtype: <U1"):
        figures.check_labels(np.full([1, 3], "a"), 3, 3)
    assert figures.label_size(G) == 0 and figures.label_size(G3) == 3
    assert figures.label_size(types.SimpleNamespace(label_size=4)) == 4


# Figures from w (Dlatents): projected images, stylegan2-ada's files.
@pytest.fixture(scope="module")
def noisy_G():
    """A tiny G whose noise inputs count (weights 1), W average not zero,
    truncation on the first 2 of its 6 layers."""
    G, _ = build_networks("tiny", truncation_cutoff=2)
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape, seed=5))
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    return G


def random_maps(G, seed):
    """One image's noise maps, `[1, r, r, 1]` per layer."""
    rng = np.random.RandomState(seed)
    return tuple(
        rng.randn(*shape).astype(np.float32) for shape in G.synthesis.noise_shapes
    )


def synthesized(G, w, maps=None):
    """uint8 top image of G.synthesis at one w `[num_layers, dlatent_size]`."""
    images = G.synthesis(w[np.newaxis], randomize_noise=False, noise=maps)
    return figures.to_uint8(np.asarray(images[-1]))[0]


def test_truncate_w_moves_the_cutoff_layers_towards_the_average(noisy_G):
    w = np.random.RandomState(0).randn(2, 6, 16).astype(np.float32)
    avg = noisy_G.dlatent_avg.numpy()
    expected = w.copy()
    expected[:, :2] = avg + (w[:, :2] - avg) * 0.3  # Cutoff 2: layers 0 and 1.
    np.testing.assert_allclose(figures.truncate_w(noisy_G, w, 0.3), expected, atol=1e-6)
    assert figures.truncate_w(noisy_G, w, None) is w
    assert figures.truncate_w(noisy_G, w, 1.0) is w
    G, _ = build_networks("tiny", truncation_cutoff=None)
    assert figures.truncate_w(G, w, 0.3) is w  # As G's call: no cutoff, none.


def test_w_figures_of_mapped_seeds_equal_the_seed_figures(noisy_G):
    G, seeds = noisy_G, [0, 1, 2]
    w = figures.seed_dlatents(G, seeds, batch=2)
    assert w.w.shape == (3, 6, 16) and w.noise == (None,) * 3
    w_samples = np.concatenate(list(figures.iter_w_samples(G, w, 0.5)))
    assert_images_equal(w_samples, figures.samples(G, seeds, 0.5))
    assert_images_equal(
        figures.w_multiscale_sheet(G, w, 0.7), figures.multiscale_sheet(G, seeds, 0.7)
    )
    assert_images_equal(
        figures.w_truncation_sweep(G, w, (1.0, 0.0)),
        figures.truncation_sweep(G, seeds, (1.0, 0.0)),
    )


def test_each_w_image_has_its_own_noise_maps(noisy_G):
    G = noisy_G
    w = np.random.RandomState(1).randn(3, 6, 16).astype(np.float32)
    maps = [random_maps(G, 7), None, random_maps(G, 8)]  # None: stored noise.
    images = np.concatenate(
        list(figures.iter_w_samples(G, figures.Dlatents(w, maps), batch=2))
    )
    for i in range(3):
        assert_images_equal(images[i], synthesized(G, w[i], maps[i]))
    # The noise maps show: other maps give other images.
    assert np.abs(images[0].astype(float) - synthesized(G, w[0])).mean() > 5


def test_w_interpolation_is_linear_in_w_with_the_stored_noise(noisy_G):
    G = noisy_G
    w = np.random.RandomState(2).randn(2, 6, 16).astype(np.float32)
    dlatents = figures.Dlatents(w, [random_maps(G, 1), random_maps(G, 2)])
    frames = list(figures.iter_w_interpolation_frames(G, dlatents, steps=2, batch=3))
    assert len(frames) == 4 and frames[0].shape == (16, 48, 3)
    # Frames: w0, halfway, w1, halfway back.
    assert_images_equal(frames[0][:, 32:], synthesized(G, w[0]))
    assert_images_equal(frames[1][:, 32:], synthesized(G, (w[0] + w[1]) / 2))
    assert_images_equal(frames[2][:, 32:], synthesized(G, w[1]))
    assert_images_equal(frames[3], frames[1])


def test_w_style_mixing_takes_styles_and_noise_of_the_mixed_layers(noisy_G):
    G = noisy_G
    rng = np.random.RandomState(3)
    rows = figures.Dlatents(rng.randn(2, 6, 16).astype(np.float32))
    rows = figures.Dlatents(rows.w, [random_maps(G, 4), None])
    cols = figures.Dlatents(rng.randn(1, 6, 16).astype(np.float32), [random_maps(G, 5)])
    grid = figures.w_style_mixing(G, rows, cols, [0, 1, 4], batch=2)
    assert grid.shape == (3 * 16, 2 * 16, 3)
    # The sources with their own noise.
    assert_images_equal(grid[:16, 16:], synthesized(G, cols.w[0], cols.noise[0]))
    assert_images_equal(grid[16:32, :16], synthesized(G, rows.w[0], rows.noise[0]))
    assert_images_equal(grid[32:, :16], synthesized(G, rows.w[1]))
    # Each cell by hand: layers 0, 1 and 4 (w and noise map) from the column.
    stored = [np.asarray(e.noise.noise) for e in G.synthesis.epilogues]
    for r, row_maps in enumerate([rows.noise[0], stored]):
        w = rows.w[r].copy()
        w[[0, 1, 4]] = cols.w[0][[0, 1, 4]]
        maps = [cols.noise[0][i] if i in (0, 1, 4) else row_maps[i] for i in range(6)]
        cell = grid[16 * (r + 1) : 16 * (r + 2), 16:]
        assert_images_equal(cell, synthesized(G, w, maps))
    # Every layer from the column is the column's image; none, the row's.
    every = figures.w_style_mixing(G, rows, cols, range(6))
    assert_images_equal(every[16:32, 16:], every[:16, 16:])
    none = figures.w_style_mixing(G, rows, cols, [])
    assert_images_equal(none[16:32, 16:], none[16:32, :16])


def test_mix_layers_must_be_the_generators(G):
    with pytest.raises(ValueError, match=r"within 0-5 .*has 6.*Received: \[6, 9\]"):
        figures.style_mixing(G, [0], [1], [1, 6, 9])


def test_w_figures_need_a_w_space():
    P, _ = build_networks("msg_progan_32", resolution=8, fmap_max=16, latent_size=8)
    w = figures.Dlatents(np.zeros([1, 4, 8], np.float32))
    with pytest.raises(ValueError, match="needs an MSG-StyleGAN generator"):
        list(figures.iter_w_samples(P, w))
    with pytest.raises(ValueError, match="needs an MSG-StyleGAN generator"):
        figures.w_multiscale_sheet(P, w)
