"""`batch_gpu` and the memory plan as train.py runs them (the steps' own
equality with the whole batch is in test_training_steps.py)."""

import pytest
import tensorflow as tf
from train_helpers import options, straight_and_resumed

from dnnlib.cli import as_flags
from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.loop import Trainer


@pytest.mark.slow
def test_resume_with_gradient_accumulation_is_bit_exact(tmp_path, image_folder):
    # Batch 8 in micro-batches of 4, lazy R1's pass at D step 0: the first run
    # stops after step 1 of 2.
    extra = ["--batch_gpu=4", "--r1_interval=2"]
    _, straight = straight_and_resumed(tmp_path, image_folder, extra, steps=2, stop=1)
    assert "batch 8 (batch_gpu 4: 2 micro-batches per replica)" in straight


def test_a_batch_gpu_that_does_not_divide_is_refused_before_the_first_step(
    tmp_path, image_folder
):
    config = cli.build_config(options(tmp_path, image_folder, batch_gpu=3))
    assert config.batch_gpu == 3
    with pytest.raises(ValueError, match=r"^`batch_gpu=3` must divide the 8 images"):
        Trainer(config, tmp_path / "run", lambda line: None)


def test_memory_plan_before_the_first_step_and_out_of_memory_in_one_line(
    tmp_path, image_folder, monkeypatch
):
    def exhausted(self):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")

    monkeypatch.setattr(Trainer, "run", exhausted)
    with pytest.raises(ValueError) as failed:
        cli.run(options(tmp_path, image_folder, memory_plan="on", batch_gpu=4))
    message = as_flags(str(failed.value), {"batch", "batch_gpu", "memory_plan"})
    assert message == (
        "out of memory at --batch=8 (1 replica(s)); resume with a smaller "
        "--batch_gpu (gradient accumulation keeps --batch; --memory_plan=on "
        "suggests one): the run keeps its checkpoints."
    )
    (run,) = (tmp_path / "results").iterdir()
    log = (run / "log.txt").read_text()
    assert f"train.py: error: {failed.value}" in log
    # The plan, after the start-up block and before the first step.
    plan = log.index("Memory plan (per replica, estimated): ")
    assert log.index("Training: ") < plan < log.index("train.py: error")
    assert "per micro-batch of 4" in log[plan:]
