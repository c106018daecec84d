"""dataset_tool commands for classic datasets: CIFAR, MNIST, SVHN, CelebA, LSUN, HDF5.

Each `create_*` reads a dataset in its published format, checks it (a one-line
`ValueError` names the file and says what to do) and writes official TFRecords in
the order of the official `dataset_tool.py`; nothing is left behind on failure.
"""

import pathlib
import sys

import numpy as np
import scipy.io

from datasets import images as img
from datasets.classic_sources import (
    NCHWAsHWC,
    check_classes,
    cifar_batch,
    describe,
    import_optional,
    ordered_map,
    read_idx,
    read_pickles,
)
from datasets.export import (
    OFFICIAL_SHUFFLE_SEED,
    one_hot,
    shuffled_order,
    write_arrays,
    write_stream,
)

CIFAR10_HINT = "download CIFAR-10 (python version) and extract it, or pass the .tar.gz"
CIFAR100_HINT = (
    "download CIFAR-100 (python version) and extract it, or pass the .tar.gz"
)
MNIST_HINT = "download the four MNIST .gz files into one directory (do not unzip them)"
SVHN_HINT = "download train_32x32.mat (SVHN format 2, cropped digits)"
CELEBA_HINT = "download CelebA's aligned images and extract img_align_celeba.zip there"
LSUN_HINT = "pass a category's extracted LMDB folder, e.g. bedroom_train_lmdb"
CELEBA_SIZE = (178, 218)  # (width, height) of CelebA's aligned images.
CELEBA_CROP = 128


def _check_output(tfrecord_dir):
    if pathlib.Path(tfrecord_dir).exists():
        raise ValueError(
            f"{tfrecord_dir} already exists; delete it or choose another output."
        )


