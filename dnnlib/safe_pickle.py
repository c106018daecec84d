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
"""

import io
import math
import pickle
import pickletools
import struct

import numpy as np

MAX_DEPTH = 64  # Containers inside containers.
MAX_NODES = 2_000_000  # Values, counting a shared container once per reference.
MAX_NDIM = 32
MAX_DIM = 2**40

# The only array dtypes: bool and fixed-size integers and floats, by the codes
# numpy's dtype pickles use; no object, void, structured, string or time types.
NUMERIC_DTYPES = {
    code: np.dtype(code)
    for code in ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")
    + ("f2", "f4", "f8")
}
_OPCODES = set(  # By pickletools' names: protocols 0 to 5, data only.
    "MARK STOP POP POP_MARK DUP FLOAT INT BININT BININT1 LONG BININT2 NONE "
    "REDUCE STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE APPEND BUILD "
    "GLOBAL DICT EMPTY_DICT APPENDS GET BINGET LONG_BINGET LIST EMPTY_LIST PUT "
    "BINPUT LONG_BINPUT SETITEM TUPLE EMPTY_TUPLE SETITEMS BINFLOAT PROTO NEWOBJ "
    "TUPLE1 TUPLE2 TUPLE3 NEWTRUE NEWFALSE LONG1 LONG4 BINBYTES SHORT_BINBYTES "
    "SHORT_BINUNICODE BINUNICODE8 BINBYTES8 STACK_GLOBAL MEMOIZE FRAME "
    "BYTEARRAY8".split()
)
_OPCODE_NAMES = {op.code.encode("latin1")[0]: op.name for op in pickletools.opcodes}
_LEAVES = (type(None), bool, int, float, str, bytes, bytearray)
_KEY_LIMIT = 2**61 - 1  # Integer keys below this hash without collisions.


class RefusedPickleError(ValueError):
    """A pickle that is malformed or asks for what its format never needs;
    nothing from it ran. `str()` is one line: `<where>: <reason>`."""

    def __init__(self, where, reason):
        reason = " ".join(str(reason).split())
        if len(reason) > 400:
            reason = reason[:400] + "..."
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {self.reason}")


class _Refused(Exception):
    """Raised inside the loader; `loads` adds the file's name."""


Refused = _Refused  # For the constructors a caller gives `load`.


def printable(text, limit=80):
    """A string from a file, shown on one line (repr if needed, at most `limit`
    characters); any other value only by its type."""
    if type(text) is not str:
        return f"<{type(text).__name__}>"
    short = text[:limit]
    if short.isprintable() and len(text) <= limit:
        return short
    return repr(short) + ("..." if len(text) > limit else "")


class StandIn:
    """Base of every object the loader builds for a global; only these receive
    a pickle's BUILD, each through its own checking `__setstate__`."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Refused(f"refused a state for {type(self).__name__}")


class Record(StandIn):
    """Stand-in for an object whose pickled state is one dict (e.g. a tflib
    Network): built with no arguments, given its state once, runs nothing."""

    __slots__ = ("state",)

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise _Refused(f"refused arguments to {cls.__name__}")
        return super().__new__(cls)

    def __setstate__(self, state):
        if hasattr(self, "state"):
            raise _Refused(f"refused a second state for {type(self).__name__}")
        if type(state) is not dict:
            raise _Refused(f"the state of a {type(self).__name__} must be a dict")
        self.state = state


class DataDict(dict, StandIn):
    """Stand-in for a dict subclass (OrderedDict, EasyDict): items only."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        return dict.__new__(cls)

    def __init__(self, items=(), **kwargs):
        # OrderedDict's protocol-2 pickles pass [[key, value], ...].
        if kwargs or type(items) not in (list, tuple):
            raise _Refused(f"{type(self).__name__} takes a list of pairs")
        for pair in items:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise _Refused(f"{type(self).__name__} takes a list of pairs")
            self[_key(pair[0])] = pair[1]

    def __setstate__(self, state):
        if type(state) is not dict or state:  # Python 3.6 writes {}.
            raise _Refused(f"refused attributes for {type(self).__name__}")


