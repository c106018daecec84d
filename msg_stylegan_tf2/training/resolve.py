"""A run's `TrainingConfig` from its options: `resolve`, one pure function of
the options given (and, at a resume, the run's recorded config). What it
needs of the world outside the options (the dataset's files, the hardware,
the losses, the other workers) it asks a `World`; nothing here prints or
imports TensorFlow."""

import dataclasses
from collections.abc import Callable, Mapping

from msg_stylegan_tf2.networks.presets import DEFAULT_PRESETS, PRESETS, get_preset
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.options import (
    CONVERSION_OPTIONS,
    OPTIONS,
    TRAINING_OPTIONS,
    check_given,
)
from msg_stylegan_tf2.training.resume import (
    apply_changes,
    check_must_equal,
    plain,
    requested_options,
)

# The data options a dataset gives the networks.
DATA_OPTIONS = ("resolution", "num_channels", "label_size")


@dataclasses.dataclass(frozen=True)
class World:
    """What resolving options asks of the world outside them: the launcher's
    answers (training/cli.py), a test's in tests.

    Attributes:
        demo: the dataset when `dataset` is not given.
        dataset: `dataset(source, conversion) -> (tfrecord_dir, data)`: the
            TFRecord directory a dataset path gives (an image folder or zip
            converted with the `create_from_images` options `conversion`) and
            its `{"resolution", "num_channels", "label_size"}`.
        dataset_resolution: `dataset_resolution(source) -> int`: a dataset's
            own side.
        auto_preset: `auto_preset(resolution) -> name`: the preset that
            `preset=auto` picks for that resolution on this machine.
        finetune_preset: `finetune_preset(source) -> name`: the preset of the
            networks at `finetune_from` (a run, a checkpoint, a pickle).
        precision: `precision() -> (mixed_precision, reason)`: what
            `mixed_precision=auto` means on this machine ("bf16" or "off").
        regularization: `regularization(config)`: the run's R1 and R2
            (`regularization.Regularization.from_config`, which needs the
            loss's default R1 weight); raises ValueError where they cannot
            run (an `r1_interval` > 1 without R1 or R2).
        trains_on: `trains_on(source, conversion) -> tfrecord_dir or None`:
            the directory an image folder or zip converts into today (None
            for a TFRecord directory, or a path that is gone).
        vote: `vote(value) -> bool`: whether `value` holds on every worker
            (a collective: every worker resolves at the same point); None
            for one worker.
    """

    demo: str
    dataset: Callable[[str, dict], tuple[str, dict]]
    dataset_resolution: Callable[[str], int]
    auto_preset: Callable[[int], str]
    finetune_preset: Callable[[str], str]
    precision: Callable[[], tuple[str, str]]
    regularization: Callable[[TrainingConfig], object]
    trains_on: Callable[[str, dict], str | None]
    vote: Callable[[bool], bool] | None = None


def resolve(
    given: Mapping, recorded: TrainingConfig | None = None, *, world: World
) -> TrainingConfig:
    """The configuration a run trains with.

    Args:
        given: `{name: value}` of the options given (`options.OPTIONS`). For
            a new run, None means not given; at a resume every option in
            `given` is compared with the run's or applied.
        recorded: at a resume, the run's configuration; None: a new run.
        world: what resolving asks outside the options.

    Returns:
        For a new run: each option given, else the preset's training default,
        else the option's default, with the dataset, preset and networks'
        options they give and `requested`, what the command asked for. At a
        resume: the run's configuration with the given changeable and process
        options applied (`resume.changed_options` says which changed).

    Raises:
        ValueError: one line naming options in backquotes: an option unknown,
            of the wrong type, out of its range or contradicting another, a
            resume's option that must equal the run's but differs, or a
            configuration that cannot train (the options' `check_run`).
    """
    check_given(given)
    if recorded is None:
        config = _new_run({k: v for k, v in given.items() if v is not None}, world)
    else:
        config = _resumed(given, recorded, world)
    for declared in OPTIONS.values():
        if declared.check_run is not None:
            declared.check_run(config, world)
    if recorded is None:
        config = agree_on_precision(config, world.vote)
    return config