def create_cifar10(
    tfrecord_dir, cifar10_dir, *, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED
) -> int:
    """CIFAR-10 from `data_batch_1`..`data_batch_5` (python version).

    Args:
        tfrecord_dir: output directory (must not exist).
        cifar10_dir: the extracted `cifar-10-batches-py` folder, or
            `cifar-10-python.tar.gz` itself (read without extracting).
        shuffle, seed: write in `export.shuffled_order` (official: True, 123).

    Returns:
        The number of images: 32x32x3, labels one-hot `[N, 10]`.
    """
    _check_output(tfrecord_dir)
    names = [f"data_batch_{i}" for i in range(1, 6)]
    batches = read_pickles(cifar10_dir, names, CIFAR10_HINT)
    parts = [cifar_batch(*batches[n], "labels", 10, CIFAR10_HINT) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = one_hot(np.concatenate([p[1] for p in parts]), 10)
    return write_arrays(tfrecord_dir, images, labels, shuffle, seed)


def create_cifar100(
    tfrecord_dir, cifar100_dir, *, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED
) -> int:
    """CIFAR-100 from its `train` pickle, with the 100 fine labels.

    Args:
        cifar100_dir: the extracted `cifar-100-python` folder, or
            `cifar-100-python.tar.gz` itself.
        (the others as `create_cifar10`)

    Returns:
        The number of images: 32x32x3, labels one-hot `[N, 100]`.
    """
    _check_output(tfrecord_dir)
    batches = read_pickles(cifar100_dir, ["train"], CIFAR100_HINT)
    images, labels = cifar_batch(*batches["train"], "fine_labels", 100, CIFAR100_HINT)
    return write_arrays(tfrecord_dir, images, one_hot(labels, 100), shuffle, seed)


def _mnist_digits(mnist_dir):
    # MNIST training digits, zero-padded from 28x28 to 32x32 as the official does.
    mnist_dir = pathlib.Path(mnist_dir)
    if not mnist_dir.is_dir():
        raise ValueError(f"{mnist_dir}: no such directory; {MNIST_HINT}")
    path = mnist_dir / "train-images-idx3-ubyte.gz"
    digits = read_idx(path, 3, MNIST_HINT)
    if digits.shape[1:] != (28, 28) or len(digits) == 0:
        raise ValueError(
            f"{path}: expected [N, 28, 28] digits. Received: {list(digits.shape)}"
        )
    return np.pad(digits, [(0, 0), (2, 2), (2, 2)])


def create_mnist(
    tfrecord_dir, mnist_dir, *, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED
) -> int:
    """MNIST from `train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz`.

    Returns:
        The number of images: 32x32x1 (28x28 padded with zeros), labels one-hot
        `[N, 10]`.
    """
    _check_output(tfrecord_dir)
    digits = _mnist_digits(mnist_dir)
    path = pathlib.Path(mnist_dir) / "train-labels-idx1-ubyte.gz"
    labels = check_classes(read_idx(path, 1, MNIST_HINT), len(digits), 10, path)
    images = digits[..., np.newaxis]
    return write_arrays(tfrecord_dir, images, one_hot(labels, 10), shuffle, seed)


def create_mnistrgb(
    tfrecord_dir,
    mnist_dir,
    *,
    num_images=1000000,
    random_seed=123,
    shuffle=False,
    seed=OFFICIAL_SHUFFLE_SEED,
) -> int:
    """Colour MNIST: random triples of training digits stacked as R, G and B.

    Image `i` has channels `digits[picks[i]]` with
    `picks = RandomState(random_seed).randint(N, size=(num_images, 3))`, the same
    draws as the official one-triple-per-image loop. Images are made and written
    one at a time, never all in memory.

    Args:
        num_images: how many images to make.
        random_seed: seed of the digit draws (official: 123).
        shuffle, seed: the official writes the draws in order (shuffle=False);
            True permutes them with `export.shuffled_order`.

    Returns:
        The number of images: 32x32x3, no labels.
    """
    _check_output(tfrecord_dir)
    if num_images < 1:
        raise ValueError(f"`num_images` must be >= 1. Received: {num_images}")
    digits = _mnist_digits(mnist_dir)
    picks = np.random.RandomState(random_seed).randint(
        len(digits), size=(num_images, 3)
    )
    picks = picks[shuffled_order(num_images, shuffle, seed)]
    stream = (np.transpose(digits[p], [1, 2, 0]) for p in picks)
    return write_stream(tfrecord_dir, stream, total=num_images)


def create_svhn(
    tfrecord_dir, svhn_dir, *, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED
) -> int:
    """SVHN training digits from `train_32x32.mat` (format 2, 73257 images).

    The official tool read a preprocessed pickle variant (`train_1..3.pkl`) that
    was never published; this reads the published `.mat` instead: `X` uint8
    `[32, 32, 3, N]`, `y` `[N, 1]` in 1..10 where 10 means digit 0. Like the
    official (73257 images), `extra_32x32.mat` is not used.

    Args:
        svhn_dir: directory holding `train_32x32.mat`, or that file itself.

    Returns:
        The number of images: 32x32x3, labels one-hot `[N, 10]`.
    """
    _check_output(tfrecord_dir)
    path = pathlib.Path(svhn_dir)
    if path.is_dir():
        path = path / "train_32x32.mat"
    if not path.is_file():
        raise ValueError(f"{path}: no such file; {SVHN_HINT}")
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except (
        ValueError,
        OSError,
        NotImplementedError,
        scipy.io.matlab.MatReadError,
    ) as e:
        raise ValueError(
            f"{path}: not a readable MATLAB file ({e}); {SVHN_HINT}"
        ) from e
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path}: no variables X and y; {SVHN_HINT}")
    x, y = mat["X"], mat["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(
            f"{path}: X must be uint8 [32, 32, 3, N]. Received: {describe(x)}"
        )
    labels = check_classes(y.reshape(-1), x.shape[3], 11, path) % 10
    images = np.transpose(x, [3, 0, 1, 2])
    return write_arrays(tfrecord_dir, images, one_hot(labels, 10), shuffle, seed)


def _celeba_files(celeba_dir):
    # The official reads img_align_celeba_png/*.png (converted by the user); the
    # published dataset is img_align_celeba/*.jpg. Take whichever is there.
    celeba_dir = pathlib.Path(celeba_dir)
    if not celeba_dir.is_dir():
        raise ValueError(f"{celeba_dir}: no such directory; {CELEBA_HINT}")
    for folder, pattern in (
        ("img_align_celeba_png", "*.png"),
        ("img_align_celeba", "*.jpg"),
    ):
        files = sorted((celeba_dir / folder).glob(pattern))
        if files:
            return files
    raise ValueError(
        f"{celeba_dir}: no img_align_celeba/*.jpg (nor img_align_celeba_png/*.png); "
        f"{CELEBA_HINT}"
    )


