"""Evaluate a trained generator: FID, KID, IS (canonical Inception graph),
precision/recall and PPL (torchvision's VGG16), and ProGAN's SWD and MS-SSIM
(no download needed).

Results are printed and appended to `<run>/metric-<name>.jsonl`.

Examples:
    python run_metrics.py --network=results/00000-demo_32-emoji64
    python run_metrics.py --network=results/00000-demo_32-emoji64 \\
        --metrics=swd16k,msssim10k --num_images=2048
    python run_metrics.py --network=results/00000-demo_32-emoji64 \\
        --metrics=fid10k,kid10k,is10k --inception=~/inception-2015-12-05.tgz
    python run_metrics.py --network=results/00000-demo_32-emoji64 \\
        --metrics=fid50k_full,pr50k3,ppl_wend50k --vgg16=~/vgg16-397923af.pth

The Inception graph (downloaded over https, or given with --inception as the
.tgz or its classify_image_graph_def.pb) must have the pinned sha256;
--inception_unverified skips that check for a custom graph. pr<N>k3 and ppl
need torchvision's vgg16-397923af.pth (downloaded over https, or --vgg16),
pinned the same way (--vgg16_unverified for other weights).
"""

import os

from absl import app, flags

from dnnlib import cli
from msg_stylegan_tf2.choices import GENERATE_BATCH

flags.DEFINE_string(
    "network", None, "Run directory, <run>/checkpoints/ckpt-N, SavedModel or .pkl."
)
flags.DEFINE_list(
    "metrics",
    ["swd16k", "msssim10k"],
    "fid<N>k, fid<N>k_full, kid<N>k, is<N>k, pr<N>k3, ppl_{z,w}{full,end}<N>k, "
    "swd<N>k, msssim<N>k.",
)
flags.DEFINE_string(
    "dataset", None, "TFRecord directory of the reals (default: the run's)."
)
flags.DEFINE_integer(
    "num_images", None, "Override each metric's image count.", lower_bound=2
)
flags.DEFINE_float("truncation_psi", 1.0, "Truncation of Gs (1 = none).")
flags.DEFINE_boolean("mirror_augment", None, "Mirror reals (default: as in training).")
flags.DEFINE_integer(
    "batch",
    GENERATE_BATCH,
    "Images per forward pass of the generator and of Inception (bounds memory).",
    lower_bound=1,
)
flags.DEFINE_integer("seed", 0, "Seed of latents, sampling and projections.")
flags.DEFINE_string(
    "inception", None, "inception-2015-12-05.tgz or its .pb (default: cache/download)."
)
flags.DEFINE_boolean(
    "inception_unverified",
    False,
    "Skip the sha256 check of --inception: a custom graph with the same tensor "
    "names, whose FID/KID/IS are not comparable with published numbers.",
)
flags.DEFINE_string(
    "vgg16",
    None,
    "torchvision's vgg16-397923af.pth for pr and ppl (default: cache/download).",
)
flags.DEFINE_boolean(
    "vgg16_unverified",
    False,
    "Skip the sha256 check of --vgg16: other VGG16 weights with torchvision's "
    "names, whose pr and ppl are not comparable with published numbers.",
)
flags.DEFINE_boolean(
    "ppl_crop",
    False,
    "ppl on NVIDIA's face crop (rows 3/8-7/8, columns 1/4-3/4), as its ppl_zfull "
    "etc. on FFHQ; the result is then named ppl_crop.",
)
FLAGS = flags.FLAGS


def fail(message):
    return cli.fail("run_metrics.py", message, FLAGS)


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.network:
        return fail("--network is required (a run directory or a checkpoint).")
    if FLAGS.inception_unverified and not FLAGS.inception:
        return fail(
            "--inception_unverified needs --inception=PATH: the downloaded and "
            "cached graphs are always checked."
        )
    if FLAGS.inception and not os.path.isfile(os.path.expanduser(FLAGS.inception)):
        return fail(
            f"--inception: {FLAGS.inception} is not a file (give the path of "
            "inception-2015-12-05.tgz or of its classify_image_graph_def.pb)."
        )
    if FLAGS.vgg16_unverified and not FLAGS.vgg16:
        return fail(
            "--vgg16_unverified needs --vgg16=PATH: the downloaded and cached "
            "weights are always checked."
        )
    if FLAGS.vgg16 and not os.path.isfile(os.path.expanduser(FLAGS.vgg16)):
        return fail(
            f"--vgg16: {FLAGS.vgg16} is not a file (give the path of "
            "torchvision's vgg16-397923af.pth)."
        )
    from metrics.names import parse_metric

    try:
        for name in FLAGS.metrics:
            parse_metric(name)
    except ValueError as e:
        return fail(f"--metrics: {e}")
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from msg_stylegan_tf2.inference.evaluation import run_metrics

    try:
        run_metrics(
            FLAGS.network,
            FLAGS.metrics,
            dataset=FLAGS.dataset,
            num_images=FLAGS.num_images,
            truncation_psi=FLAGS.truncation_psi,
            mirror_augment=FLAGS.mirror_augment,
            batch=FLAGS.batch,
            seed=FLAGS.seed,
            inception=FLAGS.inception,
            inception_unverified=FLAGS.inception_unverified,
            vgg16=FLAGS.vgg16,
            vgg16_unverified=FLAGS.vgg16_unverified,
            ppl_crop=FLAGS.ppl_crop,
        )
    except (tf.errors.ResourceExhaustedError, MemoryError):
        return cli.out_of_memory("run_metrics.py", "batch", FLAGS.batch)
    except (ValueError, OSError) as e:
        return fail(str(e))
    return 0


if __name__ == "__main__":
    app.run(main)
