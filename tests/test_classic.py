"""Tests for the classic dataset commands, each on a tiny input in its real format
(the CIFAR commands are in test_classic_cifar.py)."""

import gzip
import io
import struct
import sys

import h5py
import numpy as np
import PIL.Image
import pytest
import scipy.io
from classic_helpers import check_dataset, one_hot, random_images

from datasets import classic
from datasets.export import shuffled_order

# MNIST: gzipped idx files.


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_mnist(root, count=7, seed=3):
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    classes = rng.integers(0, 10, size=count).astype(np.uint8)
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte.gz", digits)
    write_idx(root / "train-labels-idx1-ubyte.gz", classes)
    return np.pad(digits, [(0, 0), (2, 2), (2, 2)]), classes


def test_mnist(tmp_path):
    padded, classes = make_mnist(tmp_path / "mnist")
    out = tmp_path / "out"
    assert classic.create_mnist(out, tmp_path / "mnist") == 7
    order = shuffled_order(7)
    assert padded[:, :2].max() == 0 and padded[:, :, 30:].max() == 0
    check_dataset(out, padded[order, :, :, None], one_hot(classes[order], 10))


def test_mnist_bad_inputs(tmp_path):
    out = tmp_path / "out"
    mnist = tmp_path / "mnist"
    make_mnist(mnist)
    (mnist / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: no such file"):
        classic.create_mnist(out, mnist)

    write_idx(mnist / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="labels must be 7 integers"):
        classic.create_mnist(out, mnist)

    with gzip.open(mnist / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 7, 28, 28) + b"\0" * 100)
    with pytest.raises(ValueError, match="images-idx3-ubyte.gz: holds 100 values"):
        classic.create_mnist(out, mnist)

    (mnist / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a readable .gz file"):
        classic.create_mnist(out, mnist)

    write_idx(mnist / "train-images-idx3-ubyte.gz", np.zeros([2, 32, 32]))
    with pytest.raises(ValueError, match=r"expected \[N, 28, 28\] digits"):
        classic.create_mnist(out, mnist)

    write_idx(mnist / "train-images-idx3-ubyte.gz", np.zeros([2, 28]))
    with pytest.raises(ValueError, match="not an idx file of uint8 with 3 dim"):
        classic.create_mnist(out, mnist)
    assert not out.exists()


def test_mnistrgb_matches_official_draws(tmp_path):
    padded, _ = make_mnist(tmp_path / "mnist")
    # The official loop: one randint(N, size=3) per image.
    rnd = np.random.RandomState(5)
    expected = np.stack([padded[rnd.randint(7, size=3)] for _ in range(9)])
    expected = expected.transpose(0, 2, 3, 1)
    out = tmp_path / "out"
    count = classic.create_mnistrgb(
        out, tmp_path / "mnist", num_images=9, random_seed=5
    )
    assert count == 9
    check_dataset(out, expected)

    shuffled = tmp_path / "shuffled"
    classic.create_mnistrgb(
        shuffled, tmp_path / "mnist", num_images=9, random_seed=5, shuffle=True
    )
    check_dataset(shuffled, expected[shuffled_order(9)])

    with pytest.raises(ValueError, match="`num_images` must be >= 1"):
        classic.create_mnistrgb(tmp_path / "none", tmp_path / "mnist", num_images=0)
    assert not (tmp_path / "none").exists()


# SVHN: the published train_32x32.mat.


def test_svhn(tmp_path):
    rng = np.random.default_rng(4)
    images = random_images(rng, 6, 32, 3)
    y = np.array([[10], [1], [2], [9], [10], [5]], dtype=np.uint8)
    (tmp_path / "svhn").mkdir()
    mat = tmp_path / "svhn" / "train_32x32.mat"
    scipy.io.savemat(mat, {"X": images.transpose(1, 2, 3, 0), "y": y})
    order = shuffled_order(6)
    expected_labels = one_hot((y[:, 0] % 10)[order], 10)
    out = tmp_path / "out"
    assert classic.create_svhn(out, tmp_path / "svhn") == 6
    check_dataset(out, images[order], expected_labels)
    assert classic.create_svhn(tmp_path / "from_file", mat) == 6
    check_dataset(tmp_path / "from_file", images[order], expected_labels)


def test_svhn_bad_inputs(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="train_32x32.mat: no such file; download"):
        classic.create_svhn(out, tmp_path)
    mat = tmp_path / "train_32x32.mat"
    scipy.io.savemat(mat, {"X": np.zeros([28, 28, 3, 2], np.uint8), "y": [[1], [2]]})
    with pytest.raises(ValueError, match=r"X must be uint8 \[32, 32, 3, N\]"):
        classic.create_svhn(out, tmp_path)
    scipy.io.savemat(mat, {"X": np.zeros([32, 32, 3, 2], np.uint8), "y": [[1]]})
    with pytest.raises(ValueError, match="labels must be 2 integers"):
        classic.create_svhn(out, tmp_path)
    mat.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        classic.create_svhn(out, tmp_path)
    assert not out.exists()


# CelebA: aligned 178x218 images.


def make_celeba(root, folder, suffix, count=3):
    rng = np.random.default_rng(5)
    (root / folder).mkdir(parents=True)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        path = root / folder / f"{i + 1:06d}{suffix}"
        PIL.Image.fromarray(pixels).save(path)
        paths.append(path)
    # Decoded as Pillow decodes them (JPEG is lossy).
    return np.stack([np.asarray(PIL.Image.open(p).convert("RGB")) for p in paths])


@pytest.mark.parametrize(
    "folder, suffix", [("img_align_celeba", ".jpg"), ("img_align_celeba_png", ".png")]
)
def test_celeba(tmp_path, folder, suffix):
    faces = make_celeba(tmp_path / "celeba", folder, suffix)
    out = tmp_path / "out"
    assert classic.create_celeba(out, tmp_path / "celeba", num_threads=2) == 3
    check_dataset(out, faces[shuffled_order(3), 121 - 64 : 121 + 64, 89 - 64 : 89 + 64])
    classic.create_celeba(tmp_path / "moved", tmp_path / "celeba", cx=70, cy=64)
    check_dataset(tmp_path / "moved", faces[shuffled_order(3), 0:128, 6:134])


def test_celeba_bad_inputs(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no img_align_celeba/\\*.jpg"):
        classic.create_celeba(out, tmp_path)
    make_celeba(tmp_path, "img_align_celeba", ".jpg")
    with pytest.raises(ValueError, match=r"64 <= cx <= 114.*Received: \(120, 121\)"):
        classic.create_celeba(out, tmp_path, cx=120)
    PIL.Image.new("RGB", (64, 64)).save(tmp_path / "img_align_celeba" / "000002.jpg")
    with pytest.raises(ValueError, match=r"000002.jpg: expected an RGB 178x218 image"):
        classic.create_celeba(out, tmp_path)
    (tmp_path / "img_align_celeba" / "000002.jpg").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="000002.jpg: not an image file"):
        classic.create_celeba(out, tmp_path)
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


# LSUN: an LMDB of encoded images (lmdb is optional).


def test_lsun_without_lmdb_package(tmp_path, monkeypatch):
    (tmp_path / "bedroom_train_lmdb").mkdir()
    (tmp_path / "bedroom_train_lmdb" / "data.mdb").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "lmdb", None)  # Makes `import lmdb` fail.
    out = tmp_path / "out"
    message = r"^create_lsun needs the lmdb package: python -m pip install lmdb$"
    with pytest.raises(ValueError, match=message):
        classic.create_lsun(out, tmp_path / "bedroom_train_lmdb")
    with pytest.raises(ImportError, match=message):
        classic.create_lsun(out, tmp_path / "bedroom_train_lmdb")
    assert not out.exists()