def _new_run(given, world):
    preset_id = preset_name(given, world)
    dataset = given.get("dataset") or world.demo
    requested = requested_options(given, preset_id, dataset)
    resolution = given.get("resolution")
    if preset_id == "auto":  # The preset for the dataset's own resolution.
        resolution = resolution or world.dataset_resolution(dataset)
        preset_id = world.auto_preset(resolution)
    preset = get_preset(preset_id)
    conversion = conversion_options(resolution or preset.G["resolution"], given)
    tfrecord_dir, data = world.dataset(dataset, conversion)
    data = {name: data[name] for name in DATA_OPTIONS}
    values = {
        name: _value(declared, given, preset)
        for name, declared in TRAINING_OPTIONS.items()
    }
    precision, reason = values["mixed_precision"], None
    if precision == "auto":
        precision, reason = world.precision()
    return TrainingConfig(
        **{**values, "mixed_precision": precision},
        dataset=tfrecord_dir,
        preset=preset_id,
        arch=preset.arch,
        **network_options(preset, data, given),
        sched=progressive_schedule(given, preset),
        precision_reason=reason,
        requested=requested,
    )


def _value(declared, given, preset):
    # Given, else the preset's training default, else the declared default.
    if declared.name in given:
        value = given[declared.name]
        return declared.to_config(value) if declared.to_config else value
    return preset.train.get(declared.name, declared.default)


def preset_name(given, world):
    """`preset`; else the preset of the networks `finetune_from` names; else
    "auto" for a `dataset` (MSG-StyleGAN); else the demo preset of `arch`."""
    if given.get("preset"):
        return given["preset"]
    source = given.get("finetune_from")
    if source:
        preset = world.finetune_preset(source)
        if preset not in PRESETS:
            raise ValueError(
                f"`finetune_from={source}`: its preset {preset!r} is not one of "
                "ours; give `preset` matching its networks."
            )
        return preset
    if given.get("dataset") and given.get("arch") in (None, "msg_stylegan"):
        return "auto"
    return DEFAULT_PRESETS[given.get("arch") or "msg_stylegan"]


def network_options(preset, data, given):
    """`{"G_kwargs", "D_kwargs"}`: the preset's with the dataset's `data`
    options and the given `combine`, `use_wscale` and `spectral_norm`."""
    g_kwargs, d_kwargs = {**preset.G, **data}, {**preset.D, **data}
    if given.get("combine"):
        d_kwargs["combine"] = given["combine"]
    if given.get("use_wscale") is False:  # Plain initialisation (BMSG-GAN).
        g_kwargs["use_wscale"] = d_kwargs["use_wscale"] = False
    # Every conv/dense of D, or of both networks (the original MSG-GAN post).
    if given.get("spectral_norm") in ("D", "both"):
        d_kwargs["spectral_norm"] = True
    if given.get("spectral_norm") == "both":
        g_kwargs["spectral_norm"] = True
    return {"G_kwargs": g_kwargs, "D_kwargs": d_kwargs}


def progressive_schedule(given, preset):
    """ProGAN's schedule options, or None for the MSG architectures.

    `batch` replaces the per-resolution minibatch sizes with one size.
    """
    if "sched" not in preset.train:
        return None
    sched = plain(preset.train["sched"])
    if given.get("batch") is not None:
        sched["minibatch_base"] = given["batch"]
        sched["minibatch_dict"] = {}
    return sched


def conversion_options(resolution, values):
    """`create_from_images` options of a folder or zip: the resolution, and
    each conversion option that `values` gives (only those: they are part of
    the conversion's cache key, so a run and its resume build them alike)."""
    conversion = {"resolution": resolution}
    for name in CONVERSION_OPTIONS:
        if values.get(name) is not None:
            conversion[name] = values[name]
    return conversion


def _resumed(given, recorded, world):
    trains_on = None
    if given.get("dataset") is not None:
        # The given folder or zip converted as the run's command converted it.
        asked = {**given, **(recorded.requested or {})}
        conversion = conversion_options(recorded.G_kwargs["resolution"], asked)
        trains_on = world.trains_on(given["dataset"], conversion)
    check_must_equal(recorded, given, set(given), trains_on)
    return apply_changes(recorded, given, set(given))[0]


def agree_on_precision(config, vote):
    """The config with a precision every worker shares: with several workers
    (`vote` not None), `auto` keeps bf16 only where every worker chose it,
    else all use fp32. An explicit `mixed_precision` is kept as given.

    Args:
        vote: `vote(value) -> bool`, whether `value` holds on every worker;
            None for one worker.
    """
    if config.precision_reason is None or vote is None:
        return config
    if vote(config.mixed_precision == "bf16"):
        return config
    return dataclasses.replace(
        config,
        mixed_precision="off",
        precision_reason=(
            "not every worker computes bf16 natively "
            f"(this one: {config.mixed_precision}, {config.precision_reason})"
        ),
    )
