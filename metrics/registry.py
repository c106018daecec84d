"""Metrics by name (`fid50k`, `kid50k`, `is50k`, `swd16k`, `msssim10k`, and any
`<family><N>k`) and how to run them on a generator."""

import numpy as np

from metrics.frechet import fid_from_features
from metrics.inception import InceptionNetwork, softmax
from metrics.inception_score import inception_score
from metrics.kid import kernel_inception_distance
from metrics.ms_ssim import mean_ms_ssim
from metrics.names import INCEPTION_KINDS
from metrics.swd import SWDAccumulator


def generate_uint8(G, count, batch, seed=0, truncation_psi=1.0, labels=None):
    """Yields batches of uint8 `[n, R, R, C]` top-level images from G."""
    rng = np.random.RandomState(seed)
    for start in range(0, count, batch):
        n = min(batch, count - start)
        z = rng.randn(n, G.latent_size).astype(np.float32)
        y = None
        if labels is not None:
            y = labels[rng.randint(0, len(labels), n)]
        images = np.asarray(
            G(z, y, truncation_psi=truncation_psi, randomize_noise=True)[-1]
        )
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


def _evaluate_inception(spec, G, real_batches, batch, seed, psi, labels, network):
    fakes = generate_uint8(G, spec.count, batch, seed, psi, labels)
    fake_features, fake_logits = inception_features(network, fakes, spec.count)
    if spec.kind == "is":
        mean, std = inception_score(softmax(fake_logits))
        return {"is_mean": mean, "is_std": std}
    real_features, _ = inception_features(network, real_batches(), spec.count)
    if spec.kind == "kid":
        return {"kid": kernel_inception_distance(real_features, fake_features)}
    return {"fid": fid_from_features(real_features, fake_features)}


def evaluate(
    spec,
    G,
    real_batches,
    batch=32,
    seed=0,
    truncation_psi=1.0,
    labels=None,
    inception=None,
):
    """Runs one metric.

    Args:
        spec: MetricSpec.
        G: a generator (Gs).
        real_batches: callable returning an iterator of uint8 real batches.
        labels: dataset labels to draw from for conditional G.
        inception: an InceptionNetwork for fid/kid/is (default: loaded from
            the cache or downloaded).

    Returns:
        `{result name: value}`.
    """
    resolution = G.resolution
    if spec.kind in INCEPTION_KINDS:
        network = inception if inception is not None else InceptionNetwork.load()
        return _evaluate_inception(
            spec, G, real_batches, batch, seed, truncation_psi, labels, network
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
