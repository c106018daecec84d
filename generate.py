"""Images from a trained generator: samples, multi-scale sheets, interpolations,
style mixing and truncation sweeps (PNG, GIF; MP4 with imageio-ffmpeg).

Examples:
    python generate.py --network=results/00000-demo_32-emoji64 --kind=seeds --seeds=0-7
    python generate.py --network=RUN --kind=seeds --seeds=0-35 --grid
    python generate.py --network=RUN --kind=sheet --seeds=0-5
    python generate.py --network=RUN --kind=interp --seeds=0,1,2,3 --steps=24
    python generate.py --network=RUN --kind=mixing --seeds=0-4 --cols=10-14 --mix=0-3
    python generate.py --network=RUN --kind=truncation --seeds=0-4 --psis=1,0.7,0.5,0
    python generate.py --network=COND_RUN --kind=seeds --seeds=0-7 --class=3
    python generate.py --network=COND_RUN --kind=interp --seeds=0,1 --labels=rows.npy

The generator runs on at most --batch images at a time, so memory is one
batch's plus the output's: --kind=seeds writes each batch's PNGs as it goes,
--format=mp4 hands frames to ffmpeg as they come, and a grid, sheet or GIF is
held whole. An image depends on its seed alone, not on --batch: its latent
comes from the seed, and the noise inputs are the network's stored noise, the
same for every image (batch sizes differ only in float rounding: at most one
uint8 level on a few pixels). A progress line (count, rate, ETA) goes to
stderr. Out of memory is one line naming --batch to lower.

A conditional network (trained with labels) needs --class=N, the same one-hot
label for every image, or --labels=FILE, a .npy of float rows
[1 or len(seeds), label_size] (one row for all, or one per seed; for
--kind=mixing, one per --seeds row then one per --cols column; --kind=interp
blends them between seeds); there is no default class. On an unconditional
network, --class and --labels are refused in one line instead of ignored: they
would change nothing, so the --network is most likely not the intended one.
(That refusal is this script's choice: NVIDIA's StyleGAN2-ADA generate.py
only warns on --class for an unconditional network, and has no --labels.)
"""

import itertools
import pathlib

import numpy as np
from absl import app, flags

from dnnlib import cli
from msg_stylegan_tf2.choices import GENERATE_BATCH

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
flags.DEFINE_integer(
    "batch",
    GENERATE_BATCH,
    "Images per forward pass of the generator (bounds memory; any number of seeds).",
    lower_bound=1,
)
flags.DEFINE_integer("steps", 16, "Interpolation frames between seeds.", lower_bound=1)
flags.DEFINE_enum("format", "gif", ["gif", "mp4"], "Interpolation video format.")
flags.DEFINE_string("outdir", "out", "Output directory.")
flags.DEFINE_integer(
    "class",
    None,
    "Conditional networks: class index (0-based); every image gets its one-hot label.",
    lower_bound=0,
)
flags.DEFINE_string(
    "labels",
    None,
    "Conditional networks: .npy of label rows [1 or len(seeds), label_size] "
    "(one-hot or float; --kind=mixing: rows for --seeds, then for --cols).",
)
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
    return cli.fail("generate.py", message, FLAGS)


def read_label_rows(path):
    """The array in a .npy file (no pickles); ValueError naming --labels."""
    try:
        rows = np.load(path, allow_pickle=False)
        if not isinstance(rows, np.ndarray):  # An .npz archive.
            rows.close()
            raise ValueError("an .npz archive, not one array")
    except (OSError, ValueError, EOFError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"--labels={path}: cannot read a .npy array ({message}); save one "
            "with numpy.save."
        ) from None
    return rows


def labels_for(size, class_index, label_rows, count):
    """The labels to pass to G, or ValueError naming the flag to fix."""
    from msg_stylegan_tf2 import figures

    network = f"--network={FLAGS.network}"
    if size == 0 and (class_index is not None or label_rows is not None):
        flag = "--class" if class_index is not None else "--labels"
        raise ValueError(
            f"{flag}: {network} is unconditional (label_size 0); drop {flag}."
        )
    if size and class_index is None and label_rows is None:
        raise ValueError(
            f"{network} is conditional (label_size {size}): pass --class=N "
            f"(0-{size - 1}) or --labels=FILE."
        )
    if class_index is not None:
        try:
            return figures.class_labels(class_index, size)
        except ValueError as e:
            raise ValueError(f"--class={class_index}: {e}") from None
    try:
        return figures.check_labels(label_rows, size, count)
    except ValueError as e:
        rows = " (--kind=mixing: rows for --seeds, then --cols)"
        rows = rows if FLAGS.kind == "mixing" else ""
        raise ValueError(f"--labels={FLAGS.labels}: {e}{rows}") from None


