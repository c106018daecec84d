"""Shared helpers of the SWD and MS-SSIM tests: smooth random uint8 images."""

import numpy as np
import scipy.ndimage


def smooth_images(rng, n, resolution, channels=3, sigma=1.5):
    """Smooth random uint8 images `[n, R, R, C]` with structure at every scale."""
    x = scipy.ndimage.gaussian_filter(
        rng.randn(n, resolution, resolution, channels), (0, sigma, sigma, 0)
    )
    return np.clip(np.round(128 + 50 * x / x.std()), 0, 255).astype(np.uint8)


def to_uint8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)
