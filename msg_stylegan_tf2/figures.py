"""Figures from a generator: samples by seed, multi-scale sheets, latent
interpolations, style mixing (paper Fig. 9) and truncation sweeps.

Every function returns uint8 arrays `[H, W, C]` (or a list of frames); the
generator is a `Generator`, `ProGANGenerator` or `SavedModelGenerator`. Noise
inputs use the stored noise, so a figure is a function of its seeds (and
labels); `truncation_psi=None` is none. A conditional generator needs `labels`:
float `[rows, label_size]`, one row per seed or one row for all (see
`class_labels` and `check_labels`).
"""

import numpy as np
import tensorflow as tf

from dnnlib.image_io import image_grid, to_uint8


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


def _pyramid(G, latents, labels, truncation_psi):
    # truncation_psi None means no truncation (psi 1).
    psi = 1.0 if truncation_psi is None else truncation_psi
    images = G(latents, labels, truncation_psi=psi, randomize_noise=False)
    return [np.asarray(tf.cast(x, tf.float32)) for x in images]


def upscale(images, side):
    """Nearest-neighbour upscaling of `[N, r, r, C]` to `[N, side, side, C]`."""
    factor = side // images.shape[1]
    return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def samples(G, seeds, truncation_psi=None, labels=None):
    """Top-resolution samples, uint8 `[len(seeds), R, R, C]`."""
    latents = latents_for_seeds(seeds, G.latent_size)
    labels = check_labels(labels, label_size(G), len(seeds))
    return to_uint8(_pyramid(G, latents, labels, truncation_psi)[-1])


def multiscale_sheet(G, seeds, truncation_psi=None, labels=None):
    """One row per seed, every resolution side by side (4x4 first), each
    upscaled to the full resolution: uint8 `[len(seeds) * R, levels * R, C]`."""
    latents = latents_for_seeds(seeds, G.latent_size)
    labels = check_labels(labels, label_size(G), len(seeds))
    pyramid = _pyramid(G, latents, labels, truncation_psi)
    side = pyramid[-1].shape[1]
    levels = [to_uint8(upscale(level, side)) for level in pyramid]
    rows = [
        np.concatenate([level[i] for level in levels], axis=1)
        for i in range(len(seeds))
    ]
    return np.concatenate(rows, axis=0)


def slerp(a, b, t):
    """Spherical interpolation between latents `a` and `b` (`[D]`)."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_frames(G, seeds, steps=16, truncation_psi=None, labels=None):
    """Frames of a loop through the seeds' latents (slerp), every resolution in
    each frame side by side: list of uint8 `[R, levels * R, C]`. Labels given
    per seed are interpolated linearly along with the latents."""
    keys = latents_for_seeds(list(seeds) + [seeds[0]], G.latent_size)
    key_labels = check_labels(labels, label_size(G), len(seeds))
    pairs = [(i, t / steps) for i in range(len(seeds)) for t in range(steps)]
    latents = np.stack([slerp(keys[i], keys[i + 1], t) for i, t in pairs])
    latents = latents.astype(np.float32)
    if key_labels is not None:
        key_labels = np.concatenate([key_labels, key_labels[:1]])
        labels = np.stack(
            [(1 - t) * key_labels[i] + t * key_labels[i + 1] for i, t in pairs]
        ).astype(np.float32)
    frames = []
    for start in range(0, len(latents), 16):
        batch = slice(start, start + 16)
        batch_labels = None if labels is None else labels[batch]
        pyramid = _pyramid(G, latents[batch], batch_labels, truncation_psi)
        side = pyramid[-1].shape[1]
        levels = [to_uint8(upscale(level, side)) for level in pyramid]
        frames += [
            np.concatenate([lv[i] for lv in levels], axis=1)
            for i in range(len(levels[0]))
        ]
    return frames


def style_mixing(G, row_seeds, col_seeds, mix_layers, truncation_psi=None, labels=None):
    """Paper Fig. 9: each cell takes the styles `mix_layers` from its column's
    seed and the rest from its row's seed. Row 0 shows the column sources and
    column 0 the row sources. Returns a uint8 grid `[(rows+1) R, (cols+1) R, C]`.

    Args:
        G: a `Generator` (styles exist only in MSG-StyleGAN).
        mix_layers: indices of synthesis layers (e.g. range(0, 4) = coarse).
        labels: for a conditional G, one row for all, or one per row seed
            followed by one per column seed.
    """
    if not hasattr(G, "truncate"):
        raise ValueError(
            "Style mixing needs an MSG-StyleGAN generator with its styles (a run "
            "directory, checkpoint or pickle; not MSG-ProGAN or a SavedModel)."
        )
    seeds = list(row_seeds) + list(col_seeds)
    z = latents_for_seeds(seeds, G.latent_size)
    w = G.mapping(z, check_labels(labels, label_size(G), len(seeds)))
    if truncation_psi is not None:
        w = G.truncate(w, truncation_psi, G.truncation_cutoff or G.num_layers)
    w = np.asarray(w)
    rows, cols = w[: len(row_seeds)], w[len(row_seeds) :]

    def synth(dlatents):
        images = G.synthesis(dlatents.astype(np.float32), randomize_noise=False)[-1]
        return to_uint8(np.asarray(tf.cast(images, tf.float32)))

    row_images, col_images = synth(rows), synth(cols)
    side, channels = row_images.shape[1], row_images.shape[3]
    cells = [np.full([side, side, channels], 255, np.uint8), *col_images]
    for r, row_w in enumerate(rows):
        mixed = np.repeat(row_w[np.newaxis], len(cols), axis=0)
        mixed[:, list(mix_layers)] = cols[:, list(mix_layers)]
        cells += [row_images[r], *synth(mixed)]
    return image_grid(np.stack(cells), len(col_seeds) + 1)


def truncation_sweep(G, seeds, psis=(1.0, 0.85, 0.7, 0.5, 0.3, 0.0), labels=None):
    """One row per seed, one column per truncation psi: uint8 grid."""
    latents = latents_for_seeds(seeds, G.latent_size)
    labels = check_labels(labels, label_size(G), len(seeds))
    columns = [to_uint8(_pyramid(G, latents, labels, psi)[-1]) for psi in psis]
    cells = [columns[c][r] for r in range(len(seeds)) for c in range(len(psis))]
    return image_grid(np.stack(cells), len(psis))
