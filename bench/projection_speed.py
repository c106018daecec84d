"""Projection speed: milliseconds per step of `project.py`'s optimisation
(`msg_stylegan_tf2.inference.projection.Projector`), with the pyramid distance and with
LPIPS, in one run, and their ratio.

The generator is an untrained preset (a step costs the same whatever the
weights); VGG16 is the --vgg16 file, else torchvision's shapes with random
weights written in torch's layout and read back as project.py reads the real
file (the same speed). Prints the hardware and a markdown table.

Usage:
    python bench/projection_speed.py
    python bench/projection_speed.py --preset=small_64 --targets=4 --steps=50
"""

import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from dnnlib import hardware  # noqa: E402
from dnnlib.torch_checkpoint import load_state_dict  # noqa: E402
from metrics.lpips import LPIPS, load_lin_weights  # noqa: E402
from msg_stylegan_tf2.choices import ProjectionOptions  # noqa: E402
from msg_stylegan_tf2.inference.projection import (  # noqa: E402
    LPIPSDistance,
    Projector,
    PyramidDistance,
)
from msg_stylegan_tf2.networks.build import build_networks  # noqa: E402

flags.DEFINE_string("preset", "demo_32", "Generator preset (untrained).")
flags.DEFINE_integer("targets", 1, "Targets optimised together.")
flags.DEFINE_integer("steps", 100, "Timed steps (after one untimed).")
flags.DEFINE_string(
    "vgg16", None, "torchvision's vgg16-397923af.pth (default: a random stand-in)."
)
FLAGS = flags.FLAGS


def vgg16_state_dict():
    """The --vgg16 file, else a stand-in of torchvision's shapes."""
    if FLAGS.vgg16:
        return load_state_dict(os.path.expanduser(FLAGS.vgg16))
    sys.path.insert(0, str(ROOT / "tests"))
    from torch_helpers import VGG16_WIDTHS, write_vgg16_stand_in

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "vgg16-stand-in.pth"
        write_vgg16_stand_in(path, VGG16_WIDTHS, hidden=4096, classes=1000)
        return load_state_dict(path)


def ms_per_step(G, distance, targets):
    """Milliseconds per step over FLAGS.steps, after the first (it traces)."""
    options = ProjectionOptions(num_steps=FLAGS.steps + 1, w_avg_samples=1000)
    steps = Projector(G, distance, options).steps(targets)
    next(steps)
    start = time.perf_counter()
    for _ in steps:
        pass
    return 1000 * (time.perf_counter() - start) / FLAGS.steps


def main(argv):
    del argv
    found = hardware.detect()
    print(f"Hardware: {hardware.summary(found)}")
    G, _ = build_networks(FLAGS.preset)
    side, channels = G.options["resolution"], G.options["num_channels"]
    rng = np.random.RandomState(0)
    targets = rng.randint(0, 256, [FLAGS.targets, side, side, channels])
    targets = targets.astype(np.uint8)
    lpips = LPIPS.from_state_dicts(vgg16_state_dict(), load_lin_weights())
    rows = [
        ("pyramid (pixel MSE over the pyramid)", PyramidDistance(1.0)),
        ("lpips (VGG16 at the top)", LPIPSDistance(lpips)),
    ]
    times = [(label, ms_per_step(G, distance, targets)) for label, distance in rows]
    print(
        f"\n{FLAGS.preset} at {side}x{side}, {FLAGS.targets} target(s), "
        f"{FLAGS.steps} steps each, VGG16 "
        f"{'from ' + FLAGS.vgg16 if FLAGS.vgg16 else 'random stand-in'}\n"
    )
    print("| distance | ms/step | ms/step per target | vs pyramid |")
    print("|---|---:|---:|---:|")
    for label, ms in times:
        ratio = ms / times[0][1]
        print(f"| {label} | {ms:.1f} | {ms / FLAGS.targets:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    app.run(main)
