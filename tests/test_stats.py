"""Tick statistics: the peak memory a run reports is its own."""

import pathlib
import subprocess
import sys

import numpy as np

from msg_stylegan_tf2.training.stats import peak_memory_gb

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_peak_memory_reads_the_resident_high_water_mark(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 9999999 kB\nVmHWM:\t 1048576 kB\n")
    assert peak_memory_gb(str(status)) == 1.0
    # Without /proc (macOS): the rusage peak, a positive number.
    assert peak_memory_gb(str(tmp_path / "missing")) > 0


def test_a_run_started_by_a_large_process_reports_its_own_peak():
    # Linux keeps the parent's peak across fork and exec in ru_maxrss: a
    # training started from a notebook would report the notebook's memory.
    ballast = np.ones(1 << 28, np.float32)  # 1 GiB, touched.
    child = (
        "import resource; from msg_stylegan_tf2.training.stats import "
        "peak_memory_gb; print(peak_memory_gb(), "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)"
    )
    output = subprocess.run(
        [sys.executable, "-c", child],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    own, inherited = float(output[-2]), float(output[-1])
    assert inherited > 1.0  # The parent's gigabyte counted by ru_maxrss.
    assert own < inherited - 0.5
    del ballast
