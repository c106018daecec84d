"""Input pipeline throughput: reader + on-device pyramid, beside training consumption.

Writes a synthetic official-format dataset per resolution into a temporary
directory, then measures images/s of `make_dataset` + the pyramid and of
one training-like step (G forward/backward and D forward/backward on reals and
fakes) of a MSG-StyleGAN at the same resolution, in the same run. The ratio is
the pipeline's headroom. Prints a markdown table.

Usage:
    python bench/input_pipeline.py                      # 64, 256, 1024
    python bench/input_pipeline.py --resolutions=64 --seconds=10
"""

import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from datasets.export import write_arrays  # noqa: E402
from datasets.reader import describe, make_dataset  # noqa: E402
from msg_stylegan_tf2.networks.build import build_networks  # noqa: E402
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid, uint8_to_float  # noqa: E402

flags.DEFINE_list("resolutions", ["64", "256", "1024"], "Resolutions to measure.")
flags.DEFINE_integer("batch", 16, "Global batch size.")
flags.DEFINE_float("seconds", 5.0, "Seconds per measurement.")
flags.DEFINE_string("preset", "demo_32", "Network preset for the step (resized).")
flags.DEFINE_integer(
    "step_max_resolution", 64, "Measure the training step up to this resolution."
)
FLAGS = flags.FLAGS


def images_per_second(step, batch, seconds):
    """Runs `step()` for about `seconds` after a warm-up; returns images/s."""
    step()
    step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count * batch / (time.perf_counter() - start)


def pipeline_rate(info, batch, seconds):
    iterator = iter(make_dataset(info, batch_size=batch, seed=0))
    levels = info.resolution_log2 - 1

    @tf.function
    def pyramid(images):
        # As the training step builds it: [-1, 1], a mirror per image, pooling.
        x = uint8_to_float(images)
        flip = tf.random.uniform([batch, 1, 1, 1]) < 0.5
        return downsample_pyramid(tf.where(flip, tf.reverse(x, [2]), x), levels)

    def step():
        images, _ = next(iterator)
        pyramid(images)[-1].numpy()

    return images_per_second(step, batch, seconds)


def training_rate(resolution, batch, seconds):
    G, D = build_networks(FLAGS.preset, resolution=resolution)
    latent = G.mapping.latent_size
    reals = [
        tf.random.uniform([batch, s, s, 3], -1, 1)
        for s in 4 * 2 ** np.arange(int(np.log2(resolution)) - 1)
    ]

    @tf.function
    def step():
        z = tf.random.normal([batch, latent])
        with tf.GradientTape(persistent=True) as tape:
            fakes = G(z, training=True)
            d_loss = tf.reduce_mean(tf.nn.softplus(D(fakes))) + tf.reduce_mean(
                tf.nn.softplus(-D(reals))
            )
            g_loss = tf.reduce_mean(tf.nn.softplus(-D(fakes)))
        d_grads = tape.gradient(d_loss, D.trainable_weights)
        g_grads = tape.gradient(g_loss, G.trainable_weights)
        return tf.add_n([tf.reduce_sum(g) for g in d_grads + g_grads])

    return images_per_second(lambda: step().numpy(), batch, seconds)


def main(argv):
    del argv
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for resolution in map(int, FLAGS.resolutions):
            count = max(FLAGS.batch * 4, min(2048, (64 << 20) // (resolution**2 * 3)))
            rng = np.random.RandomState(0)
            images = rng.randint(0, 256, [count, resolution, resolution, 3], np.uint8)
            path = pathlib.Path(tmp) / f"r{resolution}"
            write_arrays(path, images, shuffle=False)
            info = describe(path)
            pipe = pipeline_rate(info, FLAGS.batch, FLAGS.seconds)
            train = None
            if resolution <= FLAGS.step_max_resolution:
                train = training_rate(resolution, FLAGS.batch, FLAGS.seconds)
            rows.append((resolution, pipe, train))
            print(f"{resolution}: pipeline {pipe:.0f} img/s, step {train} img/s")
    print(
        f"\nbatch {FLAGS.batch}, preset {FLAGS.preset}, {os.cpu_count()} CPU cores, "
        f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}\n"
    )
    print(
        "| resolution | reader + pyramid (img/s) | training step (img/s) | headroom |"
    )
    print("|---:|---:|---:|---:|")
    for resolution, pipe, train in rows:
        if train is None:
            print(f"| {resolution}² | {pipe:,.0f} | not measured | |")
        else:
            print(
                f"| {resolution}² | {pipe:,.0f} | {train:,.1f} | {pipe / train:,.0f}x |"
            )


if __name__ == "__main__":
    app.run(main)
