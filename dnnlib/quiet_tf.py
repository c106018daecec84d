"""Import TensorFlow for command-line tools without its start-up log lines, and
leave its later warnings and errors (a failing op, a missing GPU) visible."""

import contextlib
import os
import re
import sys
import tempfile

# TF 2.21 logs through absl ("W0000 00:00:..."); older TFs wrote "2024-... W ...".
_SEVERITY = re.compile(r"^(?:([IWEF])\d{4} |\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) )")
_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
# Import-time lines at W/E that report nothing wrong (duplicate plugin
# registrations, the optional TensorRT).
_NOISE = re.compile(
    r"Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered|Could not find TensorRT"
)
# cuInit's error once TF has said that this machine has no CUDA driver.
_NO_DRIVER, _CUINIT = "Could not find cuda drivers", "failed call to cuInit"


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
            sys.stderr.flush()
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _log_level(text):
    # TF reads a missing or malformed value as 0 (everything).
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def worth_showing(captured, min_level):
    """The lines of TF's start-up output that say something went wrong.

    Args:
        captured: what TensorFlow wrote to stderr while importing and looking up
            the devices.
        min_level: TF_CPP_MIN_LOG_LEVEL; lines below max(it, 1) (warnings) are
            dropped, as are known harmless ones. Lines without a severity
            prefix go with the line before them.

    Returns:
        The lines to show, joined, each ending in a newline ("" if none).
    """
    no_driver = _NO_DRIVER in captured
    keep, out = False, []
    for line in captured.splitlines():
        match = _SEVERITY.match(line)
        if match:
            level = _LEVELS[match.group(1) or match.group(2)]
            keep = level >= max(min_level, 1) and not _NOISE.search(line)
            keep &= not (no_driver and _CUINIT in line)
        if keep:
            out.append(line + "\n")
    return "".join(out)


def import_tensorflow():
    """Imports tensorflow and keras, and looks up the devices, quietly.

    TensorFlow's C++ log level (TF_CPP_MIN_LOG_LEVEL, read once when its
    library loads) is set to 1 unless the user set it: later warnings and
    errors reach stderr, info lines do not. The start-up banners (oneDNN,
    CUDA, CPU features), which TF 2.21 prints whatever the level, are
    captured; of them only warnings and errors at the user's level are shown,
    all of them if the import fails. Set TF_CPP_MIN_LOG_LEVEL=0 to see
    everything, 2 for errors only, 3 for nothing.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    min_level = _log_level(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    if min_level <= 0:
        import tensorflow as tf

        return tf
    with _stderr_captured() as capture:
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()
        sys.stderr.flush()
        capture.seek(0)
        captured = capture.read().decode(errors="replace")
    sys.stderr.write(worth_showing(captured, min_level))
    sys.stderr.flush()
    return tf
