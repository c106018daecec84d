"""The official multi-resolution TFRecord format: records, file names, writer.

A dataset is a directory `DIR` holding one file per level,
`DIR/<name>-rXX.tfrecords` with `name = basename(DIR)` and XX = log2 of the side
(02 upward), each record a `tf.train.Example` with `shape` (int64 `[C, H, W]`)
and `data` (raw uint8 bytes, CHW); labels in `DIR/<name>-rxx.labels` (npy,
float32 `[N, label_size]`). This is the layout of NVIDIA's and the official
msg-stylegan-tf `dataset_tool.py`, so datasets move between them unchanged.
"""

import os
import pathlib
import shutil
import struct

import numpy as np
import tensorflow as tf


def level_path(tfrecord_dir, resolution_log2):
    """Path of the file holding the level of side 2**resolution_log2."""
    tfrecord_dir = pathlib.Path(tfrecord_dir)
    return tfrecord_dir / f"{tfrecord_dir.name}-r{resolution_log2:02d}.tfrecords"


def labels_path(tfrecord_dir):
    """Path of the labels file the official exporter writes."""
    tfrecord_dir = pathlib.Path(tfrecord_dir)
    return tfrecord_dir / f"{tfrecord_dir.name}-rxx.labels"


def serialize_image(chw):
    """Serialises one uint8 `[C, H, W]` image as an official record (bytes)."""
    chw = np.ascontiguousarray(chw, dtype=np.uint8)
    feature = {
        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=chw.shape)),
        "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[chw.tobytes()])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def parse_image_np(record):
    """Parses one official record into a uint8 `[C, H, W]` numpy array."""
    example = tf.train.Example()
    example.ParseFromString(record)
    features = example.features.feature
    shape = tuple(features["shape"].int64_list.value)
    data = features["data"].bytes_list.value[0]
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def box_downsample(chw):
    """Averages 2x2 blocks in float32, as the official exporter does per level."""
    chw = chw.astype(np.float32)
    return (
        chw[:, 0::2, 0::2]
        + chw[:, 0::2, 1::2]
        + chw[:, 1::2, 0::2]
        + chw[:, 1::2, 1::2]
    ) * 0.25


def quantize(chw):
    """Rounds to the nearest integer and clips to uint8, as the official exporter."""
    return np.rint(chw).clip(0, 255).astype(np.uint8)


def scan_tfrecord(path):
    """Counts the records of a TFRecord file by walking its length headers.

    Reads 12 bytes per record, so it is fast on large files, and finds
    truncation (the usual corruption after an interrupted copy or write).

    Returns:
        The number of records.

    Raises:
        ValueError: naming the file, when it is truncated or not a TFRecord file.
    """
    size = os.path.getsize(path)
    count, offset = 0, 0
    with open(path, "rb") as f:
        while offset < size:
            header = f.read(12)
            if len(header) < 12:
                raise ValueError(
                    f"{path}: truncated TFRecord file (record {count} at byte "
                    f"{offset} is cut off); rebuild it with dataset_tool.py."
                )
            (length,) = struct.unpack("<Q", header[:8])
            offset += 12 + length + 4
            if offset > size:
                raise ValueError(
                    f"{path}: truncated or corrupt TFRecord file (record {count} "
                    f"claims {length} bytes past the end); rebuild it with "
                    "dataset_tool.py."
                )
            f.seek(offset)
            count += 1
    return count


class TFRecordExporter:
    """Writes an official multi-resolution dataset, atomically.

    Everything is written into a temporary sibling directory that is renamed to
    `tfrecord_dir` by `close()`; an exception inside the `with` block (or
    `abort()`) removes it, so a failure or Ctrl-C leaves nothing half-built.

    Usage:
        with TFRecordExporter("datasets/mine") as exporter:
            for image in images:          # uint8 [H, W, C]
                exporter.add_image(image)
            exporter.add_labels(labels)   # optional, [N, label_size]
    """

    def __init__(self, tfrecord_dir):
        self.tfrecord_dir = pathlib.Path(tfrecord_dir)
        if self.tfrecord_dir.exists():
            raise ValueError(
                f"{self.tfrecord_dir} already exists; delete it or choose another "
                "output directory."
            )
        parent = self.tfrecord_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = parent / f".{self.tfrecord_dir.name}.tmp-{os.getpid()}"
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        (self.tmp_dir / self.tfrecord_dir.name).mkdir(parents=True)
        self.shape = None
        self.num_images = 0
        self.writers = []
        self.has_labels = False

    @property
    def _staging(self):
        return self.tmp_dir / self.tfrecord_dir.name

    def add_image(self, hwc):
        """Adds one uint8 image `[H, W, C]` (C 1 or 3, H = W a power of two)."""
        chw = np.transpose(np.asarray(hwc, dtype=np.uint8), [2, 0, 1])
        if self.shape is None:
            channels, height, width = chw.shape
            if channels not in (1, 3) or height != width or height & (height - 1):
                raise ValueError(
                    "Images must be square with a power-of-two side and 1 or 3 "
                    f"channels. Received [H, W, C] = {tuple(hwc.shape)}"
                )
            self.shape = chw.shape
            log2 = int(np.log2(height))
            self.writers = [
                tf.io.TFRecordWriter(str(level_path(self._staging, log2 - lod)))
                for lod in range(log2 - 1)
            ]
        if chw.shape != self.shape:
            first = (self.shape[1], self.shape[2], self.shape[0])
            raise ValueError(
                f"Image {self.num_images} has shape {tuple(hwc.shape)}; the first "
                f"image had {first}."
            )
        level = chw
        for lod, writer in enumerate(self.writers):
            if lod:
                level = box_downsample(level)
            writer.write(serialize_image(quantize(level)))
        self.num_images += 1

    def add_labels(self, labels):
        """Saves float32 labels `[N, label_size]`, one row per added image."""
        labels = np.asarray(labels, dtype=np.float32)
        if labels.ndim != 2 or labels.shape[0] != self.num_images:
            raise ValueError(
                f"Labels must be [{self.num_images}, label_size]. "
                f"Received: {labels.shape}"
            )
        with open(labels_path(self._staging), "wb") as f:
            np.save(f, labels)
        self.has_labels = True

    def close(self):
        """Flushes the files and moves the dataset into place."""
        for writer in self.writers:
            writer.close()
        self.writers = []
        if self.num_images == 0:
            self.abort()
            raise ValueError(f"{self.tfrecord_dir}: no images were added.")
        try:
            os.replace(self._staging, self.tfrecord_dir)
        finally:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def abort(self):
        """Removes everything written so far."""
        for writer in self.writers:
            writer.close()
        self.writers = []
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False
