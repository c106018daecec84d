"""Figures from a generator: samples by seed, multi-scale sheets, latent
interpolations, style mixing (paper Fig. 9) and truncation sweeps; the same
from given w (`Dlatents`, e.g. a projection's `projected_w.npz`).

Every function returns uint8 arrays `[H, W, C]` (or a list of frames); the
generator is a `Generator`, `ProGANGenerator` or `SavedModelGenerator` (the
`w_*` figures need a `Generator`: its W); `truncation_psi=None` is none. A
conditional generator needs `labels`: float `[rows, label_size]`, one row per
seed or one row for all (see `class_labels` and `check_labels`); a w already
holds its label.

G runs on at most `batch` images at a time, so memory is bounded by `batch`
(and by the figure itself); `progress(n)`, if given, is called after each
forward pass of `n` images. An image does not depend on `batch`: its latent
comes from its seed alone, and the noise inputs are the stored noise
(`randomize_noise=False`), the same for every image, or a `Dlatents` image's
own noise maps. Only float rounding may differ between batch sizes (kernels
such as Eigen's vectorised rsqrt round an element differently by its position
in the tensor): at most one uint8 level on a few pixels.
"""

import numpy as np
import tensorflow as tf

from dnnlib.image_io import image_grid, to_uint8
from msg_stylegan_tf2.choices import GENERATE_BATCH
from msg_stylegan_tf2.formats.dlatents import Dlatents, needs_w


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


def truncate_w(G, w, truncation_psi):
    """`w` `[n, num_layers, dlatent_size]` truncated as G's call truncates its
    mapped w: the first `G.truncation_cutoff` layers moved towards
    `G.dlatent_avg` by `truncation_psi`; unchanged for psi None or 1, or for
    a cutoff of None or 0."""
    cutoff = G.truncation_cutoff
    if truncation_psi is None or truncation_psi == 1 or not cutoff or cutoff <= 0:
        return w
    w = tf.constant(w, tf.float32)
    return np.asarray(G.truncate(w, truncation_psi, cutoff))


def _stored_noise(G):
    return tuple(
        np.asarray(epilogue.noise.noise)
        for epilogue in G.synthesis.epilogues
        if epilogue.noise is not None
    )


def _noise_argument(G, noise):
    # G.synthesis's `noise` for images with these maps (None: stored noise).
    if all(maps is None for maps in noise):
        return None
    stored = _stored_noise(G)
    return [
        np.concatenate([stored[i] if maps is None else maps[i] for maps in noise])
        for i in range(len(stored))
    ]


def _latent_images(G, inputs):
    # Renders G(latents, labels) for `inputs(part) -> (latents, labels)`.
    def render(part, truncation_psi):
        latents, labels = inputs(part)
        psi = 1.0 if truncation_psi is None else truncation_psi
        return G(latents, labels, truncation_psi=psi, randomize_noise=False)

    return render


def _w_images(G, inputs):
    # Renders G.synthesis for `inputs(part) -> Dlatents`, truncated as G's call.
    def render(part, truncation_psi):
        dlatents = inputs(part)
        w = truncate_w(G, dlatents.w, truncation_psi)
        noise = _noise_argument(G, dlatents.noise)
        return G.synthesis(w, randomize_noise=False, noise=noise)

    return render


def _seed_images(G, seeds, labels):
    # (render, count) of the seeds' latents and their label rows.
    seeds = list(seeds)
    labels = check_labels(labels, label_size(G), len(seeds))

    def inputs(part):
        return latents_for_seeds(seeds[part], G.latent_size), _rows(labels, part)

    return _latent_images(G, inputs), len(seeds)


def _pyramid(render, part, truncation_psi, progress=None):
    # Every figure's one forward pass: float32 numpy levels, 4x4 first.
    images = [np.asarray(tf.cast(x, tf.float32)) for x in render(part, truncation_psi)]
    if progress is not None:
        progress(len(images[0]))
    return images


def _iter_tops(render, count, truncation_psi, batch, progress):
    # uint8 `[n, R, R, C]` top levels of `count` images, `batch` at a time.
    for part in _slices(count, batch):
        yield to_uint8(_pyramid(render, part, truncation_psi, progress)[-1])


def _iter_multiscale_rows(render, count, truncation_psi, batch, progress):
    # Each image's levels side by side, `batch` images at a time.
    for part in _slices(count, batch):
        pyramid = _pyramid(render, part, truncation_psi, progress)
        side = pyramid[-1].shape[1]
        levels = [to_uint8(upscale(level, side)) for level in pyramid]
        for i in range(len(levels[0])):
            yield np.concatenate([level[i] for level in levels], axis=1)


