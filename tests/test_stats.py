"""Tick statistics: count, mean and standard deviation over every image of a
tick's steps; the peak memory a run reports is its own."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from msg_stylegan_tf2.training.stats import (
    SQUARES,
    Collector,
    peak_memory_gb,
    record_kimg,
)

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


def test_a_ticks_statistics_are_over_every_image_of_its_steps():
    # Two steps' terms as `TrainingSteps` gives them: means and means of squares.
    values = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 7.0])]
    collector = Collector()
    for v in values:
        collector.report_terms({"x": v.mean(), "x" + SQUARES: (v**2).mean()}, len(v))
    collector.report("once", 3.0)
    every = np.concatenate(values)
    assert collector.stats() == {
        "once": {"num": 1, "mean": 3.0, "std": 0.0},
        "x": {
            "num": 6,
            "mean": pytest.approx(every.mean()),
            "std": pytest.approx(every.std()),
        },
    }
    collector.reset()
    assert collector.stats() == {}


def test_a_records_kimg_in_this_layout_and_the_flat_one_before_it():
    assert record_kimg({"Progress/kimg": {"num": 1, "mean": 1.5, "std": 0.0}}) == 1.5
    assert record_kimg({"kimg": 2.0, "lr": 0.003}) == 2.0
