"""Writing a directory atomically: build it under a temporary name, then rename."""

import contextlib
import os
import pathlib
import shutil


def remove_tree(path):
    """Removes a directory tree, finishing even if a signal handler raises meanwhile.

    Ctrl-C (KeyboardInterrupt) or a SIGTERM handler that raises can land inside
    the cleanup itself; the removal then restarts, completes, and the exception
    is raised again afterwards, so no half-removed directory is left behind.
    """
    interrupted = None
    for _ in range(10):  # Bounded: a signal per attempt is the most one sees.
        try:
            shutil.rmtree(path, ignore_errors=True)
            break
        except BaseException as e:  # noqa: B036 - re-raised below.
            interrupted = e
    if interrupted is not None:
        raise interrupted


@contextlib.contextmanager
def atomic_directory(path):
    """Yields an empty temporary sibling of `path` that becomes `path` on success.

    On an exception (Ctrl-C or a SIGTERM that raises included, wherever it
    lands) the temporary directory is removed and nothing appears at `path`.

    Raises:
        ValueError: when `path` already exists.
    """
    path = pathlib.Path(path)
    if path.exists():
        raise ValueError(f"{path} already exists; delete it or choose another output.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    remove_tree(tmp)
    try:
        tmp.mkdir()
        yield tmp
        os.replace(tmp, path)
    finally:
        remove_tree(tmp)
