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
    python generate.py --network=RUN --projected_w=out/projected_w.npz
    python generate.py --network=RUN --kind=interp --projected_w=a/w.npz,b/w.npz
    python generate.py --network=RUN --kind=mixing --projected_w=a/w.npz --cols_w=b.npz

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

--projected_w=FILE[,FILE...] makes every kind from given w instead of seeds:
project.py's projected_w.npz (w and its optimised noise maps) or
stylegan2-ada's (w alone; the stored noise is then used). --seeds is then not
used (giving both is refused), nor --class/--labels (a w holds its label),
except for --cols seeds of a conditional network's --kind=mixing.
--kind=seeds writes proj00.png, proj01.png, ... (projNN_MM.png for each w of
a file holding several), one per file in the order given, and prints which
file gave which; each equals project.py's proj.png bit for bit when the
batch is the same (else float rounding may move a few pixels by one level).
--kind=interp is linear in W through the files' w, with the stored noise;
--kind=mixing takes its rows from them and its columns from --cols seeds or
from --cols_w files, the --mix layers' styles and noise maps from the
columns; sheet and truncation show each w. These files are named proj_*.
--truncation_psi moves w towards the W average on the network's
truncation_cutoff layers, as the network's own truncation does. Every file is
checked before its arrays are read (keys, float dtype, shapes against the
network, finite values, at most 1024 w) and refused in one line naming it.
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
flags.DEFINE_string(
    "seeds",
    "0-7",
    "Seeds: '0-7' or '1,5,9' (rows for mixing); not used with --projected_w.",
)
flags.DEFINE_list(
    "projected_w",
    None,
    "projected_w.npz files (project.py's or stylegan2-ada's), comma-separated: "
    "images from their w instead of from --seeds; --class/--labels only for "
    "--cols seeds of a conditional --kind=mixing (a w holds its label).",
)
flags.DEFINE_string("cols", "10-14", "Column seeds for --kind=mixing.")
flags.DEFINE_list(
    "cols_w",
    None,
    "--kind=mixing: projected_w.npz files for the columns instead of --cols.",
)
flags.DEFINE_string(
    "mix", "0-3", "Style layers taken from the columns (--cols or --cols_w)."
)
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
    "(one-hot or float; --kind=mixing: rows for --seeds, then for --cols; for "
    "--cols only with --projected_w).",
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


def labelled_seeds(seeds, cols):
    """The seeds that need label rows: (rows, columns), each [] where w files
    give that side's images instead."""
    rows = [] if FLAGS.projected_w else seeds
    columns = cols if FLAGS.kind == "mixing" and not FLAGS.cols_w else []
    return rows, columns


def labels_for(size, class_index, label_rows, rows, columns):
    """The labels to pass to G for the seeds `rows` and `columns`, or
    ValueError naming the flag to fix."""
    from msg_stylegan_tf2.inference import figures

    network = f"--network={FLAGS.network}"
    flag = "--class" if class_index is not None else "--labels"
    given = class_index is not None or label_rows is not None
    if size == 0 and given:
        raise ValueError(
            f"{flag}: {network} is unconditional (label_size 0); drop {flag}."
        )
    count = len(rows) + len(columns)
    if not count:
        if given:
            raise ValueError(
                f"{flag}: every image comes from a w file (--projected_w, "
                f"--cols_w), and a w holds its label; drop {flag}."
            )
        return None
    if size and not given:
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
        parts = [f for f, side in (("--seeds", rows), ("--cols", columns)) if side]
        hint = f" (--kind=mixing: rows for {', then '.join(parts)})"
        hint = hint if FLAGS.kind == "mixing" else ""
        raise ValueError(f"--labels={FLAGS.labels}: {e}{hint}") from None


