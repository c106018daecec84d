"""Official network pickles written from our networks, for tests: `(G, D, Gs)`
as the dnnlib `Network` states the official code pickles, under the official
global name `dnnlib.tflib.network.Network` (a stand-in class, in place only
while pickling)."""

import contextlib
import pickle
import sys
import types

from msg_stylegan_tf2.networks.official import official_variables

BUILD_FUNCS = {"G": "G_style", "D": "D_basic"}  # By our variables' prefix.
COMPONENTS = {"G_mapping": "mapping", "G_synthesis": "synthesis"}


@contextlib.contextmanager
def stand_in_network_class():
    """Yields a class that pickles as `dnnlib.tflib.network.Network`."""

    class Network:
        def __init__(self, state):
            self.state = state

        def __getstate__(self):
            return self.state

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    module = types.ModuleType("dnnlib.tflib.network")
    module.Network = Network
    package = types.ModuleType("dnnlib.tflib")
    package.network = module
    names = ("dnnlib.tflib", "dnnlib.tflib.network")
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(zip(names, (package, module), strict=True))
    try:
        yield Network
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def _state(name, func, kwargs, variables, components):
    return {
        "version": 3,
        "name": name,
        "static_kwargs": kwargs,
        "components": components,
        "build_func_name": f"training.networks_stylegan.{func}",
        "variables": variables,
    }


def _network_state(Network, network, name):
    groups = {}
    for key, array in official_variables(network).items():
        prefix, rest = key.split("/", 1)
        groups.setdefault(prefix, []).append((rest, array))
    own = "G" if "G" in groups or "G_mapping" in groups else "D"
    kwargs = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in network.get_config().items()
        if key not in ("name", "dtype")
    }
    components = {
        COMPONENTS[prefix]: Network(_state(prefix, prefix, {}, variables, {}))
        for prefix, variables in groups.items()
        if prefix != own
    }
    return _state(name, BUILD_FUNCS[own], kwargs, groups.get(own, []), components)


def official_pickle(G, D, Gs):
    """The bytes of an official `network-snapshot-*.pkl` holding these
    MSG-StyleGAN networks' weights (official names and layouts)."""
    with stand_in_network_class() as Network:
        states = [
            Network(_network_state(Network, network, name))
            for network, name in ((G, "G"), (D, "D"), (Gs, "Gs"))
        ]
        return pickle.dumps(tuple(states), protocol=4)
