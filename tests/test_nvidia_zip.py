"""NVIDIA's zip datasets both ways: a zip written here from the documented
layout (zipfile + PIL + json) trains with its labels; export_zip's output,
read back the same way (dataset_helpers.read_stylegan3_zip), equals its source
bit for bit (`dataset_tool.py export_zip`: test_dataset_commands.py)."""

import io
import json
import zipfile

import numpy as np
import PIL.Image
import pytest
from dataset_helpers import read_stylegan3_zip
from train_helpers import STEP_KIMG, options

from datasets import nvidia_zip
from datasets.export import write_arrays
from datasets.reader import describe, make_dataset
from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.resume import check_must_equal, requested_options

# The class of an image is written into its pixels: its red channel.
CLASS_RED = (40, 120, 200)


def nvidia_name(index):
    """The layout's member name, from its documentation: 1000 images a folder."""
    return f"{index // 1000:05d}/img{index:08d}.png"


def write_stylegan3_zip(path, images, labels):
    """A dataset as stylegan2-ada-pytorch's and stylegan3's tools write it."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        names = []
        for i, image in enumerate(images):
            buffer = io.BytesIO()
            PIL.Image.fromarray(image).save(buffer, format="png", compress_level=0)
            names.append(nvidia_name(i))
            z.writestr(names[-1], buffer.getvalue())
        entries = (
            None
            if labels is None
            else [list(e) for e in zip(names, labels, strict=True)]
        )
        z.writestr("dataset.json", json.dumps({"labels": entries}))


def test_a_stylegan3_zip_trains_with_its_class_labels(tmp_path, capsys):
    rng = np.random.RandomState(0)
    classes = [0, 2, 1, 2, 0, 1, 2, 2]
    images = []
    for c in classes:
        image = rng.randint(0, 256, [8, 8, 3]).astype(np.uint8)
        image[..., 0] = CLASS_RED[c]
        images.append(image)
    archive = tmp_path / "cars.zip"
    write_stylegan3_zip(archive, images, classes)
    # One step of the smallest networks (8x8, no R1): the labels are the point.
    values = options(
        tmp_path, archive, total_kimg=STEP_KIMG, resolution=8, r1_gamma=0.0
    )
    assert cli.run(values) == 0
    captured = capsys.readouterr()
    assert f"labels: 3 classes (one-hot), {archive}/dataset.json" in captured.err
    (run,) = (tmp_path / "results").iterdir()
    log = (run / "log.txt").read_text().splitlines()
    data = next(line for line in log if line.startswith("Dataset: "))
    assert "8 images, 8x8 RGB, 3 label columns" in data
    config = json.loads((run / "training_options.json").read_text())
    assert config["G_kwargs"]["label_size"] == config["D_kwargs"]["label_size"] == 3
    # Every image trained on carries the one-hot row of its own class.
    info = describe(config["dataset"])
    batches = make_dataset(info, batch_size=8, shuffle=False, repeat=False)
    (reals, labels), *_ = list(batches)
    reals, labels = reals.numpy(), labels.numpy()
    assert sorted(map(bytes, reals)) == sorted(map(bytes, np.stack(images)))
    for real, row in zip(reals, labels, strict=True):
        expected = np.eye(3, dtype=np.float32)[CLASS_RED.index(real[0, 0, 0])]
        np.testing.assert_array_equal(row, expected)


@pytest.mark.parametrize("kind", ["one_hot", "floats", "none", "gray"])
def test_export_zip_from_tfrecords_reads_back_bit_for_bit(tmp_path, kind):
    rng = np.random.RandomState(1)
    count = 1003 if kind == "one_hot" else 5  # A second folder of 1000.
    channels = 1 if kind == "gray" else 3
    images = rng.randint(0, 256, [count, 4, 4, channels]).astype(np.uint8)
    classes = rng.randint(0, 4, count)
    classes[0] = 3  # Every column used.
    labels = {
        "one_hot": np.eye(4, dtype=np.float32)[classes],
        "floats": rng.standard_normal([count, 3]).astype(np.float32),
    }.get(kind)
    write_arrays(tmp_path / "ds", images, labels, shuffle=False)
    report = io.StringIO()
    written = nvidia_zip.export_zip(
        tmp_path / "out.zip", tmp_path / "ds", stream=report
    )
    assert written == count
    names, read, raw = read_stylegan3_zip(tmp_path / "out.zip")
    assert names[:2] == ["00000/img00000000.png", "00000/img00000001.png"]
    assert names[-1] == nvidia_name(count - 1)
    read = np.stack(read)
    np.testing.assert_array_equal(read.reshape(images.shape), images)
    if kind == "one_hot":
        assert all(type(r) is int for r in raw)  # Class indices, as NVIDIA's.
        np.testing.assert_array_equal(np.eye(4, dtype=np.float32)[raw], labels)
    elif kind == "floats":
        np.testing.assert_array_equal(np.asarray(raw, np.float32), labels)
    else:
        assert raw is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "out.zip"]


def test_one_hot_labels_whose_last_class_is_unused_stay_lists(tmp_path):
    # Class indices would give NVIDIA's max + 1 = 2 columns, not our 3.
    labels = np.eye(3, dtype=np.float32)[[0, 1, 1]]
    write_arrays(tmp_path / "ds", np.zeros([3, 4, 4, 3], np.uint8), labels)
    nvidia_zip.export_zip(tmp_path / "out.zip", tmp_path / "ds")
    _, _, raw = read_stylegan3_zip(tmp_path / "out.zip")
    np.testing.assert_array_equal(np.asarray(raw, np.float32), labels)


def test_export_zip_of_an_image_zip_with_dataset_json_round_trips(tmp_path):
    rng = np.random.RandomState(2)
    images = [rng.randint(0, 256, [8, 8, 3]).astype(np.uint8) for _ in range(4)]
    values = rng.standard_normal([4, 2]).astype(np.float32).tolist()
    write_stylegan3_zip(tmp_path / "theirs.zip", images, values)
    nvidia_zip.export_zip(tmp_path / "ours.zip", tmp_path / "theirs.zip")
    theirs, ours = (
        read_stylegan3_zip(tmp_path / n) for n in ("theirs.zip", "ours.zip")
    )
    assert theirs[0] == ours[0]
    np.testing.assert_array_equal(np.stack(theirs[1]), np.stack(ours[1]))
    assert theirs[2] == ours[2] == values


def test_export_zip_refuses_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    write_arrays(tmp_path / "ds", np.zeros([3, 4, 4, 3], np.uint8))
    (tmp_path / "there.zip").write_text("keep")
    with pytest.raises(ValueError, match="there.zip already exists"):
        nvidia_zip.export_zip(tmp_path / "there.zip", tmp_path / "ds")
    assert (tmp_path / "there.zip").read_text() == "keep"
    with pytest.raises(ValueError, match="`transform`: for image folders and zips"):
        nvidia_zip.export_zip(tmp_path / "a.zip", tmp_path / "ds", transform="pad")
    with pytest.raises(ValueError, match="`resolution=8`: .* has no level"):
        nvidia_zip.export_zip(tmp_path / "a.zip", tmp_path / "ds", resolution=8)
    calls = []

    def interrupted(image):
        calls.append(image)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return b""

    monkeypatch.setattr(nvidia_zip, "png_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nvidia_zip.export_zip(tmp_path / "a.zip", tmp_path / "ds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "there.zip"]


def test_a_resume_given_the_default_labels_from_is_the_runs():
    requested = requested_options({"seed": 7}, "auto", "/data/cars.zip")
    run = TrainingConfig(
        dataset="/cache/cars-0123456789abcdef",
        preset="msg_stylegan_32",
        arch="msg_stylegan",
        G_kwargs={"resolution": 32},
        D_kwargs={"resolution": 32},
        mixed_precision="off",
        seed=7,
        requested=requested,
    )
    check_must_equal(run, {"labels_from": "auto"}, {"labels_from"})
    with pytest.raises(
        ValueError, match="`labels_from=none` differs from the run's auto"
    ):
        check_must_equal(run, {"labels_from": "none"}, {"labels_from"})