def check_w_flags():
    """ValueError for what --projected_w and --cols_w exclude, and for files
    that do not exist (before TensorFlow loads)."""
    if FLAGS.projected_w and FLAGS["seeds"].present:
        raise ValueError(
            "--seeds and --projected_w exclude each other: with --projected_w "
            "the images come from its files; drop --seeds."
        )
    if FLAGS.cols_w and FLAGS.kind != "mixing":
        raise ValueError("--cols_w is for --kind=mixing (its columns) only.")
    if FLAGS.cols_w and FLAGS["cols"].present:
        raise ValueError("--cols and --cols_w exclude each other; pass one.")
    for flag in ("projected_w", "cols_w"):
        for path in FLAGS[flag].value or ():
            if not pathlib.Path(path).is_file():
                raise ValueError(
                    f"--{flag}: {path} is not a file (a projected_w.npz of project.py)."
                )


def load_w_files(G, flag):
    """The `Dlatents` of each file of --projected_w or --cols_w (`flag`)."""
    from msg_stylegan_tf2.formats.dlatents import load_dlatents

    loaded = []
    for path in FLAGS[flag].value or ():
        try:
            loaded.append(load_dlatents(path, G))
        except ValueError as e:
            raise ValueError(f"--{flag}: {e}") from None
    return loaded


def images_to_generate(rows, cols, psis):
    """How many images the generator makes for FLAGS.kind (for the progress)."""
    return {
        "seeds": rows,
        "sheet": rows,
        "interp": rows * FLAGS.steps,
        "mixing": rows + cols + rows * cols,
        "truncation": rows * psis,
    }[FLAGS.kind]


def end_progress(progress):
    # A progress line already shown ends before the error's line.
    if progress is not None and progress.shown:
        progress.close()


def save_grid(batches, path):
    """One square-ish grid of the images of `batches` (uint8 `[n, R, R, C]`)."""
    from dnnlib.image_io import image_grid, save_png

    images = np.concatenate(list(batches))
    save_png(image_grid(images, int(len(images) ** 0.5 + 0.999)), path)


def write_figure(G, seeds, cols, mix, psis, labels, outdir, progress):
    """Writes FLAGS.kind to `outdir`, the generator running FLAGS.batch images
    at a time; `progress(n)` after each forward pass."""
    from dnnlib.image_io import save_png, save_video
    from msg_stylegan_tf2.inference import figures

    psi, batch = FLAGS.truncation_psi, FLAGS.batch
    if FLAGS.kind == "seeds":
        batches = figures.iter_samples(G, seeds, psi, labels, batch, progress)
        if FLAGS.grid:
            save_grid(batches, outdir / "seeds.png")
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


def png_names(files):
    """proj00.png, proj01.png, ... one per file; projNN_MM.png for each w of
    a file holding several."""
    names = []
    for i, dlatents in enumerate(files):
        if len(dlatents) == 1:
            names.append(f"proj{i:02d}.png")
        else:
            names += [f"proj{i:02d}_{j:02d}.png" for j in range(len(dlatents))]
    return names


def mixing_sides(G, row_files, col_files, seeds, cols, labels):
    """The rows and columns of --kind=mixing as `Dlatents`: the w files', or
    the seeds' mapped with their label rows (rows' first)."""
    from msg_stylegan_tf2.formats.dlatents import Dlatents
    from msg_stylegan_tf2.inference import figures

    sides, start = [], 0
    for files, side_seeds in ((row_files, seeds), (col_files, cols)):
        if files:
            sides.append(Dlatents.concat(files))
            continue
        rows = None
        if labels is not None:
            rows = np.broadcast_to(labels, (start + len(side_seeds), labels.shape[1]))
            rows = rows[start:]
        start += len(side_seeds)
        sides.append(figures.seed_dlatents(G, side_seeds, rows, FLAGS.batch))
    return sides


