"""Official network pickles: hostile pickles are refused in one line, run
nothing and never crash the process; malformed states get one line naming the
file; official pickles load under every protocol and numpy path and reproduce
the official outputs."""

import builtins
import collections
import functools
import io
import os
import pathlib
import pickle
import re
import subprocess
import sys
import types

import numpy as np
import pickle_attacks
import pytest

from msg_stylegan_tf2.formats import legacy

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
        with pytest.raises(
            legacy.RefusedPickleError, match=f"^{re.escape(str(path))}: refused"
        ):
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
    with pytest.raises(
        ValueError, match=f"^{re.escape(str(path))}: truncated or corrupt"
    ):
        legacy.load_network_pkl(path)
    path.write_bytes(pickle.dumps((1, 2, 3)))
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(path))}: expected a pickle of \(G, D, Gs\)"
    ):
        legacy.load_network_pkl(path)


# Why each hostile pickle of pickle_attacks.network_attacks must be refused.
NETWORK_REASONS = {
    "object array from pointer bytes": "refused the dtype O;",
    "object array by state": "refused the dtype O;",
    "dtype fields out of bounds": "refused the dtype V8;",
    "void dtype": "refused the dtype V8;",
    "shape larger than its bytes": "needs 4000 bytes; the pickle gives 8$",
    "huge shape": "float32 needs [0-9]+ bytes; the pickle gives 0$",
    "shared nested lists": "refused more than 2000000 values",
    "deeply nested lists": "refused nesting deeper than 64 levels",
    "deep tuple as dict key": "refused a dict key of type tuple",
    "missing name": "network G/synthesis: has no `name`",
    "option of a non-option type": "network G: option 'fmap_max' must be a number",
    "option of the wrong kind": "option `fmap_base` must be int. Received: str",
    "system call in components": "refused to load the global posix.system",
    "BUILD on an allowed global": r"refused a state \(BUILD\) for a method",
    "self-referencing component": "refused a container that contains itself",
}


def test_the_hostile_set_is_complete():
    assert sorted(pickle_attacks.network_attacks("M")) == sorted(NETWORK_REASONS)


@pytest.mark.parametrize("name", sorted(NETWORK_REASONS))
def test_hostile_pickles_are_refused_in_their_own_process(tmp_path, name):
    # Memory-unsafe arrays and dtypes, unbounded nesting or sharing, cycles and
    # malformed states: in a fresh Python each must end in one line naming the
    # file (no crash, hang or traceback), and nothing may run.
    marker = tmp_path / "MARKER"
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle_attacks.network_attacks(marker)[name])
    result = pickle_attacks.load_in_subprocess(path, "network")
    pickle_attacks.assert_refused_in_one_line(result, path, marker)
    assert re.search(NETWORK_REASONS[name], result.stdout.strip()), result.stdout


TINY_D = dict(resolution=8, num_channels=3, fmap_max=16, fmap_base=64)


