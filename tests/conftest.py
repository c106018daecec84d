"""Test setup: two logical CPU devices, created before TensorFlow makes any tensor.

Multi-replica code (MirroredStrategy) is then tested on CPU, without GPUs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
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
