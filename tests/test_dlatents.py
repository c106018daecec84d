"""dlatents.py: projected_w.npz files (project.py's layout, stylegan2-ada's)
read for a network, and every refusal of a stranger's file in one line."""

import io
import zipfile

import numpy as np
import pytest

from msg_stylegan_tf2.formats.dlatents import MAX_W_PER_FILE, Dlatents, load_dlatents
from msg_stylegan_tf2.networks.build import build_networks

SIDES = (4, 4, 8, 8, 16, 16)  # tiny: 16x16, 6 layers, dlatent_size 16.


@pytest.fixture(scope="module")
def G():
    return build_networks("tiny")[0]


def maps(rows=1, seed=0):
    rng = np.random.RandomState(seed)
    return {
        f"noise{i}": rng.randn(rows, s, s, 1).astype(np.float32)
        for i, s in enumerate(SIDES)
    }


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_project_py_layout_gives_w_and_its_noise(G, tmp_path):
    w = np.random.RandomState(1).randn(1, 6, 16).astype(np.float32)
    noise = maps()
    loaded = load_dlatents(save(tmp_path / "p.npz", w=w, **noise), G)
    assert isinstance(loaded, Dlatents) and len(loaded) == 1
    np.testing.assert_array_equal(loaded.w, w)
    assert loaded.w.dtype == np.float32
    for i in range(6):
        np.testing.assert_array_equal(loaded.noise[0][i], noise[f"noise{i}"])


def test_stylegan2_ada_layout_gets_the_stored_noise(G, tmp_path):
    # stylegan2-ada's projector saves w alone (float32 there; float64 here).
    w = np.random.RandomState(2).randn(1, 6, 16)
    loaded = load_dlatents(save(tmp_path / "ada.npz", w=w), G)
    np.testing.assert_array_equal(loaded.w, w.astype(np.float32))
    assert loaded.noise == (None,)


def test_several_w_share_one_noise_map_or_have_one_each(G, tmp_path):
    w = np.random.RandomState(3).randn(3, 6, 16).astype(np.float16)
    shared = load_dlatents(save(tmp_path / "a.npz", w=w, **maps()), G)
    assert len(shared) == 3 and shared.w.dtype == np.float32
    assert all(shared.noise[i][5] is shared.noise[0][5] for i in range(3))
    each = load_dlatents(save(tmp_path / "b.npz", w=w, **maps(rows=3)), G)
    assert [m[2].shape for m in each.noise] == [(1, 8, 8, 1)] * 3
    np.testing.assert_array_equal(each.noise[1][2], maps(rows=3)["noise2"][1:2])


def npz_with_header(path, key, shape):
    """An .npz whose member `key` claims `shape` (float32) but holds no data."""
    header = io.BytesIO()
    header_data = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(header, header_data)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{key}.npy", header.getvalue())
    return path


W = np.zeros([1, 6, 16], np.float32)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"latents": W}, r"no w array \(it holds \['latents'\]\)"),
        ({"w": W, "label": W}, r"unexpected arrays \['label'\]"),
        ({"w": W, **maps(), "noise6": W}, "holds noise6, .* noise0-noise5: projected"),
        (
            {"w": W, **{k: v for k, v in maps().items() if k != "noise3"}},
            "has 5 of this network's 6 noise maps .no noise3.: projected with",
        ),
        (
            {"w": np.zeros([1, 18, 512], np.float32)},
            r"w has shape \[1, 18, 512\], .* is \[k, 6, 16\] .* another network",
        ),
        ({"w": np.zeros([1, 6, 16], np.int64)}, "w is int64; it must be float"),
        ({"w": np.full([1, 6, 16], np.nan)}, "w holds NaN or infinity"),
        ({"w": np.full([1, 6, 16], 1e300)}, "w holds NaN or infinity"),
        (
            {"w": W, **maps(), "noise4": np.zeros([1, 8, 8, 1])},
            r"noise4 has shape \[1, 8, 8, 1\], .* is \[1, 16, 16, 1\]",
        ),
        (
            {"w": np.zeros([2, 6, 16]), **maps(rows=3)},
            r"noise0 has shape \[3, 4, 4, 1\], .* is \[1 or 2, 4, 4, 1\]",
        ),
        ({"w": np.array([None] * 3, dtype=object)}, "w is object"),
    ],
)
def test_a_wrong_file_is_refused_in_one_line_naming_it(G, tmp_path, arrays, message):
    path = save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message) as error:
        load_dlatents(path, G)
    assert str(error.value).startswith(f"{path}: ")
    assert "\n" not in str(error.value)


def test_a_claimed_size_is_refused_before_it_is_read(G, tmp_path):
    # A header claiming 4 GB: refused by its shape, nothing allocated.
    huge = npz_with_header(tmp_path / "huge.npz", "w", (10**8, 6, 16))
    with pytest.raises(ValueError, match=f"100000000 rows; at most {MAX_W_PER_FILE}"):
        load_dlatents(huge, G)
    # A header that matches but no data behind it.
    empty = npz_with_header(tmp_path / "empty.npz", "w", (1, 6, 16))
    with pytest.raises(ValueError, match="cannot read w"):
        load_dlatents(empty, G)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read an .npz archive"),
        (b"not numpy", "cannot read an .npz archive"),
        (b"PK\x03\x04 broken zip", "cannot read an .npz archive"),
        ("npy", "one .npy array, not an .npz archive"),
    ],
)
def test_what_is_not_an_npz_is_refused(G, tmp_path, content, message):
    path = tmp_path / "file.npz"
    if content == "npy":
        with open(path, "wb") as f:
            np.save(f, W)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_dlatents(path, G)


def test_a_member_that_is_not_npy_is_refused(G, tmp_path):
    path = tmp_path / "raw.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", b"raw bytes, no .npy magic")
    with pytest.raises(ValueError, match="w is not a readable .npy array"):
        load_dlatents(path, G)


def test_a_network_without_w_is_refused(tmp_path):
    P, _ = build_networks("msg_progan_32", resolution=8, fmap_max=16, latent_size=8)
    path = save(tmp_path / "p.npz", w=W)
    with pytest.raises(ValueError, match=f"{path} needs an MSG-StyleGAN generator"):
        load_dlatents(path, P)