def set_option(key, value):
    return lambda s: s["static_kwargs"].update({key: value})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("name"), "network G: has no `name`"),
        (lambda s: s.update(name=3), "`name` must be a printable string.* <int>$"),
        (lambda s: s.update(name="D\nX"), r"`name` must be .* 'D\\nX'$"),
        (lambda s: s.update(name="D" * 300), r"`name` must be .* 'DDDD.*'\.\.\.$"),
        (
            lambda s: s.update(variables=[("w\nx", np.zeros(1))]),
            r"must be \(name, numeric array\) pairs",
        ),
        (lambda s: s.update(build_func_name=5), "`build_func_name` must be a string"),
        (lambda s: s.update(static_kwargs=[1]), "`static_kwargs` must be a dict"),
        (lambda s: s.update(components=[]), "`components` must be a dict"),
        (
            lambda s: s.update(components={"x": {"name": "x"}}),
            "network G/x: a component must be a named Network",
        ),
        (lambda s: s.update(variables={"w": 1}), "`variables` must be a list"),
        (
            lambda s: s.update(variables=[("w", [1.0, 2.0])]),
            r"must be \(name, numeric array\) pairs",
        ),
        (set_option("fmap_decay", b"1"), "option 'fmap_decay' must be a number"),
        (set_option("blur_filter", [[1, 2]]), "option 'blur_filter' must be a number"),
        (
            set_option("resolution", "8"),
            "option `resolution` must be int. Received: str",
        ),
        (set_option("resolution", True), "`resolution` must be int. Received: bool"),
        (set_option("fmap_decay", "1"), "`fmap_decay` must be int or float"),
        (set_option("dtype", "float16"), r"does not know: \['dtype'\]"),
        (set_option("resolution", 12), "Network 'D': `resolution` must be a power"),
        (set_option("resolution", 2**40), r"`resolution` is \d+; .* at most 65536\.$"),
        (set_option("fmap_max", 2**15), r"`fmap_max` is 32768; .* at most 16384\.$"),
        (set_option("label_size", 2**30), r"`label_size` is \d+; .* at most 1048576"),
        # About 10^10 parameters (40 GB) if they were allocated: refused first.
        (
            lambda s: s["static_kwargs"].update(fmap_base=2**20, fmap_max=2**14),
            r"its options describe [\d,]+ parameters, its weights hold [\d,]+;",
        ),
        (lambda s: s.update(build_func_name="x.G_nope"), "is built by 'G_nope'"),
        (
            lambda s: s.update(variables=[("nope", np.zeros(2, np.float32))]),
            "Official variables do not match D",
        ),
    ],
)
def test_malformed_states_get_one_line_naming_the_file(
    tmp_path, official_modules, change, message
):
    Network = official_modules
    first = state("D", **TINY_D)
    change(first)
    d = Network(state("D", **TINY_D))
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps((Network(first), d, d)))
    with pytest.raises(ValueError) as info:
        legacy.load_network_pkl(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    assert re.search(message, text), text


@pytest.fixture()
def numpy1_names(monkeypatch):
    """A pickler class that names numpy's reconstructors as numpy 1.x did
    (`numpy.core.multiarray._reconstruct`, ...), through stand-in modules."""
    fakes = {}
    for module, name in [
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
    ]:
        fake = types.ModuleType(module)
        monkeypatch.setitem(sys.modules, module, sys.modules.get(module, fake))
        function = types.FunctionType((lambda: None).__code__, {}, name)
        function.__module__, function.__qualname__ = module, name
        monkeypatch.setattr(sys.modules[module], name, function, raising=False)
        fakes[name] = function

    class Numpy1Pickler(pickle.Pickler):
        def __init__(self, file, protocol):
            super().__init__(file, protocol)
            self.protocol = protocol

        def reducer_override(self, obj):
            if isinstance(obj, (np.ndarray, np.generic)):
                func, args, *rest = obj.__reduce_ex__(self.protocol)
                return (fakes[func.__name__], args, *rest)
            return NotImplemented

    return Numpy1Pickler


def as_networks(Network, state, containers):
    # Our checked states back into official-looking Networks (and, to cover
    # their globals, EasyDict kwargs and OrderedDict components).
    easy_dict, ordered_dict = containers
    out = dict(state)
    out["static_kwargs"] = easy_dict(state["static_kwargs"])
    if "components" in state:  # ProGAN's have none.
        out["components"] = ordered_dict(
            (k, as_networks(Network, c.state, containers))
            for k, c in state["components"].items()
        )
    return Network(out)


def assert_same_state(loaded, expected):
    assert sorted(loaded) == sorted(expected)
    assert loaded["static_kwargs"] == expected["static_kwargs"]
    for (name, value), (name2, value2) in zip(
        loaded["variables"], expected["variables"], strict=True
    ):
        assert name == name2 and type(value) is type(value2)
        assert value.dtype == value2.dtype and value.shape == value2.shape
        np.testing.assert_array_equal(value, value2)
    components = expected.get("components", {})
    assert sorted(loaded.get("components", {})) == sorted(components)
    for key, component in components.items():
        assert_same_state(loaded["components"][key].state, component.state)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("numpy_path", ["numpy._core", "numpy.core"])
@pytest.mark.parametrize(
    "fixture", ["network-snapshot-unfused", "progan-network-snapshot"]
)
def test_official_states_load_under_every_protocol_and_numpy_path(
    official_modules, numpy1_names, monkeypatch, protocol, numpy_path, fixture
):
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    monkeypatch.setitem(sys.modules, "dnnlib.util", util)
    data = (DATA / f"{fixture}.pkl").read_bytes()
    states = legacy.load_pickle_states(data, "official")
    containers = (EasyDict, collections.OrderedDict)
    networks = tuple(as_networks(official_modules, s, containers) for s in states)
    buffer = io.BytesIO()
    if numpy_path == "numpy.core":
        numpy1_names(buffer, protocol).dump(networks)
        assert b"numpy.core." in buffer.getvalue()
    else:
        pickle.Pickler(buffer, protocol).dump(networks)
        assert b"numpy.core." not in buffer.getvalue()
    assert b"EasyDict" in buffer.getvalue()
    if fixture == "network-snapshot-unfused":  # With components.
        assert b"OrderedDict" in buffer.getvalue()
    loaded = legacy.load_pickle_states(buffer.getvalue(), "re-pickled")
    for got, expected in zip(loaded, states, strict=True):
        assert_same_state(got, expected)


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
    from msg_stylegan_tf2.formats.network_run import load_generator, write_network_run

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


def test_run_metrics_of_a_pickle_needs_a_dataset():
    # The tools on a pickle: tests/test_network_programs.py.
    from msg_stylegan_tf2.inference.evaluation import run_metrics

    pkl = DATA / "network-snapshot-unfused.pkl"
    with pytest.raises(ValueError, match="`dataset` is required with a network pickle"):
        run_metrics(pkl, ["swd1k"])


def test_an_official_progan_pickle_loads_mid_fade_and_converts(tmp_path):
    # Written by the official ProGAN code (tests/data/make_progan_pickle.py):
    # G_paper / D_paper as tfutil.Network states, lod 0.5.
    from msg_stylegan_tf2.formats.network_run import load_generator, write_network_run

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


def test_pickle_shapes_reads_shapes_and_options_without_building(
    tmp_path, official_modules
):
    shapes, options = legacy.pickle_shapes(DATA / "network-snapshot-unfused.pkl")
    assert shapes["D"]["D/16x16/Conv0/weight"] == (3, 3, 17, 16)  # 16 + mbstd.
    assert options["G"]["fmap_max"] == 32 and options["D"]["mbstd_group_size"] == 4
    Network = official_modules
    bad = state("G", **TINY_D)
    bad["build_func_name"] = "x.G_nope"
    d = Network(state("D", **TINY_D))
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps((Network(bad), d, d)))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: .* is built by"):
        legacy.pickle_shapes(path)
