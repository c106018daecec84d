"""Writing datasets from arrays or image streams, in the official shuffled order."""

import numpy as np

from datasets.tfrecords import TFRecordExporter
from dnnlib.progress import Progress

OFFICIAL_SHUFFLE_SEED = 123


def shuffled_order(count, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED):
    """The order in which images are written; the official tool uses seed 123."""
    order = np.arange(count)
    if shuffle:
        np.random.RandomState(seed).shuffle(order)
    return order


def write_arrays(
    tfrecord_dir, images, labels=None, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED
):
    """Writes images held in memory (or indexable lazily) as a dataset.

    Args:
        tfrecord_dir: output directory (must not exist).
        images: indexable of uint8 `[H, W, C]` (e.g. an array `[N, H, W, C]`).
        labels: None or `[N, label_size]` (e.g. one-hot classes).
        shuffle, seed: write in the order of `shuffled_order`.

    Returns:
        The number of images written.
    """
    order = shuffled_order(len(images), shuffle, seed)
    progress = Progress(f"Writing {tfrecord_dir}", total=len(order))
    with TFRecordExporter(tfrecord_dir) as exporter:
        for index in order:
            exporter.add_image(images[index])
            progress.update()
        if labels is not None:
            exporter.add_labels(np.asarray(labels)[order])
    progress.close()
    return len(order)


def write_stream(tfrecord_dir, images, total=None, labels=None):
    """Writes images from an iterator in the order given (no shuffling).

    Args:
        images: iterable of uint8 `[H, W, C]`.
        total: expected count, for the progress line.
        labels: None or `[N, label_size]` in the same order.

    Returns:
        The number of images written.
    """
    progress = Progress(f"Writing {tfrecord_dir}", total=total)
    with TFRecordExporter(tfrecord_dir) as exporter:
        for image in images:
            exporter.add_image(image)
            progress.update()
        if labels is not None:
            exporter.add_labels(labels)
    progress.close()
    return exporter.num_images


def one_hot(classes, num_classes=None):
    """float32 `[N, num_classes]` one-hot rows for integer class indices."""
    classes = np.asarray(classes, dtype=np.int64)
    num_classes = int(classes.max()) + 1 if num_classes is None else num_classes
    out = np.zeros([len(classes), num_classes], dtype=np.float32)
    out[np.arange(len(classes)), classes] = 1.0
    return out
