"""Perceptual path length (Karras et al. 2019, StyleGAN), as stylegan2-ada's
metrics/perceptual_path_length.py computes it, on any image distance.

For each sample: two latents z0, z1, and t uniform in [0, 1) (`full`) or
t = 0 (`end`); the points at t and t + epsilon on their slerp in Z (`z`) or
their lerp in W (`w`) are synthesised with the same noise, optionally
centre-cropped (faces), box-downsampled to at most 256 wide, and their distance
divided by epsilon squared. The result is the mean of those path lengths
between their 1st (lower) and 99th (higher) percentiles.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

EPSILON = 1e-4
SPACES = ("z", "w")
SAMPLINGS = ("full", "end")
# The side NVIDIA box-downsamples larger images to before LPIPS.
MAX_SIDE = 256


@dataclasses.dataclass(frozen=True)
class StyleGenerator:
    """A generator split as StyleGAN's, for PPL: z -> w -> image.

    Attributes:
        latent_size: width of z.
        resolution: side of the synthesised images.
        mapping: `(z float32 [N, latent_size], labels [N, L] or None)` ->
            w `[N, num_layers, dlatent_size]` (array or tensor).
        synthesis: `(w [N, num_layers, dlatent_size], noise_seeds int64 [N, 2])`
            -> float images `[N, R, R, C]` in [-1, 1]; images with the same
            seed row get the same noise.
        labels: rows the labels of conditional samples are drawn from (None:
            unconditional).
    """

    latent_size: int
    resolution: int
    mapping: Callable
    synthesis: Callable
    labels: np.ndarray | None = None


def slerp(a, b, t):
    """Spherical interpolation of directions, as stylegan2-ada's: a and b are
    normalised first, and so is the result.

    Args:
        a, b: `[N, D]`.
        t: `[N, 1]`.

    Returns:
        `[N, D]` unit vectors.
    """
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    d = np.sum(a * b, axis=-1, keepdims=True)
    p = t * np.arccos(np.clip(d, -1.0, 1.0))
    c = b - d * a
    c = c / np.linalg.norm(c, axis=-1, keepdims=True)
    out = a * np.cos(p) + c * np.sin(p)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def prepare_images(images, resolution, crop=False):
    """NVIDIA's PPL preprocessing: the face crop, then a box downsample by
    `resolution // 256` where that is above 1, and grey repeated to RGB.

    Args:
        images: float `[N, R, R, C]`, C 1 or 3.
        resolution: R (the downsampling factor comes from it, not the crop).
        crop: keep rows 3/8 to 7/8 and columns 2/8 to 6/8.

    Returns:
        float `[N, H, W, 3]`.
    """
    images = np.asarray(images)
    if crop:
        c = images.shape[1] // 8
        images = images[:, c * 3 : c * 7, c * 2 : c * 6]
    factor = resolution // MAX_SIDE
    if factor > 1:
        n, h, w, channels = images.shape
        images = images.reshape(n, h // factor, factor, w // factor, factor, channels)
        images = images.mean(axis=(2, 4))
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def prepared_side(resolution, crop=False):
    """The side of `prepare_images`'s output for square images of `resolution`."""
    c = resolution // 8
    side = 4 * c if crop else resolution
    factor = resolution // MAX_SIDE
    return side // factor if factor > 1 else side


def _check(space, sampling, count, batch, epsilon):
    if space not in SPACES:
        raise ValueError(f"`space` must be one of {SPACES}. Received: {space!r}")
    if sampling not in SAMPLINGS:
        raise ValueError(
            f"`sampling` must be one of {SAMPLINGS}. Received: {sampling!r}"
        )
    if count < 1 or batch < 1:
        raise ValueError(
            f"`count` and `batch` must be >= 1. Received: {count}, {batch}"
        )
    if not epsilon > 0:
        raise ValueError(f"`epsilon` must be > 0. Received: {epsilon}")


def path_lengths(
    generator: StyleGenerator,
    distance: Callable,
    count: int,
    space: str,
    sampling: str,
    epsilon: float = EPSILON,
    crop: bool = False,
    batch: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """`count` perceptual path lengths, `batch` images (half as many pairs) at
    a time; sample i depends on `(seed, i)` alone, not on `batch`.

    Sample i takes z0, z1 (rows of one standard-normal stream from `seed`,
    two per sample), t (a uniform stream from `[seed, 2]`, or 0 for `end`), a
    label (drawn from `generator.labels` by a stream from `[seed, 1]`) and
    the noise of seed row `[seed, i]` for both its images.

    Args:
        generator: a `StyleGenerator`.
        distance: `(x, y) -> [n]` between float images `[n, H, W, 3]` in
            [-1, 1] (LPIPS for PPL).
        count: samples.
        space: "z" (slerp of latents) or "w" (lerp of mapped latents).
        sampling: "full" (t in [0, 1)) or "end" (t = 0).
        epsilon: the step between the two points of a sample.
        crop: NVIDIA's face crop (see `prepare_images`).
        batch: images per synthesis call (at least one pair).
        seed: of latents, t, labels and noise.

    Returns:
        float64 `[count]`: distance / epsilon**2 per sample.
    """
    _check(space, sampling, count, batch, epsilon)
    latent_rng = np.random.RandomState(seed)
    label_rng = np.random.RandomState([seed, 1])
    t_rng = np.random.RandomState([seed, 2])
    pairs = max(1, batch // 2)
    out = []
    for start in range(0, count, pairs):
        n = min(pairs, count - start)
        z = latent_rng.randn(n, 2, generator.latent_size)
        t = t_rng.rand(n, 1) if sampling == "full" else np.zeros([n, 1])
        labels = None
        if generator.labels is not None:
            rows = generator.labels[label_rng.randint(0, len(generator.labels), n)]
            labels = np.concatenate([rows, rows]).astype(np.float32)
        # Interpolate in W or Z.
        if space == "w":
            both = np.concatenate([z[:, 0], z[:, 1]]).astype(np.float32)
            w = np.asarray(generator.mapping(both, labels), np.float32)
            w0, w1 = w[:n], w[n:]
            t = t.astype(np.float32)[:, :, np.newaxis]
            eps = np.float32(epsilon)
            w = np.concatenate([w0 + (w1 - w0) * t, w0 + (w1 - w0) * (t + eps)])
        else:
            zt0 = slerp(z[:, 0], z[:, 1], t)
            zt1 = slerp(z[:, 0], z[:, 1], t + epsilon)
            both = np.concatenate([zt0, zt1]).astype(np.float32)
            w = generator.mapping(both, labels)
        # Synthesise both points of a sample with the same noise.
        indices = np.arange(start, start + n, dtype=np.int64)
        seeds = np.stack([np.full(n, seed, np.int64), indices], axis=1)
        images = generator.synthesis(w, np.concatenate([seeds, seeds]))
        images = prepare_images(
            np.asarray(images, np.float32), generator.resolution, crop
        )
        d = np.asarray(distance(images[:n], images[n:]), np.float64)
        out.append(d / epsilon**2)
    return np.concatenate(out)


def filtered_mean(lengths) -> float:
    """Mean of the path lengths between the 1st percentile (rounded down to a
    sample) and the 99th (rounded up), both included, as NVIDIA's."""
    lengths = np.asarray(lengths, np.float64)
    lo = np.percentile(lengths, 1, method="lower")
    hi = np.percentile(lengths, 99, method="higher")
    return float(lengths[(lengths >= lo) & (lengths <= hi)].mean())
