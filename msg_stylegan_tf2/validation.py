"""Argument checks shared by layers and networks, and of options read from
files (training_options.json): one-line ValueErrors."""

import dataclasses
import json
import math
import types
import typing

import numpy as np


def check_choice(name, value, choices):
    """Raises ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}. Received: {value!r}")


def check_count(name, value, minimum=0):
    """Raises ValueError unless `value` is an integer (not bool) >= `minimum`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {value!r}"
        )


def check_positive(name, value):
    """Raises ValueError unless `value` is a number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {value!r}")


def check_resolution(resolution, minimum=4):
    """Returns log2(resolution); raises unless it is a power of two >= `minimum`."""
    if (
        not isinstance(resolution, int)
        or isinstance(resolution, bool)
        or resolution < minimum
        or resolution & (resolution - 1)
    ):
        raise ValueError(
            f"`resolution` must be a power of two >= {minimum}. "
            f"Received: {resolution!r}"
        )
    return int(math.log2(resolution))


# Network options read from files (official pickles, training_options.json)
# bound what rebuilding a network costs before its size is known: layer
# counts (time), feature maps and filter taps (numpy arrays built per channel).
# Official values: resolution 1024, mapping_layers 8, fmap_max 512.
MAX_OPTION_LENGTH = 64  # Items of a list option such as `blur_filter`.
MAX_NAME_LENGTH = 256  # Of network, component, option and variable names.
MAX_INT_OPTION = {"resolution": 2**16, "mapping_layers": 256, "fmap_max": 2**14}
MAX_OTHER_INT_OPTION = 2**20
_SCALARS = (type(None), bool, int, float, str, np.generic)
_NUMBERS = (int, float, np.integer, np.floating)


def is_name(value):
    """A name as files may hold it: 1 to `MAX_NAME_LENGTH` printable characters."""
    return (
        type(value) is str and 0 < len(value) <= MAX_NAME_LENGTH and value.isprintable()
    )


def is_plain_option(value):
    """A network option as files may hold it: a scalar (numpy's too), or a
    short list of numbers (`MAX_OPTION_LENGTH`)."""
    if isinstance(value, _SCALARS):
        return True
    return (
        type(value) in (list, tuple)
        and len(value) <= MAX_OPTION_LENGTH
        and all(isinstance(v, _NUMBERS) and type(v) is not bool for v in value)
    )


def check_option_size(name, value):
    """Raises ValueError when an integer option from a file exceeds its bound
    (`MAX_INT_OPTION`, else `MAX_OTHER_INT_OPTION`)."""
    limit = MAX_INT_OPTION.get(name, MAX_OTHER_INT_OPTION)
    if type(value) is int and abs(value) > limit:
        raise ValueError(
            f"option `{name}` is {value}; this port takes at most {limit}."
        )


def first_line(error):
    """The first line of `error`'s message (else its type's name), for errors
    of one line that quote another library's."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# The JSON types a field of each annotation accepts (bool is not a number).
_JSON_TYPES = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
    dict: (dict,),
    tuple: (list, tuple),
    type(None): (type(None),),
}


def parse_json_object(text, where):
    """The object of options in JSON `text`, e.g. a `training_options.json`.

    Raises:
        ValueError: one line starting with `where`: not JSON (nested too
            deeply included), or not an object.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError: ValueError.
        raise ValueError(f"{where}: not valid JSON ({e}).") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{where}: expected an object of options, not {type(data).__name__}."
        )
    return data


def json_types(annotation):
    """The JSON value types of a field annotated `annotation` (e.g.
    `float | None` -> `(int, float, NoneType)`)."""
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType)
        else (annotation,)
    )
    return tuple(t for member in members for t in _JSON_TYPES[member])


def check_fields(data, cls, where, known_only=True):
    """Checks options read from a file against the fields of dataclass `cls`:
    none unknown (when `known_only`), none without a default missing, each of
    its field's JSON types (`json_types`).

    Raises:
        ValueError: one line starting with `where`.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if known_only and unknown:
        raise ValueError(f"{where}: unknown options {unknown}.")
    missing = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and name not in data
    ]
    if missing:
        raise ValueError(f"{where}: missing options {missing}.")
    for name, value in data.items():
        if name not in fields:
            continue
        allowed = json_types(fields[name].type)
        if type(value) not in allowed:
            raise ValueError(
                f"{where}: option `{name}` must be "
                f"{' or '.join(t.__name__ for t in allowed)}. "
                f"Received: {type(value).__name__}"
            )


def check_network_options(data, where, archs):
    """Checks the network options of a run read from a file: `arch` one of
    `archs`, and `G_kwargs` and `D_kwargs` of plain, bounded options
    (`is_name`, `is_plain_option`, `check_option_size`): a stranger's file
    names networks that can be sized before any is built.

    Args:
        data: options with `arch` (a str), `G_kwargs` and `D_kwargs` (dicts),
            as `check_fields` leaves them.

    Raises:
        ValueError: one line starting with `where`.
    """
    if data["arch"] not in archs:
        raise ValueError(
            f"{where}: `arch` must be one of {archs}. Received: {data['arch'][:64]!r}"
        )
    for group in ("G_kwargs", "D_kwargs"):
        for key, value in data[group].items():
            if not is_name(key):
                raise ValueError(
                    f"{where}: {group} has an option named {key[:64]!r}; "
                    "names are 1 to 256 printable characters."
                )
            if not is_plain_option(value):
                raise ValueError(
                    f"{where}: {group} `{key}` must be a number, string, bool "
                    "or a short list of numbers."
                )
            try:
                check_option_size(key, value)
            except ValueError as e:
                raise ValueError(f"{where}: {group} {e}") from None
