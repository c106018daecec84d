"""Readers and checks for the formats the classic datasets ship in (pickles, idx).

Nothing here runs code from a file: pickles load through `dnnlib.safe_pickle`
(data and numeric arrays only, built by its own constructors, bounded in size).
"""

import collections
import concurrent.futures
import gzip
import importlib
import os
import pathlib
import struct
import tarfile

import numpy as np

from dnnlib import safe_pickle


class MissingPackageError(ImportError, ValueError):
    """An optional package a command needs is not installed (one-line message)."""


def import_optional(module, command):
    """Imports an optional dependency, or says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingPackageError(
            f"{command} needs the {module} package: python -m pip install {module}"
        ) from e


def load_pickle(data, where, hint=None):
    """Unpickles bytes with `dnnlib.safe_pickle` (Python 2 strings read as latin1).

    Returns:
        dicts, lists, strings, bytes, numbers and numeric numpy arrays only.

    Raises:
        ValueError: one line naming `where` (and then saying `hint`), for a
            refused global, dtype or structure, or a corrupt pickle.
    """
    try:
        return safe_pickle.loads(data, where, encoding="latin1")
    except safe_pickle.RefusedPickleError as e:
        ending = f"; {hint}" if hint else "."
        raise ValueError(f"{where}: cannot unpickle ({e.reason}){ending}") from e


def read_pickles(source, names, hint):
    """Loads the pickle files `names` from a folder or straight from a tar archive.

    In an archive a file is found by its base name (CIFAR keeps its files in one
    top folder such as `cifar-10-batches-py/`); nothing is extracted to disk.

    Returns:
        `{name: (where, object)}`, `where` naming the file for error messages.

    Raises:
        ValueError: naming the missing or unreadable file and saying what to do.
    """
    source = pathlib.Path(source)
    found = {}
    if source.is_dir():
        for name in names:
            if (source / name).is_file():
                found[name] = (str(source / name), (source / name).read_bytes())
    elif source.is_file():
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    name = pathlib.PurePosixPath(member.name).name
                    if member.isfile() and name in names and name not in found:
                        data = tar.extractfile(member).read()
                        found[name] = (f"{source}/{member.name}", data)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ValueError(
                f"{source}: not a readable tar archive ({e}); {hint}"
            ) from e
    else:
        raise ValueError(f"{source}: no such file or directory; {hint}")
    for name in names:
        if name not in found:
            raise ValueError(f"{source}: missing {name}; {hint}")
    loaded = {}
    for name, (where, data) in found.items():
        loaded[name] = (where, load_pickle(data, where, hint))
    return loaded


def read_idx(path, ndim, hint):
    """Reads a gzipped idx file of uint8 (MNIST's format).

    Returns:
        uint8 array with the dimensions in the file's header.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; {hint}")
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .gz file ({e}); {hint}") from e
    # Header: two zero bytes, type 0x08 (uint8), the number of dimensions, then
    # each dimension as a big-endian uint32.
    start = 4 + 4 * ndim
    if len(data) < start or data[:4] != bytes([0, 0, 8, ndim]):
        raise ValueError(
            f"{path}: not an idx file of uint8 with {ndim} dimension(s); {hint}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:start])
    body = np.frombuffer(data, dtype=np.uint8, offset=start)
    if body.size != int(np.prod(dims)):
        raise ValueError(
            f"{path}: holds {body.size} values but its header says {list(dims)}; "
            f"the file is truncated or corrupt. {hint}"
        )
    return body.reshape(dims)


def describe(value):
    """`dtype [shape]` of an array, else the type name, for error messages."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {list(value.shape)}"
    return type(value).__name__


def check_classes(labels, count, num_classes, where):
    """Checks class indices: `count` integers in [0, num_classes); returns them."""
    labels = np.asarray(labels)
    if labels.shape != (count,) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{where}: labels must be {count} integers (one per image). "
            f"Received: {describe(labels)}"
        )
    if count and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{where}: labels must lie in [0, {num_classes - 1}]. "
            f"Received: [{labels.min()}, {labels.max()}]"
        )
    return labels


def cifar_batch(where, batch, label_key, num_classes, hint):
    """Checks a CIFAR python batch (dict: `data` uint8 `[N, 3072]` of CHW rows,
    class labels under `label_key`).

    Returns:
        images uint8 `[N, 32, 32, 3]` and class indices `[N]`.
    """
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        raise ValueError(
            f"{where}: expected a dict with 'data' and '{label_key}'; {hint}"
        )
    data = batch["data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
    ):
        raise ValueError(
            f"{where}: 'data' must be uint8 [N, 3072]. Received: {describe(data)}"
        )
    labels = check_classes(batch[label_key], len(data), num_classes, where)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def ordered_map(function, items, num_threads=None, in_flight=None):
    """Yields `function(item)` for each item, in order, computing ahead on threads.

    At most `in_flight` results wait at a time, so memory stays bounded however
    many items there are. The first exception is raised in order.
    """
    num_threads = num_threads or min(16, os.cpu_count() or 1)
    in_flight = in_flight or 4 * num_threads
    pool = concurrent.futures.ThreadPoolExecutor(num_threads)
    pending = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class NCHWAsHWC:
    """Reads a `[N, C, H, W]` array-like (e.g. an HDF5 dataset) image by image,
    each as `[H, W, C]`."""

    def __init__(self, array):
        self.array = array

    def __len__(self):
        return self.array.shape[0]

    def __getitem__(self, index):
        return np.transpose(self.array[index], [1, 2, 0])
