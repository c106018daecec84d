"""Safe import of official network pickles: msg-stylegan-tf (TF1 dnnlib/tflib)
and ProGAN (its `tfutil`).

`network-snapshot-*.pkl` holds `(G, D, Gs)`, each a tflib `Network` whose state
carries its kwargs, components, variables and the Python source of its build
module. The official loader executes that source. Here a restricted unpickler
admits only what the format needs (numpy arrays and dtypes under the numpy 1.x
and 2.x paths of pickle protocols 2 to 5, dnnlib's EasyDict, the Network state)
and refuses every other global; the source is never executed. Networks are
rebuilt from their kwargs and the variables assigned by official name.
"""

import collections
import io
import pickle

import numpy as np

from msg_stylegan_tf2.discriminator import Discriminator
from msg_stylegan_tf2.generator import Generator
from msg_stylegan_tf2.official import assign_official_variables
from msg_stylegan_tf2.progan import ProGANGenerator
from msg_stylegan_tf2.progan_discriminator import ProGANDiscriminator


class RefusedPickleError(ValueError):
    """The pickle asked for something the format never needs; nothing ran."""


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a dict with attribute access)."""


class NetworkState:
    """Stand-in for `dnnlib.tflib.network.Network` (and ProGAN's
    `tfutil.Network`): keeps the state, runs nothing."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise RefusedPickleError("A Network state must be a dict.")
        self.state = state


def _latin1_encode(text, encoding="latin1"):
    # Protocol-2 pickles store bytes as _codecs.encode(str, "latin1").
    if encoding not in ("latin1", "latin-1"):
        raise RefusedPickleError(f"Refused _codecs.encode with encoding {encoding!r}.")
    return text.encode("latin1")


def _numpy_functions():
    try:
        from numpy._core.multiarray import _reconstruct, scalar
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
        from numpy.core.numeric import _frombuffer
    return _reconstruct, scalar, _frombuffer


_RECONSTRUCT, _SCALAR, _FROMBUFFER = _numpy_functions()
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib.tflib.network", "Network"): NetworkState,
    ("tfutil", "Network"): NetworkState,  # ProGAN.
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `ALLOWED`; refuses the rest by name."""

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedPickleError(
                f"Refused to load the global {module}.{name}: official network "
                "pickles never need it (the file may be malicious)."
            ) from None


def load_pickle_states(data):
    """Unpickles `(G, D, Gs)` states from bytes without running any code."""
    try:
        networks = RestrictedUnpickler(io.BytesIO(data)).load()
    except RefusedPickleError:
        raise
    except Exception as e:  # A truncated or corrupt file.
        raise ValueError(
            f"Not a readable network pickle ({type(e).__name__}: {e})."
        ) from e
    if not (
        isinstance(networks, tuple)
        and len(networks) == 3
        and all(isinstance(n, NetworkState) and hasattr(n, "state") for n in networks)
    ):
        raise ValueError("Expected a pickle of (G, D, Gs) tflib Networks.")
    return [n.state for n in networks]


def _variables(state, prefix):
    # Official global names: own variables under `prefix`, components under theirs.
    out = {}
    for name, value in state.get("variables", []):
        out[f"{prefix}/{name}"] = np.asarray(value)
    for component in state.get("components", {}).values():
        if not isinstance(component, NetworkState):
            raise ValueError("A Network component must itself be a Network.")
        out.update(_variables(component.state, component.state["name"]))
    return out


def _network_kwargs(state, cls):
    kwargs = dict(state.get("static_kwargs", {}))
    accepted = set(cls.__init__.__code__.co_varnames) - {"self", "name"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"Network {state.get('name')!r} ({state.get('build_func_name')}) has "
            f"options this port does not know: {unknown}."
        )
    if isinstance(kwargs.get("blur_filter"), list):
        kwargs["blur_filter"] = tuple(kwargs["blur_filter"])
    return kwargs


# Official build function -> (our class, official variable prefix, our options).
BUILDERS = {
    "G_style": (Generator, "G", {}),
    "D_basic": (Discriminator, "D", {}),
    "G_paper": (ProGANGenerator, "G", {"progressive": True}),  # With G/lod.
    "D_paper": (ProGANDiscriminator, "D", {}),
}


def build_from_state(state):
    """Builds our network for one official Network state and assigns its weights."""
    func = str(state.get("build_func_name", "")).rsplit(".", 1)[-1]
    if func not in BUILDERS:
        raise ValueError(
            f"Network {state.get('name')!r} is built by {func!r}; this port imports "
            f"{sorted(BUILDERS)}."
        )
    cls, prefix, options = BUILDERS[func]
    model = cls(**_network_kwargs(state, cls), **options)
    model.build()
    assign_official_variables(model, _variables(state, prefix))
    return model


def load_network_pkl(path):
    """Loads an official msg-stylegan-tf or ProGAN network pickle.

    Args:
        path: `network-snapshot-*.pkl` or `network-final.pkl`.

    Returns:
        `{"G": generator, "D": discriminator, "Gs": generator}`, built, with
        the official weights (ProGAN's with their level of detail).

    Raises:
        RefusedPickleError: the pickle references a global the format never
            needs (nothing from it has run).
        ValueError: an unreadable file, an unknown network option or a variable
            that does not match.
    """
    with open(path, "rb") as f:
        data = f.read()
    states = load_pickle_states(data)
    return {
        key: build_from_state(s)
        for key, s in zip(("G", "D", "Gs"), states, strict=True)
    }
