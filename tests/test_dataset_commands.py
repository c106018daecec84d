"""dataset_tool commands on user images: round trips, conversions, bad input."""

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import PIL.Image
import pytest

from datasets import commands
from datasets.cache import DEMO_ZIP, resolve_dataset
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
                buffer = io.BytesIO()
                PIL.Image.fromarray(rgb()).save(buffer, format="PNG")
                z.writestr(f"{cls}/{i}.png", buffer.getvalue())
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
    with pytest.raises(ValueError, match="mixed colour modes: .*--channels=3"):
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
    with pytest.raises(ValueError, match="images: no images found"):
        commands.create_from_images(tmp_path / "out", folder)
    save(folder / "good.png", rgb())
    (folder / "fake.png").write_text("this is not a png")
    with pytest.raises(ValueError, match="fake.png: not an image file"):
        commands.create_from_images(tmp_path / "out", folder)
    (folder / "fake.png").unlink()
    buffer = io.BytesIO()
    PIL.Image.fromarray(rgb()).save(buffer, format="PNG")
    (folder / "cut.png").write_bytes(buffer.getvalue()[:60])
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
    buffer = io.BytesIO()
    PIL.Image.fromarray(rgb()).save(buffer, format="PNG")
    (folder / "cut.png").write_bytes(buffer.getvalue()[:60])
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
    with pytest.raises(ValueError, match="--dataset: .*nothing does not exist"):
        resolve_dataset(tmp_path / "nothing")


def test_demo_zip_is_shipped_with_its_licence():
    with zipfile.ZipFile(DEMO_ZIP) as z:
        names = z.namelist()
    assert "LICENSE" in names
    assert sum(n.endswith(".png") for n in names) == 2031
    assert (DEMO_ZIP.parent / "LICENSE").is_file()


def run_tool(*args):
    return subprocess.run(
        [sys.executable, "dataset_tool.py", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        timeout=300,
    )


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_tool("create_from_images", tmp_path / "out", tmp_path / "empty")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "dataset_tool.py" in line]
    assert errors == [
        f"dataset_tool.py: error: {tmp_path / 'empty'}: no images found "
        "(looked for .jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff)."
    ]
    result = run_tool("frobnicate")
    assert result.returncode == 2 and "unknown command 'frobnicate'" in result.stderr


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
