"""What the command-line scripts share: a user-facing error in one line."""

import sys


def fail(prog: str, message: str) -> int:
    """Prints `<prog>: error: <message>` to stderr; returns the exit status 1.

    Args:
        prog: the script's name, e.g. "run_metrics.py".
        message: one line saying what was wrong, where, and what to do.
    """
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 1
