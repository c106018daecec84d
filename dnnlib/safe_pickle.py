"""Memory-safe loading of data-only pickles from strangers (official network
pickles, CIFAR batches): numbers, strings, bytes, lists, tuples, dicts, numeric
numpy arrays and the stand-in records a caller names; nothing else is built.

How: a pure-Python pickle machine that knows only the data opcodes (no sets,
extensions, persistent ids, out-of-band buffers or INST/OBJ). Each allowed
global maps to a constructor of this module that records (dtype, shape, bytes),
checks them and builds the array itself with `np.frombuffer(...).reshape(...)`
and a copy; numpy's own reconstructors never see the file's bytes, and a BUILD
reaches only the loader's stand-ins. After the machine stops, one walk over the
result refuses cycles, nesting deeper than `MAX_DEPTH` and sharing that would
expand to more than `MAX_NODES` values, and replaces the stand-ins by arrays.
Every failure is a `RefusedPickleError` (a `ValueError`) of one line that names
the file and what is wrong.

`load` runs the same machine over a stream for formats with their own globals
(torch checkpoints, dnnlib/torch_checkpoint.py): only the caller's checking
constructors, and persistent ids only through the caller's `persistent_load`.

Here: the walk, `loads` and `load`. The errors and stand-ins are in
safe_pickle_base.py, the numpy constructors in safe_pickle_numpy.py, the
restricted machine in safe_pickle_machine.py; this module re-exports the
names callers use (`__all__`).
"""

import io

from dnnlib.safe_pickle_base import (
    DataDict,
    Record,
    Refused,
    RefusedPickleError,
    StandIn,
    printable,
)
from dnnlib.safe_pickle_machine import Machine, PersistentMachine
from dnnlib.safe_pickle_numpy import (
    MAX_DIM,
    MAX_NDIM,
    NUMERIC_DTYPES,
    ArrayBuilder,
    ArrayRecipe,
    numpy_globals,
)

__all__ = [  # The API, wherever each part is written.
    "MAX_DEPTH",
    "MAX_DIM",
    "MAX_NDIM",
    "MAX_NODES",
    "NUMERIC_DTYPES",
    "DataDict",
    "Record",
    "Refused",
    "RefusedPickleError",
    "StandIn",
    "load",
    "loads",
    "printable",
]

MAX_DEPTH = 64  # Containers inside containers.
MAX_NODES = 2_000_000  # Values, counting a shared container once per reference.
_LEAVES = (type(None), bool, int, float, str, bytes, bytearray)


class _Walk:
    """Copies the loaded graph with arrays for their recipes, refusing cycles,
    nesting deeper than MAX_DEPTH and more than MAX_NODES expanded values."""

    def __init__(self, leaves=()):
        self.done = {}  # id -> (copy, expanded size, height)
        self.open = set()
        self.leaves = _LEAVES + tuple(leaves)

    def visit(self, obj, depth):
        if type(obj) in self.leaves:
            return obj, 1, 0
        if type(obj) is ArrayRecipe:
            if obj.array is None:
                raise Refused("an array without its data")
            return (obj.array[()] if obj.scalar else obj.array), 1, 0
        if id(obj) in self.done:
            copy, size, height = self.done[id(obj)]
        else:
            if id(obj) in self.open:
                raise Refused("refused a container that contains itself")
            self.open.add(id(obj))
            copy, size, height = self.container(obj, depth)
            self.open.discard(id(obj))
            self.done[id(obj)] = copy, size, height
        if depth + height > MAX_DEPTH:
            raise Refused(f"refused nesting deeper than {MAX_DEPTH} levels")
        return copy, size, height

    def children(self, items, depth):
        if depth >= MAX_DEPTH:
            raise Refused(f"refused nesting deeper than {MAX_DEPTH} levels")
        copies, size, height = [], 1, 0
        for item in items:
            copy, n, h = self.visit(item, depth + 1)
            copies.append(copy)
            size, height = size + n, max(height, h + 1)
            if size > MAX_NODES:
                raise Refused(
                    f"refused more than {MAX_NODES} values (shared containers "
                    "counted at each use)"
                )
        return copies, size, height

    def container(self, obj, depth):
        if type(obj) in (list, tuple):
            copies, size, height = self.children(obj, depth)
            return type(obj)(copies), size, height
        if type(obj) is dict or isinstance(obj, DataDict):
            copies, size, height = self.children(obj.values(), depth)
            copy = type(obj).__new__(type(obj))
            dict.update(copy, zip(obj.keys(), copies, strict=True))
            return copy, size, height
        if isinstance(obj, Record):
            if not hasattr(obj, "state"):
                raise Refused(f"a {type(obj).__name__} without its state")
            (state,), size, height = self.children([obj.state], depth)
            copy = type(obj).__new__(type(obj))
            copy.state = state
            return copy, size, height
        label = getattr(obj, "label", type(obj).__name__)
        raise Refused(f"refused a bare {label} where data belongs")


def loads(data, where, records=None, encoding="ASCII"):
    """Loads a data-only pickle without running anything from it.

    Args:
        data: the pickle's bytes.
        where: the file's name, for messages.
        records: `{(module, name): class}` of further globals the format needs,
            each a `Record` or `DataDict` subclass.
        encoding: for Python 2 strings (`"latin1"` reads old numpy arrays).

    Returns:
        The object: None, bool, int, float, str, bytes, bytearray, list, tuple,
        dict (scalar keys), numeric `np.ndarray`/numpy scalar, or a stand-in.

    Raises:
        RefusedPickleError: one line naming `where` and what is wrong.
    """
    globals_ = numpy_globals(ArrayBuilder(len(data)))
    for key, cls in (records or {}).items():
        assert isinstance(cls, type) and issubclass(cls, (Record, DataDict)), cls
        globals_[key] = cls
    return _run(Machine(io.BytesIO(data), globals_, encoding), where, ())


def load(file, where, constructors, leaves=(), persistent_load=None, encoding="utf-8"):
    """Loads one pickle from `file` (a stream the caller bounds), leaving it just
    past the STOP; for formats with globals of their own (torch checkpoints).

    Args:
        constructors: `{(module, name): object}`, the only globals: functions of
            the caller's that check their arguments and return data or
            `StandIn`s (which refuse a BUILD), or non-callable markers.
        leaves: `StandIn` subclasses the result may hold as they are.
        persistent_load: called with each binary persistent id (it refuses by
            raising `Refused`); None refuses persistent ids.

    Returns and raises as `loads` does (no numpy or record globals).
    """
    assert all(issubclass(leaf, StandIn) for leaf in leaves), leaves
    if persistent_load is None:
        machine = Machine(file, dict(constructors), encoding)
    else:
        machine = PersistentMachine(file, dict(constructors), encoding, persistent_load)
    return _run(machine, where, leaves)


def _run(machine, where, leaves):
    try:
        return _Walk(leaves).visit(machine.load(), 0)[0]
    except Refused as e:
        raise RefusedPickleError(where, e) from None
    except Exception as e:  # A truncated or corrupt pickle fails in many ways.
        reason = f"truncated or corrupt pickle ({type(e).__name__}: {e})"
        raise RefusedPickleError(where, reason) from None