class _Global(StandIn):
    """A global that may only be passed as an argument (numpy.ndarray)."""

    __slots__ = ("label",)

    def __init__(self, label):
        self.label = label


_NDARRAY = _Global("numpy.ndarray")


class _DType(StandIn):
    """A numeric dtype; a BUILD may only restate its byte order, before use."""

    __slots__ = ("dtype", "frozen")
    label = "numpy dtype"

    def __init__(self, dtype):
        self.dtype, self.frozen = dtype, False

    def __setstate__(self, state):
        # numpy writes (3, order, None, None, None, -1, -1, 0) for these dtypes
        # (version 4 adds metadata); anything else could reshape the memory.
        if self.frozen:
            raise _Refused("refused a second or late state for a dtype")
        self.frozen = True
        if type(state) is not tuple or len(state) not in (8, 9):
            raise _Refused("a dtype state must be numpy's 8-tuple")
        version, order, *rest = state
        expected = [None, None, None, -1, -1, 0] + [None] * (len(state) - 8)
        if (version, len(state)) not in ((3, 8), (4, 9)) or rest != expected:
            raise _Refused(
                "refused a dtype state other than numpy's for a plain numeric "
                "dtype (only the byte order may be set)"
            )
        if order not in ("<", ">", "=", "|") or (
            order == "|" and self.dtype.itemsize != 1
        ):
            raise _Refused(
                f"refused the byte order {printable(order)} for {self.dtype}"
            )
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


class _Array(StandIn):
    """An array recipe; `array` is set once its (dtype, shape, bytes) check out."""

    __slots__ = ("loader", "array", "scalar")

    def __init__(self, loader, array=None, scalar=False):
        self.loader, self.array, self.scalar = loader, array, scalar

    def __setstate__(self, state):
        # ndarray state: ([1,] shape, dtype, is_fortran, raw bytes).
        if self.array is not None:
            raise _Refused("refused a second state for an array")
        if type(state) is not tuple or len(state) not in (4, 5):
            raise _Refused("an array state must be numpy's 5-tuple")
        if len(state) == 5:
            if state[0] != 1:
                raise _Refused("unknown array state version")
            state = state[1:]
        shape, dtype, fortran, raw = state
        if fortran not in (True, False):
            raise _Refused("an array's is_fortran must be a bool")
        self.array = self.loader.array(dtype, shape, raw, "F" if fortran else "C")


class _Builder:
    """The constructors that allowed numpy globals resolve to, for one load;
    counts the bytes of all arrays against the size of the file."""

    def __init__(self, budget):
        self.budget = budget

    def dtype(self, code, align=False, copy=True):
        if type(code) is not str or code not in NUMERIC_DTYPES:
            raise _Refused(
                f"refused the dtype {printable(code)}; arrays may hold only bool, "
                f"integers and floats ({', '.join(NUMERIC_DTYPES)})"
            )
        if align not in (False, 0) or copy not in (True, False):
            raise _Refused("refused dtype options")
        return _DType(NUMERIC_DTYPES[code])

    def reconstruct(self, cls, shape, typecode):
        # Protocols 2 to 4: an empty array, its data comes by BUILD.
        if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
            raise _Refused("refused numpy _reconstruct arguments")
        return _Array(self)

    def frombuffer(self, buffer, dtype, shape, order):
        # Protocol 5: bytes in band.
        if order not in ("C", "F"):
            raise _Refused(f"refused the array order {printable(order)}")
        return _Array(self, self.array(dtype, shape, buffer, order))

    def scalar(self, dtype, raw):
        return _Array(self, self.array(dtype, (), raw, "C"), scalar=True)

    def array(self, dtype, shape, raw, order):
        if type(dtype) is not _DType:
            raise _Refused("an array's dtype must be a numpy dtype")
        dtype.frozen = True
        if type(raw) is str:  # Python 2 pickles: bytes as latin-1 text.
            raw = raw.encode("latin1")
        if type(raw) not in (bytes, bytearray):
            raise _Refused(f"refused array data of type {type(raw).__name__}")
        if type(shape) is not tuple or len(shape) > MAX_NDIM:
            raise _Refused(f"an array shape must be a tuple of <= {MAX_NDIM} ints")
        if any(type(d) is not int or not 0 <= d <= MAX_DIM for d in shape):
            raise _Refused(f"an array dimension must be an int in [0, {MAX_DIM}]")
        need = math.prod(shape) * dtype.dtype.itemsize
        if need != len(raw):
            raise _Refused(
                f"an array of shape {list(shape)} and dtype {dtype.dtype} needs "
                f"{need} bytes; the pickle gives {len(raw)}"
            )
        self.budget -= need
        if self.budget < 0:
            raise _Refused("its arrays would take more bytes than the file holds")
        view = np.frombuffer(raw, dtype.dtype).reshape(shape, order=order)
        return view.astype(dtype.dtype.newbyteorder("="))