def images_to_generate(seeds, cols, psis):
    """How many images the generator makes for FLAGS.kind (for the progress)."""
    return {
        "seeds": seeds,
        "sheet": seeds,
        "interp": seeds * FLAGS.steps,
        "mixing": seeds + cols + seeds * cols,
        "truncation": seeds * psis,
    }[FLAGS.kind]


def end_progress(progress):
    # A progress line already shown ends before the error's line.
    if progress is not None and progress.shown:
        progress.close()


def write_figure(G, seeds, cols, mix, psis, labels, outdir, progress):
    """Writes FLAGS.kind to `outdir`, the generator running FLAGS.batch images
    at a time; `progress(n)` after each forward pass."""
    from dnnlib.image_io import image_grid, save_png, save_video
    from msg_stylegan_tf2 import figures

    psi, batch = FLAGS.truncation_psi, FLAGS.batch
    if FLAGS.kind == "seeds":
        batches = figures.iter_samples(G, seeds, psi, labels, batch, progress)
        if FLAGS.grid:
            columns = int(len(seeds) ** 0.5 + 0.999)
            grid = image_grid(np.concatenate(list(batches)), columns)
            save_png(grid, outdir / "seeds.png")
        else:
            # One PNG per seed, written batch by batch.
            images = itertools.chain.from_iterable(batches)
            for seed, image in zip(seeds, images, strict=True):
                save_png(image, outdir / f"seed{seed:04d}.png")
    elif FLAGS.kind == "sheet":
        sheet = figures.multiscale_sheet(G, seeds, psi, labels, batch, progress)
        save_png(sheet, outdir / "multiscale.png")
    elif FLAGS.kind == "interp":
        frames = figures.iter_interpolation_frames(
            G, seeds, FLAGS.steps, psi, labels, batch, progress
        )
        save_video(frames, outdir / f"interpolation.{FLAGS.format}")
    elif FLAGS.kind == "mixing":
        grid = figures.style_mixing(G, seeds, cols, mix, psi, labels, batch, progress)
        save_png(grid, outdir / "style_mixing.png")
    else:
        grid = figures.truncation_sweep(G, seeds, psis, labels, batch, progress)
        save_png(grid, outdir / "truncation.png")


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
        class_index = FLAGS["class"].value
        if class_index is not None and FLAGS.labels:
            raise ValueError("--class and --labels exclude each other; pass one.")
        label_rows = read_label_rows(FLAGS.labels) if FLAGS.labels else None
    except ValueError as e:
        return fail(str(e))
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from dnnlib.progress import Progress
    from msg_stylegan_tf2 import figures
    from msg_stylegan_tf2.export import SavedModelGenerator
    from msg_stylegan_tf2.training.snapshot import load_generator

    progress = None
    try:
        if (pathlib.Path(FLAGS.network) / "saved_model.pb").is_file():
            G, checkpoint = SavedModelGenerator(FLAGS.network), FLAGS.network
        else:
            G, _, checkpoint = load_generator(FLAGS.network)
        count = len(seeds) + (len(cols) if FLAGS.kind == "mixing" else 0)
        labels = labels_for(figures.label_size(G), class_index, label_rows, count)
        outdir = pathlib.Path(FLAGS.outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        total = images_to_generate(len(seeds), len(cols), len(psis))
        progress = Progress(f"Generating {FLAGS.kind}", total=total)
        write_figure(G, seeds, cols, mix, psis, labels, outdir, progress.update)
        progress.close()
    except (tf.errors.ResourceExhaustedError, MemoryError):
        end_progress(progress)
        return cli.out_of_memory("generate.py", "batch", FLAGS.batch)
    except (ValueError, OSError) as e:
        end_progress(progress)
        return fail(str(e))
    print(f"Wrote {FLAGS.kind} to {outdir}/ from {checkpoint}.")
    return 0


if __name__ == "__main__":
    app.run(main)
