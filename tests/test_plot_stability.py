"""plot_stability.py: reads stability.jsonl of runs and draws one PNG."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import PIL.Image

from dnnlib.plot import line_plot

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_line_plot_draws_each_series():
    image = line_plot(
        {"a": ([0, 1, 2], [0.3, 0.2, 0.1]), "b": ([0, 2], [0.5, 0.4])},
        "t",
        "kimg",
        "mse",
    )
    assert image.shape == (400, 640, 3)
    colors = {tuple(c) for c in image.reshape(-1, 3)}
    assert (31, 119, 180) in colors and (255, 127, 14) in colors


def test_log_axis_places_decades_evenly():
    series = {"a": ([0, 1, 2], [1.0, 0.1, 0.01])}
    image = line_plot(series, "t", "kimg", "mse", log_y=True)
    blue = np.argwhere(np.all(image == (31, 119, 180), axis=-1))
    rows = [blue[np.abs(blue[:, 1] - col) < 2, 0].mean() for col in (70, 345, 620)]
    # Equal steps in log10: the middle point is halfway between the others.
    assert abs((rows[0] + rows[2]) / 2 - rows[1]) < 3
    assert rows[0] < rows[1] < rows[2]


def test_cli_plots_runs_and_reports_missing_files(tmp_path):
    for name, scale in (("00000-msg", 1.0), ("00001-progan", 3.0)):
        run = tmp_path / name
        run.mkdir()
        lines = [
            json.dumps({"kimg": k, "mse": {"4x4": scale / k, "8x8": 2 * scale / k}})
            for k in (1, 2, 3)
        ]
        (run / "stability.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "plot.png"
    runs = f"{tmp_path / '00000-msg'},{tmp_path / '00001-progan'}"
    result = subprocess.run(
        [sys.executable, "plot_stability.py", f"--runs={runs}", f"--out={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert np.asarray(PIL.Image.open(out)).shape == (400, 640, 3)
    result = subprocess.run(
        [sys.executable, "plot_stability.py", f"--runs={tmp_path}", f"--out={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("plot_stability.py: error:")
    assert "stability.jsonl: missing" in result.stderr
