"""The numpy globals a data-only pickle may name, for safe_pickle.py: each
maps to a constructor here that records (dtype, shape, bytes), checks them
and builds the array itself with `np.frombuffer(...).reshape(...)` and a copy;
numpy's own reconstructors never see the file's bytes."""

import math

import numpy as np

from dnnlib.safe_pickle_base import Refused, StandIn, printable

MAX_NDIM = 32
MAX_DIM = 2**40

# The only array dtypes: bool and fixed-size integers and floats, by the codes
# numpy's dtype pickles use; no object, void, structured, string or time types.
NUMERIC_DTYPES = {
    code: np.dtype(code)
    for code in ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")
    + ("f2", "f4", "f8")
}


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
            raise Refused("refused a second or late state for a dtype")
        self.frozen = True
        if type(state) is not tuple or len(state) not in (8, 9):
            raise Refused("a dtype state must be numpy's 8-tuple")
        version, order, *rest = state
        expected = [None, None, None, -1, -1, 0] + [None] * (len(state) - 8)
        if (version, len(state)) not in ((3, 8), (4, 9)) or rest != expected:
            raise Refused(
                "refused a dtype state other than numpy's for a plain numeric "
                "dtype (only the byte order may be set)"
            )
        if order not in ("<", ">", "=", "|") or (
            order == "|" and self.dtype.itemsize != 1
        ):
            raise Refused(f"refused the byte order {printable(order)} for {self.dtype}")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


class ArrayRecipe(StandIn):
    """An array recipe; `array` is set once its (dtype, shape, bytes) check out."""

    __slots__ = ("loader", "array", "scalar")

    def __init__(self, loader, array=None, scalar=False):
        self.loader, self.array, self.scalar = loader, array, scalar

    def __setstate__(self, state):
        # ndarray state: ([1,] shape, dtype, is_fortran, raw bytes).
        if self.array is not None:
            raise Refused("refused a second state for an array")
        if type(state) is not tuple or len(state) not in (4, 5):
            raise Refused("an array state must be numpy's 5-tuple")
        if len(state) == 5:
            if state[0] != 1:
                raise Refused("unknown array state version")
            state = state[1:]
        shape, dtype, fortran, raw = state
        if fortran not in (True, False):
            raise Refused("an array's is_fortran must be a bool")
        self.array = self.loader.array(dtype, shape, raw, "F" if fortran else "C")


class ArrayBuilder:
    """The constructors that allowed numpy globals resolve to, for one load;
    counts the bytes of all arrays against the size of the file."""

    def __init__(self, budget):
        self.budget = budget

    def dtype(self, code, align=False, copy=True):
        if type(code) is not str or code not in NUMERIC_DTYPES:
            raise Refused(
                f"refused the dtype {printable(code)}; arrays may hold only bool, "
                f"integers and floats ({', '.join(NUMERIC_DTYPES)})"
            )
        if align not in (False, 0) or copy not in (True, False):
            raise Refused("refused dtype options")
        return _DType(NUMERIC_DTYPES[code])

    def reconstruct(self, cls, shape, typecode):
        # Protocols 2 to 4: an empty array, its data comes by BUILD.
        if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
            raise Refused("refused numpy _reconstruct arguments")
        return ArrayRecipe(self)

    def frombuffer(self, buffer, dtype, shape, order):
        # Protocol 5: bytes in band.
        if order not in ("C", "F"):
            raise Refused(f"refused the array order {printable(order)}")
        return ArrayRecipe(self, self.array(dtype, shape, buffer, order))

    def scalar(self, dtype, raw):
        return ArrayRecipe(self, self.array(dtype, (), raw, "C"), scalar=True)

    def array(self, dtype, shape, raw, order):
        if type(dtype) is not _DType:
            raise Refused("an array's dtype must be a numpy dtype")
        dtype.frozen = True
        if type(raw) is str:  # Python 2 pickles: bytes as latin-1 text.
            raw = raw.encode("latin1")
        if type(raw) not in (bytes, bytearray):
            raise Refused(f"refused array data of type {type(raw).__name__}")
        if type(shape) is not tuple or len(shape) > MAX_NDIM:
            raise Refused(f"an array shape must be a tuple of <= {MAX_NDIM} ints")
        if any(type(d) is not int or not 0 <= d <= MAX_DIM for d in shape):
            raise Refused(f"an array dimension must be an int in [0, {MAX_DIM}]")
        need = math.prod(shape) * dtype.dtype.itemsize
        if need != len(raw):
            raise Refused(
                f"an array of shape {list(shape)} and dtype {dtype.dtype} needs "
                f"{need} bytes; the pickle gives {len(raw)}"
            )
        self.budget -= need
        if self.budget < 0:
            raise Refused("its arrays would take more bytes than the file holds")
        view = np.frombuffer(raw, dtype.dtype).reshape(shape, order=order)
        return view.astype(dtype.dtype.newbyteorder("="))


def _latin1_encode(text, encoding="latin1"):
    # Protocol-2 pickles written by Python 3 store bytes this way.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise Refused("refused _codecs.encode other than str to latin1")
    return text.encode("latin1")


def _empty_bytes(*args):
    # Protocols 0 to 2 write b"" as a call of bytes().
    if args:
        raise Refused("refused bytes() with arguments")
    return b""


def numpy_globals(builder):
    out = {("_codecs", "encode"): _latin1_encode, ("numpy", "ndarray"): _NDARRAY}
    out[("__builtin__", "bytes")] = out[("builtins", "bytes")] = _empty_bytes
    out[("numpy", "dtype")] = builder.dtype
    for core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x.
        out[(f"{core}.multiarray", "_reconstruct")] = builder.reconstruct
        out[(f"{core}.multiarray", "scalar")] = builder.scalar
        out[(f"{core}.numeric", "_frombuffer")] = builder.frombuffer
    return out
