"""Hostile pickles for the loader tests, written opcode by opcode (names as in
`pickletools`). Each would crash, hang, recurse or run code in a loader that
trusts numpy's constructors; building them loads nothing."""

import io
import os
import pathlib
import pickle
import struct
import subprocess
import sys

MARK, TUPLE, REDUCE, BUILD, STOP, POP = b"(", b"t", b"R", b"b", b".", b"0"
EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, EMPTY_LIST = b")", b"\x81", b"}", b"]"
SETITEM, SETITEMS, APPENDS, LIST, TUPLE1 = b"s", b"u", b"e", b"l", b"\x85"
POINTER = b"\x41" * 8  # Read as a PyObject* by an object array.
TINY_D = {"resolution": 8, "num_channels": 3, "fmap_base": 16, "fmap_max": 16}
ROOT = pathlib.Path(__file__).resolve().parents[1]
REFUSED = 3  # The loader script's exit code for a ValueError.
LOADER = """
import sys
path, kind = sys.argv[1], sys.argv[2]
try:
    if kind == "network":
        from msg_stylegan_tf2.formats import legacy
        legacy.load_network_pkl(path)
    else:
        from datasets.classic_sources import cifar_batch, read_pickles
        where, batch = read_pickles(path, ["train"], "hint")["train"]
        cifar_batch(where, batch, "fine_labels", 100, "hint")
except ValueError as e:
    print(e)
    sys.exit(3)
"""


def load_in_subprocess(path, kind):
    """Loads `path` (kind "network": a network pickle; "cifar": a CIFAR-100
    folder) in a fresh Python, as the CLIs do; a crash stays there.

    Returns:
        The `subprocess.CompletedProcess` (text stdout/stderr).
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-c", LOADER, str(path), kind]
    # The timeout only guards against a hang; a refusal takes well under 10 s.
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def assert_refused_in_one_line(result, where, marker):
    """Exited with REFUSED (not a signal, not a traceback), printed one line
    that starts with `where`, and ran nothing that made `marker`."""
    assert result.returncode == REFUSED, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{where}: "), result.stdout
    assert not pathlib.Path(marker).exists()


def data(value):
    """Opcodes that push a plain `value` (no memo entries)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=3)
    pickler.fast = True
    pickler.dump(value)
    return buffer.getvalue()[2:-1]


