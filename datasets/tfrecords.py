"""The official multi-resolution TFRecord format: records, file names, writer.

A dataset is a directory `DIR` holding one file per level,
`DIR/<name>-rXX.tfrecords` with `name = basename(DIR)` and XX = log2 of the side
(02 upward), each record a `tf.train.Example` with `shape` (int64 `[C, H, W]`)
and `data` (raw uint8 bytes, CHW); labels in `DIR/<name>-rxx.labels` (npy,
float32 `[N, label_size]`). This is the layout of NVIDIA's and the official
msg-stylegan-tf `dataset_tool.py`, so datasets move between them unchanged.

`check_tfrecord`, `find_bad_record` and `read_images` read records without
TensorFlow, in bounded memory, checking both CRCs and the `shape` field, and
name the first bad record in one line: "FILE: record N: what; what to do".
"""

import io
import os
import pathlib
import struct

import numpy as np
import tensorflow as tf

from datasets.crc32c import Crc32c, crc32c, crc32c_rows, mask
from datasets.example_proto import BadRecord, image_layout
from dnnlib.atomic import remove_tree


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


# Check records: framing and CRCs, then the Example's fields, in bounded memory.
_REBUILD = "rebuild the dataset with dataset_tool.py or restore the file from a copy"
_CHUNK = 8 << 20  # Longer records stream through the CRC in chunks of this size.
_BATCH = 2 << 20  # Bytes of shorter records whose CRCs are computed together.


def parse_image_np(record):
    """Parses one official record (bytes) into a uint8 `[C, H, W]` numpy array.

    Raises:
        ValueError: when the record is not an official image Example.
    """
    record = bytes(record)
    try:
        shape, (lo, hi) = image_layout(io.BytesIO(record), 0, len(record))
    except BadRecord as e:
        raise ValueError(f"record: {e}") from None
    return np.frombuffer(record, np.uint8, hi - lo, lo).reshape(shape)


def _headers(path, f, limit):
    # Yields `(index, payload offset, length)`, checking each length field.
    size = os.fstat(f.fileno()).st_size
    index = offset = 0
    while offset < size and (limit is None or index < limit):
        f.seek(offset)
        header = f.read(12)
        if len(header) < 12:
            raise ValueError(
                f"{path}: truncated TFRecord file (record {index} at byte {offset} "
                f"is cut off); {_REBUILD}."
            )
        length, length_crc = struct.unpack("<QI", header)
        if mask(crc32c(header[:8])) != length_crc:
            raise ValueError(
                f"{path}: record {index}: its length field fails its CRC check "
                f"(corrupt header at byte {offset}); {_REBUILD}."
            )
        if length > size - offset - 16:  # Never trust a length past the file.
            raise ValueError(
                f"{path}: truncated or corrupt TFRecord file (record {index} claims "
                f"{length} bytes, {max(0, size - offset - 16)} remain); {_REBUILD}."
            )
        yield index, offset + 12, length
        offset += 16 + length
        index += 1


def _bad_data(path, index):
    return ValueError(
        f"{path}: record {index}: its data fails its CRC check (corrupt bytes); "
        f"{_REBUILD}."
    )


def _verified(path, batch):
    # Checks the data CRCs of records of one length together, in file order.
    if not batch:
        return
    rows = np.frombuffer(b"".join(r for _, _, r in batch), np.uint8)
    rows = rows.reshape(len(batch), -1)
    crcs = crc32c_rows(rows[:, :-4])
    stored = rows[:, -4:].copy().view("<u4")[:, 0]
    for (index, start, record), crc, want in zip(batch, crcs, stored, strict=True):
        if mask(int(crc)) != int(want):
            raise _bad_data(path, index)
        yield index, start, len(record) - 4, record[:-4]


def _streamed(path, f, index, length):
    # Checks the data CRC of a long record without holding it.
    crc, left = Crc32c(), length
    while left:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            break
        crc.update(chunk)
        left -= len(chunk)
    footer = f.read(4)
    if left or len(footer) < 4 or struct.unpack("<I", footer)[0] != mask(crc.value):
        raise _bad_data(path, index)


def _records(path, f, limit=None):
    """Yields `(index, start, length, payload)` of each record, CRCs checked.

    `payload` holds the record, or is None for a record over _CHUNK bytes (it
    lies in `f` at `start`). Records are checked in file order; the first bad
    one raises a one-line ValueError.
    """
    batch = []  # Read, not yet checked.
    try:
        for index, start, length in _headers(path, f, limit):
            if batch and (length != len(batch[0][2]) - 4 or length > _CHUNK):
                done, batch = batch, []
                yield from _verified(path, done)
            if length > _CHUNK:
                _streamed(path, f, index, length)
                yield index, start, length, None
                continue
            record = f.read(length + 4)
            if len(record) != length + 4:
                raise _bad_data(path, index)
            batch.append((index, start, record))
            if len(batch) * (length + 4) >= _BATCH:
                done, batch = batch, []
                yield from _verified(path, done)
    except ValueError:
        yield from _verified(path, batch)  # A bad record before this one wins.
        raise
    yield from _verified(path, batch)


