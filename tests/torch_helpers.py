"""PyTorch checkpoints written without torch, for tests: torch's zip layout
(and the legacy stream) from numpy arrays, opcode by opcode as `torch.save`
writes them (pickle protocol 2, storages as persistent ids
`("storage", torch.<T>Storage, key, location, numel)`), plus the pieces to
write hostile ones and a stand-in for torchvision's VGG16.

Checked once against torch 2.13 (CPU) in a scratch environment outside the
project: `torch.load(path, weights_only=True)` reads what `write_torch_zip`,
`write_torch_legacy` and `write_vgg16_stand_in` write back equal to the arrays,
names and order included (also with `python2=True`). torch is no dependency:
nothing here imports it.
"""

import struct
import zipfile

import numpy as np
from pickle_attacks import MARK, REDUCE, TUPLE, data, global_

EMPTY_TUPLE, NONE, NEWFALSE, STOP = b")", b"N", b"\x89", b"."
SETITEMS, APPENDS, EMPTY_LIST, BINPERSID = b"u", b"e", b"]", b"Q"
PROTO_2 = b"\x80\x02"
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_TYPES = {
    "float64": "DoubleStorage",
    "float32": "FloatStorage",
    "float16": "HalfStorage",
    "int64": "LongStorage",
    "int32": "IntStorage",
    "int16": "ShortStorage",
    "int8": "CharStorage",
    "uint8": "ByteStorage",
    "bool": "BoolStorage",
}
# torchvision's vgg16: the conv layers' indices in `features`, by block.
VGG16_CONVS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
VGG16_WIDTHS = (64, 128, 256, 512, 512)
SMALL_WIDTHS = (4, 8, 8, 16, 16)


def text(value, python2=False):
    """A string as Python 3 (BINUNICODE) or Python 2 (SHORT_BINSTRING) writes it."""
    if python2:
        raw = value.encode("ascii")
        return b"U" + bytes([len(raw)]) + raw
    return data(value)


def storage_id(storage_type, key, numel, legacy=False, location="cpu", python2=False):
    """Opcodes pushing a storage: torch's persistent id (legacy adds a None view)."""
    parts = [text("storage", python2), global_("torch", storage_type)]
    parts += [text(key, python2), text(location, python2), data(numel)]
    return MARK + b"".join(parts) + (NONE if legacy else b"") + TUPLE + BINPERSID


