"""Argument checks shared by layers and networks: one-line ValueErrors."""

import math

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
