"""Images given in W (`Dlatents`: w and each image's noise maps) and reading
`projected_w.npz` files, project.py's or stylegan2-ada's, for a generator. A
file is a stranger's: its keys, dtypes and shapes are checked against the
network before its arrays are read, and its values must be finite."""

import dataclasses
import re
import zipfile
import zlib

import numpy as np

# The most w one file may hold (rows of `w`).
MAX_W_PER_FILE = 1024
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclasses.dataclass(frozen=True)
class Dlatents:
    """Images given in W: `w` float32 `[n, num_layers, dlatent_size]` and each
    image's noise maps, `noise[i]`: None for the network's stored noise, or a
    tuple of one `[1, r, r, 1]` per synthesis layer (`Synthesis.noise_shapes`).
    `noise=None` gives every image the stored noise."""

    w: np.ndarray
    noise: tuple = None

    def __post_init__(self):
        noise = (None,) * len(self.w) if self.noise is None else tuple(self.noise)
        assert len(noise) == len(self.w), (len(noise), len(self.w))
        object.__setattr__(self, "noise", noise)

    def __len__(self):
        return len(self.w)

    def __getitem__(self, part):
        return Dlatents(self.w[part], self.noise[part])

    @staticmethod
    def concat(parts):
        """One `Dlatents` of `parts`, in order."""
        w = np.concatenate([part.w for part in parts])
        return Dlatents(w, sum((part.noise for part in parts), ()))


def needs_w(G, what):
    """Raises ValueError, starting with `what`, unless G has a W space."""
    if not hasattr(G, "truncate"):
        raise ValueError(
            f"{what} needs an MSG-StyleGAN generator with its styles (a run "
            "directory, checkpoint or pickle; not MSG-ProGAN or a SavedModel)."
        )


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _header(npz, key, path):
    # (shape, dtype) from the member's .npy header, before any data is read.
    names = npz.zip.namelist()
    member = f"{key}.npy" if f"{key}.npy" in names else key
    try:
        with npz.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version not in _HEADER_READERS:
                raise ValueError(f".npy format version {version[0]}.{version[1]}")
            shape, _, dtype = _HEADER_READERS[version](f)
    except _UNREADABLE as e:
        raise ValueError(
            f"{path}: {key} is not a readable .npy array ({_first_line(e)}); "
            "save the arrays with numpy.savez."
        ) from None
    if dtype.kind != "f" or dtype.itemsize > 8:
        raise ValueError(f"{path}: {key} is {dtype}; it must be float (32 or 64 bit).")
    return shape


def _array(npz, key, path):
    # The checked member as float32, finite.
    try:
        with np.errstate(over="ignore"):  # Overflow to infinity: refused below.
            array = npz[key].astype(np.float32)
    except _UNREADABLE as e:
        raise ValueError(f"{path}: cannot read {key} ({_first_line(e)}).") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"{path}: {key} holds NaN or infinity (or a float32 overflow)."
        )
    return array


def _check_keys(keys, noise_count, path):
    # Every key known; noise maps all or none.
    another = "projected with another network? Project again with this network."
    expected = [f"noise{i}" for i in range(noise_count)]
    if "w" not in keys:
        raise ValueError(
            f"{path}: no w array (it holds {sorted(keys)}); give a projected_w.npz "
            "of project.py or of stylegan2-ada's projector."
        )
    unknown = sorted(keys - {"w", *expected})
    if unknown and all(re.fullmatch(r"noise\d+", key) for key in unknown):
        has = f"noise0-noise{noise_count - 1}" if noise_count else "none"
        raise ValueError(
            f"{path}: holds {unknown[0]}, but this network's noise maps are "
            f"{has}: {another}"
        )
    if unknown:
        raise ValueError(
            f"{path}: unexpected arrays {unknown}; a projected_w.npz holds w and "
            "the noise maps noise0, noise1, ... (project.py) or w alone."
        )
    missing = [key for key in expected if key not in keys]
    if keys & set(expected) and missing:
        raise ValueError(
            f"{path}: has {noise_count - len(missing)} of this network's "
            f"{noise_count} noise maps (no {missing[0]}): {another}"
        )


def load_dlatents(path, G):
    """Reads a `projected_w.npz` for G (an MSG-StyleGAN `Generator`).

    The file holds `w` float `[k, num_layers, dlatent_size]`, 1 <= k <=
    `MAX_W_PER_FILE`, and optionally the noise maps `noise0`, `noise1`, ...,
    one per synthesis layer, float `[1 or k, r, r, 1]`
    (`G.synthesis.noise_shapes`): project.py's layout. stylegan2-ada's files
    hold `w` alone; their images get the stored noise. Nothing is read before
    its header matches the network, so memory stays bounded.

    Returns:
        `Dlatents` of k images.

    Raises:
        ValueError: one line starting with `path`: not an .npz archive, unknown
            or missing arrays, not float, shapes of another network, more
            than `MAX_W_PER_FILE` w, NaN or infinity.
    """
    needs_w(G, str(path))
    try:
        npz = np.load(path, allow_pickle=False)
    except _UNREADABLE as e:
        raise ValueError(
            f"{path}: cannot read an .npz archive ({_first_line(e)}); give a "
            "projected_w.npz of project.py."
        ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path}: one .npy array, not an .npz archive holding w; give a "
            "projected_w.npz of project.py (or save w with numpy.savez(path, w=w))."
        )
    with npz:
        return _read(npz, path, G)


def _read(npz, path, G):
    layers, size = G.num_layers, G.mapping.dlatent_size
    shapes = [tuple(shape[1:]) for shape in G.synthesis.noise_shapes]
    keys = set(npz.files)
    _check_keys(keys, len(shapes), path)
    shape = _header(npz, "w", path)
    if len(shape) != 3 or shape[1:] != (layers, size) or not shape[0]:
        raise ValueError(
            f"{path}: w has shape {list(shape)}, but this network's is [k, "
            f"{layers}, {size}] (num_layers, dlatent_size): projected with "
            "another network? Project again with this network."
        )
    count = shape[0]
    if count > MAX_W_PER_FILE:
        raise ValueError(
            f"{path}: w holds {count} rows; at most {MAX_W_PER_FILE} per file: "
            "split it into several files."
        )
    names = [f"noise{i}" for i in range(len(shapes))] if "noise0" in keys else []
    for name, expected in zip(names, shapes, strict=False):
        shape = _header(npz, name, path)
        if shape[1:] != expected or shape[0] not in (1, count):
            rows = "1" if count == 1 else f"1 or {count}"
            raise ValueError(
                f"{path}: {name} has shape {list(shape)}, but this network's "
                f"is [{rows}, {', '.join(map(str, expected))}]: projected with "
                "another network? Project again with this network."
            )
    w = _array(npz, "w", path)
    if not names:
        return Dlatents(w)
    maps = [_array(npz, name, path) for name in names]
    noise = [
        tuple(m if len(m) == 1 else m[i : i + 1] for m in maps) for i in range(count)
    ]
    return Dlatents(w, noise)
