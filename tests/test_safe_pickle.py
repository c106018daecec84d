"""dnnlib.safe_pickle: numeric arrays load on every official path; object,
void and structured dtypes, dtype states, size mismatches, cycles, deep nesting,
exponential sharing and non-data opcodes are refused in one line naming the
file."""

import pickle

import numpy as np
import pytest
from pickle_attacks import (
    APPENDS,
    BUILD,
    EMPTY_DICT,
    EMPTY_LIST,
    F4,
    MARK,
    SETITEM,
    STOP,
    TUPLE,
    call,
    data,
    deep_lists,
    deep_tuple_key,
    dtype,
    get,
    global_,
    object_array,
    out_of_bounds_fields,
    put,
    reconstruct,
    self_list,
    shared_lists,
    short_bytes,
)

from dnnlib import safe_pickle

WHERE = "/data/x.pkl"


def by_message(value):
    """Test ids: the expected message, not the pickle's bytes."""
    return value if isinstance(value, str) else ""


def load(body, **kwargs):
    """Loads protocol-2 opcodes `body` (a STOP is added)."""
    return safe_pickle.loads(b"\x80\x02" + body + STOP, WHERE, **kwargs)


def refused(body, message):
    with pytest.raises(safe_pickle.RefusedPickleError) as info:
        load(body)
    text = str(info.value)
    assert text.startswith(f"{WHERE}: ") and "\n" not in text, text
    assert message in text, text


def arrays():
    rng = np.random.default_rng(0)
    out = {
        code: rng.integers(0, 100, size=(2, 3)).astype(code)
        for code in safe_pickle.NUMERIC_DTYPES
    }
    out["big-endian"] = np.arange(6, dtype=">f4").reshape(2, 3)
    out["fortran"] = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    out["0-d"], out["empty"] = np.array(1.5), np.zeros((0, 4), np.int16)
    out["scalar"], out["bool scalar"] = np.float32(0.5), np.bool_(True)
    return out


@pytest.mark.parametrize(
    "protocol, numpy_path",
    [(p, "numpy._core") for p in range(6)] + [(p, "numpy.core") for p in range(4)],
)
def test_numeric_arrays_load_on_every_path(protocol, numpy_path):
    # numpy 1.x names under protocols 4 and 5: see test_legacy's official test.
    expected = arrays()
    raw = pickle.dumps(expected, protocol=protocol)
    if numpy_path == "numpy.core":  # GLOBAL names end in a newline.
        raw = raw.replace(b"cnumpy._core.", b"cnumpy.core.")
        assert b"numpy._core" not in raw
    loaded = safe_pickle.loads(raw, WHERE)
    assert sorted(loaded) == sorted(expected)
    for name, array in expected.items():
        got = loaded[name]
        assert type(got) is type(array), name
        assert got.dtype == array.dtype.newbyteorder("=") and got.shape == array.shape
        np.testing.assert_array_equal(got, array)
        if isinstance(got, np.ndarray):
            assert got.flags.writeable and got.dtype.isnative


def test_python2_strings_and_lists_load():
    # Python 2's cPickle: arrays' bytes as 8-bit strings, read as latin1.
    body = reconstruct((2,), dtype("u1", "|"), b"U\x02\xff\x01")  # SHORT_BINSTRING
    got = load(
        EMPTY_LIST + MARK + body + data([1, "a", b"b", None]) + APPENDS,
        encoding="latin1",
    )
    np.testing.assert_array_equal(got[0], [255, 1])
    assert got[1:] == [[1, "a", b"b", None]]


@pytest.mark.parametrize(
    "array",
    [
        np.array([1, None], dtype=object),
        np.zeros(2, "V8"),
        np.zeros(2, [("a", "<f4"), ("b", "<i4")]),
        np.zeros(2, "U4"),
        np.zeros(2, "S4"),
        np.zeros(2, "M8[s]"),
        np.zeros(2, "m8[s]"),
        np.zeros(2, "c8"),
        np.zeros(2, "c16"),
    ],
    ids=lambda a: str(a.dtype),
)
def test_non_numeric_dtypes_are_refused(array):
    with pytest.raises(ValueError, match=f"^{WHERE}: refused the dtype "):
        safe_pickle.loads(pickle.dumps(array, protocol=2), WHERE)


