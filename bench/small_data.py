"""Small data: 500 emoji without augmentation, with DiffAugment and with ADA,
at equal kimg; and fine-tuning from a demo snapshot against training from
scratch on a different small set.

Each run is `python train.py` as a user runs it. For each, on Gs samples
(psi 1): the demo quality numbers of `bench/demo_quality.py` (border_white,
pairwise_rms, pyramid_rms) and SWD (x1e3, averaged over levels) against all
2,031 demo images. The final 32x32 grids are written side by side.

The different small set for fine-tuning: 500 other emoji with red and blue
swapped (`emoji_rb_500.zip`, made here). The source is `demo_32` trained on
the full demo set.

Usage:
    python bench/small_data.py                       # about 2 h on 2 CPU cores
    python bench/small_data.py --kimg=4 --source_kimg=2 --finetune_kimg=2  # smoke
"""

import io
import os
import pathlib
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from PIL import Image  # noqa: E402
from quality import dataset_images, last_stats, measure, stats_of  # noqa: E402
from runs import final_grid, side_by_side, train  # noqa: E402

from datasets.cache import DEMO_ZIP  # noqa: E402
from dnnlib.hardware import detect, summary  # noqa: E402

flags.DEFINE_string("outdir", "results/small_data", "Where the runs go.")
flags.DEFINE_integer("images", 500, "Training images (--max_images).")
flags.DEFINE_float("kimg", 30, "kimg of each augmentation run.")
flags.DEFINE_float("ada_kimg", 5, "ADA's --ada_kimg for these short runs.")
flags.DEFINE_float("source_kimg", 20, "kimg of the demo snapshot fine-tuned from.")
flags.DEFINE_float("finetune_kimg", 10, "kimg of fine-tuning and its scratch twin.")
flags.DEFINE_string("grid", "docs/small_data.png", "Side-by-side final grids.")
flags.DEFINE_string(
    "finetune_grid", "docs/small_data_finetune.png", "Fine-tuning grids."
)
flags.DEFINE_list("runs", ["none", "diffaug", "ada", "finetune"], "What to run.")
FLAGS = flags.FLAGS
COMMON = ("--preset=demo_32", "--seed=0", "--mixed_precision=off")


def swapped_zip(path, count):
    """Writes the last `count` demo images with red and blue swapped."""
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(DEMO_ZIP) as source, zipfile.ZipFile(tmp, "w") as target:
        names = sorted(n for n in source.namelist() if n.endswith(".png"))
        for name in names[-count:]:
            with Image.open(io.BytesIO(source.read(name))) as image:
                rgb = np.asarray(image.convert("RGB"))[..., ::-1]
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
            target.writestr(pathlib.PurePath(name).name, buffer.getvalue())
    os.replace(tmp, path)
    return path


def augmentation_runs(outdir, table):
    # The same 500 images, three ways, at equal kimg; measured against all.
    grids = []
    for augment in ("none", "diffaug", "ada"):
        if augment not in FLAGS.runs:
            continue
        extra = [f"--ada_kimg={FLAGS.ada_kimg:g}"] if augment == "ada" else []
        run, _ = train(
            outdir / augment,
            *COMMON,
            f"--max_images={FLAGS.images}",
            f"--total_kimg={FLAGS.kimg:g}",
            f"--augment={augment}",
            *extra,
        )
        reals = dataset_images(run)
        if not table:
            table.append((f"real, all {len(reals):,}", stats_of(reals / 255)))
            subset = dataset_images(run, FLAGS.images) / 255
            table.append((f"real, the {FLAGS.images} trained on", stats_of(subset)))
        stats = measure(run, reals)
        last = last_stats(run)
        stats["sec_per_kimg"] = last["Timing/sec_per_kimg"]
        label = f"{FLAGS.images} images, --augment={augment}"
        if augment == "ada":
            label += f" (final p {last['Progress/augment']:.2f})"
        table.append((label, stats))
        grids.append(final_grid(run))
    if grids:
        side_by_side(grids, FLAGS.grid)


def finetune_runs(outdir, table):
    # A demo snapshot fine-tuned onto 500 red/blue-swapped emoji, against the
    # same run from scratch, at equal kimg.
    source, _ = train(outdir / "source", *COMMON, f"--total_kimg={FLAGS.source_kimg:g}")
    target = swapped_zip(outdir / f"emoji_rb_{FLAGS.images}.zip", FLAGS.images)
    length = f"--total_kimg={FLAGS.finetune_kimg:g}"
    data = f"--dataset={target}"
    tuned, _ = train(
        outdir / "finetune", data, f"--finetune_from={source}", length, *COMMON
    )
    scratch, _ = train(outdir / "scratch", data, length, *COMMON)
    reals = dataset_images(scratch)
    table.append(
        (f"red/blue-swapped emoji ({len(reals)}), real", stats_of(reals / 255))
    )
    for label, run in (("fine-tuned", tuned), ("from scratch", scratch)):
        stats = measure(run, reals)
        stats["sec_per_kimg"] = last_stats(run)["Timing/sec_per_kimg"]
        table.append((f"red/blue-swapped, {label}", stats))
    side_by_side([final_grid(tuned), final_grid(scratch)], FLAGS.finetune_grid)


def main(argv):
    del argv
    print(f"Hardware: {summary(detect())}")
    outdir = pathlib.Path(FLAGS.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    table = []
    augmentation_runs(outdir, table)
    if "finetune" in FLAGS.runs:
        finetune_runs(outdir, table)
    print(
        f"\ndemo_32, fp32, seed 0: augmentation runs {FLAGS.kimg:g} kimg "
        f"(ada_kimg {FLAGS.ada_kimg:g}); fine-tuning {FLAGS.finetune_kimg:g} kimg "
        f"from {FLAGS.source_kimg:g} kimg on all images"
    )
    keys = ("border_white", "pairwise_rms", "pyramid_rms", "swd", "sec_per_kimg")
    print("| run | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for label, stats in table:
        cells = [f"{stats[k]:.3f}" if k in stats else "" for k in keys]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    app.run(main)
