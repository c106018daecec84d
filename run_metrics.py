"""Evaluate a trained generator: FID, KID, IS (canonical Inception graph), and
ProGAN's SWD and MS-SSIM (no download needed).

Results are printed and appended to `<run>/metric-<name>.jsonl`.

Examples:
    python run_metrics.py --network=results/00000-demo_32-emoji64
    python run_metrics.py --network=results/00000-demo_32-emoji64 \\
        --metrics=swd16k,msssim10k --num_images=2048
    python run_metrics.py --network=results/00000-demo_32-emoji64 \\
        --metrics=fid10k,kid10k,is10k --inception=~/inception-2015-12-05.tgz
"""

import sys

from absl import app, flags

flags.DEFINE_string(
    "network", None, "Run directory, <run>/checkpoints/ckpt-N or official .pkl."
)
flags.DEFINE_list(
    "metrics", ["swd16k", "msssim10k"], "fid<N>k, kid<N>k, is<N>k, swd<N>k, msssim<N>k."
)
flags.DEFINE_string(
    "dataset", None, "TFRecord directory of the reals (default: the run's)."
)
flags.DEFINE_integer(
    "num_images", None, "Override each metric's image count.", lower_bound=2
)
flags.DEFINE_float("truncation_psi", 1.0, "Truncation of Gs (1 = none).")
flags.DEFINE_boolean("mirror_augment", None, "Mirror reals (default: as in training).")
flags.DEFINE_integer("batch", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of latents, sampling and projections.")
flags.DEFINE_string(
    "inception", None, "inception-2015-12-05.tgz or its .pb (default: cache/download)."
)
FLAGS = flags.FLAGS


def fail(message):
    print(f"run_metrics.py: error: {message}", file=sys.stderr)
    return 1


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.network:
        return fail("--network is required (a run directory or a checkpoint).")
    from metrics.names import parse_metric

    try:
        for name in FLAGS.metrics:
            parse_metric(name)
    except ValueError as e:
        return fail(f"--metrics: {e}")
    from dnnlib.quiet_tf import import_tensorflow

    import_tensorflow()
    from metrics.runner import run_metrics

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
        )
    except (ValueError, OSError) as e:
        return fail(str(e))
    return 0


if __name__ == "__main__":
    app.run(main)
