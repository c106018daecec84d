"""What `train.py` does with its options: resolve the dataset and the run
directory, write the configuration, and run (or resume) the training loop."""

import dataclasses
import pathlib

from dnnlib.quiet_tf import import_tensorflow
from msg_stylegan_tf2.training.resume import (
    CONVERSION_OPTIONS,
    apply_changes,
    check_must_equal,
    plain,
    requested_options,
)

# Options that come from the flag if given, else from the preset's training
# defaults, else from TrainingConfig's field default: one source of defaults.
OPTIONS = (
    "loss", "r1_gamma", "r2_gamma", "batch", "total_kimg", "lr", "g_lr", "d_lr",
    "lrate_rampup_kimg", "adam_beta1", "adam_beta2", "D_repeats",
    "G_smoothing_kimg", "ema_rampup", "ema_decay", "mirror_augment", "tick_kimg",
    "image_snapshot_ticks", "network_snapshot_ticks", "keep_checkpoints",
    "grid_images", "seed", "strategy", "mixed_precision", "jit", "max_images",
    "data_percentage", "inception", "inception_unverified", "vgg16",
    "vgg16_unverified", "ppl_crop", "freeze_d",
    "finetune_from", "augment", "ada_target", "ada_kimg", "r1_interval",
)  # fmt: skip


def option_default(name):
    """TrainingConfig's default of an option (what a flag left unset means)."""
    from msg_stylegan_tf2.training.config import TrainingConfig

    return TrainingConfig.__dataclass_fields__[name].default


def _shown(value):
    if type(value) is bool:
        return "on" if value else "off"
    return "none" if value is None else f"{value:g}" if type(value) is float else value


def default_help(name):
    """What leaving option `name` out means, for help texts: TrainingConfig's
    default and the presets that set their own, e.g. `default 10; demo_32: 4`.
    """
    from msg_stylegan_tf2.networks.presets import ARCHS, PRESETS

    base = option_default(name)
    by_value = {}
    for preset_name, preset in PRESETS.items():
        value = preset.train.get(name, base)
        if value != base:
            by_value.setdefault(value, []).append(preset_name)
    parts = [f"default {_shown(base)}"]
    for value, names in by_value.items():
        for arch in ARCHS:  # A whole architecture's presets by its name.
            of_arch = [n for n, p in PRESETS.items() if p.arch == arch]
            if set(of_arch) <= set(names):
                names = [f"{arch} presets"] + [n for n in names if n not in of_arch]
        parts.append(f"{', '.join(names)}: {_shown(value)}")
    return "; ".join(parts)


def _training_option(options, preset, name):
    # Flag if given, else the preset's training default, else the field's.
    if options.get(name) is not None:
        return options[name]
    return preset.train.get(name, option_default(name))


def progressive_schedule(options, preset):
    """ProGAN's schedule options, or None for the MSG architectures.

    `--batch` replaces the per-resolution minibatch sizes with one size.
    """
    if "sched" not in preset.train:
        return None
    sched = plain(preset.train["sched"])
    if options.get("batch") is not None:
        sched["minibatch_base"] = options["batch"]
        sched["minibatch_dict"] = {}
    return sched


def preset_name(options):
    """`--preset`; else the preset of the run `--finetune_from` names (for an
    official pickle, the preset whose networks have its shapes); else "auto"
    for a `--dataset` (MSG-StyleGAN), else the default preset of `--arch` (the
    demo)."""
    from msg_stylegan_tf2.networks.presets import DEFAULT_PRESETS, PRESETS

    if options.get("preset"):
        return options["preset"]
    source = options.get("finetune_from")
    if source:
        from msg_stylegan_tf2.training.config import TrainingConfig

        path = pathlib.Path(source).expanduser()
        run_dir = path if path.is_dir() else path.parent.parent
        if path.suffix == ".pkl":
            from msg_stylegan_tf2.training.finetune import matching_preset

            preset = matching_preset(path)
            print(f"Preset: {preset}, whose networks have the shapes of {source}'s.")
            return preset
        if not (run_dir / "training_options.json").is_file():
            raise ValueError(
                f"--finetune_from={source}: not a run directory, checkpoint or "
                "official pickle; give --preset matching its networks."
            )
        preset = TrainingConfig.load(run_dir).preset
        if preset not in PRESETS:
            raise ValueError(
                f"--finetune_from={source}: its preset {preset!r} is not one of "
                "ours; give --preset matching its networks."
            )
        return preset
    if options.get("dataset") and options.get("arch") in (None, "msg_stylegan"):
        return "auto"
    return DEFAULT_PRESETS[options.get("arch") or "msg_stylegan"]


