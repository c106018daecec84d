"""dnnlib.torch_checkpoint: state dicts written by torch 2.13 (zip, legacy, and
torch < 0.4's `_rebuild_tensor`) load as saved; files written without torch
(tests/torch_helpers.py) round-trip; hostile files are refused in one line that
names the file."""

import pathlib
import struct
import zipfile

import numpy as np
import pytest
import torch_helpers as th
from pickle_attacks import BUILD, MARK, REDUCE, TUPLE, call, data, global_, payload

from dnnlib import safe_pickle, torch_checkpoint
from dnnlib.safe_pickle import RefusedPickleError

FIXTURES = pathlib.Path(__file__).parent / "data" / "torch"
F4 = b"FloatStorage"


def expected():
    with np.load(FIXTURES / "expected.npz") as npz:
        return {name: npz[name] for name in npz.files}


def assert_same(got, want):
    assert list(got) == list(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        assert got[name].flags.writeable and got[name].dtype.isnative, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


@pytest.mark.parametrize("name", ["zip", "legacy", "legacy_rebuild_tensor"])
def test_checkpoints_written_by_torch_load_as_saved(name):
    got = torch_checkpoint.load_state_dict(FIXTURES / f"{name}.pth")
    assert_same(got, expected())
    assert got["weight"].shape == (4, 3, 3, 3)  # OIHW, as stored.
    # Views are copies; a storage used by one whole tensor is not copied twice.
    assert not np.shares_memory(got["transposed"], got["offset_view"])


def all_dtypes():
    rng = np.random.default_rng(0)
    out = {
        code: rng.integers(-50, 50, (2, 3)).astype(code)
        for code in ("f8", "f4", "f2", "i8", "i4", "i2", "i1")
    }
    out["u1"], out["bool"] = np.array([0, 255], np.uint8), np.array([True, False])
    out["0-d"], out["empty"] = np.array(1.5, np.float32), np.zeros((0, 4), np.float32)
    return out


def test_files_written_without_torch_round_trip(tmp_path):
    arrays = all_dtypes()
    for path in (
        th.write_torch_zip(tmp_path / "a.pth", arrays),
        th.write_torch_legacy(tmp_path / "b.pth", arrays),
        th.write_torch_legacy(tmp_path / "c.pth", arrays, True, "cuda:0"),
    ):
        assert_same(torch_checkpoint.load_state_dict(path), arrays)


def test_vgg16_stand_in_has_torchvision_names(tmp_path):
    arrays = th.write_vgg16_stand_in(tmp_path / "vgg16.pth", seed=3)
    got = torch_checkpoint.load_state_dict(tmp_path / "vgg16.pth")
    assert_same(got, arrays)
    convs = [i for block in th.VGG16_CONVS for i in block]
    names = [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]
    names += [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert list(got) == names
    assert got["features.0.weight"].shape == (4, 3, 3, 3)
    assert got["features.28.weight"].shape == (16, 16, 3, 3)
    assert got["classifier.0.weight"].shape == (32, 16 * 7 * 7)
    assert got["classifier.6.bias"].shape == (10,)
    full = th.vgg16_shapes(th.VGG16_WIDTHS, hidden=4096, classes=1000)
    assert list(full) == names and full["classifier.0.weight"] == (4096, 25088)
    # torchvision's documented parameter count of vgg16.
    assert sum(np.prod(shape) for shape in full.values()) == 138_357_544


# Hostile files.


def refused(path, message):
    with pytest.raises(RefusedPickleError) as info:
        torch_checkpoint.load_state_dict(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    assert message in text, text
    return text


def storage(numel=4, key="0", type_=F4, legacy=False):
    return th.storage_id(type_.decode(), key, numel, legacy)


def zip_with(tmp_path, entries, storages=None, **kwargs):
    """A zip checkpoint whose state dict holds `entries` (name -> opcodes)."""
    raw = th.state_dict(list(entries.items()))
    if storages is None:
        storages = {"0": bytes(16)}
    return th.write_zip(tmp_path / "x.pth", raw, storages, **kwargs)


@pytest.mark.parametrize(
    "value, message",
    [
        (th.tensor(storage(10), 0, (10,), (1,)), "holds 16 bytes; its pickle says 10"),
        (th.tensor(storage(), 2, (3,), (1,)), "reaches element 4 of a storage of 4"),
        (th.tensor(storage(), 0, (2, 2), (3, 1)), "reaches element 4 of a storage of"),
        (th.tensor(storage(), 5, (0,), (1,)), "offset must be an int inside its"),
        (th.tensor(storage(), -1, (1,), (1,)), "offset must be an int inside its"),
        (th.tensor(storage(), 0, (-1,), (1,)), "size must hold ints in [0, "),
        (th.tensor(storage(), 0, (1,), (-1,)), "stride must hold ints in [0, "),
        (th.tensor(storage(), 0, (2**41,), (0,)), "size must hold ints in [0, "),
        (th.tensor(storage(), 0, (1,) * 33, (1,) * 33), "a tuple of <= 32 ints"),
        (th.tensor(storage(), 0, (2**40, 2**40, 0), (0,) * 3), "is too large"),
        (th.tensor(storage(), 0, (2,), (1, 1)), "size [2] has the stride [1, 1]"),
        (th.tensor(storage(-4), 0, (1,), (1,)), "element count must be an int in"),
        (th.tensor(storage(2**40), 0, (1,), (1,)), "element count must be an int in"),
        (th.tensor(storage(2**29, type_=b"DoubleStorage"), 0, (1,), (1,)), "holds 16"),
        (th.tensor(data(1.0), 0, (1,), (1,)), "must view a torch storage, not a float"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_storages_and_views_are_sized(tmp_path, value, message):
    refused(zip_with(tmp_path, {"w": value}), message)


def test_a_view_copy_cannot_exceed_the_file(tmp_path):
    # A 1-element storage repeated 2**30 times by a stride of 0.
    big = th.tensor(storage(1), 0, (2**30,), (0,))
    path = zip_with(tmp_path, {"w": big}, {"0": bytes(4)})
    refused(path, "copies of its tensor views would take more bytes than the file")
    small = th.tensor(storage(1), 0, (3,), (0,))
    path = zip_with(tmp_path, {"w": small}, {"0": struct.pack("<f", 2.5)})
    np.testing.assert_array_equal(
        torch_checkpoint.load_state_dict(path)["w"], [2.5] * 3
    )


@pytest.mark.parametrize(
    "value, message",
    [
        (payload("/nonexistent/x"), "refused to load the global posix.system;"),
        (call(global_("torch.nn", "Module")), "global torch.nn.Module;"),
        (call(global_("torch._utils", "_rebuild_qtensor")), "torch._utils._rebuild_q"),
        (call(global_("numpy", "dtype"), data("f4")), "global numpy.dtype;"),
        (call(global_("torch", "FloatStorage"), data(4)), "refused a call of a _Stor"),
        (global_("torch", "FloatStorage"), "refused a bare torch.FloatStorage where"),
        (global_("torch._utils", "_rebuild_tensor_v2"), "refused a bare function"),
        (
            th.tensor(storage(), 0, (1,), (1,), hooks=payload("/nonexistent/x")),
            "global posix.system;",
        ),
        (
            th.tensor(storage(), 0, (1,), (1,), hooks=data({"a": 1})),
            "refused a tensor with backward hooks",
        ),
        (
            global_("torch._utils", "_rebuild_tensor_v2")
            + MARK
            + storage()
            + data(0)
            + data((1,)) * 2
            + data(False)
            + data(None)
            + data({"neg": True})
            + TUPLE
            + REDUCE,
            "refused tensor metadata",
        ),
        (
            call(global_("torch._utils", "_rebuild_parameter"), data(1.0), data(True)),
            "truncated or corrupt",  # Three arguments are needed.
        ),
        (
            global_("collections", "OrderedDict") + data(()) + REDUCE,
            "not a state dict: w maps to a dict, not a tensor",
        ),
        (
            global_("collections", "OrderedDict")
            + data(())
            + REDUCE
            + data({"__class__": 1})
            + BUILD,
            "refused attributes of an OrderedDict other than _metadata",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_only_the_globals_of_a_state_dict_are_allowed(tmp_path, value, message):
    refused(zip_with(tmp_path, {"w": value}), message)


def test_nested_pickles_cannot_call_foreign_code(tmp_path):
    # Inside a persistent id, inside _metadata, as the whole state.
    marker = tmp_path / "ran"
    pid = MARK + data("storage") + payload(marker) + TUPLE + th.BINPERSID
    path = zip_with(tmp_path, {"w": th.tensor(pid, 0, (1,), (1,))})
    refused(path, "refused to load the global posix.system;")
    ordered = global_("collections", "OrderedDict") + data(()) + REDUCE
    raw = th.PROTO_2 + ordered + MARK + data("_metadata") + payload(marker)
    raw += data({}) + b"s" + BUILD + th.STOP
    refused(th.write_zip(tmp_path / "m.pth", raw, {}), "global posix.system;")
    assert not marker.exists()


@pytest.mark.parametrize(
    "pid, message",
    [
        (MARK + data("module") + data(1) + data(2) + data(3) + data(4) + TUPLE, "of 5"),
        (MARK + data("storage") + data(1) + TUPLE, "other than torch's storage tuple"),
        (data("storage"), "other than torch's storage tuple of 5"),
        (
            MARK + data("storage") + data("FloatStorage") + data("0") + data("cpu"),
            "other than torch's",
        ),
        (
            MARK
            + data("storage")
            + data("FloatStorage")
            + data("0")
            + data("cpu")
            + data(4)
            + TUPLE,
            "a storage's type must be a torch storage type",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_persistent_ids_are_storage_tuples(tmp_path, pid, message):
    value = th.tensor(pid + th.BINPERSID, 0, (1,), (1,))
    refused(zip_with(tmp_path, {"w": value}), message)


@pytest.mark.parametrize(
    "key, message",
    [("../0", "refused the storage key ../0"), ("", "a storage key must be a")],
)
def test_storage_keys_are_plain(tmp_path, key, message):
    value = th.tensor(th.storage_id("FloatStorage", key, 4), 0, (1,), (1,))
    refused(zip_with(tmp_path, {"w": value}), message)


def test_text_persistent_ids_are_refused(tmp_path):
    value = th.tensor(b"P0\n", 0, (1,), (1,))
    refused(zip_with(tmp_path, {"w": value}), "refused the opcode PERSID")


def test_a_storage_named_twice_must_agree(tmp_path):
    entries = {"a": th.tensor(storage(4), 0, (1,), (1,))}
    entries["b"] = th.tensor(storage(2), 0, (1,), (1,))
    refused(zip_with(tmp_path, entries), "storage 0 is named twice with different")


def test_not_a_state_dict(tmp_path):
    raw = th.PROTO_2 + data([1, 2]) + th.STOP
    refused(
        th.write_zip(tmp_path / "l.pth", raw, {}), "not a state dict: it holds a list"
    )
    path = zip_with(tmp_path, {"epoch": data(5)})
    refused(path, "not a state dict: epoch maps to a int, not a tensor")


# Zip archives.


def patch_central_sizes(path, name, size):
    """Rewrites the sizes the central directory declares for member `name`."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b"PK\x01\x02")
    while True:
        length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46 : at + 46 + length] == name.encode():
            break
        at = raw.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<II", raw, at + 20, size, size)
    path.write_bytes(bytes(raw))


def test_members_are_capped(tmp_path, monkeypatch):
    value = th.tensor(storage(250), 0, (250,), (1,))
    path = zip_with(tmp_path, {"w": value}, {"0": bytes(1000)})
    assert torch_checkpoint.load_state_dict(path)["w"].shape == (250,)
    monkeypatch.setattr(torch_checkpoint, "MAX_STORAGE_BYTES", 999)
    refused(path, "member archive/data/0 is 1000 bytes, more than 999")
    monkeypatch.setattr(torch_checkpoint, "MAX_PICKLE_BYTES", 100)
    refused(path, "member archive/data.pkl declares ")


def test_a_member_cannot_declare_more_than_the_file(tmp_path):
    # The central directory claims 4 MB for an 8-byte member (a "zip bomb").
    value = th.tensor(storage(2**20), 0, (1,), (1,))
    path = zip_with(tmp_path, {"w": value}, {"0": bytes(8)})
    patch_central_sizes(path, "archive/data/0", 2**22)
    refused(path, "its members declare more bytes than the file holds")


def test_compressed_members_are_refused(tmp_path):
    # 100 MB of zeros deflate to about 100 kB.
    path = tmp_path / "bomb.pth"
    value = th.tensor(storage(2**20), 0, (1,), (1,))
    raw = th.state_dict([("w", value)])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", raw)
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, bytes(2**22))
    assert path.stat().st_size < 2**16
    refused(path, "member archive/data/0 is compressed (method 8); torch writes")


def test_corrupt_and_truncated_archives(tmp_path):
    path = th.write_torch_zip(tmp_path / "t.pth", {"w": np.arange(64, dtype="f4")})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    refused(path, "not a readable zip archive, truncated or corrupt")
    at = raw.index(np.arange(64, dtype="<f4").tobytes())
    path.write_bytes(raw[:at] + b"\xff" + raw[at + 1 :])
    refused(path, "member archive/data/0: BadZipFile: Bad CRC-32")
    path.write_bytes(b"")
    refused(path, "not a torch checkpoint: neither torch's zip archive")


@pytest.mark.parametrize(
    "records, message",
    [
        ({"data/0": None}, "no member archive/data/0"),
        ({"data.pkl": None}, "a zip archive without torch's <name>/data.pkl"),
        ({"byteorder": b"big"}, "only little-endian checkpoints can be read"),
    ],
)
def test_zip_records(tmp_path, records, message):
    raw, storages = th.contiguous({"w": np.zeros(2, np.float32)})
    path = th.write_zip(tmp_path / "r.pth", raw, storages, records=records)
    refused(path, message)


def test_duplicate_members_are_refused(tmp_path):
    path = th.write_torch_zip(tmp_path / "d.pth", {"w": np.zeros(2, np.float32)})
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("archive/data/0", bytes(8))
    refused(path, "its zip archive names a member twice")


# Legacy streams.


def legacy(tmp_path, arrays=None, **kwargs):
    raw, storages = th.contiguous(arrays or {"w": np.ones(2, np.float32)}, True)
    counts = {key: (len(value) // 4, value) for key, value in storages.items()}
    counts.update(kwargs.pop("storages", {}))
    return th.write_legacy(tmp_path / "l.pth", raw, counts, **kwargs)


def header(magic=th.MAGIC_NUMBER, version=1001, little=True):
    info = {"protocol_version": 1001, "little_endian": little}
    return b"".join(
        th.PROTO_2 + data(value) + th.STOP for value in (magic, version, info)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(header=header(magic=12345)), "not a torch checkpoint: neither torch's"),
        (dict(header=b"\x80\x02(garbage"), "not a torch checkpoint"),
        (dict(header=header(version=1000)), "unknown legacy protocol version 1000"),
        (dict(header=header(little=False)), "only little-endian checkpoints"),
        (dict(keys=[]), "its list of storage keys does not match"),
        (dict(keys=["140000000000000", 1]), "its list of storage keys does not match"),
        (
            dict(storages={"140000000000000": (3, bytes(12))}),
            "storage 140000000000000 holds 3 elements; its pickle says 2",
        ),
        (
            dict(storages={"140000000000000": (2, bytes(5))}),
            "storage 140000000000000 needs 8 bytes; 5 are left (truncated?)",
        ),
        (
            dict(storages={"140000000000000": b"\x02"}),
            "storage 140000000000000 is missing (truncated?)",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_legacy_streams_are_checked(tmp_path, kwargs, message):
    refused(legacy(tmp_path, **kwargs), message)


def test_legacy_storage_views_and_big_pickles(tmp_path, monkeypatch):
    view = MARK + data("storage") + global_("torch", "FloatStorage") + data("1")
    view += data("cpu") + data(4) + data(("2", 0, 2)) + TUPLE + th.BINPERSID
    raw = th.state_dict([("w", th.tensor(view, 0, (1,), (1,)))])
    path = th.write_legacy(tmp_path / "v.pth", raw, {"1": (4, bytes(16))})
    refused(path, "refused a storage view (torch < 0.4 sliced storages)")
    path = legacy(tmp_path)
    monkeypatch.setattr(torch_checkpoint, "MAX_PICKLE_BYTES", 100)
    refused(path, "a pickle longer than 100 bytes")


def test_missing_file():
    refused(pathlib.Path("/nonexistent/vgg.pth"), "cannot read it (No such file")


def test_safe_pickle_bytearray8_is_bounded():
    # pickle's own machine allocates the declared size before reading it.
    raw = b"\x80\x05\x96" + struct.pack("<Q", 2**40) + b"."
    with pytest.raises(RefusedPickleError, match="bytearray of 1099511627776 bytes"):
        safe_pickle.loads(raw, "x.pkl")
