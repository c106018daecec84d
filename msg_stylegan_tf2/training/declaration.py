"""What an option's declaration says (`Option`): its type, default, help text,
resume behaviour and checks; `option()` declares one beside its field of a
config dataclass. No TensorFlow here."""

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from msg_stylegan_tf2.networks.presets import ARCHS, PRESETS

# What a resume does with an option given again (training/resume.py).
CHANGEABLE = "changeable"  # Applied from the resumed kimg on; recorded.
MUST_EQUAL = "must_equal"  # Fixed for a run: a differing value is refused.
PROCESS = "process"  # How this process runs: each command's own.
RESUME_KINDS = (CHANGEABLE, MUST_EQUAL, PROCESS)
# The types of option values (train.py's flag types; list: of strings).
TYPES = (bool, int, float, str, list)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a training run: a keyword of `resolve` and a flag of
    train.py.

    Attributes:
        name: the option's name (official where the official code has one).
        type: bool, int, float, str or list (of strings; a tuple in the
            config).
        default: what leaving it out means; a preset's training defaults
            (`NetworkPreset.train`) may set their own.
        help: one line for `--help`; `{default}` stands for what leaving it
            out means, with the presets that set their own (`default_help`).
            Options are named in backquotes (`lr`); train.py shows them as
            flags.
        resume: `CHANGEABLE`, `MUST_EQUAL` or `PROCESS`.
        choices: the values it takes (None: any of its type).
        lower_bound, upper_bound: inclusive bounds of a number (None: none).
        check: `check(name, value, given)` raises ValueError where `value`,
            with the other options `given` (`{name: value}`), cannot run.
        check_run: `check_run(config, world)` raises ValueError where the
            resolved `TrainingConfig` cannot run (with what `resolve.World`
            found: the dataset's resolution, the loss's penalties).
        to_config: the config's value of a given value (None: the same).
        conversion: an option of converting image folders and zips
            (`create_from_images`): part of the conversion's cache key where
            given.
    """

    name: str
    type: type
    default: Any
    help: str
    resume: str
    choices: tuple | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    check: Callable[[str, Any, Mapping[str, Any]], None] | None = None
    check_run: Callable[[Any, Any], None] | None = None
    to_config: Callable[[Any], Any] | None = None
    conversion: bool = False

    def __post_init__(self):
        assert self.type in TYPES, (self.name, self.type)
        assert self.resume in RESUME_KINDS, (self.name, self.resume)
        assert "--" not in self.help, f"{self.name}: name options as `name`"

    def validate(self, value, given):
        """Raises ValueError unless `value` (not None) is of the option's
        type, one of its choices, within its bounds and passes its check."""
        if not _is_type(value, self.type):
            raise ValueError(
                f"`{self.name}` must be {self.type.__name__}. Received: {value!r}"
            )
        if self.choices is not None and value not in self.choices:
            raise ValueError(
                f"`{self.name}` must be one of {self.choices}. Received: {value!r}"
            )
        if self.lower_bound is not None and value < self.lower_bound:
            raise ValueError(
                f"`{self.name}` must be >= {self.lower_bound}. Received: {value}"
            )
        if self.upper_bound is not None and value > self.upper_bound:
            raise ValueError(
                f"`{self.name}` must be <= {self.upper_bound}. Received: {value}"
            )
        if self.check is not None:
            self.check(self.name, value, given)


def _is_type(value, kind):
    if kind is list:
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, str) for v in value
        )
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def option(default, help, *, resume, **declared):
    """A dataclass field declaring an option named and typed as the field:

        lr: float = option(0.003, "Learning rate ({default}).", resume=CHANGEABLE)

    Args:
        default, help, resume, declared: `Option`'s attributes.
    """
    spec = {"help": help, "resume": resume, **declared}
    return dataclasses.field(default=default, metadata={"option": spec})


def field_options(cls):
    """The options that the fields of dataclass `cls` declare, in order."""
    return tuple(
        Option(f.name, _value_type(f.type), f.default, **f.metadata["option"])
        for f in dataclasses.fields(cls)
        if "option" in f.metadata
    )


def _value_type(annotation):
    # The option type of a field annotation: `float | None` -> float,
    # tuple -> list.
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType)
        else (annotation,)
    )
    (kind,) = (t for t in members if t is not type(None))
    return list if kind is tuple else kind


def _shown(value):
    if type(value) is bool:
        return "on" if value else "off"
    if value is None or value == ():
        return "none"
    return f"{value:g}" if type(value) is float else str(value)


def default_help(option):
    """What leaving `option` out means, for help texts: its default and the
    presets that set their own, e.g. `default 10; demo_32: 4`."""
    by_value = {}
    for preset_name, preset in PRESETS.items():
        value = preset.train.get(option.name, option.default)
        if value != option.default:
            by_value.setdefault(value, []).append(preset_name)
    parts = [f"default {_shown(option.default)}"]
    for value, names in by_value.items():
        for arch in ARCHS:  # A whole architecture's presets by its name.
            of_arch = [n for n, p in PRESETS.items() if p.arch == arch]
            if set(of_arch) <= set(names):
                names = [f"{arch} presets"] + [n for n in names if n not in of_arch]
        parts.append(f"{', '.join(names)}: {_shown(value)}")
    return "; ".join(parts)


def help_text(option):
    """`option.help` with `{default}` replaced by `default_help(option)`."""
    return option.help.replace("{default}", default_help(option))


# Checks an option may declare: `check(name, value, given)`.


def below_one(name, value, given):
    if not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {value}")


def positive(name, value, given):
    if value <= 0:
        raise ValueError(f"`{name}` must be > 0. Received: {value}")


def needs(other, what):
    # The option needs `other` given too.
    def check(name, value, given):
        if value and not given.get(other):
            raise ValueError(f"`{name}` needs `{other}=PATH` ({what}).")

    return check


def percentage(name, value, given):
    if not 0 < value <= 100:
        raise ValueError(f"`{name}` must be in (0, 100]. Received: {value}")


def one_or_three(name, value, given):
    if value not in (1, 3):
        raise ValueError(f"`{name}` must be 1 or 3. Received: {value}")


def power_of_two(name, value, given):
    if value < 8 or value & (value - 1):
        raise ValueError(f"`{name}` must be a power of two >= 8. Received: {value}")
