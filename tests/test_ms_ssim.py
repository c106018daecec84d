"""MS-SSIM against oracles written here, independent of the code under test."""

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf
from metric_helpers import smooth_images, to_uint8

from metrics import ms_ssim as msssim_lib

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
    a = smooth_images(rng, n, resolution, channels, sigma=2.0)
    b = to_uint8(a + rng.randn(*a.shape) * noise)
    return a, b


# ---------------------------------------------------------------------------
# MS-SSIM tests.


@pytest.mark.parametrize("resolution", [256, 64, 32, 16, 8, 1])
def test_identical_images_give_one(resolution):
    images = smooth_images(np.random.RandomState(0), 2, resolution, 3)
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
    a = smooth_images(rng, 2, 256, 3, sigma=2.0)
    b = to_uint8(a + rng.randn(*a.shape) * [2.0, 20.0, 120.0])
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
    base = smooth_images(rng, 1, 32, 3, sigma=2.0)
    near_duplicates = to_uint8(base + rng.randn(16, 32, 32, 3) * 5)
    noise = rng.randint(0, 256, (16, 32, 32, 3)).astype(np.uint8)
    dup = msssim_lib.mean_ms_ssim(near_duplicates, num_pairs=8, seed=1)
    rand = msssim_lib.mean_ms_ssim(noise, num_pairs=8, seed=1)
    assert dup > 0.8 and rand < 0.2 and dup > rand
    # Pairs are consecutive entries of the seeded permutation.
    order = np.random.RandomState(1).permutation(16)[:6]
    want = msssim_lib.ms_ssim(noise[order[0::2]], noise[order[1::2]]).mean()
    got = msssim_lib.mean_ms_ssim(noise, num_pairs=3, seed=1, batch_size=2)
    assert got == pytest.approx(want, rel=1e-12)


def test_mean_ms_ssim_of_a_stream_pairs_consecutive_images_across_batches():
    rng = np.random.RandomState(3)
    images = rng.randint(0, 256, (11, 16, 16, 3)).astype(np.uint8)
    want = msssim_lib.ms_ssim(images[0:10:2], images[1:10:2]).mean()
    for sizes in ([11], [3, 3, 5], [1] * 11, [2, 9]):
        batches = np.split(images, np.cumsum(sizes)[:-1])
        got = msssim_lib.mean_ms_ssim_of_stream(iter(batches), num_pairs=5)
        assert got == pytest.approx(want, rel=1e-12), sizes
    with pytest.raises(ValueError, match="held 11 images; 6 pairs need 12"):
        msssim_lib.mean_ms_ssim_of_stream([images[:4], images[4:]], num_pairs=6)
    with pytest.raises(ValueError, match="`num_pairs` must be >= 1"):
        msssim_lib.mean_ms_ssim_of_stream([images], num_pairs=0)


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