def create_celeba(
    tfrecord_dir,
    celeba_dir,
    *,
    cx=89,
    cy=121,
    shuffle=True,
    seed=OFFICIAL_SHUFFLE_SEED,
    num_threads=None,
) -> int:
    """CelebA's aligned 178x218 faces, cropped to 128x128 around (cx, cy).

    Images are decoded on `num_threads` threads and written in order, streaming.

    Args:
        celeba_dir: directory holding `img_align_celeba/*.jpg` (or the official's
            `img_align_celeba_png/*.png`).
        cx, cy: centre of the crop in pixels (official: 89, 121).

    Returns:
        The number of images: 128x128x3, no labels.
    """
    _check_output(tfrecord_dir)
    half = CELEBA_CROP // 2
    width, height = CELEBA_SIZE
    if not (half <= cx <= width - half and half <= cy <= height - half):
        raise ValueError(
            f"The 128x128 crop centred at (cx, cy) must fit in {width}x{height}: "
            f"{half} <= cx <= {width - half}, {half} <= cy <= {height - half}. "
            f"Received: ({cx}, {cy})"
        )
    files = _celeba_files(celeba_dir)
    files = [files[i] for i in shuffled_order(len(files), shuffle, seed)]

    def load(path):
        try:
            image = img.decode(path.read_bytes(), path)
        except OSError as e:
            raise img.BadImageError(path, f"cannot be read ({e})") from e
        if image.mode != "RGB" or image.size != CELEBA_SIZE:
            raise img.BadImageError(
                path,
                f"expected an RGB {width}x{height} image (CelebA aligned); got "
                f"{image.mode} {image.size[0]}x{image.size[1]}",
            )
        return np.asarray(image)[cy - half : cy + half, cx - half : cx + half]

    stream = ordered_map(load, files, num_threads)
    return write_stream(tfrecord_dir, stream, total=len(files))


def create_lsun(
    tfrecord_dir,
    lmdb_dir,
    *,
    resolution=256,
    max_images=None,
    shuffle=False,
    seed=OFFICIAL_SHUFFLE_SEED,
    num_threads=None,
) -> int:
    """One LSUN category from its LMDB: centre-crop to square, resize to resolution.

    Entries are read in LMDB key order (as the official; shuffle=True permutes
    the keys with `export.shuffled_order`), decoded on threads, and those that
    cannot be decoded are skipped and counted. The official decodes with OpenCV
    (Pillow as fallback) and resizes with Pillow's ANTIALIAS filter, which is
    Lanczos; here Pillow decodes too, so a JPEG/WebP pixel may differ by a level.

    Args:
        lmdb_dir: the category's LMDB folder (holding `data.mdb`), e.g.
            `bedroom_train_lmdb`. Needs the optional `lmdb` package.
        resolution: side of the output, a power of two >= 4 (official: 256).
        max_images: stop after this many images (None: all).

    Returns:
        The number of images written: `resolution`^2 x 3, no labels.
    """
    _check_output(tfrecord_dir)
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(
            f"`resolution` must be a power of two >= 4. Received: {resolution}"
        )
    if max_images is not None and max_images < 1:
        raise ValueError(f"`max_images` must be None or >= 1. Received: {max_images}")
    lmdb_dir = pathlib.Path(lmdb_dir)
    if not (lmdb_dir / "data.mdb").is_file():
        raise ValueError(f"{lmdb_dir}: no data.mdb; {LSUN_HINT}")
    lmdb = import_optional("lmdb", "create_lsun")
    try:
        env = lmdb.open(str(lmdb_dir), readonly=True, lock=False)
    except lmdb.Error as e:
        raise ValueError(f"{lmdb_dir}: cannot open the LMDB ({e}); {LSUN_HINT}") from e
    skipped = []

    def load(entry):
        # Returns the image, or the BadImageError of an entry to skip.
        key, value = entry
        name = f"{lmdb_dir}[{key.decode('latin1')}]"
        try:
            image = img.decode(value, name).convert("RGB")
        except img.BadImageError as e:
            return e
        return np.asarray(img.fit(image, resolution, "center-crop"))

    def decoded(txn):
        if shuffle:
            keys = list(txn.cursor().iternext(values=False))
            entries = (
                (keys[i], txn.get(keys[i]))
                for i in shuffled_order(len(keys), True, seed)
            )
        else:
            entries = txn.cursor().iternext()
        count = 0
        for image in ordered_map(load, entries, num_threads):
            if isinstance(image, img.BadImageError):
                skipped.append(image)
            else:
                yield image
                count += 1
                if count == max_images:
                    return

    try:
        with env, env.begin(write=False) as txn:
            total = env.stat()["entries"]
            total = total if max_images is None else min(total, max_images)
            return write_stream(tfrecord_dir, decoded(txn), total=total)
    except lmdb.Error as e:
        raise ValueError(f"{lmdb_dir}: corrupt LMDB ({e}); {LSUN_HINT}") from e
    finally:
        for error in skipped[:10]:
            sys.stderr.write(f"skipped {error.path}: {error.reason}\n")
        if skipped:
            sys.stderr.write(f"skipped {len(skipped)} undecodable LMDB entries\n")


