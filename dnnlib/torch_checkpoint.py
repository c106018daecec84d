"""PyTorch state dicts (`.pth`) read as numpy arrays, without torch and without
running anything from the file.

Both layouts `torch.save` writes: the zip archive (torch >= 1.6: `<name>/data.pkl`
plus one uncompressed member `<name>/data/<key>` per storage) and the legacy
stream (magic number, protocol version and system info pickles, the main pickle,
the list of storage keys, then each storage as an int64 element count and its
bytes). The pickles go through dnnlib/safe_pickle.py with the few globals a state
dict needs, each mapped to a checking constructor of dnnlib/torch_pickle.py;
the only persistent ids are torch's storage tuples. Here: both layouts, each
storage sized against the bytes that hold it, and the arrays of the tensor
views. Only little-endian files are read. Errors are one-line
`RefusedPickleError`s.
"""

import io
import math
import os
import struct
import zipfile

import numpy as np

from dnnlib import safe_pickle
from dnnlib.cache import one_line
from dnnlib.safe_pickle import RefusedPickleError
from dnnlib.torch_pickle import StorageTable, Tensor, read_pickle

# torch/serialization.py's legacy header.
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
# Caps: one storage (a zip member or a legacy block), and a pickle (the tensor
# table of a state dict is a few hundred bytes per tensor).
MAX_STORAGE_BYTES = 2 * 2**30
MAX_PICKLE_BYTES = 64 * 2**20
CHUNK_BYTES = 2**20


def _pickle(file, where, left, storages=None):
    # One pickle within the cap (read when called: tests lower it).
    return read_pickle(file, where, left, MAX_PICKLE_BYTES, storages)


def _read_exactly(read, nbytes, where, what):
    # `nbytes` from `read(n)` in bounded chunks, as a uint8 array.
    buffer = np.empty(nbytes, np.uint8)
    done = 0
    while done < nbytes:
        chunk = read(min(CHUNK_BYTES, nbytes - done))
        if not chunk:
            raise RefusedPickleError(
                where, f"{what} ends after {done} of its {nbytes} bytes (truncated?)"
            )
        buffer[done : done + len(chunk)] = np.frombuffer(chunk, np.uint8)
        done += len(chunk)
    return buffer


def _check_nbytes(where, storage, nbytes, what):
    need = storage.numel * storage.dtype.itemsize
    if nbytes != need:
        raise RefusedPickleError(
            where,
            f"{what} holds {nbytes} bytes; its pickle says {storage.numel} elements "
            f"of {storage.dtype.name} ({need} bytes)",
        )
    if need > MAX_STORAGE_BYTES:
        raise RefusedPickleError(
            where, f"{what} is {need} bytes, more than {MAX_STORAGE_BYTES}"
        )


class _Zip:
    """The records of torch's zip layout, each read once, uncompressed, within
    its cap, and all together within the file's size."""

    def __init__(self, file, where, file_size):
        self.where, self.left = where, file_size
        try:
            self.archive = zipfile.ZipFile(file)
            infos = self.archive.infolist()
        except Exception as e:  # zipfile fails on a corrupt archive in many ways.
            raise RefusedPickleError(
                where,
                f"not a readable zip archive, truncated or corrupt "
                f"({type(e).__name__}: {one_line(e)})",
            ) from None
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise RefusedPickleError(where, "its zip archive names a member twice")
        # torch's reader takes the first member's folder as the archive's name.
        first = names[0] if names else ""
        self.prefix = first.split("/")[0] + "/" if "/" in first else "?"
        self.members = {
            info.filename[len(self.prefix) :]: info
            for info in infos
            if info.filename.startswith(self.prefix)
        }
        if "data.pkl" not in self.members:
            raise RefusedPickleError(
                where, "a zip archive without torch's <name>/data.pkl"
            )

    def read(self, record, limit):
        """The record's bytes as a uint8 array; at most `limit` of them."""
        what = f"member {self.prefix}{record}"
        info = self.members.get(record)
        if info is None:
            raise RefusedPickleError(self.where, f"no {what}")
        if info.compress_type != zipfile.ZIP_STORED:
            raise RefusedPickleError(
                self.where,
                f"{what} is compressed (method {info.compress_type}); torch writes "
                "its members uncompressed",
            )
        if info.compress_size != info.file_size:
            raise RefusedPickleError(self.where, f"{what} declares two sizes")
        if info.file_size > limit:
            raise RefusedPickleError(
                self.where, f"{what} declares {info.file_size} bytes, more than {limit}"
            )
        self.left -= info.file_size
        if self.left < 0:
            raise RefusedPickleError(
                self.where, "its members declare more bytes than the file holds"
            )
        try:
            with self.archive.open(info) as member:
                data = _read_exactly(member.read, info.file_size, self.where, what)
                if member.read(1):  # zipfile checks the CRC at the end.
                    raise RefusedPickleError(self.where, f"{what} is too long")
        except RefusedPickleError:
            raise
        except Exception as e:  # As above, and encrypted or unknown versions.
            raise RefusedPickleError(
                self.where, f"{what}: {type(e).__name__}: {one_line(e)}"
            ) from None
        return data


def _read_zip(file, where, file_size):
    """(state, {key: 1-D array}) from torch's zip layout."""
    archive = _Zip(file, where, file_size)
    if "byteorder" in archive.members:  # torch >= 1.13 writes it.
        if archive.read("byteorder", 16).tobytes() != b"little":
            raise RefusedPickleError(
                where, "only little-endian checkpoints can be read"
            )
    data = archive.read("data.pkl", MAX_PICKLE_BYTES).tobytes()
    storages = StorageTable(False, MAX_STORAGE_BYTES)
    state = _pickle(io.BytesIO(data), where, len(data), storages)
    arrays = {}
    for key, storage in storages.by_key.items():
        record = f"data/{key}"
        info = archive.members.get(record)
        if info is not None:
            _check_nbytes(
                where, storage, info.file_size, f"member {archive.prefix}{record}"
            )
        arrays[key] = archive.read(record, MAX_STORAGE_BYTES).view(storage.dtype)
    return state, arrays


