"""The memory plan: what one replica holds while training (parameters, Adam's
slots, and a training step's peak of live tensors for a micro-batch), estimated
before the first step from the step's graph, beside the device's memory.

Method. G and D are built in a throwaway graph (shapes, no memory), and a D
step (R1's double backprop when the loss has it) and a G step are written
there at two micro-batch sizes. Each graph is executed on paper, op by op in
the order it was written: an op's outputs are allocated when it runs and freed
after their last reader (views such as `Reshape` share their input's buffer;
variables and constants are counted as parameters, not here). Tensor sizes are
linear in the micro-batch, so the two traces give, for every op, the live
bytes `per_image * N + fixed`; the step's peak for any N is the largest of
those lines. Not modelled: Grappler's rewrites (fusions free intermediate
tensors, GPU layout transposes add some), cuDNN workspaces, the allocator's
fragmentation, TensorFlow's runtime and the optimizer's temporaries; `MARGIN`
and `RESERVE` cover them as measured on a CPU (bench/memory_plan.py), not on a
GPU.
"""

import dataclasses
import difflib

import numpy as np
import tensorflow as tf

from dnnlib.hardware import DeviceMemory, device_memory
from msg_stylegan_tf2.choices import LOSSES, load
from msg_stylegan_tf2.networks.build import DISCRIMINATORS, GENERATORS
from msg_stylegan_tf2.networks.network_base import dtype_policy_scope
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid

# Keras dtype policies of `mixed_precision` (as the training state sets them).
POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
# A plan fits when `MARGIN * total + RESERVE` is at most the device's memory.
# On a CPU (bench/memory_plan.py, docs/gpu.md) the measured peaks were the
# estimate plus 150 to 280 MiB of TensorFlow's own (1.07 x at 4 GiB), and the
# growth between two batches matched the estimate's within 8%; a GPU adds
# cuDNN's workspaces and its allocator's fragmentation (not measured).
MARGIN = 1.2
RESERVE = 512 * 2**20
# Ops whose outputs are views of their inputs: no buffer of their own.
_VIEWS = frozenset(
    {
        "Identity",
        "IdentityN",
        "Reshape",
        "Squeeze",
        "ExpandDims",
        "StopGradient",
        "PreventGradient",
        "Snapshot",
        "EnsureShape",
    }
)
# Ops whose outputs are parameters (variables, constants) or nothing.
_NO_BUFFER = frozenset({"ReadVariableOp", "VarHandleOp", "Const", "NoOp"})
_GiB = 2.0**30


def _nbytes(tensor):
    # Bytes of a tensor of static shape; 0 for handles and unknown shapes.
    if tensor.dtype in (tf.resource, tf.variant) or not tensor.shape.is_fully_defined():
        return 0
    return int(np.prod(tensor.shape.as_list(), dtype=np.int64)) * tensor.dtype.size


def _weight_bytes(weights):
    return sum(
        int(np.prod(w.shape, dtype=np.int64)) * tf.as_dtype(w.dtype).size
        for w in weights
    )


def live_bytes(ops, outputs=()):
    """Bytes alive while each op runs, the ops executed one at a time in order.

    An op's outputs are allocated when it runs and freed after the last op
    that reads them (`outputs`: kept to the end); views share their input's
    buffer; variable reads and constants hold no buffer of the step's.

    Args:
        ops: `tf.Operation`s in a valid execution order (e.g. the order a
            graph's ops were written in).
        outputs: tensors that stay alive after the last op (the step's results).

    Returns:
        int64 `[len(ops)]`: live bytes during each op (its inputs and outputs
        included).
    """
    buffer_of, size, written, last_use = {}, {}, {}, {}
    for index, op in enumerate(ops):
        for tensor in op.inputs:
            root = buffer_of.get(tensor.ref())
            if root is not None:
                last_use[root] = index
        for position, tensor in enumerate(op.outputs):
            if op.type in _VIEWS and position < len(op.inputs):
                root = buffer_of.get(op.inputs[position].ref())
            elif op.type in _NO_BUFFER:
                root = None
            else:
                root = tensor.ref()
                size[root], written[root] = _nbytes(tensor), index
                last_use[root] = index  # Freed at once if nothing reads it.
            buffer_of[tensor.ref()] = root
    for tensor in outputs:
        root = buffer_of.get(tensor.ref())
        if root is not None:
            last_use[root] = len(ops)
    freed = np.zeros(len(ops) + 1, np.int64)
    allocated = np.zeros(len(ops), np.int64)
    for root, nbytes in size.items():
        allocated[written[root]] += nbytes
        freed[last_use[root]] += nbytes
    # Live during op i: everything allocated up to i, less what earlier ops freed.
    return np.cumsum(allocated) - np.concatenate([[0], np.cumsum(freed[:-2])])


