"""Lazy regularization (`r1_interval`, StyleGAN2): the penalties' own D update
every N D steps, weighted by N; D's Adam adjusted; N=1 is the plain D step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.build import (
    assign_official_variables,
    build_networks,
    official_variables,
)
from msg_stylegan_tf2.networks.presets import get_preset
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.growth import whole_pyramids
from msg_stylegan_tf2.training.loss_scale import DynamicLossScale
from msg_stylegan_tf2.training.losses import make_loss
from msg_stylegan_tf2.training.regularization import Regularization
from msg_stylegan_tf2.training.schedule import LearningRates
from msg_stylegan_tf2.training.state import TrainingState, build_state
from msg_stylegan_tf2.training.steps import TrainSteps

NETWORK = dict(use_noise=False, mbstd_group_size=0, label_size=2)
LR = 0.01


def adam():
    return keras.optimizers.Adam(0.003, beta_1=0.0, beta_2=0.99, epsilon=1e-8)


def sgd():
    return keras.optimizers.SGD(LR)


@pytest.fixture(scope="module")
def start():
    keras.utils.set_random_seed(7)
    G, D = build_networks("tiny", **NETWORK)
    return official_variables(G), official_variables(D)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.RandomState(0)
    images = tf.constant(rng.randint(0, 256, [4, 16, 16, 3]), tf.uint8)
    labels = tf.constant(np.eye(2, dtype=np.float32)[[0, 1, 1, 0]])
    return images, labels


def make_steps(start, loss, regularization, optimizer=sgd, scales=(None, None)):
    # Networks from the same initial weights, their steps (mirroring off, so
    # the reals are the batch itself).
    G, D = build_networks("tiny", **NETWORK)
    Gs, _ = build_networks("tiny", **NETWORK)
    assign_official_variables(G, start[0])
    assign_official_variables(D, start[1])
    assign_official_variables(Gs, start[0])
    g_opt, d_opt = optimizer(), optimizer()
    g_opt.build(G.trainable_weights)
    d_opt.build(D.trainable_weights)
    state = TrainingState(
        G, D, Gs, g_opt, d_opt, loss_scales=scales, regularization=regularization
    )
    return TrainSteps(
        tf.distribute.get_strategy(), state, loss, whole_pyramids, 2, seed=5
    )


def variables(steps):
    found = {}
    for label, network in (("G", steps.G), ("D", steps.D), ("Gs", steps.Gs)):
        for name, value in official_variables(network).items():
            found[f"{label}:{name}"] = value
    for label, optimizer in (("g_opt", steps.g_opt), ("d_opt", steps.d_opt)):
        # By position: each optimizer's names are numbered apart.
        for i, variable in enumerate(optimizer.variables):
            found[f"{label}:{i}"] = variable.numpy()
    return found


def test_interval_one_keeps_the_penalties_in_every_d_step(start, batch):
    # R1 and R2 inside every D step, one update a step, Adam as given.
    regularization = Regularization(10.0, 1.0, interval=1)
    assert regularization.main_gammas() == (10.0, 1.0)
    assert not any(regularization.due(step) for step in range(8))
    assert regularization.adam_ratio == 1.0
    assert regularization.d_betas(0.5, 0.99) == (0.5, 0.99)
    steps = make_steps(start, make_loss("logistic"), regularization, adam)
    for step in range(3):
        terms = steps.d_step(batch, tf.constant(step, tf.int64))
        assert "Loss/r1_penalty" in terms and "Loss/r2_penalty" in terms
        assert "Loss/D/reg" not in terms
    assert int(steps.d_opt.iterations) == 3


def official_r1(D, images, labels):
    # R1 per image computed here: the real pyramid pooled from the
    # full-resolution image, squared input gradient per level, mean of levels.
    reals = tf.cast(images, tf.float32) / 127.5 - 1.0
    with tf.GradientTape() as tape:
        tape.watch(reals)
        levels = [reals]
        while levels[0].shape[1] > 4:
            levels.insert(0, tf.nn.avg_pool2d(levels[0], 2, 2, "VALID"))
        total = tf.reduce_sum(D(levels, labels))
    grads = tape.gradient(total, levels)
    norms = [tf.reduce_sum(g**2, axis=[1, 2, 3]) for g in grads]
    return sum(norms) / len(norms)


def test_interval_four_regularizes_steps_0_4_8_with_four_times_gamma(start, batch):
    gamma, interval = 10.0, 4
    lazy_r1 = Regularization(gamma, interval=interval)
    lazy = make_steps(start, make_loss("logistic"), lazy_r1)
    # The main step alone: the same loss without R1.
    main = make_steps(start, make_loss("logistic"), Regularization())
    main.d_step(batch, tf.constant(0, tf.int64))
    D = main.D
    with tf.GradientTape() as tape:
        r1 = official_r1(D, *batch)
        reg_loss = tf.reduce_mean(r1) * (interval * gamma / 2)
    grads = tape.gradient(reg_loss, D.trainable_weights)
    # Weights pair by position (each network's names are numbered apart). R1
    # does not depend on some (the output bias): those keep their values.
    pairs = zip(D.trainable_weights, grads, strict=True)
    updates = [np.zeros(w.shape) if g is None else -LR * g.numpy() for w, g in pairs]
    after_main = [w.numpy() for w in D.trainable_weights]
    terms = lazy.d_step(batch, tf.constant(0, tf.int64))
    # The logged term is the unweighted R1; the update the weighted one's.
    np.testing.assert_allclose(terms["Loss/r1_penalty"], np.mean(r1), rtol=1e-5)
    np.testing.assert_allclose(terms["Loss/D/reg"], reg_loss, rtol=1e-5)
    largest = max(np.abs(u).max() for u in updates)
    assert largest > 1e-4
    pairs = zip(lazy.D.trainable_weights, after_main, updates, strict=True)
    for w, before, update in pairs:
        np.testing.assert_allclose(
            w.numpy() - before, update, atol=1e-3 * largest, err_msg=w.path
        )
    # Steps 1-3: the main step alone, bit for bit (from the same weights;
    # SGD keeps no state); then 4 and 8 regularize.
    assign_official_variables(main.D, official_variables(lazy.D))
    regularized = [0]
    for step in range(1, 9):
        step = tf.constant(step, tf.int64)
        terms = lazy.d_step(batch, step)
        if "Loss/r1_penalty" in terms:
            regularized.append(int(step))
        else:
            assert "Loss/D/reg" not in terms
        if int(step) < interval:
            main.d_step(batch, step)
            ours, theirs = official_variables(lazy.D), official_variables(main.D)
            for name in ours:
                np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert regularized == [0, 4, 8]
    # The optimizer made one extra update per regularization.
    assert int(lazy.d_opt.iterations) == 9 + 3


def test_lazy_r2_and_float16_loss_scaling(start, batch):
    # The penalties' update runs under loss scaling: each D update counts
    # once in the scaler, and everything stays finite.
    keras.config.set_dtype_policy("mixed_float16")
    try:
        # A scale that does not overflow here: every update is a good step.
        scales = (DynamicLossScale(2.0**4), DynamicLossScale(2.0**4))
        regularization = Regularization(10.0, 1.0, interval=2)
        steps = make_steps(start, make_loss("logistic"), regularization, adam, scales)
    finally:
        keras.config.set_dtype_policy("float32")
    for step in range(3):
        terms = steps.d_step(batch, tf.constant(step, tf.int64))
        assert ("Loss/r2_penalty" in terms) == (step % 2 == 0)
        assert all(np.isfinite(float(v)) for v in terms.values())
    assert int(scales[1].good_steps) == 3 + 2 and float(scales[1].scale) == 16
    assert terms["Loss/r1_penalty"] > 0


def test_gradient_penalty_losses_keep_theirs_in_the_main_step(start, batch):
    steps = make_steps(start, make_loss("wgan_gp"), Regularization(1.0, interval=3))
    terms = steps.d_step(batch, tf.constant(1, tf.int64))
    assert "Loss/gradient_penalty" in terms and "Loss/r1_penalty" not in terms


def config(**options):
    preset = get_preset("tiny")
    return TrainingConfig(
        dataset="unused",
        preset="tiny",
        arch=preset.arch,
        G_kwargs=dict(preset.G),
        D_kwargs=dict(preset.D),
        mixed_precision="off",
        **options,
    )


@pytest.mark.parametrize("interval", [1, 4])
def test_adam_of_d_is_adjusted_by_n_over_n_plus_1(interval):
    run = config(r1_interval=interval, lrate_rampup_kimg=1.0)
    state = build_state(run, tf.distribute.get_strategy())
    ratio = 0.8 if interval == 4 else 1.0
    assert state.regularization == Regularization(10.0, 0.0, interval)
    assert state.regularization.adam_ratio == ratio
    assert state.d_opt.beta_1 == 0.0
    assert state.d_opt.beta_2 == 0.99**ratio
    assert state.g_opt.beta_2 == 0.99
    if interval == 4:
        assert state.d_opt.beta_2 == pytest.approx(0.991992, abs=1e-6)
    # The learning rates, ramped up over 1 kimg: D's times the ratio.
    rates = LearningRates.from_config(run, state.regularization.adam_ratio)
    assert rates.at(500) == (0.0015, pytest.approx(0.0015 * ratio))
    assert rates.at(5000) == (0.003, pytest.approx(0.003 * ratio))


def test_the_options_are_checked_once_where_they_are_built():
    with pytest.raises(ValueError, match=r"`r1_interval=2` applies R1 and R2 lazily"):
        Regularization(interval=2)
    with pytest.raises(ValueError, match=r"integer >= 1\. Received: 0"):
        Regularization(10.0, interval=0)
    for gamma in ("r1_gamma", "r2_gamma"):
        with pytest.raises(ValueError, match=f"`{gamma}` must be .* Received: -1.5"):
            Regularization(**{gamma: -1.5})
    # A loss's default R1 (10 for the logistic losses, else 0) where not given.
    assert Regularization.from_config(config()).r1_gamma == 10.0
    assert Regularization.from_config(config(loss="hinge")).r1_gamma == 0.0
    with pytest.raises(ValueError, match="`r1_interval=4` applies R1 and R2"):
        Regularization.from_config(config(loss="wgan_gp", r1_interval=4))
    # R2 alone is lazy too.
    lazy_r2 = config(loss="wgan_gp", r1_interval=4, r2_gamma=1.0)
    assert Regularization.from_config(lazy_r2).lazy_gammas() == (0.0, 4.0)
    assert Regularization.from_config(config(loss="wgan", r1_gamma=2.0)).r1_gamma == 2
