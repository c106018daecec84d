"""SWD against oracles written here, independent of the code under test."""

import numpy as np
import pytest
import scipy.ndimage
from metric_helpers import smooth_images, to_uint8

from metrics import swd as swd_lib

_BINOMIAL_2D = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


# ---------------------------------------------------------------------------
# SWD oracle: 2-D scipy convolutions, explicit loops, Python sorting.


def _ref_laplacian(images, num_levels):
    """Laplacian pyramid, full resolution first, one 2-D plane at a time."""

    def down(plane):
        return scipy.ndimage.convolve(plane, _BINOMIAL_2D, mode="mirror")[::2, ::2]

    def up(plane):
        stuffed = np.zeros((2 * plane.shape[0], 2 * plane.shape[1]))
        stuffed[::2, ::2] = plane
        return scipy.ndimage.convolve(stuffed, 4.0 * _BINOMIAL_2D, mode="mirror")

    n, _, _, c = images.shape
    levels = []
    for i in range(n):
        for ch in range(c):
            plane = images[i, :, :, ch].astype(np.float64)
            gauss = [plane]
            for _ in range(num_levels - 1):
                gauss.append(down(gauss[-1]))
            bands = [g - up(g2) for g, g2 in zip(gauss[:-1], gauss[1:], strict=True)]
            bands.append(gauss[-1])
            if not levels:
                levels = [np.zeros((n,) + b.shape + (c,)) for b in bands]
            for k, band in enumerate(bands):
                levels[k][i, :, :, ch] = band
    return levels


