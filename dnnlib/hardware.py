"""What this machine is: its CPU's model and flags, its GPUs' compute capabilities,
and the mixed precision that pays on it."""

import dataclasses
import os
import pathlib

CPUINFO = pathlib.Path("/proc/cpuinfo")


def _fields(cpuinfo_text):
    # The `key : value` lines of /proc/cpuinfo, in order (every core repeats them).
    for line in cpuinfo_text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            yield key.strip(), value.strip()


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The CPU's feature flags (x86 `flags` line) in /proc/cpuinfo's text.

    Returns:
        The flags of the first core, e.g. {"avx512f", "avx512_bf16", ...};
        empty when the text has no `flags` line (another OS, another CPU family).
    """
    for key, value in _fields(cpuinfo_text):
        if key == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo_text: str) -> str | None:
    """The CPU's `model name` in /proc/cpuinfo's text, or None."""
    for key, value in _fields(cpuinfo_text):
        if key == "model name" and value:
            return value
    return None


def _capability(capability):
    return "unknown" if capability is None else "{}.{}".format(*capability)


def resolve_precision(
    cpu_flags: frozenset[str], gpu_capabilities: tuple
) -> tuple[str, str]:
    """The `--mixed_precision` that `auto` means on this hardware, and why.

    bf16 where it pays: on GPUs, when every one has compute capability 8.0 or
    more (bf16 tensor cores); without GPUs, on CPUs with AMX or AVX512-BF16.
    Else "off" (float32). fp16 is never chosen: it needs loss scaling.

    Args:
        cpu_flags: the CPU's flags (`cpu_flags`).
        gpu_capabilities: each GPU's compute capability `(major, minor)`, or
            None where TensorFlow does not report one; empty without GPUs.

    Returns:
        `(choice, reason)`: choice "bf16" or "off"; reason one line.
    """
    if gpu_capabilities:
        known = [c for c in gpu_capabilities if c is not None]
        if len(known) < len(gpu_capabilities):
            return (
                "off",
                "GPU compute capability unknown: bf16 tensor cores not assured",
            )
        lowest = min(tuple(c) for c in known)
        shown = _capability(lowest)
        if lowest >= (8, 0):
            return (
                "bf16",
                f"GPU compute capability {shown} >= 8.0 has bf16 tensor cores",
            )
        return "off", f"GPU compute capability {shown} < 8.0 has no bf16 tensor cores"
    if "amx_bf16" in cpu_flags:
        return "bf16", "CPU has AMX"
    if "avx512_bf16" in cpu_flags:
        return "bf16", "CPU has AVX512-BF16, no AMX"
    return "off", "CPU lacks AMX and AVX512-BF16: bf16 would be ~4x slower than fp32"


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What `detect` found."""

    cpu_model: str | None
    cpu_flags: frozenset[str]
    cpu_count: int | None
    # TensorFlow's intra-op and inter-op thread pools; 0 = TensorFlow's choice.
    tf_threads: tuple[int, int]
    gpu_names: tuple[str, ...] = ()
    gpu_capabilities: tuple = ()


def _yes(flag_set, flag):
    return "yes" if flag in flag_set else "no"


def summary(hardware: Hardware) -> str:
    """One line: CPU model, AMX / AVX512-BF16, threads, GPUs."""
    intra, inter = (str(n) if n else "auto" for n in hardware.tf_threads)
    line = (
        f"CPU: {hardware.cpu_model or 'unknown model'}, "
        f"AMX {_yes(hardware.cpu_flags, 'amx_bf16')}, "
        f"AVX512-BF16 {_yes(hardware.cpu_flags, 'avx512_bf16')}, "
        f"{hardware.cpu_count or '?'} threads "
        f"(TensorFlow intra-op {intra}, inter-op {inter}); "
    )
    if not hardware.gpu_names:
        return line + "GPU: none"
    gpus = ", ".join(
        f"{name} (compute capability {_capability(capability)})"
        for name, capability in zip(
            hardware.gpu_names, hardware.gpu_capabilities, strict=True
        )
    )
    return line + f"GPU: {gpus}"


def detect() -> Hardware:
    """Reads /proc/cpuinfo (absent: no flags, e.g. macOS) and asks TensorFlow
    for its GPUs and their compute capabilities."""
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    try:
        text = CPUINFO.read_text()
    except OSError:
        text = ""
    names, capabilities = [], []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
        capability = details.get("compute_capability")
        capabilities.append(None if capability is None else tuple(capability))
    return Hardware(
        cpu_model=cpu_model(text),
        cpu_flags=cpu_flags(text),
        cpu_count=os.cpu_count(),
        tf_threads=(
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        ),
        gpu_names=tuple(names),
        gpu_capabilities=tuple(capabilities),
    )


MEMINFO = pathlib.Path("/proc/meminfo")


def meminfo_total(meminfo_text: str) -> int | None:
    """`MemTotal` of /proc/meminfo's text, in bytes, or None."""
    for key, value in _fields(meminfo_text):
        if key == "MemTotal":
            number, _, unit = value.partition(" ")
            return int(number) * (1024 if unit.strip() == "kB" else 1)
    return None


@dataclasses.dataclass(frozen=True)
class DeviceMemory:
    """The memory of the device a replica trains on.

    Attributes:
        device: its name, e.g. "/device:GPU:0" or "CPU RAM".
        total_bytes: what it holds (a GPU: what TensorFlow's allocator may use).
        shared_by: replicas training in this memory (logical devices of one
            CPU, or of one GPU).
    """

    device: str
    total_bytes: int
    shared_by: int = 1


def _gpu_memory_limits():
    # {"/device:GPU:i": bytes} as TensorFlow's allocator reports them.
    from tensorflow.python.client import device_lib

    return {
        d.name: int(d.memory_limit)
        for d in device_lib.list_local_devices()
        if d.device_type == "GPU"
    }


def device_memory(device: str, shared_by: int = 1) -> DeviceMemory | None:
    """The memory of a TensorFlow device, where it reports it.

    A GPU: the memory limit of TensorFlow's allocator on it (not measured on a
    GPU by this project). A CPU: the machine's RAM (/proc/meminfo).

    Args:
        device: a device name, e.g. "/job:localhost/replica:0/task:0/device:GPU:0"
            or "/cpu:0".
        shared_by: replicas training in this device's memory.

    Returns:
        DeviceMemory, or None where the device does not say.
    """
    kind, _, index = device.rpartition("device:")[2].upper().partition(":")
    if not kind:  # "/cpu:0"
        kind, _, index = device.strip("/").upper().partition(":")
    if kind == "GPU":
        try:
            limits = _gpu_memory_limits()
        except Exception:  # noqa: BLE001 - a device that does not say.
            return None
        name = f"/device:GPU:{index}"
        return DeviceMemory(name, limits[name], shared_by) if name in limits else None
    try:
        total = meminfo_total(MEMINFO.read_text())
    except OSError:  # No /proc (macOS).
        return None
    return None if total is None else DeviceMemory("CPU RAM", total, shared_by)
