"""Reading user images (folders and zips): listing, labels, decoding, mode and
size handling.

Every problem with an image is reported with its path: files that are not
images, truncated files, unreadable paths, mixed sizes and mixed colour modes,
decompression bombs and oversized files or zip members (never read past a cap).
Labels come from NVIDIA's dataset.json (checked entry by entry) or top folders.
"""

import dataclasses
import io
import os
import pathlib
import re
import zipfile
import zlib

import numpy as np
import PIL.Image

from datasets import dataset_json
from datasets.transforms import fit, wide_crop_rows, wide_reason

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Where labels come from: `auto` is dataset.json when the dataset has one (as
# NVIDIA's training does), else none.
LABELS_FROM = ("auto", "dataset_json", "folders", "none")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
# Largest image accepted, checked from the header before decoding: 2**27 pixels
# (134M, e.g. 16384 x 8192) admits photos of 100-megapixel cameras, lies below
# Pillow's own refusal (2 * 89.5M), and decodes to at most 512 MiB as 8-bit RGBA.
MAX_PIXELS = 2**27
# Largest image file or unpacked zip member read into memory: any image within
# MAX_PIXELS stored uncompressed at 32 bits per pixel fits.
MAX_FILE_BYTES = 2**29
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    KeyError,
    EOFError,
    RuntimeError,  # Encrypted member.
    NotImplementedError,  # Unsupported compression method.
    zlib.error,
)


