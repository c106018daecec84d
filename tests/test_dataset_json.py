"""dataset.json (NVIDIA's labels) read from folders and zips: labels as NVIDIA's
training takes them, `labels_from`, every bad file refused in one line (by
dataset_tool.py too: test_dataset_commands.py runs the CLI)."""

import io
import json
import os
import re
import zipfile

import numpy as np
import PIL.Image
import pytest
from dataset_helpers import fed_fifo

from datasets import commands, dataset_json, images
from datasets.cache import conversion_dir, plan_dataset
from datasets.reader import describe

NAMES = ("00000/img00000000.png", "00000/img00000001.png", "00000/img00000002.png")


def png(value, side=8):
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.full([side, side, 3], value, np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def folder(tmp_path, labels, names=NAMES, raw=None):
    """A folder of NVIDIA's layout: image i is filled with 10 * i."""
    root = tmp_path / "data"
    for i, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(png(10 * i))
    if raw is not None or labels is not ...:
        text = raw if raw is not None else json.dumps({"labels": labels})
        (root / "dataset.json").write_text(text)
    return root


def zipped(tmp_path, labels, names=NAMES):
    path = tmp_path / "data.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for i, name in enumerate(names):
            z.writestr(name, png(10 * i))
        if labels is not ...:
            z.writestr("dataset.json", json.dumps({"labels": labels}))
    return path


def tfrecord_labels(tfrecord_dir):
    return describe(tfrecord_dir).labels


def test_class_indices_become_one_hot_of_max_plus_one_in_either_container(tmp_path):
    labels = [[NAMES[0], 3], [NAMES[1], 0], [NAMES[2], 3]]
    for i, source in enumerate((folder(tmp_path, labels), zipped(tmp_path, labels))):
        report = io.StringIO()
        out = tmp_path / f"out{i}"
        commands.create_from_images(out, source, shuffle=False, stream=report)
        # One-hot of 4 columns (max index 3 + 1), as NVIDIA's training makes them.
        expected = np.eye(4, dtype=np.float32)[[3, 0, 3]]
        np.testing.assert_array_equal(tfrecord_labels(out), expected)
        assert f"labels: 4 classes (one-hot), {source}/dataset.json" in (
            report.getvalue()
        )


def test_number_lists_are_taken_as_they_are(tmp_path):
    values = [[0.5, -1.25], [1e-7, 3.0], [2, 0]]
    labels = [[n, v] for n, v in zip(NAMES, values, strict=True)]
    commands.create_from_images(
        tmp_path / "out", folder(tmp_path, labels), shuffle=False
    )
    np.testing.assert_array_equal(
        tfrecord_labels(tmp_path / "out"), np.asarray(values, np.float32)
    )


def test_labels_from_decides_which_labels_and_null_means_none(tmp_path):
    classes = [[f"{c}/{i}.png", 1] for c in ("cat", "dog") for i in range(2)]
    root = folder(tmp_path, classes, names=[e[0] for e in classes])
    # Unset (auto): dataset.json, which gives all four class 1 of two.
    commands.create_from_images(tmp_path / "auto", root, shuffle=False)
    np.testing.assert_array_equal(tfrecord_labels(tmp_path / "auto"), [[0, 1]] * 4)
    commands.create_from_images(
        tmp_path / "folders", root, shuffle=False, labels_from="folders"
    )
    np.testing.assert_array_equal(
        tfrecord_labels(tmp_path / "folders"), [[1, 0], [1, 0], [0, 1], [0, 1]]
    )
    commands.create_from_images(tmp_path / "none", root, labels_from="none")
    assert tfrecord_labels(tmp_path / "none") is None
    # Null labels, or no dataset.json: no labels; dataset_json then insists.
    commands.create_from_images(tmp_path / "null", zipped(tmp_path, None))
    assert tfrecord_labels(tmp_path / "null") is None
    bare = zipped(tmp_path / "bare", ...)
    with pytest.raises(ValueError, match="`labels_from=dataset_json`: .*has no"):
        commands.create_from_images(tmp_path / "x", bare, labels_from="dataset_json")


BAD = [
    (
        [[NAMES[0], 0], [NAMES[1], 1], ["00000/missing.png", 2]],
        r'labels\[2\] \["00000/missing.png", 2\]: names no image of',
    ),
    (
        [[NAMES[0], 0], [NAMES[1], [0.5]], [NAMES[2], 1]],
        r"labels\[1\] .*: labels\[0\] is a class index but this label is not",
    ),
    (
        [[NAMES[0], [1, 2]], [NAMES[1], [1, 2]], [NAMES[2], [1]]],
        r"labels\[2\] .*: the label holds 1 numbers but labels\[0\] holds 2",
    ),
    (
        [[NAMES[0], [1.0]], [NAMES[1], [float("nan")]], [NAMES[2], [1.0]]],
        r"labels\[1\] .*NaN.*: the label holds a non-finite number",
    ),
    (
        [[NAMES[0], [1.0]], [NAMES[1], [1.0]], [NAMES[2], [1e39]]],
        r"labels\[2\] .*: the label holds a non-finite number .*beyond float32",
    ),
    (
        [[NAMES[0], 0], [NAMES[1], -1], [NAMES[2], 1]],
        r"labels\[1\] .*: class index -1 is negative",
    ),
    (
        [[NAMES[0], 0], [NAMES[1], 1], [NAMES[2], 10**12]],
        r"labels\[2\] .*: class index 1000000000000 is over the limit of 65,535",
    ),
    (
        [[NAMES[0], 0], [NAMES[1], 1], [NAMES[0], 1], [NAMES[2], 1]],
        r"labels\[2\] .*: the name of labels\[0\] again",
    ),
    (
        [[NAMES[0], 0], [NAMES[1], True], [NAMES[2], 1]],
        r"labels\[1\] .*: a label must be a class index .*received true",
    ),
    (
        [[NAMES[0], 0.5], [NAMES[1], 0], [NAMES[2], 1]],
        r"labels\[0\] .*: a label must be a class index .*received 0.5",
    ),
    (
        [[NAMES[0], 0], [NAMES[1]], [NAMES[2], 1]],
        r"labels\[1\] .*: an entry must be \[file name, label\]",
    ),
    (
        [[NAMES[0], 0], [NAMES[1], []], [NAMES[2], 1]],
        r"labels\[1\] .*: the label is an empty list",
    ),
    (
        [[NAMES[0], ["a"]], [NAMES[1], [1]], [NAMES[2], [1]]],
        r"labels\[0\] .*: the label list holds something other than numbers",
    ),
    (
        [[NAMES[0], 0], [NAMES[2], 1]],
        r'no label for "00000/img00000001.png" \(1 of 3 images have none',
    ),
]


@pytest.mark.parametrize("labels, message", BAD, ids=range(len(BAD)))
def test_a_bad_dataset_json_is_one_line_naming_the_file_and_first_bad_entry(
    tmp_path, labels, message
):
    for source in (folder(tmp_path, labels), zipped(tmp_path, labels)):
        with pytest.raises(ValueError) as refused:
            commands.create_from_images(tmp_path / "out", source)
        text = str(refused.value)
        assert "\n" not in text
        assert text.startswith(f"{source}/dataset.json: "), text
        assert re.search(message, text), text
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
        ('{"labelz": []}', "no top-level `labels`; NVIDIA's layout is"),
        ("[]", "no top-level `labels`"),
        ('{"labels": {"a": 1}}', "`labels` must be a list or null"),
        ('{"labels": [["00000/img00000000.png", 1' + "0" * 5000 + "]]}", "not valid"),
    ],
    ids=["syntax", "deep", "encoding", "no-labels", "array", "dict", "digits"],
)
def test_a_file_that_is_not_nvidias_layout_is_refused(tmp_path, raw, message):
    root = folder(tmp_path, ...)
    path = root / "dataset.json"
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    with pytest.raises(ValueError) as refused:
        images.open_source(root)
    text = str(refused.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_oversized_files_and_label_tables_are_refused_before_reading_on(
    tmp_path, monkeypatch
):
    labels = [[n, [0.25] * 8] for n in NAMES]
    source_dir, source_zip = folder(tmp_path, labels), zipped(tmp_path, labels)
    size = len(json.dumps({"labels": labels}))
    monkeypatch.setattr(dataset_json, "MAX_JSON_BYTES", size - 1)
    for source in (source_dir, source_zip):
        with pytest.raises(ValueError, match=f"{size:,} bytes, over the limit of"):
            images.open_source(source)
    monkeypatch.setattr(dataset_json, "MAX_JSON_BYTES", 2**28)
    monkeypatch.setattr(dataset_json, "MAX_LABEL_VALUES", 3 * 8 - 1)
    with pytest.raises(ValueError, match="3 images x 8 label columns is over"):
        images.open_source(source_zip)


def test_a_zip_member_whose_header_lies_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_json, "MAX_JSON_BYTES", 1000)
    path = zipped(tmp_path, ...)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("dataset.json", " " * 100_000)
    # Claim 10 bytes in both headers: the read stops at the claim, and the
    # checksum then fails.
    data = bytearray(path.read_bytes())
    for header, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.rfind(header)
        data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="data.zip/dataset.json: unreadable .*Bad CRC"):
        images.open_source(path)


