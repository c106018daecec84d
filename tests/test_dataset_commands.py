"""dataset_tool commands on user images: round trips, conversions, bad input."""

import io
import json
import os
import re
import signal
import struct
import subprocess
import zipfile

import numpy as np
import PIL.Image
import pytest
from dataset_helpers import (
    ROOT,
    read_stylegan3_zip,
    run_dataset_tools,
    tool_command,
    tool_lines,
)

from datasets import commands
from datasets.cache import DEMO_ZIP, resolve_dataset
from datasets.export import write_arrays
from datasets.reader import describe, make_dataset

RNG = np.random.RandomState(0)


def save(path, array, mode=None, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = (
        PIL.Image.fromarray(array) if mode is None else PIL.Image.fromarray(array, mode)
    )
    image.save(path, format=fmt)
    return path


def rgb(side=8, height=None):
    return RNG.randint(0, 256, [height or side, side, 3]).astype(np.uint8)


def png_bytes(array):
    buffer = io.BytesIO()
    PIL.Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def read_all(tfrecord_dir):
    info = describe(tfrecord_dir)
    data = make_dataset(info, batch_size=1, shuffle=False, repeat=False)
    images = np.concatenate([x.numpy() for x, _ in data])
    labels = np.concatenate([y.numpy() for _, y in data])
    return images, labels


def leftovers(tmp_path, keep=("images",)):
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in keep)


def test_folder_round_trip_is_bit_identical(tmp_path):
    arrays = {f"img{i}.png": rgb() for i in range(6)}
    for name, array in arrays.items():
        save(tmp_path / "images" / "sub" / name, array)
    count = commands.create_from_images(
        tmp_path / "out", tmp_path / "images", shuffle=False
    )
    assert count == 6
    images, labels = read_all(tmp_path / "out")
    np.testing.assert_array_equal(images, np.stack([arrays[k] for k in sorted(arrays)]))
    assert labels.shape == (6, 0)