class BadImageError(ValueError):
    """An image that cannot be used; the message names the file and the reason."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


@dataclasses.dataclass(frozen=True)
class ImageFile:
    """One image in a folder or zip, with its label: a class index (top folder
    or dataset.json), a tuple of float32 values (dataset.json), or None."""

    name: str
    label: int | tuple | None = None


def label_matrix(labels, label_size):
    """float32 `[N, label_size]` rows for `ImageFile.label`s: one-hot for class
    indices, the values for tuples; None when `label_size` is 0."""
    if not label_size:
        return None
    out = np.zeros([len(labels), label_size], dtype=np.float32)
    for row, label in zip(out, labels, strict=True):
        if isinstance(label, int):
            row[label] = 1.0
        else:
            row[:] = label
    return out


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _labels_by_top_folder(names):
    # Class index = position of the first path component among the sorted ones.
    tops = [pathlib.PurePosixPath(n).parts for n in names]
    if any(len(parts) < 2 for parts in tops):
        loose = next(n for n, parts in zip(names, tops, strict=True) if len(parts) < 2)
        raise ValueError(
            f"`labels_from=folders` needs every image inside a class folder; "
            f"{loose} is not."
        )
    classes = sorted({parts[0] for parts in tops})
    index = {c: i for i, c in enumerate(classes)}
    return [index[parts[0]] for parts in tops], classes


class ImageFolder:
    """Images under a directory, recursively, in sorted order.

    Args:
        path: the directory.
        labels_from: one of `LABELS_FROM` (None: "auto").

    Attributes:
        files: the ImageFiles, with their labels.
        label_size: label columns (0: no labels).
        labels_from: where the labels come from: "dataset_json", "folders"
            or None.
        classes: the class folders' names ("folders"), else empty.
        labels_text: what the labels are and where they come from, or None.
    """

    def __init__(self, path, labels_from=None):
        self.path = pathlib.Path(path)
        if not self.path.is_dir():
            raise ValueError(f"{self.path}: no such directory.")
        names = []
        for root, _, files in os.walk(self.path):
            for f in files:
                if _is_image(f):
                    full = pathlib.Path(root) / f
                    names.append(full.relative_to(self.path).as_posix())
        names.sort()
        _set_labels(self, names, labels_from)

    def has_dataset_json(self):
        return has_dataset_json(self.path)

    def read_dataset_json(self):
        return read_dataset_json(self.path)

    def open(self, image_file):
        path = self.path / image_file.name
        try:
            with open(path, "rb") as f:
                return _read_capped(f, os.fstat(f.fileno()).st_size, path, False)
        except OSError as e:
            raise BadImageError(path, f"cannot be read ({e.strerror or e})") from e

    def display_name(self, image_file):
        return str(self.path / image_file.name)


class ImageZip:
    """Images inside a zip archive, in sorted order (same options and
    attributes as ImageFolder)."""

    def __init__(self, path, labels_from=None):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no such file.")
        try:
            with zipfile.ZipFile(self.path) as z:
                members = z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise ValueError(f"{self.path}: not a valid zip file ({e}).") from e
        self._has_json = dataset_json.DATASET_JSON in members
        self._zip = None
        _set_labels(self, sorted(n for n in members if _is_image(n)), labels_from)

    def has_dataset_json(self):
        return self._has_json

    def read_dataset_json(self):
        return read_dataset_json(self.path)

    def open(self, image_file):
        name = self.display_name(image_file)
        try:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)
            info = self._zip.getinfo(image_file.name)
            # Refused from the header's size; as that may lie, every read is
            # bounded too (zipfile's own read() would inflate a lying member
            # whole before trimming it to the header's size).
            with self._zip.open(info) as member:
                return _read_capped(member, info.file_size, name, True)
        except _ZIP_ERRORS as e:
            raise BadImageError(name, f"unreadable ({e})") from e

    def display_name(self, image_file):
        return f"{self.path}/{image_file.name}"


def _check_size(size, name, in_zip, at_least=False):
    if size <= MAX_FILE_BYTES:
        return
    amount = f"more than {MAX_FILE_BYTES:,}" if at_least else f"{size:,}"
    verb, bomb = ("unpacks to", " (a zip bomb?)") if in_zip else ("holds", "")
    raise BadImageError(
        name,
        f"{verb} {amount} bytes, over the {MAX_FILE_BYTES:,}-byte limit for one "
        f"image{bomb}; shrink it or remove it",
    )


def _read_capped(f, size_hint, name, in_zip, limit=None, check=None):
    # Reads to the end, never holding more than limit + 1 bytes.
    limit = MAX_FILE_BYTES if limit is None else limit
    check = check or (lambda size, at_least: _check_size(size, name, in_zip, at_least))
    check(size_hint, False)
    chunks, total = [], 0
    want = size_hint + 1 if size_hint else 1 << 20
    while True:
        chunk = f.read(min(want, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        check(total, True)
        want = 1 << 20


def _read_json_capped(f, size_hint, name):
    limit = dataset_json.MAX_JSON_BYTES

    def check(size, at_least):
        if size > limit:
            amount = f"more than {limit:,}" if at_least else f"{size:,}"
            raise ValueError(
                f"{name}: {amount} bytes, over the limit of {limit:,} for a "
                "dataset.json."
            )

    return _read_capped(f, size_hint, name, False, limit, check)


def resolve_labels_from(labels_from, has_dataset_json, where):
    """Where labels come from: "dataset_json", "folders" or None (no labels).

    Args:
        labels_from: one of `LABELS_FROM`, or None ("auto": dataset.json when
            the dataset has one, as NVIDIA's training does, else none).
        has_dataset_json: whether the dataset holds a top-level dataset.json.
        where: the dataset, as errors name it.

    Raises:
        ValueError: an unknown value, or "dataset_json" without the file.
    """
    if labels_from not in (None, *LABELS_FROM):
        raise ValueError(
            f"`labels_from` must be one of {LABELS_FROM}. Received: {labels_from!r}"
        )
    if labels_from in (None, "auto"):
        return "dataset_json" if has_dataset_json else None
    if labels_from == "dataset_json" and not has_dataset_json:
        raise ValueError(
            f"`labels_from=dataset_json`: {where} has no top-level "
            f"{dataset_json.DATASET_JSON}."
        )
    return None if labels_from == "none" else labels_from


def _set_labels(source, names, labels_from):
    # Sets the source's files (with labels), label_size, labels_from, classes
    # and labels_text.
    if not names:
        raise ValueError(
            f"{source.path}: no images found (looked for "
            f"{', '.join(IMAGE_EXTENSIONS)})."
        )
    mode = resolve_labels_from(labels_from, source.has_dataset_json(), source.path)
    source.files = [ImageFile(n) for n in names]
    source.label_size, source.classes = 0, []
    source.labels_from, source.labels_text = mode, None
    if mode == "folders":
        labels, source.classes = _labels_by_top_folder(names)
        source.files = [ImageFile(n, c) for n, c in zip(names, labels, strict=True)]
        source.label_size = len(source.classes)
        source.labels_text = f"{source.label_size} classes (one-hot), the top folders"
    elif mode == "dataset_json":
        where = f"{source.path}/{dataset_json.DATASET_JSON}"
        parsed = dataset_json.parse(
            source.read_dataset_json(), where, names, source.path
        )
        if parsed is None:  # "labels": null
            source.labels_from = None
            return
        source.files = [ImageFile(n, parsed.by_name[n]) for n in names]
        source.label_size = parsed.label_size
        source.labels_text = f"{parsed.describe()}, {where}"


def open_source(path, labels_from=None):
    """Returns an ImageFolder or ImageZip for a directory or a .zip file.

    Raises:
        ValueError: one line naming the path; for a bad dataset.json, the file
            and its first bad entry.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        return ImageFolder(path, labels_from)
    if path.suffix.lower() == ".zip":
        return ImageZip(path, labels_from)
    raise ValueError(f"{path}: expected a directory of images or a .zip file.")


def has_dataset_json(path):
    """Whether a folder or .zip holds a top-level dataset.json (names only)."""
    path = pathlib.Path(path)
    if path.is_dir():  # Any entry but a folder, as NVIDIA's walk lists it.
        entry = path / dataset_json.DATASET_JSON
        return os.path.lexists(entry) and not entry.is_dir()
    try:
        with zipfile.ZipFile(path) as z:
            return dataset_json.DATASET_JSON in z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path}: not a valid zip file ({e}).") from e


