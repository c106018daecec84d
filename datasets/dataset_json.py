"""NVIDIA's `dataset.json` labels (stylegan2-ada-pytorch, stylegan3): a
stranger's file read with every entry checked, and ours written.

The layout: `{"labels": [["00000/img00000000.png", 6], ...]}`, one entry per
image, each label a class index (one-hot of max index + 1 columns) or a list
of numbers (taken as they are, float32); `{"labels": null}`: no labels.
"""

import dataclasses
import json

import numpy as np

DATASET_JSON = "dataset.json"
# Largest dataset.json read: room for millions of class-index entries, or a
# 512-number label for each of 70,000 images.
MAX_JSON_BYTES = 2**28
# Largest class index + 1, and longest list of numbers, one label may have.
MAX_CLASSES = 2**16
MAX_LABEL_SIZE = 2**16
# Largest label table (images x label columns): 1 GiB as float32.
MAX_LABEL_VALUES = 2**28
_SHOWN_CHARS = 80  # An entry is shown in an error up to this many characters.


@dataclasses.dataclass(frozen=True)
class JsonLabels:
    """The labels of a dataset.json, checked against the images it labels.

    Attributes:
        by_name: image name -> class index (int) or tuple of float32 values.
        label_size: label columns: max class index + 1, or the list length.
        kind: "classes" or "numbers".
    """

    by_name: dict
    label_size: int
    kind: str

    def describe(self):
        """E.g. "10 classes (one-hot)" or "4 numbers per image"."""
        if self.kind == "classes":
            return f"{self.label_size} classes (one-hot)"
        return f"{self.label_size} numbers per image"


def _shown(entry):
    text = json.dumps(entry, allow_nan=True)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _is_number(value):
    return type(value) in (int, float)  # Not bool, which JSON's true becomes.


def _label(label):
    # (kind, value) of one label, or raises ValueError with the reason.
    if type(label) is int:
        if label < 0:
            raise ValueError(f"class index {label} is negative")
        if label >= MAX_CLASSES:
            raise ValueError(
                f"class index {label} is over the limit of {MAX_CLASSES - 1:,}"
            )
        return "classes", label
    if type(label) is list:
        if not label:
            raise ValueError("the label is an empty list")
        if len(label) > MAX_LABEL_SIZE:
            raise ValueError(
                f"the label holds {len(label):,} numbers, over the limit of "
                f"{MAX_LABEL_SIZE:,}"
            )
        if not all(_is_number(v) for v in label):
            raise ValueError("the label list holds something other than numbers")
        with np.errstate(over="ignore"):
            values = np.asarray(label, dtype=np.float64).astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise ValueError(
                "the label holds a non-finite number (NaN, Infinity or beyond float32)"
            )
        return "numbers", tuple(values.tolist())
    raise ValueError(
        "a label must be a class index (an integer >= 0) or a list of numbers; "
        f"received {_shown(label)}"
    )


def parse(data, where, image_names, source_name):
    """Reads and checks a dataset.json against the images it labels.

    Args:
        data: the file's bytes (at most `MAX_JSON_BYTES`).
        where: the file as errors name it (e.g. "cars.zip/dataset.json").
        image_names: every image of the dataset (names relative to its root).
        source_name: the dataset as errors name it.

    Returns:
        JsonLabels, or None for `"labels": null`.

    Raises:
        ValueError: one line naming the file and the first bad entry: not JSON,
            not NVIDIA's layout, a label neither a class index nor a list of
            finite numbers, mixed kinds or lengths, a negative or absurd class
            index, a name given twice or naming no image of the dataset, an
            image without a label, or a label table over `MAX_LABEL_VALUES`.
    """
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(
            f"{where}: {len(data):,} bytes, over the limit of {MAX_JSON_BYTES:,}."
        )
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is one.
        raise ValueError(f"{where}: not valid JSON ({e}).") from e
    layout = (
        'NVIDIA\'s layout is {"labels": [["00000/img00000000.png", 6], ...]} or '
        '{"labels": null}'
    )
    if type(document) is not dict or "labels" not in document:
        raise ValueError(f"{where}: no top-level `labels`; {layout}.")
    entries = document["labels"]
    if entries is None:
        return None
    if type(entries) is not list:
        raise ValueError(f"{where}: `labels` must be a list or null; {layout}.")
    images = set(image_names)
    by_name, first_at, kind, size = {}, {}, None, 0
    for i, entry in enumerate(entries):
        try:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
                raise ValueError("an entry must be [file name, label]")
            name = entry[0]
            if name in first_at:
                raise ValueError(f"the name of labels[{first_at[name]}] again")
            if name not in images:
                raise ValueError(f"names no image of {source_name}")
            this_kind, value = _label(entry[1])
            if kind is None:
                kind = this_kind
            elif this_kind != kind:
                first = "a class index" if kind == "classes" else "a list of numbers"
                raise ValueError(f"labels[0] is {first} but this label is not")
            this_size = value + 1 if kind == "classes" else len(value)
            if kind == "numbers" and size and this_size != size:
                raise ValueError(
                    f"the label holds {this_size} numbers but labels[0] holds {size}"
                )
            size = max(size, this_size)
        except ValueError as e:
            raise ValueError(
                f"{where}: labels[{i}] {_shown(entry)}: {e}; fix or remove the "
                "entry, or pass `labels_from=none` to ignore the file."
            ) from None
        first_at[name] = i
        by_name[name] = value
    unlabelled = [n for n in sorted(images) if n not in by_name]
    if unlabelled:
        raise ValueError(
            f"{where}: no label for {_shown(unlabelled[0])} ({len(unlabelled):,} of "
            f"{len(images):,} images have none; NVIDIA's training refuses this "
            "too); label every image, or pass `labels_from=none` to ignore the file."
        )
    if len(images) * size > MAX_LABEL_VALUES:
        raise ValueError(
            f"{where}: {len(images):,} images x {size:,} label columns is over the "
            f"limit of {MAX_LABEL_VALUES:,} label values; use fewer classes."
        )
    return JsonLabels(by_name, size, kind)


def class_indices(labels):
    """The class index of each row when `labels` are one-hot rows whose last
    column is used (so that NVIDIA's max index + 1 gives back every column);
    else None.

    Args:
        labels: float `[N, label_size]`.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] == 0 or labels.shape[1] == 0:
        return None
    if not (np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(1) == 1)):
        return None
    classes = labels.argmax(axis=1)
    return classes if classes.max() == labels.shape[1] - 1 else None


def to_text(names, labels):
    """dataset.json text for images `names` with float32 `labels` `[N, size]`
    (None or size 0: `"labels": null`): class indices for one-hot labels
    (`class_indices`), else lists of the float32 values (exact in JSON)."""
    if labels is None or np.asarray(labels).shape[1] == 0:
        return json.dumps({"labels": None})
    labels = np.asarray(labels, dtype=np.float32)
    if len(names) != len(labels):
        raise ValueError(f"{len(names)} names for {len(labels)} label rows.")
    classes = class_indices(labels)
    rows = classes.tolist() if classes is not None else labels.tolist()
    return json.dumps(
        {"labels": [[n, r] for n, r in zip(names, rows, strict=True)]},
        allow_nan=False,
    )