def _latin1_encode(text, encoding="latin1"):
    # Protocol-2 pickles written by Python 3 store bytes this way.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise _Refused("refused _codecs.encode other than str to latin1")
    return text.encode("latin1")


def _empty_bytes(*args):
    # Protocols 0 to 2 write b"" as a call of bytes().
    if args:
        raise _Refused("refused bytes() with arguments")
    return b""


def _numpy_globals(builder):
    out = {("_codecs", "encode"): _latin1_encode, ("numpy", "ndarray"): _NDARRAY}
    out[("__builtin__", "bytes")] = out[("builtins", "bytes")] = _empty_bytes
    out[("numpy", "dtype")] = builder.dtype
    for core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x.
        out[(f"{core}.multiarray", "_reconstruct")] = builder.reconstruct
        out[(f"{core}.multiarray", "scalar")] = builder.scalar
        out[(f"{core}.numeric", "_frombuffer")] = builder.frombuffer
    return out


def _key(key):
    # Dict keys: scalars only, so that inserting one never recurses or collides.
    if type(key) in (str, bytes, bool, type(None)) or (
        type(key) is int and -_KEY_LIMIT < key < _KEY_LIMIT
    ):
        return key
    raise _Refused(f"refused a dict key of type {type(key).__name__}")


def _set_pairs(target, items):
    if len(items) % 2:
        raise _Refused("dict items must come in key-value pairs")
    for i in range(0, len(items), 2):
        target[_key(items[i])] = items[i + 1]
    return target


