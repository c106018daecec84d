"""Test setup: two logical CPU devices, created before TensorFlow makes any tensor.

Multi-replica code (MirroredStrategy) is then tested on CPU, without GPUs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu,
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)


@pytest.fixture(autouse=True)
def _seed():
    """Makes every test start from the same random state."""
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """40 PNG images, 16x16 RGB: a coloured square on white."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(0)
    for i in range(40):
        image = np.full([16, 16, 3], 255, np.uint8)
        image[4:12, 4:12] = rng.randint(0, 256, 3)
        PIL.Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder
