"""The official TFRecord format: records, levels, labels, truncation, atomic writes."""

import numpy as np
import pytest
import tensorflow as tf

from datasets.tfrecords import (
    TFRecordExporter,
    labels_path,
    level_path,
    parse_image_np,
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