def _checked_records(path, want_data, shape=None, limit=None):
    """Yields `(index, shape, pixel bytes or None)` of every record, checked."""
    expected = None if shape is None else tuple(shape)
    source_of_expected = "the expected"
    try:
        with open(path, "rb") as f:
            for index, start, length, payload in _records(path, f, limit):
                source, base = (f, start)
                if payload is not None:
                    source, base = io.BytesIO(payload), 0
                try:
                    got, (lo, hi) = image_layout(source, base, base + length)
                    if expected is not None and got != expected:
                        raise BadRecord(
                            f"`shape` {list(got)} differs from {source_of_expected} "
                            f"{list(expected)}"
                        )
                except BadRecord as e:
                    message = f"{path}: record {index}: {e}; {_REBUILD}."
                    raise ValueError(message) from None
                if expected is None:
                    expected, source_of_expected = got, "the first record's"
                data = None
                if want_data:
                    source.seek(lo)
                    data = source.read(hi - lo)
                yield index, got, data
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e}).") from e


def check_tfrecord(path, shape=None):
    """Reads every record of a TFRecord file and checks it, in bounded memory.

    Pure Python and numpy (no TensorFlow). Checks each record's framing (length
    field and its masked CRC32C, never trusting a length past the end of the
    file; data CRC) and that it is an official image Example: a `shape` of three
    positive int64 `[C, H, W]` whose product is the length of its single `data`
    bytes value, the same in every record. Use it (or `find_bad_record`) to
    explain a `tf.errors.DataLossError` or `InvalidArgumentError` from tf.data.

    Args:
        path: the .tfrecords file.
        shape: the `[C, H, W]` every record must have; None takes the first's.

    Returns:
        The number of records.

    Raises:
        ValueError: "PATH: record N: what is wrong; what to do", at the first bad
            record (or truncation, or an unreadable file).
    """
    count = 0
    for index, _, _ in _checked_records(path, False, shape):
        count = index + 1
    return count


def find_bad_record(path, shape=None):
    """The one-line message `check_tfrecord(path, shape)` raises, or None if fine."""
    try:
        check_tfrecord(path, shape)
    except ValueError as e:
        return str(e)
    return None


def read_images(path, limit=None):
    """Yields the uint8 `[C, H, W]` images of a TFRecord file, checked as by
    `check_tfrecord` (a ValueError names the first bad record)."""
    for _, shape, data in _checked_records(path, True, limit=limit):
        yield np.frombuffer(data, np.uint8).reshape(shape)


def scan_tfrecord(path):
    """Counts the records of a TFRecord file by walking its length headers.

    Reads 12 bytes per record, so it is fast on large files, and finds
    truncation and corrupt length fields (not corrupt data: `check_tfrecord`).

    Returns:
        The number of records.

    Raises:
        ValueError: naming the file and record, when it is truncated or corrupt.
    """
    count = 0
    with open(path, "rb") as f:
        for index, _, _ in _headers(path, f, None):
            count = index + 1
    return count


class TFRecordExporter:
    """Writes an official multi-resolution dataset, atomically.

    Everything is written into a temporary sibling directory, made at the first
    write and renamed to `tfrecord_dir` by `close()`; an exception inside the
    `with` block (or `abort()`) removes it, so a failure, Ctrl-C or a SIGTERM
    that raises leaves nothing half-built, wherever it lands.

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
        self.shape = None
        self.num_images = 0
        self.writers = []
        self.has_labels = False
        self._made = False

    def _staging(self):
        # Made here, inside the caller's `with` block, never between the
        # constructor and `__enter__`, where nothing would remove it.
        staging = self.tmp_dir / self.tfrecord_dir.name
        if not self._made:
            self._made = True
            remove_tree(self.tmp_dir)
            staging.mkdir(parents=True)
        return staging

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
                tf.io.TFRecordWriter(str(level_path(self._staging(), log2 - lod)))
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
        with open(labels_path(self._staging()), "wb") as f:
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
            os.replace(self._staging(), self.tfrecord_dir)
        finally:
            remove_tree(self.tmp_dir)

    def abort(self):
        """Removes everything written so far."""
        for writer in self.writers:
            writer.close()
        self.writers = []
        remove_tree(self.tmp_dir)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False
