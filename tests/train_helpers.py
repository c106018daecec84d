"""Shared helpers of the training tests: flag values, train.py subprocesses,
checkpoint contents. (The `image_folder` fixture is in conftest.py.)"""

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEP_KIMG = 0.008  # One step of the batch of 8 used here.


def options(tmp_path, image_folder, **overrides):
    values = {
        "dataset": None if image_folder is None else str(image_folder),
        "preset": "tiny",
        "resolution": None,
        "combine": None,
        "loss": "logistic",
        "r1_gamma": None,
        "r2_gamma": 0.0,
        "batch": 8,
        "total_kimg": 4 * STEP_KIMG,
        "lr": 0.003,
        "lrate_rampup_kimg": 0.0,
        "D_repeats": 1,
        "G_smoothing_kimg": None,
        "ema_rampup": 0.05,
        "mirror_augment": True,
        "tick_kimg": 2 * STEP_KIMG,
        "image_snapshot_ticks": 1,
        "network_snapshot_ticks": 1,
        "keep_checkpoints": 5,
        "grid_images": 4,
        "outdir": str(tmp_path / "results"),
        "resume": None,
        "seed": 0,
        "strategy": "one_device",
        "mixed_precision": "off",
        "jit": False,
        "max_images": None,
        "data_percentage": None,
        "cache_dir": str(tmp_path / "cache"),
        "deterministic": False,
        "dry_run": False,
    }
    values.update(overrides)
    return values


def run_train(*args, **popen):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def cli_args(tmp_path, image_folder, outdir, total_steps):
    return [
        f"--dataset={image_folder}",
        "--preset=tiny",
        "--batch=8",
        f"--total_kimg={total_steps * STEP_KIMG}",
        f"--tick_kimg={STEP_KIMG}",
        "--network_snapshot_ticks=1",
        "--keep_checkpoints=20",
        "--grid_images=4",
        "--mirror_augment",
        "--ema_rampup=0.05",
        "--strategy=one_device",
        "--mixed_precision=off",
        "--deterministic",
        f"--outdir={outdir}",
        f"--cache_dir={tmp_path / 'cache'}",
    ]


def final_variables(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    names = reader.get_variable_to_shape_map()
    # The object graph names Keras layers, whose numbering depends on what the
    # process built before; the values are what must match.
    skip = ("iterator", "_CHECKPOINTABLE_OBJECT_GRAPH")
    return {n: reader.get_tensor(n) for n in names if not any(s in n for s in skip)}


def wait_for_checkpoint(run_parent, process, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # A checkpoint counts once the manager has recorded it (its files are
        # written first, then the `checkpoint` state file).
        if list(run_parent.glob("*/checkpoints/checkpoint")):
            return
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def train_ok(*args):
    """Runs train.py to the end; returns its output."""
    process = run_train(*args)
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 0, output
    return output


def straight_and_resumed(tmp_path, image_folder, extra, steps=9, stop=3):
    """Trains `steps` steps straight, and `stop` steps then resumed to
    `steps`; checks both end with the same variables, bit for bit.

    Returns:
        `(straight run directory, its output)`.
    """
    straight = train_ok(
        *cli_args(tmp_path, image_folder, tmp_path / "a", steps), *extra
    )
    train_ok(*cli_args(tmp_path, image_folder, tmp_path / "b", stop), *extra)
    (run_b,) = (tmp_path / "b").iterdir()
    resumed = train_ok(
        f"--resume={run_b}",
        f"--outdir={tmp_path / 'b'}",
        f"--total_kimg={steps * STEP_KIMG}",
        "--deterministic",
    )
    assert "Resumed from" in resumed
    (run_a,) = (tmp_path / "a").iterdir()
    ours, theirs = final_variables(run_a), final_variables(run_b)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    return run_a, straight
