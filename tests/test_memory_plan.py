"""The memory plan: the liveness of a step's tensors by hand, the parameter and
optimizer bytes against the networks' counts, activations linear in the
micro-batch, and the start-up lines and the advice when a plan does not fit."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from dnnlib import hardware
from dnnlib.hardware import DeviceMemory
from msg_stylegan_tf2.networks.build import build_networks, count_params
from msg_stylegan_tf2.networks.presets import get_preset
from msg_stylegan_tf2.training import memory_plan
from msg_stylegan_tf2.training.memory_plan import (
    MARGIN,
    RESERVE,
    MemoryPlan,
    StepMemory,
    check_fits,
    live_bytes,
    plan_lines,
)

GiB = 2**30


def test_live_bytes_of_a_chain_by_hand():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [4], name="x")  # 16 bytes
        y = tf.multiply(x, tf.constant(2.0), name="y")  # 16, x's last use
        z = tf.reshape(y, [2, 2], name="z")  # a view of y
        w = tf.add(z, tf.constant(1.0), name="w")  # 16, y's last use
        total = tf.reduce_sum(w, name="total")  # 4, kept
        tf.square(x, name="unread")  # 16, read by nothing
    ops = graph.get_operations()
    live = dict(zip([op.name for op in ops], live_bytes(ops, [total]), strict=True))
    # x lives to `unread`, its last reader; y (and its view z) to w; w to total.
    assert live["x"] == 16
    assert live["y"] == 16 + 16
    assert live["z"] == 16 + 16
    assert live["w"] == 16 + 16 + 16
    assert live["total"] == 16 + 16 + 4
    assert live["unread"] == 16 + 4 + 16


def test_a_step_envelope_is_the_largest_line():
    step = StepMemory(memory_plan._envelope(np.array([1, 2, 0]), np.array([10, 0, 5])))
    assert step.lines == ((1, 10), (2, 0))  # (0, 5) is never the largest.
    assert step.bytes(1) == 11 and step.bytes(20) == 40
    assert step.line(20) == (2, 0)


@pytest.fixture(scope="module")
def tiny():
    spec = get_preset("tiny")
    plan = memory_plan.memory_plan(spec.arch, dict(spec.G), dict(spec.D), 4)
    return spec, plan


def test_parameters_and_adam_by_hand(tiny):
    spec, plan = tiny
    G, D = build_networks("tiny")
    variables = 2 * count_params(G, trainable_only=False)  # G and Gs
    variables += count_params(D, trainable_only=False)
    assert plan.param_bytes == 4 * variables
    # Adam's m and v: one float32 each per trainable weight of G and D.
    assert plan.optimizer_bytes == 2 * 4 * (count_params(G) + count_params(D))
    # Accumulation sums the larger network's gradients.
    assert plan.accumulator_bytes == 4 * max(count_params(G), count_params(D))
    assert plan.total_bytes() == (
        plan.param_bytes + plan.optimizer_bytes + plan.step_bytes(4)
    )


def test_activations_grow_linearly_with_the_micro_batch(tiny):
    # The plan traced 4 and 8 images (2 x and 4 x the tiny D's group of 2);
    # a step traced at 12 images peaks where the plan's lines say.
    spec, plan = tiny
    graph = tf.Graph()
    with graph.as_default():
        G, D = build_networks("tiny")
        for step in ("D", "G"):
            start = len(graph.get_operations())
            outputs = memory_plan._step_tensors(G, D, step, 12, (True, False))
            traced = live_bytes(graph.get_operations()[start:], outputs).max()
            np.testing.assert_allclose(plan.steps[step].bytes(12), traced, rtol=0.01)
    per_image, fixed = plan.steps["D"].line(12)
    assert per_image > 0 and fixed > 0
    assert plan.steps["D"].bytes(24) - plan.steps["D"].bytes(12) == 12 * per_image
    assert plan.peak_step() == "D"  # R1 differentiates D twice.


def test_bad_options():
    spec = get_preset("tiny")
    with pytest.raises(ValueError, match="`batch_gpu` must be an integer >= 1"):
        memory_plan.memory_plan(spec.arch, dict(spec.G), dict(spec.D), 0)
    with pytest.raises(ValueError, match="`mixed_precision` must be one of"):
        memory_plan.memory_plan(spec.arch, dict(spec.G), dict(spec.D), 1, "fp8")


def fake_plan(micro_batch=8):
    # 1 GiB params, 1 GiB Adam, steps of 1 GiB per image + 0.5 GiB.
    steps = {"D": StepMemory(((GiB, GiB // 2),)), "G": StepMemory(((GiB // 2, 0),))}
    return MemoryPlan(micro_batch, "off", GiB, GiB, steps)


def test_accumulation_holds_the_summed_gradients():
    plan = dataclasses.replace(
        fake_plan(4), accumulator_bytes=GiB // 4, per_replica_batch=8
    )
    assert plan.accumulates() and not plan.accumulates(8)
    assert plan.total_bytes() == 2 * GiB + 4 * GiB + GiB // 2 + GiB // 4
    assert plan.total_bytes(8) == 2 * GiB + 8 * GiB + GiB // 2
    (line,) = plan_lines(plan, None)
    assert "gradients and weight copies), accumulated gradients 256 MiB -> " in line


def test_plan_lines():
    plan = fake_plan()
    assert plan.total_bytes() == 2 * GiB + 8 * GiB + GiB // 2
    (line,) = plan_lines(plan, DeviceMemory("/device:GPU:0", 80 * GiB))
    assert line == (
        "Memory plan (per replica, estimated): params 1.00 GiB (G, D, Gs), "
        "optimizer 1.00 GiB (Adam), activations 8.50 GiB per micro-batch of 8 "
        "(D step: 1.00 GiB per image + 512 MiB gradients and weight copies) -> "
        "total 10.50 GiB of /device:GPU:0's 80.00 GiB"
    )
    (line,) = plan_lines(plan, None)
    assert line.endswith("(the device does not report its memory)")
    (line,) = plan_lines(plan, DeviceMemory("CPU RAM", 64 * GiB, shared_by=2))
    assert line.endswith("of CPU RAM's 64.00 GiB, shared by 2 replicas")


def test_check_fits_suggests_the_largest_divisor_that_fits():
    plan = fake_plan(micro_batch=8)
    assert check_fits(plan, DeviceMemory("/device:GPU:0", 80 * GiB), 8) is None
    assert check_fits(plan, None, 8) is None
    # n images need MARGIN * (2.5 + n) GiB + RESERVE: in MARGIN * 7 GiB +
    # RESERVE, of 8's divisors 4 fits (6.5), 8 does not (10.5).
    gpu = DeviceMemory("/device:GPU:0", int(MARGIN * 7 * GiB) + RESERVE)
    message = check_fits(plan, gpu, 8)
    assert message.startswith("Memory plan: `batch_gpu=8` needs about ")
    assert message.endswith(
        "`batch_gpu=4` fits (the largest divisor of the 8 images per replica that "
        "does)."
    )
    assert "\n" not in message
    # Two replicas in one CPU's RAM need twice as much: 2 * 3.5 for 1 image.
    ram = DeviceMemory("CPU RAM", int(MARGIN * 7 * GiB) + RESERVE, shared_by=2)
    assert "`batch_gpu=1` fits" in check_fits(plan, ram, 8)
    small = DeviceMemory("/device:GPU:0", int(MARGIN * 3 * GiB) + RESERVE)
    assert "not even `batch_gpu=1` fits" in check_fits(plan, small, 8)


def test_device_memory_of_a_cpu_is_the_ram():
    text = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n"
    assert hardware.meminfo_total(text) == 24576000 * 1024
    assert hardware.meminfo_total("MemFree: 1 kB\n") is None
    total = hardware.meminfo_total(hardware.MEMINFO.read_text())
    device = "/job:localhost/replica:0/task:0/device:CPU:1"
    assert hardware.device_memory(device, 2) == DeviceMemory("CPU RAM", total, 2)
    assert hardware.device_memory("/cpu:0") == DeviceMemory("CPU RAM", total, 1)
    # This machine has no GPU: its memory is not reported.
    assert hardware.device_memory("/device:GPU:0") is None


def test_startup_lines_of_two_cpu_replicas(tmp_path, tiny, monkeypatch):
    from msg_stylegan_tf2.training.selfcheck import training_config

    _, plan = tiny  # The plan of 4 images per replica (traced once).
    asked = []
    monkeypatch.setattr(
        memory_plan, "plan_for_config", lambda *args: asked.append(args) or plan
    )
    config = training_config(tmp_path, batch=8, same_function=False)
    devices = ["/job:localhost/replica:0/task:0/device:CPU:0", "/device:CPU:1"]
    (line,) = memory_plan.startup_lines(config, devices)
    assert asked == [(config, 2, None)]
    assert "per micro-batch of 4 " in line
    assert line.endswith("GiB, shared by 2 replicas")
    small = DeviceMemory("CPU RAM", RESERVE, shared_by=2)
    monkeypatch.setattr(memory_plan, "device_memory", lambda *args: small)
    lines = memory_plan.startup_lines(config, devices, batch_gpu=4)
    assert len(lines) == 2 and "not even `batch_gpu=1` fits" in lines[1]
