"""Fine-tuning: every weight copied from the source, fresh optimizers at kimg 0,
the source recorded; an official pickle takes the preset of its shapes; a
source of another shape refused in one line."""

import json

import numpy as np
import pytest
import tensorflow as tf
from legacy_helpers import official_pickle
from train_helpers import ROOT, STEP_KIMG, options

from msg_stylegan_tf2.networks.build import build_networks
from msg_stylegan_tf2.networks.official import official_variables
from msg_stylegan_tf2.training import cli, finetune
from msg_stylegan_tf2.training.loop import Trainer


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, image_folder):
    tmp = tmp_path_factory.mktemp("source")
    assert cli.run(options(tmp, image_folder, total_kimg=2 * STEP_KIMG)) == 0
    (run,) = (tmp / "results").iterdir()
    return run


def finetuned(tmp_path, config):
    """A Trainer for `config` with the networks of its `finetune_from` copied."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(config, run_dir, lambda line: None)
    source = finetune.load_source(config.finetune_from)
    finetune.copy_networks(source, trainer.state, config.finetune_from)
    return trainer


def assert_same_networks(state, source):
    for name in ("G", "D", "Gs"):
        ours = official_variables(getattr(state, name))
        theirs = official_variables(source[name])
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_finetuning_copies_every_weight_and_starts_afresh(
    tmp_path, image_folder, source_run
):
    source = finetune.load_source(source_run)
    values = options(tmp_path, image_folder, preset=None, finetune_from=str(source_run))
    config = cli.build_config(values)
    assert config.preset == "tiny" and config.finetune_from == str(source_run)
    trainer = finetuned(tmp_path, config)
    assert_same_networks(trainer.state, source)
    assert "G/dlatent_avg" in official_variables(trainer.G)  # The W average too.
    assert trainer.nimg == 0 and int(trainer.g_opt.iterations.numpy()) == 0
    slots = [v for v in trainer.d_opt.variables if "momentum" in v.path]
    assert slots and not any(np.any(v.numpy()) for v in slots)


def test_finetuning_through_train_py_records_the_source(
    tmp_path, image_folder, source_run
):
    values = options(tmp_path, image_folder, preset=None, finetune_from=str(source_run))
    assert cli.run(values) == 0
    (run,) = (tmp_path / "results").iterdir()
    saved = json.loads((run / "training_options.json").read_text())
    assert saved["finetune_from"] == str(source_run)
    log = (run / "log.txt").read_text()
    assert f"Fine-tuning from {source_run}: G, D, Gs and the W average copied" in log
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    assert reader.get_tensor("cur_nimg/.ATTRIBUTES/VARIABLE_VALUE") == 32


def test_a_source_of_another_shape_is_refused_in_one_line(
    tmp_path, image_folder, source_run
):
    values = options(
        tmp_path, image_folder, resolution=32, finetune_from=str(source_run)
    )
    with pytest.raises(ValueError) as error:
        cli.run(values)
    message = str(error.value)
    assert "its networks differ from this run's dataset: resolution 16" in message
    assert "(this run: 32)" in message and "\n" not in message
    assert not (tmp_path / "results").exists()  # Refused before any run.


def test_an_official_pickle_finetunes_with_the_preset_its_networks_match(
    tmp_path, image_folder, source_run
):
    # The source run's networks, written as an official pickle and read back
    # by the safe loader; without --preset, the preset of their shapes.
    source = finetune.load_source(source_run)
    pickle = tmp_path / "network-final.pkl"
    pickle.write_bytes(official_pickle(source["G"], source["D"], source["Gs"]))
    values = options(tmp_path, image_folder, preset=None, finetune_from=str(pickle))
    config = cli.build_config(values)
    assert config.preset == "tiny" and config.finetune_from == str(pickle)
    assert_same_networks(finetuned(tmp_path, config).state, source)


def test_a_pickle_no_preset_matches_or_of_another_preset_is_refused(
    tmp_path, image_folder
):
    pickle = ROOT / "tests" / "data" / "official" / "network-snapshot-unfused.pkl"
    values = options(tmp_path, image_folder, preset=None, finetune_from=str(pickle))
    with pytest.raises(ValueError) as error:
        cli.build_config(values)
    message = str(error.value)
    assert message.startswith(f"{pickle}: no preset has its networks' shapes")
    assert "resolution 16" in message and "give --preset" in message
    values = options(tmp_path, image_folder, finetune_from=str(pickle))
    with pytest.raises(ValueError, match="its G differs from this run's preset tiny"):
        cli.run(values)
    assert not (tmp_path / "results").exists()


def test_a_source_with_the_shapes_but_other_options_is_refused(tmp_path, image_folder):
    # use_wscale changes what the weights compute, not their shapes.
    G, D = build_networks("tiny", resolution=16, num_channels=3, use_wscale=False)
    pickle = tmp_path / "plain.pkl"
    pickle.write_bytes(official_pickle(G, D, G))
    values = options(tmp_path, image_folder, preset=None, finetune_from=str(pickle))
    with pytest.raises(ValueError) as error:
        cli.build_config(values)
    message = str(error.value)
    assert "preset tiny has its networks' shapes but not their options" in message
    assert "G: use_wscale False (this run: True)" in message
    values = options(tmp_path, image_folder, finetune_from=str(pickle))
    with pytest.raises(ValueError, match="computes with other options than this run"):
        cli.run(values)
    assert not (tmp_path / "results").exists()
