"""Official network pickles: hostile pickles are refused and run nothing; the
official snapshot reproduces the official outputs."""

import builtins
import functools
import os
import pathlib
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest

from msg_stylegan_tf2 import legacy

DATA = pathlib.Path(__file__).parent / "data" / "official"


class Payload:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.fixture()
def official_modules(monkeypatch):
    # Importable stand-ins so that pickle.dumps writes the official global names.
    network = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __init__(self, state):
            self.state = state

        def __getstate__(self):
            return self.state

    Network.__module__ = "dnnlib.tflib.network"
    Network.__qualname__ = "Network"
    network.Network = Network
    tflib = types.ModuleType("dnnlib.tflib")
    tflib.network = network
    monkeypatch.setitem(sys.modules, "dnnlib.tflib", tflib)
    monkeypatch.setitem(sys.modules, "dnnlib.tflib.network", network)
    return Network


def state(name, variables=(), components=None, **static_kwargs):
    return {
        "version": 3,
        "name": name,
        "static_kwargs": static_kwargs,
        "components": components or {},
        "build_module_src": "import os\nos.system('touch SHOULD_NOT_EXIST')\n",
        "build_func_name": "training.networks_stylegan.D_basic",
        "variables": list(variables),
    }


def hostile_pickles(marker, Network):
    command = f"touch {marker}"
    payloads = {
        "os.system": Payload(os.system, command),
        "subprocess.call": Payload(subprocess.call, ["touch", str(marker)]),
        "subprocess.Popen": Payload(subprocess.Popen, ["touch", str(marker)]),
        "eval": Payload(builtins.eval, f"__import__('os').system({command!r})"),
        "exec": Payload(builtins.exec, f"import os; os.system({command!r})"),
        "getattr chain": Payload(
            builtins.getattr, Payload(builtins.__import__, "os"), "system"
        ),
        "__import__": Payload(builtins.__import__, "os"),
        "functools.partial": Payload(functools.partial, os.system, command),
        "pathlib write": Payload(pathlib.Path(marker).touch),
    }
    out = {name: pickle.dumps(p) for name, p in payloads.items()}
    # Hidden inside an otherwise well-formed (G, D, Gs).
    evil = Payload(os.system, command)
    good = Network(state("D"))
    out["in components"] = pickle.dumps(
        (Network(state("G", components={"synthesis": evil})), good, good)
    )
    out["in variables"] = pickle.dumps(
        (Network(state("G", variables=[("weight", evil)])), good, good)
    )
    out["in static_kwargs"] = pickle.dumps(
        (Network(state("G", resolution=evil)), good, good)
    )
    # A global from an unexpected module, and forged names next to allowed ones.
    out["posix.system"] = pickle.dumps(Payload(os.system, command), protocol=0)
    forged = pickle.dumps(good).replace(b"Network", b"Networx")
    out["forged class name"] = forged
    out["numpy.load"] = pickle.dumps(Payload(np.load, str(marker)))
    out["_codecs with a strange codec"] = (
        b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R."
    )
    return out


def test_hostile_pickles_are_refused_and_run_nothing(tmp_path, official_modules):
    marker = tmp_path / "MARKER"
    pickles = hostile_pickles(marker, official_modules)
    assert len(pickles) >= 10
    for name, data in pickles.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(data)
        with pytest.raises(legacy.RefusedPickleError, match="Refused"):
            legacy.load_network_pkl(path)
        assert not marker.exists(), name
    assert not pathlib.Path("SHOULD_NOT_EXIST").exists()


def test_a_well_formed_pickle_never_runs_its_build_source(tmp_path, official_modules):
    Network = official_modules
    d = Network(state("D", resolution=8, num_channels=3, fmap_max=16, fmap_base=64))
    states = legacy.load_pickle_states(pickle.dumps((d, d, d)))
    assert states[0]["build_module_src"].startswith("import os")
    assert not pathlib.Path("SHOULD_NOT_EXIST").exists()
    bad = Network(state("D", resolution=8, wavelets=True))
    with pytest.raises(ValueError, match=r"does not know: \['wavelets'\]"):
        legacy.build_from_state(legacy.load_pickle_states(pickle.dumps((bad, d, d)))[0])


def test_corrupt_and_wrong_pickles_get_a_clear_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps((1, 2, 3))[:-3])
    with pytest.raises(ValueError, match="Not a readable network pickle"):
        legacy.load_network_pkl(path)
    path.write_bytes(pickle.dumps((1, 2, 3)))
    with pytest.raises(ValueError, match=r"Expected a pickle of \(G, D, Gs\)"):
        legacy.load_network_pkl(path)


