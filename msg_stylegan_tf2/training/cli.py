"""The launcher of train.py: gathers what resolving the options needs from the
world (datasets, hardware, losses, workers), resolves them (`resolve.py`),
says what it found, and runs or resumes the training loop."""

import dataclasses
import pathlib

from dnnlib.quiet_tf import import_tensorflow
from msg_stylegan_tf2.training.options import OPTIONS, check_given
from msg_stylegan_tf2.training.resolve import resolve
from msg_stylegan_tf2.training.resume import changed_options
from msg_stylegan_tf2.training.world import world


def _new_run_options(options):
    # A new run's options: those with a value (None: not given).
    return {n: v for n, v in options.items() if n in OPTIONS and v is not None}


def build_config(options):
    """A new run's TrainingConfig from the flag values `options` (a dict)."""
    return resolve(_new_run_options(options), world=world(options))


def resume_changes(config, options, given):
    """`(config, changes)`: the run's `config` with the options `given` (names)
    applied, and `{name: {"from": old, "to": new}}` of those that changed."""
    values = {name: options.get(name) for name in given if name in OPTIONS}
    resumed = resolve(values, config, world=world(options))
    return resumed, changed_options(config, resumed)


def find_resume(outdir, resume):
    """Returns `(run_dir, checkpoint or None)` for `--resume=latest|DIR|CKPT`."""
    from dnnlib.run_dir import latest_run

    if resume == "latest":
        run_dir = latest_run(outdir)
        if run_dir is None:
            raise ValueError(f"`resume=latest`: no run in {outdir}.")
        return run_dir, None
    path = pathlib.Path(resume)
    if (path / "training_options.json").is_file():
        return path, None
    if path.parent.name == "checkpoints" and (path.parent / "checkpoint").is_file():
        return path.parent.parent, str(path)
    raise ValueError(
        f"`resume`: {resume} is neither 'latest', a run directory nor a checkpoint "
        "(<run>/checkpoints/ckpt-N)."
    )


def _process(options, name):
    # A process option's value: given, else its default.
    value = options.get(name)
    return OPTIONS[name].default if value is None else value


def run(options, given=()):
    """Runs train.py with its flag values (a dict); returns the exit code.

    Args:
        options: the flag values (None: not given).
        given: at a resume, the names of the flags given on the command line
            (it compares or applies those: `resolve`).
    """
    resuming = bool(options.get("resume"))
    if resuming:
        values = {name: options.get(name) for name in given if name in OPTIONS}
    else:
        values = _new_run_options(options)
    check_given(values)  # Before TensorFlow starts.
    tf = import_tensorflow()
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from dnnlib.run_dir import create_run_dir
    from msg_stylegan_tf2.formats.network_run import (
        check_networks_fit,
        checkpoint_prefixes,
    )
    from msg_stylegan_tf2.training.config import TrainingConfig
    from msg_stylegan_tf2.training.strategy import make_strategy, worker_index

    # Before any other op: multi-worker collectives are configured at start-up.
    strategy = make_strategy(_process(options, "strategy"))
    if options.get("deterministic"):
        tf.config.experimental.enable_op_determinism()
    outdir = pathlib.Path(_process(options, "outdir"))
    if worker_index(strategy) > 0:  # Other workers keep their files apart.
        outdir = outdir / f"worker{worker_index(strategy)}"
    options = {**options, "outdir": str(outdir)}
    checkpoint, changes = None, {}
    if resuming:
        run_dir, checkpoint = find_resume(str(outdir), options["resume"])
        recorded = TrainingConfig.load(run_dir)
        config = resolve(values, recorded, world=world(options))
        changes = changed_options(recorded, config)
        kept = (
            [checkpoint] if checkpoint else checkpoint_prefixes(run_dir / "checkpoints")
        )
        if kept:  # None yet: training starts at kimg 0.
            check_networks_fit(config, run_dir, kept)
    else:
        config = resolve(values, world=world(options, strategy))
    if options.get("dry_run"):
        print(config.to_json())
        return 0
    from msg_stylegan_tf2.inference.evaluation import load_metric_networks

    inception = load_metric_networks(config)  # Fails before anything is written.
    source = None
    if config.finetune_from and not resuming:
        from msg_stylegan_tf2.training import finetune

        source = finetune.load_source(config.finetune_from)
        finetune.check_source(source, config, config.finetune_from)
    if not resuming:
        name = pathlib.Path(options.get("dataset") or "emoji64").stem or "data"
        run_dir = create_run_dir(str(outdir), f"{config.preset}-{name}")
        config.save(run_dir)
    if resuming:
        return _train(
            config, run_dir, strategy, inception, resume=(checkpoint, changes)
        )
    return _train(config, run_dir, strategy, inception, source=source)


def _describe_changes(changes):
    return ", ".join(f"{k} {v['from']} -> {v['to']}" for k, v in changes.items())


def _train(config, run_dir, strategy, inception, source=None, resume=None):
    # Trains in `run_dir`: from `source`'s networks (fine-tuning), or resumed
    # with `resume` = (checkpoint or None: the latest, changed options).
    import tensorflow as tf

    from dnnlib.run_dir import Log, RunLock
    from msg_stylegan_tf2.inference.evaluation import make_evaluator
    from msg_stylegan_tf2.training import finetune
    from msg_stylegan_tf2.training.loop import Trainer, TrainingDiverged

    with RunLock(run_dir):
        log = Log(run_dir / "log.txt")
        log(f"Run directory: {run_dir}")
        evaluate = None
        if config.metrics:
            evaluate = make_evaluator(config, run_dir, log, inception)
        trainer = Trainer(config, run_dir, log, strategy, evaluate)
        for line in trainer.startup_lines():
            log(line)
        devices = strategy.extended.worker_devices
        on_gpu = any("GPU" in device.upper() for device in devices)
        if config.memory_plan == "on" or (config.memory_plan == "auto" and on_gpu):
            from msg_stylegan_tf2.training import memory_plan

            for line in memory_plan.startup_lines(config, devices):
                log(line)
        if source is not None:
            finetune.copy_networks(source, trainer.state, config.finetune_from)
            log(
                f"Fine-tuning from {config.finetune_from}: G, D, Gs and the W "
                "average copied; fresh optimizers; kimg 0."
            )
        if resume is not None:
            checkpoint, changes = resume
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
                f"({strategy.num_replicas_in_sync} replica(s)); resume with a "
                "smaller `batch_gpu` (gradient accumulation keeps `batch`; "
                "`memory_plan=on` suggests one): the run keeps its checkpoints."
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
