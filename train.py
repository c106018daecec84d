"""Train MSG-StyleGAN or MSG-ProGAN.

With no flags it trains the small `demo_32` network on the bundled emoji demo
(8 to 11 minutes on 2 CPU cores) and says where its images are.

Examples:
    python train.py
    python train.py --dataset=~/my_images --preset=msg_stylegan_256 --batch=32
    python train.py --dataset=datasets/ffhq --preset=msg_stylegan_1024 \\
        --mirror_augment --mixed_precision=bf16
    python train.py --resume=latest                 # continue the newest run
    python train.py --dataset=~/my_images --seed=7 --resume=latest
                                                    # or add it to the run's command
    python train.py --resume=results/00003-demo_32-emoji64 --total_kimg=100
    python train.py --dry_run                       # print the options and stop
"""

from absl import app, flags

from msg_stylegan_tf2.choices import (
    AUGMENTS,
    LOSSES,
    MIXED_PRECISION,
    STRATEGIES,
)
from msg_stylegan_tf2.networks.presets import ARCHS, PRESETS
from msg_stylegan_tf2.training.cli import default_help as default
from msg_stylegan_tf2.training.resume import CONVERSION_DEFAULTS

flags.DEFINE_string(
    "dataset", None, "TFRecord dir, image folder or .zip (default: the emoji demo)."
)
flags.DEFINE_enum(
    "preset",
    None,
    ["auto", *sorted(PRESETS)],
    "Network preset (default: auto for --dataset, else --arch's demo).",
)
flags.DEFINE_enum(
    "arch",
    None,
    list(ARCHS),
    "Architecture; without --preset, its default preset (progan: "
    "progan_demo_32, growing 4x4 to 32x32).",
)
flags.DEFINE_integer(
    "resolution",
    None,
    "Resolution for image folders/zips (default: the dataset's with --preset=auto, "
    "else the preset's).",
)
flags.DEFINE_enum(
    "transform",
    None,
    ["center-crop", "resize", "pad", "center-crop-wide"],
    "Image folders/zips: how non-square images become square (default "
    f"{CONVERSION_DEFAULTS['transform']}; center-crop-wide: NVIDIA's).",
)
flags.DEFINE_integer(
    "channels", None, "Image folders/zips: convert every image to 1 or 3 channels."
)
flags.DEFINE_enum(
    "labels_from",
    None,
    ["auto", "dataset_json", "folders", "none"],
    "Image folders/zips: labels from NVIDIA's dataset.json, a class per top "
    f"folder, or none (default {CONVERSION_DEFAULTS['labels_from']}: "
    "dataset.json when the dataset has one, else none).",
)
flags.DEFINE_enum(
    "combine", None, ["simple", "lin_cat", "cat_lin"], "D combine function."
)
flags.DEFINE_enum("loss", None, list(LOSSES), f"Loss ({default('loss')}).")
flags.DEFINE_float(
    "r1_gamma",
    None,
    "R1 weight (default: 10 for logistic and logistic_saturating, else 0).",
    lower_bound=0,
)
flags.DEFINE_float(
    "r2_gamma", None, f"R2 weight ({default('r2_gamma')}).", lower_bound=0
)
flags.DEFINE_integer(
    "r1_interval",
    None,
    "Lazy regularization (StyleGAN2): R1 and R2 in a D step of their own every "
    "N D steps, weighted by N, and D's Adam lr times N/(N+1), its betas to that "
    "power; wgan_gp's and hinge_gp's gradient penalty stays in every D step "
    f"({default('r1_interval')}: R1/R2 in every D step, as MSG-StyleGAN).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "batch",
    None,
    f"Global minibatch ({default('batch')}; progan presets: per resolution, as "
    "ProGAN).",
    lower_bound=1,
)
flags.DEFINE_float(
    "total_kimg",
    None,
    f"Training length in thousands of real images ({default('total_kimg')}).",
    lower_bound=0.001,
)
flags.DEFINE_float(
    "lr",
    None,
    f"Learning rate of G and D ({default('lr')}).",
    lower_bound=0,
)
flags.DEFINE_float("g_lr", None, "Learning rate of G (default: --lr).", lower_bound=0)
flags.DEFINE_float("d_lr", None, "Learning rate of D (default: --lr).", lower_bound=0)
flags.DEFINE_float("adam_beta1", None, f"Adam beta1 ({default('adam_beta1')}).")
flags.DEFINE_float("adam_beta2", None, f"Adam beta2 ({default('adam_beta2')}).")
flags.DEFINE_float(
    "ema_decay",
    None,
    f"Fixed Gs decay per step instead of a half-life ({default('ema_decay')}).",
)
flags.DEFINE_boolean("use_wscale", True, "Equalized learning rate (off: plain init).")
flags.DEFINE_enum(
    "spectral_norm",
    "none",
    ["none", "D", "both"],
    "Spectral normalisation of every conv/dense layer of D, or of D and G.",
)
flags.DEFINE_float(
    "lrate_rampup_kimg",
    None,
    f"Linear learning-rate ramp-up ({default('lrate_rampup_kimg')}).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "D_repeats",
    None,
    f"D steps per G step ({default('D_repeats')}).",
    lower_bound=1,
)
flags.DEFINE_float(
    "G_smoothing_kimg",
    None,
    f"Half-life of Gs, the EMA of G ({default('G_smoothing_kimg')}).",
    lower_bound=0,
)
flags.DEFINE_float(
    "ema_rampup",
    None,
    f"Cap the EMA half-life at this fraction of the images seen "
    f"({default('ema_rampup')}).",
)
flags.DEFINE_boolean("mirror_augment", None, "Flip reals left-right at random.")
flags.DEFINE_string(
    "finetune_from",
    None,
    "Start a new run from these networks: a run directory, a checkpoint, or an "
    "official msg-stylegan-tf or ProGAN pickle.",
)
flags.DEFINE_integer(
    "freeze_d",
    None,
    "Freeze-D: D's first N blocks, from the highest resolution, keep their "
    f"weights ({default('freeze_d')}).",
    lower_bound=0,
)
flags.DEFINE_enum(
    "augment",
    None,
    list(AUGMENTS),
    "What D sees: diffaug (DiffAugment: colour, translation, cutout, one draw "
    "per image for all its pyramid levels) or ada (the same, each operation "
    f"with an adaptive probability p) ({default('augment')}).",
)
flags.DEFINE_float(
    "ada_target",
    None,
    f"ADA: p rises while E[sign(D(reals))] is above this ({default('ada_target')}).",
    lower_bound=0.01,
    upper_bound=0.99,
)
flags.DEFINE_float(
    "ada_kimg",
    None,
    f"ADA: kimg for p to go from 0 to 1 ({default('ada_kimg')}).",
    lower_bound=0.001,
)
flags.DEFINE_float(
    "tick_kimg",
    None,
    f"Progress line every N kimg ({default('tick_kimg')}).",
    lower_bound=0.001,
)
flags.DEFINE_integer(
    "image_snapshot_ticks",
    None,
    f"Image grids every N ticks ({default('image_snapshot_ticks')}).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "network_snapshot_ticks",
    None,
    f"Checkpoint every N ticks ({default('network_snapshot_ticks')}).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "keep_checkpoints",
    None,
    f"Checkpoints kept ({default('keep_checkpoints')}).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "grid_images",
    None,
    f"Images in each snapshot grid ({default('grid_images')}).",
    lower_bound=1,
)
flags.DEFINE_list(
    "metrics",
    ["none"],
    "Metrics at network snapshots: fid<N>k, fid<N>k_full, kid<N>k, is<N>k, "
    "swd<N>k, msssim<N>k, pr<N>k3, ppl_{z,w}{full,end}<N>k, or none.",
)
flags.DEFINE_string(
    "inception", None, "Inception graph (.tgz/.pb) for fid/kid/is metrics."
)
flags.DEFINE_boolean(
    "inception_unverified",
    False,
    "Use --inception although it is not the pinned graph (custom graphs; "
    "numbers not comparable with published ones).",
)
flags.DEFINE_string(
    "vgg16",
    None,
    "torchvision's vgg16-397923af.pth for the pr and ppl metrics (default: the "
    "cached download).",
)
flags.DEFINE_boolean(
    "vgg16_unverified",
    False,
    "Use --vgg16 although it is not torchvision's file (other VGG16 weights; "
    "numbers not comparable with published ones).",
)
flags.DEFINE_boolean(
    "ppl_crop", False, "ppl metrics on NVIDIA's face crop (as their ppl_zfull on FFHQ)."
)
flags.DEFINE_string("outdir", "results", "Where run directories are created.")
flags.DEFINE_string(
    "resume",
    None,
    "'latest' or a run directory or checkpoint path; alone, or added to the "
    "command that started the run (flags that cannot change must then equal the "
    "run's).",
)
flags.DEFINE_integer("seed", None, f"Random seed ({default('seed')}).")
flags.DEFINE_enum(
    "strategy",
    None,
    list(STRATEGIES),
    f"tf.distribute strategy ({default('strategy')}).",
)
flags.DEFINE_enum(
    "mixed_precision",
    None,
    list(MIXED_PRECISION),
    "Mixed precision; auto is bf16 on GPUs of compute capability >= 8.0 and on "
    f"CPUs with AMX or AVX512-BF16, else off ({default('mixed_precision')}).",
)
flags.DEFINE_boolean("jit", None, f"Compile the steps with XLA ({default('jit')}).")
flags.DEFINE_integer(
    "max_images", None, "Use at most this many dataset images.", lower_bound=1
)
flags.DEFINE_float("data_percentage", None, "Use this percentage of the dataset.")
flags.DEFINE_string("cache_dir", None, "Where image folders/zips are converted.")
flags.DEFINE_boolean("deterministic", False, "Deterministic ops (bit-exact reruns).")
flags.DEFINE_boolean("dry_run", False, "Print the resolved options and exit.")
FLAGS = flags.FLAGS


