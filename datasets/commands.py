"""The dataset_tool commands for user images and for inspecting datasets.

`create_from_images` / `create_from_zip` validate every image first (size,
mode, readability) and their labels (dataset.json, folders), then decode in
parallel and write atomically.
"""

import concurrent.futures
import dataclasses
import os
import pathlib
import sys

import numpy as np

from datasets import images as img
from datasets.export import OFFICIAL_SHUFFLE_SEED, shuffled_order
from datasets.reader import describe
from datasets.tfrecords import (
    TFRecordExporter,
    check_tfrecord,
    level_path,
    read_images,
)
from datasets.transforms import TRANSFORMS, wide_crop_rows
from dnnlib.atomic import atomic_directory
from dnnlib.image_io import image_grid, save_png
from dnnlib.progress import Progress


def _check_output(tfrecord_dir):
    if pathlib.Path(tfrecord_dir).exists():
        raise ValueError(
            f"{tfrecord_dir} already exists; delete it or choose another output."
        )


def _report_skipped(skipped, stream):
    for error in skipped:
        stream.write(f"skipped {error.path}: {error.reason}\n")
    if skipped:
        stream.write(f"skipped {len(skipped)} bad image(s)\n")


def _probe_all(source, files, skip_bad, skipped):
    # Read every header (no pixel decoding): size and colour mode.
    good, infos = [], []
    for f in files:
        name = source.display_name(f)
        try:
            infos.append(img.probe(source.open(f), name))
            good.append(f)
        except img.BadImageError as e:
            if not skip_bad:
                raise
            skipped.append(e)
    if not good:
        raise ValueError(f"{source.path}: no usable images.")
    return good, infos


def _resolve_channels(source, files, infos, channels):
    if channels is not None:
        if channels not in (1, 3):
            raise ValueError(f"`channels` must be 1 or 3. Received: {channels}")
        return channels
    found = {}
    for f, (_, _, c) in zip(files, infos, strict=True):
        found.setdefault(c, source.display_name(f))
    if len(found) > 1:
        raise ValueError(
            f"mixed colour modes: {found[1]} is grayscale but {found[3]} is colour; "
            "pass `channels=3` (or 1) to convert them all."
        )
    return next(iter(found))


def _resolve_resolution(source, files, infos, resolution):
    if resolution is not None:
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(
                f"`resolution` must be a power of two >= 4. Received: {resolution}"
            )
        return resolution
    width, height, _ = infos[0]
    for f, (w, h, _) in zip(files, infos, strict=True):
        if (w, h) != (width, height):
            raise ValueError(
                f"mixed sizes: {source.display_name(files[0])} is {width}x{height} "
                f"but {source.display_name(f)} is {w}x{h}; pass `resolution=N` "
                "with `transform=center-crop|resize|pad|center-crop-wide`."
            )
    if width != height or width < 4 or width & (width - 1):
        raise ValueError(
            f"images are {width}x{height}, not square with a power-of-two side; "
            "pass `resolution=N` with "
            "`transform=center-crop|resize|pad|center-crop-wide`."
        )
    return None


@dataclasses.dataclass
class SourceImages:
    """Images of a folder or zip, checked from their headers, to be decoded.

    Attributes:
        source: the ImageFolder or ImageZip (its labels: `label_size`, ...).
        files: the ImageFiles to decode, in order.
        channels, resolution, transform: how they are decoded (resolution
            None: as they are).
        skipped: BadImageErrors of the images skipped (`skip_bad`).
        left_out: names of the images `center-crop-wide` leaves out.
    """

    source: object
    files: list
    channels: int
    resolution: int | None
    transform: str
    skipped: list
    left_out: list


