"""Precision and lazy R1 against quality: does a bf16 run learn as well as an
fp32 one, and does `--r1_interval=16` buy quality per wall-clock second?

Runs `python train.py` on the emoji demo (`demo_32`):
- fp32 with two seeds (their difference is the seed-to-seed noise),
- bf16 with the same seeds, at equal kimg,
- fp32 with `--r1_interval=16`, seed 0, for the wall-clock time the fp32
  seed-0 run took (stopped with SIGINT, which saves a checkpoint).
For each: border_white, pairwise_rms, pyramid_rms and SWD (x1e3, averaged over
levels) of Gs samples against all 2,031 demo images, the images per second of
the training steps (median tick, first tick left out), and kimg reached.
It prints the CPU's bf16 capability first: bf16's speed depends on it. Run it
alone on the machine: the times are part of the result.

Usage:
    python bench/precision_quality.py                  # about 1.5 h on 2 CPU cores
    python bench/precision_quality.py --kimg=2         # smoke
"""

import json
import os
import pathlib
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from absl import app, flags  # noqa: E402
from quality import dataset_images, measure, stats_of  # noqa: E402
from runs import train  # noqa: E402

from dnnlib.hardware import detect, resolve_precision, summary  # noqa: E402

flags.DEFINE_string("outdir", "results/precision_quality", "Where the runs go.")
flags.DEFINE_float("kimg", 20, "kimg of the fp32 and bf16 runs.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds of the fp32 and bf16 runs.")
flags.DEFINE_integer("r1_interval", 16, "Lazy R1's interval for the timed run.")
FLAGS = flags.FLAGS


def images_per_second(run):
    """Median images/s over the ticks after the first (which compiles)."""
    records = [json.loads(line) for line in (run / "stats.jsonl").open()]
    rates = [r["Timing/images_per_sec"]["mean"] for r in records]
    return statistics.median(rates[1:] or rates), records[-1]["Progress/kimg"]["mean"]


def main(argv):
    del argv
    hardware = detect()
    choice, reason = resolve_precision(hardware.cpu_flags, hardware.gpu_capabilities)
    print(f"Hardware: {summary(hardware)}")
    print(f"--mixed_precision=auto here: {choice} ({reason})")
    outdir = pathlib.Path(FLAGS.outdir)
    common = ("--preset=demo_32", f"--total_kimg={FLAGS.kimg:g}", "--tick_kimg=1")
    rows, reals = [], None
    fp32_wall = None
    for precision in ("off", "bf16"):
        for seed in FLAGS.seeds:
            run, wall = train(
                outdir / f"{precision}-seed{seed}",
                *common,
                f"--mixed_precision={precision}",
                f"--seed={seed}",
            )
            if precision == "off" and fp32_wall is None:
                fp32_wall = wall
            if reals is None:
                reals = dataset_images(run)
                rows.append((f"real, all {len(reals):,}", stats_of(reals / 255)))
            name = "fp32" if precision == "off" else "bf16"
            rows.append((f"{name}, seed {seed}", run, wall))
    run, wall = train(
        outdir / f"off-r1_interval{FLAGS.r1_interval}",
        "--preset=demo_32",
        f"--total_kimg={4 * FLAGS.kimg:g}",
        "--tick_kimg=1",
        "--mixed_precision=off",
        f"--seed={FLAGS.seeds[0]}",
        f"--r1_interval={FLAGS.r1_interval}",
        seconds=fp32_wall,
    )
    rows.append(
        (f"fp32, --r1_interval={FLAGS.r1_interval}, seed {FLAGS.seeds[0]}", run, wall)
    )
    print(
        f"\ndemo_32 on the emoji demo: {FLAGS.kimg:g} kimg each, the lazy-R1 run "
        "for the wall-clock time of the first fp32 run"
    )
    keys = ("border_white", "pairwise_rms", "pyramid_rms", "swd")
    print("| run | " + " | ".join(keys) + " | images/s | kimg | wall s |")
    print("|---|" + "---:|" * (len(keys) + 3))
    for row in rows:
        if len(row) == 2:
            label, stats = row
            cells = [f"{stats[k]:.3f}" if k in stats else "" for k in keys]
            print(f"| {label} | " + " | ".join(cells) + " | | | |")
            continue
        label, run, wall = row
        stats = measure(run, reals)
        rate, kimg = images_per_second(run)
        cells = [f"{stats[k]:.3f}" for k in keys]
        print(
            f"| {label} | " + " | ".join(cells) + f" | {rate:.1f} | {kimg:.1f} | "
            f"{wall:.0f} |"
        )


if __name__ == "__main__":
    app.run(main)
