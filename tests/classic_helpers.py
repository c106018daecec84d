"""Shared helpers of the classic dataset tests: read a dataset back, check it
against the source images."""

import pathlib

import numpy as np
import tensorflow as tf

from datasets.tfrecords import labels_path, parse_image_np


def read_dataset(tfrecord_dir):
    """Returns `{log2: uint8 [N, C, H, W]}` and the labels (or None)."""
    levels = {}
    for path in pathlib.Path(tfrecord_dir).glob("*.tfrecords"):
        log2 = int(path.stem.rsplit("-r", 1)[1])
        records = tf.data.TFRecordDataset(str(path))
        levels[log2] = np.stack([parse_image_np(r.numpy()) for r in records])
    labels_file = labels_path(tfrecord_dir)
    labels = np.load(labels_file) if labels_file.exists() else None
    return levels, labels


def check_dataset(tfrecord_dir, expected, expected_labels=None):
    """Top level equals `expected` (uint8 [N, R, R, C]); every lower level is the
    official float 2x2 average chain, rounded; labels equal `expected_labels`."""
    levels, labels = read_dataset(tfrecord_dir)
    count, side, _, channels = expected.shape
    top = int(np.log2(side))
    assert sorted(levels) == list(range(2, top + 1))
    for log2, level in levels.items():
        assert level.shape == (count, channels, 2**log2, 2**log2)
    np.testing.assert_array_equal(levels[top].transpose(0, 2, 3, 1), expected)
    average = expected.transpose(0, 3, 1, 2).astype(np.float64)
    for log2 in range(top - 1, 1, -1):
        n, c, h, w = average.shape
        average = average.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
        np.testing.assert_array_equal(levels[log2], np.rint(average))
    if expected_labels is None:
        assert labels is None
    else:
        assert labels.dtype == np.float32
        np.testing.assert_array_equal(labels, expected_labels)


def one_hot(classes, num_classes):
    return np.eye(num_classes, dtype=np.float32)[classes]


def random_images(rng, count, side, channels):
    return rng.integers(0, 256, size=(count, side, side, channels), dtype=np.uint8)
