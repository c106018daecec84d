"""Train MSG-StyleGAN (not yet: the training loop is being built).

Usage:
    python train.py
"""

import sys

from absl import app


def main(argv):
    del argv
    print(
        "train.py: training is not available yet. The networks are ready "
        "(msg_stylegan_tf2.networks); the training loop and the bundled demo "
        "dataset are being built. See README.md, 'Status'."
    )
    return 1


if __name__ == "__main__":
    sys.exit(app.run(main))
