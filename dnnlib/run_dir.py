"""Run directories `results/<00000>-<desc>/` and the run's log file."""

import pathlib
import re
import sys

_RUN = re.compile(r"^(\d{5})-")


def run_dirs(outdir):
    """Existing run directories under `outdir`, oldest first."""
    outdir = pathlib.Path(outdir)
    if not outdir.is_dir():
        return []
    runs = [p for p in outdir.iterdir() if p.is_dir() and _RUN.match(p.name)]
    return sorted(runs, key=lambda p: int(_RUN.match(p.name).group(1)))


def create_run_dir(outdir, desc):
    """Creates `outdir/<next id>-<desc>` and returns its path."""
    runs = run_dirs(outdir)
    next_id = int(_RUN.match(runs[-1].name).group(1)) + 1 if runs else 0
    path = pathlib.Path(outdir) / f"{next_id:05d}-{desc}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def latest_run_with_checkpoint(outdir):
    """The newest run directory holding a checkpoint, or None."""
    for run in reversed(run_dirs(outdir)):
        if (run / "checkpoints" / "checkpoint").is_file():
            return run
    return None


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