def _sweep(render, count, psis, batch, progress):
    # One row per image, one column per psi.
    cells = []
    for part in _slices(count, batch):
        columns = [to_uint8(_pyramid(render, part, psi, progress)[-1]) for psi in psis]
        cells += [column[r] for r in range(len(columns[0])) for column in columns]
    return image_grid(np.stack(cells), len(psis))


def upscale(images, side):
    """Nearest-neighbour upscaling of `[N, r, r, C]` to `[N, side, side, C]`."""
    factor = side // images.shape[1]
    return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def iter_samples(
    G, seeds, truncation_psi=None, labels=None, batch=GENERATE_BATCH, progress=None
):
    """Top-resolution samples, batch by batch: yields uint8 `[n, R, R, C]` for
    each run of at most `batch` seeds, in the order of `seeds`."""
    render, count = _seed_images(G, seeds, labels)
    yield from _iter_tops(render, count, truncation_psi, batch, progress)


def samples(
    G, seeds, truncation_psi=None, labels=None, batch=GENERATE_BATCH, progress=None
):
    """Top-resolution samples, uint8 `[len(seeds), R, R, C]`."""
    return np.concatenate(
        list(iter_samples(G, seeds, truncation_psi, labels, batch, progress))
    )


def iter_w_samples(
    G, dlatents, truncation_psi=None, batch=GENERATE_BATCH, progress=None
):
    """`iter_samples` of the images of `dlatents` (a `Dlatents`), each with its
    own noise maps: yields uint8 `[n, R, R, C]`, `batch` images at a time."""
    needs_w(G, "Images from w")
    render = _w_images(G, dlatents.__getitem__)
    yield from _iter_tops(render, len(dlatents), truncation_psi, batch, progress)


def multiscale_sheet(
    G, seeds, truncation_psi=None, labels=None, batch=GENERATE_BATCH, progress=None
):
    """One row per seed, every resolution side by side (4x4 first), each
    upscaled to the full resolution: uint8 `[len(seeds) * R, levels * R, C]`."""
    render, count = _seed_images(G, seeds, labels)
    rows = _iter_multiscale_rows(render, count, truncation_psi, batch, progress)
    return np.concatenate(list(rows), axis=0)


def w_multiscale_sheet(
    G, dlatents, truncation_psi=None, batch=GENERATE_BATCH, progress=None
):
    """`multiscale_sheet` of the images of `dlatents`, one row each."""
    needs_w(G, "Images from w")
    render = _w_images(G, dlatents.__getitem__)
    rows = _iter_multiscale_rows(render, len(dlatents), truncation_psi, batch, progress)
    return np.concatenate(list(rows), axis=0)


