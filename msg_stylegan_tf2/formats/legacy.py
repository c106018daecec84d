"""Safe import of official network pickles: msg-stylegan-tf (TF1 dnnlib/tflib)
and ProGAN (its `tfutil`).

`network-snapshot-*.pkl` holds `(G, D, Gs)`, each a tflib `Network` whose state
carries its kwargs, components, variables and the Python source of its build
module. The official loader executes that source. Here `dnnlib.safe_pickle`
builds only data (numeric arrays through its own constructors, under the numpy
1.x and 2.x paths of pickle protocols 2 to 5; dnnlib's EasyDict and OrderedDict
as dicts; each Network as a record of its state) and refuses every other global;
the source is never executed. The states are checked, the networks rebuilt from
their kwargs and the variables assigned by official name. Every failure is a
one-line `ValueError` that names the file.
"""

import inspect

import numpy as np

from dnnlib import safe_pickle
from msg_stylegan_tf2.validation import (
    MAX_NAME_LENGTH,
    check_option_size,
    is_name,
    is_plain_option,
)

RefusedPickleError = safe_pickle.RefusedPickleError
MAX_COMPONENT_DEPTH = 8  # Networks inside networks (official: 1).
# Parameters the options may describe beyond the pickle's own weights (ours
# has none an official network lacks, except spectral norm's vectors).
PARAMETER_SLACK = 2**20


class EasyDict(safe_pickle.DataDict):
    """Stand-in for `dnnlib.util.EasyDict`: its items, as a dict."""

    __slots__ = ()


class NetworkState(safe_pickle.Record):
    """Stand-in for `dnnlib.tflib.network.Network` (and ProGAN's
    `tfutil.Network`): keeps the state dict in `.state`, runs nothing."""

    __slots__ = ()


RECORDS = {
    ("collections", "OrderedDict"): safe_pickle.DataDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib.tflib.network", "Network"): NetworkState,
    ("tfutil", "Network"): NetworkState,  # ProGAN.
}
_SCALARS = (type(None), bool, int, float, str)


def _check_state(state, label, depth):
    """Checks one Network state and its components (a tree, `label` e.g. `G`,
    `G/synthesis`); raises ValueError saying what is wrong, without the file."""

    def fail(what):
        raise ValueError(f"network {label}: {what}")

    name = state.get("name")
    if "name" not in state:
        fail("has no `name`")
    if not is_name(name):
        fail(
            f"`name` must be a printable string of 1 to {MAX_NAME_LENGTH} "
            f"characters. Received: {safe_pickle.printable(name)}"
        )
    func = state.get("build_func_name", "")
    if type(func) is not str:
        fail(f"`build_func_name` must be a string. Received: {type(func).__name__}")
    kwargs = state.get("static_kwargs", {})
    if not isinstance(kwargs, dict):
        fail(f"`static_kwargs` must be a dict. Received: {type(kwargs).__name__}")
    for key, value in kwargs.items():
        if not is_name(key) or not is_plain_option(value):
            fail(
                f"option {safe_pickle.printable(key)!r} must be a number, string, "
                f"bool or list of numbers. Received: {type(value).__name__}"
            )
    variables = state.get("variables", [])
    if type(variables) not in (list, tuple):
        fail(f"`variables` must be a list. Received: {type(variables).__name__}")
    for pair in variables:
        if not (
            type(pair) in (list, tuple)
            and len(pair) == 2
            and is_name(pair[0])
            and isinstance(pair[1], (np.ndarray, np.generic))
        ):
            fail("`variables` must be (name, numeric array) pairs")
    components = state.get("components", {})
    if not isinstance(components, dict):
        fail(f"`components` must be a dict. Received: {type(components).__name__}")
    if components and depth >= MAX_COMPONENT_DEPTH:
        fail(f"components nest deeper than {MAX_COMPONENT_DEPTH} levels")
    for key, component in components.items():
        where = f"{label}/{safe_pickle.printable(key)}"
        if not is_name(key) or not isinstance(component, NetworkState):
            raise ValueError(f"network {where}: a component must be a named Network")
        _check_state(component.state, where, depth + 1)


def load_pickle_states(data, where="network pickle"):
    """Unpickles `(G, D, Gs)` states from bytes without running any code.

    Args:
        data: the pickle's bytes.
        where: the file's name, for messages.

    Returns:
        Three state dicts, checked: `name` str, `static_kwargs` of plain
        options, `components` of Network states, `variables` of
        `(name, ndarray)` pairs.

    Raises:
        RefusedPickleError: a global, opcode, dtype or structure the format
            never needs (nothing from the file has run), or a corrupt pickle.
        ValueError: a pickle of something else or a malformed state; one line
            starting with `where`.
    """
    networks = safe_pickle.loads(data, where, RECORDS)
    if not (
        type(networks) is tuple
        and len(networks) == 3
        and all(isinstance(n, NetworkState) for n in networks)
    ):
        raise ValueError(f"{where}: expected a pickle of (G, D, Gs) tflib Networks.")
    for label, network in zip(("G", "D", "Gs"), networks, strict=True):
        try:
            _check_state(network.state, label, 0)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return [n.state for n in networks]


def _variables(state, prefix):
    # Official global names: own variables under `prefix`, components under theirs.
    out = {}
    for name, value in state.get("variables", []):
        out[f"{prefix}/{name}"] = np.asarray(value)
    for component in state.get("components", {}).values():
        out.update(_variables(component.state, component.state["name"]))
    return out


# Option kinds by the type of our constructor's default.
_KINDS = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    str: (str, bool),  # fused_scale: "auto", True or False.
    tuple: (list, tuple),
    type(None): (type(None), int, float),
}