def _ref_descriptors(level, rng, nhoods):
    """Column draws, then row draws; each 7x7 patch laid out [C, column, row]."""
    n, h, w, c = level.shape
    count = n * nhoods
    cols = rng.randint(3, w - 3, size=count)
    rows = rng.randint(3, h - 3, size=count)
    desc = np.zeros((count, c * 49), np.float32)
    for j in range(count):
        patch = level[j // nhoods, rows[j] - 3 : rows[j] + 4, cols[j] - 3 : cols[j] + 4]
        desc[j] = np.transpose(patch, (2, 1, 0)).ravel()
    return desc


def _ref_normalize(desc, channels):
    out = desc.astype(np.float64).copy()
    size = desc.shape[1] // channels
    for ch in range(channels):
        block = out[:, ch * size : (ch + 1) * size]
        out[:, ch * size : (ch + 1) * size] = (block - block.mean()) / block.std()
    return out.astype(np.float32)


def _ref_directions(rng, dims, num_dirs):
    dirs = rng.randn(dims, num_dirs)
    return (dirs / np.linalg.norm(dirs, axis=0)).astype(np.float32)


def _ref_sliced_wasserstein(a, b, directions):
    per_repeat = []
    for dirs in directions:
        dists = []
        for k in range(dirs.shape[1]):
            pa = sorted((a @ dirs[:, k]).tolist())
            pb = sorted((b @ dirs[:, k]).tolist())
            dists.extend(abs(x - y) for x, y in zip(pa, pb, strict=True))
        per_repeat.append(np.mean(dists))
    return float(np.mean(per_repeat))


def _ref_swd(reals, fakes, seed, batch, nhoods, repeats, dirs_per_repeat):
    """The whole metric; grayscale is tiled to RGB as the official evaluation."""
    if reals.shape[3] == 1:
        reals, fakes = np.tile(reals, (1, 1, 1, 3)), np.tile(fakes, (1, 1, 1, 3))
    streams = [
        np.random.RandomState(np.random.MT19937(s))
        for s in np.random.SeedSequence(seed).spawn(3)
    ]
    resolution = reals.shape[1]
    num_levels = int(np.log2(resolution)) - 3
    descs = []
    for images, rng in ((reals, streams[0]), (fakes, streams[1])):
        per_level = [[] for _ in range(num_levels)]
        for start in range(0, images.shape[0], batch):
            pyramid = _ref_laplacian(images[start : start + batch], num_levels)
            for k, level in enumerate(pyramid):
                per_level[k].append(_ref_descriptors(level, rng, nhoods))
        descs.append([_ref_normalize(np.concatenate(d), 3) for d in per_level])
    out = {}
    for k in range(num_levels):
        dirs = [
            _ref_directions(streams[2], 147, dirs_per_repeat) for _ in range(repeats)
        ]
        out[f"swd_{resolution >> k}"] = 1e3 * _ref_sliced_wasserstein(
            descs[0][k], descs[1][k], dirs
        )
    out["swd_avg"] = np.mean(list(out.values()))
    return out


# ---------------------------------------------------------------------------
# SWD stages.


def test_swd_resolutions():
    assert swd_lib.swd_resolutions(16) == [16]
    assert swd_lib.swd_resolutions(32) == [32, 16]
    assert swd_lib.swd_resolutions(256) == [256, 128, 64, 32, 16]


def test_laplacian_pyramid_matches_2d_scipy_oracle():
    images = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    ours = swd_lib.laplacian_pyramid(images, 2)
    assert [lvl.shape for lvl in ours] == [(2, 16, 16, 3), (2, 32, 32, 3)]
    for got, want in zip(ours[::-1], _ref_laplacian(images, 2), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # Reconstruct the images from the bands.
    np.testing.assert_allclose(swd_lib.pyr_up(ours[0]) + ours[1], images, atol=1e-9)


def test_pyr_down_of_constant_is_constant():
    out = swd_lib.pyr_down(np.full((1, 16, 16, 1), 7.0))
    np.testing.assert_allclose(out, np.full((1, 8, 8, 1), 7.0), rtol=1e-12)


def test_descriptors_match_explicit_slicing():
    level = np.random.RandomState(1).randn(3, 16, 16, 3)
    got = swd_lib.sample_descriptors(level, 7, 5, np.random.RandomState(7))
    want = _ref_descriptors(level, np.random.RandomState(7), 5)
    assert got.shape == (15, 147) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_normalize_descriptors_per_channel():
    rng = np.random.RandomState(2)
    scale, shift = np.repeat([2.0, 0.1, 7.0], 49), np.repeat([5.0, -3.0, 0.5], 49)
    desc = (rng.randn(200, 147) * scale + shift).astype(np.float32)
    got = swd_lib.normalize_descriptors([desc[:50], desc[50:]], 3)
    np.testing.assert_allclose(got, _ref_normalize(desc, 3), atol=2e-5)
    # A constant channel is centred, not divided by zero.
    flat = swd_lib.normalize_descriptors(np.full((4, 49), 3.0, np.float32), 1)
    np.testing.assert_array_equal(flat, 0.0)


def test_directions_unit_and_grayscale_folding():
    rgb = swd_lib.random_directions(np.random.RandomState(3), 3, 7, 16)
    np.testing.assert_allclose(np.linalg.norm(rgb, axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        rgb, _ref_directions(np.random.RandomState(3), 147, 16), rtol=1e-7
    )
    gray = swd_lib.random_directions(np.random.RandomState(3), 1, 7, 16)
    desc = np.random.RandomState(4).randn(10, 49).astype(np.float32)
    np.testing.assert_allclose(desc @ gray, np.tile(desc, 3) @ rgb, atol=1e-5)


def test_sliced_wasserstein_matches_sorting_oracle():
    rng = np.random.RandomState(5)
    a = rng.randn(64, 20).astype(np.float32)
    b = (rng.randn(64, 20) * 1.5 + 0.3).astype(np.float32)
    dirs = [_ref_directions(rng, 20, 8) for _ in range(3)]
    got = swd_lib.sliced_wasserstein(a, b, dirs)
    np.testing.assert_allclose(got, _ref_sliced_wasserstein(a, b, dirs), rtol=1e-6)
    assert swd_lib.sliced_wasserstein(a, a, dirs) == 0.0


def test_same_positions_and_images_give_zero():
    images = smooth_images(np.random.RandomState(6), 4, 32)
    levels = swd_lib.laplacian_pyramid(images, 2)
    for level in levels:
        a = swd_lib.sample_descriptors(level, 7, 16, np.random.RandomState(0))
        b = swd_lib.sample_descriptors(level, 7, 16, np.random.RandomState(0))
        dirs = [swd_lib.random_directions(np.random.RandomState(1), 3, 7, 32)]
        assert swd_lib.sliced_wasserstein(
            swd_lib.normalize_descriptors(a, 3),
            swd_lib.normalize_descriptors(b, 3),
            dirs,
        ) == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------------------
# SWD end to end.


@pytest.mark.parametrize("channels", [3, 1])
def test_swd_matches_loop_reference(channels):
    rng = np.random.RandomState(8)
    reals = smooth_images(rng, 6, 32, channels)
    fakes = smooth_images(rng, 6, 32, channels, sigma=0.8)
    kwargs = dict(seed=11, nhoods_per_image=16, dir_repeats=2, dirs_per_repeat=16)
    got = swd_lib.sliced_wasserstein_distance(reals, fakes, batch_size=4, **kwargs)
    want = _ref_swd(reals, fakes, 11, 4, 16, 2, 16)
    assert list(got) == ["swd_32", "swd_16", "swd_avg"]
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-4), key
    assert got["swd_avg"] == pytest.approx((got["swd_32"] + got["swd_16"]) / 2)


def test_accumulator_streams_repeats_and_resets():
    rng = np.random.RandomState(9)
    reals, fakes = smooth_images(rng, 8, 32), smooth_images(rng, 8, 32, sigma=1.0)
    acc = swd_lib.SWDAccumulator(32, seed=3, nhoods_per_image=16)
    acc.add_fakes(fakes[:4])  # Order between the two sets does not matter.
    acc.add_reals(reals[:4])
    acc.add_reals(reals[4:])
    acc.add_fakes(fakes[4:])
    first = acc.result()
    assert acc.result() == first
    one_shot = swd_lib.sliced_wasserstein_distance(
        reals, fakes, seed=3, batch_size=4, nhoods_per_image=16
    )
    assert one_shot == first
    acc.reset_fakes()
    assert (acc.num_reals, acc.num_fakes) == (8, 0)
    acc.add_fakes(fakes[:4])
    acc.add_fakes(fakes[4:])
    assert acc.result() == first
    assert swd_lib.sliced_wasserstein_distance(reals, fakes, seed=4) != first


def test_grayscale_scores_as_tiled_rgb():
    rng = np.random.RandomState(10)
    reals = smooth_images(rng, 4, 16, 1)
    fakes = smooth_images(rng, 4, 16, 1, sigma=0.7)
    gray = swd_lib.sliced_wasserstein_distance(reals, fakes, seed=2)
    rgb = swd_lib.sliced_wasserstein_distance(
        np.tile(reals, (1, 1, 1, 3)), np.tile(fakes, (1, 1, 1, 3)), seed=2
    )
    for key in rgb:
        assert gray[key] == pytest.approx(rgb[key], rel=1e-4)


def test_identical_sets_tend_to_zero():
    # Real and generated patches are placed independently (as in the official
    # code), so identical sets score the estimator's sampling floor, which
    # shrinks like 1/sqrt(patches): 16x the patches, about a quarter the value.
    images = smooth_images(np.random.RandomState(11), 16, 32)
    few = swd_lib.sliced_wasserstein_distance(images, images, nhoods_per_image=32)
    many = swd_lib.sliced_wasserstein_distance(images, images, nhoods_per_image=512)
    assert many["swd_avg"] < 0.4 * few["swd_avg"]


@pytest.fixture(scope="module")
def smooth_reals():
    """Smooth 64x64 images and their SWD with themselves (the floor)."""
    reals = smooth_images(np.random.RandomState(12), 32, 64)
    return reals, swd_lib.sliced_wasserstein_distance(reals, reals, seed=0)


@pytest.mark.parametrize("perturbation", ["noise", "blur"])
def test_fine_perturbations_raise_fine_levels(perturbation, smooth_reals):
    reals, base = smooth_reals
    if perturbation == "noise":
        noise = np.random.RandomState(13).randn(*reals.shape)
        fakes = to_uint8(reals + noise * 20)
    else:
        fakes = to_uint8(scipy.ndimage.gaussian_filter(reals * 1.0, (0, 1, 1, 0)))
    got = swd_lib.sliced_wasserstein_distance(reals, fakes, seed=0)
    rise = {res: got[f"swd_{res}"] - base[f"swd_{res}"] for res in (64, 32, 16)}
    assert rise[64] > 5.0
    assert rise[64] > 2.0 * max(rise[32], rise[16])


@pytest.mark.parametrize(
    ("make_args", "match"),
    [
        (lambda r: (r[:, :8, :8], r[:, :8, :8]), "power of two >= 16"),
        (lambda r: (r[:, :24, :24], r[:, :24, :24]), "power of two >= 16"),
        (lambda r: (r[:, :, :16], r[:, :, :16]), r"shape \[N >= 1, 32, 32, 3\]"),
        (lambda r: (r.astype(np.float32), r), "uint8"),
        (lambda r: (r[0], r[0]), "uint8 numpy array"),
        (lambda r: (np.tile(r, 2)[..., :4], np.tile(r, 2)[..., :4]), "num_channels"),
        (lambda r: (r, r[:1]), "same shape"),
        (lambda r: (r[:0], r[:0]), "at least one"),
    ],
)
def test_swd_bad_inputs(make_args, match):
    reals = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=match):
        swd_lib.sliced_wasserstein_distance(*make_args(reals))


def test_swd_accumulator_bad_settings():
    with pytest.raises(ValueError, match="as many generated as real"):
        acc = swd_lib.SWDAccumulator(16)
        acc.add_reals(np.zeros((2, 16, 16, 3), np.uint8))
        acc.result()
    with pytest.raises(ValueError, match="`nhood_size` must be odd"):
        swd_lib.SWDAccumulator(16, nhood_size=6)
    with pytest.raises(ValueError, match="`dirs_per_repeat` must be >= 1"):
        swd_lib.SWDAccumulator(16, dirs_per_repeat=0)
    with pytest.raises(ValueError, match=r"shape \[N >= 1, 16, 16, 1\]"):
        swd_lib.SWDAccumulator(16, num_channels=1).add_fakes(
            np.zeros((2, 16, 16, 3), np.uint8)
        )
    with pytest.raises(ValueError, match="same number of images"):
        swd_lib.sliced_wasserstein(np.zeros((3, 4)), np.zeros((2, 4)), [])
