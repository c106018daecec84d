"""Plot the training-stability measure of several runs against kimg.

The measure (MSG-GAN paper): at each image snapshot, the MSE between the images
of the same fixed latents at this snapshot and the previous one; train.py logs
it to `<run>/stability.jsonl`.

Example:
    python plot_stability.py --runs=results/00000-a,results/00001-b --out=stability.png
"""

import json
import pathlib

from absl import app, flags

from dnnlib import cli

flags.DEFINE_list("runs", None, "Run directories.")
flags.DEFINE_integer("resolution", None, "Resolution to plot (default: the highest).")
flags.DEFINE_string("out", "stability.png", "Output PNG.")
flags.DEFINE_boolean("log_y", True, "Logarithmic MSE axis.")
FLAGS = flags.FLAGS


def fail(message):
    return cli.fail("plot_stability.py", message, FLAGS)


def read_series(run, resolution):
    path = pathlib.Path(run) / "stability.jsonl"
    if not path.is_file():
        raise ValueError(f"{path}: missing; was the run trained with this version?")
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    if not records:
        raise ValueError(f"{path}: no records yet (needs two image snapshots).")
    sides = sorted(int(k.split("x")[0]) for k in records[0]["mse"])
    side = resolution or sides[-1]
    key = f"{side}x{side}"
    if key not in records[0]["mse"]:
        raise ValueError(f"{path}: no {key} measure (has {sides}).")
    return [r["kimg"] for r in records], [r["mse"][key] for r in records], side


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.runs:
        return fail("--runs is required (comma-separated run directories).")
    from dnnlib.image_io import save_png
    from dnnlib.plot import line_plot

    try:
        series, side = {}, None
        for run in FLAGS.runs:
            kimg, mse, side = read_series(run, FLAGS.resolution)
            series[pathlib.Path(run).name] = (kimg, mse)
        image = line_plot(
            series,
            f"Stability at {side}x{side}",
            "kimg",
            "MSE between snapshots",
            log_y=FLAGS.log_y,
        )
        save_png(image, FLAGS.out)
    except (ValueError, OSError) as e:
        return fail(str(e))
    print(f"Wrote {FLAGS.out}.")
    return 0


if __name__ == "__main__":
    app.run(main)
