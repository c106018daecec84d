"""tf.data reader for official-format datasets.

Only one level is read (the top one, or ProGAN's current one) as uint8 images;
the training steps build the pyramid on the accelerator, as the official
`process_reals` does (uint8 -> float in [-1, 1] -> mirror -> 2x2 pooling).
"""

import dataclasses
import pathlib
import re

import numpy as np
import tensorflow as tf

from datasets.tfrecords import find_bad_record, parse_image_np, scan_tfrecord

_LEVEL = re.compile(r"-r(\d\d)\.tfrecords$")
HINT = "build them with dataset_tool.py create_from_images"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a TFRecord dataset directory holds."""

    path: str
    top_file: str
    resolution: int
    channels: int
    num_images: int
    labels: np.ndarray | None
    level_files: tuple

    @property
    def label_size(self) -> int:
        return 0 if self.labels is None else int(self.labels.shape[1])

    @property
    def resolution_log2(self) -> int:
        return int(np.log2(self.resolution))

    def level_file(self, resolution):
        """The TFRecord file of one level (`-rXX.tfrecords`, official layout).

        Raises:
            ValueError: the dataset has no such level.
        """
        if resolution == self.resolution:
            return self.top_file
        for path in self.level_files:
            match = _LEVEL.search(pathlib.Path(path).name)
            if match and 2 ** int(match.group(1)) == resolution:
                return path
        raise ValueError(
            f"{self.path}: no {resolution}x{resolution} level (*-rXX.tfrecords); "
            "rebuild it with dataset_tool.py, which writes every level."
        )


def _first_record(path):
    for record in tf.data.TFRecordDataset(str(path)).take(1):
        return parse_image_np(record.numpy())
    raise ValueError(f"{path}: empty TFRecord file; rebuild the dataset ({HINT}).")


def describe(tfrecord_dir, count=True):
    """Inspects a dataset directory without reading its images.

    Args:
        tfrecord_dir: directory with `*-rXX.tfrecords` files (official layout).
        count: count the top level's records (walks its headers; also finds
            truncated files).

    Returns:
        DatasetInfo.

    Raises:
        ValueError: one line naming the problem and the file.
    """
    path = pathlib.Path(tfrecord_dir)
    if not path.is_dir():
        raise ValueError(f"{path}: no such directory.")
    files = sorted(path.glob("*.tfrecords"))
    if not files:
        raise ValueError(f"{path}: no *.tfrecords files ({HINT}).")
    levels = {}
    for f in files:
        match = _LEVEL.search(f.name)
        log2 = int(match.group(1)) if match else None
        if log2 is None:
            log2 = int(np.log2(_first_record(f).shape[1]))
        levels[log2] = f
    top = levels[max(levels)]
    try:
        shape = _first_record(top).shape
    except tf.errors.DataLossError as e:
        raise ValueError(f"{top}: corrupt TFRecord file ({e.message}).") from e
    channels, height, width = shape
    if height != width or height != 2 ** max(levels) or channels not in (1, 3):
        raise ValueError(
            f"{top}: records are [C, H, W] = {list(shape)}, which does not fit a "
            f"level of side {2 ** max(levels)} with 1 or 3 channels."
        )
    num_images = scan_tfrecord(top) if count else -1
    labels = _load_labels(path, num_images)
    return DatasetInfo(
        path=str(path),
        top_file=str(top),
        resolution=height,
        channels=channels,
        num_images=num_images,
        labels=labels,
        level_files=tuple(str(levels[k]) for k in sorted(levels)),
    )


def _load_labels(path, num_images):
    files = sorted(path.glob("*.labels"))
    if not files:
        return None
    if len(files) > 1:
        raise ValueError(f"{path}: more than one *.labels file; keep one.")
    try:
        labels = np.load(files[0], allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{files[0]}: not a readable .npy labels file ({e}).") from e
    if labels.ndim != 2:
        raise ValueError(f"{files[0]}: labels must be 2-D. Received: {labels.shape}")
    if num_images >= 0 and labels.shape[0] != num_images:
        raise ValueError(
            f"{files[0]}: {labels.shape[0]} label rows for {num_images} images; "
            "rebuild the labels or the dataset."
        )
    return labels.astype(np.float32)


def read_error(info, error, resolution=None):
    """Explains a tf.data error met while reading a level: a ValueError whose
    one line names the file and the first bad record (or TensorFlow's message
    when every record checks out)."""
    resolution = resolution or info.resolution
    source = info.level_file(resolution)
    shape = (info.channels, resolution, resolution)
    message = find_bad_record(source, shape) or f"{source}: {error.message}"
    return ValueError(message)


def images_used(info, max_images=None, data_percentage=None):
    """How many of the dataset's images (the first ones) a run trains on."""
    count = info.num_images if max_images is None else min(max_images, info.num_images)
    if data_percentage is not None:
        if not 0 < data_percentage <= 100:
            raise ValueError(
                f"`data_percentage` must be in (0, 100]. Received: {data_percentage}"
            )
        count = min(count, max(1, round(info.num_images * data_percentage / 100)))
    return count


