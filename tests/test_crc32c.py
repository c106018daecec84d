"""CRC32C in numpy: reference vectors, a bitwise oracle, TFRecord's own framing."""

import struct

import numpy as np
import pytest
import tensorflow as tf

from datasets.crc32c import Crc32c, crc32c, crc32c_rows, mask


def bitwise_crc32c(data):
    """The definition: reflected Castagnoli polynomial, one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_reference_vectors():
    # "123456789" (the CRC catalogue's check value) and RFC 3720 appendix B.4.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0


@pytest.mark.parametrize("size", [1, 3, 4, 511, 512, 513, 8191, 8192, 20001])
def test_matches_the_bitwise_definition_at_every_length(size):
    data = np.random.RandomState(size).randint(0, 256, size).astype(np.uint8)
    expected = bitwise_crc32c(data.tobytes())
    assert crc32c(data.tobytes()) == expected
    assert crc32c(memoryview(data)) == expected
    pieces = Crc32c()
    for start in range(0, size, 777):  # Uneven chunks, some shorter than 4.
        pieces.update(data[start : start + 777].tobytes())
    assert pieces.value == expected


@pytest.mark.parametrize("size", [0, 3, 4, 100, 20001])
def test_rows_of_one_length_go_through_together(size):
    rows = np.random.RandomState(size).randint(0, 256, [5, size]).astype(np.uint8)
    expected = [bitwise_crc32c(row.tobytes()) for row in rows]
    np.testing.assert_array_equal(crc32c_rows(rows), expected)


def test_masked_crc_is_the_one_tensorflow_writes(tmp_path):
    path = tmp_path / "x.tfrecords"
    payload = np.random.RandomState(0).bytes(10000)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(payload)
    data = path.read_bytes()
    length, length_crc = struct.unpack("<QI", data[:12])
    assert length == len(payload) and data[12:-4] == payload
    assert mask(crc32c(data[:8])) == length_crc
    assert mask(crc32c(payload)) == struct.unpack("<I", data[-4:])[0]
