"""Running train.py as a user does, for the benches: one run per folder,
reused when it finished; its final grid."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from dnnlib.image_io import save_png

ROOT = pathlib.Path(__file__).resolve().parents[1]


def train(outdir, *args, seconds=None):
    """Runs `train.py --outdir=<outdir> ARGS` unless a run there finished.

    Args:
        seconds: stop the run with SIGINT after this wall-clock time (it
            saves a checkpoint and exits), for comparisons at equal time.

    Returns:
        `(run directory, wall-clock seconds of the train.py process)`.
    """
    outdir = pathlib.Path(outdir)
    for run in sorted(outdir.glob("*/done"), reverse=True):
        return run.parent, float(run.read_text())
    command = [sys.executable, "train.py", f"--outdir={outdir}", *args]
    print(" ".join(command[1:]), flush=True)
    start = time.time()
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        process.wait()
    wall = time.time() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit status {process.returncode}")
    run = sorted(p for p in outdir.iterdir() if p.is_dir())[-1]
    tmp = run / "done.tmp"
    tmp.write_text(f"{wall:.1f}")
    os.replace(tmp, run / "done")
    return run, wall


def final_grid(run):
    grids = sorted((run / "fakes" / "32x32").glob("*.png"))
    with Image.open(grids[-1]) as image:
        return np.asarray(image.convert("RGB"))


def side_by_side(grids, path):
    gap = np.full((grids[0].shape[0], 8, 3), 255, np.uint8)
    row = [grids[0]]
    for grid in grids[1:]:
        row += [gap, grid]
    path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(np.concatenate(row, axis=1), path)
    print(f"wrote {path}")