def _auto_preset(options):
    # The preset for the dataset's own resolution and this machine.
    import tensorflow as tf

    from datasets.cache import dataset_resolution
    from msg_stylegan_tf2.networks.presets import auto_preset

    if options.get("arch") not in (None, "msg_stylegan"):
        raise ValueError(
            f"--preset=auto picks MSG-StyleGAN presets; give --preset for "
            f"--arch={options['arch']}."
        )
    resolution = options.get("resolution") or dataset_resolution(options["dataset"])
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    name, reason = auto_preset(resolution, on_gpu)
    print(f"Preset: auto chose {name} ({reason}).")
    return name, resolution


def agree_on_precision(config, strategy, vote=None):
    """The config with a precision every worker shares: with several workers,
    `auto` keeps bf16 only where every worker chose it, else all use fp32.
    An explicit `--mixed_precision` is kept as given.

    Args:
        vote: `vote(strategy, value) -> bool`, whether `value` holds on every
            worker (default `strategy.every_worker`).
    """
    from msg_stylegan_tf2.training.strategy import every_worker, worker_count

    if config.precision_reason is None or worker_count(strategy) == 1:
        return config
    if (vote or every_worker)(strategy, config.mixed_precision == "bf16"):
        return config
    return dataclasses.replace(
        config,
        mixed_precision="off",
        precision_reason=(
            "not every worker computes bf16 natively "
            f"(this one: {config.mixed_precision}, {config.precision_reason})"
        ),
    )


def resolve_mixed_precision(choice):
    """`(choice, reason)`: "auto" becomes what pays on this machine ("bf16" or
    "off", `dnnlib.hardware.resolve_precision`) with the reason; an explicit
    choice stays, with reason None."""
    if choice != "auto":
        return choice, None
    from dnnlib import hardware

    found = hardware.detect()
    return hardware.resolve_precision(found.cpu_flags, found.gpu_capabilities)


def conversion_options(resolution, values):
    """`create_from_images` options of a folder or zip: the resolution, and
    each conversion option that `values` gives (only those: they are part of
    the conversion's cache key, so a run and its resume build them alike)."""
    conversion = {"resolution": resolution}
    for name in CONVERSION_OPTIONS:
        if values.get(name) is not None:
            conversion[name] = values[name]
    return conversion


def _dataset(options, preset):
    # The TFRecord directory and the networks' data options (resolution,
    # channels, label size) it gives.
    from datasets.cache import DEMO_ZIP, plan_dataset, resolve_dataset
    from datasets.reader import describe

    source = options.get("dataset") or str(DEMO_ZIP)
    resolution = options.get("resolution") or preset.G["resolution"]
    conversion = conversion_options(resolution, options)
    cache_dir = options.get("cache_dir")
    if options.get("dry_run"):
        tfrecord_dir, images = plan_dataset(source, cache_dir, **conversion)
        if images is not None:
            print(
                f"{source}: {images['images']:,} images, to be converted at the "
                f"first run into {tfrecord_dir}."
            )
            return tfrecord_dir, {
                "resolution": images["resolution"],
                "num_channels": images["channels"],
                "label_size": images["classes"],
            }
    else:
        tfrecord_dir, converted = resolve_dataset(source, cache_dir, **conversion)
        if converted:
            print(
                f"Converted {source} into {tfrecord_dir} (done once; reused next time)."
            )
    info = describe(tfrecord_dir)
    return tfrecord_dir, {
        "resolution": info.resolution,
        "num_channels": info.channels,
        "label_size": info.label_size,
    }


def check_r1_interval(r1_interval, loss, r1_gamma, r2_gamma):
    """Lazy regularization needs a penalty to regularize lazily: refused in
    one line before anything is written.

    Raises:
        ValueError: `r1_interval` > 1 and the loss has neither R1 nor R2.
    """
    if r1_interval == 1:
        return
    from msg_stylegan_tf2.training.losses import make_loss

    made = make_loss(loss, r1_gamma, r2_gamma)
    if not (made.r1_gamma > 0 or made.r2_gamma > 0):
        raise ValueError(
            f"--r1_interval={r1_interval}: loss {loss} has no R1 or R2 penalty to "
            "apply lazily; give --r1_gamma or --r2_gamma > 0, or --r1_interval=1."
        )


