"""Argument checks shared by layers and networks: one-line ValueErrors."""

import math


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
