"""The self-check: a few training steps of a small network on every device kind
and precision this machine has, from the same weights and the same data, each
compared with a float32 CPU reference (`selfcheck_report.py`: tolerances,
comparison, table).

Every case trains through the `Trainer` on a small synthetic dataset, as
train.py does, and is read back from the run it writes (stats.jsonl) and from
its networks. The network is the tiny preset without noise inputs and without
MinibatchStdDev: both are drawn or grouped per replica, so a mirrored run
computes another function, not the same one less precisely. Adam's epsilon is
1: with the default 1e-8, Adam turns gradients at rounding level (weights that
an InstanceNorm makes irrelevant) into full steps, and no two devices would
agree on them.
"""

import dataclasses
import json
import math
import pathlib
import re
import statistics
import time

import numpy as np

from msg_stylegan_tf2.networks.presets import get_preset

PRESET = "tiny"
RESOLUTION = 16
# Precisions: "fp32" (TF32 off), "tf32" (NVIDIA's default on compute
# capability >= 8.0), "bf16" and "fp16" (Keras mixed policies).
MIXED_PRECISION = {"fp32": "off", "tf32": "off", "bf16": "bf16", "fp16": "fp16"}
# Names `--cases` accepts, whatever this machine has.
CASE_NAME = re.compile(
    r"cpu_(bf16|mirrored)|gpu\d+_(fp32|tf32|bf16|fp16|xla)|gpus_mirrored"
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One way of training: devices, precision, XLA.

    Attributes:
        name: e.g. "cpu_bf16", "gpu0_fp16", "gpus_mirrored".
        devices: TensorFlow device names; several: MirroredStrategy.
        precision: a key of `MIXED_PRECISION`.
        jit: compile the steps with XLA.
        reference: the case it is compared with (XLA draws its random numbers
            with its own generator, so XLA cases have an XLA reference).
    """

    name: str
    devices: tuple
    precision: str = "fp32"
    jit: bool = False
    reference: str | None = "cpu_fp32"

    @property
    def where(self) -> str:
        """The devices in words, e.g. "/cpu:0 + /cpu:1 (mirrored)"."""
        shown = " + ".join(self.devices)
        return shown + " (mirrored)" if len(self.devices) > 1 else shown


REFERENCE = Case("cpu_fp32", ("/cpu:0",), reference=None)
XLA_REFERENCE = Case("cpu_fp32_xla", ("/cpu:0",), jit=True, reference=None)


def available_cases(gpu_capabilities: tuple, cpu_devices: int = 2) -> list[Case]:
    """The cases this machine can run, in the order they run.

    Without GPUs: CPU bf16, and the CPU's logical devices mirrored. With GPUs:
    each GPU in float32 (TF32 off); on GPU 0, TF32 and bf16 where its compute
    capability is >= 8.0, fp16, and XLA; all GPUs mirrored where there are
    several.

    Args:
        gpu_capabilities: each GPU's compute capability `(major, minor)` or
            None (`dnnlib.hardware.Hardware.gpu_capabilities`).
        cpu_devices: logical CPU devices (`configure_devices`).
    """
    if not gpu_capabilities:
        cases = [Case("cpu_bf16", ("/cpu:0",), "bf16")]
        if cpu_devices > 1:
            cpus = tuple(f"/cpu:{i}" for i in range(cpu_devices))
            cases.append(Case("cpu_mirrored", cpus))
        return cases
    cases = [Case(f"gpu{i}_fp32", (f"/gpu:{i}",)) for i in range(len(gpu_capabilities))]
    first = gpu_capabilities[0]
    if first is not None and tuple(first) >= (8, 0):
        cases += [
            Case("gpu0_tf32", ("/gpu:0",), "tf32"),
            Case("gpu0_bf16", ("/gpu:0",), "bf16"),
        ]
    cases += [
        Case("gpu0_fp16", ("/gpu:0",), "fp16"),
        Case("gpu0_xla", ("/gpu:0",), jit=True, reference=XLA_REFERENCE.name),
    ]
    if len(gpu_capabilities) > 1:
        gpus = tuple(f"/gpu:{i}" for i in range(len(gpu_capabilities)))
        cases.append(Case("gpus_mirrored", gpus))
    return cases


def check_case_names(names) -> None:
    """Refuses names that no machine has (before TensorFlow starts).

    Raises:
        ValueError: an unknown name, naming the form of the known ones.
    """
    for name in names:
        if not CASE_NAME.fullmatch(name):
            raise ValueError(
                f"`cases`: unknown case {name!r}; cases are cpu_bf16, cpu_mirrored, "
                "gpu<N>_fp32, gpu<N>_tf32, gpu<N>_bf16, gpu<N>_fp16, gpu<N>_xla "
                "and gpus_mirrored."
            )


def select_cases(available: list[Case], names=None) -> list[Case]:
    """The cases named (default: all available), in the order given.

    Raises:
        ValueError: a name this machine cannot run, listing those it can.
    """
    if not names:
        return list(available)
    check_case_names(names)
    by_name = {case.name: case for case in available}
    for name in names:
        if name not in by_name:
            raise ValueError(
                f"`cases`: this machine cannot run {name}; it can run "
                f"{', '.join(by_name) or 'only the reference'}."
            )
    return [by_name[name] for name in dict.fromkeys(names)]


def configure_devices() -> int:
    """Before TensorFlow makes any tensor: two logical CPU devices (the CPU's
    mirrored case) and, on GPUs, memory allocated as it grows (the check
    leaves the rest to other programs). Returns the logical CPU devices."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu,
        [
            tf.config.LogicalDeviceConfiguration(),
            tf.config.LogicalDeviceConfiguration(),
        ],
    )
    return 2


