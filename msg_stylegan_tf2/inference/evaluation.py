"""Measuring generators with `metrics`: a run directory, checkpoint, pickle or
SavedModel (`run_metrics.py`), and the trainer's evaluation callback.

This module joins the layers: it knows the generator and the datasets, and
hands the metrics nothing but callables that yield uint8 images (and, for PPL,
the generator's mapping and synthesis as two callables).
"""

import dataclasses
import functools
import hashlib
import pathlib
import weakref
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from datasets.reader import describe, make_dataset
from metrics.inception import InceptionNetwork, default_cache_dir
from metrics.names import GENERATOR_KINDS, INCEPTION_KINDS, VGG16_KINDS, parse_metric
from metrics.ppl import StyleGenerator
from metrics.registry import MetricOptions
from metrics.runner import evaluate_and_record
from msg_stylegan_tf2.choices import GENERATE_BATCH
from msg_stylegan_tf2.formats.network_run import load_generator
from msg_stylegan_tf2.networks.network_base import dtype_policy_scope

# One compiled forward pass per generator and truncation, kept while the
# generator lives: the trainer measures the same Gs at every snapshot.
_FORWARDS = weakref.WeakKeyDictionary()


def _forward(G, truncation_psi):
    # `(z, y, noise_seeds) -> top-level images` of G, traced once per shape.
    forwards = _FORWARDS.setdefault(G, {})
    if truncation_psi not in forwards:
        network = weakref.ref(G)  # The cache must not keep G alive.

        def forward(z, y, s):
            return network()(z, y, truncation_psi=truncation_psi, noise_seed=s)[-1]

        forwards[truncation_psi] = tf.function(forward, reduce_retracing=True)
    return forwards[truncation_psi]


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
    forward = _forward(G, truncation_psi)
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


def all_real_batches(info, batch):
    """`batches()` yields every real image of the dataset once, as uint8
    `[n, R, R, C]` (the last batch smaller), in the file's order (the official
    writer stores images shuffled) and not mirrored.

    Args:
        info: the dataset's `describe`.
        batch: images per batch.
    """

    def batches():
        data = make_dataset(
            info, batch, shuffle=False, repeat=False, drop_remainder=False
        )
        for images, _ in data:
            yield images.numpy()

    return batches


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


def load_vgg16(metric_names, path=None, unverified=False):
    """A loader of torchvision's VGG16 weights if any of `metric_names` needs
    them (pr, ppl), else None. The file is found (and downloaded) and checked
    now, and found and checked again at each load (`metrics.vgg16.vgg16_file`).

    Returns:
        None, or `load() -> {name: array}` (`dnnlib.torch_checkpoint`).

    Raises:
        ValueError: an unknown metric name, or one line naming the file, where
            it comes from and what to do.
    """
    from dnnlib.torch_checkpoint import load_state_dict
    from metrics.vgg16 import vgg16_file

    specs = [parse_metric(name) for name in metric_names]
    if not any(spec.kind in VGG16_KINDS for spec in specs):
        return None
    found = vgg16_file(path, unverified=unverified)

    def load():
        return load_state_dict(
            vgg16_file(found if path else None, unverified=unverified)
        )

    return load


def check_generator_metrics(metric_names, arch):
    """Refuses ppl on a run whose generator has no mapping and synthesis
    (ProGAN), before it is built.

    Args:
        metric_names: e.g. `["ppl_wend10k"]`.
        arch: the run's `arch`.

    Raises:
        ValueError: one line naming the metric and the architecture.
    """
    specs = [parse_metric(name) for name in metric_names]
    needs = [spec.name for spec in specs if spec.kind in GENERATOR_KINDS]
    if needs and arch != "msg_stylegan":
        raise ValueError(
            f"{needs[0]} needs a style-based generator (a mapping to W and a "
            f"synthesis); `arch={arch}` has none."
        )


def _is_style_based(G):
    return hasattr(G, "mapping") and hasattr(G, "synthesis")


def float32_generator(G):
    """G itself when it computes in float32, else a float32 copy (PPL's tiny
    steps vanish in bf16 or fp16, as NVIDIA's forces fp32)."""
    if G.compute_dtype == "float32":
        return G
    config = {**G.get_config(), "dtype": "float32"}
    with dtype_policy_scope("float32"):
        copy = type(G).from_config(config)
        copy.build()
    copy.set_weights(G.get_weights())
    return copy


