"""losses.py against the official TF1 loss functions.

The official values come from tests/data/official/losses_unfused.npz, written by
tests/data/make_official_loss_fixtures.py with the official TF1 loss functions.
"""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.discriminator import Discriminator
from msg_stylegan_tf2.networks.generator import Generator
from msg_stylegan_tf2.networks.official import assign_official_variables
from msg_stylegan_tf2.training.losses import gradient_penalty_terms, make_loss
from msg_stylegan_tf2.training.step_context import StepContext

DATA = pathlib.Path(__file__).parent / "data" / "official"


def nhwc(array):
    return np.transpose(array, [0, 2, 3, 1])


@pytest.fixture(scope="module")
def official_losses():
    data = np.load(DATA / "losses_unfused.npz")
    source = json.loads(str(data["config_json"]))["source"]
    networks = np.load(DATA / f"{source}.npz")
    kwargs = json.loads(str(networks["config_json"]))["kwargs"]
    variables = {
        k[len("var/") :]: networks[k] for k in networks.files if k.startswith("var/")
    }
    G = Generator(**{k: v for k, v in kwargs.items() if not k.startswith("mbstd")})
    G.build()
    d_keys = ("num_channels", "resolution", "label_size", "fmap_base", "fmap_decay")
    d_keys += ("fmap_max", "mbstd_group_size", "mbstd_num_features", "fused_scale")
    D = Discriminator(**{k: kwargs[k] for k in d_keys})
    D.build()
    assign_official_variables(G, {k: v for k, v in variables.items() if k[0] == "G"})
    assign_official_variables(D, {k: v for k, v in variables.items() if k[0] == "D"})
    # Training mode disables truncation; psi 1 does the same without the W update.
    fakes = G(data["latents"], None, truncation_psi=1.0, randomize_noise=False)
    return data, D, fakes, tf.constant(nhwc(data["reals"]))


def test_d_logistic_r1_matches_official(official_losses):
    data, D, fakes, reals = official_losses
    ctx = StepContext(D, reals, fakes, r1_gamma=float(data["r1_gamma"]))
    d_loss, terms = make_loss("logistic").d_loss(ctx)
    atol = 1e-4
    real_scores, fake_scores = data["real_scores"][:, 0], data["fake_scores"][:, 0]
    np.testing.assert_allclose(terms["Loss/scores/real"], real_scores, atol=atol)
    np.testing.assert_allclose(terms["Loss/scores/fake"], fake_scores, atol=atol)
    # The official loss adds the batch mean of R1 to every image; ours, each image's.
    # R1 is small here (about 0.05), so it is checked to a relative tolerance.
    r1, r1_tol = terms["Loss/r1_penalty"], {"rtol": 1e-4, "atol": 1e-7}
    np.testing.assert_allclose(np.mean(r1), data["r1_penalty"], **r1_tol)
    np.testing.assert_allclose(r1, data["r1_per_image_levels"].mean(1), **r1_tol)
    np.testing.assert_allclose(np.mean(d_loss), np.mean(data["d_loss"]), atol=atol)
    gamma = float(data["r1_gamma"])
    per_image = data["d_loss"][:, 0] + gamma / 2 * (r1 - data["r1_penalty"])
    np.testing.assert_allclose(d_loss, per_image, atol=atol)

    # Per level: the gradient w.r.t. each level through the official pooling.
    _, grads = gradient_penalty_terms(D, reals, None)
    sums = np.stack([np.sum(np.square(g), axis=(1, 2, 3)) for g in grads], axis=1)
    np.testing.assert_allclose(sums, data["r1_per_image_levels"], **r1_tol)


def test_g_logistic_nonsaturating_matches_official(official_losses):
    data, D, fakes, reals = official_losses
    g_loss, _ = make_loss("logistic").g_loss(StepContext(D, reals, fakes))
    np.testing.assert_allclose(g_loss, data["g_loss"][:, 0], atol=1e-4)
