"""The pickles of a PyTorch state dict, read by dnnlib/safe_pickle.py with the
few globals a state dict needs, each mapped to a constructor here that checks
its arguments: storage types, `OrderedDict`, tensors and parameters (torch's
`_rebuild_*`); the only persistent ids are torch's storage tuples. Every tensor
view is checked against its storage; the bytes come later (torch_checkpoint.py).
"""

import math

import numpy as np

from dnnlib import safe_pickle
from dnnlib.safe_pickle import DataDict, Refused, RefusedPickleError, StandIn

MAX_KEY_CHARS = 64
# The storage types torch pickles state dicts with, as little-endian dtypes.
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("b1"),
}


class _StorageType(StandIn):
    """A global such as `torch.FloatStorage`: only a persistent id may hold it."""

    __slots__ = ("label", "dtype")

    def __init__(self, label, dtype):
        self.label, self.dtype = label, dtype


class Storage(StandIn):
    """A storage named by a persistent id; its bytes come after the pickle."""

    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel


class Tensor(StandIn):
    """A strided view of a `Storage`: offset, size and stride in elements."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = size, stride


class _OrderedDict(DataDict):
    """`collections.OrderedDict`: a state dict, or the empty `backward_hooks`.
    A state dict's only attribute is `_metadata` (per-module versions for
    `load_state_dict`), which arrays do not need."""

    __slots__ = ()

    def __setstate__(self, state):
        if type(state) is not dict or set(state) - {"_metadata"}:
            raise Refused("refused attributes of an OrderedDict other than _metadata")


def _int_tuple(value, what):
    if type(value) is not tuple or len(value) > safe_pickle.MAX_NDIM:
        raise Refused(f"a tensor's {what} must be a tuple of <= 32 ints")
    if any(type(v) is not int or not 0 <= v <= safe_pickle.MAX_DIM for v in value):
        raise Refused(f"a tensor's {what} must hold ints in [0, {safe_pickle.MAX_DIM}]")
    return value


def _tensor(storage, offset, size, stride):
    # Checks a view against its storage (all in elements).
    if type(storage) is not Storage:
        raise Refused(
            f"a tensor must view a torch storage, not a {type(storage).__name__}"
        )
    if type(offset) is not int or not 0 <= offset <= storage.numel:
        raise Refused("a tensor's offset must be an int inside its storage")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride):
        raise Refused(f"a tensor of size {list(size)} has the stride {list(stride)}")
    if math.prod(max(n, 1) for n in size) > 2**60:  # numpy's bound, even if empty.
        raise Refused(f"a tensor of size {list(size)} is too large")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= storage.numel:
            raise Refused(
                f"a tensor of size {list(size)}, stride {list(stride)} and offset "
                f"{offset} reaches element {last} of a storage of {storage.numel}"
            )
    return Tensor(storage, offset, size, stride)


def _no_hooks(hooks):
    if hooks is not None and not (isinstance(hooks, _OrderedDict) and not hooks):
        raise Refused("refused a tensor with backward hooks")


def _rebuild_tensor(storage, offset, size, stride):
    # torch < 0.4.
    return _tensor(storage, offset, size, stride)


def _rebuild_tensor_v2(
    storage, offset, size, stride, requires_grad, hooks, metadata=None
):
    if type(requires_grad) is not bool:
        raise Refused("a tensor's requires_grad must be a bool")
    _no_hooks(hooks)
    if metadata:  # torch writes it only for conjugate or negative views.
        raise Refused("refused tensor metadata (conjugate or negative views)")
    return _tensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad, hooks):
    if type(data) is not Tensor or type(requires_grad) is not bool:
        raise Refused("a parameter must hold a tensor and a requires_grad bool")
    _no_hooks(hooks)
    return data


class StorageTable:
    """The persistent ids of one pickle: `(key -> Storage)`, checked."""

    def __init__(self, legacy, max_numel):
        self.legacy, self.max_numel, self.by_key = legacy, max_numel, {}

    def persistent_load(self, pid):
        # zip: ("storage", type, key, location, numel); legacy adds a view.
        length = 6 if self.legacy else 5
        if type(pid) is not tuple or len(pid) != length or pid[0] != "storage":
            raise Refused(
                f"refused a persistent id other than torch's storage tuple of {length}"
            )
        storage_type, key, location, numel = pid[1:5]
        if self.legacy and pid[5] is not None:
            raise Refused("refused a storage view (torch < 0.4 sliced storages)")
        if type(storage_type) is not _StorageType:
            raise Refused("a storage's type must be a torch storage type")
        if type(key) is not str or not 0 < len(key) <= MAX_KEY_CHARS:
            raise Refused(f"a storage key must be a string of 1 to {MAX_KEY_CHARS}")
        if not key.isascii() or not key.isprintable() or "/" in key:
            raise Refused(f"refused the storage key {safe_pickle.printable(key)}")
        if type(location) is not str or len(location) > MAX_KEY_CHARS:
            raise Refused("a storage location must be a short string")
        if type(numel) is not int or not 0 <= numel <= self.max_numel:
            raise Refused(
                f"a storage's element count must be an int in [0, {self.max_numel}]"
            )
        storage = self.by_key.setdefault(key, Storage(key, storage_type.dtype, numel))
        if (storage.dtype, storage.numel) != (storage_type.dtype, numel):
            raise Refused(f"storage {key} is named twice with different types or sizes")
        return storage

    def constructors(self):
        out = {
            ("collections", "OrderedDict"): _OrderedDict,
            ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        }
        for module in ("torch", "torch.cuda"):  # torch < 1.0 names CUDA storages.
            for name, dtype in STORAGE_DTYPES.items():
                out[(module, name)] = _StorageType(f"{module}.{name}", dtype)
        return out


class _Bounded:
    """A read-only view of the next `limit` bytes of `file` (reads stop there)."""

    def __init__(self, file, limit):
        self.file, self.left = file, limit

    def read(self, size=-1):
        data = self.file.read(self.left if size < 0 or size > self.left else size)
        self.left -= len(data)
        return data

    def readline(self):
        line = self.file.readline(self.left)
        self.left -= len(line)
        return line


def read_pickle(file, where, left, limit, storages=None):
    """One pickle from `file` (`left` bytes remain), at most `limit` bytes:
    plain data (header pickles), or with `storages` a state dict's tensors."""
    bounded = _Bounded(file, min(left, limit))
    try:
        if storages is None:
            return safe_pickle.load(bounded, where, {})
        return safe_pickle.load(
            bounded,
            where,
            storages.constructors(),
            leaves=(Tensor,),
            persistent_load=storages.persistent_load,
        )
    except RefusedPickleError:
        if bounded.left == 0 and left > limit:
            raise RefusedPickleError(
                where, f"a pickle longer than {limit} bytes"
            ) from None
        raise
