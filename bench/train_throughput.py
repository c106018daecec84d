"""Training throughput: images/s and achieved FLOP/s against this machine's peak.

For each architecture, resolution and precision it times the real training
iteration (D step with R1, G step, Gs update; `TrainSteps`) on one device and
reports images/s. FLOPs per training image are counted analytically from every
convolution and dense layer (see `step_flops_per_image`). The machine's peak
matmul FLOP/s (float32 and bfloat16) is measured in the same run, so the ratio is
comparable across machines. Prints the hardware (CPU model, AMX and AVX512-BF16,
threads, GPUs), then a markdown table.

Usage:
    python bench/train_throughput.py
    python bench/train_throughput.py --archs=msg_stylegan --resolutions=32 --seconds=20
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from dnnlib import hardware  # noqa: E402
from msg_stylegan_tf2.networks.build import build_networks  # noqa: E402
from msg_stylegan_tf2.networks.equalized import EqualizedConv2D, EqualizedDense  # noqa: E402
from msg_stylegan_tf2.training.growth import whole_pyramids  # noqa: E402
from msg_stylegan_tf2.training.losses import make_loss  # noqa: E402
from msg_stylegan_tf2.training.state import TrainingState  # noqa: E402
from msg_stylegan_tf2.training.steps import TrainSteps  # noqa: E402

flags.DEFINE_list("archs", ["msg_stylegan", "msg_progan"], "Architectures.")
flags.DEFINE_list("resolutions", ["32", "64"], "Resolutions.")
flags.DEFINE_list("precisions", ["fp32", "bf16"], "fp32 and/or bf16.")
flags.DEFINE_integer("batch", 16, "Batch size.")
flags.DEFINE_float("seconds", 10.0, "Seconds per measurement.")
flags.DEFINE_string("stylegan_preset", "demo_32", "Widths of the MSG-StyleGAN.")
flags.DEFINE_string("progan_preset", "msg_progan_32", "Widths of the MSG-ProGAN.")
flags.DEFINE_integer("fmap_max", 64, "fmap_max for both (small nets suit a CPU).")
flags.DEFINE_boolean("jit", False, "Compile the steps with XLA (train.py --jit).")
FLAGS = flags.FLAGS


def layer_flops(layer):
    """Multiply-adds x 2 of one image's forward pass through a built equalized
    dense or conv layer."""
    if isinstance(layer, EqualizedDense):
        return 2 * layer.weight.shape[0] * layer.weight.shape[1]
    (h, w), k = layer.input_hw, layer.kernel_size
    channels = layer.weight.shape[2] * layer.filters
    if layer.fused:  # Transposed or strided conv: (k+1)^2 taps at the low side.
        if layer.resample == "down":
            h, w = h // 2, w // 2
        return 2 * h * w * (k + 1) ** 2 * channels
    if layer.resample == "up":
        h, w = 2 * h, 2 * w
    return 2 * h * w * k * k * channels


def forward_flops(model):
    """FLOPs of one image's forward pass over every conv and dense layer."""
    return sum(
        layer_flops(layer)
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, (EqualizedConv2D, EqualizedDense))
    )


def step_flops_per_image(G, D):
    """FLOPs of one training image in a D step (with R1) plus a G step.

    With F the forward cost of a network, a backward pass costs 2F (data and
    weight gradients) and a data-only backward F. D step: G forward (F_G), D on
    reals and fakes (2 F_D), R1's input gradient on reals (F_D), the weight
    gradient through the fakes (2 F_D) and through the reals' forward and R1
    backward (4 F_D): F_G + 9 F_D. G step: G and D forward, D data backward, G
    backward: 3 F_G + 2 F_D. Total 4 F_G + 11 F_D.
    """
    f_g, f_d = forward_flops(G), forward_flops(D)
    return 4 * f_g + 11 * f_d, f_g, f_d


def peak_matmul_flops(dtype, seconds=3.0, n=2048):
    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)

    @tf.function
    def matmuls():
        x = a
        for _ in range(8):
            x = tf.matmul(x, a) * tf.cast(1e-3, dtype)
        return tf.reduce_sum(tf.cast(x, tf.float32))

    matmuls().numpy()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        matmuls().numpy()
        count += 1
    return count * 8 * 2 * n**3 / (time.perf_counter() - start)


