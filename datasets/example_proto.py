"""The official image record, a `tf.train.Example`, read from its wire format.

Pure Python, no TensorFlow or protobuf classes: a record from a damaged or
hostile file is walked field by field within checked bounds, and anything that
is not `shape` (three int64 `[C, H, W]`) plus `data` (one bytes value of
C * H * W bytes) is named. Other features are allowed and skipped.
"""

import math

_UINT64 = 1 << 64


class BadRecord(Exception):
    """A record that is not an official image Example; the message says why."""


class _Wire:
    """Protocol-buffer wire-format reader over a file; no read passes `end`."""

    def __init__(self, f, pos):
        self.f, self.pos = f, pos
        f.seek(pos)

    def take(self, n, end):
        if n > end - self.pos:
            raise BadRecord("not a tf.train.Example: a field runs past its message")
        data = self.f.read(n)
        if len(data) != n:
            raise BadRecord("the record is cut off")
        self.pos += n
        return data

    def varint(self, end):
        value = 0
        for shift in range(0, 70, 7):
            (byte,) = self.take(1, end)
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value % _UINT64
        raise BadRecord("not a tf.train.Example: a varint is over 10 bytes")

    def fields(self, end, wanted):
        """Yields `(number, wire type, value)` of the fields numbered in `wanted`.

        `wanted` maps a field number to its allowed wire types. A value is an
        int (varint) or the `(start, stop)` of a length-delimited payload, which
        the caller may read before asking for the next field.
        """
        while self.pos < end:
            key = self.varint(end)
            number, kind = key >> 3, key & 7
            value = None
            if kind == 0:
                value = self.varint(end)
            elif kind == 2:
                n = self.varint(end)
                if n > end - self.pos:
                    raise BadRecord(
                        "not a tf.train.Example: a field claims more bytes than "
                        "its message holds"
                    )
                value = (self.pos, self.pos + n)
            elif kind in (1, 5):
                self.take(8 if kind == 1 else 4, end)
            else:
                raise BadRecord(f"not a tf.train.Example: wire type {kind}")
            if number in wanted:
                if kind not in wanted[number]:
                    raise BadRecord(
                        f"not a tf.train.Example: field {number} has wire type {kind}"
                    )
                yield number, kind, value
            if kind == 2:
                self.f.seek(value[1])
                self.pos = value[1]


def _varints(data):
    values, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value % _UINT64)
            value = shift = 0
        elif shift >= 70:
            raise BadRecord("not a tf.train.Example: a varint is over 10 bytes")
    if shift:
        raise BadRecord("not a tf.train.Example: a packed varint is cut off")
    return values


def _parse_feature(wire, end):
    # ("bytes", count, first span) | ("int64", up to 4 values) | ("float",) | ("none",)
    feature = ("none",)
    for number, _, (_, stop) in wire.fields(end, {1: (2,), 2: (2,), 3: (2,)}):
        if number == 1:
            count, first = 0, None
            for _, _, span in wire.fields(stop, {1: (2,)}):
                count, first = count + 1, first or span
            feature = ("bytes", count, first)
        elif number == 3:
            values = []
            for _, kind, value in wire.fields(stop, {1: (0, 2)}):
                if kind == 0:
                    values.append(value)
                elif value[1] - value[0] > 40:  # More than 4 varints: too many.
                    values.extend([0] * 4)
                else:
                    values.extend(_varints(wire.take(value[1] - value[0], value[1])))
                if len(values) > 3:
                    break
            feature = ("int64", values[:4])
        else:
            feature = ("float",)
    return feature


def _parse_features(wire, end):
    """The `shape` and `data` features of one Example, as `_parse_feature` gives."""
    features = {}
    for _, _, (_, stop) in wire.fields(end, {1: (2,)}):  # Example.features
        for _, _, (_, entry_end) in wire.fields(stop, {1: (2,)}):  # Map entries.
            name, feature = b"", ("none",)
            for number, _, (start, value_end) in wire.fields(
                entry_end, {1: (2,), 2: (2,)}
            ):
                if number == 1:
                    n = value_end - start
                    name = wire.take(n, value_end) if n <= 8 else b"?"
                else:
                    feature = _parse_feature(wire, value_end)
            if name in (b"shape", b"data"):
                features[name.decode()] = feature
    return features


def image_layout(f, start, end):
    """Where the pixels of the official image Example in `f[start:end]` lie.

    Reads only the fields' headers and the `shape` values (seeking over the
    pixel bytes), so memory stays small whatever the record's size.

    Args:
        f: a seekable binary file (or io.BytesIO) holding the serialized Example.
        start, end: its byte range in `f`.

    Returns:
        `(shape, (lo, hi))`: the `[C, H, W]` tuple, and the byte range in `f`
        of the `data` value, whose length is C * H * W.

    Raises:
        BadRecord: saying what is wrong (wire format, `shape` or `data`).
    """
    features = _parse_features(_Wire(f, start), end)
    shape = features.get("shape", ("none",))
    data = features.get("data", ("none",))
    if shape[0] != "int64":
        raise BadRecord("no int64 `shape` feature (not an official image record)")
    if len(shape[1]) != 3:
        count = len(shape[1]) if len(shape[1]) <= 3 else "more than 3"
        raise BadRecord(f"`shape` has {count} value(s), not 3 ([C, H, W])")
    dims = [v - _UINT64 if v >= _UINT64 // 2 else v for v in shape[1]]
    if min(dims) < 1:
        raise BadRecord(f"`shape` {dims} has a side below 1")
    if data[0] != "bytes" or data[1] != 1:
        raise BadRecord("no `data` feature holding one bytes value")
    lo, hi = data[2]
    if math.prod(dims) != hi - lo:
        raise BadRecord(
            f"`shape` {dims} needs {math.prod(dims)} bytes but `data` holds {hi - lo}"
        )
    return tuple(dims), (lo, hi)
