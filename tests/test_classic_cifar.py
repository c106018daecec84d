"""Tests for the CIFAR-10 and CIFAR-100 dataset commands, on tiny Python 2 style
pickles in their real layouts, and the pickle loader's refusal of code."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from classic_helpers import check_dataset, one_hot, random_images

from datasets import classic
from datasets.classic_sources import load_pickle
from datasets.export import shuffled_order

# CIFAR: Python 2 style pickles, in a folder or in the official .tar.gz layout.


class Py2StylePickler(pickle.Pickler):
    """Pickles arrays as Python 2's cPickle did (raw bytes as 8-bit strings)."""

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            function, (cls, shape, typecode), state = obj.__reduce__()
            version, shape_, dtype, fortran, raw = state
            state = (version, shape_, dtype, fortran, raw.decode("latin1"))
            return function, (cls, shape, typecode.decode("latin1")), state
        return NotImplemented


def py2_pickle(obj):
    buffer = io.BytesIO()
    Py2StylePickler(buffer, protocol=2).dump(obj)
    # The real CIFAR files name numpy 1's module.
    return buffer.getvalue().replace(
        b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    )


def make_cifar(root, folder, batches, tar=False):
    """Writes `{name: dict}` pickles under root/folder (or root/folder.tar.gz)."""
    if not tar:
        (root / folder).mkdir(parents=True)
        for name, batch in batches.items():
            (root / folder / name).write_bytes(py2_pickle(batch))
        return root / folder
    path = root / f"{folder}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, batch in batches.items():
            data = py2_pickle(batch)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def cifar10_batches(rng, per_batch=3):
    images = random_images(rng, 5 * per_batch, 32, 3)
    classes = rng.integers(0, 10, size=5 * per_batch)
    batches = {}
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        batches[f"data_batch_{i + 1}"] = {
            "batch_label": f"training batch {i + 1} of 5",
            "data": images[part].transpose(0, 3, 1, 2).reshape(per_batch, 3072),
            "labels": [int(c) for c in classes[part]],
            "filenames": [f"img{j}.png" for j in range(per_batch)],
        }
    return images, classes, batches


@pytest.mark.parametrize("tar", [False, True])
def test_cifar10(tmp_path, tar):
    images, classes, batches = cifar10_batches(np.random.default_rng(0))
    source = make_cifar(tmp_path, "cifar-10-batches-py", batches, tar)
    out = tmp_path / "cifar10"
    assert classic.create_cifar10(out, source) == 15
    order = shuffled_order(15)
    check_dataset(out, images[order], one_hot(classes[order], 10))


@pytest.mark.parametrize("tar", [False, True])
def test_cifar100(tmp_path, tar):
    rng = np.random.default_rng(1)
    images = random_images(rng, 6, 32, 3)
    fine = rng.integers(0, 100, size=6)
    batch = {
        "data": images.transpose(0, 3, 1, 2).reshape(6, 3072),
        "fine_labels": fine.tolist(),
        "coarse_labels": (fine // 5).tolist(),
    }
    source = make_cifar(tmp_path, "cifar-100-python", {"train": batch}, tar)
    out = tmp_path / "cifar100"
    assert classic.create_cifar100(out, source, shuffle=False) == 6
    check_dataset(out, images, one_hot(fine, 100))


def test_cifar_modern_pickle_protocol(tmp_path):
    images, classes, batches = cifar10_batches(np.random.default_rng(2), 1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    out = tmp_path / "out"
    assert classic.create_cifar10(out, folder, shuffle=False) == 5
    check_dataset(out, images, one_hot(classes, 10))


@pytest.mark.parametrize("tar", [False, True])
def test_cifar10_missing_batch(tmp_path, tar):
    _, _, batches = cifar10_batches(np.random.default_rng(0), 1)
    del batches["data_batch_3"]
    source = make_cifar(tmp_path, "cifar-10-batches-py", batches, tar)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"missing data_batch_3; download CIFAR-10"):
        classic.create_cifar10(out, source)
    assert not out.exists()


def test_cifar10_bad_inputs(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no such file or directory"):
        classic.create_cifar10(out, tmp_path / "nowhere")
    (tmp_path / "fake.tar.gz").write_bytes(b"not a tar archive")
    with pytest.raises(ValueError, match="fake.tar.gz: not a readable tar archive"):
        classic.create_cifar10(out, tmp_path / "fake.tar.gz")

    _, _, batches = cifar10_batches(np.random.default_rng(0), 2)
    batches["data_batch_2"]["data"] = np.zeros([2, 100], np.uint8)
    source = make_cifar(tmp_path, "wrong-shape", batches)
    with pytest.raises(ValueError, match=r"data_batch_2: 'data' must be uint8 \[N"):
        classic.create_cifar10(out, source)

    _, _, batches = cifar10_batches(np.random.default_rng(0), 2)
    batches["data_batch_4"]["labels"] = [3, 10]
    source = make_cifar(tmp_path, "bad-labels", batches)
    with pytest.raises(ValueError, match=r"data_batch_4: labels must lie in \[0, 9\]"):
        classic.create_cifar10(out, source)

    _, _, batches = cifar10_batches(np.random.default_rng(0), 2)
    source = make_cifar(tmp_path, "corrupt", batches)
    (source / "data_batch_5").write_bytes(b"\x80\x02}q\x01(U")
    with pytest.raises(ValueError, match="data_batch_5: cannot unpickle .*truncated"):
        classic.create_cifar10(out, source)
    assert not out.exists()


def test_existing_output_is_refused(tmp_path):
    _, _, batches = cifar10_batches(np.random.default_rng(0), 1)
    source = make_cifar(tmp_path, "cifar-10-batches-py", batches)
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        classic.create_cifar10(tmp_path / "out", source)


class RunsShell:
    """A pickle payload that would run a shell command when loaded."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": RunsShell(f"touch {marker}"), "labels": []})
    with pytest.raises(ValueError, match=r"refused to load the global \w+\.system"):
        load_pickle(payload, "payload")

    _, _, batches = cifar10_batches(np.random.default_rng(0), 1)
    source = make_cifar(tmp_path, "cifar-10-batches-py", batches)
    (source / "data_batch_1").write_bytes(payload)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"data_batch_1: cannot unpickle.*system"):
        classic.create_cifar10(out, source)
    assert not marker.exists()
    assert not out.exists()