def build_config(options):
    """TrainingConfig from the flag values (a dict).

    Folders and zips are converted once into the cache; with `dry_run` they
    are only described (the first image's header, the number of images)."""
    from datasets.cache import DEMO_ZIP
    from msg_stylegan_tf2.networks.presets import get_preset
    from msg_stylegan_tf2.training.config import TrainingConfig

    preset_id = preset_name(options)
    requested = requested_options(
        options, preset_id, options.get("dataset") or DEMO_ZIP
    )
    if preset_id == "auto":
        preset_id, resolution = _auto_preset(options)
        options = {**options, "resolution": resolution}
    preset = get_preset(preset_id)
    tfrecord_dir, data_kwargs = _dataset(options, preset)
    g_kwargs = {**preset.G, **data_kwargs}
    d_kwargs = {**preset.D, **data_kwargs}
    if options.get("combine"):
        d_kwargs["combine"] = options["combine"]
    if options.get("use_wscale") is False:  # Plain initialisation (BMSG-GAN).
        g_kwargs["use_wscale"] = d_kwargs["use_wscale"] = False
    # Every conv/dense of D, or of both networks (the original MSG-GAN post).
    if options.get("spectral_norm") in ("D", "both"):
        d_kwargs["spectral_norm"] = True
    if options.get("spectral_norm") == "both":
        g_kwargs["spectral_norm"] = True
    blocks = int(data_kwargs["resolution"]).bit_length() - 2  # D's, 4x4 up.
    if (options.get("freeze_d") or 0) >= blocks:
        raise ValueError(
            f"--freeze_d={options['freeze_d']} would freeze all of D's {blocks} "
            "blocks; freeze fewer."
        )
    values = {name: _training_option(options, preset, name) for name in OPTIONS}
    check_r1_interval(
        values["r1_interval"], values["loss"], values["r1_gamma"], values["r2_gamma"]
    )
    precision, reason = resolve_mixed_precision(values.pop("mixed_precision"))
    return TrainingConfig(
        dataset=tfrecord_dir,
        preset=preset_id,
        arch=preset.arch,
        G_kwargs=g_kwargs,
        D_kwargs=d_kwargs,
        sched=progressive_schedule(options, preset),
        metrics=tuple(m for m in options.get("metrics") or () if m != "none"),
        mixed_precision=precision,
        precision_reason=reason,
        requested=requested,
        **values,
    )


def _trains_on(config, options):
    # The conversion a given image folder or zip gives today, converted as the
    # run's was (None for a TFRecord directory or a path that is gone).
    from datasets.cache import conversion_dir

    path = pathlib.Path(options["dataset"]).expanduser()
    if not path.exists() or (path.is_dir() and any(path.glob("*.tfrecords"))):
        return None
    # The conversion options as the run's command gave them.
    given = {**options, **(config.requested or {})}
    conversion = conversion_options(config.G_kwargs["resolution"], given)
    try:
        return str(conversion_dir(path, options.get("cache_dir"), **conversion))
    except ValueError:  # Not a folder or zip: not the run's dataset either.
        return None


def resume_changes(config, options, given):
    """The configuration with the options given at a resume applied.

    Args:
        config: the run's TrainingConfig.
        options: the flag values (a dict).
        given: names of the flags given on the command line.

    Returns:
        `(config, changes)`: changes is `{name: {"from": old, "to": new}}` of the
        options whose value changed.

    Raises:
        ValueError: a given `RESUME_MUST_EQUAL` option that differs from the
            run's, or a lazy R1 interval without a penalty.
    """
    trains_on = _trains_on(config, options) if "dataset" in given else None
    check_must_equal(config, options, given, trains_on)
    config, changes = apply_changes(config, options, given)
    check_r1_interval(config.r1_interval, config.loss, config.r1_gamma, config.r2_gamma)
    return config, changes


def find_resume(outdir, resume):
    """Returns `(run_dir, checkpoint or None)` for `--resume=latest|DIR|CKPT`."""
    from dnnlib.run_dir import latest_run

    if resume == "latest":
        run_dir = latest_run(outdir)
        if run_dir is None:
            raise ValueError(f"--resume=latest: no run in {outdir}.")
        return run_dir, None
    path = pathlib.Path(resume)
    if (path / "training_options.json").is_file():
        return path, None
    if path.parent.name == "checkpoints" and (path.parent / "checkpoint").is_file():
        return path.parent.parent, str(path)
    raise ValueError(
        f"--resume: {resume} is neither 'latest', a run directory nor a checkpoint "
        "(<run>/checkpoints/ckpt-N)."
    )


def _describe_changes(changes):
    return ", ".join(f"{k} {v['from']} -> {v['to']}" for k, v in changes.items())


