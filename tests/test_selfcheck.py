"""The self-check: which cases a machine runs, the comparison of two runs
against each precision's tolerance, the table, and selfcheck.py exiting
non-zero with the table naming a case made to disagree (the test hook)."""

import math
import subprocess
import sys

import numpy as np
import pytest
from train_helpers import ROOT

from msg_stylegan_tf2.training import selfcheck
from msg_stylegan_tf2.training.selfcheck import Run
from msg_stylegan_tf2.training.selfcheck_report import (
    TOLERANCES,
    Row,
    as_json,
    compare,
    loss_error,
    table,
    weight_errors,
)


def names(cases):
    return [case.name for case in cases]


def test_cases_without_gpus():
    cases = selfcheck.available_cases((), cpu_devices=2)
    assert names(cases) == ["cpu_bf16", "cpu_mirrored"]
    assert cases[1].devices == ("/cpu:0", "/cpu:1")
    assert names(selfcheck.available_cases((), cpu_devices=1)) == ["cpu_bf16"]


def test_cases_with_gpus():
    cases = selfcheck.available_cases(((8, 0), (8, 6)))
    assert names(cases) == [
        "gpu0_fp32", "gpu1_fp32", "gpu0_tf32", "gpu0_bf16", "gpu0_fp16",
        "gpu0_xla", "gpus_mirrored",
    ]  # fmt: skip
    by_name = {case.name: case for case in cases}
    assert by_name["gpus_mirrored"].devices == ("/gpu:0", "/gpu:1")
    assert by_name["gpu0_xla"].jit and by_name["gpu0_xla"].reference == "cpu_fp32_xla"
    # No bf16 tensor cores (and no TF32) before compute capability 8.0.
    older = selfcheck.available_cases(((7, 0),))
    assert names(older) == ["gpu0_fp32", "gpu0_fp16", "gpu0_xla"]
    assert names(selfcheck.available_cases((None,)))[:2] == ["gpu0_fp32", "gpu0_fp16"]


def test_case_names_are_checked():
    available = selfcheck.available_cases(())
    chosen = selfcheck.select_cases(available, ["cpu_mirrored"])
    assert names(chosen) == ["cpu_mirrored"]
    with pytest.raises(ValueError, match="`cases`: unknown case 'gpu_fp32'"):
        selfcheck.select_cases(available, ["gpu_fp32"])
    with pytest.raises(ValueError, match="cannot run gpu0_bf16; it can run cpu_bf16"):
        selfcheck.select_cases(available, ["gpu0_bf16"])


def fake_run(scale=0.0, g_loss=0.5, steps=3):
    # Weights moved from `initial` by 1 (the reference's move) plus `scale`.
    initial = {
        "G": {"a": np.zeros(4, np.float32)},
        "D": {"b": np.zeros(2, np.float32)},
        "Gs": {"a": np.zeros(4, np.float32)},
    }
    weights = {
        net: {k: v + np.float32(0.5) + np.float32(scale) for k, v in w.items()}
        for net, w in initial.items()
    }
    losses = [
        {"Loss/D/loss": 1.5, "Loss/signs/real": 1.0, "Loss/G/loss": g_loss}
        for _ in range(steps)
    ]
    return Run(losses, weights, 100.0, 1.0), initial


def test_compare_by_hand():
    reference, initial = fake_run()
    # ||W - W_ref|| / ||W_ref - W_0|| = 0.05 / 0.5 in every network.
    run, _ = fake_run(scale=0.05)
    errors = weight_errors(reference.weights, run.weights, initial)
    assert errors == pytest.approx({"G": 0.1, "D": 0.1, "Gs": 0.1}, rel=1e-3)
    verdict = compare(reference, run, initial, TOLERANCES["bf16"])
    assert verdict.agrees and verdict.first_step == 0 and verdict.losses == 0
    verdict = compare(reference, run, initial, TOLERANCES["fp32"])
    assert [p.split(" 0.1 ")[0] for p in verdict.problems] == [
        "weights of G", "weights of D", "weights of Gs",
    ]  # fmt: skip
    missing = {**run.weights, "D": {}}
    assert weight_errors(reference.weights, missing, initial)["D"] == math.inf