def slerp(a, b, t):
    """Spherical interpolation between latents `a` and `b` (`[D]`)."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def _loop(keys, steps, blend=None):
    # `steps` frames from each key towards the next (the last towards the
    # first): `(count, frames(part))`, frames float32 blends (linear default).
    keys = np.concatenate([keys, keys[:1]])
    pairs = [(i, t / steps) for i in range(len(keys) - 1) for t in range(steps)]
    blend = blend or (lambda a, b, t: (1 - t) * a + t * b)

    def frames(part):
        rows = [blend(keys[i], keys[i + 1], t) for i, t in pairs[part]]
        return np.stack(rows).astype(np.float32)

    return len(pairs), frames


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
    keys = latents_for_seeds(list(seeds), G.latent_size)
    count, latents = _loop(keys, steps, slerp)
    key_labels = check_labels(labels, label_size(G), len(seeds))
    frame_labels = None if key_labels is None else _loop(key_labels, steps)[1]

    def inputs(part):
        return latents(part), None if frame_labels is None else frame_labels(part)

    render = _latent_images(G, inputs)
    yield from _iter_multiscale_rows(render, count, truncation_psi, batch, progress)


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


def iter_w_interpolation_frames(
    G, dlatents, steps=16, truncation_psi=None, batch=GENERATE_BATCH, progress=None
):
    """`iter_interpolation_frames` through the w of `dlatents` in order,
    linear in W, with the stored noise: `len(dlatents) * steps` frames."""
    needs_w(G, "Interpolation in W")
    count, w = _loop(dlatents.w, steps)
    render = _w_images(G, lambda part: Dlatents(w(part)))
    yield from _iter_multiscale_rows(render, count, truncation_psi, batch, progress)


def seed_dlatents(G, seeds, labels=None, batch=GENERATE_BATCH):
    """The mapped (untruncated) w of `seeds`, with the stored noise: a
    `Dlatents` of `len(seeds)` images, mapped `batch` at a time."""
    needs_w(G, "Mapping seeds to w")
    seeds = list(seeds)
    labels = check_labels(labels, label_size(G), len(seeds))
    w = []
    for part in _slices(len(seeds), batch):
        latents = latents_for_seeds(seeds[part], G.latent_size)
        dlatents = G.mapping(latents, _rows(labels, part))
        w.append(np.asarray(tf.cast(dlatents, tf.float32)))
    return Dlatents(np.concatenate(w))


def check_mix_layers(G, mix_layers):
    """The sorted style layers of `mix_layers`; ValueError naming those that
    G does not have."""
    layers = sorted({int(layer) for layer in mix_layers})
    outside = [layer for layer in layers if not 0 <= layer < G.num_layers]
    if outside:
        raise ValueError(
            f"style layers must be within 0-{G.num_layers - 1} (this generator "
            f"has {G.num_layers}). Received: {outside}"
        )
    return layers


def _mixed_noise(G, row_maps, col_maps, layers):
    # The cell's noise: each synthesis layer's from the source of its style.
    if row_maps is None and col_maps is None:
        return None
    row_maps, col_maps = row_maps or _stored_noise(G), col_maps or _stored_noise(G)
    style = (lambda i: i) if G.synthesis.use_styles else (lambda i: 0)
    return tuple(
        (col_maps if style(i) in layers else row_maps)[i] for i in range(len(row_maps))
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
    needs_w(G, "Style mixing")
    w = seed_dlatents(G, list(row_seeds) + list(col_seeds), labels, batch)
    rows, cols = w[: len(row_seeds)], w[len(row_seeds) :]
    return w_style_mixing(G, rows, cols, mix_layers, truncation_psi, batch, progress)


def w_style_mixing(
    G,
    rows,
    cols,
    mix_layers,
    truncation_psi=None,
    batch=GENERATE_BATCH,
    progress=None,
):
    """`style_mixing` of the images of `rows` and `cols` (each a `Dlatents`):
    the cell (r, c) is row r's w with column c's at `mix_layers`, and the
    noise maps of those layers the column's, the others the row's."""
    needs_w(G, "Style mixing")
    layers = check_mix_layers(G, mix_layers)
    sources = Dlatents.concat([rows, cols])
    count = len(sources) + len(rows) * len(cols)

    def inputs(part):
        w, noise = [], []
        for i in range(count)[part]:
            if i < len(sources):
                w.append(sources.w[i])
                noise.append(sources.noise[i])
                continue
            r, c = divmod(i - len(sources), len(cols))
            w.append(rows.w[r].copy())
            w[-1][layers] = cols.w[c][layers]
            noise.append(_mixed_noise(G, rows.noise[r], cols.noise[c], layers))
        return Dlatents(np.stack(w), noise)

    render = _w_images(G, inputs)
    images = list(_iter_tops(render, count, truncation_psi, batch, progress))
    images = np.concatenate(images)
    row_images, col_images = images[: len(rows)], images[len(rows) : len(sources)]
    cell_images = images[len(sources) :]
    side, channels = row_images.shape[1], row_images.shape[3]
    cells = [np.full([side, side, channels], 255, np.uint8), *col_images]
    for r in range(len(rows)):
        cells += [row_images[r], *cell_images[r * len(cols) : (r + 1) * len(cols)]]
    return image_grid(np.stack(cells), len(cols) + 1)


def truncation_sweep(
    G,
    seeds,
    psis=(1.0, 0.85, 0.7, 0.5, 0.3, 0.0),
    labels=None,
    batch=GENERATE_BATCH,
    progress=None,
):
    """One row per seed, one column per truncation psi: uint8 grid."""
    render, count = _seed_images(G, seeds, labels)
    return _sweep(render, count, psis, batch, progress)


def w_truncation_sweep(
    G,
    dlatents,
    psis=(1.0, 0.85, 0.7, 0.5, 0.3, 0.0),
    batch=GENERATE_BATCH,
    progress=None,
):
    """`truncation_sweep` of the images of `dlatents`, one row each."""
    needs_w(G, "Truncation of w")
    render = _w_images(G, dlatents.__getitem__)
    return _sweep(render, len(dlatents), psis, batch, progress)
