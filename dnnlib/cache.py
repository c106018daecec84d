"""The project's cache directory (converted datasets, Inception graph, statistics)."""

import os
import pathlib


def cache_root():
    """`$MSG_STYLEGAN_CACHE`, else `~/.cache/msg_stylegan_tf2`."""
    root = os.environ.get("MSG_STYLEGAN_CACHE")
    if root:
        return pathlib.Path(root)
    return pathlib.Path.home() / ".cache" / "msg_stylegan_tf2"