def open_images(
    image_dir,
    resolution=None,
    transform="center-crop",
    channels=None,
    labels_from=None,
    shuffle=False,
    seed=OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    skip_bad=False,
):
    """Lists a folder's or zip's images with their labels and reads every
    header (size, colour mode), without decoding.

    Args:
        As `create_from_images`; shuffle defaults to False (sorted order).

    Returns:
        SourceImages.

    Raises:
        ValueError: one line naming the file (a bad image unless `skip_bad`,
            a bad dataset.json, mixed sizes or modes, no usable image).
    """
    if transform not in TRANSFORMS:
        raise ValueError(
            f"`transform` must be one of {TRANSFORMS}. Received: {transform!r}"
        )
    if transform == "center-crop-wide" and resolution is None:
        raise ValueError(
            "`transform=center-crop-wide` needs `resolution` (the output side; "
            "NVIDIA's tool needs one too)."
        )
    source = img.open_source(image_dir, labels_from)
    order = shuffled_order(len(source.files), shuffle, seed)
    files = [source.files[i] for i in order]
    skipped, left_out = [], []
    files, infos = _probe_all(source, files, skip_bad, skipped)
    channels = _resolve_channels(source, files, infos, channels)
    resolution = _resolve_resolution(source, files, infos, resolution)
    if transform == "center-crop-wide":
        kept = [wide_crop_rows(w, h, resolution) is not None for w, h, _ in infos]
        left_out = [
            source.display_name(f) for f, k in zip(files, kept, strict=True) if not k
        ]
        files = [f for f, k in zip(files, kept, strict=True) if k]
        if not files:
            raise ValueError(
                f"{source.path}: `transform=center-crop-wide` leaves out every "
                f"image at `resolution={resolution}` (each narrower than "
                f"{resolution} pixels or wider than 2:1); choose a smaller "
                "resolution or another transform."
            )
    if max_images is not None:
        files = files[:max_images]
    return SourceImages(
        source, files, channels, resolution, transform, skipped, left_out
    )


def decoded_images(images, skip_bad=False, workers=None):
    """Yields `(ImageFile, uint8 [H, W, C])` in order, decoding in parallel
    (Pillow releases the GIL) with a bounded number of images in memory;
    bad images are appended to `images.skipped` when `skip_bad`, else raise
    BadImageError."""
    source = images.source

    def load(f):
        name = source.display_name(f)
        try:
            return img.load_array(
                source.open(f),
                name,
                images.channels,
                images.resolution,
                images.transform,
            )
        except img.BadImageError as e:
            if not skip_bad:
                raise
            return e

    workers = workers or min(32, (os.cpu_count() or 1) + 2)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        chunk = workers * 4  # Bounds the decoded images held in memory.
        for start in range(0, len(images.files), chunk):
            part = images.files[start : start + chunk]
            for f, result in zip(part, pool.map(load, part), strict=True):
                if isinstance(result, img.BadImageError):
                    images.skipped.append(result)
                else:
                    yield f, result


def report(images, stream):
    """Writes what was skipped or left out, and where the labels came from."""
    _report_skipped(images.skipped, stream)
    if images.left_out:
        stream.write(
            f"left out {len(images.left_out)} image(s) that "
            f"`transform=center-crop-wide` drops at "
            f"`resolution={images.resolution}` (narrower than it or wider than "
            f"2:1, as NVIDIA's dataset tool does), e.g. {images.left_out[0]}\n"
        )
    if images.source.labels_text:
        stream.write(f"labels: {images.source.labels_text}\n")


def create_from_images(
    tfrecord_dir,
    image_dir,
    resolution=None,
    transform="center-crop",
    channels=None,
    labels_from=None,
    shuffle=True,
    seed=OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    skip_bad=False,
    workers=None,
    stream=None,
):
    """Builds an official-format dataset from a folder (recursive) or a zip.

    Args:
        tfrecord_dir: output directory; must not exist.
        image_dir: a directory of images or a .zip file.
        resolution: output side (power of two); None keeps the images' size,
            which must then be the same square power of two for all.
        transform: "center-crop", "resize", "pad" or "center-crop-wide" (NVIDIA's;
            needs `resolution`), with `resolution`.
        channels: 1 or 3; None takes the images' (all alike) channel count.
        labels_from: "auto" (None): dataset.json when the dataset has one,
            else no labels; "dataset_json"; "folders" (one-hot class per
            top-level folder); "none".
        shuffle, seed: write order (official: shuffled with seed 123).
        max_images: keep at most this many (after shuffling).
        skip_bad: skip unreadable/corrupt images with a per-file report.
        stream: where skipped images and the labels' source are reported
            (default: stderr).

    Returns:
        The number of images written.
    """
    stream = stream if stream is not None else sys.stderr
    _check_output(tfrecord_dir)
    images = open_images(
        image_dir,
        resolution,
        transform,
        channels,
        labels_from,
        shuffle,
        seed,
        max_images,
        skip_bad,
    )
    labels = []
    progress = Progress(f"Writing {tfrecord_dir}", total=len(images.files))
    try:  # The progress line ends even on an error, which then gets its own line.
        with TFRecordExporter(tfrecord_dir) as exporter:
            for f, array in decoded_images(images, skip_bad, workers):
                exporter.add_image(array)
                labels.append(f.label)
                progress.update()
            if images.source.label_size:
                exporter.add_labels(img.label_matrix(labels, images.source.label_size))
    finally:
        progress.close()
    report(images, stream)
    return exporter.num_images


