"""Where a training iteration's time goes, op type by op type, per precision.

Runs the same iteration as `train_throughput.py` (D step with R1, G step, Gs
update) under TensorFlow's profiler, reads the trace (`*.xplane.pb`, the
XSpace protobuf) and adds up each executed kernel's time by op type. For every
type it prints the time per iteration, its share of all kernel time, how many
kernels ran, the dtypes they ran in (read from the traced graphs by node name)
and whether oneDNN ran them (`_Mkl*` kernels) or Eigen. Kernels run on several
threads at once, so the shares are of summed kernel time, not of wall time.

What to read from it: under bf16 the convolutions and matmuls should run in
bfloat16 on oneDNN and take most of the time; an activation-sized op in float32,
a large `Cast` share, or a bf16 op falling back to Eigen are what keeps the
step from the bf16 peak. `--nodes=N` lists the costliest graph nodes, and
`--onednn` the kernels oneDNN chose (ONEDNN_VERBOSE): on a CPU with AMX the
convolutions should name `avx512_core_amx`.

Usage:
    python bench/step_profile.py
    python bench/step_profile.py --arch=msg_progan --resolution=64 --top=25
    python bench/step_profile.py --resolution=64 --precisions=bf16 --nodes=30 --onednn
"""

import collections
import contextlib
import ctypes
import glob
import os
import pathlib
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402
from train_throughput import build_iteration  # noqa: E402

from dnnlib import hardware  # noqa: E402

flags.DEFINE_string("arch", "msg_stylegan", "msg_stylegan or msg_progan.")
flags.DEFINE_integer("resolution", 32, "Resolution.")
flags.DEFINE_integer(
    "iterations", 5, "Profiled iterations (after two warm-up).", lower_bound=1
)
flags.DEFINE_integer("top", 20, "Op types listed per precision.")
flags.DEFINE_integer("nodes", 0, "Also list the N costliest graph nodes.")
flags.DEFINE_boolean(
    "onednn",
    False,
    "Also list oneDNN's kernels from ONEDNN_VERBOSE=1 (the script restarts "
    "itself with it set): which implementation ran each primitive.",
)
FLAGS = flags.FLAGS

_KERNEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # An op type, as in "node:Conv2D".

# The categories of the summary, by the op a kernel implements (see `op_type`).
_CATEGORIES = {
    "conv": ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackprop"),
    "matmul": ("MatMul", "BatchMatMul"),
    "cast": ("Cast",),
}


def graph_dtypes(functions):
    """{node name: dtype name} over every op of the traced `tf.function`s."""
    dtypes = {}
    for function in functions:
        for concrete in function._list_all_concrete_functions():
            graphs = [concrete.graph]
            graphs += [
                f.graph
                for f in concrete.graph._functions.values()
                if hasattr(f, "graph")
            ]
            for graph in graphs:
                for op in graph.get_operations():
                    try:
                        dtype = op.get_attr("T")
                    except (ValueError, TypeError):
                        dtype = op.outputs[0].dtype if op.outputs else None
                    if isinstance(dtype, list):  # IdentityN, function calls
                        dtype = dtype[0] if dtype else None
                    if dtype is not None:
                        dtypes[op.name] = tf.as_dtype(dtype).name
    return dtypes


def kernel_events(logdir):
    """[(node name, kernel type, seconds)] of every TF kernel in the trace."""
    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    events = []
    for path in paths:
        space = xplane_pb2.XSpace()
        space.ParseFromString(pathlib.Path(path).read_bytes())
        for plane in space.planes:
            names = plane.event_metadata
            for line in plane.lines:
                if not line.name.startswith("tf_Compute") and line.name != "python":
                    continue
                for event in line.events:
                    name = names[event.metadata_id].name
                    if ":" not in name or "::" in name:
                        continue
                    node, kind = name.rsplit(":", 1)
                    if not _KERNEL.match(kind) or " " in node:
                        continue  # Runtime events such as "EagerLocalExecute: f".
                    events.append((node, kind, event.duration_ps * 1e-12))
    return events


def op_type(kind):
    """The TF op a kernel type implements: `_MklNativeConv2D` -> `Conv2D`."""
    for prefix in ("_MklNativeFused", "_MklNative", "_MklFused", "_Mkl", "_Fused"):
        if kind.startswith(prefix):
            return kind[len(prefix) :] or kind
    return kind


def category(kind):
    op = op_type(kind)
    for name, prefixes in _CATEGORIES.items():
        if op.startswith(prefixes):
            return name
    return "other"


def profile(precision):
    """Profiles FLAGS.iterations iterations: (wall seconds per iteration,
    kernel events, {node: dtype}, oneDNN verbose lines or None)."""
    with captured_stdout(FLAGS.onednn):  # oneDNN's lines of the warm-up: dropped.
        iteration, steps, _, _ = build_iteration(
            FLAGS.arch, FLAGS.resolution, precision
        )
        iteration(0)
        iteration(1)
    with tempfile.TemporaryDirectory(prefix="step_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        with captured_stdout(FLAGS.onednn) as onednn_lines:
            for i in range(FLAGS.iterations):
                iteration(i + 2)
        wall = (time.perf_counter() - start) / FLAGS.iterations
        tf.profiler.experimental.stop()
        events = kernel_events(logdir)
    dtypes = graph_dtypes([steps._d_function, steps._g_function])
    keras.config.set_dtype_policy("float32")
    return wall, events, dtypes, onednn_lines if FLAGS.onednn else None


@contextlib.contextmanager
def captured_stdout(enabled):
    """Collects what native code prints to file descriptor 1 (oneDNN's verbose
    lines) into the yielded list, when enabled."""
    lines = []
    if not enabled:
        yield lines
        return
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield lines
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().splitlines())