def test_lsun_bad_inputs(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no data.mdb; pass a category's"):
        classic.create_lsun(out, tmp_path)
    with pytest.raises(ValueError, match="power of two >= 4. Received: 100"):
        classic.create_lsun(out, tmp_path, resolution=100)
    with pytest.raises(ValueError, match="`max_images` must be None or >= 1"):
        classic.create_lsun(out, tmp_path, max_images=0)
    assert not out.exists()


def make_lsun(path, images):
    """An LMDB of encoded images under sorted keys; one entry is not an image."""
    import lmdb

    with lmdb.open(str(path), map_size=1 << 24) as env, env.begin(write=True) as txn:
        for i, pixels in enumerate(images):
            buffer = io.BytesIO()
            PIL.Image.fromarray(pixels).save(buffer, format="PNG")
            txn.put(f"{i:04d}".encode(), buffer.getvalue())
        txn.put(b"0002a", b"not an image")


def expected_lsun(pixels, resolution):
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = PIL.Image.fromarray(pixels[top : top + side, left : left + side])
    return np.asarray(square.resize((resolution, resolution), PIL.Image.LANCZOS))


def test_lsun(tmp_path, capsys):
    rng = np.random.default_rng(6)
    sources = [
        rng.integers(0, 256, size=shape, dtype=np.uint8)
        for shape in [(12, 20, 3), (21, 16, 3), (8, 8, 3), (30, 30, 3), (9, 17, 3)]
    ]
    make_lsun(tmp_path / "lmdb", sources)
    expected = np.stack([expected_lsun(s, 8) for s in sources])
    out = tmp_path / "out"
    assert classic.create_lsun(out, tmp_path / "lmdb", resolution=8) == 5
    check_dataset(out, expected)
    assert "skipped 1 undecodable LMDB entries" in capsys.readouterr().err

    assert (
        classic.create_lsun(
            tmp_path / "max", tmp_path / "lmdb", max_images=3, resolution=8
        )
        == 3
    )
    check_dataset(tmp_path / "max", expected[:3])

    # Shuffling permutes the six keys; the undecodable one (index 3) drops out.
    classic.create_lsun(
        tmp_path / "shuffled", tmp_path / "lmdb", resolution=8, shuffle=True
    )
    keys = np.array([0, 1, 2, -1, 3, 4])[shuffled_order(6)]
    check_dataset(tmp_path / "shuffled", expected[keys[keys >= 0]])


# HDF5: ProGAN's h5tool.py layout.


def make_hdf5(path, count=5, labels=True):
    rng = np.random.default_rng(7)
    top = rng.integers(0, 256, size=(count, 3, 16, 16), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        for side in (4, 8, 16):
            step = 16 // side
            f.create_dataset(f"data{side}x{side}", data=top[:, :, ::step, ::step])
    classes = rng.integers(0, 4, size=count)
    if labels:
        np.save(path.with_name(path.stem + "-labels.npy"), one_hot(classes, 4))
    return top.transpose(0, 2, 3, 1), one_hot(classes, 4)


def test_from_hdf5(tmp_path):
    images, labels = make_hdf5(tmp_path / "faces.h5")
    out = tmp_path / "out"
    assert classic.create_from_hdf5(out, tmp_path / "faces.h5") == 5
    order = shuffled_order(5)
    check_dataset(out, images[order], labels[order])

    images, _ = make_hdf5(tmp_path / "plain.h5", labels=False)
    classic.create_from_hdf5(tmp_path / "plain", tmp_path / "plain.h5", shuffle=False)
    check_dataset(tmp_path / "plain", images)


def test_from_hdf5_bad_inputs(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="nope.h5: no such file"):
        classic.create_from_hdf5(out, tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.h5: not a readable HDF5 file"):
        classic.create_from_hdf5(out, tmp_path / "junk.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_dataset("images", data=np.zeros([2, 3, 4, 4], np.uint8))
    with pytest.raises(ValueError, match="empty.h5: no data<R>x<R> datasets"):
        classic.create_from_hdf5(out, tmp_path / "empty.h5")
    with h5py.File(tmp_path / "float.h5", "w") as f:
        f.create_dataset("data4x4", data=np.zeros([2, 3, 4, 4], np.float32))
    with pytest.raises(ValueError, match=r"/data4x4 must be uint8 \[N, C, H, W\]"):
        classic.create_from_hdf5(out, tmp_path / "float.h5")
    with h5py.File(tmp_path / "wide.h5", "w") as f:
        f.create_dataset("data8x8", data=np.zeros([2, 4, 8, 8], np.uint8))
    with pytest.raises(ValueError, match="square power-of-two images with 1 or 3"):
        classic.create_from_hdf5(out, tmp_path / "wide.h5")
    make_hdf5(tmp_path / "faces.h5")
    np.save(tmp_path / "faces-labels.npy", np.zeros([4, 2], np.float32))
    with pytest.raises(ValueError, match=r"faces-labels.npy: labels must be \[5, "):
        classic.create_from_hdf5(out, tmp_path / "faces.h5")
    assert not out.exists()


def test_registry_names_every_command():
    assert sorted(classic.CLASSIC_COMMANDS) == sorted(
        name for name in dir(classic) if name.startswith("create_")
    )
    for name, command in classic.CLASSIC_COMMANDS.items():
        assert command.__name__ == name
