"""Metric throughput: images/s of FID feature extraction beside the bare Inception
forward on the same batch (needs --inception), of the full FID's streamed
statistics, of SWD and MS-SSIM, of precision/recall (VGG16 fc2 features, and the
k-NN balls of --pr_count real and as many generated features), and of PPL
(samples/s with a demo_32-width generator, and LPIPS alone).

Extraction feeds uint8 images at the dataset resolution (the graph casts and
resizes them to 299x299); the bare forward feeds the same batch already resized,
through the graph's own resize output. VGG16 is torchvision's file given with
--vgg16, else a stand-in of its shapes with random weights written in its layout
(the same speed). Prints the hardware and a markdown table.

Usage:
    python bench/metrics_throughput.py --resolution=32
    python bench/metrics_throughput.py --inception=~/inception-2015-12-05.tgz \\
        --vgg16=~/vgg16-397923af.pth
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from dnnlib import hardware  # noqa: E402
from dnnlib.torch_checkpoint import load_state_dict  # noqa: E402
from metrics import inception  # noqa: E402
from metrics import ppl as ppl_math  # noqa: E402
from metrics.feature_moments import FeatureMoments  # noqa: E402
from metrics.lpips import LPIPS, load_lin_weights  # noqa: E402
from metrics.ms_ssim import mean_ms_ssim  # noqa: E402
from metrics.precision_recall import precision_recall  # noqa: E402
from metrics.swd import sliced_wasserstein_distance  # noqa: E402
from metrics.vgg16_features import VGG16Features  # noqa: E402

flags.DEFINE_string("inception", None, "Inception graph (.tgz/.pb); FID rows need it.")
flags.DEFINE_string(
    "vgg16", None, "torchvision's vgg16-397923af.pth (default: a random stand-in)."
)
flags.DEFINE_integer("resolution", 32, "Image side.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_integer(
    "pr_count", 2000, "Real (and generated) features of the precision/recall row."
)
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


def vgg16_state_dict():
    """The --vgg16 file, else torchvision's shapes with random weights, written
    in torch's zip layout and read back as the metrics read the real file."""
    if FLAGS.vgg16:
        return load_state_dict(os.path.expanduser(FLAGS.vgg16))
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
    from torch_helpers import VGG16_WIDTHS, write_vgg16_stand_in

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "vgg16-stand-in.pth"
        write_vgg16_stand_in(path, VGG16_WIDTHS, hidden=4096, classes=1000)
        return load_state_dict(path)


def vgg16_rows(images, batch, seconds):
    """Precision/recall and PPL rows (VGG16 features, k-NN balls, LPIPS, PPL)."""
    from msg_stylegan_tf2.inference.evaluation import ppl_generator
    from msg_stylegan_tf2.networks.build import build_networks

    state = vgg16_state_dict()
    network = VGG16Features(state)
    rows = [
        (
            "PR: VGG16 fc2 features (uint8 in, resize to 224²)",
            rate(lambda: network(images), batch, seconds),
        )
    ]
    rng = np.random.RandomState(1)
    n = FLAGS.pr_count
    real = np.maximum(rng.randn(n, 4096), 0).astype(np.float32)
    fake = np.maximum(rng.randn(n, 4096) + 0.1, 0).astype(np.float32)
    rows.append(
        (
            f"PR: k-NN balls, {n:,} reals + {n:,} fakes (per image of both)",
            rate(lambda: precision_recall(real, fake), 2 * n, seconds),
        )
    )
    lpips = LPIPS.from_state_dicts(state, load_lin_weights())
    del state
    distance = tf.function(lpips.__call__, reduce_retracing=True)
    side = images.shape[1]
    x = tf.constant(rng.uniform(-1, 1, [batch // 2, side, side, 3]), tf.float32)
    rows.append(
        (
            f"PPL: LPIPS alone ({side}², per pair)",
            rate(lambda: distance(x, x[::-1]).numpy(), batch // 2, seconds),
        )
    )
    G, _ = build_networks("demo_32", resolution=side)
    generator = ppl_generator(G)
    rows.append(
        (
            f"PPL: demo_32-width G at {side}² + LPIPS (per sample, z full)",
            rate(
                lambda: ppl_math.path_lengths(
                    generator, distance, batch // 2, "z", "full", batch=batch
                ),
                batch // 2,
                seconds,
            ),
        )
    )
    return rows


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
    features = np.maximum(rng.randn(batch, 2048), 0)
    steps = -(-2048 // batch)

    def accumulate():
        moments = FeatureMoments()
        for _ in range(steps):
            moments.add(features)
        moments.statistics()

    rows += [
        (
            "FID full: streamed statistics of 2048-d features",
            rate(accumulate, steps * batch, FLAGS.seconds),
        ),
        ("SWD (reals + fakes, per image of each set)", swd),
        ("MS-SSIM (per image, pairs of 2)", msssim),
    ]
    rows += vgg16_rows(images, batch, FLAGS.seconds)
    weights = "--vgg16" if FLAGS.vgg16 else "random stand-in of torchvision's shapes"
    print(
        f"\nHardware: {hardware.summary(hardware.detect())}\n"
        f"{side}x{side} images, batch {batch}, {os.cpu_count()} CPU cores, "
        f"devices {[d.device_type for d in tf.config.list_logical_devices()]}, "
        f"VGG16 weights: {weights}\n"
    )
    print("| what | images/s |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    if FLAGS.inception:
        print(f"\nextraction / bare forward: {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    app.run(main)