class _Machine(pickle._Unpickler):
    """pickle's pure-Python machine, restricted to data opcodes and checked
    targets for every opcode that calls or mutates."""

    def __init__(self, file, globals_, encoding):
        super().__init__(file, encoding=encoding)
        self.globals_ = globals_
        self.callables = [g for g in globals_.values() if callable(g)]

    def find_class(self, module, name):
        try:
            return self.globals_[(module, name)]
        except KeyError:
            raise _Refused(
                f"refused to load the global {printable(module)}.{printable(name)}; "
                "the format holds only numbers, strings, bytes, lists, tuples, "
                "dicts and numeric arrays (the file may be malicious)"
            ) from None

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is g for g in self.callables):
            raise _Refused(f"refused a call of a {type(func).__name__}")
        if type(args) is not tuple:
            raise _Refused("call arguments must be a tuple")
        self.stack[-1] = func(*args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if not (
            isinstance(cls, type)
            and issubclass(cls, (Record, DataDict))
            and any(cls is g for g in self.callables)
            and args == ()
        ):
            raise _Refused("refused NEWOBJ on anything but a stand-in, no arguments")
        self.append(cls.__new__(cls))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, StandIn):
            raise _Refused(f"refused a state (BUILD) for a {type(inst).__name__}")
        type(inst).__setstate__(inst, state)

    def load_bytearray8(self):
        # pickle's own allocates the declared size before reading it.
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size)
        if len(data) != size:
            raise _Refused(f"a bytearray of {size} bytes is cut short")
        self.append(bytearray(data))

    def load_append(self):
        value = self.stack.pop()
        self._list().append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._list().extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = _key(self.stack.pop())
        self._dict()[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        _set_pairs(self._dict(), items)

    def load_dict(self):
        items = self.pop_mark()
        self.append(_set_pairs({}, items))

    def _list(self):
        if type(self.stack[-1]) is not list:
            raise _Refused(f"refused APPEND to a {type(self.stack[-1]).__name__}")
        return self.stack[-1]

    def _dict(self):
        target = self.stack[-1]
        if type(target) is not dict and not isinstance(target, DataDict):
            raise _Refused(f"refused SETITEM on a {type(target).__name__}")
        return target


class _Dispatch(dict):
    def __missing__(self, code):
        raise _Refused(f"refused the opcode {_OPCODE_NAMES.get(code, hex(code))}")


_Machine.dispatch = _Dispatch(
    {
        code: function
        for code, function in pickle._Unpickler.dispatch.items()
        if _OPCODE_NAMES.get(code) in _OPCODES
    }
)
for _opcode, _method in {
    pickle.REDUCE: _Machine.load_reduce,
    pickle.NEWOBJ: _Machine.load_newobj,
    pickle.BUILD: _Machine.load_build,
    pickle.APPEND: _Machine.load_append,
    pickle.APPENDS: _Machine.load_appends,
    pickle.SETITEM: _Machine.load_setitem,
    pickle.SETITEMS: _Machine.load_setitems,
    pickle.DICT: _Machine.load_dict,
    pickle.BYTEARRAY8: _Machine.load_bytearray8,
}.items():
    _Machine.dispatch[_opcode[0]] = _method


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
        if type(obj) is _Array:
            if obj.array is None:
                raise _Refused("an array without its data")
            return (obj.array[()] if obj.scalar else obj.array), 1, 0
        if id(obj) in self.done:
            copy, size, height = self.done[id(obj)]
        else:
            if id(obj) in self.open:
                raise _Refused("refused a container that contains itself")
            self.open.add(id(obj))
            copy, size, height = self.container(obj, depth)
            self.open.discard(id(obj))
            self.done[id(obj)] = copy, size, height
        if depth + height > MAX_DEPTH:
            raise _Refused(f"refused nesting deeper than {MAX_DEPTH} levels")
        return copy, size, height

    def children(self, items, depth):
        if depth >= MAX_DEPTH:
            raise _Refused(f"refused nesting deeper than {MAX_DEPTH} levels")
        copies, size, height = [], 1, 0
        for item in items:
            copy, n, h = self.visit(item, depth + 1)
            copies.append(copy)
            size, height = size + n, max(height, h + 1)
            if size > MAX_NODES:
                raise _Refused(
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
                raise _Refused(f"a {type(obj).__name__} without its state")
            (state,), size, height = self.children([obj.state], depth)
            copy = type(obj).__new__(type(obj))
            copy.state = state
            return copy, size, height
        label = getattr(obj, "label", type(obj).__name__)
        raise _Refused(f"refused a bare {label} where data belongs")


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
    globals_ = _numpy_globals(_Builder(len(data)))
    for key, cls in (records or {}).items():
        assert isinstance(cls, type) and issubclass(cls, (Record, DataDict)), cls
        globals_[key] = cls
    return _run(_Machine(io.BytesIO(data), globals_, encoding), where, ())


class _PersistentMachine(_Machine):
    """The machine with binary persistent ids, each handed to `persistent_load`."""

    dispatch = _Dispatch(_Machine.dispatch)
    dispatch[pickle.BINPERSID[0]] = pickle._Unpickler.load_binpersid

    def __init__(self, file, globals_, encoding, persistent_load):
        super().__init__(file, globals_, encoding)
        self.persistent_load = persistent_load


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
        machine = _Machine(file, dict(constructors), encoding)
    else:
        machine = _PersistentMachine(
            file, dict(constructors), encoding, persistent_load
        )
    return _run(machine, where, leaves)


def _run(machine, where, leaves):
    try:
        return _Walk(leaves).visit(machine.load(), 0)[0]
    except _Refused as e:
        raise RefusedPickleError(where, e) from None
    except Exception as e:  # A truncated or corrupt pickle fails in many ways.
        reason = f"truncated or corrupt pickle ({type(e).__name__}: {e})"
        raise RefusedPickleError(where, reason) from None
