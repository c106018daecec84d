"""What `train.py` does with its options: resolve the dataset and the run
directory, write the configuration, and run (or resume) the training loop."""

import dataclasses
import pathlib

from dnnlib.quiet_tf import import_tensorflow

DEFAULTS = {
    "loss": "logistic",
    "lr": 0.003,
    "batch": 16,
    "ema_decay": None,
    "total_kimg": 25000.0,
    "tick_kimg": 10.0,
    "image_snapshot_ticks": 1,
    "network_snapshot_ticks": 10,
    "G_smoothing_kimg": 10.0,
    "ema_rampup": None,
}


def _training_option(options, preset, name):
    # Flag if given, else the preset's training default, else the global one.
    if options.get(name) is not None:
        return options[name]
    return preset.train.get(name, DEFAULTS[name])


def _plain(value):
    # Presets hold read-only mappings; the JSON configuration holds dicts.
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def progressive_schedule(options, preset):
    """ProGAN's schedule options, or None for the MSG architectures.

    `--batch` replaces the per-resolution minibatch sizes with one size.
    """
    if "sched" not in preset.train:
        return None
    sched = _plain(preset.train["sched"])
    if options.get("batch") is not None:
        sched["minibatch_base"] = options["batch"]
        sched["minibatch_dict"] = {}
    return sched


def preset_name(options):
    """`--preset`, else the default preset of `--arch`, else "demo_32"."""
    from msg_stylegan_tf2.presets import DEFAULT_PRESETS

    if options.get("preset"):
        return options["preset"]
    return DEFAULT_PRESETS[options.get("arch") or "msg_stylegan"]


def build_config(options):
    """TrainingConfig from the flag values (a dict); converts folders/zips once."""
    from datasets.cache import DEMO_ZIP, resolve_dataset
    from datasets.reader import describe
    from msg_stylegan_tf2.presets import get_preset
    from msg_stylegan_tf2.training.config import TrainingConfig

    preset_id = preset_name(options)
    preset = get_preset(preset_id)
    source = options.get("dataset") or str(DEMO_ZIP)
    resolution = options.get("resolution") or preset.G["resolution"]
    tfrecord_dir, converted = resolve_dataset(
        source, cache_dir=options.get("cache_dir"), resolution=resolution
    )
    if converted:
        print(f"Converted {source} into {tfrecord_dir} (done once; reused next time).")
    info = describe(tfrecord_dir)
    data_kwargs = {
        "resolution": info.resolution,
        "num_channels": info.channels,
        "label_size": info.label_size,
    }
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
    return TrainingConfig(
        dataset=tfrecord_dir,
        preset=preset_id,
        arch=preset.arch,
        G_kwargs=g_kwargs,
        D_kwargs=d_kwargs,
        r1_gamma=options.get("r1_gamma"),
        r2_gamma=options["r2_gamma"],
        sched=progressive_schedule(options, preset),
        g_lr=options.get("g_lr"),
        d_lr=options.get("d_lr"),
        adam_beta1=options.get("adam_beta1", 0.0),
        adam_beta2=options.get("adam_beta2", 0.99),
        lrate_rampup_kimg=options["lrate_rampup_kimg"],
        D_repeats=options["D_repeats"],
        mirror_augment=options["mirror_augment"],
        keep_checkpoints=options["keep_checkpoints"],
        grid_images=options["grid_images"],
        seed=options["seed"],
        strategy=options["strategy"],
        mixed_precision=options["mixed_precision"],
        jit=options["jit"],
        max_images=options.get("max_images"),
        metrics=tuple(m for m in options.get("metrics", ["none"]) if m != "none"),
        inception=options.get("inception"),
        data_percentage=options.get("data_percentage"),
        **{name: _training_option(options, preset, name) for name in DEFAULTS},
    )


def find_resume(outdir, resume):
    """Returns `(run_dir, checkpoint or None)` for `--resume=latest|DIR|CKPT`."""
    from dnnlib.run_dir import latest_run_with_checkpoint

    if resume == "latest":
        run_dir = latest_run_with_checkpoint(outdir)
        if run_dir is None:
            raise ValueError(f"--resume=latest: no run with a checkpoint in {outdir}.")
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


def run(options):
    """Runs train.py with its flag values (a dict); returns the exit code."""
    tf = import_tensorflow()
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from dnnlib.run_dir import Log, create_run_dir
    from msg_stylegan_tf2.training.config import TrainingConfig
    from msg_stylegan_tf2.training.loop import Trainer, TrainingDiverged
    from msg_stylegan_tf2.training.strategy import make_strategy, worker_index

    # Before any other op: multi-worker collectives are configured at start-up.
    strategy = make_strategy(options["strategy"])
    if options.get("deterministic"):
        tf.config.experimental.enable_op_determinism()
    outdir = pathlib.Path(options["outdir"])
    if worker_index(strategy) > 0:  # Other workers keep their files apart.
        outdir = outdir / f"worker{worker_index(strategy)}"
    options = {**options, "outdir": str(outdir)}
    checkpoint = None
    if options.get("resume"):
        run_dir, checkpoint = find_resume(options["outdir"], options["resume"])
        config = TrainingConfig.load(run_dir)
        if options.get("total_kimg") is not None:
            config = dataclasses.replace(config, total_kimg=options["total_kimg"])
    else:
        config = build_config(options)
    if options.get("dry_run"):
        print(config.to_json())
        return 0
    if not options.get("resume"):
        name = pathlib.Path(options.get("dataset") or "emoji64").stem or "data"
        run_dir = create_run_dir(options["outdir"], f"{config.preset}-{name}")
    config.save(run_dir)
    log = Log(run_dir / "log.txt")
    log(f"Run directory: {run_dir}")
    trainer = Trainer(config, run_dir, log, strategy)
    if options.get("resume"):
        trainer.resume(checkpoint)
    for path in trainer.checkpointer.stale:
        log(f"Removed a stale temporary file: {path}")
    try:
        trainer.run()
    except TrainingDiverged as e:
        log(f"train.py: error: {e}")
        return 1
    side = config.G_kwargs["resolution"]
    log(
        f"Done. Images: {run_dir}/fakes/{side}x{side}/ (one folder per resolution), "
        f"checkpoints: {run_dir}/checkpoints/, "
        f"TensorBoard: tensorboard --logdir {run_dir}"
    )
    return 0
