"""MS-SSIM between image pairs, as ProGAN computes it, and its diversity measure.

The diversity measure is the mean MS-SSIM over random image pairs (lower: more diverse).
"""

import numpy as np
import scipy.ndimage

# Per-scale exponents of Wang et al. 2003, finest scale first (they sum to 1.0001).
DEFAULT_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """One axis of MATLAB's `fspecial('gaussian')`: centred grid, sums to 1."""
    coords = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(coords**2) / (2.0 * sigma**2))
    return g / g.sum()


def _blur_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Correlates `[N, H, W, C]` with `outer(g, g)`, keeping the 'valid' part."""
    start = g.size // 2
    for axis in (1, 2):
        n = x.shape[axis] - g.size + 1
        x = scipy.ndimage.correlate1d(x, g, axis=axis, mode="constant")
        x = x[:, start : start + n] if axis == 1 else x[:, :, start : start + n]
    return x


def _ssim_and_cs(img1, img2, max_val, filter_size, filter_sigma, k1, k2):
    """Mean SSIM and contrast-structure term per image pair: two `[N]` arrays.

    The window shrinks to the image when the image is smaller than
    `filter_size`, with sigma scaled by the same factor (as the official code).
    """
    _, height, width, _ = img1.shape
    size = min(filter_size, height, width)
    g = _gaussian_1d(size, size * filter_sigma / filter_size)
    mu1, mu2 = _blur_valid(img1, g), _blur_valid(img2, g)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma11 = _blur_valid(img1 * img1, g) - mu11
    sigma22 = _blur_valid(img2 * img2, g) - mu22
    sigma12 = _blur_valid(img1 * img2, g) - mu12
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    v1 = 2.0 * sigma12 + c2
    v2 = sigma11 + sigma22 + c2
    ssim_map = ((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2)
    return ssim_map.mean(axis=(1, 2, 3)), (v1 / v2).mean(axis=(1, 2, 3))


def _check_pair(img1, img2) -> tuple[np.ndarray, np.ndarray]:
    img1, img2 = np.asarray(img1), np.asarray(img2)
    for name, img in (("img1", img1), ("img2", img2)):
        if img.ndim != 4 or not np.issubdtype(img.dtype, np.number):
            raise ValueError(
                f"`{name}` must be a real array [N, H, W, C] (NHWC). Received: "
                f"dtype {img.dtype}, shape {img.shape}"
            )
    if img1.shape != img2.shape:
        raise ValueError(
            "`img1` and `img2` must have the same shape. Received: "
            f"{img1.shape} and {img2.shape}"
        )
    if min(img1.shape) < 1:
        raise ValueError(f"Images must not be empty. Received shape {img1.shape}")
    return img1.astype(np.float64), img2.astype(np.float64)


def ssim(
    img1: np.ndarray,
    img2: np.ndarray,
    max_val: float = 255.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """Single-scale SSIM per image pair (Gaussian window, 'valid' borders).

    Args:
        img1: `[N, H, W, C]`, any real dtype, values in [0, max_val].
        img2: `[N, H, W, C]`.
        max_val: dynamic range of the values.
        filter_size: window side; shrinks to min(H, W) for smaller images
            (sigma scaled alike).
        filter_sigma: window standard deviation.
        k1: luminance stabiliser.
        k2: contrast stabiliser.

    Returns:
        float64 `[N]`: the SSIM map averaged over positions and channels.

    Raises:
        ValueError: for non-NHWC, empty or differently shaped inputs.
    """
    img1, img2 = _check_pair(img1, img2)
    return _ssim_and_cs(img1, img2, max_val, filter_size, filter_sigma, k1, k2)[0]


def num_scales(height: int, width: int, max_scales: int = len(DEFAULT_WEIGHTS)) -> int:
    """Scales MS-SSIM uses at `height x width`: halve while both sides are even."""
    scales = 1
    while scales < max_scales and height % 2 == 0 and width % 2 == 0:
        height, width, scales = height // 2, width // 2, scales + 1
    return scales


def ms_ssim(
    img1: np.ndarray,
    img2: np.ndarray,
    max_val: float = 255.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    weights=DEFAULT_WEIGHTS,
) -> np.ndarray:
    """Multi-scale SSIM per image pair, as ProGAN's `msssim` (without the mean).

    Scale s (finest first) compares the images after s 2x2 average poolings.
    The result is `prod_{s<S-1} cs_s**w_s * ssim_{S-1}**w_{S-1}`, each term
    first clipped at 0 and averaged over positions and channels. At scales
    smaller than `filter_size` the window shrinks to the image (so at 16x16 the
    fifth scale is 1x1 and compares mean intensities only), as the official
    code does. Where fewer than `len(weights)` scales fit (a side turns odd
    before: e.g. 8x8 gives 8, 4, 2, 1), the first S weights are used, rescaled
    to sum to 1; the official code fails there.

    Args:
        img1: `[N, H, W, C]`, any real dtype, values in [0, max_val].
        img2: `[N, H, W, C]`.
        max_val: dynamic range of the values.
        filter_size: window side.
        filter_sigma: window standard deviation.
        k1: luminance stabiliser.
        k2: contrast stabiliser.
        weights: per-scale exponents, finest first.

    Returns:
        float64 `[N]`, 1.0 for identical images.

    Raises:
        ValueError: for non-NHWC, empty or differently shaped inputs, or bad
            `weights`/`filter_size`/`filter_sigma`.
    """
    im1, im2 = _check_pair(img1, img2)
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 1 or weights.size < 1 or np.any(weights < 0):
        raise ValueError(
            f"`weights` must be a non-empty list of non-negative numbers. "
            f"Received: {weights.tolist()}"
        )
    if filter_size < 1 or filter_sigma <= 0:
        raise ValueError(
            "`filter_size` must be >= 1 and `filter_sigma` > 0. Received: "
            f"{filter_size}, {filter_sigma}"
        )
    scales = num_scales(im1.shape[1], im1.shape[2], weights.size)
    if scales < weights.size:
        weights = weights[:scales] / np.sum(weights[:scales])

    # Compare scale by scale, pooling 2x2 in between.
    ssims, css = [], []
    for s in range(scales):
        if s > 0:
            im1, im2 = _avg_pool_2x2(im1), _avg_pool_2x2(im2)
        ssim_s, cs_s = _ssim_and_cs(
            im1, im2, max_val, filter_size, filter_sigma, k1, k2
        )
        ssims.append(ssim_s)
        css.append(cs_s)

    # Clip at zero (a negative term would make the powers NaN) and combine.
    ssims = np.clip(np.asarray(ssims), 0.0, None)
    css = np.clip(np.asarray(css), 0.0, None)
    return np.prod(css[:-1] ** weights[:-1, None], axis=0) * ssims[-1] ** weights[-1]


def _avg_pool_2x2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def mean_ms_ssim(
    images: np.ndarray, num_pairs: int, seed: int = 0, batch_size: int = 64
) -> float:
    """ProGAN's diversity measure: mean MS-SSIM over random disjoint image pairs.

    `np.random.RandomState(seed).permutation(N)[:2 * num_pairs]` picks the
    images; consecutive entries form the pairs, so no image is used twice (the
    official code pairs consecutive generated images, which are independent).

    Args:
        images: uint8 `[N, H, W, C]` (NHWC; RGB or grayscale).
        num_pairs: pairs to average, 1 <= num_pairs <= N // 2.
        seed: seeds the pairing.
        batch_size: pairs compared at once.

    Returns:
        The mean MS-SSIM (default settings of `ms_ssim`), in [0, 1].

    Raises:
        ValueError: for non-uint8 or non-NHWC images or an impossible
            `num_pairs`.
    """
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 4
    ):
        raise ValueError(
            "`images` must be a uint8 numpy array [N, H, W, C] (NHWC). Received: "
            f"{type(images).__name__} of dtype {getattr(images, 'dtype', None)} "
            f"and shape {getattr(images, 'shape', None)}"
        )
    if not 1 <= num_pairs <= images.shape[0] // 2:
        raise ValueError(
            f"`num_pairs` must be in [1, N // 2 = {images.shape[0] // 2}] for "
            f"{images.shape[0]} images. Received: {num_pairs}"
        )
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: {batch_size}")
    order = np.random.RandomState(seed).permutation(images.shape[0])
    first, second = order[0 : 2 * num_pairs : 2], order[1 : 2 * num_pairs : 2]
    scores = [
        ms_ssim(images[first[i : i + batch_size]], images[second[i : i + batch_size]])
        for i in range(0, num_pairs, batch_size)
    ]
    return float(np.mean(np.concatenate(scores)))


def mean_ms_ssim_of_stream(batches, num_pairs: int) -> float:
    """Mean MS-SSIM over the first `num_pairs` pairs of consecutive images
    (0 and 1, 2 and 3, ...) of a stream, as ProGAN pairs generated images
    (independent samples need no shuffling). Memory: one batch.

    Args:
        batches: an iterable of uint8 `[n, H, W, C]` batches (NHWC, any n).
        num_pairs: pairs to average, >= 1.

    Returns:
        The mean MS-SSIM (default settings of `ms_ssim`), in [0, 1].

    Raises:
        ValueError: `num_pairs` < 1, a stream of fewer than `2 * num_pairs`
            images, or images `ms_ssim` refuses.
    """
    if num_pairs < 1:
        raise ValueError(f"`num_pairs` must be >= 1. Received: {num_pairs}")
    total, done, left = 0.0, 0, None
    for images in batches:
        if left is not None:  # An odd image waiting for its partner.
            images = np.concatenate([left, images])
        pairs = min(len(images) // 2, num_pairs - done)
        if pairs:
            scores = ms_ssim(images[0 : 2 * pairs : 2], images[1 : 2 * pairs : 2])
            total, done = total + float(np.sum(scores)), done + pairs
        if done == num_pairs:
            return total / num_pairs
        left = images[2 * pairs :]
    raise ValueError(
        f"`batches` held {2 * done + (0 if left is None else len(left))} images; "
        f"{num_pairs} pairs need {2 * num_pairs}."
    )