def fail(message):
    from dnnlib.cli import fail as report

    return report("train.py", message, FLAGS)


def validate_flags():
    """Checks the flags before TensorFlow starts; returns an error message or None."""
    if FLAGS.preset == "auto" and FLAGS.arch not in (None, "msg_stylegan"):
        return (
            "--preset=auto picks MSG-StyleGAN presets; give --preset for "
            f"--arch={FLAGS.arch}."
        )
    if FLAGS.preset == "auto" and not FLAGS.dataset:
        return "--preset=auto needs --dataset (it reads the dataset's resolution)."
    preset = None if FLAGS.preset == "auto" else FLAGS.preset
    if preset and FLAGS.arch and PRESETS[preset].arch != FLAGS.arch:
        return (
            f"--arch={FLAGS.arch} but --preset={FLAGS.preset} is "
            f"{PRESETS[FLAGS.preset].arch}; choose a {FLAGS.arch} preset."
        )
    arch = PRESETS[preset].arch if preset else FLAGS.arch
    if arch == "progan" and FLAGS.combine:
        return "--combine applies to MSG discriminators; progan's D has none."
    if FLAGS.metrics != ["none"]:
        from metrics.names import parse_metric

        try:
            for name in FLAGS.metrics:
                parse_metric(name)
        except ValueError as e:
            return f"--metrics: {e}"
    if FLAGS.channels not in (None, 1, 3):
        return f"--channels must be 1 or 3. Received: {FLAGS.channels}"
    if FLAGS.inception_unverified and not FLAGS.inception:
        return "--inception_unverified needs --inception=PATH (your own graph)."
    if FLAGS.vgg16_unverified and not FLAGS.vgg16:
        return "--vgg16_unverified needs --vgg16=PATH (your own weights)."
    if FLAGS.data_percentage is not None and not 0 < FLAGS.data_percentage <= 100:
        return (
            f"--data_percentage must be in (0, 100]. Received: {FLAGS.data_percentage}"
        )
    if FLAGS.resolution is not None and (
        FLAGS.resolution < 8 or FLAGS.resolution & (FLAGS.resolution - 1)
    ):
        return f"--resolution must be a power of two >= 8. Received: {FLAGS.resolution}"
    for name in ("adam_beta1", "adam_beta2", "ema_decay"):
        value = FLAGS[name].value
        if value is not None and not 0 <= value < 1:
            return f"--{name} must be in [0, 1). Received: {value}"
    if FLAGS.ema_rampup is not None and FLAGS.ema_rampup <= 0:
        return f"--ema_rampup must be > 0. Received: {FLAGS.ema_rampup}"
    return None


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    message = validate_flags()
    if message:
        return fail(message)
    from msg_stylegan_tf2.training import cli

    try:
        given = {name for name in FLAGS if FLAGS[name].present}
        return cli.run(FLAGS.flag_values_dict(), given)
    except (ValueError, OSError) as e:
        return fail(str(e))


if __name__ == "__main__":
    app.run(main)