def test_the_cache_key_follows_dataset_json_content_and_resolved_labels_from(
    tmp_path,
):
    labels = [[n, i % 2] for i, n in enumerate(NAMES)]
    root = folder(tmp_path, labels)
    path = root / "dataset.json"
    before = conversion_dir(root, tmp_path / "cache")
    # Same size, same modification time, other labels: another conversion.
    stat = path.stat()
    path.write_text(json.dumps({"labels": [[n, 1 - c] for n, c in labels]}))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = conversion_dir(root, tmp_path / "cache")
    assert after != before
    # Unset, auto and what auto picks share one conversion; none is another.
    for same in ("auto", "dataset_json"):
        assert conversion_dir(root, tmp_path / "cache", labels_from=same) == after
    assert conversion_dir(root, tmp_path / "cache", labels_from="none") != after
    path.unlink()
    bare = conversion_dir(root, tmp_path / "cache")
    assert conversion_dir(root, tmp_path / "cache", labels_from="none") == bare
    with pytest.raises(ValueError, match="`labels_from=dataset_json`"):
        conversion_dir(root, tmp_path / "cache", labels_from="dataset_json")
    # A zip's dataset.json counts by content too.
    archive = zipped(tmp_path, labels)
    first = conversion_dir(archive, tmp_path / "cache")
    stat = archive.stat()
    zipped(tmp_path, [[n, 1 - c] for n, c in labels])
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert archive.stat().st_size == stat.st_size
    assert conversion_dir(archive, tmp_path / "cache") != first


def test_a_dry_run_describes_the_labels(tmp_path):
    labels = [[n, 4] for n in NAMES]
    _, described = plan_dataset(zipped(tmp_path, labels), tmp_path / "cache")
    assert described["classes"] == 5
    assert described["labels"].startswith("5 classes (one-hot), ")


def test_a_dataset_json_stream_is_cut_off_at_the_cap(tmp_path, monkeypatch):
    # A FIFO has no size to check first: the read itself must stop at the cap.
    monkeypatch.setattr(dataset_json, "MAX_JSON_BYTES", 1 << 16)
    root = folder(tmp_path, ...)
    with fed_fifo(root / "dataset.json", 64, 1 << 16):
        with pytest.raises(ValueError, match="more than 65,536 bytes, over the limit"):
            images.open_source(root)
