"""SWD and MS-SSIM against oracles written here, independent of the code under test."""

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from metrics import ms_ssim as msssim_lib
from metrics import swd as swd_lib

_BINOMIAL_2D = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _smooth_images(rng, n, resolution, channels=3, sigma=1.5):
    """Smooth random uint8 images `[n, R, R, C]` with structure at every scale."""
    x = scipy.ndimage.gaussian_filter(
        rng.randn(n, resolution, resolution, channels), (0, sigma, sigma, 0)
    )
    return np.clip(np.round(128 + 50 * x / x.std()), 0, 255).astype(np.uint8)


def _to_uint8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


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
    images = _smooth_images(np.random.RandomState(6), 4, 32)
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
    reals = _smooth_images(rng, 6, 32, channels)
    fakes = _smooth_images(rng, 6, 32, channels, sigma=0.8)
    kwargs = dict(seed=11, nhoods_per_image=16, dir_repeats=2, dirs_per_repeat=16)
    got = swd_lib.sliced_wasserstein_distance(reals, fakes, batch_size=4, **kwargs)
    want = _ref_swd(reals, fakes, 11, 4, 16, 2, 16)
    assert list(got) == ["swd_32", "swd_16", "swd_avg"]
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-4), key
    assert got["swd_avg"] == pytest.approx((got["swd_32"] + got["swd_16"]) / 2)


def test_accumulator_streams_repeats_and_resets():
    rng = np.random.RandomState(9)
    reals, fakes = _smooth_images(rng, 8, 32), _smooth_images(rng, 8, 32, sigma=1.0)
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
    reals = _smooth_images(rng, 4, 16, 1)
    fakes = _smooth_images(rng, 4, 16, 1, sigma=0.7)
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
    images = _smooth_images(np.random.RandomState(11), 16, 32)
    few = swd_lib.sliced_wasserstein_distance(images, images, nhoods_per_image=32)
    many = swd_lib.sliced_wasserstein_distance(images, images, nhoods_per_image=512)
    assert many["swd_avg"] < 0.4 * few["swd_avg"]


@pytest.mark.parametrize("perturbation", ["noise", "blur"])
def test_fine_perturbations_raise_fine_levels(perturbation):
    rng = np.random.RandomState(12)
    reals = _smooth_images(rng, 32, 64)
    if perturbation == "noise":
        fakes = _to_uint8(reals + rng.randn(*reals.shape) * 20)
    else:
        fakes = _to_uint8(scipy.ndimage.gaussian_filter(reals * 1.0, (0, 1, 1, 0)))
    base = swd_lib.sliced_wasserstein_distance(reals, reals, seed=0)
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


# ---------------------------------------------------------------------------
# MS-SSIM oracles: MATLAB fspecial window, brute-force 'valid' windows.


def _ref_window(size, sigma):
    radius = size // 2
    offset = 0.5 if size % 2 == 0 else 0.0
    grid = np.arange(-radius + offset, radius + (0 if size % 2 == 0 else 1))
    assert len(grid) == size
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    g = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return g / g.sum()


def _ref_ssim_cs(x, y, filter_size=11, filter_sigma=1.5, max_val=255.0):
    """Mean SSIM and CS per pair over positions and channels, brute force."""
    size = min(filter_size, x.shape[1], x.shape[2])
    window = _ref_window(size, size * filter_sigma / filter_size)

    def blur(z):
        patches = np.lib.stride_tricks.sliding_window_view(z, (size, size), (1, 2))
        return np.einsum("nhwcij,ij->nhwc", patches, window)

    mx, my = blur(x), blur(y)
    vxx, vyy, vxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    lum = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    cs = (2 * vxy + c2) / (vxx + vyy + c2)
    return (lum * cs).mean(axis=(1, 2, 3)), cs.mean(axis=(1, 2, 3))


