"""What a resume does with the options given again: the user's own command
with `resume` added continues the run.

Each option declares what a resume does with it (options.py; no TensorFlow
here):
- `RESUME_CHANGEABLE`: training and snapshot options; a resume applies the
  given value from its kimg on and records the change.
- `RESUME_MUST_EQUAL`: the networks, the data, the run's randomness,
  precision and augmentation; a given value must equal what the run recorded
  (a path that resolves to the same dataset; `auto` equals what auto chose
  when the run started), else the resume is refused in one line naming the
  option, the recorded value and the given one.
- `PROCESS` options: this process only; a resume applies those the config
  records (`PROCESS_OPTIONS`: strategy, jit) as it applies changeable ones.
"""

import dataclasses
import pathlib

from msg_stylegan_tf2.training.options import (
    CONVERSION_DEFAULTS,
    CONVERSION_OPTIONS,
    OPTIONS,
    PROCESS_OPTIONS,
    RESUME_CHANGEABLE,
    RESUME_MUST_EQUAL,
)

_PATHS = ("dataset", "finetune_from")


def absolute(path):
    """`path` with `~` expanded, made absolute and resolved, as a string."""
    return str(pathlib.Path(path).expanduser().resolve())


def requested_options(options, preset, dataset):
    """What a new run's command asked for of `RESUME_MUST_EQUAL` (the given
    value, else what leaving it out means), recorded as the config's
    `requested` so that the same command given again at a resume is accepted.

    Paths are recorded absolute; the conversion options as given (None where
    not given: the conversion's cache key has only the given ones).

    Args:
        options: the flag values (a dict; None where not given).
        preset: the preset the command names before `auto` is resolved.
        dataset: the dataset the command names (its default when not given).
    """
    recorded = {}
    for name in RESUME_MUST_EQUAL:
        value = options.get(name)
        if name in _PATHS and value is not None:
            value = absolute(value)
        recorded[name] = value
    recorded["preset"] = preset
    recorded["dataset"] = absolute(dataset)
    recorded["mixed_precision"] = options.get("mixed_precision") or "auto"
    return recorded


def _spectral_norm(config):
    if config.G_kwargs.get("spectral_norm"):
        return "both"
    return "D" if config.D_kwargs.get("spectral_norm") else "none"


def recorded_value(config, name):
    """The run's value of a `RESUME_MUST_EQUAL` option as it trains with it
    (None for the conversion options, which shaped `config.dataset`)."""
    if name == "resolution":
        return config.G_kwargs["resolution"]
    if name == "combine":
        return config.D_kwargs.get("combine")
    if name == "use_wscale":
        return config.G_kwargs.get("use_wscale", True)
    if name == "spectral_norm":
        return _spectral_norm(config)
    if name in CONVERSION_OPTIONS:
        return None
    return getattr(config, name)


def _same(name, given, recorded):
    if name in CONVERSION_OPTIONS:  # Unset means the conversion's default.
        given = CONVERSION_DEFAULTS[name] if given is None else given
        recorded = CONVERSION_DEFAULTS[name] if recorded is None else recorded
    if given is None or recorded is None:
        return given is recorded
    if name in _PATHS:
        return absolute(given) == absolute(recorded)
    return given == recorded


def _equal(name, given, config, trains_on):
    # Whether a given must-equal option is what the run started with.
    requested = config.requested or {}
    if name not in CONVERSION_OPTIONS and _same(
        name, given, recorded_value(config, name)
    ):
        return True
    if name in requested and _same(name, given, requested[name]):
        return True
    if name == "mixed_precision" and given == "auto":
        # A run whose precision auto chose records why (older runs too).
        return config.precision_reason is not None
    if name == "dataset" and trains_on is not None:
        # The same images converted alike (the cache dir may differ).
        return _same_conversion(trains_on, config.dataset)
    if name in CONVERSION_OPTIONS and name not in requested:
        return _same(name, given, None)  # Runs from before `requested`.
    return False


def _same_conversion(tfrecord_dir, recorded):
    # Conversions are named by their source's content and options.
    return pathlib.Path(tfrecord_dir).name == pathlib.Path(recorded).name


def _shown(name, config):
    # The run's value as the refusal shows it: what its command asked for.
    value = (config.requested or {}).get(name)
    if value is None and name not in CONVERSION_OPTIONS:
        value = recorded_value(config, name)
    if name == "mixed_precision" and config.precision_reason is not None:
        return f"auto ({config.mixed_precision}: {config.precision_reason})"
    if name == "preset" and value == "auto":
        return f"auto ({config.preset})"
    if name in CONVERSION_OPTIONS and value is None:
        value = CONVERSION_DEFAULTS[name]
    return "unset" if value is None else value


def check_must_equal(config, options, given, trains_on=None):
    """Refuses a resume whose given `RESUME_MUST_EQUAL` options differ from
    what the run recorded.

    Args:
        config: the run's TrainingConfig.
        options: the flag values (a dict).
        given: names of the options given.
        trains_on: the TFRecord directory the given `dataset` gives today
            (converted as the run's was; None where that cannot be known):
            a path equal to the run's whose images changed since is refused.

    Raises:
        ValueError: one line naming each option that differs, the run's value
            and the given one.
    """
    differ = [
        name
        for name in RESUME_MUST_EQUAL
        if name in given and not _equal(name, options.get(name), config, trains_on)
    ]
    if differ:
        parts = [
            f"`{name}={options.get(name)}` differs from the run's "
            f"{_shown(name, config)}"
            for name in differ
        ]
        raise ValueError(
            f"`resume`: {'; '.join(parts)}. A run keeps the networks, data, seed, "
            "precision and augmentation it started with: give the run's values "
            "or leave these out, or start a new run (`finetune_from` starts one "
            "from this run's networks)."
        )
    if (
        "dataset" in given
        and trains_on is not None
        and not _same_conversion(trains_on, config.dataset)
    ):
        raise ValueError(
            f"`resume`: `dataset={options['dataset']}`: its images changed since "
            f"the run converted them into {config.dataset}, which it trains on: "
            "leave `dataset` out to go on with those, or start a new run."
        )


def plain(value):
    """`value` with read-only mappings (as presets hold) as dicts, for JSON."""
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


def changed_options(before, after):
    """`{name: {"from": old, "to": new}}` of the changeable and process
    options (and ProGAN's schedule, which `batch` sets) whose value differs
    between configs `before` and `after`."""
    return {
        name: {"from": plain(getattr(before, name)), "to": plain(getattr(after, name))}
        for name in (*RESUME_CHANGEABLE, *PROCESS_OPTIONS, "sched")
        if getattr(before, name) != getattr(after, name)
    }


def apply_changes(config, options, given):
    """The configuration with the given `RESUME_CHANGEABLE` and
    `PROCESS_OPTIONS` values applied.

    Returns:
        `(config, changes)`: changes is `{name: {"from": old, "to": new}}` of the
        options whose value changed (`changed_options`).
    """
    updates = {}
    for name in RESUME_CHANGEABLE + PROCESS_OPTIONS:
        if name not in given:
            continue
        value = options[name]
        if OPTIONS[name].to_config is not None:
            value = OPTIONS[name].to_config(value)
        if name == "batch" and config.sched is not None:  # ProGAN: per phase.
            updates["sched"] = {
                **config.sched,
                "minibatch_base": value,
                "minibatch_dict": {},
            }
        updates[name] = value
    changed = dataclasses.replace(config, **updates)
    return changed, changed_options(config, changed)
