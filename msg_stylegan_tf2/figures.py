"""Figures from a generator: samples by seed, multi-scale sheets, latent
interpolations, style mixing (paper Fig. 9) and truncation sweeps.

Every function returns uint8 arrays `[H, W, C]` (or a list of frames); the
generator is a `Generator`, `ProGANGenerator` or `SavedModelGenerator`;
`truncation_psi=None` is none. A conditional generator needs `labels`: float
`[rows, label_size]`, one row per seed or one row for all (see `class_labels`
and `check_labels`).

G runs on at most `batch` images at a time, so memory is bounded by `batch`
(and by the figure itself); `progress(n)`, if given, is called after each
forward pass of `n` images. An image does not depend on `batch`: its latent
comes from its seed alone, and the noise inputs are the stored noise
(`randomize_noise=False`), the same for every image. Only float rounding may
differ between batch sizes (kernels such as Eigen's vectorised rsqrt round an
element differently by its position in the tensor): at most one uint8 level
on a few pixels.
"""

import numpy as np
import tensorflow as tf

from dnnlib.image_io import image_grid, to_uint8
from msg_stylegan_tf2.choices import GENERATE_BATCH


def latents_for_seeds(seeds, latent_size):
    """One standard-normal latent per seed: `[len(seeds), latent_size]`."""
    return np.stack(
        [np.random.RandomState(s).randn(latent_size) for s in seeds]
    ).astype(np.float32)


def label_size(G):
    """Number of label columns G takes; 0 for an unconditional generator."""
    if hasattr(G, "options"):  # Generator, ProGANGenerator.
        return int(G.options.get("label_size", 0))
    return int(getattr(G, "label_size", 0))  # SavedModelGenerator.


def class_labels(class_index, size):
    """One-hot labels `[1, size]` for class `class_index` (0-based).

    Raises:
        ValueError: the generator is unconditional (`size` 0) or the class is
            out of range.
    """
    if size == 0:
        raise ValueError("this generator is unconditional (label_size 0): no classes.")
    if not 0 <= class_index < size:
        raise ValueError(
            f"class {class_index} is out of range: this generator has classes "
            f"0-{size - 1}."
        )
    return np.eye(size, dtype=np.float32)[[class_index]]


def check_labels(labels, size, count):
    """Validates labels for `count` images of a generator with `size` columns.

    Args:
        labels: None, or an array `[1 or count, size]` (one-hot or float rows).
        size: the generator's `label_size`.
        count: number of images (seeds) the labels are for.

    Returns:
        float32 `[count, size]`, or None for an unconditional generator.

    Raises:
        ValueError: labels missing for a conditional generator, given for an
            unconditional one, or of the wrong shape or values.
    """
    if labels is None:
        if size:
            raise ValueError(
                f"this generator is conditional (label_size {size}) and needs "
                "labels: a class or label rows."
            )
        return None
    if size == 0:
        raise ValueError("this generator is unconditional (label_size 0): no labels.")
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != size or labels.shape[0] not in (1, count):
        raise ValueError(
            f"labels must have shape [1, {size}] or [{count}, {size}] (one row "
            f"for all or one per seed). Received: {list(labels.shape)}"
        )
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"labels must be numbers. Received dtype: {labels.dtype}")
    if not np.all(np.isfinite(labels)):
        raise ValueError("labels must be finite. Received: NaN or infinity")
    return np.broadcast_to(labels.astype(np.float32), (count, size)).copy()


def _slices(count, batch):
    # Consecutive runs of at most `batch` of `count` items, in order.
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"`batch` must be an integer >= 1. Received: {batch!r}")
    return [slice(start, min(start + batch, count)) for start in range(0, count, batch)]


def _rows(labels, part):
    return None if labels is None else labels[part]


def _pyramid(G, latents, labels, truncation_psi, progress=None):
    # truncation_psi None means no truncation (psi 1).
    psi = 1.0 if truncation_psi is None else truncation_psi
    images = G(latents, labels, truncation_psi=psi, randomize_noise=False)
    images = [np.asarray(tf.cast(x, tf.float32)) for x in images]
    if progress is not None:
        progress(len(latents))
    return images


