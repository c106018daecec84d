"""The demo quality numbers (see demo_quality.py) of images and of a run's
Gs: border whiteness, pairwise diversity, pyramid agreement, SWD."""

import json

import numpy as np


def border_white(images):
    """images: float [N, R, R, C] in [0, 1]."""
    white = np.all(images >= 230 / 255, axis=-1)
    mask = np.ones(white.shape[1:], bool)
    mask[3:-3, 3:-3] = False
    return float(white[:, mask].mean())


def pairwise_rms(images):
    flat = images.reshape(len(images), -1)
    sq = (flat**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * flat @ flat.T, 0) / flat.shape[1]
    upper = np.triu_indices(len(images), 1)
    return float(np.sqrt(d2[upper]).mean())


def dataset_images(run, max_images=None):
    """A run's training images in file order, uint8 `[N, R, R, C]` (as
    train.py converted them)."""
    from datasets.reader import describe, make_dataset
    from msg_stylegan_tf2.formats.run_options import read_run_options

    info = describe(read_run_options(run).dataset)
    data = make_dataset(
        info, 1, shuffle=False, repeat=False, max_images=max_images, cache_mb=0
    )
    return np.concatenate([images.numpy() for images, _ in data])


def gs_samples(G, count, seed=123):
    """The top two levels of G's samples (psi 1, fixed noise) in [0, 1], as
    saved: `(top [count, R, R, C], below [count, R/2, R/2, C])`."""
    latents = np.random.RandomState(seed).randn(count, G.latent_size)
    tops, belows = [], []
    for start in range(0, count, 256):
        batch = latents[start : start + 256].astype(np.float32)
        pyramid = G(batch, truncation_psi=1.0, randomize_noise=False)
        tops.append(np.clip((np.asarray(pyramid[-1]) + 1) / 2, 0, 1))
        belows.append(np.clip((np.asarray(pyramid[-2]) + 1) / 2, 0, 1))
    return np.concatenate(tops), np.concatenate(belows)


def pyramid_rms(top, below):
    """RMS between the 2x2-pooled top level and the level below it."""
    n, side = top.shape[:2]
    pooled = top.reshape(n, side // 2, 2, side // 2, 2, -1).mean(axis=(2, 4))
    return float(np.sqrt(np.mean((pooled - below) ** 2)))


def measure(run, reals):
    """Quality numbers of a run's final Gs against `reals` (uint8)."""
    from metrics.swd import sliced_wasserstein_distance
    from msg_stylegan_tf2.formats.network_run import load_generator

    G, _, _ = load_generator(run)
    top, below = gs_samples(G, len(reals))
    fakes = np.round(top * 255).astype(np.uint8)
    stats = stats_of(top)
    stats["pyramid_rms"] = pyramid_rms(top, below)
    stats["swd"] = sliced_wasserstein_distance(reals, fakes)["swd_avg"]
    return stats


def stats_of(images):
    """border_white and pairwise_rms of 256 of float `images` in [0, 1]
    (as demo_quality.py), drawn with a fixed seed when there are more."""
    if len(images) > 256:
        rows = np.random.RandomState(0).choice(len(images), 256, replace=False)
        images = images[np.sort(rows)]
    return {
        "border_white": border_white(images),
        "pairwise_rms": pairwise_rms(images),
    }


def last_stats(run):
    """The means of the last record of a run's stats.jsonl (`{name: mean}`)."""
    record = json.loads((run / "stats.jsonl").read_text().splitlines()[-1])
    record.pop("timestamp")
    return {name: entry["mean"] for name, entry in record.items()}
