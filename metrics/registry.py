"""The metric families by name: `METRICS[kind](options) -> {result name: value}`,
with the families that `metrics.names.FAMILIES` lists.

A metric sees images only, uint8 `[N, R, R, C]` batches from callables in its
`MetricOptions`, so it needs no network type of the model it measures; PPL
alone sees the generator, as two callables (`metrics.ppl.StyleGenerator`).
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import tensorflow as tf

from metrics import inception_score as is_math
from metrics import ppl as ppl_math
from metrics.feature_moments import FeatureMoments
from metrics.frechet import feature_statistics, frechet_distance
from metrics.inception import InceptionNetwork, softmax
from metrics.kid import kernel_inception_distance
from metrics.ms_ssim import mean_ms_ssim_of_stream
from metrics.names import FAMILIES, load
from metrics.precision_recall import NHOOD_SIZE, precision_recall
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
        all_reals: `all_reals()` -> a fresh iterator of uint8 `[n, R, R, C]`
            batches holding every real image exactly once (not mirrored), for
            fid_full and pr (None: those refuse to run).
        all_reals_key: the identity of `all_reals` in the statistics cache
            (None: fid_full's statistics are not cached).
        generator: a `metrics.ppl.StyleGenerator` for ppl (None: ppl refuses).
        vgg16: `vgg16()` -> torchvision's VGG16 state dict `{name: array}`,
            for pr and ppl (None: the cached file, else one download).
        ppl_crop: ppl on NVIDIA's face crop (rows 3/8 to 7/8, columns 2/8 to
            6/8); its result is then named `ppl_crop`.
    """

    generate: Generate
    real_batches: Callable[[], Iterator[np.ndarray]]
    count: int | None = None
    batch: int = 32
    seed: int = 0
    inception: InceptionNetwork | None = None
    stats_dir: str | os.PathLike | None = None
    reals_key: str | None = None
    all_reals: Callable[[], Iterator[np.ndarray]] | None = None
    all_reals_key: str | None = None
    generator: ppl_math.StyleGenerator | None = None
    vgg16: Callable[[], Mapping[str, np.ndarray]] | None = None
    ppl_crop: bool = False

    def __post_init__(self):
        if self.count is not None and self.count < 1:
            raise ValueError(f"`count` must be >= 1. Received: {self.count}")
        if self.batch < 1:
            raise ValueError(f"`batch` must be >= 1. Received: {self.batch}")


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

    def compute():
        features, _ = inception_features(network, real_batches(), count)
        return feature_statistics(features)

    return _cached_statistics(cache_path, compute)


def all_real_statistics(network, all_reals, cache_path=None):
    """FID statistics `(mu [F], sigma [F, F])` of every image `all_reals()`
    yields, each once, in memory independent of their number; cached at
    `cache_path`."""

    def compute():
        moments = FeatureMoments()
        for images in all_reals():
            moments.add(network(images)[0])
        return moments.statistics()

    return _cached_statistics(cache_path, compute)


def _cached_statistics(cache_path, compute):
    if cache_path is not None and pathlib.Path(cache_path).is_file():
        with np.load(cache_path) as cached:
            return cached["mu"], cached["sigma"]
    mu, sigma = compute()
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


def kid(options: MetricOptions) -> dict[str, float]:
    """Kernel Inception Distance: `{"kid": ...}`."""
    network = _network(options)
    fake_features, _ = _fake_features(options, network)
    real_features, _ = inception_features(
        network, options.real_batches(), options.count
    )
    return {"kid": kernel_inception_distance(real_features, fake_features)}


def inception_score(options: MetricOptions) -> dict[str, float]:
    """Inception Score of generated images: `{"is_mean": ..., "is_std": ...}`."""
    _, fake_logits = _fake_features(options, _network(options))
    mean, std = is_math.inception_score(softmax(fake_logits))
    return {"is_mean": mean, "is_std": std}


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


def ms_ssim(options: MetricOptions) -> dict[str, float]:
    """Mean MS-SSIM over `count` pairs of generated images (ProGAN's diversity
    measure), consecutive images paired batch by batch: `{"msssim": ...}`."""
    batches = options.generate(2 * options.count, options.batch)
    return {"msssim": mean_ms_ssim_of_stream(batches, options.count)}


