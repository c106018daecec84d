"""Our networks against the official TF1 code, on fixtures it produced.

The fixtures in tests/data/official/ were written by
tests/data/make_official_fixtures.py, which runs the official msg-stylegan-tf
code under tensorflow.compat.v1 with random values in every variable.
"""

import json
import pathlib

import numpy as np
import pytest

from msg_stylegan_tf2.networks.discriminator import Discriminator
from msg_stylegan_tf2.networks.generator import Generator
from msg_stylegan_tf2.networks.official import (
    assign_official_variables,
    official_variables,
)

DATA = pathlib.Path(__file__).parent / "data" / "official"
ATOL = 1e-4
D_KEYS = ("num_channels", "resolution", "label_size", "fmap_base", "fmap_decay")
D_KEYS += ("fmap_max", "mbstd_group_size", "mbstd_num_features", "fused_scale")


def load_fixture(name):
    data = np.load(DATA / f"{name}.npz")
    config = json.loads(str(data["config_json"]))
    variables = {k[len("var/") :]: data[k] for k in data.files if k.startswith("var/")}
    return data, config, variables


def nhwc(array):
    return np.transpose(array, [0, 2, 3, 1])


def build_networks(config, variables):
    kwargs = config["kwargs"]
    g_kwargs = {k: v for k, v in kwargs.items() if not k.startswith("mbstd")}
    G = Generator(**g_kwargs)
    G.build()
    D = Discriminator(**{k: kwargs[k] for k in D_KEYS})
    D.build()
    assign_official_variables(G, {k: v for k, v in variables.items() if k[0] == "G"})
    assign_official_variables(D, {k: v for k, v in variables.items() if k[0] == "D"})
    return G, D


@pytest.fixture(scope="module", params=["unfused", "fused_labels"])
def official_case(request):
    data, config, variables = load_fixture(request.param)
    G, D = build_networks(config, variables)
    labels = data["labels"] if config["kwargs"]["label_size"] else None
    return data, config, variables, G, D, labels


def levels(data, prefix, resolution):
    count = int(np.log2(resolution)) - 1
    return [data[f"{prefix}_{4 * 2**i}"] for i in range(count)]


def assert_pyramid_close(ours, theirs):
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(mine), nhwc(ref), rtol=0, atol=ATOL)


def test_mapping_matches_official(official_case):
    data, _, _, G, _, labels = official_case
    dlatents = G.mapping(data["latents"], labels)
    np.testing.assert_allclose(dlatents, data["mapping_dlatents"], rtol=0, atol=ATOL)


def test_synthesis_matches_official(official_case):
    data, config, _, G, _, _ = official_case
    images = G.synthesis(data["dlatents_in"], randomize_noise=False)
    assert_pyramid_close(images, levels(data, "synthesis", G.resolution))


@pytest.mark.parametrize(
    "variant, psi, cutoff",
    [("g_trunc", None, None), ("g_notrunc", 1.0, None), ("g_trunc_psi05_cut2", 0.5, 2)],
)
def test_generator_with_truncation_matches_official(
    official_case, variant, psi, cutoff
):
    data, _, _, G, _, labels = official_case
    # None: the call leaves them out, as the official one did (its defaults).
    given = {"truncation_psi": psi, "truncation_cutoff": cutoff}
    given = {name: value for name, value in given.items() if value is not None}
    images = G(data["latents"], labels, randomize_noise=False, **given)
    assert_pyramid_close(images, levels(data, variant, G.resolution))


def test_discriminator_matches_official(official_case):
    data, _, _, _, D, labels = official_case
    images = [nhwc(x) for x in levels(data, "d_images", D.resolution)]
    np.testing.assert_allclose(D(images, labels), data["d_scores"], rtol=0, atol=ATOL)
    fakes = [nhwc(x) for x in levels(data, "g_notrunc", D.resolution)]
    np.testing.assert_allclose(
        D(fakes, labels), data["d_scores_fake"], rtol=0, atol=ATOL
    )


def test_dlatent_avg_update_matches_official(official_case):
    data, _, variables, G, _, labels = official_case
    try:
        G(data["latents"], labels, training=True)
        np.testing.assert_allclose(
            G.dlatent_avg.numpy(), data["dlatent_avg_after_train_step"], atol=1e-6
        )
    finally:
        G.dlatent_avg.assign(variables["G/dlatent_avg"])


def test_official_variables_round_trip(official_case):
    _, _, variables, G, D, _ = official_case
    exported = {**official_variables(G), **official_variables(D)}
    assert sorted(exported) == sorted(variables)
    for name, value in variables.items():
        np.testing.assert_array_equal(exported[name], value, err_msg=name)
