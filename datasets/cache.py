"""`--dataset` resolution: TFRecord directories as they are; image folders and zips
converted once into a cache directory keyed by their content (dataset.json's
included) and the options."""

import hashlib
import json
import os
import pathlib

from datasets.commands import create_from_images
from datasets.images import (
    IMAGE_EXTENSIONS,
    has_dataset_json,
    open_source,
    probe,
    read_dataset_json,
    resolve_labels_from,
)
from dnnlib.cache import cache_root

DEMO_ZIP = pathlib.Path(__file__).resolve().parent / "demo" / "emoji64.zip"


def default_cache_dir():
    """`$MSG_STYLEGAN_CACHE/datasets`, else `~/.cache/msg_stylegan_tf2/datasets`."""
    return cache_root() / "datasets"


def _fingerprint(path):
    # Names, sizes and modification times: cheap, and changes when files do;
    # a dataset.json's whole content (a rewrite within the same second and
    # size is still seen). Without one, keys are those of before dataset.json.
    digest = hashlib.sha256(str(path.resolve()).encode())
    if has_dataset_json(path):
        labels = hashlib.sha256(read_dataset_json(path)).hexdigest()
        digest.update(f"dataset.json:{labels}\n".encode())
    if path.is_file():
        stat = path.stat()
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                stat = (pathlib.Path(root) / name).stat()
                rel = os.path.relpath(os.path.join(root, name), path)
                digest.update(f"{rel}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest


def _target(path, cache_dir, options):
    # (TFRecord directory, whether it must be converted from images first).
    path = pathlib.Path(path).expanduser()
    if path.is_dir() and any(path.glob("*.tfrecords")):
        return path, False
    target = conversion_dir(path, cache_dir, **options)
    return target, not target.is_dir()


def conversion_dir(path, cache_dir=None, **options):
    """The cache directory that an image folder or zip is converted into with
    `create_from_images(**options)`, named by its content (names, sizes,
    modification times; dataset.json's bytes) and the options (`labels_from`
    as it resolves: unset, `auto` and what auto picks give one name);
    converted or not.

    Raises:
        ValueError: `path` does not exist or is neither a folder nor a zip;
            `labels_from=dataset_json` without a dataset.json; an unreadable
            or oversized dataset.json.
    """
    path = pathlib.Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"`dataset`: {path} does not exist.")
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        raise ValueError(
            f"`dataset`: {path} is neither a TFRecord directory, an image folder "
            "nor a .zip."
        )
    # The labels as they would be taken: `auto` and its outcome, given or
    # not, share a conversion.
    options = dict(options)
    labels_from = resolve_labels_from(
        options.pop("labels_from", None), has_dataset_json(path), path
    )
    if labels_from is not None:
        options["labels_from"] = labels_from
    digest = _fingerprint(path)
    digest.update(json.dumps(options, sort_keys=True).encode())
    cache_dir = pathlib.Path(cache_dir) if cache_dir else default_cache_dir()
    return cache_dir / f"{path.stem}-{digest.hexdigest()[:16]}"


def resolve_dataset(path, cache_dir=None, **options):
    """Returns a TFRecord dataset directory for `path`.

    Args:
        path: a TFRecord dataset directory (used as is), a folder of images or a
            .zip of images (converted once with `create_from_images(**options)`).
        cache_dir: where conversions live (default: `default_cache_dir()`).
        **options: `create_from_images` options (resolution, transform, ...).

    Returns:
        `(tfrecord_dir, converted)`: the directory and whether it was built now.

    Raises:
        ValueError: when `path` is none of these.
    """
    target, convert = _target(path, cache_dir, options)
    if not convert:
        return str(target), False
    try:
        create_from_images(target, pathlib.Path(path).expanduser(), **options)
    except (ValueError, OSError):
        if target.is_dir():  # Another process (e.g. another worker) won the race.
            return str(target), False
        raise
    return str(target), True


def _first_image(path, labels_from=None):
    # The images' source and its first image's (width, height, channels),
    # read from the header only.
    source = open_source(pathlib.Path(path).expanduser(), labels_from)
    if not source.files:
        raise ValueError(f"{path}: no images (png, jpg, ...) found.")
    first = source.files[0]
    return source, probe(source.open(first), source.display_name(first))


def plan_dataset(path, cache_dir=None, **options):
    """What `resolve_dataset` would give, without converting anything.

    Returns:
        `(tfrecord_dir, source)`: source is None when the TFRecord directory
        exists, else a description of the images that would be converted:
        `{"images": n, "resolution": r, "channels": c, "classes": k or 0,
        "labels": what they are and where from, or None}` (channels from the
        first image's header unless given; classes: the label columns).

    Raises:
        ValueError: as `conversion_dir`, and a bad dataset.json (its first bad
            entry named).
    """
    target, convert = _target(path, cache_dir, options)
    if not convert:
        return str(target), None
    source, (width, _, channels) = _first_image(path, options.get("labels_from"))
    return str(target), {
        "images": len(source.files),
        "resolution": options.get("resolution") or width,
        "channels": options.get("channels") or channels,
        "classes": source.label_size,
        "labels": source.labels_text,
    }


def dataset_resolution(path):
    """A dataset's own side: a TFRecord directory's top level; for images, the
    largest power of two that the first image's shorter side holds (8 to 1024).
    """
    target, convert = _target(path, None, {})
    if not convert and any(pathlib.Path(target).glob("*.tfrecords")):
        from datasets.reader import describe

        return describe(target, count=False).resolution
    _, (width, height, _) = _first_image(path, "none")
    side = min(max(min(width, height), 8), 1024)
    return 2 ** (side.bit_length() - 1)