def create_from_zip(tfrecord_dir, zip_path, **options):
    """Same as `create_from_images`, reading a .zip archive."""
    if not str(zip_path).lower().endswith(".zip"):
        raise ValueError(f"{zip_path}: expected a .zip file.")
    return create_from_images(tfrecord_dir, zip_path, **options)


def iterate_images(tfrecord_dir, log2=None, limit=None):
    """Yields uint8 `[H, W, C]` images of one level (default: the top).

    Every record is checked (CRCs, `shape` field) as it is read; a bad one
    raises a one-line ValueError naming the file and the record's index.
    """
    info = describe(tfrecord_dir, count=False)
    path = info.top_file if log2 is None else str(level_path(tfrecord_dir, log2))
    for chw in read_images(path, limit=limit):
        yield np.transpose(chw, [1, 2, 0])


def display(tfrecord_dir, out, count=64, columns=8):
    """Writes a PNG grid of the first `count` images (no GUI needed)."""
    images = list(iterate_images(tfrecord_dir, limit=count))
    save_png(image_grid(images, columns), out)
    return len(images)


def extract(tfrecord_dir, output_dir):
    """Writes every top-level image as `img%08d.png` into a new directory."""
    count = 0
    with atomic_directory(output_dir) as tmp:
        for count, image in enumerate(iterate_images(tfrecord_dir), 1):
            save_png(image, tmp / f"img{count - 1:08d}.png")
    return count


def compare(tfrecord_dir_a, tfrecord_dir_b):
    """Compares the top levels and labels of two datasets.

    Returns:
        `(identical, message)`.
    """
    info_a, info_b = describe(tfrecord_dir_a), describe(tfrecord_dir_b)
    if (info_a.resolution, info_a.channels) != (info_b.resolution, info_b.channels):
        return False, "different resolution or channels"
    if info_a.num_images != info_b.num_images:
        return False, f"{info_a.num_images} vs {info_b.num_images} images"
    differing = sum(
        not np.array_equal(a, b)
        for a, b in zip(
            iterate_images(tfrecord_dir_a), iterate_images(tfrecord_dir_b), strict=True
        )
    )
    labels_equal = (info_a.labels is None and info_b.labels is None) or (
        info_a.labels is not None
        and info_b.labels is not None
        and np.array_equal(info_a.labels, info_b.labels)
    )
    message = f"{differing} of {info_a.num_images} images differ"
    message += "" if labels_equal else "; labels differ"
    return differing == 0 and labels_equal, message


def info(tfrecord_dir, check=True):
    """A dict describing a dataset: count, resolution, channels, labels, bytes.

    Args:
        tfrecord_dir: the dataset directory.
        check: read every record of every level and check its CRCs and `shape`
            (`check_tfrecord`); False reads only the record headers.

    Raises:
        ValueError: one line naming the file and the first bad record.
    """
    described = describe(tfrecord_dir)
    if check:
        for path in described.level_files:
            check_tfrecord(path)
    total_bytes = sum(os.path.getsize(f) for f in described.level_files)
    return {
        "path": described.path,
        "images": described.num_images,
        "resolution": described.resolution,
        "channels": described.channels,
        "label_size": described.label_size,
        "levels": [pathlib.Path(f).name for f in described.level_files],
        "bytes": total_bytes,
        "records_checked": bool(check),
    }