def _network_kwargs(state, cls, options):
    # Official names only (ours, minus those this loader sets), of the right kind.
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name not in ("self", "name", "dtype", *options)
    }
    kwargs = {
        key: value.item() if isinstance(value, np.generic) else value
        for key, value in state.get("static_kwargs", {}).items()
    }
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(
            f"Network {state['name']!r} ({state.get('build_func_name')}) has "
            f"options this port does not know: {unknown}."
        )
    for key, value in kwargs.items():
        kinds = _KINDS.get(type(defaults[key]), _SCALARS)
        if type(value) not in kinds:
            raise ValueError(
                f"Network {state['name']!r}: option `{key}` must be "
                f"{' or '.join(k.__name__ for k in kinds)}. "
                f"Received: {type(value).__name__}"
            )
    for key, value in kwargs.items():
        try:
            check_option_size(key, value)
        except ValueError as e:
            raise ValueError(f"Network {state['name']!r}: {e}") from None
    if isinstance(kwargs.get("blur_filter"), list):
        kwargs["blur_filter"] = tuple(kwargs["blur_filter"])
    return kwargs


def builders():
    """Official build function -> (our class, official variable prefix, our
    options). Imported here so that refusing a pickle needs no TensorFlow."""
    from msg_stylegan_tf2.networks.discriminator import Discriminator
    from msg_stylegan_tf2.networks.generator import Generator
    from msg_stylegan_tf2.networks.progan import ProGANGenerator
    from msg_stylegan_tf2.networks.progan_discriminator import ProGANDiscriminator

    return {
        "G_style": (Generator, "G", {}),
        "D_basic": (Discriminator, "D", {}),
        "G_paper": (ProGANGenerator, "G", {"progressive": True}),  # With G/lod.
        "D_paper": (ProGANDiscriminator, "D", {}),
    }


def _construct(state, cls, kwargs, options):
    # Our network, built; its constructor's errors as one-line ValueErrors.
    try:
        model = cls(**kwargs, **options)
        model.build()
    except ValueError as e:
        raise ValueError(f"Network {state['name']!r}: {e}") from e
    except (TypeError, ArithmeticError) as e:  # A value our checks let through.
        raise ValueError(f"Network {state['name']!r}: {type(e).__name__}: {e}") from e
    return model


def _check_size(state, cls, kwargs, options, variables):
    # Refuses options that describe more parameters than the pickle's weights
    # hold, before anything is allocated: memory stays bounded by the file.
    from msg_stylegan_tf2.networks.network_base import described_parameters

    described = described_parameters(lambda: _construct(state, cls, kwargs, options))
    given = sum(int(v.size) for v in variables.values())
    if described > given + PARAMETER_SLACK:
        raise ValueError(
            f"Network {state['name']!r}: its options describe {described:,} "
            f"parameters, its weights hold {given:,}; the options do not fit "
            "the weights."
        )


def _spec(state):
    # (our class, its official variables by global name, checked kwargs, the
    # loader's own options) of one checked Network state.
    func = state.get("build_func_name", "").rsplit(".", 1)[-1]
    known = builders()
    if func not in known:
        raise ValueError(
            f"Network {state['name']!r} is built by {safe_pickle.printable(func)!r}; "
            f"this port imports {sorted(known)}."
        )
    cls, prefix, options = known[func]
    return cls, _variables(state, prefix), _network_kwargs(state, cls, options), options


def build_from_state(state):
    """Builds our network for one checked Network state, assigns its weights.

    Raises:
        ValueError: an unknown build function or option, an option of the
            wrong kind or value, options that describe a larger network than
            the state's weights, or variables that do not match.
    """
    from msg_stylegan_tf2.networks.official import assign_official_variables

    cls, variables, kwargs, options = _spec(state)
    _check_size(state, cls, kwargs, options, variables)
    model = _construct(state, cls, kwargs, options)
    assign_official_variables(model, variables)
    return model


def pickle_shapes(path):
    """What a pickle's G and D are, without building them.

    Returns:
        `(shapes, options)`: `{"G": {official name: shape}, "D": ...}`, the
        official variable shapes of G and D, and `{"G": kwargs, "D": kwargs}`,
        their options after the loader's checks.

    Raises:
        RefusedPickleError, ValueError: as `load_network_pkl`.
    """
    with open(path, "rb") as f:
        states = load_pickle_states(f.read(), str(path))
    shapes, options = {}, {}
    try:
        for key, state in zip(("G", "D"), states, strict=False):
            _, variables, options[key], _ = _spec(state)
            shapes[key] = {name: tuple(a.shape) for name, a in variables.items()}
    except ValueError as e:
        raise ValueError(f"{path}: {' '.join(str(e).split())}") from e
    return shapes, options


def load_network_pkl(path):
    """Loads an official msg-stylegan-tf or ProGAN network pickle.

    Args:
        path: `network-snapshot-*.pkl` or `network-final.pkl`.

    Returns:
        `{"G": generator, "D": discriminator, "Gs": generator}`, built, with
        the official weights (ProGAN's with their level of detail).

    Raises:
        RefusedPickleError: the pickle holds something the format never needs
            (nothing from it has run) or is corrupt.
        ValueError: a malformed state, an unknown network option or a variable
            that does not match. Each message is one line naming `path`.
    """
    with open(path, "rb") as f:
        data = f.read()
    states = load_pickle_states(data, str(path))
    try:
        return {
            key: build_from_state(s)
            for key, s in zip(("G", "D", "Gs"), states, strict=True)
        }
    except ValueError as e:
        raise ValueError(f"{path}: {' '.join(str(e).split())}") from e
