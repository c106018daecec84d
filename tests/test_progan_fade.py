"""ProGAN with progressive growing against the official `G_paper` / `D_paper`.

The fixtures tests/data/official/progan_fade_<config>.npz were written by
tests/data/make_progan_fade_fixtures.py, which runs the official
tkarras/progressive_growing_of_gans networks under tensorflow.compat.v1 with
random weights, at integer and fractional levels of detail (fades). Our
networks must match them both through `call` (full resolution, the lod held in
the `lod` variable) and through `grow`, the training path at the current
resolution.
"""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.fade import input_gradient_scale, split_lod
from msg_stylegan_tf2.networks.official import assign_official_variables
from msg_stylegan_tf2.networks.progan import ProGANGenerator
from msg_stylegan_tf2.networks.progan_discriminator import ProGANDiscriminator
from msg_stylegan_tf2.training.schedule import progressive_phase

DATA = pathlib.Path(__file__).parent / "data" / "official"
ATOL = 1e-4
CONFIGS = ("unfused", "fused_labels")


def load(name):
    data = np.load(DATA / f"progan_fade_{name}.npz")
    config = json.loads(str(data["config_json"]))
    variables = {k[len("var/") :]: data[k] for k in data.files if k.startswith("var/")}
    G = ProGANGenerator(progressive=True, **config["kwargs"])
    G.build()
    D = ProGANDiscriminator(**config["d_kwargs"])
    D.build()
    for net, prefix in ((G, "G/"), (D, "D/")):
        arrays = {k: v for k, v in variables.items() if k.startswith(prefix)}
        assign_official_variables(net, {**arrays, f"{prefix}lod": np.float32(0)})
    return data, G, D


def nhwc(x):
    return np.transpose(x, [0, 2, 3, 1])


def pool(x, factor):
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean((2, 4))


def upscale(x, factor):
    return np.asarray(x).repeat(factor, axis=1).repeat(factor, axis=2)


@pytest.mark.parametrize("name", CONFIGS)
def test_generator_matches_official_at_every_lod(name):
    data, G, _ = load(name)
    latents, labels = data["latents"], data["labels"]
    labels = labels if labels.shape[1] else None
    for lod, expected in zip(data["lods"], data["g_images"], strict=True):
        G.lod.assign(lod)
        pyramid = G(latents, labels)
        np.testing.assert_allclose(pyramid[-1], nhwc(expected), atol=ATOL)
        # Lower levels are 2x2 means of the image.
        np.testing.assert_allclose(pyramid[-2], pool(nhwc(expected), 2), atol=ATOL)
        f, alpha = split_lod(float(lod))
        side = G.resolution // 2**f
        grown = G.grow(latents, labels, side, alpha)
        assert grown.shape[1] == side
        np.testing.assert_allclose(upscale(grown, 2**f), nhwc(expected), atol=ATOL)


@pytest.mark.parametrize("name", CONFIGS)
def test_discriminator_matches_official_at_every_lod(name):
    data, _, D = load(name)
    reals = nhwc(data["reals"])
    label_size = data["labels"].shape[1]
    for lod, expected in zip(data["lods"], data["d_scores"], strict=True):
        D.lod.assign(lod)
        scores, logits = D(reals, return_label_logits=True)
        np.testing.assert_allclose(scores, expected[:, :1], atol=ATOL)
        assert logits.shape == (len(reals), label_size)
        np.testing.assert_allclose(logits, expected[:, 1:], atol=ATOL)
        f, alpha = split_lod(float(lod))
        grown = D.grow(pool(reals, 2**f), alpha)
        np.testing.assert_allclose(grown, expected[:, :1], atol=ATOL)


def test_variable_names_follow_the_official_ones():
    data, G, D = load("fused_labels")
    stored = {k[len("var/") :] for k in data.files if k.startswith("var/")}
    ours = set(G.official_variable_map()) | set(D.official_variable_map())
    assert ours - stored == {"G/lod", "D/lod"}
    assert stored - ours == set()


def test_penalty_gradients_equal_the_official_full_resolution_ones():
    # The official D sees the nearest-upscaled image; our penalty takes the
    # gradient at the current resolution and rescales it (fade.py).
    _, _, D = load("fused_labels")
    rng = np.random.RandomState(0)
    low = tf.constant(rng.uniform(-1, 1, [4, 8, 8, 3]).astype(np.float32))
    lod = 2.25
    D.lod.assign(lod)
    full = tf.constant(upscale(low, 4))
    with tf.GradientTape() as tape:
        tape.watch(full)
        official = tf.reduce_sum(D(full))
    official_norms = tf.norm(tf.reshape(tape.gradient(official, full), [4, -1]), axis=1)
    with tf.GradientTape() as tape:
        tape.watch(low)
        ours = tf.reduce_sum(D.grow(low, split_lod(lod)[1]))
    ours_norms = tf.norm(tf.reshape(tape.gradient(ours, low), [4, -1]), axis=1)
    scale = input_gradient_scale(D.resolution_log2, low)
    assert scale == 0.25
    np.testing.assert_allclose(ours_norms * scale, official_norms, rtol=1e-4)


def test_schedule_follows_the_official_training_schedule():
    sched = {
        "lod_training_kimg": 600,
        "lod_transition_kimg": 600,
        "minibatch_base": 4,
        "minibatch_dict": {"4": 128, "8": 128, "16": 128, "32": 64},  # As JSON has it.
        "G_lrate_dict": {"1024": 0.0015},
        "D_lrate_dict": {1024: 0.0015},
    }
    # (kimg, lod, resolution, minibatch, lr), worked out by hand for 1024x1024.
    expected = [
        (0, 8.0, 4, 128, 0.001),
        (599.9, 8.0, 4, 128, 0.001),
        (900, 7.5, 8, 128, 0.001),
        (1200, 7.0, 8, 128, 0.001),
        (2100, 6.5, 16, 128, 0.001),
        (3150, 5.75, 32, 64, 0.001),
        (5000, 4.0, 64, 4, 0.001),
        (9000, 1.0, 512, 4, 0.001),
        (9300, 0.5, 1024, 4, 0.0015),
        (12000, 0.0, 1024, 4, 0.0015),
    ]
    for kimg, lod, side, minibatch, lr in expected:
        phase = progressive_phase(kimg * 1000, 10, **sched)
        assert phase.lod == pytest.approx(lod), kimg
        assert (phase.resolution, phase.minibatch) == (side, minibatch), kimg
        assert phase.G_lrate == phase.D_lrate == lr, kimg
    # Minibatches are rounded down to a multiple of the replicas.
    assert progressive_phase(0, 10, num_replicas=3, **sched).minibatch == 126
    with pytest.raises(ValueError, match="smaller than the number of replicas"):
        progressive_phase(5_000_000, 10, num_replicas=8, **sched)


@pytest.mark.parametrize("resolution", [1024, 256, 128, 32])
def test_param_counts_equal_the_official_networks(resolution):
    from msg_stylegan_tf2.networks.build import build_networks, count_params

    counts = json.loads((DATA / "progan_param_counts.json").read_text())
    G, D = build_networks(f"progan_{resolution}")
    assert count_params(G) == counts[str(resolution)]["G"]
    assert count_params(D) == counts[str(resolution)]["D"]
