"""Sliced Wasserstein distance (SWD) between two image sets, as ProGAN measures it.

7x7 patches of a Laplacian pyramid (full resolution down to 16x16), compared per level.
"""

import numpy as np
import scipy.ndimage

# The official metric's settings (ProGAN `metrics/sliced_wasserstein.py`).
NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_RESOLUTION = 16

# One axis of the 5x5 Gaussian [1, 4, 6, 4, 1] x [1, 4, 6, 4, 1] / 256 (cv2.pyrDown).
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def swd_resolutions(resolution: int) -> list[int]:
    """Returns the pyramid levels SWD reports, full resolution first: R, R/2, ..., 16.

    Raises:
        ValueError: unless `resolution` is a power of two >= 16.
    """
    if (
        not isinstance(resolution, (int, np.integer))
        or resolution < MIN_RESOLUTION
        or resolution & (resolution - 1)
    ):
        raise ValueError(
            f"SWD needs a square resolution that is a power of two >= "
            f"{MIN_RESOLUTION}. Received: {resolution}"
        )
    resolutions = []
    while resolution >= MIN_RESOLUTION:
        resolutions.append(int(resolution))
        resolution //= 2
    return resolutions


def pyr_down(images: np.ndarray) -> np.ndarray:
    """Blurs with the 5x5 Gaussian (mirror borders) and keeps every second pixel.

    Args:
        images: float `[N, H, W, C]`, H and W even.

    Returns:
        `[N, H/2, W/2, C]`, same dtype.
    """
    x = scipy.ndimage.convolve1d(images, _BINOMIAL, axis=1, mode="mirror")
    x = scipy.ndimage.convolve1d(x, _BINOMIAL, axis=2, mode="mirror")
    return x[:, ::2, ::2]


def pyr_up(images: np.ndarray) -> np.ndarray:
    """Inserts zeros between pixels, then blurs with 4x the 5x5 Gaussian (mirror).

    Args:
        images: float `[N, H, W, C]`.

    Returns:
        `[N, 2H, 2W, C]`, same dtype.
    """
    n, h, w, c = images.shape
    x = np.zeros((n, 2 * h, 2 * w, c), images.dtype)
    x[:, ::2, ::2] = images
    x = scipy.ndimage.convolve1d(x, 2.0 * _BINOMIAL, axis=1, mode="mirror")
    return scipy.ndimage.convolve1d(x, 2.0 * _BINOMIAL, axis=2, mode="mirror")


def laplacian_pyramid(images: np.ndarray, num_levels: int) -> list[np.ndarray]:
    """Builds a Laplacian pyramid, lowest resolution first.

    Args:
        images: `[N, R, R, C]`, any real dtype (uint8 values are used as they are).
        num_levels: number of levels L; R must be divisible by 2**(L-1).

    Returns:
        List of float64 arrays, `out[i]` of shape `[N, R / 2**(L-1-i), ..., C]`:
        `out[0]` is the Gaussian (low-pass) level, every other level the detail
        band `g_k - pyr_up(g_{k+1})` of consecutive Gaussian levels. Summing the
        levels upwards with `pyr_up` gives back the images.
    """
    assert images.ndim == 4 and num_levels >= 1
    gaussian = [np.asarray(images, np.float64)]
    for _ in range(num_levels - 1):
        gaussian.append(pyr_down(gaussian[-1]))
    bands = [gaussian[-1]]
    for fine, coarse in zip(gaussian[-2::-1], gaussian[:0:-1], strict=True):
        bands.append(fine - pyr_up(coarse))
    return bands