def write_dataset(directory, resolution=RESOLUTION, count=32, seed=0) -> str:
    """A synthetic dataset in `directory` (must not exist): `count` RGB images,
    a coloured square on a coloured background each. Returns its path."""
    from datasets.tfrecords import TFRecordExporter

    rng = np.random.RandomState(seed)
    with TFRecordExporter(directory) as exporter:
        for _ in range(count):
            image = np.empty([resolution, resolution, 3], np.uint8)
            image[:] = rng.randint(0, 256, 3)
            low, high = sorted(rng.randint(0, resolution + 1, 2))
            image[low:high, low:high] = rng.randint(0, 256, 3)
            exporter.add_image(image)
    return str(directory)


def training_config(
    dataset,
    precision="fp32",
    jit=False,
    batch=8,
    steps=4,
    preset=PRESET,
    resolution=RESOLUTION,
    same_function=True,
    **changes,
):
    """The TrainingConfig of a check: logistic loss with R1, one tick per
    step, no metrics, no snapshots before the end.

    Args:
        dataset: a TFRecord directory (`write_dataset`) of `resolution`.
        precision: a key of `MIXED_PRECISION`.
        jit: XLA.
        batch: the global batch; `steps` steps are trained.
        preset, resolution: the networks.
        same_function: without noise inputs and MinibatchStdDev (see the
            module's docstring), Adam's epsilon 1 and lr 0.01.
        **changes: other TrainingConfig fields.
    """
    from msg_stylegan_tf2.training.config import TrainingConfig

    spec = get_preset(preset)
    data = {"resolution": resolution, "num_channels": 3, "label_size": 0}
    g_kwargs, d_kwargs = {**spec.G, **data}, {**spec.D, **data}
    values = {}
    if same_function:
        g_kwargs["use_noise"], d_kwargs["mbstd_group_size"] = False, 1
        values = {"lr": 0.01, "adam_epsilon": 1.0}
    values.update(
        dataset=str(dataset),
        preset=preset,
        arch=spec.arch,
        G_kwargs=g_kwargs,
        D_kwargs=d_kwargs,
        loss="logistic",
        r1_gamma=10.0,
        batch=batch,
        total_kimg=steps * batch / 1000,
        tick_kimg=batch / 1000,
        G_smoothing_kimg=1.0,
        mirror_augment=True,
        image_snapshot_ticks=10**6,
        network_snapshot_ticks=10**6,
        grid_images=4,
        strategy="one_device",
        mixed_precision=MIXED_PRECISION[precision],
        jit=jit,
        seed=0,
    )
    values.update(changes)
    return TrainingConfig(**values)


@dataclasses.dataclass
class Run:
    """What a case's training gave.

    Attributes:
        losses: per tick (one step each), `{term: mean}` from stats.jsonl.
        weights: `{"G"|"D"|"Gs": {official name: array}}` after the last step.
        images_per_sec: the median over the ticks after the first (which
            traces the steps), or None.
        seconds: wall time of the case, tracing included.
    """

    losses: list
    weights: dict
    images_per_sec: float | None
    seconds: float


def network_weights(trainer) -> dict:
    """`{"G"|"D"|"Gs": {official name: float array}}` of a Trainer's networks."""
    return {
        name: {
            key: np.array(variable.numpy())
            for key, (variable, _) in getattr(trainer, name)
            .official_variable_map()
            .items()
        }
        for name in ("G", "D", "Gs")
    }