def global_(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def call(func, *args):
    return func + MARK + b"".join(args) + TUPLE + REDUCE


def put(index):
    return b"r" + struct.pack("<I", index)


def get(index):
    return b"j" + struct.pack("<I", index)


def dict_(**entries):
    """A dict of str keys to values given as opcodes."""
    items = b"".join(data(key) + value for key, value in entries.items())
    return EMPTY_DICT + MARK + items + SETITEMS


def dtype(code, order=None, names=None, fields=None, itemsize=-1, flags=0):
    """numpy.dtype(code), then a BUILD of numpy's 8-tuple state if `order`."""
    out = call(global_("numpy", "dtype"), data(code), data(False), data(True))
    if order is None:
        return out
    state = [data(3), data(order), data(None), names or data(None)]
    state += [fields or data(None), data(itemsize), data(-1), data(flags)]
    return out + MARK + b"".join(state) + TUPLE + BUILD


F4 = dtype("f4", "<")


def reconstruct(shape, dtype_ops, raw):
    """numpy's protocol-2 array: _reconstruct, then BUILD (1, shape, ...)."""
    empty = call(
        global_("numpy.core.multiarray", "_reconstruct"),
        global_("numpy", "ndarray"),
        data((0,)),
        data(b"b"),
    )
    state = MARK + data(1) + data(shape) + dtype_ops + data(False) + raw + TUPLE
    return empty + state + BUILD


def object_array():
    """A 0-d object array whose element is a pointer taken from the bytes: an
    'O' dtype whose BUILD clears its object flags, given as buffer to ndarray."""
    cleared = dtype("O", "|", flags=0)
    return call(global_("numpy", "ndarray"), data(()), cleared, data(POINTER))


def object_array_by_state():
    """The same through _reconstruct + BUILD with raw bytes."""
    return reconstruct((), dtype("O", "|", flags=0), data(POINTER))


def out_of_bounds_fields():
    """A structured 8-byte dtype whose field lies a terabyte past the item."""
    fields = EMPTY_DICT + data("a") + MARK + F4 + data(1 << 40) + TUPLE + SETITEM
    void = dtype("V8", "|", names=data(("a",)), fields=fields, itemsize=8, flags=0)
    return reconstruct((1,), void, data(bytes(8)))


def void_array():
    return reconstruct((1,), dtype("V8", "|"), data(bytes(8)))


def short_bytes():
    """A float32 array of 1000 elements over 8 bytes (protocol 5's path)."""
    frombuffer = global_("numpy._core.numeric", "_frombuffer")
    return call(frombuffer, data(bytes(8)), F4, data((1000,)), data("C"))


def huge_shape():
    return reconstruct((1 << 40, 1 << 40), F4, data(b""))


def shared_lists(depth):
    """[L, L] nested `depth` times over [0.0]: 2**depth values in ~10*depth bytes."""
    out = data([0.0]) + put(0) + POP
    for level in range(1, depth + 1):
        out += EMPTY_LIST + MARK + get(level - 1) * 2 + APPENDS + put(level) + POP
    return out + get(depth)


def deep_lists(depth):
    return MARK * depth + LIST * depth


def deep_tuple_key(depth):
    """A dict whose key is a tuple nested `depth` deep (hashing recurses)."""
    return EMPTY_DICT + data(None) + TUPLE1 * depth + data(1) + SETITEM


def self_list():
    return EMPTY_LIST + put(0) + MARK + get(0) + APPENDS


def payload(marker):
    """os.system('touch marker'), as os.system pickles on Linux."""
    return call(global_("posix", "system"), data(f"touch {marker}"))


def network(state, memo=None):
    out = global_("dnnlib.tflib.network", "Network") + EMPTY_TUPLE + NEWOBJ
    return out + (put(memo) if memo is not None else b"") + state + BUILD


def network_state(**entries):
    """A Network state dict (a tiny D_basic) with entries replaced by opcodes."""
    defaults = dict(
        version=data(3),
        name=data("D"),
        static_kwargs=data(TINY_D),
        components=data({}),
        build_module_src=data("raise SystemExit('source ran')"),
        build_func_name=data("training.networks_stylegan.D_basic"),
        variables=data([]),
    )
    defaults.update(entries)
    return dict_(**{k: v for k, v in defaults.items() if v is not None})


def networks(first):
    """A protocol-2 (G, D, Gs) pickle whose first network's state is `first`."""
    d = network(network_state())
    return b"\x80\x02" + MARK + network(first) + d + d + TUPLE + STOP


def variable(value):
    """A variables list holding ("w", value)."""
    return EMPTY_LIST + MARK + MARK + data("w") + value + TUPLE + APPENDS


def network_attacks(marker):
    """{name: pickle bytes} of network pickles; each must be refused in one
    line naming the file. Unsafe arrays sit in `build_func_name`, which a
    trusting loader formats into its error message (reading the element)."""
    attacks = {
        "object array from pointer bytes": network_state(
            build_func_name=object_array()
        ),
        "object array by state": network_state(build_func_name=object_array_by_state()),
        "dtype fields out of bounds": network_state(
            build_func_name=out_of_bounds_fields()
        ),
        "void dtype": network_state(build_func_name=void_array()),
        "shape larger than its bytes": network_state(variables=variable(short_bytes())),
        "huge shape": network_state(variables=variable(huge_shape())),
        "shared nested lists": network_state(variables=variable(shared_lists(40))),
        "deeply nested lists": network_state(variables=variable(deep_lists(100_000))),
        "deep tuple as dict key": network_state(static_kwargs=deep_tuple_key(200_000)),
        "missing name": network_state(
            components=dict_(synthesis=network(network_state(name=None)))
        ),
        "option of a non-option type": network_state(
            static_kwargs=dict_(
                **{k: data(v) for k, v in TINY_D.items()} | {"fmap_max": data({"a": 1})}
            )
        ),
        "option of the wrong kind": network_state(
            static_kwargs=data({**TINY_D, "fmap_base": "large"})
        ),
        "system call in components": network_state(
            components=dict_(synthesis=payload(marker))
        ),
        "BUILD on an allowed global": network_state(
            name=global_("numpy", "dtype") + dict_(__defaults__=data(("O",))) + BUILD
        ),
    }
    out = {name: networks(state) for name, state in attacks.items()}
    # The first network is one of its own components.
    own = network_state(components=dict_(synthesis=get(7)))
    d = network(network_state())
    out["self-referencing component"] = (
        b"\x80\x02" + MARK + network(own, memo=7) + d + d + TUPLE + STOP
    )
    return out


def cifar_attacks(marker):
    """{name: pickle bytes} of CIFAR-100 `train` batches."""
    data_ok = data(bytes(3072))
    uint8 = dtype("u1", "|")
    images = reconstruct((1, 3072), uint8, data_ok)

    def batch(labels, images=images):
        return b"\x80\x02" + dict_(data=images, fine_labels=labels) + STOP

    return {
        "object array from pointer bytes": batch(
            EMPTY_LIST + MARK + object_array() + APPENDS
        ),
        "dtype fields out of bounds": batch(
            EMPTY_LIST + MARK + out_of_bounds_fields() + APPENDS
        ),
        "shared nested lists": batch(shared_lists(40)),
        "self-containing list": batch(self_list()),
        "deep tuple as dict key": batch(deep_tuple_key(200_000)),
        "shape larger than its bytes": batch(data([0]), images=short_bytes()),
        "system call": batch(payload(marker)),
    }