def sample_descriptors(
    level: np.ndarray,
    nhood_size: int,
    nhoods_per_image: int,
    rng: np.random.RandomState,
) -> np.ndarray:
    """Cuts `nhoods_per_image` random square neighbourhoods out of every image.

    Centres are drawn as the official code draws them: first the column of every
    neighbourhood, `rng.randint(h, W - h, size=N * nhoods_per_image)`, then the
    row, `rng.randint(h, H - h, ...)`, with `h = nhood_size // 2`; neighbourhood
    `j` belongs to image `j // nhoods_per_image`.

    Args:
        level: `[N, H, W, C]` pyramid level, H and W >= nhood_size.
        nhood_size: odd side of a neighbourhood.
        nhoods_per_image: neighbourhoods per image.
        rng: the random state that places them.

    Returns:
        float32 `[N * nhoods_per_image, C * nhood_size**2]`, each row a patch
        flattened in the official code's order, `[C, column, row]`, so that
        equal random states give the official numbers.
    """
    n, height, width, _ = level.shape
    half = nhood_size // 2
    assert nhood_size % 2 == 1 and min(height, width) >= nhood_size
    count = n * nhoods_per_image
    cols = rng.randint(half, width - half, size=count)
    rows = rng.randint(half, height - half, size=count)
    owner = np.arange(count) // nhoods_per_image
    offsets = np.arange(-half, half + 1)
    patches = level[
        owner[:, None, None],
        (rows[:, None] + offsets)[:, :, None],
        (cols[:, None] + offsets)[:, None, :],
    ]
    # Flatten [count, row, column, C] as [count, C, column, row].
    return patches.transpose(0, 3, 2, 1).reshape(count, -1).astype(np.float32)


def normalize_descriptors(descriptors, num_channels: int) -> np.ndarray:
    """Standardises each channel by its mean and std over all descriptors.

    Args:
        descriptors: float32 `[M, C * S]` or a list of such blocks (concatenated).
        num_channels: C; the components of channel c are `[c * S, (c + 1) * S)`.

    Returns:
        float32 `[M, C * S]`. A channel with zero std is only centred (the
        official code would return NaN there).
    """
    if isinstance(descriptors, (list, tuple)):
        desc = np.concatenate(descriptors, axis=0).astype(np.float32, copy=False)
    else:
        desc = np.array(descriptors, np.float32)
    view = desc.reshape(desc.shape[0], num_channels, -1)
    for c in range(num_channels):
        block = view[:, c]
        mean = block.mean(dtype=np.float64)
        std = block.std(dtype=np.float64)
        block -= np.float32(mean)
        if std > 0:
            block /= np.float32(std)
    return desc


def random_directions(
    rng: np.random.RandomState, num_channels: int, nhood_size: int, num_dirs: int
) -> np.ndarray:
    """Draws `num_dirs` random unit directions in descriptor space.

    Draws `rng.randn(3 * nhood_size**2, num_dirs)` for RGB and normalises each
    column, as the official code does. Grayscale is scored as the official
    evaluation scores it, tiled to three equal channels: the RGB directions are
    drawn and their three channel blocks summed, so that a one-channel
    descriptor projects exactly as its tiled RGB version would.

    Args:
        rng: random state.
        num_channels: 1 or 3.
        nhood_size: side of a neighbourhood.
        num_dirs: number of directions.

    Returns:
        float32 `[num_channels * nhood_size**2, num_dirs]`.
    """
    assert num_channels in (1, 3)
    dirs = rng.randn(3 * nhood_size**2, num_dirs)
    dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
    dirs = dirs.astype(np.float32)
    if num_channels == 1:
        dirs = dirs.reshape(3, nhood_size**2, num_dirs).sum(axis=0)
    return dirs


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, directions) -> float:
    """Sliced Wasserstein distance between two equally large descriptor sets.

    For each direction set, projects both sets, sorts each direction's
    projections and averages `|sorted_a - sorted_b|` over descriptors and
    directions; then averages over the direction sets.

    Args:
        a: float32 `[M, D]` (normalised descriptors).
        b: float32 `[M, D]`.
        directions: sequence of `[D, K]` arrays (one per repeat).

    Returns:
        The distance, unscaled.

    Raises:
        ValueError: if `a` and `b` differ in shape.
    """
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            "SWD compares equally many descriptors of equal size: both sets need "
            f"the same number of images. Received shapes {a.shape} and {b.shape}"
        )
    results = []
    for dirs in directions:
        proj_a = np.sort(a @ dirs, axis=0)
        proj_b = np.sort(b @ dirs, axis=0)
        results.append(np.mean(np.abs(proj_a - proj_b)))
    return float(np.mean(results))


