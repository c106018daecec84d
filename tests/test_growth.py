"""Growth policies: MSG's fixed one and ProGAN's progressive one."""

import keras
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.build import build_networks
from msg_stylegan_tf2.networks.presets import get_preset
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.growth import (
    FixedGrowth,
    GrowingViews,
    ProgressiveGrowth,
    whole_pyramids,
)
from msg_stylegan_tf2.training.schedule import LearningRates


def config(**overrides):
    values = dict(
        dataset="ds", preset="p", arch="msg_stylegan", G_kwargs={}, D_kwargs={}
    )
    return TrainingConfig(**{**values, **overrides})


def test_fixed_growth_trains_everything_with_the_options():
    run = config(batch=12, lr=0.002, d_lr=0.004, lrate_rampup_kimg=10.0)
    growth = FixedGrowth(run, 32, LearningRates.from_config(run, D_factor=0.5))
    assert growth.batch == 12 and growth.resolution == 32
    assert growth.update(5000, print) == pytest.approx((0.001, 0.001))
    assert growth.update(20000, print) == (0.002, 0.002)
    assert growth.views is whole_pyramids and growth.progress() == {}
    G, D = object(), object()
    assert whole_pyramids(G, D, None) == (G, D, 1.0)


def progressive(**sched):
    preset = get_preset("tiny_progan")
    G, D = build_networks("tiny_progan")
    Gs, _ = build_networks("tiny_progan")
    optimizers = (keras.optimizers.Adam(0.001), keras.optimizers.Adam(0.001))
    for optimizer, network in zip(optimizers, (G, D), strict=True):
        optimizer.build(network.trainable_weights)
    schedule = {**preset.train["sched"], **sched}
    run = config(arch="progan", sched=schedule, lr=0.001)
    log = []
    growth = ProgressiveGrowth(
        run, 4, 1, (G, Gs, D), optimizers, 0, LearningRates.from_config(run)
    )
    return growth, (G, Gs, D), optimizers, log


def test_progressive_growth_follows_the_schedule_and_resets_adam():
    # tiny_progan at 16x16: 4x4 trains for 16 images, then 8x8 fades in over 24.
    growth, networks, optimizers, log = progressive(
        lod_training_kimg=0.016,
        lod_transition_kimg=0.024,
        minibatch_base=8,
        minibatch_dict={},
        G_lrate_dict={8: 0.004},
    )
    assert growth.resolution == 4 and growth.batch == 8
    assert all(float(n.lod.numpy()) == 2.0 for n in networks)
    momentum = [v for v in optimizers[1].variables if "momentum" in v.path][0]
    momentum.assign(tf.ones_like(momentum))
    # The first step resets, as the official code; the base learning rates.
    assert growth.update(0, log.append) == (0.001, 0.001)
    assert float(tf.reduce_max(momentum)) == 0.0
    momentum.assign(tf.ones_like(momentum))
    growth.update(8, log.append)  # Same lod: nothing is reset.
    assert float(tf.reduce_max(momentum)) == 1.0
    # Half-way through the 8x8 fade: G's learning rate is 8x8's.
    assert growth.update(16 + 12, log.append) == (0.004, 0.001)
    assert growth.resolution == 8 and growth.progress() == {"lod": 1.5}
    assert float(growth.views.alpha.numpy()) == 0.5
    assert float(tf.reduce_max(momentum)) == 0.0  # New layers: Adam reset.
    assert log == ["Growing to 8x8 at kimg 0.0 (minibatch 8)."]
    assert all(float(n.lod.numpy()) == 1.5 for n in networks)


def test_progressive_growth_refuses_labels():
    preset = get_preset("tiny_progan")
    with pytest.raises(ValueError, match="has labels, but progressive growing"):
        run = config(arch="progan", sched=dict(preset.train["sched"]))
        ProgressiveGrowth(run, 4, 1, (), (), 3, LearningRates.from_config(run))


def test_growing_views_see_the_resolution_of_the_reals():
    G, D = build_networks("tiny_progan")
    views = GrowingViews(D.resolution_log2, 0.25)
    reals = tf.zeros([2, 8, 8, 3])
    G8, D8, scale = views(G, D, reals)
    assert scale == 0.5  # 8x8 of 16x16: gradients are 2x the official norm.
    (image,) = G8(tf.zeros([2, G.latent_size]))
    assert tuple(image.shape) == (2, 8, 8, 3)
    assert tuple(D8([reals]).shape)[0] == 2
