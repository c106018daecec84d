"""Quiet TensorFlow import: start-up banners hidden, later warnings shown."""

import os
import pathlib
import re
import subprocess
import sys

from dnnlib.quiet_tf import worth_showing

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Import quietly, then run an op that fails: TF's C++ runtime logs a warning.
FAILING_OP = """
import os
from dnnlib.quiet_tf import import_tensorflow
tf = import_tensorflow()
print("level", os.environ["TF_CPP_MIN_LOG_LEVEL"], flush=True)
try:
    tf.reshape(tf.zeros([3]), [2])
except tf.errors.InvalidArgumentError:
    pass
"""
OP_WARNING = re.compile(r"^W\d{4} .*Input to reshape is a tensor with 3 values", re.M)
BANNERS = ("oneDNN", "cuda drivers", "cpu_feature_guard", "absl::InitializeLog")


def run_failing_op(level):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run(
        [sys.executable, "-c", FAILING_OP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout, result.stderr


def test_op_warnings_reach_stderr_after_a_quiet_import():
    stdout, stderr = run_failing_op(None)
    assert stdout == "level 1\n"
    assert OP_WARNING.search(stderr), stderr
    assert not [b for b in BANNERS if b in stderr], stderr


def test_a_level_set_by_the_user_is_kept():
    stdout, stderr = run_failing_op("2")
    assert stdout == "level 2\n"
    assert not OP_WARNING.search(stderr) and "oneDNN" not in stderr, stderr


START_UP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1.1 1 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1.2 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.
To enable the following instructions: AVX2 FMA, rebuild TensorFlow.
E0000 00:00:1.3 1 cuda_fft.cc:477] Unable to register cuFFT factory: already registered
W0000 00:00:1.4 1 gpu_device.cc:2344] Cannot dlopen some GPU libraries.
Skipping registering GPU devices...
E0000 00:00:1.5 1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_start_up_lines_keep_warnings_and_errors_only():
    gpu_warning = (
        "W0000 00:00:1.4 1 gpu_device.cc:2344] Cannot dlopen some GPU libraries.\n"
        "Skipping registering GPU devices...\n"
    )
    cuinit = START_UP.splitlines(keepends=True)[-1]
    assert worth_showing(START_UP, 1) == gpu_warning + cuinit
    assert worth_showing(START_UP, 2) == cuinit
    assert worth_showing(START_UP, 3) == ""
    # Without a CUDA driver, cuInit's failure is expected: not shown.
    no_driver = "I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers\n"
    assert worth_showing(no_driver + START_UP, 1) == gpu_warning
    old_format = "2024-01-01 10:00:00.123: W tensorflow/x.cc:1] Out of memory.\n"
    assert worth_showing(old_format, 1) == old_format