def _multiscale_rows(pyramid):
    # Each image's levels side by side, each upscaled to the top resolution.
    side = pyramid[-1].shape[1]
    levels = [to_uint8(upscale(level, side)) for level in pyramid]
    return [
        np.concatenate([level[i] for level in levels], axis=1)
        for i in range(len(levels[0]))
    ]


def upscale(images, side):
    """Nearest-neighbour upscaling of `[N, r, r, C]` to `[N, side, side, C]`."""
    factor = side // images.shape[1]
    return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def iter_samples(
    G, seeds, truncation_psi=None, labels=None, batch=GENERATE_BATCH, progress=None
):
    """Top-resolution samples, batch by batch: yields uint8 `[n, R, R, C]` for
    each run of at most `batch` seeds, in the order of `seeds`."""
    seeds = list(seeds)
    labels = check_labels(labels, label_size(G), len(seeds))
    for part in _slices(len(seeds), batch):
        latents = latents_for_seeds(seeds[part], G.latent_size)
        pyramid = _pyramid(G, latents, _rows(labels, part), truncation_psi, progress)
        yield to_uint8(pyramid[-1])


def samples(
    G, seeds, truncation_psi=None, labels=None, batch=GENERATE_BATCH, progress=None
):
    """Top-resolution samples, uint8 `[len(seeds), R, R, C]`."""
    return np.concatenate(
        list(iter_samples(G, seeds, truncation_psi, labels, batch, progress))
    )


def multiscale_sheet(
    G, seeds, truncation_psi=None, labels=None, batch=GENERATE_BATCH, progress=None
):
    """One row per seed, every resolution side by side (4x4 first), each
    upscaled to the full resolution: uint8 `[len(seeds) * R, levels * R, C]`."""
    seeds = list(seeds)
    labels = check_labels(labels, label_size(G), len(seeds))
    rows = []
    for part in _slices(len(seeds), batch):
        latents = latents_for_seeds(seeds[part], G.latent_size)
        pyramid = _pyramid(G, latents, _rows(labels, part), truncation_psi, progress)
        rows += _multiscale_rows(pyramid)
    return np.concatenate(rows, axis=0)