def build_iteration(arch, resolution, precision):
    """The training iteration (D step with R1, G step, Gs update) of one
    architecture at one resolution and precision, on one device.

    Returns (iteration, steps, G, D): `iteration(i)` runs iteration i on a fixed batch
    of FLAGS.batch random images. Sets the global dtype policy for the
    precision; the caller restores it.
    """
    keras.config.set_dtype_policy(
        "mixed_bfloat16" if precision == "bf16" else "float32"
    )
    preset = FLAGS.stylegan_preset if arch == "msg_stylegan" else FLAGS.progan_preset
    overrides = {
        "resolution": resolution,
        "num_channels": 3,
        "fmap_max": FLAGS.fmap_max,
    }
    if arch == "msg_progan":
        overrides["latent_size"] = 128
    G, D = build_networks(preset, **overrides)
    Gs, _ = build_networks(preset, **overrides)
    strategy = tf.distribute.get_strategy()
    g_opt = keras.optimizers.Adam(0.003, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    d_opt = keras.optimizers.Adam(0.003, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    steps = TrainSteps(
        strategy,
        TrainingState(G, D, Gs, g_opt, d_opt),
        make_loss("logistic"),
        whole_pyramids,
        jit=FLAGS.jit,
    )
    rng = np.random.RandomState(0)
    images = tf.constant(
        rng.randint(0, 256, [FLAGS.batch, resolution, resolution, 3]), tf.uint8
    )
    batch = (images, tf.zeros([FLAGS.batch, 0]))

    def iteration(i):
        step = tf.constant(i, tf.int64)
        steps.d_step(batch, step)
        terms = steps.g_step(batch, step)
        steps.update_gs(tf.constant(0.99))
        return float(terms["Loss/G/total"])

    return iteration, steps, G, D


def measure(arch, resolution, precision):
    iteration, _, G, D = build_iteration(arch, resolution, precision)
    iteration(0)
    iteration(1)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < FLAGS.seconds:
        iteration(count + 2)
        count += 1
    images_per_sec = count * FLAGS.batch / (time.perf_counter() - start)
    keras.config.set_dtype_policy("float32")
    return images_per_sec, step_flops_per_image(G, D)


def main(argv):
    del argv
    found = hardware.detect()
    choice, reason = hardware.resolve_precision(found.cpu_flags, found.gpu_capabilities)
    auto = f"--mixed_precision=auto chooses {choice}: {reason}"
    machine = f"{hardware.summary(found)}\n{auto}"
    print(machine)
    peaks = {
        "fp32": peak_matmul_flops(tf.float32),
        "bf16": peak_matmul_flops(tf.bfloat16),
    }
    print(
        f"peak matmul: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s"
    )
    rows = []
    for arch in FLAGS.archs:
        for resolution in map(int, FLAGS.resolutions):
            for precision in FLAGS.precisions:
                rate, (flops, f_g, f_d) = measure(arch, resolution, precision)
                achieved = rate * flops
                rows.append(
                    (
                        arch,
                        resolution,
                        precision,
                        rate,
                        flops,
                        achieved,
                        peaks[precision],
                    )
                )
                print(
                    f"{arch} {resolution} {precision}: {rate:.1f} img/s, "
                    f"{flops / 1e9:.2f} GFLOP/img (F_G {f_g / 1e6:.0f} MFLOP, "
                    f"F_D {f_d / 1e6:.0f} MFLOP), {achieved / 1e9:.0f} GFLOP/s"
                )
    devices = [d.device_type for d in tf.config.list_logical_devices()]
    print(
        f"\n{machine}\nbatch {FLAGS.batch}, fmap_max {FLAGS.fmap_max}, "
        f"jit {FLAGS.jit}, devices {devices}\n"
    )
    print(
        "| arch | res | precision | img/s | GFLOP/img | achieved GFLOP/s "
        "| of measured peak |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for arch, res, precision, rate, flops, achieved, peak in rows:
        print(
            f"| {arch} | {res}² | {precision} | {rate:.1f} | {flops / 1e9:.2f} | "
            f"{achieved / 1e9:.0f} | {100 * achieved / peak:.0f}% of {peak / 1e9:.0f} |"
        )


if __name__ == "__main__":
    app.run(main)