def _ref_ms_ssim(x, y, weights):
    x, y = x.astype(np.float64), y.astype(np.float64)
    value = 1.0
    for s, weight in enumerate(weights):
        if s > 0:
            n, h, w, c = x.shape
            x = x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
            y = y.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        ssim, cs = _ref_ssim_cs(x, y)
        term = ssim if s == len(weights) - 1 else cs
        value = value * np.maximum(term, 0.0) ** weight
    return value


def _pair(rng, n, resolution, channels, noise=25.0):
    a = _smooth_images(rng, n, resolution, channels, sigma=2.0)
    b = _to_uint8(a + rng.randn(*a.shape) * noise)
    return a, b


# ---------------------------------------------------------------------------
# MS-SSIM tests.


@pytest.mark.parametrize("resolution", [256, 64, 32, 16, 8, 1])
def test_identical_images_give_one(resolution):
    images = _smooth_images(np.random.RandomState(0), 2, resolution, 3)
    np.testing.assert_allclose(msssim_lib.ms_ssim(images, images), 1.0, rtol=1e-12)


def test_ssim_matches_gaussian_filter_oracle():
    # scipy's 11-tap Gaussian (radius 5) is the same window: float64 both sides.
    a, b = _pair(np.random.RandomState(1), 3, 48, 3)
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(z):
        out = scipy.ndimage.gaussian_filter(z, (0, 1.5, 1.5, 0), radius=(0, 5, 5, 0))
        return out[:, 5:-5, 5:-5]

    mx, my = blur(x), blur(y)
    vxx, vyy, vxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 2.55**2, 7.65**2
    want = ((2 * mx * my + c1) * (2 * vxy + c2)) / (
        (mx**2 + my**2 + c1) * (vxx + vyy + c2)
    )
    np.testing.assert_allclose(
        msssim_lib.ssim(a, b), want.mean(axis=(1, 2, 3)), rtol=1e-10
    )


def _tf_args(a, b):
    return dict(
        img1=tf.constant(a, tf.float32),
        img2=tf.constant(b, tf.float32),
        max_val=255.0,
        filter_size=11,
        filter_sigma=1.5,
        k1=0.01,
        k2=0.03,
    )


def test_ssim_matches_tf_image_ssim():
    # tf.image.ssim uses the same window, constants and 'valid' borders and
    # averages over channels, but in float32: E[x^2] - E[x]^2 with x up to 255
    # cancels ~1e-7 * 255**2 ~ 1e-2 against c2 = 58.5 (observed ~1e-6
    # relative), so 1e-5 relative leaves a tenfold margin.
    a, b = _pair(np.random.RandomState(2), 4, 64, 3)
    want = tf.image.ssim(**_tf_args(a, b)).numpy()
    np.testing.assert_allclose(msssim_lib.ssim(a, b), want, rtol=1e-5)


@pytest.mark.parametrize("channels", [3, 1])
def test_ms_ssim_256_matches_oracle(channels):
    a, b = _pair(np.random.RandomState(3), 2, 256, channels)
    want = _ref_ms_ssim(a, b, msssim_lib.DEFAULT_WEIGHTS)
    np.testing.assert_allclose(msssim_lib.ms_ssim(a, b), want, rtol=1e-10)


def test_ms_ssim_256_against_tf_ssim_multiscale():
    # Same window, constants, 2x2 pooling and weights; float32 as above.
    rng = np.random.RandomState(4)
    gray_a, gray_b = _pair(rng, 2, 256, 1)
    want = tf.image.ssim_multiscale(
        **_tf_args(gray_a, gray_b), power_factors=msssim_lib.DEFAULT_WEIGHTS
    ).numpy()
    np.testing.assert_allclose(msssim_lib.ms_ssim(gray_a, gray_b), want, rtol=1e-5)
    # For colour, TF combines the scales per channel and then averages the
    # channels; ProGAN (and we) average SSIM and CS over channels first. With
    # channels that differ a lot, the two definitions differ visibly.
    a = _smooth_images(rng, 2, 256, 3, sigma=2.0)
    b = _to_uint8(a + rng.randn(*a.shape) * [2.0, 20.0, 120.0])
    tf_rgb = tf.image.ssim_multiscale(
        **_tf_args(a, b), power_factors=msssim_lib.DEFAULT_WEIGHTS
    ).numpy()
    per_channel = [
        msssim_lib.ms_ssim(a[..., c : c + 1], b[..., c : c + 1]) for c in range(3)
    ]
    np.testing.assert_allclose(np.mean(per_channel, axis=0), tf_rgb, rtol=1e-5)
    assert np.all(np.abs(msssim_lib.ms_ssim(a, b) - tf_rgb) > 5e-3)


