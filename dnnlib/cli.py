"""What the command-line scripts share: a user-facing error in one line, and
the one for running out of memory.

Library errors name options as the Python API does, in backquotes:
`channels`, `channels=3`, `inception_unverified=True`. A script shows the ones
that are its flags as flags (`--channels`, `--channels=3`,
`--inception_unverified`), so a message is true for every script that shows it.
"""

import re
import sys

_OPTION = re.compile(r"`(\w+)(=[^`]*)?`")


def as_flags(message, flag_names):
    """`message` with each backquoted option that is in `flag_names` as a flag.

    Args:
        message: a library error.
        flag_names: the script's flag names (e.g. absl's `FLAGS`).
    """
    names = set(flag_names)

    def flag(match):
        name, value = match.group(1), match.group(2)
        if name not in names:
            return match.group(0)
        if value == "=True":
            return f"--{name}"
        if value == "=False":
            return f"--no{name}"
        return f"--{name}{value or ''}"

    return _OPTION.sub(flag, message)


def fail(prog: str, message: str, flag_names=()) -> int:
    """Prints `<prog>: error: <message>` to stderr; returns the exit status 1.

    Args:
        prog: the script's name, e.g. "run_metrics.py".
        message: one line saying what was wrong, where, and what to do.
        flag_names: the script's flags, shown as flags where the message
            names them as options (see `as_flags`).
    """
    print(f"{prog}: error: {as_flags(message, flag_names)}", file=sys.stderr)
    return 1


def out_of_memory(prog: str, flag: str | None = None, value=None) -> int:
    """Reports running out of memory in one line; returns the exit status 1.

    For `tf.errors.ResourceExhaustedError` (the accelerator's or TensorFlow's
    allocator) and `MemoryError` (Python's): the script catches them and calls
    this instead of showing a traceback.

    Args:
        prog: the script's name, e.g. "generate.py".
        flag: the flag that sets the images per step, without dashes (e.g.
            "batch"); None for a script without one.
        value: that flag's value.
    """
    if flag is None:
        message = "out of memory; free memory or use a machine with more."
    else:
        message = f"out of memory at --{flag}={value}; lower --{flag}."
    return fail(prog, message)
