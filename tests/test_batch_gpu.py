"""`batch_gpu`: gradient accumulation as train.py runs it (the steps' own
equality with the whole batch is in test_training_steps.py)."""

import pytest
from train_helpers import options, straight_and_resumed

from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.loop import Trainer


@pytest.mark.slow
def test_resume_with_gradient_accumulation_is_bit_exact(tmp_path, image_folder):
    # Batch 8 in micro-batches of 2, lazy R1 at D steps 0 and 2: the first run
    # stops after step 1.
    extra = ["--batch_gpu=2", "--r1_interval=2"]
    _, straight = straight_and_resumed(tmp_path, image_folder, extra, steps=3, stop=1)
    assert "batch 8 (batch_gpu 2: 4 micro-batches per replica)" in straight


def test_a_batch_gpu_that_does_not_divide_is_refused_before_the_first_step(
    tmp_path, image_folder
):
    config = cli.build_config(options(tmp_path, image_folder, batch_gpu=3))
    assert config.batch_gpu == 3
    with pytest.raises(ValueError, match=r"^`batch_gpu=3` must divide the 8 images"):
        Trainer(config, tmp_path / "run", lambda line: None)
