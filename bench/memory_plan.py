"""The memory plan's estimate against the measured peak on this machine.

For each case (preset, batch, precision) a fresh process trains a few real
steps through the `Trainer` (one device, synthetic data at the preset's
resolution) and reports its peak resident memory growth: VmHWM at the end less
VmRSS just before the Trainer is made (TensorFlow imported and initialised,
the dataset written). This process prints the plan's estimate for the same
configuration (`training/memory_plan.py`: parameters, Adam, the step's peak of
live tensors), the ratio measured / estimate, and, for two batches of one
preset, the ratio of the growth between them (the activations' share alone).
Prints the hardware first. CPU only: a GPU's allocator is not RSS.

With `--gpu_table` it prints docs/gpu.md's table instead: the largest
`batch_gpu` (a power of two) whose plan fits 16, 24, 40 and 80 GB cards, for
the paper's MSG-StyleGAN widths at 128 to 1024 in fp32 and bf16: estimates.

Usage:
    python bench/memory_plan.py
    python bench/memory_plan.py --cases=demo_32:16,demo_32:64:bf16 --steps=2
    python bench/memory_plan.py --cases=demo_32:64,demo_32:64:fp32:8
    python bench/memory_plan.py --gpu_table
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

flags.DEFINE_list(
    "cases",
    ["demo_32:16", "demo_32:64", "small_128:8", "small_128:32", "demo_32:64:bf16"],
    "preset:batch[:precision[:batch_gpu]] (precision fp32 or bf16) to measure.",
)
flags.DEFINE_integer("steps", 3, "Training steps per case.", lower_bound=1)
flags.DEFINE_boolean(
    "gpu_table",
    False,
    "Print docs/gpu.md's table instead: the largest batch_gpu whose plan fits "
    "16/24/40/80 GB cards, per resolution and precision (estimates).",
)
flags.DEFINE_string("measure", None, "Internal: measure this case in this process.")
FLAGS = flags.FLAGS


def _status(key):
    # A /proc/self/status field in bytes (VmRSS, VmHWM).
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


def parse_case(text):
    # preset:batch[:precision[:batch_gpu]]
    preset, batch, *rest = text.split(":")
    precision = rest[0] if rest else "fp32"
    batch_gpu = int(rest[1]) if len(rest) > 1 else None
    return preset, int(batch), precision, batch_gpu


def resolution_of(preset):
    from msg_stylegan_tf2.networks.presets import get_preset

    return get_preset(preset).G["resolution"]


def case_config(dataset, preset, batch, precision, steps, batch_gpu=None):
    import dataclasses

    from msg_stylegan_tf2.training import selfcheck

    config = selfcheck.training_config(
        dataset,
        precision,
        batch=batch,
        steps=steps,
        preset=preset,
        resolution=resolution_of(preset),
        same_function=False,
    )
    return dataclasses.replace(config, batch_gpu=batch_gpu)


def measure(text, steps):
    """Trains the case in this process; prints `{"baseline", "peak"}` bytes."""
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from msg_stylegan_tf2.training import selfcheck
    from msg_stylegan_tf2.training.loop import Trainer

    preset, batch, precision, batch_gpu = parse_case(text)
    with tempfile.TemporaryDirectory() as work_dir:
        work_dir = pathlib.Path(work_dir)
        count = max(64, 2 * batch)
        dataset = selfcheck.write_dataset(
            work_dir / "data", resolution_of(preset), count=count
        )
        config = case_config(dataset, preset, batch, precision, steps, batch_gpu)
        float(tf.reduce_sum(tf.ones([2])))  # Start the runtime before the baseline.
        baseline = _status("VmRSS")
        (work_dir / "run").mkdir()
        Trainer(config, work_dir / "run", log=lambda line: None).run()
        print(json.dumps({"baseline": baseline, "peak": _status("VmHWM")}))


def measured_growth(text, steps):
    result = subprocess.run(
        [sys.executable, __file__, f"--measure={text}", f"--steps={steps}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{text}: {result.stderr.strip().splitlines()[-1:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    return found["peak"] - found["baseline"]


# docs/gpu.md's table: (resolution, the preset whose widths it has).
GPU_ROWS = (
    (128, "msg_stylegan_256"),
    (256, "msg_stylegan_256"),
    (512, "msg_stylegan_1024"),
    (1024, "msg_stylegan_1024"),
)
CARDS_GB = (16, 24, 40, 80)
# What TensorFlow may allocate on a card: less the CUDA context and libraries.
CARD_OVERHEAD = 2**30


def gpu_table():
    """docs/gpu.md's table, from the plans (estimates: no GPU measured)."""
    from dnnlib.hardware import DeviceMemory
    from msg_stylegan_tf2.networks.presets import get_preset
    from msg_stylegan_tf2.training.memory_plan import (
        largest_fitting_batch_gpu,
        memory_plan,
    )

    cards = " | ".join(f"{gb} GB" for gb in CARDS_GB)
    print(f"| resolution | precision | params + Adam | per image | {cards} |")
    print("|---|---|---|---|" + "---|" * len(CARDS_GB))
    for resolution, preset in GPU_ROWS:
        spec = get_preset(preset)
        g_kwargs = {**spec.G, "resolution": resolution}
        d_kwargs = {**spec.D, "resolution": resolution}
        for precision in ("off", "bf16"):
            plan = memory_plan(
                spec.arch, g_kwargs, d_kwargs, 1, precision, per_replica_batch=64
            )
            per_image = plan.steps[plan.peak_step(64)].line(64)[0]
            fits = []
            for gb in CARDS_GB:
                memory = DeviceMemory(f"{gb} GB", gb * 2**30 - CARD_OVERHEAD)
                best = largest_fitting_batch_gpu(plan, 64, memory)
                fits.append("-" if best is None else str(best))
            shown = "fp32" if precision == "off" else precision
            print(
                f"| {resolution} | {shown} | "
                f"{mib(plan.param_bytes + plan.optimizer_bytes)} MiB | "
                f"{mib(per_image)} MiB | {' | '.join(fits)} |"
            )


