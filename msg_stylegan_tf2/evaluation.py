"""Measuring generators with `metrics`: a run directory, checkpoint or pickle
(`run_metrics.py`), and the trainer's evaluation callback.

This module joins the layers: it knows the generator and the datasets, and
hands the metrics nothing but callables that yield uint8 images.
"""

import dataclasses
import functools
import hashlib
import pathlib
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from datasets.reader import describe, make_dataset
from metrics.inception import InceptionNetwork, default_cache_dir
from metrics.names import INCEPTION_KINDS, parse_metric
from metrics.registry import MetricOptions
from metrics.runner import evaluate_and_record
from msg_stylegan_tf2.choices import GENERATE_BATCH
from msg_stylegan_tf2.training.snapshot import load_generator


def generate_uint8(G, count, batch, seed=0, truncation_psi=1.0, labels=None):
    """Yields batches of at most `batch` uint8 `[n, R, R, C]` top-level images.

    Image i's latent, label and noise inputs depend on `(seed, i)` alone: a
    metric repeats, and lowering `batch` (to fit in memory) changes no image
    beyond float rounding. Latents are one standard-normal stream from `seed`,
    labels are drawn from `labels` rows by a second stream, and the noise is
    drawn per image from the seed `[seed, i]`.
    """
    latent_rng = np.random.RandomState(seed)
    label_rng = np.random.RandomState([seed, 1])
    forward = tf.function(
        lambda z, y, s: G(z, y, truncation_psi=truncation_psi, noise_seed=s)[-1],
        reduce_retracing=True,
    )
    for start in range(0, count, batch):
        n = min(batch, count - start)
        z = latent_rng.randn(n, G.latent_size).astype(np.float32)
        y = None
        if labels is not None:
            y = labels[label_rng.randint(0, len(labels), n)]
        indices = np.arange(start, start + n, dtype=np.int64)
        noise_seeds = np.stack([np.full(n, seed, np.int64), indices], axis=1)
        images = np.asarray(tf.cast(forward(z, y, noise_seeds), tf.float32))
        yield np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def real_batches(tfrecord_dir, batch, mirror_augment=False, seed=0):
    """Returns `(batches, info)`: `batches()` yields uint8 `[n, R, R, C]` reals
    (shuffled, repeated); info is the dataset's `describe`."""
    info = describe(tfrecord_dir)

    def batches():
        rng = np.random.RandomState(seed)
        for images, _ in make_dataset(info, batch, seed=seed):
            images = images.numpy()
            if mirror_augment:
                flip = rng.rand(len(images)) < 0.5
                images[flip] = images[flip, :, ::-1]
            yield images

    return batches, info


def dataset_key(info, mirror_augment, seed):
    """Identity of a set of reals: file, size, modification time and options."""
    stat = pathlib.Path(info.top_file).stat()
    text = f"{info.top_file}:{stat.st_size}:{stat.st_mtime_ns}:{mirror_augment}:{seed}"
    name = pathlib.Path(info.path).name
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def load_inception(metric_names, path=None, unverified=False):
    """The Inception network if any of `metric_names` needs it, else None.

    Raises:
        ValueError: an unknown metric name, or one line naming what is missing
            and what to do.
    """
    specs = [parse_metric(name) for name in metric_names]
    if any(spec.kind in INCEPTION_KINDS for spec in specs):
        return InceptionNetwork.load(path, unverified=unverified)
    return None


def load_metric_networks(config):
    """Loads what `config.metrics` need (the Inception graph, or None), so that
    a missing or wrong file stops a run before it starts.

    Raises:
        ValueError: one line naming what is missing and what to do.
    """
    return load_inception(
        config.metrics, config.inception, unverified=config.inception_unverified
    )


