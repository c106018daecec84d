"""Writing a directory atomically: build it under a temporary name, then rename."""

import contextlib
import os
import pathlib
import shutil


@contextlib.contextmanager
def atomic_directory(path):
    """Yields an empty temporary sibling of `path` that becomes `path` on success.

    On an exception (Ctrl-C included) the temporary directory is removed and
    nothing appears at `path`.

    Raises:
        ValueError: when `path` already exists.
    """
    path = pathlib.Path(path)
    if path.exists():
        raise ValueError(f"{path} already exists; delete it or choose another output.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
