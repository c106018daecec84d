"""Augmentation in training runs: resume with ADA is exact; the choices reach
the log, the configuration and the checkpoint."""

import json

from train_helpers import final_variables, straight_and_resumed


def test_resume_with_ada_is_bit_exact(tmp_path, image_folder):
    # p is adjusted every 4 D steps; the first run stops after 3, in the
    # middle of ADA's interval, so the sums gathered so far must be restored.
    ada = ["--augment=ada", "--ada_kimg=0.5"]
    run_a, straight = straight_and_resumed(tmp_path, image_folder, ada)
    assert "augment ada (target 0.6, ada_kimg 0.5)" in straight
    assert "augment_p" in straight
    ours = final_variables(run_a)
    (p_name,) = [n for n in ours if n.startswith("ada/p/")]
    assert ours[p_name] > 0  # p moved (real scores were mostly positive).
    options = json.loads((run_a / "training_options.json").read_text())
    assert (options["augment"], options["ada_target"]) == ("ada", 0.6)
    stats = [json.loads(line) for line in (run_a / "stats.jsonl").open()]
    assert stats[-1]["augment_p"] == float(ours[p_name])
    assert "Augment/rt" in stats[-1]