def nhwc(array):
    return np.transpose(array, [0, 2, 3, 1])


def test_the_official_pickle_reproduces_the_official_outputs():
    networks = legacy.load_network_pkl(DATA / "network-snapshot-unfused.pkl")
    expected = np.load(DATA / "network-snapshot-unfused-expected.npz")
    inputs = np.load(DATA / "unfused.npz")
    G, D, Gs = networks["G"], networks["D"], networks["Gs"]
    latents = inputs["latents"]
    trunc = Gs(latents, truncation_psi=0.7, truncation_cutoff=8, randomize_noise=False)
    plain = G(latents, truncation_psi=1.0, randomize_noise=False)
    for level, side in enumerate((4, 8, 16)):
        np.testing.assert_allclose(
            trunc[level], nhwc(expected[f"gs_trunc_{side}"]), atol=1e-4
        )
        np.testing.assert_allclose(
            plain[level], nhwc(expected[f"g_notrunc_{side}"]), atol=1e-4
        )
    # G with truncation: the official G_style outputs of unfused.npz (same weights).
    g_trunc = G(latents, truncation_psi=0.7, truncation_cutoff=8, randomize_noise=False)
    for level, side in enumerate((4, 8, 16)):
        np.testing.assert_allclose(
            g_trunc[level], nhwc(inputs[f"g_trunc_{side}"]), atol=1e-4
        )
    images = [nhwc(inputs[f"d_images_{side}"]) for side in (4, 8, 16)]
    np.testing.assert_allclose(D(images), expected["d_scores"], atol=1e-4)
    assert not np.allclose(trunc[-1], G(latents, randomize_noise=False)[-1], atol=1e-3)


def test_convert_writes_a_run_directory_generate_can_use(tmp_path):
    from msg_stylegan_tf2.training.snapshot import load_generator, write_network_run

    networks = legacy.load_network_pkl(DATA / "network-snapshot-unfused.pkl")
    run = write_network_run(
        networks["G"], networks["D"], networks["Gs"], tmp_path / "r"
    )
    Gs, config, checkpoint = load_generator(run)
    z = np.random.RandomState(0).randn(2, 32).astype(np.float32)
    np.testing.assert_array_equal(
        Gs(z, randomize_noise=False)[-1], networks["Gs"](z, randomize_noise=False)[-1]
    )
    assert config.G_kwargs["resolution"] == 16 and checkpoint.endswith("ckpt-0")


def test_tools_take_the_pickle_as_network(tmp_path):
    from datasets.export import write_arrays
    from metrics.runner import run_metrics

    pkl = DATA / "network-snapshot-unfused.pkl"
    with pytest.raises(ValueError, match="--dataset is required with a network pickle"):
        run_metrics(pkl, ["swd1k"])
    images = np.random.RandomState(0).randint(0, 256, [16, 16, 16, 3]).astype(np.uint8)
    write_arrays(tmp_path / "reals", images)
    copy = tmp_path / "snapshot.pkl"
    copy.write_bytes(pkl.read_bytes())
    results = run_metrics(
        copy,
        ["swd1k"],
        dataset=tmp_path / "reals",
        num_images=16,
        log=lambda line: None,
    )
    assert results["swd1k"]["swd_avg"] > 0
    assert (tmp_path / "metric-swd1k.jsonl").is_file()


def test_an_official_progan_pickle_loads_mid_fade_and_converts(tmp_path):
    # Written by the official ProGAN code (tests/data/make_progan_pickle.py):
    # G_paper / D_paper as tfutil.Network states, lod 0.5.
    from msg_stylegan_tf2.training.snapshot import load_generator, write_network_run

    networks = legacy.load_network_pkl(DATA / "progan-network-snapshot.pkl")
    expected = np.load(DATA / "progan-network-snapshot-expected.npz")
    G, D, Gs = networks["G"], networks["D"], networks["Gs"]
    assert float(G.lod.numpy()) == float(D.lod.numpy()) == 0.5
    latents = expected["latents"]
    np.testing.assert_allclose(G(latents)[-1], nhwc(expected["G_images"]), atol=1e-4)
    np.testing.assert_allclose(Gs(latents)[-1], nhwc(expected["Gs_images"]), atol=1e-4)
    np.testing.assert_allclose(
        D(nhwc(expected["reals"])), expected["D_scores"], atol=1e-4
    )
    run = write_network_run(G, D, Gs, tmp_path / "converted")
    restored, config, _ = load_generator(run)
    assert config.arch == "progan" and float(restored.lod.numpy()) == 0.5
    np.testing.assert_array_equal(restored(latents)[-1], Gs(latents)[-1])
