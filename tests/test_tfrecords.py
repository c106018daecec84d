"""The official TFRecord format: records, levels, labels, truncation, atomic writes,
and the checker that names a bad record (framing, CRCs, `shape` field)."""

import re
import struct
import tracemalloc

import numpy as np
import pytest
import tensorflow as tf

from datasets import tfrecords
from datasets.crc32c import crc32c, mask
from datasets.tfrecords import (
    TFRecordExporter,
    check_tfrecord,
    find_bad_record,
    labels_path,
    level_path,
    parse_image_np,
    read_images,
    scan_tfrecord,
    serialize_image,
)

OFFICIAL_FEATURES = {
    "shape": tf.io.FixedLenFeature([3], tf.int64),
    "data": tf.io.FixedLenFeature([], tf.string),
}


def read_level(path):
    return [parse_image_np(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


def test_our_records_parse_with_the_official_field_layout():
    chw = np.random.RandomState(0).randint(0, 256, [3, 8, 8]).astype(np.uint8)
    parsed = tf.io.parse_single_example(serialize_image(chw), OFFICIAL_FEATURES)
    assert list(parsed["shape"].numpy()) == [3, 8, 8]
    data = tf.io.decode_raw(parsed["data"], tf.uint8).numpy().reshape(3, 8, 8)
    np.testing.assert_array_equal(data, chw)


def test_a_record_written_by_hand_in_the_official_layout_reads():
    chw = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    example = tf.train.Example()
    example.features.feature["shape"].int64_list.value.extend([3, 4, 4])
    example.features.feature["data"].bytes_list.value.append(chw.tobytes())
    np.testing.assert_array_equal(parse_image_np(example.SerializeToString()), chw)


def test_exporter_writes_every_level_as_the_official_tool(tmp_path):
    rng = np.random.RandomState(1)
    images = rng.randint(0, 256, [5, 16, 16, 3]).astype(np.uint8)
    out = tmp_path / "mine"
    with TFRecordExporter(out) as exporter:
        for image in images:
            exporter.add_image(image)
        exporter.add_labels(np.eye(5, dtype=np.float32))
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "mine-r02.tfrecords",
        "mine-r03.tfrecords",
        "mine-r04.tfrecords",
        "mine-rxx.labels",
    ]
    np.testing.assert_array_equal(np.load(labels_path(out)), np.eye(5))
    # Reference: the float chain of 2x2 means, rounded per level (official).
    level = images.transpose(0, 3, 1, 2).astype(np.float64)
    for log2 in (4, 3, 2):
        stored = np.stack(read_level(level_path(out, log2)))
        np.testing.assert_array_equal(stored, np.clip(np.rint(level), 0, 255))
        if log2 < 4:
            above = np.stack(read_level(level_path(out, log2 + 1))).astype(np.float64)
            box = above.reshape(5, 3, 2**log2, 2, 2**log2, 2).mean(axis=(3, 5))
            assert np.abs(stored - box).max() <= 1.0
        level = level.reshape(5, 3, level.shape[2] // 2, 2, level.shape[3] // 2, 2)
        level = level.mean(axis=(3, 5))


def test_exporter_leaves_nothing_behind_on_failure(tmp_path):
    out = tmp_path / "broken"
    with pytest.raises(ValueError, match=r"has shape \(8, 8, 3\); the first image"):
        with TFRecordExporter(out) as exporter:
            exporter.add_image(np.zeros([16, 16, 3], np.uint8))
            exporter.add_image(np.zeros([8, 8, 3], np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_exporter_refuses_an_existing_output_and_bad_images(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="taken already exists"):
        TFRecordExporter(tmp_path / "taken")
    with pytest.raises(ValueError, match=r"Received \[H, W, C\] = \(12, 12, 3\)"):
        with TFRecordExporter(tmp_path / "odd") as exporter:
            exporter.add_image(np.zeros([12, 12, 3], np.uint8))
    with pytest.raises(ValueError, match=r"Labels must be \[1, label_size\]"):
        with TFRecordExporter(tmp_path / "labels") as exporter:
            exporter.add_image(np.zeros([4, 4, 1], np.uint8))
            exporter.add_labels(np.zeros([2, 3]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_scan_counts_records_and_finds_truncation(tmp_path):
    path = tmp_path / "x.tfrecords"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(7):
            writer.write(serialize_image(np.full([1, 4, 4], i, np.uint8)))
    assert scan_tfrecord(path) == 7
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="x.tfrecords: truncated or corrupt TFRecord"):
        scan_tfrecord(path)
    path.write_bytes(data[:5])
    with pytest.raises(ValueError, match="truncated TFRecord file"):
        scan_tfrecord(path)


def test_constructing_an_exporter_writes_nothing(tmp_path):
    # The temporary directory appears at the first write, inside the `with`
    # block, so an interrupt before `__enter__` cannot strand it.
    exporter = TFRecordExporter(tmp_path / "later")
    assert list(tmp_path.iterdir()) == []
    exporter.abort()
    assert list(tmp_path.iterdir()) == []


SHAPE = [3, 4, 4]


def example(shape=None, data=None, extra=None):
    """An Example built by TensorFlow's protobuf classes (the oracle)."""
    proto = tf.train.Example()
    if shape is not None:
        proto.features.feature["shape"].int64_list.value.extend(shape)
    if data is not None:
        proto.features.feature["data"].bytes_list.value.append(data)
    if extra is not None:
        proto.features.feature["label"].float_list.value.extend(extra)
    return proto.SerializeToString()


def write_records(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def record_offset(data, index):
    offset = 0
    for _ in range(index):
        offset += 16 + struct.unpack("<Q", data[offset : offset + 8])[0]
    return offset


def flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


IMAGES = [np.full(SHAPE, 10 * i, np.uint8) for i in range(6)]
PIXELS = bytes(48)
# Record 3 of 6 replaced by a hostile one, or corrupted in place (an offset in
# the record: 0 length field, 8 its CRC, 12 + n the n-th byte of the payload).
BAD_RECORDS = {
    "length": (0, r"its length field fails its CRC check"),
    "length_crc": (8, r"its length field fails its CRC check"),
    "data_crc": (12 + 20, r"its data fails its CRC check"),
    "footer_crc": (-1, r"its data fails its CRC check"),
    "shape_product": (
        example([3, 4, 5], PIXELS),
        r"`shape` \[3, 4, 5\] needs 60 bytes but `data` holds 48",
    ),
    "shape_differs": (
        example([1, 8, 6], PIXELS),
        r"`shape` \[1, 8, 6\] differs from the first record's \[3, 4, 4\]",
    ),
    "shape_count": (example([48], PIXELS), r"`shape` has 1 value\(s\), not 3"),
    "shape_negative": (
        example([-3, -4, 4], PIXELS),
        r"`shape` \[-3, -4, 4\] has a side below 1",
    ),
    "shape_float": (
        example(None, PIXELS, extra=[1.0]),
        r"no int64 `shape` feature",
    ),
    "no_data": (example(SHAPE), r"no `data` feature holding one bytes value"),
    "not_example": (b"\xff" * 20, r"not a tf.train.Example"),
}


@pytest.mark.parametrize("batch", ["default", "one record"])
@pytest.mark.parametrize("kind", list(BAD_RECORDS))
def test_a_bad_record_in_the_middle_is_named_in_one_line(
    tmp_path, monkeypatch, kind, batch
):
    if batch == "one record":  # CRCs checked record by record, not together.
        monkeypatch.setattr(tfrecords, "_BATCH", 1)
    path = tmp_path / "x.tfrecords"
    records = [serialize_image(image) for image in IMAGES]
    bad, what = BAD_RECORDS[kind]
    if isinstance(bad, bytes):
        records[3] = bad
    write_records(path, records)
    if isinstance(bad, int):
        data = path.read_bytes()
        end = record_offset(data, 4)
        flip(path, end + bad if bad < 0 else record_offset(data, 3) + bad)
    pattern = rf"^{re.escape(str(path))}: record 3: {what}.*; rebuild the dataset"

    with pytest.raises(ValueError, match=pattern) as raised:
        check_tfrecord(path)
    message = str(raised.value)
    assert "\n" not in message and find_bad_record(path) == message
    read = []
    with pytest.raises(ValueError, match=pattern):
        read.extend(read_images(path))
    np.testing.assert_array_equal(read, IMAGES[:3])
    if kind.startswith("length"):  # The header walk of `describe` finds these.
        with pytest.raises(ValueError, match=pattern):
            scan_tfrecord(path)


def test_a_good_file_checks_clean_and_reads_back(tmp_path):
    path = tmp_path / "x.tfrecords"
    write_records(path, [serialize_image(image) for image in IMAGES])
    assert check_tfrecord(path) == 6 and check_tfrecord(path, SHAPE) == 6
    assert find_bad_record(path) is None
    np.testing.assert_array_equal(list(read_images(path)), IMAGES)
    np.testing.assert_array_equal(list(read_images(path, limit=2)), IMAGES[:2])
    with pytest.raises(ValueError, match=r"record 0: .* differs from the expected"):
        check_tfrecord(path, [1, 4, 4])
    with pytest.raises(ValueError, match="missing.tfrecords: cannot be read"):
        check_tfrecord(tmp_path / "missing.tfrecords")


def test_a_length_of_2_64_bytes_is_refused_without_allocating(tmp_path):
    path = tmp_path / "x.tfrecords"
    write_records(path, [serialize_image(image) for image in IMAGES])
    data = bytearray(path.read_bytes())
    start = record_offset(data, 3)
    length = struct.pack("<Q", 2**64 - 1)  # With a valid CRC: only its size lies.
    data[start : start + 12] = length + struct.pack("<I", mask(crc32c(length)))
    path.write_bytes(bytes(data))
    pattern = (
        r"x.tfrecords: truncated or corrupt .*record 3 claims 18446744073709551615"
    )
    tracemalloc.start()
    try:
        for function in (check_tfrecord, scan_tfrecord):
            with pytest.raises(ValueError, match=pattern):
                function(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_long_records_stream_through_the_check_in_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(tfrecords, "_CHUNK", 1 << 16)  # Records longer stream.
    image = np.random.RandomState(0).randint(0, 256, [3, 512, 512]).astype(np.uint8)
    path = tmp_path / "x.tfrecords"
    write_records(path, [serialize_image(image)] * 2)
    tracemalloc.start()
    try:
        assert check_tfrecord(path) == 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < image.nbytes // 2
    np.testing.assert_array_equal(list(read_images(path)), [image, image])
    flip(path, path.stat().st_size - 100)  # A pixel of record 1.
    with pytest.raises(ValueError, match="record 1: its data fails its CRC check"):
        check_tfrecord(path)


def test_parse_image_np_names_what_is_wrong():
    with pytest.raises(ValueError, match=r"`shape` \[3, 4, 5\] needs 60 bytes"):
        parse_image_np(example([3, 4, 5], PIXELS))
    record = example(SHAPE, bytes(range(48)), extra=[0.5])  # Extra features: fine.
    np.testing.assert_array_equal(
        parse_image_np(record), np.arange(48, dtype=np.uint8).reshape(SHAPE)
    )