@dataclasses.dataclass(frozen=True)
class StepMemory:
    """A training step's peak of live tensors as a function of the micro-batch
    N: the largest of `per_image * N + fixed` over its lines (bytes)."""

    lines: tuple

    def line(self, n: int) -> tuple:
        """`(per_image, fixed)` of the line that peaks at `n` images."""
        return max(self.lines, key=lambda line: line[0] * n + line[1])

    def bytes(self, n: int) -> int:
        per_image, fixed = self.line(n)
        return per_image * n + fixed


def _envelope(per_image, fixed):
    # The lines that are the largest for some N >= 1, steepest last.
    order = np.lexsort((fixed, per_image))
    kept = []
    for a, b in zip(per_image[order].tolist(), fixed[order].tolist(), strict=True):
        while kept and kept[-1][0] + kept[-1][1] <= a + b:
            kept.pop()  # Never above the steeper line (a, b) for N >= 1.
        kept.append((a, b))
    return tuple(kept)


def _step_tensors(G, D, step, batch, penalties):
    # Writes one D or G step at `batch` images into the default graph; returns
    # its results (the gradients). The losses: non-saturating logistic, and
    # gradient penalties as `losses.py` writes R1 (on reals) and R2 (on fakes).
    side, channels = G.resolution, G.options.get("num_channels", 3)
    latents = tf.compat.v1.placeholder(tf.float32, [batch, G.latent_size])
    reals = tf.compat.v1.placeholder(tf.float32, [batch, side, side, channels])
    labels, label_size = None, G.options.get("label_size", 0)
    if label_size:
        labels = tf.compat.v1.placeholder(tf.float32, [batch, label_size])

    def scores(images):
        return tf.reshape(tf.cast(D(images, labels), tf.float32), [-1])

    def penalty(images):
        # Scores and the official R1 norm, differentiated through D twice.
        with tf.GradientTape() as tape:
            if isinstance(images, list):
                levels = images
                tape.watch(levels)
            else:
                tape.watch(images)
                levels = downsample_pyramid(images, D.resolution_log2 - 1)
            values = scores(levels)
            total = tf.reduce_sum(values)
        grads = [g for g in tape.gradient(total, levels) if g is not None]
        norms = [
            tf.reduce_sum(tf.square(tf.cast(g, tf.float32)), [1, 2, 3]) for g in grads
        ]
        return values, tf.add_n(norms)

    if step == "D":
        fakes = [tf.stop_gradient(f) for f in G(latents, labels, training=True)]
        with tf.GradientTape() as tape:
            if penalties[0]:
                real, r1 = penalty(reals)
            else:
                real, r1 = scores(downsample_pyramid(reals, D.resolution_log2 - 1)), 0.0
            fake, r2 = penalty(fakes) if penalties[1] else (scores(fakes), 0.0)
            loss = tf.nn.softplus(fake) + tf.nn.softplus(-real) + 5.0 * (r1 + r2)
            total = tf.reduce_sum(loss)
        weights = D.trainable_weights
    else:
        with tf.GradientTape() as tape:
            fakes = G(latents, labels, training=True)
            total = tf.reduce_sum(tf.nn.softplus(-scores(fakes)))
        weights = G.trainable_weights
    return [g for g in tape.gradient(total, weights) if g is not None]


def step_memory(build, batches=(4, 8), penalties=(True, False)):
    """`{"D": StepMemory, "G": StepMemory}` of the networks `build()` makes.

    Args:
        build: returns `(G, D)`, built, in the default graph (called once,
            in a fresh `tf.Graph`).
        batches: the two micro-batch sizes traced (multiples of D's
            `mbstd_group_size`, so that both graphs have the same ops but
            where TF writes small constants instead of `Fill`s).
        penalties: `(R1 on reals, R2 on fakes)`: the D step's double backprops.

    Raises:
        AssertionError: the two traces differ in more than 1% of their ops.
    """
    traces = {"D": [], "G": []}
    graph = tf.Graph()
    with graph.as_default():
        G, D = build()
    for batch in batches:
        with graph.as_default():
            for step, found in traces.items():
                start = len(graph.get_operations())
                outputs = _step_tensors(G, D, step, batch, penalties)
                ops = graph.get_operations()[start:]
                found.append((live_bytes(ops, outputs), [op.type for op in ops]))
    result = {}
    for step, ((small, small_types), (large, large_types)) in traces.items():
        # Pair the ops of the two traces (TF writes a small `zeros_like` as a
        # constant and a large one as a `Fill`: the graphs may differ there).
        matcher = difflib.SequenceMatcher(None, small_types, large_types, False)
        pairs = [
            (i + k, j + k)
            for i, j, count in matcher.get_matching_blocks()
            for k in range(count)
        ]
        assert len(pairs) > 0.99 * len(small_types), "the traces differ in their ops"
        rows, columns = np.array(pairs).T
        per_image = (large[columns] - small[rows]) // (batches[1] - batches[0])
        fixed = small[rows] - per_image * batches[0]
        result[step] = StepMemory(_envelope(per_image, fixed))
    return result