def run(options, given=()):
    """Runs train.py with its flag values (a dict); returns the exit code.

    Args:
        options: every flag's value.
        given: names of the flags given on the command line (a resume applies
            those of them that `RESUME_CHANGEABLE` lists).
    """
    tf = import_tensorflow()
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from dnnlib.run_dir import Log, RunLock, create_run_dir
    from msg_stylegan_tf2.inference.evaluation import (
        load_metric_networks,
        make_evaluator,
    )
    from msg_stylegan_tf2.training.config import TrainingConfig
    from msg_stylegan_tf2.training.loop import Trainer, TrainingDiverged
    from msg_stylegan_tf2.training.snapshot import (
        check_networks_fit,
        checkpoint_prefixes,
    )
    from msg_stylegan_tf2.training.strategy import make_strategy, worker_index

    # Before any other op: multi-worker collectives are configured at start-up.
    strategy = make_strategy(options.get("strategy") or option_default("strategy"))
    if options.get("deterministic"):
        tf.config.experimental.enable_op_determinism()
    outdir = pathlib.Path(options["outdir"])
    if worker_index(strategy) > 0:  # Other workers keep their files apart.
        outdir = outdir / f"worker{worker_index(strategy)}"
    options = {**options, "outdir": str(outdir)}
    checkpoint, changes = None, {}
    if options.get("resume"):
        run_dir, checkpoint = find_resume(options["outdir"], options["resume"])
        config, changes = resume_changes(TrainingConfig.load(run_dir), options, given)
        kept = (
            [checkpoint] if checkpoint else checkpoint_prefixes(run_dir / "checkpoints")
        )
        if kept:  # None yet: training starts at kimg 0.
            check_networks_fit(config, run_dir, kept)
    else:
        config = agree_on_precision(build_config(options), strategy)
    if options.get("dry_run"):
        print(config.to_json())
        return 0
    inception = load_metric_networks(config)  # Fails before anything is written.
    source = None
    if config.finetune_from and not options.get("resume"):
        from msg_stylegan_tf2.training import finetune

        source = finetune.load_source(config.finetune_from)
        finetune.check_source(source, config, config.finetune_from)
    if not options.get("resume"):
        name = pathlib.Path(options.get("dataset") or "emoji64").stem or "data"
        run_dir = create_run_dir(options["outdir"], f"{config.preset}-{name}")
        config.save(run_dir)
    with RunLock(run_dir):
        log = Log(run_dir / "log.txt")
        log(f"Run directory: {run_dir}")
        evaluate = None
        if config.metrics:
            evaluate = make_evaluator(config, run_dir, log, inception)
        trainer = Trainer(config, run_dir, log, strategy, evaluate)
        for line in trainer.startup_lines():
            log(line)
        if source is not None:
            finetune.copy_networks(source, trainer.state, config.finetune_from)
            log(
                f"Fine-tuning from {config.finetune_from}: G, D, Gs and the W "
                "average copied; fresh optimizers; kimg 0."
            )
        if options.get("resume"):
            if checkpoint is None and trainer.checkpointer.latest is None:
                log(f"{run_dir}: no checkpoint yet; training from kimg 0.")
            else:
                trainer.resume(checkpoint)
            if changes:
                kimg = trainer.nimg / 1000
                record = {"kimg": kimg, "options": changes}
                config = dataclasses.replace(config, changes=(*config.changes, record))
                log(f"Changed at kimg {kimg:.3f}: {_describe_changes(changes)}.")
            config.save(run_dir)
        for path in trainer.checkpointer.stale:
            log(f"Removed a stale temporary file: {path}")
        try:
            trainer.run()
        except TrainingDiverged as e:
            flags = f"--resume={e.checkpoint} with --lr or --r1_gamma"
            log(f"train.py: error: {e} ({flags})")
            return 1
        except (tf.errors.ResourceExhaustedError, MemoryError):
            message = (
                f"out of memory at `batch={trainer.batch}` "
                f"({strategy.num_replicas_in_sync} replica(s)); lower `batch` and "
                "resume: the run keeps its checkpoints."
            )
            log(f"train.py: error: {message}")
            raise ValueError(message) from None
    if trainer.stopped_by:
        log(f"Continue with: python train.py --resume={run_dir}")
        return 0
    side = config.G_kwargs["resolution"]
    log(
        f"Done. Images: {run_dir}/fakes/{side}x{side}/ (one folder per resolution), "
        f"checkpoints: {run_dir}/checkpoints/, "
        f"TensorBoard: tensorboard --logdir {run_dir}"
    )
    return 0
