"""Metrics by name (`fid50k`, `kid50k`, `is50k`, `swd16k`, `msssim10k`, and any
`<family><N>k`) and how to run them on a generator."""

import os
import pathlib

import numpy as np
import tensorflow as tf

from metrics.frechet import feature_statistics, frechet_distance
from metrics.inception import InceptionNetwork, softmax
from metrics.inception_score import inception_score
from metrics.kid import kernel_inception_distance
from metrics.ms_ssim import mean_ms_ssim
from metrics.names import INCEPTION_KINDS
from metrics.swd import SWDAccumulator


def generate_uint8(G, count, batch, seed=0, truncation_psi=1.0, labels=None):
    """Yields batches of uint8 `[n, R, R, C]` top-level images from G.

    Latents, labels and noise inputs depend on `seed` only, so a metric repeats.
    """
    rng = np.random.RandomState(seed)
    for start in range(0, count, batch):
        n = min(batch, count - start)
        z = rng.randn(n, G.latent_size).astype(np.float32)
        y = None
        if labels is not None:
            y = labels[rng.randint(0, len(labels), n)]
        # Fresh noise per image, drawn from (seed, batch) so results repeat.
        noise_seed = tf.constant([seed, start], tf.int64)
        pyramid = G(z, y, truncation_psi=truncation_psi, noise_seed=noise_seed)
        images = np.asarray(tf.cast(pyramid[-1], tf.float32))
        yield np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def inception_features(network, batches, count):
    """Features and logits of the first `count` images of an iterator of batches."""
    features, logits, seen = [], [], 0
    for images in batches:
        f, z = network(images[: count - seen])
        features.append(f)
        logits.append(z)
        seen += len(f)
        if seen >= count:
            break
    return np.concatenate(features), np.concatenate(logits)


def real_statistics(network, real_batches, count, cache_path=None):
    """FID statistics `(mu, sigma)` of `count` reals, cached at `cache_path`."""
    if cache_path is not None and pathlib.Path(cache_path).is_file():
        with np.load(cache_path) as cached:
            return cached["mu"], cached["sigma"]
    features, _ = inception_features(network, real_batches(), count)
    mu, sigma = feature_statistics(features)
    if cache_path is not None:
        path = pathlib.Path(cache_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
        np.savez(tmp, mu=mu, sigma=sigma)
        os.replace(tmp, path)
    return mu, sigma


def _evaluate_inception(
    spec, G, real_batches, batch, seed, psi, labels, network, stats_path
):
    fakes = generate_uint8(G, spec.count, batch, seed, psi, labels)
    fake_features, fake_logits = inception_features(network, fakes, spec.count)
    if spec.kind == "is":
        mean, std = inception_score(softmax(fake_logits))
        return {"is_mean": mean, "is_std": std}
    if spec.kind == "kid":
        real_features, _ = inception_features(network, real_batches(), spec.count)
        return {"kid": kernel_inception_distance(real_features, fake_features)}
    mu, sigma = real_statistics(network, real_batches, spec.count, stats_path)
    return {"fid": frechet_distance(mu, sigma, *feature_statistics(fake_features))}


def evaluate(
    spec,
    G,
    real_batches,
    batch=32,
    seed=0,
    truncation_psi=1.0,
    labels=None,
    inception=None,
    stats_dir=None,
    dataset_key=None,
):
    """Runs one metric.

    Args:
        spec: MetricSpec.
        G: a generator (Gs).
        real_batches: callable returning an iterator of uint8 real batches.
        labels: dataset labels to draw from for conditional G.
        inception: an InceptionNetwork for fid/kid/is (default: loaded from
            the cache or downloaded).
        stats_dir, dataset_key: where FID real statistics are cached, and the
            reals' identity (dataset file, size, time, options).

    Returns:
        `{result name: value}`.
    """
    resolution = G.resolution
    if spec.kind in INCEPTION_KINDS:
        network = inception if inception is not None else InceptionNetwork.load()
        stats_path = None
        if stats_dir is not None and dataset_key is not None:
            name = f"{dataset_key}-{network.identity}-{spec.count}.npz"
            stats_path = pathlib.Path(stats_dir) / name
        return _evaluate_inception(
            spec,
            G,
            real_batches,
            batch,
            seed,
            truncation_psi,
            labels,
            network,
            stats_path,
        )
    if spec.kind == "swd":
        swd = SWDAccumulator(resolution, image_channels(G), seed=seed)
        for images in real_batches():
            swd.add_reals(images[: spec.count - swd.num_reals])
            if swd.num_reals >= spec.count:
                break
        count = swd.num_reals
        for images in generate_uint8(G, count, batch, seed, truncation_psi, labels):
            swd.add_fakes(images)
        return swd.result()
    # MS-SSIM over pairs of generated images (ProGAN's diversity measure).
    images = np.concatenate(
        list(generate_uint8(G, 2 * spec.count, batch, seed, truncation_psi, labels))
    )
    return {"msssim": mean_ms_ssim(images, spec.count, seed=seed)}


def image_channels(G):
    """The number of image channels a generator emits."""
    config = G.get_config()
    return int(config["num_channels"])
