"""What this machine is, and the precision auto picks, from fake hardware."""

import pytest

from dnnlib import hardware
from dnnlib.hardware import Hardware, cpu_flags, cpu_model, resolve_precision

# Two cores of /proc/cpuinfo as Linux writes it (flags shortened).
CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
bugs\t\t: spectre_v1

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
"""
AVX512 = frozenset({"avx2", "avx512f", "avx512bw"})
AVX512_BF16 = AVX512 | {"avx512_bf16"}
AMX = AVX512_BF16 | {"amx_bf16", "amx_tile"}


def test_cpuinfo_flags_and_model():
    assert cpu_flags(CPUINFO) == {
        "fpu", "vme", "sse2", "avx2", "avx512f", "avx512bw", "avx512_bf16",
        "amx_bf16", "amx_tile",
    }  # fmt: skip
    assert cpu_model(CPUINFO) == "Intel(R) Xeon(R) Platinum 8480+"


def test_cpuinfo_without_flags_or_model():
    # E.g. an ARM /proc/cpuinfo ("Features"), or none at all.
    arm = "processor\t: 0\nFeatures\t: fp asimd bf16\nCPU part\t: 0xd4f\n"
    assert cpu_flags(arm) == frozenset() and cpu_model(arm) is None
    assert cpu_flags("") == frozenset() and cpu_model("") is None


@pytest.mark.parametrize(
    "flags, gpus, choice, reason",
    [
        (AMX, (), "bf16", "CPU has AMX"),
        (AVX512_BF16, (), "bf16", "CPU has AVX512-BF16, no AMX"),
        (
            AVX512,
            (),
            "off",
            "CPU lacks AMX and AVX512-BF16: bf16 would be ~4x slower than fp32",
        ),
        (frozenset(), (), "off", "CPU lacks AMX and AVX512-BF16"),
        (
            AVX512,
            ((8, 0),),
            "bf16",
            "GPU compute capability 8.0 >= 8.0 has bf16 tensor cores",
        ),
        (
            AMX,  # The GPUs train, not the CPU.
            ((7, 5),),
            "off",
            "GPU compute capability 7.5 < 8.0 has no bf16 tensor cores",
        ),
        (AVX512, ((9, 0), (8, 6)), "bf16", "GPU compute capability 8.6 >= 8.0"),
        (AVX512, ((8, 6), (7, 0)), "off", "GPU compute capability 7.0 < 8.0"),
        (AVX512, ((8, 0), None), "off", "GPU compute capability unknown"),
    ],
)
def test_resolve_precision(flags, gpus, choice, reason):
    found, why = resolve_precision(flags, gpus)
    assert found == choice
    assert why.startswith(reason) and "\n" not in why


def test_resolve_precision_of_a_real_cpuinfo():
    assert resolve_precision(cpu_flags(CPUINFO), ()) == (
        "bf16",
        "CPU has AMX",
    )


def test_summary_names_cpu_flags_threads_and_gpus():
    cpu = Hardware("AMD EPYC", AVX512_BF16, cpu_count=2, tf_threads=(0, 0))
    assert hardware.summary(cpu) == (
        "CPU: AMD EPYC, AMX no, AVX512-BF16 yes, 2 threads (TensorFlow intra-op "
        "auto, inter-op auto); GPU: none"
    )
    gpus = Hardware(
        None,
        frozenset(),
        cpu_count=None,
        tf_threads=(8, 2),
        gpu_names=("NVIDIA H100", "NVIDIA T4"),
        gpu_capabilities=((9, 0), None),
    )
    assert hardware.summary(gpus) == (
        "CPU: unknown model, AMX no, AVX512-BF16 no, ? threads (TensorFlow "
        "intra-op 8, inter-op 2); GPU: NVIDIA H100 (compute capability 9.0), "
        "NVIDIA T4 (compute capability unknown)"
    )


def test_detect_reads_cpuinfo_and_survives_its_absence(tmp_path, monkeypatch):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    monkeypatch.setattr(hardware, "CPUINFO", path)
    found = hardware.detect()
    assert found.cpu_flags == cpu_flags(CPUINFO)
    assert found.cpu_model == "Intel(R) Xeon(R) Platinum 8480+"
    assert len(found.gpu_names) == len(found.gpu_capabilities)
    assert len(found.tf_threads) == 2
    monkeypatch.setattr(hardware, "CPUINFO", tmp_path / "absent")  # E.g. macOS.
    found = hardware.detect()
    assert found.cpu_flags == frozenset() and found.cpu_model is None