def ppl_generator(G, truncation_psi=1.0, labels=None) -> StyleGenerator:
    """G's mapping (truncated when `truncation_psi` is not 1, with G's cutoff)
    and synthesis of the top level (noise per seed row), for PPL.

    Raises:
        ValueError: G is not style-based (ProGAN).
    """
    if isinstance(G, SavedModelNetwork):
        return G.style_generator(truncation_psi, labels)
    if not _is_style_based(G):
        raise ValueError(
            f"PPL needs a style-based generator (a mapping to W and a "
            f"synthesis); this {type(G).__name__} has none."
        )
    G = float32_generator(G)
    cutoff = G.truncation_cutoff
    truncate = truncation_psi != 1 and cutoff is not None and cutoff > 0

    def mapping(z, y):
        w = G.mapping(z, y)
        return G.truncate(w, truncation_psi, cutoff) if truncate else w

    def synthesis(w, seeds):
        return G.synthesis(w, randomize_noise=True, noise_seed=seeds)[-1]

    traced_mapping = tf.function(mapping, reduce_retracing=True)
    traced_synthesis = tf.function(synthesis, reduce_retracing=True)
    return StyleGenerator(
        latent_size=G.latent_size,
        resolution=G.resolution,
        mapping=lambda z, y: traced_mapping(z, y).numpy(),
        synthesis=lambda w, seeds: traced_synthesis(w, seeds).numpy(),
        labels=labels,
    )


class SavedModelNetwork:
    """A SavedModel as a generator: images through `serving_default` (stored
    noise), and for PPL its `mapping` (`latents` [, `labels`] -> `dlatents`
    `[N, num_layers, dlatent_size]`, untruncated) and `synthesis` (`dlatents`
    [, `noise_mode`] -> the largest `images_<RRRR>`) signatures, with
    `dlatent_avg` (`dlatent_avg`, `truncation_cutoff`) to truncate w.
    """

    def __init__(self, path):
        from msg_stylegan_tf2.formats.export import SavedModelGenerator

        self.path = pathlib.Path(path)
        self.images = SavedModelGenerator(path)
        self.latent_size = self.images.latent_size

    def __call__(self, *args, **kwargs):
        return self.images(*args, **kwargs)

    def style_generator(self, truncation_psi, labels) -> StyleGenerator:
        """PPL's view; every sample gets the stored noise ("const").

        Raises:
            ValueError: one line, when the SavedModel lacks `mapping` or
                `synthesis`, or `dlatent_avg` for a truncation psi other than 1.
        """
        signatures = tf.saved_model.load(str(self.path)).signatures
        needed = ["mapping", "synthesis"] + (
            ["dlatent_avg"] if truncation_psi != 1 else []
        )
        missing = [name for name in needed if name not in signatures]
        if missing:
            raise ValueError(
                f"{self.path}: this SavedModel has no `{missing[0]}` signature, "
                f"which PPL{' with truncation' if missing[0] == 'dlatent_avg' else ''}"
                " needs; export it again with export.py, or measure the run, "
                "checkpoint or pickle it came from."
            )
        mapping, synthesis = signatures["mapping"], signatures["synthesis"]
        has_labels = "labels" in mapping.structured_input_signature[1]
        synthesis_inputs = synthesis.structured_input_signature[1]
        truncate = None
        if truncation_psi != 1:
            values = signatures["dlatent_avg"]()
            avg = values["dlatent_avg"].numpy()
            cutoff = int(values["truncation_cutoff"].numpy())

            def truncate(w):
                layers = np.arange(w.shape[1])[np.newaxis, :, np.newaxis] < cutoff
                return np.where(layers, avg + (w - avg) * truncation_psi, w)

        def top_level(outputs, prefix):
            keys = sorted(k for k in outputs if k.startswith(prefix)) or list(outputs)
            return outputs[keys[-1]].numpy()

        def map_(z, y):
            kwargs = {"latents": tf.constant(z, tf.float32)}
            if has_labels:
                kwargs["labels"] = tf.constant(y, tf.float32)
            w = top_level(mapping(**kwargs), "dlatents")
            return w if truncate is None else truncate(w).astype(np.float32)

        def synthesise(w, seeds):
            del seeds  # The stored noise, the same for both images of a pair.
            kwargs = {"dlatents": tf.constant(w, tf.float32)}
            if "noise_mode" in synthesis_inputs:
                kwargs["noise_mode"] = tf.constant("const")
            return top_level(synthesis(**kwargs), "images_")

        return StyleGenerator(
            latent_size=self.latent_size,
            resolution=self.images.resolution,
            mapping=map_,
            synthesis=synthesise,
            labels=labels,
        )


def load_metric_networks(config):
    """Loads what `config.metrics` need (the Inception graph, or None), and
    checks torchvision's VGG16 weights and the generator's kind for pr and
    ppl, so that a missing or wrong file stops a run before it starts.

    Raises:
        ValueError: one line naming what is missing and what to do.
    """
    check_generator_metrics(config.metrics, arch=config.arch)
    inception = load_inception(
        config.metrics, config.inception, unverified=config.inception_unverified
    )
    # train.py's VGG16 options, where its configuration has them.
    load_vgg16(
        config.metrics,
        config.vgg16,
        config.vgg16_unverified,
    )
    return inception