def mib(nbytes):
    return f"{nbytes / 2**20:.0f}"


def main(argv):
    del argv
    if FLAGS.measure:
        measure(FLAGS.measure, FLAGS.steps)
        return 0
    if FLAGS.gpu_table:
        gpu_table()
        return 0
    from dnnlib import hardware
    from msg_stylegan_tf2.training.memory_plan import plan_for_config

    print(hardware.summary(hardware.detect()))
    print(f"Memory plan against the peak RSS growth of {FLAGS.steps} training steps")
    print()
    print(
        "| case | params MiB | Adam MiB | step MiB (D/G) | estimate MiB "
        "| measured MiB | measured / estimate |"
    )
    print("|---|---|---|---|---|---|---|")
    results = {}
    for text in FLAGS.cases:
        preset, batch, precision, batch_gpu = parse_case(text)
        config = case_config("unused", preset, batch, precision, FLAGS.steps, batch_gpu)
        plan = plan_for_config(config, batch_gpu=batch_gpu)
        growth = measured_growth(text, FLAGS.steps)
        results[text] = (plan.total_bytes(), growth)
        steps = "/".join(
            mib(plan.steps[s].bytes(batch_gpu or batch)) for s in ("D", "G")
        )
        print(
            f"| {text} | {mib(plan.param_bytes)} | {mib(plan.optimizer_bytes)} | "
            f"{steps} | {mib(plan.total_bytes())} | {mib(growth)} | "
            f"{growth / plan.total_bytes():.2f} |"
        )
    print()
    # The activations alone: the growth between two batches of one preset.
    for text in FLAGS.cases:
        preset, batch, precision, batch_gpu = parse_case(text)
        for other in FLAGS.cases:
            p, b, q, g = parse_case(other)
            if (p, q) == (preset, precision) and b > batch and not (g or batch_gpu):
                estimate = results[other][0] - results[text][0]
                growth = results[other][1] - results[text][1]
                print(
                    f"{preset} {precision}, batch {batch} -> {b}: measured "
                    f"{mib(growth)} MiB more, estimated {mib(estimate)} MiB more "
                    f"(ratio {growth / estimate:.2f})"
                )
    return 0


if __name__ == "__main__":
    app.run(main)
