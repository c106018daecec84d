"""Running metrics on a trained generator and recording `metric-<name>.jsonl`."""

import dataclasses
import hashlib
import json
import pathlib
import time

import numpy as np

from datasets.reader import describe, make_dataset
from metrics.inception import InceptionNetwork, default_cache_dir
from metrics.names import INCEPTION_KINDS, parse_metric
from metrics.registry import evaluate
from msg_stylegan_tf2.training.snapshot import load_generator


def real_batches(tfrecord_dir, batch, mirror_augment=False, seed=0):
    """Returns a callable yielding uint8 real batches (shuffled, repeated)."""
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


def append_jsonl(path, record):
    """Appends one JSON line (the file is created if needed)."""
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def evaluate_and_record(
    G,
    specs,
    batches,
    labels,
    run_dir,
    checkpoint,
    truncation_psi=1.0,
    batch=32,
    seed=0,
    log=print,
    inception=None,
    stats_dir=None,
    key=None,
):
    """Evaluates specs on G, appends `<run_dir>/metric-<name>.jsonl`, logs a line.

    Returns:
        `{metric name: {result name: value}}`.
    """
    results = {}
    for spec in specs:
        start = time.time()
        values = evaluate(
            spec,
            G,
            batches,
            batch,
            seed,
            truncation_psi,
            labels,
            inception,
            stats_dir,
            key,
        )
        seconds = time.time() - start
        results[spec.name] = values
        append_jsonl(
            pathlib.Path(run_dir) / f"metric-{spec.name}.jsonl",
            {
                "metric": spec.name,
                "results": values,
                "checkpoint": str(checkpoint),
                "num_images": spec.count,
                "truncation_psi": truncation_psi,
                "seconds": round(seconds, 2),
            },
        )
        shown = " ".join(f"{k} {v:.4f}" for k, v in values.items())
        log(f"{spec.name:<12} time {seconds:6.1f}s  {shown}")
    return results


def run_metrics(
    network,
    metric_names,
    dataset=None,
    num_images=None,
    truncation_psi=1.0,
    mirror_augment=None,
    batch=32,
    seed=0,
    log=print,
    inception=None,
    inception_unverified=False,
):
    """Evaluates metrics on the Gs of a run directory or checkpoint.

    Args:
        network: run directory or `<run>/checkpoints/ckpt-N`.
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
        `<run>/metric-<name>.jsonl`.
    """
    specs = [parse_metric(name) for name in metric_names]
    network_inception = None
    if any(spec.kind in INCEPTION_KINDS for spec in specs):
        network_inception = InceptionNetwork.load(
            inception, unverified=inception_unverified
        )
    G, config, checkpoint = load_generator(network)
    if config is None:  # An official pickle: results go beside it.
        if dataset is None:
            raise ValueError("--dataset is required with a network pickle.")
        run_dir = pathlib.Path(checkpoint).parent
        mirror = bool(mirror_augment)
    else:
        run_dir = pathlib.Path(checkpoint).parent.parent
        mirror = config.mirror_augment if mirror_augment is None else mirror_augment
    batches, info = real_batches(dataset or config.dataset, batch, mirror, seed)
    if num_images is not None:
        specs = [dataclasses.replace(spec, count=num_images) for spec in specs]
    return evaluate_and_record(
        G,
        specs,
        batches,
        info.labels,
        run_dir,
        checkpoint,
        truncation_psi,
        batch,
        seed,
        log,
        network_inception,
        default_cache_dir() / "stats",
        dataset_key(info, mirror, seed),
    )
