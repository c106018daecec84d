"""Loading networks from run directories, which may come from strangers: the
options in training_options.json must fit the checkpoint before anything is
allocated."""

import json

import numpy as np
import pytest
from train_helpers import options

from msg_stylegan_tf2.formats.network_run import load_networks, write_network_run
from msg_stylegan_tf2.networks.build import build_networks
from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.config import TrainingConfig

TINY = dict(resolution=8, num_channels=3, fmap_base=32, fmap_max=16)


@pytest.fixture()
def run(tmp_path):
    kwargs = dict(TINY, latent_size=16, dlatent_size=16, mapping_fmaps=16)
    G, D = build_networks("demo_32", **kwargs)
    Gs, _ = build_networks("demo_32", **kwargs)
    return write_network_run(G, D, Gs, tmp_path / "run"), (G, D, Gs)


def tamper(run, **g_kwargs):
    path = run / "training_options.json"
    options = json.loads(path.read_text())
    options["G_kwargs"].update(g_kwargs)
    path.write_text(json.dumps(options))


def test_a_run_directory_loads_its_networks(run):
    run, written = run
    networks, _, _ = load_networks(run)
    for name, network in zip(("G", "D", "Gs"), written, strict=True):
        for a, b in zip(networks[name].weights, network.weights, strict=True):
            np.testing.assert_array_equal(a, b)


def test_the_training_reads_an_imported_run(run):
    # Only the networks' options are written: the training's take defaults,
    # and its precision is resolved (float32), never "auto".
    run, (G, _, _) = run
    config = TrainingConfig.load(run)
    assert config.arch == "msg_stylegan" and config.mixed_precision == "off"
    assert config.G_kwargs == {
        k: v for k, v in json.loads(json.dumps(G.get_config())).items() if k != "name"
    }


def test_options_larger_than_the_checkpoint_are_refused_before_allocating(run):
    # About 4 * 10^10 bytes if they were allocated.
    run, _ = run
    tamper(run, fmap_base=2**20, fmap_max=2**14)
    with pytest.raises(ValueError) as info:
        load_networks(run)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(run))
    assert "describes networks of" in text and "options that are not its" in text


def test_options_that_cannot_be_built_get_one_line(run):
    run, _ = run
    tamper(run, resolution=12)
    with pytest.raises(ValueError, match=r"cannot be built \(.*power of two"):
        load_networks(run)


def test_a_resume_refuses_options_larger_than_the_checkpoint(run, tmp_path):
    run, _ = run
    tamper(run, fmap_base=2**20, fmap_max=2**14)
    values = options(tmp_path, None, resume=str(run))
    with pytest.raises(ValueError, match="describes networks of .* not its"):
        cli.run(values, set())


def test_a_checkpoint_without_data_is_refused_before_building(run):
    # Without data there is nothing to size against: refused, not built.
    run, _ = run
    tamper(run, fmap_base=2**20, fmap_max=2**14)
    for shard in (run / "checkpoints").glob("ckpt-0.data-*"):
        shard.unlink()
    with pytest.raises(ValueError, match=r"ckpt-0: no data files .*incomplete"):
        load_networks(run)
    with pytest.raises(ValueError, match=r"ckpt-7: no such checkpoint\.$"):
        load_networks(run / "checkpoints" / "ckpt-7")