def tensor(storage, offset, size, stride, rebuild="_rebuild_tensor_v2", hooks=None):
    """Opcodes calling torch._utils.<rebuild>(storage, offset, size, stride, ...).

    `_rebuild_tensor_v2` gets requires_grad False and `hooks` (default: an empty
    OrderedDict, as torch >= 1.0 writes); `_rebuild_tensor` (torch < 0.4) only
    the four.
    """
    args = storage + data(offset) + data(tuple(size)) + data(tuple(stride))
    if rebuild == "_rebuild_tensor_v2":
        empty = global_("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
        args += NEWFALSE + (empty if hooks is None else hooks)
    return global_("torch._utils", rebuild) + MARK + args + TUPLE + REDUCE


def state_dict(entries, python2=False):
    """A pickle of an OrderedDict of `(name, value opcodes)` pairs, with
    SETITEMS (Python 3) or a list of [name, value] pairs (Python 2)."""
    ordered = global_("collections", "OrderedDict")
    if python2:
        pairs = b"".join(
            EMPTY_LIST + MARK + text(name, True) + value + APPENDS
            for name, value in entries
        )
        body = ordered + MARK + EMPTY_LIST + MARK + pairs + APPENDS + TUPLE + REDUCE
    else:
        items = b"".join(data(name) + value for name, value in entries)
        body = ordered + EMPTY_TUPLE + REDUCE + MARK + items + SETITEMS
    return PROTO_2 + body + STOP


def contiguous(arrays, legacy=False, python2=False, location="cpu"):
    """(pickle, {key: bytes}) for `{name: array}`, one storage per array."""
    entries, storages = [], {}
    for index, (name, array) in enumerate(arrays.items()):
        array = np.array(array, order="C")  # ascontiguousarray makes 0-d 1-d.
        key = str(index) if not legacy else str(140000000000000 + 64 * index)
        storages[key] = array.astype(array.dtype.newbyteorder("<")).tobytes()
        storage = storage_id(
            STORAGE_TYPES[array.dtype.name], key, array.size, legacy, location, python2
        )
        stride = [s // array.itemsize for s in array.strides]
        entries.append((name, tensor(storage, 0, array.shape, stride)))
    return state_dict(entries, python2), storages


def write_zip(path, pickle_bytes, storages, name="archive", records=None):
    """torch's zip layout: `<name>/data.pkl`, `byteorder`, `data/<key>`, `version`;
    `records` adds or replaces records (None removes one)."""
    members = {"data.pkl": pickle_bytes, "byteorder": b"little"}
    members.update({f"data/{key}": raw for key, raw in storages.items()})
    members["version"] = b"3\n"
    members.update(records or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for record, raw in members.items():
            if raw is not None:
                archive.writestr(zipfile.ZipInfo(f"{name}/{record}"), raw)
    return path


def write_legacy(path, pickle_bytes, storages, header=None, keys=None):
    """The legacy stream: magic, protocol version and system info pickles (or
    `header` bytes), the main pickle, the keys' list, then each storage as an
    int64 element count (`(count, bytes)` values) or raw bytes (bytes values)."""
    if header is None:
        info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True}
        info["type_sizes"] = {"short": 2, "int": 4, "long": 8}
        header = b"".join(
            PROTO_2 + data(value) + STOP
            for value in (MAGIC_NUMBER, PROTOCOL_VERSION, info)
        )
    keys = list(storages) if keys is None else keys
    out = header + pickle_bytes + PROTO_2 + data(keys) + STOP
    for value in storages.values():
        if isinstance(value, tuple):
            count, raw = value
            value = struct.pack("<q", count) + raw
        out += value
    with open(path, "wb") as f:
        f.write(out)
    return path


def write_torch_zip(path, arrays, name="archive"):
    """`{name: array}` as `torch.save(state_dict, path)` writes it (torch >= 1.6)."""
    pickle_bytes, storages = contiguous(arrays)
    return write_zip(path, pickle_bytes, storages, name)


def write_torch_legacy(path, arrays, python2=False, location="cpu"):
    """`{name: array}` in the legacy stream (torch < 1.6, or
    `_use_new_zipfile_serialization=False`)."""
    pickle_bytes, storages = contiguous(arrays, True, python2, location)
    counts = {}
    for (key, raw), array in zip(storages.items(), arrays.values(), strict=True):
        counts[key] = (np.asarray(array).size, raw)
    return write_legacy(path, pickle_bytes, counts)


def vgg16_shapes(widths=SMALL_WIDTHS, hidden=32, classes=10):
    """`{name: shape}` of torchvision's `vgg16()` state dict, in torch layouts
    (conv OIHW, linear [out, in]).

    Args:
        widths: channels of the five conv blocks; `VGG16_WIDTHS` is the real net.
        hidden: width of classifier.0 and classifier.3 (4096 in the real net).
        classes: outputs of classifier.6 (1000 in the real net).
    """
    out, channels = {}, 3
    for width, convs in zip(widths, VGG16_CONVS, strict=True):
        for index in convs:
            out[f"features.{index}.weight"] = (width, channels, 3, 3)
            out[f"features.{index}.bias"] = (width,)
            channels = width
    sizes = [channels * 7 * 7, hidden, hidden, classes]
    for index, n_in, n_out in zip((0, 3, 6), sizes, sizes[1:], strict=False):
        out[f"classifier.{index}.weight"] = (n_out, n_in)
        out[f"classifier.{index}.bias"] = (n_out,)
    return out


def vgg16_arrays(widths=SMALL_WIDTHS, hidden=32, classes=10, seed=0):
    """`vgg16_shapes` filled with random float32 weights (He-scaled normal) and
    small random biases, from numpy's generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in vgg16_shapes(widths, hidden, classes).items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if len(shape) > 1 else 0.01
        out[name] = rng.normal(0.0, scale, shape).astype(np.float32)
    return out


def write_vgg16_stand_in(path, widths=SMALL_WIDTHS, hidden=32, classes=10, seed=0):
    """A stand-in for torchvision's `vgg16-397923af.pth` with random weights,
    in torch's zip layout (see `vgg16_arrays`; at the default small widths a
    few hundred kB).

    Returns:
        The arrays written, `{name: array}`.
    """
    arrays = vgg16_arrays(widths, hidden, classes, seed)
    write_torch_zip(path, arrays)
    return arrays
