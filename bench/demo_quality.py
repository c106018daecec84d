"""Numbers for the emoji demo's samples, beside the same numbers for real images.

- border_white: fraction of near-white pixels (all channels >= 230) in each
  image's 3-pixel border, averaged (real emoji about 0.88).
- pairwise_rms: mean RMS distance between pairs of images in [0, 1] (real about
  0.35; a collapsed model about 0.06).
- pyramid_rms (samples only): RMS between the 2x2-pooled top output and the
  next level, both clipped to [0, 1] as when saved (small when they agree).

Usage:
    python bench/demo_quality.py --run=results/00000-demo_32-emoji64
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from quality import border_white, gs_samples, pairwise_rms, pyramid_rms  # noqa: E402

from datasets.reader import describe, make_dataset  # noqa: E402
from msg_stylegan_tf2.formats.network_run import load_generator  # noqa: E402

flags.DEFINE_string("run", None, "Run directory or checkpoint.", required=True)
flags.DEFINE_integer("num", 256, "Samples (and real images).")
flags.DEFINE_integer("seed", 123, "Latent seed.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    G, config, checkpoint = load_generator(FLAGS.run)
    top, below = gs_samples(G, FLAGS.num, FLAGS.seed)
    info = describe(config.dataset)
    data = make_dataset(info, FLAGS.num, shuffle=True, seed=0, repeat=False)
    reals = next(iter(data))[0].numpy().astype(np.float32) / 255
    print(f"checkpoint {checkpoint}")
    print("| | border_white | pairwise_rms | pyramid_rms |")
    print("|---|---:|---:|---:|")
    print(f"| real | {border_white(reals):.2f} | {pairwise_rms(reals):.3f} | |")
    print(
        f"| Gs samples | {border_white(top):.2f} | "
        f"{pairwise_rms(top):.3f} | {pyramid_rms(top, below):.3f} |"
    )


if __name__ == "__main__":
    app.run(main)