class Evaluator:
    """The trainer's callback: `evaluator(Gs, checkpoint) -> results`.

    Measures `config.metrics` on Gs (reals from `config.dataset`, batch
    `config.batch`, mirrored as in training, seed 0, no truncation, FID
    statistics not cached), appends `<run_dir>/metric-<name>.jsonl` and logs a
    line per metric.

    Args:
        config: TrainingConfig.
        run_dir: the run directory.
        log: a callable taking one line.
        inception: the network `load_metric_networks(config)` returned (None:
            loaded at the first call if a metric needs it).
    """

    def __init__(self, config, run_dir, log=print, inception=None):
        self.config, self.run_dir, self.log = config, run_dir, log
        self.specs = [parse_metric(name) for name in config.metrics]
        self.inception = inception

    def __call__(self, Gs, checkpoint: str) -> dict[str, dict[str, float]]:
        """Returns `{metric name: {result name: value}}` ({} without metrics)."""
        if not self.specs:
            return {}
        config = self.config
        if self.inception is None:
            self.inception = load_metric_networks(config)
        batches, info = real_batches(
            config.dataset, config.batch, config.mirror_augment
        )
        options = MetricOptions(
            generate=functools.partial(generate_uint8, Gs, labels=info.labels),
            real_batches=batches,
            batch=config.batch,
            inception=self.inception,
        )
        return evaluate_and_record(
            self.specs, options, self.run_dir, checkpoint, log=self.log
        )


def make_evaluator(
    config, run_dir, log: Callable[[str], None] = print, inception=None
) -> Evaluator:
    """`Evaluator(config, run_dir, log, inception)`: the trainer's callback."""
    return Evaluator(config, run_dir, log, inception)


def run_metrics(
    network,
    metric_names,
    dataset=None,
    num_images=None,
    truncation_psi=1.0,
    mirror_augment=None,
    batch=GENERATE_BATCH,
    seed=0,
    log=print,
    inception=None,
    inception_unverified=False,
):
    """Evaluates metrics on the Gs of a run directory, checkpoint or pickle.

    Args:
        network: run directory, `<run>/checkpoints/ckpt-N` or official `.pkl`.
        metric_names: e.g. `["swd16k", "msssim10k"]`.
        dataset: TFRecord directory of the reals (default: the run's).
        num_images: overrides each metric's image (or pair) count.
        mirror_augment: mirror half the reals (default: as in training).
        inception: path of the Inception graph (.pb/.tgz) for fid/kid/is
            (default: the cached copy, else a download).
        inception_unverified: skip the sha256 check of `inception` (a custom
            graph; see `InceptionNetwork.load`).

    Returns:
        `{metric name: {result name: value}}`; each is also appended to
        `<run>/metric-<name>.jsonl` (beside a pickle).

    Raises:
        ValueError: a bad name, network, dataset or Inception graph.
    """
    specs = [parse_metric(name) for name in metric_names]
    network_inception = load_inception(metric_names, inception, inception_unverified)
    G, config, checkpoint = load_generator(network)
    if config is None:  # An official pickle: results go beside it.
        if dataset is None:
            raise ValueError("`dataset` is required with a network pickle.")
        run_dir = pathlib.Path(checkpoint).parent
        mirror = bool(mirror_augment)
    else:
        run_dir = pathlib.Path(checkpoint).parent.parent
        mirror = config.mirror_augment if mirror_augment is None else mirror_augment
    batches, info = real_batches(dataset or config.dataset, batch, mirror, seed)
    if num_images is not None:
        specs = [dataclasses.replace(spec, count=num_images) for spec in specs]
    generate = functools.partial(
        generate_uint8,
        G,
        seed=seed,
        truncation_psi=truncation_psi,
        labels=info.labels,
    )
    options = MetricOptions(
        generate=generate,
        real_batches=batches,
        batch=batch,
        seed=seed,
        inception=network_inception,
        stats_dir=default_cache_dir() / "stats",
        reals_key=dataset_key(info, mirror, seed),
    )
    return evaluate_and_record(specs, options, run_dir, checkpoint, truncation_psi, log)
