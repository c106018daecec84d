"""This machine's `resolve.World` for train.py: what the dataset's files, the
hardware, the losses and the other workers say, with a line printed for
what a user should know (the preset auto chose, a conversion)."""

import functools
import pathlib

from msg_stylegan_tf2.training.resolve import DATA_OPTIONS, World


def _auto_preset(resolution):
    import tensorflow as tf

    from msg_stylegan_tf2.networks.presets import auto_preset

    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    name, reason = auto_preset(resolution, on_gpu)
    print(f"Preset: auto chose {name} ({reason}).")
    return name


def _finetune_preset(source):
    from msg_stylegan_tf2.formats.run_options import read_run_options, run_directory

    path = pathlib.Path(source).expanduser()
    if path.suffix == ".pkl":
        from msg_stylegan_tf2.training.finetune import matching_preset

        preset = matching_preset(path)
        print(f"Preset: {preset}, whose networks have the shapes of {source}'s.")
        return preset
    run_dir = run_directory(path)
    if not (run_dir / "training_options.json").is_file():
        raise ValueError(
            f"`finetune_from={source}`: not a run directory, checkpoint or "
            "official pickle; give `preset` matching its networks."
        )
    return read_run_options(run_dir).preset


def _auto_precision():
    from dnnlib import hardware

    found = hardware.detect()
    return hardware.resolve_precision(found.cpu_flags, found.gpu_capabilities)


def regularization(config):
    """The run's `Regularization` (it reads the loss's default R1 weight)."""
    from msg_stylegan_tf2.training.regularization import Regularization

    return Regularization.from_config(config)


def _dataset(source, conversion, cache_dir=None, dry_run=False):
    # Folders and zips are converted once into the cache; with `dry_run` they
    # are only described (the first image's header, the number of images).
    from datasets.cache import plan_dataset, resolve_dataset
    from datasets.reader import describe

    if dry_run:
        tfrecord_dir, images = plan_dataset(source, cache_dir, **conversion)
        if images is not None:
            print(
                f"{source}: {images['images']:,} images, to be converted at the "
                f"first run into {tfrecord_dir}."
            )
            data = (images["resolution"], images["channels"], images["classes"])
            return tfrecord_dir, dict(zip(DATA_OPTIONS, data, strict=True))
    else:
        tfrecord_dir, converted = resolve_dataset(source, cache_dir, **conversion)
        if converted:
            print(
                f"Converted {source} into {tfrecord_dir} (done once; reused next time)."
            )
    info = describe(tfrecord_dir)
    data = (info.resolution, info.channels, info.label_size)
    return tfrecord_dir, dict(zip(DATA_OPTIONS, data, strict=True))


def _trains_on(source, conversion, cache_dir=None):
    # The conversion a given image folder or zip gives today (None for a
    # TFRecord directory or a path that is gone).
    from datasets.cache import conversion_dir

    path = pathlib.Path(source).expanduser()
    if not path.exists() or (path.is_dir() and any(path.glob("*.tfrecords"))):
        return None
    try:
        return str(conversion_dir(path, cache_dir, **conversion))
    except ValueError:  # Not a folder or zip: not the run's dataset either.
        return None


def world(options, strategy=None):
    """This machine's `resolve.World` for the flag values `options` (their
    `cache_dir` and `dry_run`); with `strategy`, its workers vote."""
    from datasets.cache import DEMO_ZIP, dataset_resolution
    from msg_stylegan_tf2.training.strategy import every_worker, worker_count

    cache_dir = options.get("cache_dir")
    vote = None
    if strategy is not None and worker_count(strategy) > 1:
        vote = functools.partial(every_worker, strategy)
    return World(
        demo=str(DEMO_ZIP),
        dataset=functools.partial(
            _dataset, cache_dir=cache_dir, dry_run=bool(options.get("dry_run"))
        ),
        dataset_resolution=dataset_resolution,
        auto_preset=_auto_preset,
        finetune_preset=_finetune_preset,
        precision=_auto_precision,
        regularization=regularization,
        trains_on=functools.partial(_trains_on, cache_dir=cache_dir),
        vote=vote,
    )
