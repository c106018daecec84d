"""Metric throughput: images/s of FID feature extraction beside the bare Inception
forward on the same batch (needs --inception), and of SWD and MS-SSIM.

Extraction feeds uint8 images at the dataset resolution (the graph casts and
resizes them to 299x299); the bare forward feeds the same batch already resized,
through the graph's own resize output. Prints a markdown table.

Usage:
    python bench/metrics_throughput.py --resolution=32
    python bench/metrics_throughput.py --inception=~/inception-2015-12-05.tgz
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from metrics import inception  # noqa: E402
from metrics.ms_ssim import mean_ms_ssim  # noqa: E402
from metrics.swd import sliced_wasserstein_distance  # noqa: E402

flags.DEFINE_string("inception", None, "Inception graph (.tgz/.pb); FID rows need it.")
flags.DEFINE_integer("resolution", 32, "Image side.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_float("seconds", 5.0, "Seconds per measurement.")
FLAGS = flags.FLAGS


def rate(fn, images_per_call, seconds):
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count * images_per_call / (time.perf_counter() - start)


def bare_forward(graph_def):
    """The graph from its resize output on: input float `[N, 299, 299, 3]`."""

    def imported(resized):
        return tf.compat.v1.import_graph_def(
            graph_def,
            input_map={"ResizeBilinear:0": resized},
            return_elements=[inception.FEATURE_TENSOR],
            name="",
        )

    spec = tf.TensorSpec([None, 299, 299, 3], tf.float32)
    wrapped = tf.compat.v1.wrap_function(imported, [spec])
    return wrapped.prune(
        feeds=wrapped.inputs,
        fetches=wrapped.graph.get_tensor_by_name(inception.FEATURE_TENSOR),
    )


def main(argv):
    del argv
    rng = np.random.RandomState(0)
    side, batch = FLAGS.resolution, FLAGS.batch
    images = rng.randint(0, 256, [batch, side, side, 3]).astype(np.uint8)
    rows = []
    if FLAGS.inception:
        graph_def = inception.read_graph_def(
            inception.locate_inception(FLAGS.inception)
        )
        network = inception.InceptionNetwork(graph_def)
        extraction = rate(lambda: network(images), batch, FLAGS.seconds)
        forward = bare_forward(graph_def)
        resized = tf.compat.v1.image.resize_bilinear(
            tf.cast(images, tf.float32), [299, 299]
        )
        bare = rate(lambda: forward(resized).numpy(), batch, FLAGS.seconds)
        rows += [
            ("FID features (uint8 in, resize in graph)", extraction),
            ("bare Inception forward (299², same batch)", bare),
        ]
    else:
        print("No --inception: the FID rows need the graph (inception-2015-12-05.tgz).")
    many = rng.randint(0, 256, [8 * batch, side, side, 3]).astype(np.uint8)
    swd = rate(
        lambda: sliced_wasserstein_distance(many, many[::-1]), 8 * batch, FLAGS.seconds
    )
    msssim = rate(lambda: mean_ms_ssim(many, 4 * batch), 8 * batch, FLAGS.seconds)
    rows += [
        ("SWD (reals + fakes, per image of each set)", swd),
        ("MS-SSIM (per image, pairs of 2)", msssim),
    ]
    print(
        f"\n{side}x{side} images, batch {batch}, {os.cpu_count()} CPU cores, "
        f"devices {[d.device_type for d in tf.config.list_logical_devices()]}\n"
    )
    print("| what | images/s |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    if FLAGS.inception:
        print(f"\nextraction / bare forward: {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    app.run(main)