def test_zip_with_labels_from_folders_and_max_images(tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for cls in ("cat", "dog"):
            for i in range(3):
                z.writestr(f"{cls}/{i}.png", png_bytes(rgb()))
        z.writestr("notes.txt", "not an image")
    commands.create_from_zip(tmp_path / "out", archive, labels_from="folders", seed=5)
    images, labels = read_all(tmp_path / "out")
    assert images.shape == (6, 8, 8, 3)
    assert labels.sum(axis=0).tolist() == [3.0, 3.0]
    commands.create_from_zip(tmp_path / "few", archive, max_images=4)
    assert describe(tmp_path / "few").num_images == 4


@pytest.mark.parametrize(
    "transform, expected_size", [("center-crop", 8), ("resize", 8), ("pad", 8)]
)
def test_resolution_and_transforms(tmp_path, transform, expected_size):
    save(tmp_path / "images" / "wide.png", rgb(side=24, height=12))
    save(tmp_path / "images" / "small.png", rgb(side=5))
    commands.create_from_images(
        tmp_path / "out", tmp_path / "images", resolution=8, transform=transform
    )
    images, _ = read_all(tmp_path / "out")
    assert images.shape == (2, expected_size, expected_size, 3)


def test_center_crop_keeps_the_centre(tmp_path):
    array = np.zeros([8, 16, 3], np.uint8)
    array[:, 4:12] = 200
    save(tmp_path / "images" / "a.png", array)
    commands.create_from_images(tmp_path / "out", tmp_path / "images", resolution=8)
    images, _ = read_all(tmp_path / "out")
    assert images.min() == 200


def test_modes_convert_with_channels(tmp_path):
    folder = tmp_path / "images"
    rgba = np.zeros([8, 8, 4], np.uint8)
    rgba[..., 0] = 255  # Fully transparent red -> white background.
    save(folder / "rgba.png", rgba)
    save(folder / "gray.png", np.full([8, 8], 100, np.uint8))
    save(folder / "gray16.png", np.full([8, 8], 65535, np.uint16))
    assert PIL.Image.open(folder / "gray16.png").mode.startswith("I")
    PIL.Image.fromarray(rgb()).convert("P").save(folder / "palette.png")
    PIL.Image.fromarray(rgb()).convert("CMYK").save(folder / "cmyk.tif")
    with pytest.raises(ValueError, match="mixed colour modes: .*`channels=3`"):
        commands.create_from_images(tmp_path / "out", folder)
    assert leftovers(tmp_path) == []
    commands.create_from_images(tmp_path / "out", folder, channels=3, shuffle=False)
    images, _ = read_all(tmp_path / "out")
    by_name = dict(zip(sorted(os.listdir(folder)), images, strict=True))
    assert (by_name["rgba.png"] == 255).all()
    assert (by_name["gray.png"] == 100).all()
    assert (by_name["gray16.png"] == 255).all()
    commands.create_from_images(tmp_path / "gray", folder, channels=1)
    assert describe(tmp_path / "gray").channels == 1


def test_bad_inputs_name_the_file_and_leave_nothing(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    none_found = (
        f"{folder}: no images found (looked for .jpg, .jpeg, .png, .webp, .bmp, "
        ".tif, .tiff)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(none_found)}$"):
        commands.create_from_images(tmp_path / "out", folder)
    save(folder / "good.png", rgb())
    (folder / "fake.png").write_text("this is not a png")
    with pytest.raises(ValueError, match="fake.png: not an image file"):
        commands.create_from_images(tmp_path / "out", folder)
    (folder / "fake.png").unlink()
    (folder / "cut.png").write_bytes(png_bytes(rgb())[:60])
    with pytest.raises(ValueError, match="cut.png: truncated or corrupt image"):
        commands.create_from_images(tmp_path / "out", folder)
    (folder / "cut.png").unlink()
    os.symlink(tmp_path / "missing.png", folder / "dangling.png")
    with pytest.raises(ValueError, match="dangling.png: cannot be read"):
        commands.create_from_images(tmp_path / "out", folder)
    (folder / "dangling.png").unlink()
    save(folder / "big.png", rgb(side=16))
    with pytest.raises(
        ValueError, match="mixed sizes: .* is 8x8 but .*big.png is 16x16"
    ):
        commands.create_from_images(tmp_path / "out", folder)
    (folder / "big.png").unlink()
    save(folder / "odd.png", rgb(side=6))
    (folder / "good.png").unlink()
    with pytest.raises(ValueError, match="not square with a power-of-two side"):
        commands.create_from_images(tmp_path / "out", folder)
    assert leftovers(tmp_path) == []
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="out already exists"):
        commands.create_from_images(tmp_path / "out", folder, resolution=8)


def test_skip_bad_reports_each_file(tmp_path):
    folder = tmp_path / "images"
    save(folder / "a.png", rgb())
    save(folder / "b.png", rgb())
    (folder / "fake.jpg").write_text("nope")
    (folder / "cut.png").write_bytes(png_bytes(rgb())[:60])
    report = io.StringIO()
    count = commands.create_from_images(
        tmp_path / "out", folder, skip_bad=True, stream=report
    )
    assert count == 2
    text = report.getvalue()
    assert "fake.jpg: not an image file" in text and "cut.png: truncated" in text
    assert "skipped 2 bad image(s)" in text


def test_display_extract_compare_info(tmp_path):
    for i in range(5):
        save(tmp_path / "images" / f"{i}.png", rgb())
    commands.create_from_images(tmp_path / "a", tmp_path / "images")
    commands.create_from_images(tmp_path / "b", tmp_path / "images")
    commands.create_from_images(tmp_path / "c", tmp_path / "images", seed=7)
    assert commands.display(tmp_path / "a", tmp_path / "grid.png", columns=2) == 5
    assert PIL.Image.open(tmp_path / "grid.png").size == (16, 24)
    assert commands.extract(tmp_path / "a", tmp_path / "x") == 5
    assert len(list((tmp_path / "x").glob("img*.png"))) == 5
    assert commands.compare(tmp_path / "a", tmp_path / "b") == (
        True,
        "0 of 5 images differ",
    )
    identical, message = commands.compare(tmp_path / "a", tmp_path / "c")
    assert not identical and "of 5 images differ" in message
    info = commands.info(tmp_path / "a")
    assert (info["images"], info["resolution"], info["channels"]) == (5, 8, 3)
    assert info["bytes"] > 5 * 8 * 8 * 3


def test_resolve_dataset_converts_once(tmp_path):
    for i in range(3):
        save(tmp_path / "images" / f"{i}.png", rgb())
    cache = tmp_path / "cache"
    first, converted = resolve_dataset(tmp_path / "images", cache_dir=cache)
    assert converted and describe(first).num_images == 3
    again, converted = resolve_dataset(tmp_path / "images", cache_dir=cache)
    assert again == first and not converted
    resized, converted = resolve_dataset(
        tmp_path / "images", cache_dir=cache, resolution=4
    )
    assert converted and resized != first
    assert resolve_dataset(first) == (first, False)
    with pytest.raises(ValueError, match="`dataset`: .*nothing does not exist"):
        resolve_dataset(tmp_path / "nothing")


def test_demo_zip_is_shipped_with_its_licence():
    with zipfile.ZipFile(DEMO_ZIP) as z:
        names = z.namelist()
    assert "LICENSE" in names
    assert sum(n.endswith(".png") for n in names) == 2031
    assert (DEMO_ZIP.parent / "LICENSE").is_file()


def test_interrupt_leaves_nothing_half_built(tmp_path, monkeypatch):
    for i in range(6):
        save(tmp_path / "images" / f"{i}.png", rgb())
    calls = []

    def interrupted(data, name, *args):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return rgb()

    monkeypatch.setattr(commands.img, "load_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        commands.create_from_images(tmp_path / "out", tmp_path / "images", workers=1)
    assert leftovers(tmp_path) == []


def corrupt_record(path, index):
    """Flips one byte inside a record's payload (all records of a level are alike)."""
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    data[index * (16 + length) + 12 + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def bad_dataset(tmp_path):
    for i in range(6):
        save(tmp_path / "images" / f"{i}.png", rgb())
    commands.create_from_images(tmp_path / "good", tmp_path / "images")
    commands.create_from_images(tmp_path / "bad", tmp_path / "images")
    top = tmp_path / "bad" / "bad-r03.tfrecords"
    corrupt_record(top, 3)
    return tmp_path / "good", tmp_path / "bad", top


def test_a_bad_record_is_named_by_every_reading_command(tmp_path):
    good, bad, top = bad_dataset(tmp_path)
    message = (
        f"{top}: record 3: its data fails its CRC check (corrupt bytes); rebuild "
        "the dataset with dataset_tool.py or restore the file from a copy."
    )
    pattern = f"^{re.escape(message)}$"
    for command in (
        lambda: commands.info(bad),
        lambda: commands.display(bad, tmp_path / "grid.png"),
        lambda: commands.extract(bad, tmp_path / "extracted"),
        lambda: commands.compare(good, bad),
        lambda: commands.compare(bad, good),
    ):
        with pytest.raises(ValueError, match=pattern):
            command()
    assert leftovers(tmp_path, keep=("images", "good", "bad")) == []
    assert commands.info(bad, check=False)["images"] == 6  # Headers only.
    assert commands.display(bad, tmp_path / "grid.png", count=3) == 3
    lower = bad / "bad-r02.tfrecords"
    corrupt_record(lower, 5)
    with pytest.raises(ValueError, match=r"bad-r02.tfrecords: record 5: its data"):
        commands.info(bad)


def test_the_cli_reports_each_outcome_in_one_line(tmp_path):
    # Four commands at once, each in its own process (what the library says
    # is tested beside it): a bad image (with the hint of its flag), a bad
    # dataset.json, NVIDIA's zip written, an unknown command.
    folder = tmp_path / "images"
    save(folder / "good.png", rgb())
    (folder / "fake.png").write_text("not a png")
    labelled = tmp_path / "labelled.zip"
    names = [f"00000/img{i:08d}.png" for i in range(2)]
    with zipfile.ZipFile(labelled, "w") as z:
        for name in names:
            z.writestr(name, png_bytes(rgb()))
        labels = [[names[0], 0], [names[1], -3]]
        z.writestr("dataset.json", json.dumps({"labels": labels}))
    images = np.random.RandomState(3).randint(0, 256, [3, 8, 8, 3]).astype(np.uint8)
    write_arrays(tmp_path / "ds", images, shuffle=False)
    image, labels, exported, unknown = run_dataset_tools(
        ["create_from_images", tmp_path / "out", folder],
        ["create_from_zip", tmp_path / "o", labelled],
        ["export_zip", tmp_path / "o.zip", tmp_path / "ds", "--resolution=4"],
        ["frobnicate"],
    )
    for result in (image, labels):
        assert result.returncode == 1 and "Traceback" not in result.stderr
    assert tool_lines(image.stderr) == [
        f"dataset_tool.py: error: {folder / 'fake.png'}: not an image file Pillow "
        "can read (--skip_bad skips bad images, listing each)"
    ]
    (line,) = labels.stderr.strip().splitlines()  # Nothing else, not even TF's.
    assert line.startswith(f"dataset_tool.py: error: {labelled}/dataset.json: ")
    assert "labels[1] " in line and "class index -3 is negative" in line
    assert exported.returncode == 0, exported.stderr
    assert f"Wrote 3 images to {tmp_path / 'o.zip'}." in exported.stdout
    _, read, raw = read_stylegan3_zip(tmp_path / "o.zip")
    # The 4x4 level: 2x2 means of the 8x8 images.
    assert np.stack(read).shape == (3, 4, 4, 3) and raw is None
    assert unknown.returncode == 2 and "unknown command 'frobnicate'" in unknown.stderr
    assert leftovers(tmp_path, keep=("images", "labelled.zip", "ds", "o.zip")) == []


def wait_until(condition, tool, what):
    """Polls `condition` while the tool runs (bounded; fails if the tool exits)."""
    for _ in range(2400):
        if condition():
            return
        try:
            tool.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"tool exited before {what}: {tool.stderr.read()}")
    raise AssertionError(f"timed out waiting for {what}")


def open_when_read(fifo, tool):
    """The write end of `fifo`, once the tool opens it to read (never blocks)."""
    opened = []

    def reader_waiting():
        try:
            opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: nobody is reading it yet.
            return False
        return True

    wait_until(reader_waiting, tool, f"the tool to read {fifo.name}")
    return opened[0]


def test_sigterm_while_writing_leaves_nothing_behind(tmp_path):
    # The last image is a FIFO that this test feeds: the tool reads each image
    # twice (its header, then its pixels while writing), so the second read
    # blocks it mid-write, temporary directory made, until the test closes the
    # FIFO. The signal therefore lands while writing; whatever the tool does
    # next (the empty read fails too), nothing may be left behind.
    folder = tmp_path / "images"
    for i in range(4):
        save(folder / f"{i}.png", rgb())
    fifo = folder / "zz.png"
    os.mkfifo(fifo)
    args = ["create_from_images", tmp_path / "out", folder, "--noshuffle"]
    tool = subprocess.Popen(
        tool_command(*args),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        header_read = open_when_read(fifo, tool)
        os.write(header_read, (folder / "0.png").read_bytes())
        os.close(header_read)

        def writing():
            return any(p.name.startswith(".out.tmp-") for p in tmp_path.iterdir())

        wait_until(writing, tool, "the temporary directory")
        pixel_read = open_when_read(fifo, tool)
        tool.send_signal(signal.SIGTERM)
        os.close(pixel_read)
        _, stderr = tool.communicate(timeout=300)
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait()
    assert leftovers(tmp_path) == []
    assert "Traceback" not in stderr
    # Normally the signal is handled at once; were it handled only after the
    # empty read failed, that failure would be the (equally clean) outcome.
    expected = {
        128 + signal.SIGTERM: "dataset_tool.py: terminated; nothing was left "
        "half-written.",
        1: f"dataset_tool.py: error: {fifo}: not an image file Pillow can read "
        "(--skip_bad skips bad images, listing each)",
    }
    assert tool_lines(stderr) == [expected[tool.returncode]]