def write_w_figure(G, files, seeds, cols, mix, psis, labels, outdir, progress):
    """Writes FLAGS.kind from the w of `files`, the `Dlatents` of the
    --projected_w and the --cols_w files; returns the lines naming the PNG
    each file gave (--kind=seeds)."""
    from dnnlib.image_io import save_png, save_video
    from msg_stylegan_tf2.formats.dlatents import Dlatents
    from msg_stylegan_tf2.inference import figures

    psi, batch = FLAGS.truncation_psi, FLAGS.batch
    row_files, col_files = files
    if FLAGS.kind == "mixing":
        rows, columns = mixing_sides(G, row_files, col_files, seeds, cols, labels)
        grid = figures.w_style_mixing(G, rows, columns, mix, psi, batch, progress)
        save_png(grid, outdir / "proj_style_mixing.png")
        return []
    dlatents = Dlatents.concat(row_files)
    if FLAGS.kind == "seeds":
        batches = figures.iter_w_samples(G, dlatents, psi, batch, progress)
        if FLAGS.grid:
            save_grid(batches, outdir / "proj_grid.png")
            return []
        names = png_names(row_files)
        images = itertools.chain.from_iterable(batches)
        for name, image in zip(names, images, strict=True):
            save_png(image, outdir / name)
        sources = [
            p
            for p, d in zip(FLAGS.projected_w, row_files, strict=True)
            for _ in range(len(d))
        ]
        return [f"{outdir / n}: {p}" for n, p in zip(names, sources, strict=True)]
    if FLAGS.kind == "sheet":
        sheet = figures.w_multiscale_sheet(G, dlatents, psi, batch, progress)
        save_png(sheet, outdir / "proj_multiscale.png")
    elif FLAGS.kind == "interp":
        frames = figures.iter_w_interpolation_frames(
            G, dlatents, FLAGS.steps, psi, batch, progress
        )
        save_video(frames, outdir / f"proj_interpolation.{FLAGS.format}")
    else:
        grid = figures.w_truncation_sweep(G, dlatents, psis, batch, progress)
        save_png(grid, outdir / "proj_truncation.png")
    return []


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
        check_w_flags()
    except ValueError as e:
        return fail(str(e))
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from dnnlib.progress import Progress
    from msg_stylegan_tf2.formats.export import SavedModelGenerator
    from msg_stylegan_tf2.formats.network_run import load_generator
    from msg_stylegan_tf2.inference import figures

    progress, lines = None, []
    try:
        if (pathlib.Path(FLAGS.network) / "saved_model.pb").is_file():
            G, checkpoint = SavedModelGenerator(FLAGS.network), FLAGS.network
        else:
            G, _, checkpoint = load_generator(FLAGS.network)
        row_files, col_files = load_w_files(G, "projected_w"), load_w_files(G, "cols_w")
        rows, columns = labelled_seeds(seeds, cols)
        size = figures.label_size(G)
        labels = labels_for(size, class_index, label_rows, rows, columns)
        if FLAGS.kind == "mixing" and hasattr(G, "num_layers"):
            try:
                figures.check_mix_layers(G, mix)
            except ValueError as e:
                raise ValueError(f"--mix={FLAGS.mix}: {e}") from None
        outdir = pathlib.Path(FLAGS.outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        row_count = sum(map(len, row_files)) if row_files else len(seeds)
        col_count = sum(map(len, col_files)) if col_files else len(cols)
        total = images_to_generate(row_count, col_count, len(psis))
        progress = Progress(f"Generating {FLAGS.kind}", total=total)
        if row_files or col_files:
            files = (row_files, col_files)
            lines = write_w_figure(
                G, files, seeds, cols, mix, psis, labels, outdir, progress.update
            )
        else:
            write_figure(G, seeds, cols, mix, psis, labels, outdir, progress.update)
        progress.close()
    except (tf.errors.ResourceExhaustedError, MemoryError):
        end_progress(progress)
        return cli.out_of_memory("generate.py", "batch", FLAGS.batch)
    except (ValueError, OSError) as e:
        end_progress(progress)
        return fail(str(e))
    for line in lines:
        print(line)
    print(f"Wrote {FLAGS.kind} to {outdir}/ from {checkpoint}.")
    return 0


if __name__ == "__main__":
    app.run(main)
