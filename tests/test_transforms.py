"""The square-making transforms; center-crop-wide against numpy references
written from NVIDIA's dataset_tool arithmetic (crop rows, resize, pad)."""

import io

import numpy as np
import PIL.Image
import pytest

from datasets import commands
from datasets.reader import describe, make_dataset
from datasets.transforms import fit, wide_crop_rows


def wide_image(seed=0):
    """300x150 RGB: random pixels, so that any misplaced row or column shows."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, [150, 300, 3]).astype(np.uint8)


def test_wide_crop_without_resizing_is_the_image_centred_on_black():
    # At the image's own width the strip is all 150 rows, unresized.
    image = wide_image()
    out = np.asarray(fit(PIL.Image.fromarray(image), 300, "center-crop-wide"))
    expected = np.zeros([300, 300, 3], np.uint8)
    expected[75:225] = image
    np.testing.assert_array_equal(out, expected)


def test_wide_crop_keeps_nvidias_rows_and_pads_them():
    # NVIDIA's arithmetic: rows = round(width_out * h / w) = round(256 * 150 /
    # 300) = 128 rows of the source, from (150 - 128) // 2 = 11, at full width;
    # resized to 256x128; rows 64..191 of a black 256x256. Each source row is
    # one colour, so the horizontal resize leaves it exact.
    colours = np.random.RandomState(1).randint(0, 256, [150, 1, 3]).astype(np.uint8)
    image = np.repeat(colours, 300, axis=1)
    out = np.asarray(fit(PIL.Image.fromarray(image), 256, "center-crop-wide"))
    expected = np.zeros([256, 256, 3], np.uint8)
    expected[64:192] = np.repeat(colours[11:139], 256, axis=1)
    np.testing.assert_array_equal(out, expected)


def test_wide_crop_resizes_the_strip_with_lanczos_both_ways():
    # 300x200 at 128: round(128 * 200 / 300) = 85 rows from 57, Lanczos to
    # 128x64 (Pillow's resize, as NVIDIA's tool), rows 32..95 of 128x128.
    image = np.random.RandomState(2).randint(0, 256, [200, 300, 3]).astype(np.uint8)
    out = np.asarray(fit(PIL.Image.fromarray(image), 128, "center-crop-wide"))
    strip = PIL.Image.fromarray(image[57:142]).resize((128, 64), PIL.Image.LANCZOS)
    expected = np.zeros([128, 128, 3], np.uint8)
    expected[32:96] = np.asarray(strip)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "width, height, resolution, rows",
    [
        (300, 150, 256, 128),
        (300, 150, 300, 150),
        (300, 150, 512, None),  # Narrower than the output: left out.
        (300, 100, 256, None),  # 85 rows < 128: wider than 2:1, left out.
        (256, 129, 256, 129),
        (256, 127, 256, None),
    ],
)
def test_which_images_center_crop_wide_leaves_out(width, height, resolution, rows):
    assert wide_crop_rows(width, height, resolution) == rows


def test_create_from_images_with_center_crop_wide_reports_what_it_leaves_out(
    tmp_path,
):
    folder = tmp_path / "images"
    folder.mkdir()
    PIL.Image.fromarray(wide_image()).save(folder / "a.png")
    PIL.Image.fromarray(wide_image(1)[:, :64]).save(folder / "narrow.png")
    report = io.StringIO()
    count = commands.create_from_images(
        tmp_path / "out",
        folder,
        resolution=128,
        transform="center-crop-wide",
        stream=report,
    )
    assert count == 1
    assert "left out 1 image(s) that `transform=center-crop-wide` drops" in (
        report.getvalue()
    )
    assert "narrow.png" in report.getvalue()
    data = make_dataset(describe(tmp_path / "out"), 1, shuffle=False, repeat=False)
    (images, _), *_ = list(data)
    expected = fit(PIL.Image.fromarray(wide_image()), 128, "center-crop-wide")
    np.testing.assert_array_equal(images[0], np.asarray(expected))
    with pytest.raises(ValueError, match="`transform=center-crop-wide` needs"):
        commands.create_from_images(
            tmp_path / "x", folder, transform="center-crop-wide"
        )
    with pytest.raises(ValueError, match="leaves out every image at `resolution=512`"):
        commands.create_from_images(
            tmp_path / "x", folder, resolution=512, transform="center-crop-wide"
        )