def _check_uint8_nhwc(images, name: str) -> None:
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 4
    ):
        raise ValueError(
            f"`{name}` must be a uint8 numpy array [N, H, W, C] (NHWC). Received: "
            f"{type(images).__name__} of dtype {getattr(images, 'dtype', None)} "
            f"and shape {getattr(images, 'shape', None)}"
        )


def _check_images(images, resolution: int, num_channels: int, name: str) -> None:
    _check_uint8_nhwc(images, name)
    expected = (resolution, resolution, num_channels)
    if images.shape[0] < 1 or images.shape[1:] != expected:
        raise ValueError(
            f"`{name}` must have shape [N >= 1, {resolution}, {resolution}, "
            f"{num_channels}] (NHWC). Received: {images.shape}"
        )


class SWDAccumulator:
    """Streams real and generated images into ProGAN's SWD, level by level.

    Keeps every descriptor until `result()`: float32,
    `nhoods_per_image * C * nhood_size**2 * 4` bytes per image and level
    (75 KB for RGB with the defaults), so 16384 RGB images at 256x256 hold
    about 6 GB per set.

    Randomness: `np.random.SeedSequence(seed).spawn(3)` seeds three
    `RandomState(MT19937(...))` streams, placing the real neighbourhoods, the
    generated ones and the directions, in that order. Real and generated
    patches are thus drawn independently, as in the official code, and the
    values depend on the seed and on how the images are split into batches
    (within a batch, positions are drawn level by level, full resolution
    first). `result()` redraws the same directions each time it is called.

    Args:
        resolution: image side R, a power of two >= 16.
        num_channels: 3 (RGB) or 1 (grayscale, scored as if tiled to RGB).
        seed: seeds the neighbourhood positions and the directions.
        nhood_size: odd neighbourhood side, at most 16.
        nhoods_per_image: neighbourhoods per image and level.
        dir_repeats: direction sets averaged per level.
        dirs_per_repeat: directions per set.

    Raises:
        ValueError: for an unsupported resolution, channel count or setting.

    Example:
        acc = SWDAccumulator(resolution=256, seed=0)
        for batch in reals: acc.add_reals(batch)
        for batch in fakes: acc.add_fakes(batch)
        acc.result()  # {"swd_256": ..., ..., "swd_16": ..., "swd_avg": ...}
    """

    def __init__(
        self,
        resolution: int,
        num_channels: int = 3,
        seed: int = 0,
        nhood_size: int = NHOOD_SIZE,
        nhoods_per_image: int = NHOODS_PER_IMAGE,
        dir_repeats: int = DIR_REPEATS,
        dirs_per_repeat: int = DIRS_PER_REPEAT,
    ):
        self.resolutions = swd_resolutions(resolution)
        if num_channels not in (1, 3):
            raise ValueError(
                f"`num_channels` must be 3 (RGB) or 1 (grayscale). Received: "
                f"{num_channels}"
            )
        if nhood_size < 1 or nhood_size % 2 == 0 or nhood_size > MIN_RESOLUTION:
            raise ValueError(
                f"`nhood_size` must be odd and in [1, {MIN_RESOLUTION}]. "
                f"Received: {nhood_size}"
            )
        for name, value in [
            ("nhoods_per_image", nhoods_per_image),
            ("dir_repeats", dir_repeats),
            ("dirs_per_repeat", dirs_per_repeat),
        ]:
            if value < 1:
                raise ValueError(f"`{name}` must be >= 1. Received: {value}")
        self.resolution = int(resolution)
        self.num_channels = num_channels
        self.nhood_size = nhood_size
        self.nhoods_per_image = nhoods_per_image
        self.dir_repeats = dir_repeats
        self.dirs_per_repeat = dirs_per_repeat
        self._seeds = np.random.SeedSequence(seed).spawn(3)
        self._reals = self._new_set(0)
        self._fakes = self._new_set(1)

    def _new_set(self, stream: int) -> dict:
        rng = np.random.RandomState(np.random.MT19937(self._seeds[stream]))
        return {"rng": rng, "count": 0, "desc": [[] for _ in self.resolutions]}

    def _add(self, images, entry: dict, name: str) -> None:
        _check_images(images, self.resolution, self.num_channels, name)
        pyramid = laplacian_pyramid(images, len(self.resolutions))
        # Sample level by level, full resolution first, as the official code.
        for descs, level in zip(entry["desc"], pyramid[::-1], strict=True):
            descs.append(
                sample_descriptors(
                    level, self.nhood_size, self.nhoods_per_image, entry["rng"]
                )
            )
        entry["count"] += images.shape[0]

    def add_reals(self, images: np.ndarray) -> None:
        """Adds real images: uint8 `[N, R, R, C]`."""
        self._add(images, self._reals, "images")

    def add_fakes(self, images: np.ndarray) -> None:
        """Adds generated images: uint8 `[N, R, R, C]`."""
        self._add(images, self._fakes, "images")

    def reset_fakes(self) -> None:
        """Forgets the generated images (keeps the reals) and rewinds their stream."""
        self._fakes = self._new_set(1)

    @property
    def num_reals(self) -> int:
        return self._reals["count"]

    @property
    def num_fakes(self) -> int:
        return self._fakes["count"]

    def result(self) -> dict[str, float]:
        """Returns SWD x 1e3 per level and averaged over levels.

        Returns:
            `{"swd_<R>": ..., "swd_<R/2>": ..., "swd_16": ..., "swd_avg": ...}`.

        Raises:
            ValueError: unless as many real as generated images were added (>= 1).
        """
        if self.num_reals == 0 or self.num_reals != self.num_fakes:
            raise ValueError(
                "SWD needs as many generated as real images, at least one. "
                f"Received: {self.num_reals} real, {self.num_fakes} generated"
            )
        rng = np.random.RandomState(np.random.MT19937(self._seeds[2]))
        out = {}
        for res, real, fake in zip(
            self.resolutions, self._reals["desc"], self._fakes["desc"], strict=True
        ):
            a = normalize_descriptors(real, self.num_channels)
            b = normalize_descriptors(fake, self.num_channels)
            dirs = [
                random_directions(
                    rng, self.num_channels, self.nhood_size, self.dirs_per_repeat
                )
                for _ in range(self.dir_repeats)
            ]
            out[f"swd_{res}"] = 1e3 * sliced_wasserstein(a, b, dirs)
            del a, b
        out["swd_avg"] = float(np.mean([out[f"swd_{r}"] for r in self.resolutions]))
        return out