def _read_legacy(file, where, file_size):
    """(state, {key: 1-D array}) from torch's legacy stream."""

    def left():
        return file_size - file.tell()

    try:
        magic = _pickle(file, where, min(left(), 64))
    except RefusedPickleError:
        magic = None
    if magic != MAGIC_NUMBER:
        raise RefusedPickleError(
            where,
            "not a torch checkpoint: neither torch's zip archive nor its legacy "
            "magic number (torch < 0.1.10 tar files are not read)",
        )
    version = _pickle(file, where, left())
    if version != PROTOCOL_VERSION:
        shown = f" {version}" if type(version) is int and abs(version) < 2**63 else ""
        raise RefusedPickleError(
            where, f"unknown legacy protocol version{shown} (torch writes 1001)"
        )
    info = _pickle(file, where, left())
    if type(info) is not dict or info.get("little_endian") is not True:
        raise RefusedPickleError(where, "only little-endian checkpoints can be read")
    storages = StorageTable(True, MAX_STORAGE_BYTES)
    state = _pickle(file, where, left(), storages)
    keys = _pickle(file, where, left())
    if (
        type(keys) is not list
        or any(type(key) is not str for key in keys)
        or len(set(keys)) != len(keys)
        or set(keys) != set(storages.by_key)
    ):
        raise RefusedPickleError(
            where,
            "its list of storage keys does not match the storages its pickle names",
        )
    arrays = {}
    for key in keys:
        storage = storages.by_key[key]
        what = f"storage {key}"
        raw = file.read(8)
        if len(raw) < 8:
            raise RefusedPickleError(where, f"{what} is missing (truncated?)")
        (count,) = struct.unpack("<q", raw)
        if count != storage.numel:
            raise RefusedPickleError(
                where,
                f"{what} holds {count} elements; its pickle says {storage.numel}",
            )
        nbytes = count * storage.dtype.itemsize
        if nbytes > left():
            raise RefusedPickleError(
                where, f"{what} needs {nbytes} bytes; {left()} are left (truncated?)"
            )
        _check_nbytes(where, storage, nbytes, what)
        arrays[key] = _read_exactly(file.read, nbytes, where, what).view(storage.dtype)
    return state, arrays


def _c_strides(size):
    # Row-major strides in elements.
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= n
    return strides[::-1]


def _array(tensor, storage, whole, budget, where):
    """(array, bytes copied) for a checked view of a 1-D storage array."""
    size, stride, count = tensor.size, tensor.stride, math.prod(tensor.size)
    if (
        tensor.offset == 0
        and count == storage.size
        and tensor.storage.key not in whole
        and all(
            n == 1 or s == c
            for n, s, c in zip(size, stride, _c_strides(size), strict=True)
        )
    ):
        whole.add(tensor.storage.key)  # The storage itself, used once.
        return storage.reshape(size), 0
    # A view: a copy; all copies together at most `budget` bytes.
    nbytes = count * storage.itemsize
    if nbytes > budget:
        raise RefusedPickleError(
            where, "copies of its tensor views would take more bytes than the file"
        )
    if count == 0:
        return np.zeros(size, storage.dtype), 0
    view = np.lib.stride_tricks.as_strided(
        storage[tensor.offset :],
        shape=size,
        strides=[s * storage.itemsize for s in stride],
        writeable=False,
    )
    return np.array(view), nbytes


def _arrays(state, buffers, where, budget):
    """`{name: array}` for a state dict of tensors."""
    if not isinstance(state, dict):
        raise RefusedPickleError(
            where, f"not a state dict: it holds a {type(state).__name__}, not a dict"
        )
    out, whole = {}, set()
    for name, tensor in state.items():
        if type(name) is not str or type(tensor) is not Tensor:
            kind = "dict" if isinstance(tensor, dict) else type(tensor).__name__
            raise RefusedPickleError(
                where,
                f"not a state dict: {safe_pickle.printable(name)} maps to a {kind}, "
                "not a tensor",
            )
        array, copied = _array(
            tensor, buffers[tensor.storage.key], whole, budget, where
        )
        budget -= copied
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        out[name] = array
    return out


def load_state_dict(path) -> dict[str, np.ndarray]:
    """Reads a PyTorch state dict saved by `torch.save` (zip or legacy layout).

    Args:
        path: the `.pth` file.

    Returns:
        `{name: array}` in the file's order, e.g. `"features.0.weight"` -> float32
        `[64, 3, 3, 3]` in torch's layout (OIHW for convs, `[out, in]` for
        linear layers), with the stored dtype in native byte order.

    Raises:
        RefusedPickleError: (a ValueError) one line, `<path>: <what is wrong>`.
    """
    where = str(path)
    try:
        file = open(path, "rb")
    except OSError as e:
        raise RefusedPickleError(where, f"cannot read it ({e.strerror or e})") from None
    with file:
        file_size = os.fstat(file.fileno()).st_size
        if file.read(4) == b"PK\x03\x04":
            file.seek(0)
            state, buffers = _read_zip(file, where, file_size)
        else:
            file.seek(0)
            state, buffers = _read_legacy(file, where, file_size)
    return _arrays(state, buffers, where, file_size)