def read_dataset_json(path):
    """A folder's or zip's top-level dataset.json bytes, read with the
    `dataset_json.MAX_JSON_BYTES` cap (refused past it, never read further).

    Raises:
        ValueError: one line naming the file.
    """
    path = pathlib.Path(path)
    name = f"{path}/{dataset_json.DATASET_JSON}"
    try:
        if path.is_dir():
            with open(path / dataset_json.DATASET_JSON, "rb") as f:
                return _read_json_capped(f, os.fstat(f.fileno()).st_size, name)
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(dataset_json.DATASET_JSON)
            with z.open(info) as member:
                return _read_json_capped(member, info.file_size, name)
    except _ZIP_ERRORS as e:  # OSError included.
        raise ValueError(f"{name}: unreadable ({e}).") from e


def _too_many_pixels(name, pixels):
    return BadImageError(
        name,
        f"{pixels} pixels, over the limit of {MAX_PIXELS:,} (a decompression "
        "bomb?); shrink it or remove it",
    )


def _open(data, name):
    # Reads the header only; refuses more than MAX_PIXELS before any decoding.
    try:
        image = PIL.Image.open(io.BytesIO(data))
    except PIL.Image.DecompressionBombError as e:
        claimed = re.search(r"\((\d+) pixels\)", str(e))
        pixels = f"{int(claimed.group(1)):,}" if claimed else "more"
        raise _too_many_pixels(name, pixels) from e
    except PIL.UnidentifiedImageError as e:
        raise BadImageError(name, "not an image file Pillow can read") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImageError(name, f"truncated or corrupt image ({e})") from e
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(name, f"{width}x{height} = {width * height:,}")
    return image


def decode(data, name):
    """Decodes image bytes fully (so truncation shows now), or raises BadImageError."""
    image = _open(data, name)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImageError(name, f"truncated or corrupt image ({e})") from e
    return image


def probe(data, name):
    """Returns `(width, height, natural_channels)` from the header only."""
    image = _open(data, name)
    return image.size[0], image.size[1], natural_channels(image)


def natural_channels(image):
    """1 for grayscale modes (with or without alpha, 16-bit included), else 3."""
    return 1 if image.mode in GRAY_MODES else 3


def to_8bit_mode(image, channels):
    """Converts any Pillow mode to "L" or "RGB"; alpha is composited on white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max(initial=0) > 255 or "16" in image.mode else 255.0
        array = np.clip(np.rint(array * (255.0 / peak)), 0, 255).astype(np.uint8)
        image = PIL.Image.fromarray(array, mode="L")
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        background = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = PIL.Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("L" if channels == 1 else "RGB")


def load_array(data, name, channels, resolution=None, transform="center-crop"):
    """Decodes, converts and (optionally) resizes one image.

    Returns:
        uint8 `[H, W, channels]`.
    """
    image = to_8bit_mode(decode(data, name), channels)
    if resolution is not None:
        if transform == "center-crop-wide":
            width, height = image.size
            if wide_crop_rows(width, height, resolution) is None:
                raise BadImageError(name, wide_reason(width, height, resolution))
        image = fit(image, resolution, transform)
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def load_image_file(path, channels, resolution, transform="center-crop"):
    """One image file from a stranger as uint8 `[resolution, resolution,
    channels]` (read with the size cap, decoded with the pixel cap).

    Raises:
        BadImageError: one line naming the file.
    """
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        data = _read_capped(f, os.fstat(f.fileno()).st_size, str(path), False)
    return load_array(data, str(path), channels, resolution, transform)