def sliced_wasserstein_distance(
    reals: np.ndarray,
    fakes: np.ndarray,
    seed: int = 0,
    batch_size: int = 64,
    nhoods_per_image: int = NHOODS_PER_IMAGE,
    dir_repeats: int = DIR_REPEATS,
    dirs_per_repeat: int = DIRS_PER_REPEAT,
) -> dict[str, float]:
    """SWD x 1e3 between two in-memory image sets (see `SWDAccumulator`).

    Args:
        reals: uint8 `[N, R, R, C]`, R a power of two >= 16, C 3 or 1.
        fakes: uint8 `[N, R, R, C]`, as many as `reals`.
        seed: seeds neighbourhoods and directions.
        batch_size: images per pyramid batch (the draws depend on it).
        nhoods_per_image: neighbourhoods per image and level.
        dir_repeats: direction sets per level.
        dirs_per_repeat: directions per set.

    Returns:
        `{"swd_<R>": ..., ..., "swd_16": ..., "swd_avg": ...}`.

    Raises:
        ValueError: for inputs that are not uint8 NHWC of one supported shape,
            or sets of different sizes.
    """
    _check_uint8_nhwc(reals, "reals")
    _check_uint8_nhwc(fakes, "fakes")
    if fakes.shape != reals.shape:
        raise ValueError(
            "`reals` and `fakes` must have the same shape [N, R, R, C]. "
            f"Received: {reals.shape} and {fakes.shape}"
        )
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: {batch_size}")
    acc = SWDAccumulator(
        reals.shape[1],
        num_channels=reals.shape[3],
        seed=seed,
        nhoods_per_image=nhoods_per_image,
        dir_repeats=dir_repeats,
        dirs_per_repeat=dirs_per_repeat,
    )
    for start in range(0, reals.shape[0], batch_size):
        acc.add_reals(reals[start : start + batch_size])
        acc.add_fakes(fakes[start : start + batch_size])
    return acc.result()
