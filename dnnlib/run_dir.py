"""Run directories `results/<00000>-<desc>/` and the run's log file."""

import contextlib
import fcntl
import os
import pathlib
import re
import socket
import sys
import time

_RUN = re.compile(r"^(\d{5})-")


def run_dirs(outdir):
    """Existing run directories under `outdir`, oldest first."""
    outdir = pathlib.Path(outdir)
    if not outdir.is_dir():
        return []
    runs = [p for p in outdir.iterdir() if p.is_dir() and _RUN.match(p.name)]
    return sorted(runs, key=lambda p: int(_RUN.match(p.name).group(1)))


@contextlib.contextmanager
def _exclusive(directory):
    # Blocks until this process holds a lock on the directory itself (released
    # when closed or when the process dies).
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create_run_dir(outdir, desc):
    """Creates `outdir/<next id>-<desc>` and returns its path.

    Ids never collide: concurrent trainers take them under a lock in `outdir`.
    """
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with _exclusive(outdir):
        runs = run_dirs(outdir)
        next_id = int(_RUN.match(runs[-1].name).group(1)) + 1 if runs else 0
        path = outdir / f"{next_id:05d}-{desc}"
        path.mkdir(exist_ok=False)
    return path


def latest_run(outdir):
    """The newest run directory holding `training_options.json`, or None."""
    for run in reversed(run_dirs(outdir)):
        if (run / "training_options.json").is_file():
            return run
    return None


class RunLock:
    """One trainer per run directory: an exclusive lock on `<run>/.lock`.

    The file names the holder (host, pid, start time). The operating system
    releases the lock when the process ends, however it ends (SIGKILL too).

    Raises:
        ValueError: another process holds the run (one line naming it).
    """

    def __init__(self, run_dir):
        self.path = pathlib.Path(run_dir) / ".lock"
        self._file = None

    def __enter__(self):
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise ValueError(
                f"{self.path.parent}: in use by {holder}; wait for it to end or stop "
                "it, then resume."
            ) from None
        f.seek(0)
        f.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since {started}\n")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *args):
        self._file.close()  # Releases the lock; the file stays, harmless.
        self._file = None


class Log:
    """Prints lines and appends them to `log.txt` in the run directory."""

    def __init__(self, path, stream=None):
        self.path = pathlib.Path(path)
        self.stream = stream if stream is not None else sys.stdout

    def __call__(self, line):
        self.stream.write(line + "\n")
        self.stream.flush()
        with open(self.path, "a") as f:
            f.write(line + "\n")
