"""Write tests/data/official/progan_param_counts.json from the official ProGAN code.

NOT run by the test suite. Builds the official `G_paper` and `D_paper`
(tkarras/progressive_growing_of_gans, `networks.py` patched to import
`tensorflow.compat.v1 as tf`, as in make_progan_fixtures.py) at the preset
resolutions with their default kwargs and 3 channels, and records the number
of trainable parameters of each. Copyright (c) the msg-stylegan-tf2 authors, MIT
license; it imports, but does not contain, the official code.

Usage::

    python tests/data/make_progan_param_counts.py --official_dir /path/to/progan
"""

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from make_progan_fixtures import _import_official  # noqa: E402

RESOLUTIONS = (1024, 256, 128, 32)


def count(tf, networks, resolution):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, 3, resolution, resolution])
        latents = tf.placeholder(tf.float32, [None, 512])
        labels = tf.placeholder(tf.float32, [None, 0])
        with tf.variable_scope("G"):
            networks.G_paper(
                latents,
                labels,
                num_channels=3,
                resolution=resolution,
                structure="linear",
            )
        with tf.variable_scope("D"):
            networks.D_paper(
                images, num_channels=3, resolution=resolution, structure="linear"
            )
        return {
            name: sum(
                int(np.prod(v.shape.as_list()))
                for v in tf.trainable_variables(name + "/")
            )
            for name in ("G", "D")
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--official_dir", required=True)
    parser.add_argument(
        "--out",
        default=str(
            pathlib.Path(__file__).parent / "official/progan_param_counts.json"
        ),
    )
    args = parser.parse_args()
    tf, networks = _import_official(args.official_dir)
    counts = {str(res): count(tf, networks, res) for res in RESOLUTIONS}
    pathlib.Path(args.out).write_text(json.dumps(counts, indent=1) + "\n")
    print(counts)


if __name__ == "__main__":
    main()