def fid_full(options: MetricOptions) -> dict[str, float]:
    """FID of `count` generated images against every real image, each counted
    once (`all_reals`; stylegan2-ada's `fid50k_full`): `{"fid": ...}`."""
    if options.all_reals is None:
        raise ValueError("fid_full needs `all_reals`: every real image once.")
    network = _network(options)
    cache_path = None
    if options.stats_dir is not None and options.all_reals_key is not None:
        name = f"{options.all_reals_key}-{network.identity}-all.npz"
        cache_path = pathlib.Path(options.stats_dir) / name
    fake_features, _ = _fake_features(options, network)
    mu, sigma = all_real_statistics(network, options.all_reals, cache_path)
    return {"fid": frechet_distance(mu, sigma, *feature_statistics(fake_features))}


def _vgg16_state_dict(options):
    if options.vgg16 is not None:
        return options.vgg16()
    # Import lazily: only these metrics read torch files.
    from dnnlib.torch_checkpoint import load_state_dict
    from metrics.vgg16 import vgg16_file

    return load_state_dict(vgg16_file())


def pr(options: MetricOptions) -> dict[str, float]:
    """Improved precision and recall (k = 3) of `count` generated images
    against the first `count` of `all_reals` (all of them if fewer), on VGG16
    fc2 features (stylegan2-ada's `pr50k3`): `{"precision": ..., "recall": ...}`.
    """
    from metrics.vgg16_features import VGG16Features, vgg16_features_of

    if options.all_reals is None:
        raise ValueError("pr needs `all_reals`: every real image once.")
    network = VGG16Features(_vgg16_state_dict(options))
    fakes = options.generate(options.count, options.batch)
    fake_features = vgg16_features_of(network, fakes, options.count)
    real_features = vgg16_features_of(network, options.all_reals(), options.count)
    precision, recall = precision_recall(real_features, fake_features, NHOOD_SIZE)
    return {"precision": precision, "recall": recall}


def _ppl_metric(space, sampling):
    kind = f"ppl_{space}{sampling}"

    def metric(options: MetricOptions) -> dict[str, float]:
        from metrics.lpips import LPIPS, MIN_SIZE, load_lin_weights

        generator = options.generator
        if generator is None:
            raise ValueError(
                f"{kind} needs the generator's mapping and synthesis (`generator`)."
            )
        side = ppl_math.prepared_side(generator.resolution, options.ppl_crop)
        if side < MIN_SIZE:
            crop = " after the face crop" if options.ppl_crop else ""
            raise ValueError(
                f"{kind}: the images are {side}x{side}{crop}; LPIPS needs at "
                f"least {MIN_SIZE}x{MIN_SIZE}."
            )
        lpips = LPIPS.from_state_dicts(_vgg16_state_dict(options), load_lin_weights())
        lengths = ppl_math.path_lengths(
            generator,
            tf.function(lpips.__call__, reduce_retracing=True),
            options.count,
            space,
            sampling,
            crop=options.ppl_crop,
            batch=options.batch,
            seed=options.seed,
        )
        key = "ppl_crop" if options.ppl_crop else "ppl"
        return {key: ppl_math.filtered_mean(lengths)}

    metric.__name__ = metric.__qualname__ = kind
    metric.__doc__ = (
        f"Perceptual path length, {'slerp in Z' if space == 'z' else 'lerp in W'}, "
        f"{'t in [0, 1)' if sampling == 'full' else 't = 0'}, LPIPS (VGG16), over "
        f'`count` samples (stylegan2-ada\'s `{kind}`): `{{"ppl": ...}}`, or '
        '`{"ppl_crop": ...}` with `ppl_crop`.'
    )
    return metric


ppl_zfull = _ppl_metric("z", "full")
ppl_wfull = _ppl_metric("w", "full")
ppl_zend = _ppl_metric("z", "end")
ppl_wend = _ppl_metric("w", "end")

# Each family by its name, derived from `metrics.names.FAMILIES`, which says
# which function above measures it.
METRICS: dict[str, Callable[[MetricOptions], dict[str, float]]] = {
    kind: load(kind) for kind in FAMILIES
}