def test_losses_compare_relative_to_at_least_one():
    reference, initial = fake_run(g_loss=0.5)
    run, _ = fake_run(g_loss=0.6)
    # G's loss differs from step 1 on, after D's update: not in the first step.
    assert loss_error(reference.losses, run.losses, first_step=True) == (0.0, "")
    value, where = loss_error(reference.losses, run.losses)
    assert value == pytest.approx(0.1) and where == "Loss/G/loss at step 1"
    run.losses[2]["Loss/signs/real"] = -1.0  # Signs are not compared.
    assert loss_error(reference.losses, run.losses)[0] == pytest.approx(0.1)
    run.losses[1]["Loss/D/loss"] = math.nan
    assert loss_error(reference.losses, run.losses) == (
        math.inf,
        "Loss/D/loss at step 2",
    )
    short, _ = fake_run(steps=2)
    assert loss_error(reference.losses, short.losses)[0] == math.inf


def test_fp16_compares_the_first_step_only():
    reference, initial = fake_run()
    run, _ = fake_run(scale=3.0, g_loss=9.0)
    verdict = compare(reference, run, initial, TOLERANCES["fp16"])
    assert verdict.agrees and verdict.weights == {} and verdict.losses is None
    run.losses[0]["Loss/D/loss"] = 2.0
    assert not compare(reference, run, initial, TOLERANCES["fp16"]).agrees


def test_table_names_what_disagrees():
    reference, initial = fake_run()
    bad, _ = fake_run(scale=1.0)
    cases = selfcheck.available_cases(())
    rows = [
        Row(selfcheck.REFERENCE, reference),
        Row(cases[0], bad, compare(reference, bad, initial, TOLERANCES["bf16"])),
        Row(cases[1], error="ResourceExhaustedError: OOM"),
    ]
    text = table(rows)
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].strip() == "case"
    assert lines[2].startswith("cpu_fp32 ") and "reference" in lines[2]
    assert lines[3].startswith("cpu_bf16 ") and "NO: weights of G 2 > 0.5" in lines[3]
    assert "NO: error: ResourceExhaustedError: OOM" in lines[4]
    assert lines[-1] == "DISAGREE: cpu_bf16, cpu_mirrored (tolerances: docs/gpu.md)"
    found = as_json(rows)
    assert not found["agree"]
    assert [c["agrees"] for c in found["cases"]] == [True, False, False]
    assert found["cases"][1]["weights"]["G"] == pytest.approx(2.0)
    rows[1].run.weights["D"]["b"][0] = np.inf  # JSON has no infinity.
    again = compare(reference, rows[1].run, initial, TOLERANCES["bf16"])
    rows[1] = Row(cases[0], rows[1].run, again)
    assert as_json(rows)["cases"][1]["weights"]["D"] == "inf"
    good = [Row(selfcheck.REFERENCE, reference), Row(cases[0], *compare_pair())]
    assert table(good).splitlines()[-1] == (
        "All 1 cases agree with their float32 CPU reference."
    )


def compare_pair():
    reference, initial = fake_run()
    run, _ = fake_run(scale=0.01)
    return run, compare(reference, run, initial, TOLERANCES["bf16"])


def test_a_disagreeing_case_fails_the_check():
    # The test hook starts cpu_mirrored from perturbed weights.
    result = subprocess.run(
        [
            sys.executable,
            "selfcheck.py",
            "--steps=2",
            "--cases=cpu_mirrored",
            "--inject_disagreement=cpu_mirrored",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split(" ")[0]: line for line in result.stdout.splitlines()}
    assert "| reference " in rows["cpu_fp32"], result.stdout
    assert "| NO: first step" in rows["cpu_mirrored"], result.stdout
    assert result.stdout.splitlines()[-1].startswith("DISAGREE: cpu_mirrored ")