def _penalties(loss, r1_gamma, r2_gamma):
    # Whether the D step differentiates D twice on reals (R1, or a loss's own
    # gradient penalty) and on fakes (R2).
    if r1_gamma is None:
        r1_gamma = getattr(load(LOSSES, loss, "loss"), "default_r1_gamma", 10.0)
    return (r1_gamma > 0 or loss.endswith("_gp"), r2_gamma > 0)


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """What one replica holds while training, in bytes.

    Attributes:
        micro_batch: images per replica in one pass (`batch_gpu`).
        precision: `mixed_precision` ("off", "bf16" or "fp16").
        param_bytes: G, D and Gs variables (float32 in every precision).
        optimizer_bytes: Adam's two slots of G's and D's trainable weights.
        steps: `{"D": StepMemory, "G": StepMemory}`: activations, gradients
            and weight copies of each step as a function of the micro-batch.
        accumulator_bytes: the summed gradients of gradient accumulation (the
            larger network's trainable weights), held while a micro-batch
            is smaller than `per_replica_batch`.
        per_replica_batch: images per replica and step (None: `micro_batch`).
    """

    micro_batch: int
    precision: str
    param_bytes: int
    optimizer_bytes: int
    steps: dict
    accumulator_bytes: int = 0
    per_replica_batch: int | None = None

    def accumulates(self, n: int | None = None) -> bool:
        """Whether `n` images per pass (default `micro_batch`) accumulate."""
        n = self.micro_batch if n is None else n
        return n < (self.per_replica_batch or self.micro_batch)

    def step_bytes(self, n: int | None = None) -> int:
        """The larger step's peak at `n` images (default `micro_batch`)."""
        n = self.micro_batch if n is None else n
        return max(step.bytes(n) for step in self.steps.values())

    def peak_step(self, n: int | None = None) -> str:
        """ "D" or "G": the step that peaks at `n` images."""
        n = self.micro_batch if n is None else n
        return max(self.steps, key=lambda name: self.steps[name].bytes(n))

    def total_bytes(self, n: int | None = None) -> int:
        """Everything at `n` images per pass (default `micro_batch`)."""
        summed = self.accumulator_bytes if self.accumulates(n) else 0
        return self.param_bytes + self.optimizer_bytes + self.step_bytes(n) + summed


def memory_plan(
    arch: str,
    G_kwargs: dict,
    D_kwargs: dict,
    micro_batch: int,
    precision: str = "off",
    penalties: tuple = (True, False),
    per_replica_batch: int | None = None,
) -> MemoryPlan:
    """The plan of one replica training `micro_batch` images at a time.

    Args:
        arch, G_kwargs, D_kwargs: the networks (as in TrainingConfig).
        micro_batch: images per replica and pass, >= 1.
        precision: "off", "bf16" or "fp16".
        penalties: `(R1 on reals, R2 on fakes)` in the D step.
        per_replica_batch: images per replica and step (default
            `micro_batch`: no gradient accumulation).

    Raises:
        ValueError: `micro_batch` < 1 or an unknown `precision`.
    """
    if not isinstance(micro_batch, int) or micro_batch < 1:
        raise ValueError(
            f"`batch_gpu` must be an integer >= 1. Received: {micro_batch!r}"
        )
    if precision not in POLICIES:
        raise ValueError(
            f"`mixed_precision` must be one of {sorted(POLICIES)}. Received: "
            f"{precision!r}"
        )
    built = []

    def build():
        with dtype_policy_scope(POLICIES[precision]):
            built[:] = GENERATORS[arch](**G_kwargs), DISCRIMINATORS[arch](**D_kwargs)
            for network in built:
                network.build()
        return built

    group = max(1, int(D_kwargs.get("mbstd_group_size", 4)))
    steps = step_memory(build, (2 * group, 4 * group), penalties)
    G, D = built
    variables = _weight_bytes(G.weights + D.weights)
    trainable = [_weight_bytes(net.trainable_weights) for net in (G, D)]
    return MemoryPlan(
        micro_batch=micro_batch,
        precision=precision,
        param_bytes=variables + _weight_bytes(G.weights),  # Gs is a copy of G.
        optimizer_bytes=2 * sum(trainable),
        steps=steps,
        accumulator_bytes=max(trainable),
        per_replica_batch=per_replica_batch,
    )


