"""What the memory-safe unpickler (safe_pickle.py) refuses with and builds:
the one-line `RefusedPickleError`, the `Refused` its parts raise, and the
stand-ins (`StandIn`, `Record`, `DataDict`), the only objects a pickle's BUILD
reaches."""

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


class Refused(Exception):
    """Raised inside the loader (and by the constructors a caller gives `load`);
    `loads` adds the file's name."""


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
        raise Refused(f"refused a state for {type(self).__name__}")


class Record(StandIn):
    """Stand-in for an object whose pickled state is one dict (e.g. a tflib
    Network): built with no arguments, given its state once, runs nothing."""

    __slots__ = ("state",)

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise Refused(f"refused arguments to {cls.__name__}")
        return super().__new__(cls)

    def __setstate__(self, state):
        if hasattr(self, "state"):
            raise Refused(f"refused a second state for {type(self).__name__}")
        if type(state) is not dict:
            raise Refused(f"the state of a {type(self).__name__} must be a dict")
        self.state = state


class DataDict(dict, StandIn):
    """Stand-in for a dict subclass (OrderedDict, EasyDict): items only."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        return dict.__new__(cls)

    def __init__(self, items=(), **kwargs):
        # OrderedDict's protocol-2 pickles pass [[key, value], ...].
        if kwargs or type(items) not in (list, tuple):
            raise Refused(f"{type(self).__name__} takes a list of pairs")
        for pair in items:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise Refused(f"{type(self).__name__} takes a list of pairs")
            self[dict_key(pair[0])] = pair[1]

    def __setstate__(self, state):
        if type(state) is not dict or state:  # Python 3.6 writes {}.
            raise Refused(f"refused attributes for {type(self).__name__}")


def dict_key(key):
    # Dict keys: scalars only, so that inserting one never recurses or collides.
    if type(key) in (str, bytes, bool, type(None)) or (
        type(key) is int and -_KEY_LIMIT < key < _KEY_LIMIT
    ):
        return key
    raise Refused(f"refused a dict key of type {type(key).__name__}")