def make_dataset(
    info,
    batch_size,
    shuffle=True,
    repeat=True,
    seed=None,
    max_images=None,
    data_percentage=None,
    shuffle_mb=1024,
    cache_mb=4096,
    drop_remainder=True,
    resolution=None,
    start=0,
):
    """tf.data pipeline of `(images, labels)` batches from the top level.

    With `shuffle` and `repeat`, the order of the images is a function of
    `(seed, images seen)`: epoch `e` is the used images shuffled with
    the seed `(seed, e)`, and `start` skips that many images of the stream.
    A resumed run so continues the order exactly without saving the reader
    (its cache or shuffle buffer) in the checkpoint; repositioning reads at
    most one epoch.

    Args:
        info: DatasetInfo from `describe`.
        batch_size: the global batch (use `strategy.experimental_distribute_dataset`
            to split it over replicas).
        shuffle, seed: shuffle within a buffer of `shuffle_mb` megabytes.
        repeat: repeat forever.
        start: images of the stream to skip (images already trained on).
        max_images: use only the first N images (the official writer stores
            images in shuffled order, so this is a random subset).
        data_percentage: use only this percentage (0, 100] of the images.
        cache_mb: keep the records in memory when the used part is smaller.
        resolution: read this lower level instead of the top one (ProGAN's
            progressive growing; the official exporter wrote every level).

    Returns:
        Dataset of uint8 `[B, R, R, C]` images and float32 `[B, label_size]` labels.
    """
    resolution = resolution or info.resolution
    source = info.level_file(resolution)
    count = images_used(info, max_images, data_percentage)
    record_bytes = resolution**2 * info.channels + 64
    records = tf.data.TFRecordDataset(source, buffer_size=16 << 20)
    records = records.take(count)
    labels = (
        info.labels if info.labels is not None else np.zeros([count, 0], np.float32)
    )
    dataset = tf.data.Dataset.zip(
        (records, tf.data.Dataset.from_tensor_slices(labels[:count]))
    )
    if count * record_bytes <= cache_mb << 20:
        dataset = dataset.cache()
    buffer = max(1, min(count, (shuffle_mb << 20) // record_bytes))
    if shuffle and repeat:
        dataset = _shuffled_epochs(dataset, count, buffer, seed or 0, start)
    else:
        if shuffle:
            dataset = dataset.shuffle(buffer, seed=seed)
        if repeat:
            dataset = dataset.repeat()
            start %= count
        dataset = dataset.skip(start)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    shape = [info.channels, resolution, resolution]

    def parse(serialized, batch_labels):
        features = tf.io.parse_example(
            serialized,
            {
                "shape": tf.io.FixedLenFeature([3], tf.int64),
                "data": tf.io.FixedLenFeature([], tf.string),
            },
        )
        data = tf.io.decode_raw(features["data"], tf.uint8)
        images = tf.reshape(data, [-1, *shape])
        return tf.transpose(images, [0, 2, 3, 1]), batch_labels

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _shuffled_epochs(dataset, count, buffer, seed, start):
    # Epoch e: the images shuffled with op seed (seed, e); starts at `start`.
    def epoch(e):
        # A graph-level seed of this function's graph only: the order does not
        # depend on TensorFlow's global seed.
        tf.compat.v1.set_random_seed(0x5EED)
        e_seed = seed * 1_000_003 + e
        return dataset.shuffle(buffer, seed=e_seed, reshuffle_each_iteration=False)

    epochs = tf.data.Dataset.range(start // count, 2**62)
    return epochs.flat_map(epoch).skip(start % count)
