"""Hostile images: decompression bombs, oversized files and zip members (zip bombs).

Each is refused in one line naming the file (inside a zip: zip path and member),
before its pixels are decoded and without reading more than the cap into memory;
`skip_bad` skips it and lists it with its reason like any other bad image.
"""

import io
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import PIL.Image
import pytest
from dataset_helpers import fed_fifo

from datasets import commands, images
from datasets.reader import describe

LIMIT = "over the 536,870,912-byte limit for one image"


def png(side=8):
    buffer = io.BytesIO()
    array = np.random.RandomState(side).randint(0, 256, [side, side, 3])
    PIL.Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width, height):
    """A PNG whose header claims `width` x `height` pixels; almost no pixel data."""

    def chunk(kind, body):
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(100)))
        + chunk(b"IEND", b"")
    )


def folder_with(tmp_path, name, data):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(png())
    (folder / name).write_bytes(data)
    return folder


def peak_memory(function, *args, **kwargs):
    """Peak bytes allocated (numpy and Python) while `function` runs."""
    tracemalloc.start()
    try:
        function(*args, **kwargs)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def refused(function, *args, starts):
    """Asserts a one-line ValueError that starts with `starts`."""
    with pytest.raises(ValueError) as raised:
        function(*args)
    message = str(raised.value)
    assert message.startswith(starts) and "\n" not in message, message


def assert_skipped(tmp_path, source, match):
    report = io.StringIO()
    count = commands.create_from_images(
        tmp_path / "out", source, skip_bad=True, stream=report
    )
    assert count == 3 and describe(tmp_path / "out").num_images == 3
    lines = report.getvalue().splitlines()
    assert len(lines) == 2 and lines[1] == "skipped 1 bad image(s)"
    assert lines[0].startswith("skipped ") and match in lines[0]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "width, height, claim",
    [
        (50000, 50000, "2,500,000,000 pixels"),  # Pillow itself refuses this one.
        (12000, 12000, "12000x12000 = 144,000,000 pixels"),  # Our cap, 2**27.
    ],
)
def test_a_decompression_bomb_is_refused_from_its_header(
    tmp_path, width, height, claim
):
    folder = folder_with(tmp_path, "bomb.png", png_header(width, height))
    reason = f"{claim}, over the limit of 134,217,728 (a decompression bomb?)"
    refused(
        commands.create_from_images,
        tmp_path / "out",
        folder,
        starts=f"{folder / 'bomb.png'}: {reason}; shrink it or remove it",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]
    assert_skipped(tmp_path, folder, f"{folder / 'bomb.png'}: {reason}")


def test_a_bomb_inside_a_zip_is_named_by_zip_and_member(tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            z.writestr(f"{i}.png", png())
        z.writestr("sub/bomb.png", png_header(50000, 50000))
    refused(
        commands.create_from_zip,
        tmp_path / "out",
        archive,
        starts=f"{archive}/sub/bomb.png: 2,500,000,000 pixels, over the limit",
    )
    assert_skipped(tmp_path, archive, f"{archive}/sub/bomb.png: 2,500,000,000")


def zip_bomb(path, unpacked, claimed=None):
    """A zip of three images and `huge.png`: `unpacked` zero bytes, deflated.

    With `claimed`, its headers lie that it unpacks to `claimed` bytes.
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(3):
            z.writestr(f"{i}.png", png())
        with z.open("huge.png", "w") as member:
            zeros = bytes(1 << 20)
            for start in range(0, unpacked, len(zeros)):
                member.write(zeros[: unpacked - start])
    if claimed is not None:
        data = bytearray(path.read_bytes())
        central = data.rindex(b"huge.png") - 46  # Its central directory entry.
        assert data[central : central + 4] == b"PK\x01\x02"
        local = struct.unpack("<I", data[central + 42 : central + 46])[0]
        data[central + 24 : central + 28] = struct.pack("<I", claimed)
        data[local + 22 : local + 26] = struct.pack("<I", claimed)
        path.write_bytes(bytes(data))
    assert path.stat().st_size < unpacked // 100  # A high compression ratio.
    return path


def test_a_zip_bomb_member_is_refused_without_unpacking_it(tmp_path):
    archive = zip_bomb(tmp_path / "images.zip", images.MAX_FILE_BYTES + 1)
    source = images.open_source(archive)
    huge = next(f for f in source.files if f.name == "huge.png")
    starts = f"{archive}/huge.png: unpacks to 536,870,913 bytes, {LIMIT} (a zip bomb"
    assert peak_memory(refused, source.open, huge, starts=starts) < 8 << 20
    refused(commands.create_from_zip, tmp_path / "out", archive, starts=starts)
    assert_skipped(tmp_path, archive, "huge.png: unpacks to 536,870,913 bytes")


def test_a_zip_member_whose_header_lies_is_never_read_past_its_claim(tmp_path):
    archive = zip_bomb(tmp_path / "images.zip", 64 << 20, claimed=1000)
    source = images.open_source(archive)
    huge = next(f for f in source.files if f.name == "huge.png")
    starts = f"{archive}/huge.png: unreadable (Bad CRC-32"
    assert peak_memory(refused, source.open, huge, starts=starts) < 8 << 20


def test_an_oversized_file_is_refused_without_reading_it(tmp_path):
    folder = folder_with(tmp_path, "huge.png", b"")
    with open(folder / "huge.png", "wb") as f:
        f.truncate(images.MAX_FILE_BYTES + 1)  # Sparse: no disk, no time.
    source = images.open_source(folder)
    huge = next(f for f in source.files if f.name == "huge.png")
    starts = f"{folder / 'huge.png'}: holds 536,870,913 bytes, {LIMIT}; shrink it"
    assert peak_memory(refused, source.open, huge, starts=starts) < 8 << 20
    assert_skipped(tmp_path, folder, "huge.png: holds 536,870,913 bytes")


def test_a_stream_longer_than_the_cap_is_cut_off_at_the_cap(tmp_path, monkeypatch):
    # A FIFO has no size to check first: the read itself must stop at the cap.
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1 << 20)
    folder = folder_with(tmp_path, "stream.png", b"")
    (folder / "stream.png").unlink()
    with fed_fifo(folder / "stream.png", 16, 1 << 20):
        source = images.open_source(folder)
        stream = next(f for f in source.files if f.name == "stream.png")
        refused(
            source.open,
            stream,
            starts=f"{folder / 'stream.png'}: holds more than 1,048,576 bytes, over",
        )
