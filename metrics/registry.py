"""The metric families by name: `METRICS[kind](options) -> {result name: value}`.

A metric sees images only, uint8 `[N, R, R, C]` batches from two callables in its
`MetricOptions`, so it needs no network type of the model it measures.
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable, Iterator

import numpy as np

from metrics import inception_score as is_math
from metrics.frechet import feature_statistics, frechet_distance
from metrics.inception import InceptionNetwork, softmax
from metrics.kid import kernel_inception_distance
from metrics.ms_ssim import mean_ms_ssim_of_stream
from metrics.swd import SWDAccumulator

# (count, batch) -> iterator of uint8 [n, R, R, C], `count` images in all.
Generate = Callable[[int, int], Iterator[np.ndarray]]


@dataclasses.dataclass(frozen=True)
class MetricOptions:
    """What one metric measures, and with what.

    Attributes:
        generate: `generate(count, batch)` -> iterator of uint8 `[n, R, R, C]`
            generated images, `count` in all, at most `batch` at a time; the
            same images for the same arguments.
        real_batches: `real_batches()` -> a fresh iterator of uint8
            `[n, R, R, C]` real images that lasts as long as it is read.
        count: images (pairs for msssim) to measure; None only in a template
            that `evaluate` completes from a `MetricSpec`.
        batch: images generated at a time.
        seed: seeds SWD's neighbourhoods and directions.
        inception: an `InceptionNetwork` for fid, kid and is (None: load the
            cached copy, else download it).
        stats_dir: where FID real statistics are cached (None: not cached).
        reals_key: the reals' identity (file, size, time, options), part of
            the cached statistics' name (None: not cached).
    """

    generate: Generate
    real_batches: Callable[[], Iterator[np.ndarray]]
    count: int | None = None
    batch: int = 32
    seed: int = 0
    inception: InceptionNetwork | None = None
    stats_dir: str | os.PathLike | None = None
    reals_key: str | None = None

    def __post_init__(self):
        if self.count is not None and self.count < 1:
            raise ValueError(f"`count` must be >= 1. Received: {self.count}")
        if self.batch < 1:
            raise ValueError(f"`batch` must be >= 1. Received: {self.batch}")


METRICS: dict[str, Callable[[MetricOptions], dict[str, float]]] = {}


def register_metric(kind: str):
    """Decorator: files `fn(options) -> {result name: value}` under `kind`."""

    def register(fn):
        if kind in METRICS:
            raise ValueError(f"Metric family {kind!r} is registered twice.")
        METRICS[kind] = fn
        return fn

    return register


def evaluate(spec, options: MetricOptions) -> dict[str, float]:
    """Runs one metric: `METRICS[spec.kind]` on `options` with `spec.count`.

    Args:
        spec: a `MetricSpec` (`metrics.names.parse_metric`).
        options: `MetricOptions`; its `count` is replaced by `spec.count`.

    Returns:
        `{result name: value}`.
    """
    return METRICS[spec.kind](dataclasses.replace(options, count=spec.count))


def inception_features(network, batches, count):
    """Features `[count, F]` and logits `[count, K]` of the first `count` images
    of an iterator of uint8 `[n, R, R, C]` batches."""
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
    """FID statistics `(mu [F], sigma [F, F])` of `count` reals, cached at
    `cache_path`."""
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


def _network(options):
    if options.inception is not None:
        return options.inception
    return InceptionNetwork.load()


def _fake_features(options, network):
    fakes = options.generate(options.count, options.batch)
    return inception_features(network, fakes, options.count)


@register_metric("fid")
def fid(options: MetricOptions) -> dict[str, float]:
    """Frechet Inception Distance: `{"fid": ...}`."""
    network = _network(options)
    cache_path = None
    if options.stats_dir is not None and options.reals_key is not None:
        name = f"{options.reals_key}-{network.identity}-{options.count}.npz"
        cache_path = pathlib.Path(options.stats_dir) / name
    fake_features, _ = _fake_features(options, network)
    mu, sigma = real_statistics(
        network, options.real_batches, options.count, cache_path
    )
    return {"fid": frechet_distance(mu, sigma, *feature_statistics(fake_features))}


@register_metric("kid")
def kid(options: MetricOptions) -> dict[str, float]:
    """Kernel Inception Distance: `{"kid": ...}`."""
    network = _network(options)
    fake_features, _ = _fake_features(options, network)
    real_features, _ = inception_features(
        network, options.real_batches(), options.count
    )
    return {"kid": kernel_inception_distance(real_features, fake_features)}


@register_metric("is")
def inception_score(options: MetricOptions) -> dict[str, float]:
    """Inception Score of generated images: `{"is_mean": ..., "is_std": ...}`."""
    _, fake_logits = _fake_features(options, _network(options))
    mean, std = is_math.inception_score(softmax(fake_logits))
    return {"is_mean": mean, "is_std": std}


@register_metric("swd")
def swd(options: MetricOptions) -> dict[str, float]:
    """ProGAN's sliced Wasserstein distance, x 1e3, per level and averaged:
    `{"swd_<R>": ..., ..., "swd_16": ..., "swd_avg": ...}`. The side R and the
    channels are the reals'."""
    accumulator = None
    for images in options.real_batches():
        if accumulator is None:
            _, side, _, channels = images.shape
            accumulator = SWDAccumulator(side, channels, seed=options.seed)
        accumulator.add_reals(images[: options.count - accumulator.num_reals])
        if accumulator.num_reals >= options.count:
            break
    if accumulator is None:
        raise ValueError("swd: `real_batches()` yielded no images.")
    for images in options.generate(accumulator.num_reals, options.batch):
        accumulator.add_fakes(images)
    return accumulator.result()


@register_metric("msssim")
def ms_ssim(options: MetricOptions) -> dict[str, float]:
    """Mean MS-SSIM over `count` pairs of generated images (ProGAN's diversity
    measure), consecutive images paired batch by batch: `{"msssim": ...}`."""
    batches = options.generate(2 * options.count, options.batch)
    return {"msssim": mean_ms_ssim_of_stream(batches, options.count)}