@pytest.mark.parametrize("resolution", [32, 16])
def test_ms_ssim_small_images_shrink_the_window(resolution):
    # As the official code: five scales, the window shrinking to the image
    # (32x32: sizes 11, 11, 8, 4, 2; 16x16: 11, 8, 4, 2, 1), weights unchanged.
    a, b = _pair(np.random.RandomState(5), 3, resolution, 3)
    want = _ref_ms_ssim(a, b, msssim_lib.DEFAULT_WEIGHTS)
    np.testing.assert_allclose(msssim_lib.ms_ssim(a, b), want, rtol=1e-10)


def test_ms_ssim_below_16_uses_fewer_renormalised_scales():
    a, b = _pair(np.random.RandomState(6), 3, 8, 3)
    assert msssim_lib.num_scales(8, 8) == 4
    weights = np.array(msssim_lib.DEFAULT_WEIGHTS[:4])
    want = _ref_ms_ssim(a, b, weights / weights.sum())
    np.testing.assert_allclose(msssim_lib.ms_ssim(a, b), want, rtol=1e-10)


def test_mean_ms_ssim_pairs_and_diversity():
    rng = np.random.RandomState(7)
    base = _smooth_images(rng, 1, 32, 3, sigma=2.0)
    near_duplicates = _to_uint8(base + rng.randn(16, 32, 32, 3) * 5)
    noise = rng.randint(0, 256, (16, 32, 32, 3)).astype(np.uint8)
    dup = msssim_lib.mean_ms_ssim(near_duplicates, num_pairs=8, seed=1)
    rand = msssim_lib.mean_ms_ssim(noise, num_pairs=8, seed=1)
    assert dup > 0.8 and rand < 0.2 and dup > rand
    # Pairs are consecutive entries of the seeded permutation.
    order = np.random.RandomState(1).permutation(16)[:6]
    want = msssim_lib.ms_ssim(noise[order[0::2]], noise[order[1::2]]).mean()
    got = msssim_lib.mean_ms_ssim(noise, num_pairs=3, seed=1, batch_size=2)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: msssim_lib.ms_ssim(x, x[:, :16]), "same shape"),
        (lambda x: msssim_lib.ms_ssim(x[0], x[0]), r"\[N, H, W, C\]"),
        (lambda x: msssim_lib.ms_ssim(x[:0], x[:0]), "must not be empty"),
        (lambda x: msssim_lib.ms_ssim(x, x, weights=()), "`weights`"),
        (lambda x: msssim_lib.ms_ssim(x, x, filter_sigma=0), "`filter_sigma`"),
        (lambda x: msssim_lib.mean_ms_ssim(x, num_pairs=3), r"\[1, N // 2 = 2\]"),
        (lambda x: msssim_lib.mean_ms_ssim(x, num_pairs=0), "`num_pairs`"),
        (lambda x: msssim_lib.mean_ms_ssim(x * 1.0, num_pairs=1), "uint8"),
        (lambda x: msssim_lib.mean_ms_ssim(x[0], num_pairs=1), "uint8 numpy array"),
    ],
)
def test_ms_ssim_bad_inputs(call, match):
    images = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=match):
        call(images)
