"""MSG-ProGAN generator against the official ProGAN `G_paper` (TF1).

The fixtures tests/data/official/progan_<config>.npz were written by
tests/data/make_progan_fixtures.py, which runs the official
tkarras/progressive_growing_of_gans `G_paper` under tensorflow.compat.v1 with
random values in every variable. ProGAN emits one image whose level of detail is
`lod`; at an integer lod k it is the ToRGB of the block at resolution R / 2^k,
nearest-upscaled by 2^k (checked by that script), so our pyramid level
log2(R) - 2 - k, upscaled by 2^k, must equal the official output at lod k.
"""

import json
import pathlib

import numpy as np
import pytest

from msg_stylegan_tf2.networks.official import assign_official_variables, official_shape
from msg_stylegan_tf2.networks.progan import ProGANGenerator

DATA = pathlib.Path(__file__).parent / "data" / "official"
ATOL = 1e-4
CONFIGS = ("unfused", "fused_labels")


def load_fixture(name):
    data = np.load(DATA / f"progan_{name}.npz")
    kwargs = json.loads(str(data["config_json"]))["kwargs"]
    variables = {k[len("var/") :]: data[k] for k in data.files if k.startswith("var/")}
    return data, kwargs, variables


def build(kwargs):
    G = ProGANGenerator(**kwargs)
    G.build()
    return G


def upscale_nchw(images_nhwc, factor):
    """Our NHWC level, nearest-upscaled by `factor`, as NCHW."""
    x = np.asarray(images_nhwc).repeat(factor, axis=1).repeat(factor, axis=2)
    return np.transpose(x, [0, 3, 1, 2])


@pytest.mark.parametrize("name", CONFIGS)
def test_official_variable_names(name):
    _, kwargs, variables = load_fixture(name)
    G = build(kwargs)
    assert sorted(G.official_variable_map()) == sorted(variables)


@pytest.mark.parametrize("name", CONFIGS)
def test_official_variable_shapes(name):
    _, kwargs, variables = load_fixture(name)
    G = build(kwargs)
    shapes = {
        k: official_shape(variable, layout)
        for k, (variable, layout) in G.official_variable_map().items()
    }
    assert shapes == {k: tuple(v.shape) for k, v in variables.items()}


@pytest.mark.parametrize("name", CONFIGS)
def test_fixture_levels_are_upscaled(name):
    # Official output at lod k is constant on 2^k x 2^k blocks (up to the
    # rounding of lerp_clip's a + (b - a) * 1).
    data, kwargs, _ = load_fixture(name)
    count = int(np.log2(kwargs["resolution"])) - 1
    for k in range(count):
        image = data[f"lod{k}_images"]
        f = 2**k
        coarse = image[:, :, ::f, ::f]
        upscaled = coarse.repeat(f, 2).repeat(f, 3)
        np.testing.assert_allclose(image, upscaled, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_matches_official(name):
    data, kwargs, variables = load_fixture(name)
    G = build(kwargs)
    assign_official_variables(G, variables)
    labels = data["labels"] if kwargs["label_size"] else None
    images = G(data["latents"], labels)
    count = int(np.log2(kwargs["resolution"])) - 1
    assert len(images) == count
    for k in range(count):
        ours = upscale_nchw(images[count - 1 - k], 2**k)
        np.testing.assert_allclose(
            ours, data[f"lod{k}_images"], rtol=0, atol=ATOL, err_msg=f"lod {k}"
        )


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_pyramid_shapes(resolution):
    G = ProGANGenerator(
        num_channels=3, resolution=resolution, fmap_base=64, fmap_max=16
    )
    G.build()
    assert G.latent_size == 16
    images = G(np.random.RandomState(0).standard_normal([2, 16]).astype("float32"))
    sides = [4 * 2**i for i in range(int(np.log2(resolution)) - 1)]
    assert [tuple(x.shape) for x in images] == [(2, s, s, 3) for s in sides]
    assert all(np.all(np.isfinite(np.asarray(x))) for x in images)


def test_labels():
    G = ProGANGenerator(
        num_channels=1, resolution=8, label_size=3, fmap_base=64, fmap_max=16
    )
    G.build()
    assert tuple(G.blocks[0].dense.weight.shape) == (16 + 3, 16 * 16)
    latents = np.random.RandomState(1).standard_normal([2, 16]).astype("float32")
    with pytest.raises(ValueError, match="labels"):
        G(latents)
    a = G(latents, np.eye(3, dtype="float32")[[0, 1]])
    b = G(latents, np.eye(3, dtype="float32")[[2, 2]])
    assert [tuple(x.shape) for x in a] == [(2, 4, 4, 1), (2, 8, 8, 1)]
    assert np.abs(np.asarray(a[-1]) - np.asarray(b[-1])).max() > 1e-3


def test_progan_takes_the_generator_call_but_refuses_truncation():
    import tensorflow as tf

    G = ProGANGenerator(resolution=8, num_channels=3, latent_size=8)
    z = tf.random.normal([2, 8])
    plain = G(z)
    same = G(z, truncation_psi=1.0, randomize_noise=False, noise_seed=[1, 2])
    np.testing.assert_array_equal(plain[-1], same[-1])
    assert G.latent_size == 8
    with pytest.raises(ValueError, match="no truncation trick.*truncation_psi=0.7"):
        G(z, truncation_psi=0.7)
