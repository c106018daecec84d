"""Import TensorFlow for command-line tools without its C++ start-up log lines."""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def _stderr_captured():
    # TF's C++ logging writes to file descriptor 2 before Python can filter it.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield capture
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Imports tensorflow and keras, and looks up the devices, quietly.

    The captured output is shown if the import fails. Set
    TF_CPP_MIN_LOG_LEVEL=0 to see everything.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_captured():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf
