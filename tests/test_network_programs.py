"""The programs that only use a trained network (convert, generate, export,
project, run_metrics) run as their command lines do, on each kind of network
(an official pickle, a run directory, a checkpoint), in one fresh process
that then holds no module of `msg_stylegan_tf2.training`."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import PIL.Image

from datasets.export import write_arrays

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKL = ROOT / "tests" / "data" / "official" / "network-snapshot-unfused.pkl"

# Runs each script as `python <script> <flags>` does (runpy as __main__,
# absl's app.run), in turn; each one's flags are removed before the next
# defines its own.
PROGRAMS = """
import json, runpy, sys
from absl import app, flags

app.define_help_flags()
shared = set(flags.FLAGS)
codes = []
for script, *args in json.loads(sys.argv[1]):
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name="__main__")
        codes.append(None)
    except SystemExit as e:
        codes.append(e.code)
    for name in set(flags.FLAGS) - shared:
        delattr(flags.FLAGS, name)
training = sorted(m for m in sys.modules if m.startswith("msg_stylegan_tf2.training"))
print(json.dumps({"codes": codes, "training": training}))
"""


def test_network_programs_run_without_the_training_code(tmp_path):
    # A copy of the pickle: run_metrics writes its results beside it.
    pkl = tmp_path / "snapshot.pkl"
    pkl.write_bytes(PKL.read_bytes())
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [16, 16, 16, 3]).astype(np.uint8)
    write_arrays(tmp_path / "reals", images)
    PIL.Image.fromarray(images[0]).save(tmp_path / "target.png")
    run = tmp_path / "run"
    commands = [
        ["convert.py", f"--pkl={pkl}", f"--out={run}"],
        ["generate.py", f"--network={run}", "--seeds=0", f"--outdir={tmp_path}/g"],
        [
            "export.py",
            f"--network={run}/checkpoints/ckpt-0",
            f"--out={tmp_path}/saved",
        ],
        [
            "project.py",
            f"--network={pkl}",
            f"--target={tmp_path}/target.png",
            f"--outdir={tmp_path}/p",
            "--distance=pyramid",
            "--num_steps=1",
            "--nosave_video",
        ],
        [
            "run_metrics.py",
            f"--network={pkl}",
            "--metrics=swd1k",
            f"--dataset={tmp_path}/reals",
            "--num_images=16",
        ],
    ]
    result = subprocess.run(
        [sys.executable, "-c", PROGRAMS, json.dumps(commands)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"codes": [0] * len(commands), "training": []}, result.stderr
    assert (run / "training_options.json").is_file()
    assert (tmp_path / "g" / "seed0000.png").is_file()
    assert (tmp_path / "saved" / "saved_model.pb").is_file()
    assert (tmp_path / "p" / "projected_w.npz").is_file()
    record = json.loads((tmp_path / "metric-swd1k.jsonl").read_text())
    assert record["results"]["swd_avg"] > 0, record