class Evaluator:
    """The trainer's callback: `evaluator(Gs, checkpoint) -> results`.

    Measures `config.metrics` on Gs (reals from `config.dataset`, batch
    `config.batch`, mirrored as in training except for fid_full and pr, seed
    0, no truncation, FID statistics not cached), appends
    `<run_dir>/metric-<name>.jsonl` and logs a line per metric.

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
        self.vgg16 = None

    def __call__(self, Gs, checkpoint: str) -> dict[str, dict[str, float]]:
        """Returns `{metric name: {result name: value}}` ({} without metrics)."""
        if not self.specs:
            return {}
        config = self.config
        if self.inception is None:
            self.inception = load_inception(
                config.metrics, config.inception, config.inception_unverified
            )
        if self.vgg16 is None:
            # train.py's VGG16 options, where its configuration has them.
            self.vgg16 = load_vgg16(
                config.metrics,
                config.vgg16,
                config.vgg16_unverified,
            )
        batches, info = real_batches(
            config.dataset, config.batch, config.mirror_augment
        )
        generator = None
        if any(spec.kind in GENERATOR_KINDS for spec in self.specs):
            generator = ppl_generator(Gs, labels=info.labels)
        options = MetricOptions(
            generate=functools.partial(generate_uint8, Gs, labels=info.labels),
            real_batches=batches,
            batch=config.batch,
            inception=self.inception,
            all_reals=all_real_batches(info, config.batch),
            generator=generator,
            vgg16=self.vgg16,
            ppl_crop=config.ppl_crop,
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
    vgg16=None,
    vgg16_unverified=False,
    ppl_crop=False,
):
    """Evaluates metrics on the Gs of a run directory, checkpoint, pickle or
    SavedModel.

    Args:
        network: run directory, `<run>/checkpoints/ckpt-N`, official `.pkl`
            or a SavedModel directory (export.py; ppl needs its `mapping` and
            `synthesis` signatures).
        metric_names: e.g. `["swd16k", "msssim10k"]`.
        dataset: TFRecord directory of the reals (default: the run's).
        num_images: overrides each metric's image (or pair) count.
        mirror_augment: mirror half the reals (default: as in training); never
            for fid_full and pr, which take every real once.
        inception: path of the Inception graph (.pb/.tgz) for fid/kid/is
            (default: the cached copy, else a download).
        inception_unverified: skip the sha256 check of `inception` (a custom
            graph; see `InceptionNetwork.load`).
        vgg16: torchvision's `vgg16-397923af.pth` for pr and ppl (default: the
            cached copy, else a download).
        vgg16_unverified: skip the sha256 check of `vgg16` (other weights).
        ppl_crop: ppl on NVIDIA's face crop.

    Returns:
        `{metric name: {result name: value}}`; each is also appended to
        `<run>/metric-<name>.jsonl` (beside a pickle or SavedModel).

    Raises:
        ValueError: a bad name, network, dataset, Inception graph or VGG16
            file, or ppl on a generator without mapping and synthesis; the
            files are checked before the generator is loaded.
    """
    specs = [parse_metric(name) for name in metric_names]
    network_inception = load_inception(metric_names, inception, inception_unverified)
    vgg16_loader = load_vgg16(metric_names, vgg16, vgg16_unverified)
    if (pathlib.Path(network).expanduser() / "saved_model.pb").is_file():
        G, run_options = SavedModelNetwork(pathlib.Path(network).expanduser()), None
        checkpoint = str(G.path)
    else:
        G, run_options, checkpoint = load_generator(network)
    if run_options is None:  # A pickle or SavedModel: results go beside it.
        if dataset is None:
            raise ValueError(
                "`dataset` is required with a network pickle or SavedModel."
            )
        run_dir = pathlib.Path(checkpoint).parent
        mirror = bool(mirror_augment)
    else:
        run_dir = pathlib.Path(checkpoint).parent.parent
        mirror = (
            run_options.mirror_augment if mirror_augment is None else mirror_augment
        )
    batches, info = real_batches(dataset or run_options.dataset, batch, mirror, seed)
    if num_images is not None:
        specs = [dataclasses.replace(spec, count=num_images) for spec in specs]
    generator = None
    if any(spec.kind in GENERATOR_KINDS for spec in specs):
        generator = ppl_generator(G, truncation_psi, info.labels)
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
        all_reals=all_real_batches(info, batch),
        all_reals_key=dataset_key(info, False, "all"),
        generator=generator,
        vgg16=vgg16_loader,
        ppl_crop=ppl_crop,
    )
    return evaluate_and_record(specs, options, run_dir, checkpoint, truncation_psi, log)
