"""Metrics by name (`swd16k`, `msssim10k`, `swd<N>k` ...) and how to run them on a
generator. FID, KID and IS join once the Inception network loader lands."""

import dataclasses
import re

import numpy as np

from metrics.ms_ssim import mean_ms_ssim
from metrics.swd import SWDAccumulator

_PATTERN = re.compile(r"^(swd|msssim)(\d+)k$")


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A metric family and its image (or pair) count."""

    name: str
    kind: str
    count: int


def parse_metric(name):
    """`swd16k` -> MetricSpec("swd16k", "swd", 16384); raises ValueError otherwise.

    `<N>k` means N * 1024 images, as ProGAN's `swd16k` (16,384 images).
    """
    match = _PATTERN.match(name)
    if not match:
        raise ValueError(
            f"Unknown metric {name!r}: available are swd<N>k (e.g. swd16k) and "
            "msssim<N>k (e.g. msssim10k); fid, kid and is are not available yet."
        )
    return MetricSpec(name, match.group(1), int(match.group(2)) * 1024)


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


def evaluate(spec, G, real_batches, batch=32, seed=0, truncation_psi=1.0, labels=None):
    """Runs one metric.

    Args:
        spec: MetricSpec.
        G: a generator (Gs).
        real_batches: callable returning an iterator of uint8 real batches.
        labels: dataset labels to draw from for conditional G.

    Returns:
        `{result name: value}`.
    """
    resolution = G.resolution
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
