"""The restricted pickle machine of safe_pickle.py: pickle's pure-Python
unpickler with only the data opcodes (no sets, extensions, persistent ids
unless asked, out-of-band buffers or INST/OBJ), and checked targets for every
opcode that calls or mutates."""

import pickle
import pickletools
import struct

from dnnlib.safe_pickle_base import (
    DataDict,
    Record,
    Refused,
    StandIn,
    dict_key,
    printable,
)

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


def _set_pairs(target, items):
    if len(items) % 2:
        raise Refused("dict items must come in key-value pairs")
    for i in range(0, len(items), 2):
        target[dict_key(items[i])] = items[i + 1]
    return target


class Machine(pickle._Unpickler):
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
            raise Refused(
                f"refused to load the global {printable(module)}.{printable(name)}; "
                "the format holds only numbers, strings, bytes, lists, tuples, "
                "dicts and numeric arrays (the file may be malicious)"
            ) from None

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is g for g in self.callables):
            raise Refused(f"refused a call of a {type(func).__name__}")
        if type(args) is not tuple:
            raise Refused("call arguments must be a tuple")
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
            raise Refused("refused NEWOBJ on anything but a stand-in, no arguments")
        self.append(cls.__new__(cls))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, StandIn):
            raise Refused(f"refused a state (BUILD) for a {type(inst).__name__}")
        type(inst).__setstate__(inst, state)

    def load_bytearray8(self):
        # pickle's own allocates the declared size before reading it.
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size)
        if len(data) != size:
            raise Refused(f"a bytearray of {size} bytes is cut short")
        self.append(bytearray(data))

    def load_append(self):
        value = self.stack.pop()
        self._list().append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._list().extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = dict_key(self.stack.pop())
        self._dict()[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        _set_pairs(self._dict(), items)

    def load_dict(self):
        items = self.pop_mark()
        self.append(_set_pairs({}, items))

    def _list(self):
        if type(self.stack[-1]) is not list:
            raise Refused(f"refused APPEND to a {type(self.stack[-1]).__name__}")
        return self.stack[-1]

    def _dict(self):
        target = self.stack[-1]
        if type(target) is not dict and not isinstance(target, DataDict):
            raise Refused(f"refused SETITEM on a {type(target).__name__}")
        return target


class _Dispatch(dict):
    def __missing__(self, code):
        raise Refused(f"refused the opcode {_OPCODE_NAMES.get(code, hex(code))}")


Machine.dispatch = _Dispatch(
    {
        code: function
        for code, function in pickle._Unpickler.dispatch.items()
        if _OPCODE_NAMES.get(code) in _OPCODES
    }
)
for _opcode, _method in {
    pickle.REDUCE: Machine.load_reduce,
    pickle.NEWOBJ: Machine.load_newobj,
    pickle.BUILD: Machine.load_build,
    pickle.APPEND: Machine.load_append,
    pickle.APPENDS: Machine.load_appends,
    pickle.SETITEM: Machine.load_setitem,
    pickle.SETITEMS: Machine.load_setitems,
    pickle.DICT: Machine.load_dict,
    pickle.BYTEARRAY8: Machine.load_bytearray8,
}.items():
    Machine.dispatch[_opcode[0]] = _method


class PersistentMachine(Machine):
    """The machine with binary persistent ids, each handed to `persistent_load`."""

    dispatch = _Dispatch(Machine.dispatch)
    dispatch[pickle.BINPERSID[0]] = pickle._Unpickler.load_binpersid

    def __init__(self, file, globals_, encoding, persistent_load):
        super().__init__(file, globals_, encoding)
        self.persistent_load = persistent_load