def report_onednn(lines):
    """oneDNN's executed primitives by implementation, direction and source
    dtype: which kernels ran (e.g. `brg_conv_fwd:avx512_core_amx` on AMX)."""
    per_kernel = collections.defaultdict(lambda: [0.0, 0])
    for line in lines:
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields[:4]:
            continue
        at = fields.index("exec")
        primitive, implementation, direction = fields[at + 2 : at + 5]
        dtype = re.search(r"src:(\w+)", line)
        key = (primitive, implementation, direction, dtype.group(1) if dtype else "?")
        per_kernel[key][0] += float(fields[-1]) / FLAGS.iterations
        per_kernel[key][1] += 1
    total = sum(ms for ms, _ in per_kernel.values()) or 1.0
    print("\noneDNN kernels (ONEDNN_VERBOSE=1):\n")
    print(
        "| primitive | implementation | direction | src dtype | ms/iter | share "
        "| calls/iter |"
    )
    print("|---|---|---|---|---:|---:|---:|")
    ranked = sorted(per_kernel.items(), key=lambda item: -item[1][0])
    for (primitive, implementation, direction, dtype), (ms, count) in ranked:
        print(
            f"| {primitive} | {implementation} | {direction} | {dtype} | {ms:.1f} | "
            f"{100 * ms / total:.1f}% | {count // FLAGS.iterations} |"
        )


def report(precision, wall, events, dtypes, onednn_lines):
    per_type = collections.defaultdict(lambda: [0.0, 0, collections.Counter()])
    per_category = collections.Counter()
    for node, kind, seconds in events:
        row = per_type[kind]
        row[0] += seconds / FLAGS.iterations
        row[1] += 1
        row[2][dtypes.get(node, "?")] += 1
        per_category[(category(kind), dtypes.get(node, "?"))] += (
            seconds / FLAGS.iterations
        )
    total = sum(row[0] for row in per_type.values())
    print(
        f"\n## {FLAGS.arch} {FLAGS.resolution}² {precision}: "
        f"{wall * 1e3:.0f} ms per iteration (wall, under the profiler), "
        f"{total * 1e3:.0f} ms of kernel time\n"
    )
    print("| op (kernel) | ms/iter | share | kernels/iter | dtypes | backend |")
    print("|---|---:|---:|---:|---|---|")
    ranked = sorted(per_type.items(), key=lambda item: -item[1][0])
    for kind, (seconds, count, kinds) in ranked[: FLAGS.top]:
        backend = "oneDNN" if kind.startswith("_Mkl") else "Eigen/TF"
        dtype_text = ", ".join(
            f"{d} {n // FLAGS.iterations}" for d, n in kinds.most_common()
        )
        print(
            f"| {kind} | {seconds * 1e3:.1f} | {100 * seconds / total:.1f}% | "
            f"{count // FLAGS.iterations} | {dtype_text} | {backend} |"
        )
    if FLAGS.nodes:
        report_nodes(events, dtypes, total)
    if onednn_lines is not None:
        report_onednn(onednn_lines)
    print("\nBy category and dtype (share of kernel time):")
    for (name, dtype), seconds in per_category.most_common():
        if seconds / total >= 0.005:
            print(f"  {name:7s} {dtype:9s} {100 * seconds / total:5.1f}%")


def node_family(node):
    """A node name with layer indices and resolutions folded, so that the same
    op of every layer adds up: `D_1/32x32_3/conv_2/Mul` -> `D/RxR/conv/Mul`."""
    return re.sub(r"_\d+(?=/|$)", "", re.sub(r"\d+x\d+", "RxR", node))


def report_nodes(events, dtypes, total):
    per_node = collections.defaultdict(lambda: [0.0, 0])
    for node, kind, seconds in events:
        row = per_node[(node_family(node), kind, dtypes.get(node, "?"))]
        row[0] += seconds / FLAGS.iterations
        row[1] += 1
    print(f"\nThe {FLAGS.nodes} costliest nodes (indices and resolutions folded):\n")
    print("| node | kernel | dtype | ms/iter | share | kernels/iter |")
    print("|---|---|---|---:|---:|---:|")
    ranked = sorted(per_node.items(), key=lambda item: -item[1][0])
    for (family, kind, dtype), (seconds, count) in ranked[: FLAGS.nodes]:
        print(
            f"| {family} | {kind} | {dtype} | {seconds * 1e3:.1f} | "
            f"{100 * seconds / total:.1f}% | {count // FLAGS.iterations} |"
        )


def main(argv):
    del argv
    if FLAGS.onednn and os.environ.get("ONEDNN_VERBOSE") != "1":
        # oneDNN reads the variable when it starts: restart with it set.
        environment = {**os.environ, "ONEDNN_VERBOSE": "1"}
        os.execve(sys.executable, [sys.executable, *sys.argv], environment)
    print(hardware.summary(hardware.detect()))
    print(
        f"{FLAGS.arch} at {FLAGS.resolution}², batch {FLAGS.batch}, "
        f"fmap_max {FLAGS.fmap_max}, jit {FLAGS.jit}"
    )
    for precision in FLAGS.precisions:
        report(precision, *profile(precision))


if __name__ == "__main__":
    app.run(main)
