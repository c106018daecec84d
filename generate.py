"""Images from a trained generator: samples, multi-scale sheets, interpolations,
style mixing and truncation sweeps (PNG, GIF; MP4 with imageio-ffmpeg).

Examples:
    python generate.py --network=results/00000-demo_32-emoji64 --kind=seeds --seeds=0-7
    python generate.py --network=RUN --kind=seeds --seeds=0-35 --grid
    python generate.py --network=RUN --kind=sheet --seeds=0-5
    python generate.py --network=RUN --kind=interp --seeds=0,1,2,3 --steps=24
    python generate.py --network=RUN --kind=mixing --seeds=0-4 --cols=10-14 --mix=0-3
    python generate.py --network=RUN --kind=truncation --seeds=0-4 --psis=1,0.7,0.5,0
"""

import pathlib
import sys

from absl import app, flags

KINDS = ("seeds", "sheet", "interp", "mixing", "truncation")
flags.DEFINE_string(
    "network", None, "Run directory, <run>/checkpoints/ckpt-N, SavedModel or .pkl."
)
flags.DEFINE_enum("kind", "seeds", list(KINDS), "Which figure.")
flags.DEFINE_string("seeds", "0-7", "Seeds: '0-7' or '1,5,9' (rows for mixing).")
flags.DEFINE_string("cols", "10-14", "Column seeds for --kind=mixing.")
flags.DEFINE_string("mix", "0-3", "Synthesis layers taken from the column seeds.")
flags.DEFINE_list("psis", ["1", "0.85", "0.7", "0.5", "0.3", "0"], "Truncation psis.")
flags.DEFINE_float("truncation_psi", None, "Truncation (default: none).")
flags.DEFINE_boolean(
    "grid", False, "With --kind=seeds: one grid instead of one PNG each."
)
flags.DEFINE_integer("steps", 16, "Interpolation frames between seeds.", lower_bound=1)
flags.DEFINE_enum("format", "gif", ["gif", "mp4"], "Interpolation video format.")
flags.DEFINE_string("outdir", "out", "Output directory.")
FLAGS = flags.FLAGS


def parse_range(text, name):
    """'0-3' -> [0, 1, 2, 3]; '1,5' -> [1, 5]."""
    try:
        values = []
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                values += list(range(int(lo), int(hi) + 1))
            else:
                values.append(int(part))
    except ValueError:
        raise ValueError(
            f"--{name}: expected '0-7' or '1,5,9'. Received: {text!r}"
        ) from None
    if not values:
        raise ValueError(f"--{name} is empty.")
    return values


def fail(message):
    print(f"generate.py: error: {message}", file=sys.stderr)
    return 1


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.network:
        return fail("--network is required (a run directory or a checkpoint).")
    try:
        seeds = parse_range(FLAGS.seeds, "seeds")
        cols = parse_range(FLAGS.cols, "cols")
        mix = parse_range(FLAGS.mix, "mix")
        psis = [float(p) for p in FLAGS.psis]
    except ValueError as e:
        return fail(str(e))
    from dnnlib.quiet_tf import import_tensorflow

    import_tensorflow()
    from dnnlib.image_io import image_grid, save_png, save_video
    from msg_stylegan_tf2 import figures
    from msg_stylegan_tf2.export import SavedModelGenerator
    from msg_stylegan_tf2.training.snapshot import load_generator

    try:
        if (pathlib.Path(FLAGS.network) / "saved_model.pb").is_file():
            G, checkpoint = SavedModelGenerator(FLAGS.network), FLAGS.network
        else:
            G, _, checkpoint = load_generator(FLAGS.network)
        outdir = pathlib.Path(FLAGS.outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        psi = FLAGS.truncation_psi
        if FLAGS.kind == "seeds":
            images = figures.samples(G, seeds, psi)
            if FLAGS.grid:
                save_png(
                    image_grid(images, int(len(seeds) ** 0.5 + 0.999)),
                    outdir / "seeds.png",
                )
            else:
                for seed, image in zip(seeds, images, strict=True):
                    save_png(image, outdir / f"seed{seed:04d}.png")
        elif FLAGS.kind == "sheet":
            save_png(figures.multiscale_sheet(G, seeds, psi), outdir / "multiscale.png")
        elif FLAGS.kind == "interp":
            frames = figures.interpolation_frames(G, seeds, FLAGS.steps, psi)
            save_video(frames, outdir / f"interpolation.{FLAGS.format}")
        elif FLAGS.kind == "mixing":
            save_png(
                figures.style_mixing(G, seeds, cols, mix, psi),
                outdir / "style_mixing.png",
            )
        else:
            save_png(
                figures.truncation_sweep(G, seeds, psis), outdir / "truncation.png"
            )
    except (ValueError, OSError) as e:
        return fail(str(e))
    print(f"Wrote {FLAGS.kind} to {outdir}/ from {checkpoint}.")
    return 0


if __name__ == "__main__":
    app.run(main)
