"""The tf.data reader and the on-device pyramid."""

import numpy as np
import pytest
import tensorflow as tf

from datasets.export import write_arrays
from datasets.reader import describe, make_dataset
from datasets.tfrecords import labels_path, level_path


@pytest.fixture()
def dataset(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [10, 16, 16, 3]).astype(np.uint8)
    labels = np.eye(10, dtype=np.float32)[rng.randint(0, 10, 10)]
    write_arrays(tmp_path / "ds", images, labels, shuffle=False)
    return tmp_path / "ds", images, labels


def test_describe(dataset):
    path, _, _ = dataset
    info = describe(path)
    assert (info.resolution, info.channels, info.num_images) == (16, 3, 10)
    assert info.label_size == 10 and info.resolution_log2 == 4
    assert len(info.level_files) == 3


def test_round_trip_is_bit_identical_with_labels(dataset):
    path, images, labels = dataset
    data = make_dataset(describe(path), batch_size=5, shuffle=False, repeat=False)
    batches = list(data)
    got = np.concatenate([b[0].numpy() for b in batches])
    got_labels = np.concatenate([b[1].numpy() for b in batches])
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_shuffle_keeps_image_label_pairs_and_max_images(dataset):
    path, images, labels = dataset
    data = make_dataset(describe(path), batch_size=4, seed=3, max_images=8)
    batch_images, batch_labels = next(iter(data))
    for image, label in zip(batch_images.numpy(), batch_labels.numpy(), strict=True):
        index = next(i for i in range(8) if np.array_equal(images[i], image))
        np.testing.assert_array_equal(labels[index], label)
    seen = {
        next(i for i in range(10) if np.array_equal(images[i], x))
        for x, _ in data.take(10).unbatch()
    }
    assert seen <= set(range(8))


def test_distributed_batches_cover_the_global_batch(dataset):
    path, images, _ = dataset
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = make_dataset(describe(path), batch_size=4, shuffle=False)
    batch = next(iter(strategy.experimental_distribute_dataset(data)))
    parts = strategy.experimental_local_results(batch[0])
    assert [tuple(p.shape) for p in parts] == [(2, 16, 16, 3), (2, 16, 16, 3)]
    np.testing.assert_array_equal(np.concatenate(parts), images[:4])


def test_describe_reports_problems(tmp_path, dataset):
    path, _, _ = dataset
    with pytest.raises(ValueError, match="nowhere: no such directory"):
        describe(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no \\*.tfrecords files .*create_from_images"):
        describe(tmp_path / "empty")
    np.save(open(labels_path(path), "wb"), np.zeros([3, 2], np.float32))
    with pytest.raises(ValueError, match="3 label rows for 10 images"):
        describe(path)
    labels_path(path).unlink()
    top = level_path(path, 4)
    top.write_bytes(top.read_bytes()[:-100])
    with pytest.raises(ValueError, match="ds-r04.tfrecords: truncated"):
        describe(path)


def test_data_percentage_limits_the_images(dataset):
    path, images, _ = dataset
    info = describe(path)
    data = make_dataset(
        info, batch_size=1, shuffle=False, repeat=False, data_percentage=30
    )
    got = np.concatenate([x.numpy() for x, _ in data])
    np.testing.assert_array_equal(got, images[:3])
    with pytest.raises(ValueError, match="`data_percentage` must be in .* Received: 0"):
        make_dataset(info, batch_size=1, data_percentage=0)