@pytest.mark.parametrize(
    "body, message",
    [
        (object_array(), "refused the dtype O;"),
        (out_of_bounds_fields(), "refused the dtype V8;"),
        (dtype("f4", "<", flags=63), "refused a dtype state other than numpy's"),
        (dtype("f4", "<", itemsize=8), "refused a dtype state other than numpy's"),
        (dtype("f4", "<", names=data(("a",))), "refused a dtype state other than"),
        (dtype("f4", "|"), "refused the byte order | for float32"),
        (F4 + data((3, "<") + (None,) * 3 + (-1, -1, 0)) + BUILD, "second or late"),
        (dtype("f4") + data(5) + BUILD, "a dtype state must be numpy's 8-tuple"),
    ],
    ids=by_message,
)
def test_dtype_states_other_than_a_byte_order_are_refused(body, message):
    refused(body, message)


def test_a_dtype_cannot_change_after_use():
    # The array is built with float32 '<'; a later BUILD could not reach it.
    body = dtype("f4") + put(0) + reconstruct((1,), get(0), data(bytes(4)))
    refused(body + get(0) + data((3, ">") + (None,) * 3 + (-1, -1, 0)) + BUILD, "late")


@pytest.mark.parametrize(
    "body, message",
    [
        (
            short_bytes(),
            "shape [1000] and dtype float32 needs 4000 bytes; the pickle gives 8",
        ),
        (reconstruct((1,), F4, data(bytes(5))), "needs 4 bytes; the pickle gives 5"),
        (reconstruct((1 << 41,), F4, data(b"")), "dimension must be an int in [0, "),
        (reconstruct((-1,), F4, data(b"")), "dimension must be an int in [0, "),
        (reconstruct((True,), F4, data(bytes(4))), "dimension must be an int"),
        (reconstruct([1], F4, data(bytes(4))), "shape must be a tuple of <= 32 ints"),
        (reconstruct((1,) * 33, F4, data(bytes(4))), "shape must be a tuple of <= 32"),
        (reconstruct((1,), F4, data([1.0])), "refused array data of type list"),
        (reconstruct((1,), data("f4"), data(bytes(4))), "dtype must be a numpy dtype"),
    ],
    ids=by_message,
)
def test_array_sizes_and_parts_are_checked(body, message):
    refused(body, message)


def test_arrays_cannot_take_more_bytes_than_the_file():
    # One 4 KiB string shared by 64 arrays would be 256 KiB of arrays.
    first = reconstruct((1024,), F4, data(bytes(4096)) + put(0))
    more = reconstruct((1024,), F4, get(0)) * 63
    refused(EMPTY_LIST + MARK + first + more + APPENDS, "more bytes than the file")
    assert len(load(EMPTY_LIST + MARK + first + APPENDS)[0]) == 1024


def test_numpy_constructors_are_never_called():
    ndarray = global_("numpy", "ndarray")
    refused(call(ndarray, data((2,)), F4), "refused a call of a _Global")
    refused(ndarray + data(()) + b"\x81", "refused NEWOBJ")
    refused(ndarray + data({}) + BUILD, "refused a state for _Global")
    refused(ndarray, "refused a bare numpy.ndarray where data belongs")
    refused(F4, "refused a bare numpy dtype where data belongs")
    empty = call(
        global_("numpy.core.multiarray", "_reconstruct"),
        ndarray,
        data((0,)),
        data(b"b"),
    )
    refused(empty, "an array without its data")
    frombuffer = global_("numpy._core.numeric", "_frombuffer")
    array = call(frombuffer, data(bytes(4)), F4, data((1,)), data("C"))
    state = MARK + data(1) + data((2,)) + F4 + data(False) + data(bytes(8)) + TUPLE
    refused(array + state + BUILD, "refused a second state for an array")


@pytest.mark.parametrize(
    "body, message",
    [
        (data([1]) + data({}) + BUILD, "refused a state (BUILD) for a list"),
        (dtype("f4") + b"0" + global_("numpy", "dtype") + data({}) + BUILD, "method"),
        (data([]) + data("k") + data(1) + SETITEM, "refused SETITEM on a list"),
        (data(b"ab") + data(1) + b"a", "refused APPEND to a bytes"),
        (
            call(global_("_codecs", "encode"), data("a"), data("rot13")),
            "_codecs.encode",
        ),
        (call(global_("builtins", "eval"), data("1")), "global builtins.eval"),
        (data("posix\n") + data("sys tem") + b"\x93", "global 'posix\\n'.sys tem;"),
    ],
    ids=by_message,
)
def test_only_stand_ins_are_called_built_or_filled(body, message):
    refused(body, message)