def plan_for_config(config, replicas: int = 1, batch_gpu: int | None = None):
    """The plan of a TrainingConfig's run: `batch_gpu` images per pass (default:
    the per-replica batch, `batch / replicas`)."""
    per_replica = config.batch // replicas
    penalties = _penalties(config.loss, config.r1_gamma, config.r2_gamma)
    return memory_plan(
        config.arch,
        config.G_kwargs,
        config.D_kwargs,
        min(batch_gpu or per_replica, per_replica),
        config.mixed_precision,
        penalties,
        per_replica,
    )


def _size(nbytes):
    return f"{nbytes / _GiB:.2f} GiB" if nbytes >= _GiB else f"{nbytes / 2**20:.0f} MiB"


def plan_lines(plan: MemoryPlan, memory: DeviceMemory | None) -> list[str]:
    """The start-up block's lines: the plan per replica, and the device's memory
    where it reports it (`dnnlib.hardware.device_memory`)."""
    n = plan.micro_batch
    per_image, fixed = plan.steps[plan.peak_step()].line(n)
    line = (
        f"Memory plan (per replica, estimated): params {_size(plan.param_bytes)} "
        f"(G, D, Gs), optimizer {_size(plan.optimizer_bytes)} (Adam), "
        f"activations {_size(plan.step_bytes())} per micro-batch of {n} "
        f"({plan.peak_step()} step: {_size(per_image)} per image + "
        f"{_size(fixed)} gradients and weight copies)"
    )
    if plan.accumulates():
        line += f", accumulated gradients {_size(plan.accumulator_bytes)}"
    line += f" -> total {_size(plan.total_bytes())}"
    if memory is None:
        return [line + " (the device does not report its memory)"]
    shared = f", shared by {memory.shared_by} replicas" if memory.shared_by > 1 else ""
    return [line + f" of {memory.device}'s {_size(memory.total_bytes)}{shared}"]


def _needed(plan, n, memory):
    return MARGIN * plan.total_bytes(n) * memory.shared_by + RESERVE


def _fits(plan, n, memory):
    return _needed(plan, n, memory) <= memory.total_bytes


def largest_fitting_batch_gpu(plan, per_replica_batch, memory):
    """The largest divisor of `per_replica_batch` whose plan fits `memory`
    (with `MARGIN` and `RESERVE`), or None."""
    divisors = [
        n for n in range(per_replica_batch, 0, -1) if per_replica_batch % n == 0
    ]
    return next((n for n in divisors if _fits(plan, n, memory)), None)


def check_fits(
    plan: MemoryPlan, memory: DeviceMemory | None, per_replica_batch: int | None = None
) -> str | None:
    """One line when the plan will not fit the device's memory (`MARGIN` times
    the estimate and `RESERVE`), suggesting the largest `batch_gpu` dividing
    the per-replica batch that fits; None when it fits or the device does not
    say.

    Args:
        plan: the run's plan.
        memory: the device's memory, or None.
        per_replica_batch: images per replica and step (default: the plan's).
    """
    if memory is None or _fits(plan, plan.micro_batch, memory):
        return None
    per_replica_batch = per_replica_batch or plan.per_replica_batch or plan.micro_batch
    needed = _size(_needed(plan, plan.micro_batch, memory))
    head = (
        f"Memory plan: `batch_gpu={plan.micro_batch}` needs about {needed} with "
        f"the margin, more than {memory.device}'s {_size(memory.total_bytes)}"
    )
    best = largest_fitting_batch_gpu(plan, per_replica_batch, memory)
    if best is None:
        return (
            f"{head}; not even `batch_gpu=1` fits: use a smaller preset, "
            "`mixed_precision=bf16`, or a device with more memory."
        )
    return (
        f"{head}; `batch_gpu={best}` fits (the largest divisor of the "
        f"{per_replica_batch} images per replica that does)."
    )


def startup_lines(config, worker_devices, batch_gpu: int | None = None) -> list[str]:
    """The start-up block's memory lines of a run: the plan of one replica
    beside its device's memory, and one more line when it will not fit.

    Args:
        config: the run's TrainingConfig (`mixed_precision` resolved).
        worker_devices: the strategy's devices, one per replica
            (`strategy.extended.worker_devices`).
        batch_gpu: images per replica and pass (default: the config's
            `batch_gpu`, else the per-replica batch).
    """
    if batch_gpu is None:
        batch_gpu = getattr(config, "batch_gpu", None)
    replicas = len(worker_devices)
    plan = plan_for_config(config, replicas, batch_gpu)
    # Logical CPU devices share the machine's RAM; each GPU has its own.
    on_cpu = sum("GPU" not in device.upper() for device in worker_devices)
    shared_by = on_cpu if "GPU" not in worker_devices[0].upper() else 1
    memory = device_memory(worker_devices[0], shared_by)
    lines = plan_lines(plan, memory)
    warning = check_fits(plan, memory, config.batch // replicas)
    return lines + ([warning] if warning else [])
