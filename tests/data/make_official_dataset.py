"""Write small datasets with the official (TF1) dataset tool; cross-check both ways.

This script is NOT run by the test suite (the official code cannot run in CI).
It produces ``tests/data/official_dataset/``, which ``tests/test_official_dataset.py``
reads, and it is the one-off proof that datasets written by our exporter load in
the official reader.

Requirements
------------
A local checkout of https://github.com/akanimax/msg-stylegan-tf (passed via
``--official_dir``), patched to import and run under TensorFlow 2.x / NumPy 2 /
SciPy >= 1.3 in graph mode:

* ``import tensorflow as tf`` replaced by ``import tensorflow.compat.v1 as tf``
  in ``dataset_tool.py``, ``training/dataset.py`` and ``dnnlib/tflib/*.py``;
* ``dataset_tool.py``: ``from scipy.misc import imresize`` (removed from SciPy)
  replaced by ``imresize = None`` (only used when resizing, not here), and
  ``quant.tostring()`` by ``quant.tobytes()`` (removed in NumPy 2; same bytes);
* ``training/dataset.py``: ``np.fromstring(data, np.uint8)`` by
  ``np.frombuffer(data, np.uint8)`` (binary ``fromstring`` removed in NumPy 2;
  same values).

The script calls ``tf.disable_v2_behavior()`` itself. Our modules are imported
first; the repository's ``dnnlib`` package is then dropped from ``sys.modules`` so
that the official ``dnnlib`` (same package name) can be imported.

Outputs (official writes, we read)
----------------------------------
Images are uniform random uint8 noise (``np.random.RandomState(SEED)``), which
exercises every rounding case of the 2x2 means (x.25, x.5 ties, x.75).

* ``official_dataset/rgb16/``: 6 RGB 16x16 images with one-hot labels of 3
  classes, written by the official ``TFRecordExporter`` (``rgb16-r02.tfrecords``,
  ``-r03``, ``-r04``, ``rgb16-rxx.labels``);
* ``official_dataset/gray8/``: 4 grayscale 8x8 images, no labels
  (``gray8-r02.tfrecords``, ``-r03``);
* ``official_dataset/sources.npz``: ``rgb_images`` (NHWC uint8), ``rgb_labels``
  (float32, source order), ``rgb_order``, ``gray_images``, ``gray_order``.

Images are added as the official ``create_*`` commands do: in the order of the
exporter's ``choose_shuffled_order()`` (``RandomState(123)`` permutation), as
CHW uint8, and ``add_labels(labels[order])``. So record ``i`` of every file is
source image ``order[i]``, and label row ``i`` is ``labels[order[i]]``.

Checks done here (we write, official reads), last run with TF 2.21, NumPy 2.4:

1. our ``write_arrays(dir, images, labels)`` (default shuffle, seed 123) and
   ``write_arrays(dir, images[order], labels[order], shuffle=False)`` both write
   files byte-identical to the official exporter's (all levels and the labels)
   in the same process. Across processes the record bytes may differ in the
   order of the two ``Features`` map entries ("shape", "data"): the upb
   protobuf runtime orders map entries by a per-process random hash seed (not
   ``PYTHONHASHSEED``), for the official exporter and ours alike, so re-running
   this script can change the committed ``.tfrecords`` bytes but never their
   content; the test compares records up to that order;
2. the official ``training.dataset.TFRecordDataset`` (``max_label_size='full'``,
   ``shuffle_mb=0``, ``repeat=False``, ``prefetch_mb=0``: with prefetching on,
   TF 2.21 rejects the NumPy-integer buffer size the official code computes,
   ``TypeError: Expected bool for argument 'legacy_autotune' not np.False_``;
   prefetching does not change what is read), read to exhaustion with
   ``get_minibatch_np(4)`` (minibatches of 4, the last one partial), yields
   from our dataset the source pixels bit for bit (NCHW), in the recorded
   order, with the labels of the same rows; same for the official-written
   dataset;
3. every lower level of our dataset (lod > 0), parsed with the official
   ``training.dataset.parse_tfrecord_np``, equals the official-written level
   and the float32 2x2-mean chain rounded with ``np.rint`` (official).

Usage::

    python tests/data/make_official_dataset.py --official_dir /path/to/msg-stylegan-tf
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = Path(__file__).resolve().parent / "official_dataset"
SEED = 20240607


def make_sources():
    """Deterministic source images and labels."""
    rng = np.random.RandomState(SEED)
    rgb_images = rng.randint(0, 256, [6, 16, 16, 3]).astype(np.uint8)
    classes = np.array([0, 1, 2, 2, 1, 0])[rng.permutation(6)]
    rgb_labels = np.eye(3, dtype=np.float32)[classes]
    gray_images = rng.randint(0, 256, [4, 8, 8, 1]).astype(np.uint8)
    return rgb_images, rgb_labels, gray_images


def reference_levels(images_nhwc):
    """The official chain: float32 2x2 means of the previous float level, rounded."""
    level = images_nhwc.transpose(0, 3, 1, 2)
    levels = {int(np.log2(level.shape[2])): level}
    level = level.astype(np.float32)
    while level.shape[2] > 4:
        level = (
            level[:, :, 0::2, 0::2]
            + level[:, :, 0::2, 1::2]
            + level[:, :, 1::2, 0::2]
            + level[:, :, 1::2, 1::2]
        ) * 0.25
        levels[int(np.log2(level.shape[2]))] = np.rint(level).clip(0, 255)
    return {k: v.astype(np.uint8) for k, v in levels.items()}


def import_ours():
    sys.path.insert(0, str(REPO))
    from datasets import export, tfrecords

    # Drop our `dnnlib` so the official package of the same name can load.
    for name in [m for m in sys.modules if m == "dnnlib" or m.startswith("dnnlib.")]:
        del sys.modules[name]
    sys.path.remove(str(REPO))
    return export, tfrecords


def import_official(official_dir):
    sys.path.insert(0, str(Path(official_dir).resolve()))
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    from training import dataset

    import dataset_tool
    from dnnlib import tflib

    return tf, tflib, dataset_tool, dataset


def official_write(dataset_tool, tfrecord_dir, images, labels):
    """Writes as the official create_* commands do; returns the order used."""
    with dataset_tool.TFRecordExporter(
        str(tfrecord_dir), len(images), print_progress=False
    ) as tfr:
        order = tfr.choose_shuffled_order()
        for idx in order:
            tfr.add_image(images[idx].transpose(2, 0, 1))  # HWC -> CHW
        if labels is not None:
            tfr.add_labels(labels[order])
    return order


def official_read_all(tf, tflib, dataset, tfrecord_dir, minibatch):
    """Reads a whole dataset with the official TFRecordDataset (NCHW, labels)."""
    with tf.Graph().as_default(), tf.Session().as_default():
        dset = dataset.TFRecordDataset(
            str(tfrecord_dir),
            max_label_size="full",
            repeat=False,
            shuffle_mb=0,
            prefetch_mb=0,  # see the module docstring
        )
        images, labels = [], []
        while True:
            try:
                x, y = dset.get_minibatch_np(minibatch)
            except tf.errors.OutOfRangeError:
                break
            images.append(x)
            labels.append(y)
        return dset, np.concatenate(images), np.concatenate(labels)


def official_read_level(tf, dataset, path):
    """Parses every record of one level file with the official numpy parser."""
    return np.stack(
        [dataset.parse_tfrecord_np(r) for r in tf.python_io.tf_record_iterator(path)]
    )


def check_ours_in_official(tf, tflib, dataset, export, tfrecords, work, sets):
    """We write, the official code reads (and writes the same bytes)."""
    for name, (images, labels, order, official_dir) in sets.items():
        ours = Path(work) / "ours_shuffled" / name
        export.write_arrays(ours, images, labels)  # default: shuffle, seed 123
        plain = Path(work) / "ours_plain" / name
        export.write_arrays(
            plain,
            images[order],
            None if labels is None else labels[order],
            shuffle=False,
        )
        official_files = sorted(p.name for p in official_dir.iterdir())
        for ours_dir in (ours, plain):
            assert sorted(p.name for p in ours_dir.iterdir()) == official_files
            for fname in official_files:
                assert (ours_dir / fname).read_bytes() == (
                    official_dir / fname
                ).read_bytes(), f"{ours_dir / fname} differs from the official file"
        print(f"{name}: our files are byte-identical to the official exporter's")

        expected_labels = (
            np.zeros([len(images), 0], np.float32) if labels is None else labels[order]
        )
        for label, path in (("ours", ours), ("official", official_dir)):
            dset, x, y = official_read_all(tf, tflib, dataset, path, minibatch=4)
            assert dset.shape == [images.shape[3], *images.shape[1:3]], dset.shape
            assert dset.label_size == expected_labels.shape[1]
            assert x.dtype == np.uint8 and x.shape == (len(images), *dset.shape)
            np.testing.assert_array_equal(x, images[order].transpose(0, 3, 1, 2))
            np.testing.assert_array_equal(y, expected_labels)
            print(
                f"{name}: official TFRecordDataset reads {label} dataset: "
                f"{x.shape} NCHW pixels and labels {y.shape} identical"
            )

        reference = reference_levels(images[order])
        top = max(reference)
        for log2, ref in reference.items():
            mine = official_read_level(
                tf, dataset, str(tfrecords.level_path(ours, log2))
            )
            theirs = official_read_level(
                tf, dataset, str(tfrecords.level_path(official_dir, log2))
            )
            np.testing.assert_array_equal(mine, theirs)
            np.testing.assert_array_equal(mine, ref)
            print(
                f"{name}: level r{log2:02d} (lod {top - log2}) equal to official "
                f"and to the rint chain, {mine.shape}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument("--out_dir", default=str(OUT_DIR))
    args = parser.parse_args()
    out_dir = Path(args.out_dir)

    export, tfrecords = import_ours()
    tf, tflib, dataset_tool, dataset = import_official(args.official_dir)

    rgb_images, rgb_labels, gray_images = make_sources()
    for sub in ("rgb16", "gray8"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)

    # Official writes.
    rgb_order = official_write(dataset_tool, out_dir / "rgb16", rgb_images, rgb_labels)
    gray_order = official_write(dataset_tool, out_dir / "gray8", gray_images, None)
    np.savez_compressed(
        out_dir / "sources.npz",
        rgb_images=rgb_images,
        rgb_labels=rgb_labels,
        rgb_order=rgb_order,
        gray_images=gray_images,
        gray_order=gray_order,
    )
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            print(f"wrote {path.relative_to(out_dir)} ({path.stat().st_size} bytes)")
    print("rgb order:", rgb_order.tolist(), " gray order:", gray_order.tolist())

    # We write, official reads.
    sets = {
        "rgb16": (rgb_images, rgb_labels, rgb_order, out_dir / "rgb16"),
        "gray8": (gray_images, None, gray_order, out_dir / "gray8"),
    }
    with tempfile.TemporaryDirectory() as work:
        check_ours_in_official(tf, tflib, dataset, export, tfrecords, work, sets)
    print("All checks passed.")


if __name__ == "__main__":
    main()