def _assign(trainer, weights, perturb=False):
    # Starts every case from the reference's weights; `perturb` is the test
    # hook's disagreement (G's and D's weights moved by 5% + 0.01).
    for name, arrays in weights.items():
        network = getattr(trainer, name)
        for key, (variable, _) in network.official_variable_map().items():
            value = arrays[key]
            if perturb and name != "Gs" and value.dtype.kind == "f":
                value = value * 1.05 + 0.01
            variable.assign(value)


def _read_stats(run_dir):
    records = [
        json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()
    ]
    losses = [
        {key: entry["mean"] for key, entry in record.items() if key.startswith("Loss/")}
        for record in records
    ]
    speeds = [record["Timing/images_per_sec"]["mean"] for record in records[1:]]
    return losses, (statistics.median(speeds) if speeds else None)


def run_case(case, config, run_dir, initial=None, perturb=False):
    """Trains `config` as `case` in `run_dir` (made here).

    Args:
        case: a Case (its devices, precision and XLA).
        config: the check's TrainingConfig for the case (`training_config`).
        run_dir: a new directory for the run.
        initial: the reference's initial weights (`network_weights`), which the
            case starts from; None for a reference.
        perturb: the test hook: start from perturbed weights.

    Returns:
        `(Run, initial weights)`.
    """
    import keras
    import tensorflow as tf

    from msg_stylegan_tf2.training.loop import Trainer

    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True)
    # TF32 only in the TF32 case (a global switch of TensorFlow's).
    tf.config.experimental.enable_tensor_float_32_execution(case.precision == "tf32")
    if len(case.devices) > 1:
        strategy = tf.distribute.MirroredStrategy(list(case.devices))
    else:
        strategy = tf.distribute.OneDeviceStrategy(case.devices[0])
    start = time.time()
    try:
        trainer = Trainer(config, run_dir, log=lambda line: None, strategy=strategy)
        if initial is None:
            initial = network_weights(trainer)
        _assign(trainer, initial, perturb)
        trainer.run()
        weights = network_weights(trainer)
    finally:
        keras.config.set_dtype_policy("float32")
        tf.config.experimental.enable_tensor_float_32_execution(True)
    losses, speed = _read_stats(run_dir)
    return Run(losses, weights, speed, time.time() - start), initial


def _first_line(error):
    # TensorFlow's errors in traced code end with the error itself.
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    shown = (
        lines[-1]
        if lines and lines[0] == "in user code:"
        else lines[0]
        if lines
        else ""
    )
    return f"{type(error).__name__}: {shown}"[:200]


def run_selfcheck(cases, steps, work_dir, inject=None, log=print):
    """Trains the reference(s) and `cases` in `work_dir`; returns the table's
    rows (`selfcheck_report.Row`), references first.

    Args:
        cases: Cases (`select_cases`).
        steps: training steps per case, >= 2 (the first traces the steps).
        work_dir: an empty directory for the dataset and the runs.
        inject: the test hook: the name of a case to start from perturbed
            weights, which must then disagree.
        log: a callable taking one line of progress.
    """
    from msg_stylegan_tf2.training.selfcheck_report import (
        Row,
        compare,
        tolerance_of,
    )

    work_dir = pathlib.Path(work_dir)
    dataset = write_dataset(work_dir / "data")
    # One global batch for all, divisible by every case's replicas.
    batch = math.lcm(8, *(len(case.devices) for case in cases))
    needed = {case.reference for case in cases}
    references = [r for r in (REFERENCE, XLA_REFERENCE) if r.name in needed]
    runs, rows, initial = {}, [], None
    for case in references + list(cases):
        mode = case.precision + (", XLA" if case.jit else "")
        log(f"{case.name}: {steps} steps on {case.where} in {mode}")
        config = training_config(dataset, case.precision, case.jit, batch, steps)
        try:
            run, initial = run_case(
                case, config, work_dir / case.name, initial, case.name == inject
            )
        except Exception as e:  # noqa: BLE001 - a case that fails is a result.
            rows.append(Row(case, error=_first_line(e)))
            continue
        runs[case.name] = run
        if case.reference is None:
            rows.append(Row(case, run))
        elif case.reference not in runs:
            rows.append(Row(case, run, error=f"its reference {case.reference} failed"))
        else:
            verdict = compare(runs[case.reference], run, initial, tolerance_of(case))
            rows.append(Row(case, run, verdict))
    return rows