@pytest.mark.parametrize(
    "opcode",
    [b"\x8f", b"\x91", b"P0\n", b"Q", b"\x82\x01", b"i", b"o", b"\x92", b"\x97"],
    ids=["EMPTY_SET", "FROZENSET", "PERSID", "BINPERSID", "EXT1", "INST", "OBJ"]
    + ["NEWOBJ_EX", "NEXT_BUFFER"],
)
def test_opcodes_outside_data_are_refused(opcode):
    refused(MARK + data(1) + opcode, "refused the opcode ")


def test_nesting_and_sharing_are_bounded():
    assert load(deep_lists(60)) == eval("[" * 59 + "[]" + "]" * 59)
    refused(deep_lists(100_000), "refused nesting deeper than 64 levels")
    small = load(shared_lists(10))
    assert np.asarray(small, dtype=float).shape == (2,) * 10 + (1,)
    refused(shared_lists(21), "refused more than 2000000 values")
    # A list 40 deep, shallow as the first item, too deep inside 30 more lists.
    deep = deep_lists(40) + put(1)
    assert len(load(MARK + deep + TUPLE)) == 1
    refused(MARK + deep + MARK * 30 + get(1) + b"l" * 30 + TUPLE, "deeper than 64")


def test_cycles_are_refused():
    refused(self_list(), "refused a container that contains itself")
    refused(EMPTY_DICT + put(0) + data("a") + get(0) + SETITEM, "contains itself")


@pytest.mark.parametrize(
    "body",
    [
        deep_tuple_key(200_000),
        EMPTY_DICT + data((1, 2)) + data(1) + SETITEM,
        EMPTY_DICT + data(2**61) + data(1) + SETITEM,
        EMPTY_DICT + data(1.5) + data(1) + SETITEM,
        MARK + data((1,)) + data(1) + b"d",
    ],
    ids=["deep tuple", "tuple", "int 2**61", "float", "DICT opcode"],
)
def test_dict_keys_are_plain_scalars(body):
    refused(body, "refused a dict key of type")


def test_records_and_dicts_get_their_state_once():
    class Net(safe_pickle.Record):
        __slots__ = ()

    class Easy(safe_pickle.DataDict):
        __slots__ = ()

    records = {("m", "Net"): Net, ("m", "Easy"): Easy}
    net = global_("m", "Net") + b")\x81" + data({"a": 1}) + BUILD
    easy = global_("m", "Easy") + b")\x81" + data({}) + BUILD + data("k") + data(2)
    got = load(MARK + net + easy + SETITEM + TUPLE, records=records)
    assert type(got[0]) is Net and got[0].state == {"a": 1}
    assert type(got[1]) is Easy and got[1] == {"k": 2}
    pairs = call(global_("m", "Easy"), data([["x", 1]]))
    assert load(pairs, records=records) == {"x": 1}
    for body, message in [
        (net + data({}) + BUILD, "second state for Net"),
        (global_("m", "Net") + b")\x81" + data([1]) + BUILD, "must be a dict"),
        (global_("m", "Net") + b")\x81", "a Net without its state"),
        (call(global_("m", "Net"), data(1)), "refused arguments to Net"),
        (global_("m", "Easy") + b")\x81" + data({"x": 1}) + BUILD, "attributes for"),
        (call(global_("m", "Easy"), data([[("t",), 1]])), "dict key of type tuple"),
    ]:
        with pytest.raises(ValueError, match=f"^{WHERE}: .*{message}"):
            load(body, records=records)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x80\x02", b"\x80\x02]", b"\x80\x02(U", b"garbage\n", b"\x80\x09."],
    ids=["empty", "no opcodes", "no STOP", "cut string", "garbage", "protocol 9"],
)
def test_corrupt_pickles_get_one_line(raw):
    with pytest.raises(ValueError, match=f"^{WHERE}: truncated or corrupt pickle"):
        safe_pickle.loads(raw, WHERE)