def create_from_hdf5(
    tfrecord_dir, hdf5_filename, *, shuffle=True, seed=OFFICIAL_SHUFFLE_SEED
) -> int:
    """Images from an HDF5 archive in the layout of ProGAN's `h5tool.py`.

    The archive holds datasets `data{r}x{r}` of uint8 `[N, C, r, r]`; the largest
    is used. Labels, if any, are in `<name>-labels.npy` beside it (official), as
    `[N, label_size]`. Needs h5py (TensorFlow depends on it).

    Returns:
        The number of images.
    """
    _check_output(tfrecord_dir)
    path = pathlib.Path(hdf5_filename)
    if not path.is_file():
        raise ValueError(
            f"{path}: no such file; pass an HDF5 archive made by h5tool.py"
        )
    h5py = import_optional("h5py", "create_from_hdf5")
    try:
        archive = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e}).") from e
    with archive:
        levels = [
            value
            for key, value in archive.items()
            if key.startswith("data") and isinstance(value, h5py.Dataset)
        ]
        for level in levels:
            if level.ndim != 4 or level.dtype != np.uint8:
                raise ValueError(
                    f"{path}: dataset {level.name} must be uint8 [N, C, H, W]. "
                    f"Received: {level.dtype} {list(level.shape)}"
                )
        if not levels:
            raise ValueError(
                f"{path}: no data<R>x<R> datasets; expected the layout of "
                "h5tool.py (uint8 [N, C, R, R] per resolution)."
            )
        data = max(levels, key=lambda level: level.shape[3])
        _, channels, height, width = data.shape
        if channels not in (1, 3) or height != width or height & (height - 1):
            raise ValueError(
                f"{path}: {data.name} must hold square power-of-two images with 1 "
                f"or 3 channels. Received: [N, C, H, W] = {list(data.shape)}"
            )
        labels = None
        labels_file = path.with_name(path.stem + "-labels.npy")
        if labels_file.is_file():
            try:
                labels = np.load(labels_file, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise ValueError(f"{labels_file}: not a readable .npy ({e}).") from e
            if labels.ndim != 2 or labels.shape[0] != data.shape[0]:
                raise ValueError(
                    f"{labels_file}: labels must be [{data.shape[0]}, label_size] "
                    f"(one row per image in {data.name}). Received: {describe(labels)}"
                )
        return write_arrays(tfrecord_dir, NCHWAsHWC(data), labels, shuffle, seed)


CLASSIC_COMMANDS = {
    "create_mnist": create_mnist,
    "create_mnistrgb": create_mnistrgb,
    "create_cifar10": create_cifar10,
    "create_cifar100": create_cifar100,
    "create_svhn": create_svhn,
    "create_lsun": create_lsun,
    "create_celeba": create_celeba,
    "create_from_hdf5": create_from_hdf5,
}
