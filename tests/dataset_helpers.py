"""Shared helpers of the dataset tests: dataset_tool.py in its own process,
FIFOs fed from a thread (files with no size to check before reading), and
NVIDIA's zips read as its training reads them."""

import contextlib
import io
import json
import os
import pathlib
import subprocess
import sys
import threading
import zipfile

import numpy as np
import PIL.Image

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tool_command(*args):
    """The command line of `python dataset_tool.py ARGS` (run in `ROOT`)."""
    return [sys.executable, "dataset_tool.py", *map(str, args)]


def run_dataset_tool(*args):
    """Runs `python dataset_tool.py ARGS` to its end (text output captured)."""
    return subprocess.run(
        tool_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def run_dataset_tools(*commands):
    """Runs several `dataset_tool.py` commands (lists of arguments) at once,
    each in its own process: their `CompletedProcess`es, in order."""
    tools = [
        subprocess.Popen(
            tool_command(*args),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results = []
    try:
        for args, tool in zip(commands, tools, strict=True):
            stdout, stderr = tool.communicate(timeout=300)
            results.append(
                subprocess.CompletedProcess(args, tool.returncode, stdout, stderr)
            )
    finally:
        for tool in tools:
            if tool.poll() is None:
                tool.kill()
                tool.wait()
    return results


def tool_lines(stderr):
    """The tool's own lines (TensorFlow may log others)."""
    return [line for line in stderr.splitlines() if "dataset_tool.py" in line]


@contextlib.contextmanager
def fed_fifo(path, blocks, block_bytes):
    """Makes `path` a FIFO that a thread writes `blocks` blocks of zeros into
    while the body reads it; after the body the writer must have finished or
    seen the reader stop early."""
    os.mkfifo(path)

    def feed():
        try:
            with open(path, "wb") as f:
                for _ in range(blocks):
                    f.write(bytes(block_bytes))
        except BrokenPipeError:  # The reader stopped, as it should.
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    yield
    writer.join(timeout=60)
    assert not writer.is_alive()


def read_stylegan3_zip(path):
    """(images in name order, raw labels or None) as NVIDIA's training reads
    them: every image member sorted, labels looked up by name."""
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        images = [np.asarray(PIL.Image.open(io.BytesIO(z.read(n)))) for n in names]
        labels = json.loads(z.read("dataset.json"))["labels"]
    if labels is not None:
        by_name = dict(labels)
        labels = [by_name[n] for n in names]
    return names, images, labels