def slerp(a, b, t):
    """Spherical interpolation between latents `a` and `b` (`[D]`)."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def iter_interpolation_frames(
    G,
    seeds,
    steps=16,
    truncation_psi=None,
    labels=None,
    batch=GENERATE_BATCH,
    progress=None,
):
    """Frames of a loop through the seeds' latents (slerp), `steps` per seed,
    every resolution in each frame side by side: yields uint8
    `[R, levels * R, C]`, computed `batch` frames at a time. Labels given per
    seed are interpolated linearly along with the latents."""
    keys = latents_for_seeds(list(seeds) + [seeds[0]], G.latent_size)
    key_labels = check_labels(labels, label_size(G), len(seeds))
    if key_labels is not None:
        key_labels = np.concatenate([key_labels, key_labels[:1]])
    pairs = [(i, t / steps) for i in range(len(seeds)) for t in range(steps)]
    for part in _slices(len(pairs), batch):
        latents = np.stack([slerp(keys[i], keys[i + 1], t) for i, t in pairs[part]])
        frame_labels = None
        if key_labels is not None:
            frame_labels = np.stack(
                [
                    (1 - t) * key_labels[i] + t * key_labels[i + 1]
                    for i, t in pairs[part]
                ]
            ).astype(np.float32)
        pyramid = _pyramid(
            G, latents.astype(np.float32), frame_labels, truncation_psi, progress
        )
        yield from _multiscale_rows(pyramid)


def interpolation_frames(
    G,
    seeds,
    steps=16,
    truncation_psi=None,
    labels=None,
    batch=GENERATE_BATCH,
    progress=None,
):
    """`iter_interpolation_frames` as a list of `len(seeds) * steps` frames."""
    return list(
        iter_interpolation_frames(
            G, seeds, steps, truncation_psi, labels, batch, progress
        )
    )


def style_mixing(
    G,
    row_seeds,
    col_seeds,
    mix_layers,
    truncation_psi=None,
    labels=None,
    batch=GENERATE_BATCH,
    progress=None,
):
    """Paper Fig. 9: each cell takes the styles `mix_layers` from its column's
    seed and the rest from its row's seed. Row 0 shows the column sources and
    column 0 the row sources. Returns a uint8 grid `[(rows+1) R, (cols+1) R, C]`.

    Args:
        G: a `Generator` (styles exist only in MSG-StyleGAN).
        mix_layers: indices of synthesis layers (e.g. range(0, 4) = coarse).
        labels: for a conditional G, one row for all, or one per row seed
            followed by one per column seed.
        batch, progress: as for every figure (module docstring); synthesis
            runs `rows + cols + rows * cols` images.
    """
    if not hasattr(G, "truncate"):
        raise ValueError(
            "Style mixing needs an MSG-StyleGAN generator with its styles (a run "
            "directory, checkpoint or pickle; not MSG-ProGAN or a SavedModel)."
        )
    seeds = list(row_seeds) + list(col_seeds)
    labels = check_labels(labels, label_size(G), len(seeds))
    # Map every seed to its (truncated) styles.
    w = []
    for part in _slices(len(seeds), batch):
        dlatents = G.mapping(
            latents_for_seeds(seeds[part], G.latent_size), _rows(labels, part)
        )
        if truncation_psi is not None:
            cutoff = G.truncation_cutoff or G.num_layers
            dlatents = G.truncate(dlatents, truncation_psi, cutoff)
        w.append(np.asarray(tf.cast(dlatents, tf.float32)))
    w = np.concatenate(w)
    rows, cols = w[: len(row_seeds)], w[len(row_seeds) :]
    # Mix: the cell (r, c) is row r's styles with column c's at `mix_layers`.
    mixed = np.repeat(rows, len(cols), axis=0)
    layers = list(mix_layers)
    mixed[:, layers] = np.tile(cols, (len(rows), 1, 1))[:, layers]
    # Synthesize the rows, the columns and the cells, `batch` at a time.
    dlatents = np.concatenate([rows, cols, mixed])
    images = []
    for part in _slices(len(dlatents), batch):
        top = G.synthesis(dlatents[part], randomize_noise=False)[-1]
        images.append(to_uint8(np.asarray(tf.cast(top, tf.float32))))
        if progress is not None:
            progress(len(images[-1]))
    images = np.concatenate(images)
    row_images, col_images = images[: len(rows)], images[len(rows) : len(w)]
    cell_images = images[len(w) :]
    side, channels = row_images.shape[1], row_images.shape[3]
    cells = [np.full([side, side, channels], 255, np.uint8), *col_images]
    for r in range(len(rows)):
        cells += [row_images[r], *cell_images[r * len(cols) : (r + 1) * len(cols)]]
    return image_grid(np.stack(cells), len(col_seeds) + 1)


def truncation_sweep(
    G,
    seeds,
    psis=(1.0, 0.85, 0.7, 0.5, 0.3, 0.0),
    labels=None,
    batch=GENERATE_BATCH,
    progress=None,
):
    """One row per seed, one column per truncation psi: uint8 grid."""
    seeds = list(seeds)
    labels = check_labels(labels, label_size(G), len(seeds))
    cells = []
    for part in _slices(len(seeds), batch):
        latents = latents_for_seeds(seeds[part], G.latent_size)
        columns = [
            to_uint8(_pyramid(G, latents, _rows(labels, part), psi, progress)[-1])
            for psi in psis
        ]
        cells += [column[r] for r in range(len(latents)) for column in columns]
    return image_grid(np.stack(cells), len(psis))
