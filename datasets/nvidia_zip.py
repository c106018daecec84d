"""Datasets written in NVIDIA's layout (stylegan2-ada-pytorch, stylegan3): a zip
of PNGs in numbered folders of 1000 (`00000/img00000000.png`) and a
`dataset.json` of labels, from our TFRecords or from an image folder or zip."""

import io
import os
import pathlib
import sys
import zipfile

import numpy as np
import PIL.Image

from datasets import dataset_json
from datasets import images as img
from datasets.commands import decoded_images, open_images, report
from datasets.reader import describe
from datasets.tfrecords import level_path, read_images
from dnnlib.progress import Progress

IMAGES_PER_FOLDER = 1000


def member_name(index):
    """The zip member of the `index`-th image: folder = the first five of its
    eight digits (1000 images a folder), as NVIDIA's dataset tool names them."""
    digits = f"{index:08d}"
    return f"{digits[:5]}/img{digits}.png"


def png_bytes(image):
    """uint8 `[H, W, 1 or 3]` as an uncompressed PNG (NVIDIA's: fast to decode)."""
    array = image[:, :, 0] if image.shape[2] == 1 else image
    buffer = io.BytesIO()
    PIL.Image.fromarray(array, "L" if image.shape[2] == 1 else "RGB").save(
        buffer, format="png", compress_level=0
    )
    return buffer.getvalue()


def _is_tfrecord_dir(path):
    return path.is_dir() and any(path.glob("*.tfrecords"))


def _from_tfrecords(path, resolution, max_images):
    # (count, iterator of (image, label row or None)).
    info = describe(path)
    level = info.top_file
    if resolution is not None:
        log2 = int(resolution).bit_length() - 1
        level = str(level_path(path, log2))
        if 2**log2 != resolution or not pathlib.Path(level).is_file():
            raise ValueError(
                f"`resolution={resolution}`: {path} has no level of that side "
                f"(its top is {info.resolution}x{info.resolution})."
            )
    count = info.num_images
    if max_images is not None:
        count = min(count, max_images)
    labels = info.labels if info.label_size else None

    def pairs():
        for i, chw in enumerate(read_images(level, limit=count)):
            row = None if labels is None else labels[i]
            yield np.transpose(chw, [1, 2, 0]), row

    return count, pairs(), None


def _from_images(path, options, max_images, skip_bad, workers):
    images = open_images(path, max_images=max_images, skip_bad=skip_bad, **options)
    size = images.source.label_size

    def pairs():
        for f, array in decoded_images(images, skip_bad, workers):
            row = None if not size else img.label_matrix([f.label], size)[0]
            yield array, row

    return len(images.files), pairs(), images


def export_zip(
    out_zip,
    source,
    resolution=None,
    transform=None,
    channels=None,
    labels_from=None,
    max_images=None,
    skip_bad=False,
    workers=None,
    stream=None,
):
    """Writes a dataset as NVIDIA's zip, for stylegan2-ada-pytorch and stylegan3.

    PNG members (uncompressed, stored) `00000/img00000000.png`, ... in the
    source's order, and `dataset.json`: class indices when the labels are
    one-hot (their last column used), else lists of the float32 values, null
    without labels. Written to a temporary file, renamed on success.

    Args:
        out_zip: the .zip written; must not exist.
        source: a TFRecord directory (its top level, or the level of side
            `resolution`, with its labels), or an image folder or zip (read as
            `create_from_images` reads it, in sorted order, as NVIDIA's tool).
        resolution, transform, channels, labels_from, skip_bad: as
            `create_from_images`, for image folders and zips.
        max_images: write at most this many (the first ones).
        stream: where skipped images are reported (default: stderr).

    Returns:
        The number of images written.

    Raises:
        ValueError: one line naming the file: an existing output, a bad
            source, image or dataset.json, or a record that is corrupt.
    """
    stream = stream if stream is not None else sys.stderr
    out, path = pathlib.Path(out_zip), pathlib.Path(source).expanduser()
    if out.suffix.lower() != ".zip":
        raise ValueError(f"{out}: the output must be a .zip file.")
    if out.exists():
        raise ValueError(f"{out} already exists; delete it or choose another output.")
    if not path.exists():
        raise ValueError(f"{path}: no such dataset, folder or zip.")
    image_options = {"transform": transform, "channels": channels}
    image_options["labels_from"] = labels_from
    if _is_tfrecord_dir(path):
        given = [k for k, v in image_options.items() if v is not None]
        if given or skip_bad:
            names = ", ".join(f"`{k}`" for k in given + ["skip_bad"] * skip_bad)
            raise ValueError(
                f"{names}: for image folders and zips; {path} is a TFRecord "
                "dataset, exported as it is."
            )
        count, pairs, images = _from_tfrecords(path, resolution, max_images)
    else:
        image_options = {k: v for k, v in image_options.items() if v is not None}
        image_options["resolution"] = resolution
        count, pairs, images = _from_images(
            path, image_options, max_images, skip_bad, workers
        )
    written = _write(out, pairs, count)
    if images is not None:
        report(images, stream)
    return written


def _write(out, pairs, count):
    # Streams the PNGs into a temporary zip, then dataset.json; renames it.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    names, rows = [], []
    progress = Progress(f"Writing {out}", total=count)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            for image, row in pairs:
                names.append(member_name(len(names)))
                z.writestr(names[-1], png_bytes(image))
                rows.append(row)
                progress.update()
            if not names:
                raise ValueError(f"{out}: no image could be written.")
            labels = None if not rows or rows[0] is None else np.stack(rows)
            z.writestr(dataset_json.DATASET_JSON, dataset_json.to_text(names, labels))
        os.replace(tmp, out)
    finally:
        progress.close()
        tmp.unlink(missing_ok=True)
    return len(names)
