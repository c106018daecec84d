"""Datasets written by the official dataset tool read here, and ours match theirs.

`tests/data/official_dataset/` was written by the official msg-stylegan-tf
`dataset_tool.TFRecordExporter` (see `tests/data/make_official_dataset.py`, which
also checked the other direction once: the official `TFRecordDataset` reads our
datasets bit for bit). Records were added in the exporter's
`choose_shuffled_order()`, saved in `sources.npz` as `*_order`.

Record bytes are compared up to the order of the two entries ("shape", "data")
of the `tf.train.Features` map: protobuf leaves map order unspecified, and the
upb runtime (python protobuf >= 4) orders map entries by a hash seeded per
process, so the official exporter, like ours, writes either order from one run
to the next (the same order within a process). Everything else (TFRecord
framing, lengths, each entry's bytes, labels file) must be identical.
"""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from datasets.export import shuffled_order, write_arrays
from datasets.reader import describe, make_dataset
from datasets.tfrecords import labels_path, level_path, parse_image_np

DATA = pathlib.Path(__file__).parent / "data" / "official_dataset"
SETS = {"rgb16": "rgb", "gray8": "gray"}


def load(name):
    """(images NHWC, labels or None in source order, write order)."""
    prefix = SETS[name]
    with np.load(DATA / "sources.npz") as sources:
        labels = sources.get(f"{prefix}_labels")
        return sources[f"{prefix}_images"], labels, sources[f"{prefix}_order"]


def read_records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


def read_level(path):
    return np.stack([parse_image_np(r) for r in read_records(path)])


def official_chain(images_nhwc):
    """{log2: uint8 NCHW}: float32 2x2 means of the previous float level, rint."""
    level = images_nhwc.transpose(0, 3, 1, 2)
    levels = {int(np.log2(level.shape[2])): level}
    level = level.astype(np.float32)
    while level.shape[2] > 4:
        level = (
            level[:, :, 0::2, 0::2]
            + level[:, :, 0::2, 1::2]
            + level[:, :, 1::2, 0::2]
            + level[:, :, 1::2, 1::2]
        ) * 0.25
        levels[int(np.log2(level.shape[2]))] = np.rint(level).clip(0, 255)
    return {k: v.astype(np.uint8) for k, v in levels.items()}


def _varint(buf, pos):
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _length_delimited(buf, pos, field=1):
    """Reads one `field` (wire type 2) at `pos`; returns (its whole bytes, end)."""
    assert buf[pos] == (field << 3 | 2), buf[pos]
    length, start = _varint(buf, pos + 1)
    return buf[pos : start + length], start + length


def map_entries(record):
    """The raw bytes of each entry of `Example.features.feature`, sorted.

    An Example is field 1 (Features); Features is repeated field 1 (map entry).
    """
    features, end = _length_delimited(record, 0)
    assert end == len(record)
    _, pos = _varint(features, 1)
    entries = []
    while pos < len(features):
        entry, pos = _length_delimited(features, pos)
        entries.append(entry)
    return sorted(entries)


def test_official_files_and_order():
    assert sorted(p.name for p in (DATA / "rgb16").iterdir()) == [
        "rgb16-r02.tfrecords",
        "rgb16-r03.tfrecords",
        "rgb16-r04.tfrecords",
        "rgb16-rxx.labels",
    ]
    assert sorted(p.name for p in (DATA / "gray8").iterdir()) == [
        "gray8-r02.tfrecords",
        "gray8-r03.tfrecords",
    ]
    for name in SETS:
        images, _, order = load(name)
        # The official choose_shuffled_order() is our default write order.
        np.testing.assert_array_equal(order, shuffled_order(len(images)))


@pytest.mark.parametrize("name", list(SETS))
def test_our_reader_reads_official_top_level_bit_identical(name):
    images, labels, order = load(name)
    info = describe(DATA / name)
    assert info.resolution == images.shape[1]
    assert info.channels == images.shape[3]
    assert info.num_images == len(images)
    assert info.level_files == tuple(
        str(level_path(DATA / name, k))
        for k in range(2, int(np.log2(images.shape[1])) + 1)
    )
    dataset = make_dataset(
        info, batch_size=4, shuffle=False, repeat=False, drop_remainder=False
    )
    batches = list(dataset.as_numpy_iterator())
    got_images = np.concatenate([x for x, _ in batches])
    got_labels = np.concatenate([y for _, y in batches])
    assert got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images[order])
    if labels is None:
        assert info.labels is None and got_labels.shape == (len(images), 0)
    else:
        assert got_labels.dtype == np.float32
        np.testing.assert_array_equal(got_labels, labels[order])
        np.testing.assert_array_equal(info.labels, labels[order])


@pytest.mark.parametrize("name", list(SETS))
def test_official_levels_are_the_float_rint_chain(name):
    images, _, order = load(name)
    chain = official_chain(images[order])
    for log2, expected in chain.items():
        np.testing.assert_array_equal(
            read_level(level_path(DATA / name, log2)), expected
        )


def test_the_data_tells_the_official_chain_from_alternatives():
    """The noise images make the level checks discriminating."""
    images, _, _ = load("rgb16")

    def mean(x):
        x = x.astype(np.float32)
        return (
            x[:, :, 0::2, 0::2]
            + x[:, :, 0::2, 1::2]
            + x[:, :, 1::2, 0::2]
            + x[:, :, 1::2, 1::2]
        ) * 0.25

    level8 = mean(images.transpose(0, 3, 1, 2))
    assert np.any(np.rint(level8) != np.floor(level8 + 0.5))  # ties go to even
    requantized4 = np.rint(mean(np.rint(level8)))  # 2x2 means of the rounded level
    assert np.any(official_chain(images)[2] != requantized4)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("name", list(SETS))
def test_our_exporter_writes_the_official_files(tmp_path, name, shuffle):
    images, labels, order = load(name)
    out = tmp_path / name
    if shuffle:  # our default order is the official shuffled order
        write_arrays(out, images, labels)
    else:
        write_arrays(
            out, images[order], None if labels is None else labels[order], False
        )
    official = DATA / name
    names = sorted(p.name for p in official.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    for fname in names:
        assert (out / fname).stat().st_size == (official / fname).stat().st_size
    if labels is not None:
        assert labels_path(out).read_bytes() == labels_path(official).read_bytes()
    for log2 in range(2, int(np.log2(images.shape[1])) + 1):
        ours = read_records(level_path(out, log2))
        theirs = read_records(level_path(official, log2))
        assert len(ours) == len(theirs) == len(images)
        for mine, reference in zip(ours, theirs, strict=True):
            assert map_entries(mine) == map_entries(reference)
            assert tf.train.Example.FromString(mine) == tf.train.Example.FromString(
                reference
            )
            np.testing.assert_array_equal(
                parse_image_np(mine), parse_image_np(reference)
            )
        if b"".join(ours) == b"".join(theirs):
            # Same map order in both runs: then the files are byte-identical.
            assert level_path(out, log2).read_bytes() == (
                level_path(official, log2).read_bytes()
            )
