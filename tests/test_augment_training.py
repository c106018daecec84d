"""Augmentation in training runs: resume with ADA is exact; the choices reach
the log, the configuration and the checkpoint."""

import json

import numpy as np
from train_helpers import STEP_KIMG, cli_args, final_variables, run_train


def train(*args):
    process = run_train(*args)
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 0, output
    return output


def test_resume_with_ada_is_bit_exact(tmp_path, image_folder):
    # p is adjusted every 4 D steps; the first run stops after 3, in the
    # middle of ADA's interval, so the sums gathered so far must be restored.
    ada = ["--augment=ada", "--ada_kimg=0.5"]
    straight = train(*cli_args(tmp_path, image_folder, tmp_path / "a", 9), *ada)
    assert "augment ada (target 0.6, ada_kimg 0.5)" in straight
    assert "augment_p" in straight
    train(*cli_args(tmp_path, image_folder, tmp_path / "b", 3), *ada)
    (run_b,) = (tmp_path / "b").iterdir()
    resumed = train(
        f"--resume={run_b}",
        f"--outdir={tmp_path / 'b'}",
        f"--total_kimg={9 * STEP_KIMG}",
        "--deterministic",
    )
    assert "Resumed from" in resumed
    (run_a,) = (tmp_path / "a").iterdir()
    ours, theirs = final_variables(run_a), final_variables(run_b)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    (p_name,) = [n for n in ours if n.startswith("ada/p/")]
    assert ours[p_name] > 0  # p moved (real scores were mostly positive).
    options = json.loads((run_a / "training_options.json").read_text())
    assert (options["augment"], options["ada_target"]) == ("ada", 0.6)
    stats = [json.loads(line) for line in (run_a / "stats.jsonl").open()]
    assert stats[-1]["augment_p"] == float(ours[p_name])
    assert "Augment/rt" in stats[-1]
