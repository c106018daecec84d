"""Training steps: one device equals two mirrored replicas; schedules; EMA."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.choices import AUGMENTS, load
from msg_stylegan_tf2.networks.build import (
    assign_official_variables,
    build_networks,
    official_variables,
)
from msg_stylegan_tf2.training.augment import AdaptiveProbability
from msg_stylegan_tf2.training.augmentation import AdaptiveAugment
from msg_stylegan_tf2.training.ema import pair_weights, update_ema
from msg_stylegan_tf2.training.growth import GrowingViews, whole_pyramids
from msg_stylegan_tf2.training.loss_scale import DynamicLossScale
from msg_stylegan_tf2.training.losses import make_loss
from msg_stylegan_tf2.training.regularization import Regularization
from msg_stylegan_tf2.training.schedule import LearningRates, ema_beta
from msg_stylegan_tf2.training.state import TrainingState
from msg_stylegan_tf2.training.steps import TrainSteps, _replica_rows, micro_batches

NETWORK = dict(use_noise=False, mbstd_group_size=0, label_size=2)


@pytest.fixture(scope="module")
def mirrored():
    # One strategy per process: separate MirroredStrategy objects in one process
    # can reuse collective instance keys, and then their all-reduces collide.
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def adam():
    return keras.optimizers.Adam(0.003, beta_1=0.0, beta_2=0.99, epsilon=1e-8)


def sgd():
    return keras.optimizers.SGD(0.001)


def train_three_steps(
    strategy,
    init=None,
    loss="logistic",
    optimizer=sgd,
    preset="tiny",
    side=16,
    augment="none",
    r1_interval=1,
):
    # ProGAN trains at `side` (its growing path, faded with alpha 0.5).
    progressive = preset == "tiny_progan"
    network = {"mbstd_group_size": 0} if progressive else NETWORK
    label_size = 0 if progressive else 2
    with strategy.scope():
        G, D = build_networks(preset, **network)
        Gs, _ = build_networks(preset, **network)
        g_opt, d_opt = optimizer(), optimizer()
        g_opt.build(G.trainable_weights)
        d_opt.build(D.trainable_weights)
        if augment == "ada":
            # ADA adjusting p at every step, by 8 / 10 images: p moves at once.
            ada = AdaptiveProbability(ada_interval=1, ada_kimg=0.01)
            ada.p.assign(0.5)
            augmentation = AdaptiveAugment(ada)
        else:
            augmentation = load(AUGMENTS, augment, "augment")()
    if init is not None:
        assign_official_variables(G, init[0])
        assign_official_variables(D, init[1])
    assign_official_variables(Gs, official_variables(G))
    # ProGAN's growing views, fading at alpha 0.5; MSG's whole pyramids.
    views = GrowingViews(D.resolution_log2, 0.5) if progressive else whole_pyramids
    loss = make_loss(loss)
    regularization = Regularization(loss.default_r1_gamma, interval=r1_interval)
    state = TrainingState(
        G,
        D,
        Gs,
        g_opt,
        d_opt,
        augmentation=augmentation,
        regularization=regularization,
    )
    steps = TrainSteps(
        strategy, state, loss, views, label_size=label_size, mirror_augment=True, seed=3
    )
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [8, side, side, 3]).astype(np.uint8)
    labels = np.eye(2, dtype=np.float32)[rng.randint(0, 2, 8)][:, :label_size]
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    iterator = iter(data)
    for step in range(3):
        batch = next(iterator)
        steps.d_step(batch, tf.constant(step, tf.int64))
        steps.g_step(batch, tf.constant(step, tf.int64))
        steps.update_gs(tf.constant(0.9))
    return G, D, Gs, *augmentation.progress().values()


@pytest.mark.parametrize(
    "loss, preset, side, augment, r1_interval",
    [
        ("logistic", "tiny", 16, "none", 1),
        ("wgan_gp", "tiny", 16, "none", 1),
        ("wgan_gp", "tiny_progan", 8, "none", 1),  # Growing: 8x8 fading in.
        ("logistic", "tiny", 16, "diffaug", 1),
        ("logistic", "tiny", 16, "ada", 2),  # And lazy R1 at D steps 0 and 2.
    ],
)
def test_mirrored_replicas_train_like_one_device(
    loss, preset, side, augment, r1_interval, mirrored
):
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    # Same initial weights on both, taken from a fresh one-device build.
    network = {"mbstd_group_size": 0} if preset == "tiny_progan" else NETWORK
    keras.utils.set_random_seed(1234)
    with one.scope():
        G0, D0 = build_networks(preset, **network)
    start = (official_variables(G0), official_variables(D0))
    keras.utils.set_random_seed(1234)
    options = dict(preset=preset, side=side, augment=augment, r1_interval=r1_interval)
    G1, D1, Gs1, *p1 = train_three_steps(one, start, loss, **options)
    G2, D2, Gs2, *p2 = train_three_steps(mirrored, start, loss, **options)
    # ADA's p moved, the same on both.
    assert p1 == p2 and (augment != "ada" or p1[0] != 0.5)
    for a, b in ((G1, G2), (D1, D2), (Gs1, Gs2)):
        ours, theirs = official_variables(a), official_variables(b)
        # Float32 sums in another order (per replica, then all-reduced),
        # through WGAN-GP's double backward: on AVX-512 CPUs a few elements
        # differ by up to 2.3e-5 relative after 3 steps.
        for name in ours:
            np.testing.assert_allclose(
                ours[name], theirs[name], rtol=1e-4, atol=1e-5, err_msg=name
            )
    # Training moved the weights.
    name = "D/FromRGB_lod1/weight" if side == 8 else "D/FromRGB_lod0/weight"
    moved = official_variables(D1)[name]
    assert np.abs(moved - start[1][name]).max() > 1e-4


def test_learning_rates_ramp_up_and_scale_d():
    assert LearningRates(0.003, 0.002).at(0) == (0.003, 0.002)
    rates = LearningRates(0.003, 0.002, rampup_kimg=10, D_factor=0.5)
    assert rates.at(5000) == pytest.approx((0.0015, 0.0005))
    assert rates.at(20000) == pytest.approx((0.003, 0.001))
    # A phase's base rates (ProGAN's per resolution) instead of the run's.
    assert rates.at(20000, 0.01, 0.02) == pytest.approx((0.01, 0.01))


def test_ema_beta_half_life_and_ramp_up():
    # After one half-life's worth of steps the old weight's share is 1/2.
    beta = ema_beta(10**6, batch=16, half_life_kimg=10)
    assert beta ** (10000 / 16) == pytest.approx(0.5)
    assert beta == pytest.approx(0.5 ** (16 / 10000))
    # The ramp-up caps the half-life at rampup * cur_nimg.
    assert ema_beta(1000, 16, 10, rampup=0.05) == pytest.approx(0.5 ** (16 / 50))
    assert ema_beta(0, 16, 10, rampup=0.05) == 0.0
    assert ema_beta(10**7, 16, 10, rampup=0.05) == pytest.approx(beta)


def test_ema_lerps_trainables_and_copies_the_rest():
    G, _ = build_networks("tiny")
    Gs, _ = build_networks("tiny")
    G.dlatent_avg.assign(tf.ones_like(G.dlatent_avg))
    before = [w.numpy() for w in Gs.weights]
    update_ema(pair_weights(Gs, G), tf.constant(0.25))
    for (target, source), old in zip(pair_weights(Gs, G), before, strict=True):
        if source.trainable:
            expected = source.numpy() + (old - source.numpy()) * 0.25
        else:
            expected = source.numpy()
        np.testing.assert_allclose(target.numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(Gs.dlatent_avg, np.ones(16))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_steps_run_and_stay_finite(policy):
    keras.config.set_dtype_policy(policy)
    try:
        G, D = build_networks("tiny")
        Gs, _ = build_networks("tiny")
    finally:
        keras.config.set_dtype_policy("float32")
    scales = (None, None)
    if policy == "mixed_float16":
        scales = (DynamicLossScale(), DynamicLossScale())
    state = TrainingState(
        G,
        D,
        Gs,
        adam(),
        adam(),
        loss_scales=scales,
        regularization=Regularization(10.0),
    )
    steps = TrainSteps(
        tf.distribute.get_strategy(), state, make_loss("logistic"), whole_pyramids
    )
    images = tf.constant(
        np.random.RandomState(0).randint(0, 256, [4, 16, 16, 3]), tf.uint8
    )
    batch = (images, tf.zeros([4, 0]))
    for step in range(2):
        terms = {
            **steps.d_step(batch, tf.constant(step, tf.int64)),
            **steps.g_step(batch, tf.constant(step, tf.int64)),
        }
    assert all(np.isfinite(float(v)) for v in terms.values())
    assert terms["Loss/r1_penalty"] > 0
    assert G.synthesis.torgbs[-1].weight.dtype == "float32"


def test_dynamic_loss_scale_skips_overflows_and_grows():
    scaler = DynamicLossScale(initial_scale=8.0, growth_interval=2)
    w = tf.Variable([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_sum(w * w)
        bad = loss * tf.constant(float("inf"))
    grads, finite = scaler.gradients(tape, loss, [w])
    np.testing.assert_allclose(grads[0], [2.0, 4.0])
    assert bool(finite)
    scaler.update(finite)
    scaler.update(finite)
    assert float(scaler.scale) == 16.0 and int(scaler.good_steps) == 0
    grads, finite = scaler.gradients(tape, bad, [w])
    assert not bool(finite) and np.all(grads[0].numpy() == 0)
    scaler.update(finite)
    assert float(scaler.scale) == 8.0


def run_steps(G, D, Gs, step_name, steps=30):
    """Runs D or G steps of the logistic loss on a fixed batch; returns the steps."""
    train = TrainSteps(
        tf.distribute.get_strategy(),
        TrainingState(G, D, Gs, adam(), adam(), regularization=Regularization(10.0)),
        make_loss("logistic"),
        whole_pyramids,
    )
    images = tf.constant(
        np.random.RandomState(0).randint(0, 256, [4, 16, 16, 3]), tf.uint8
    )
    for step in range(steps):
        batch = (images, tf.zeros([4, 0]))
        getattr(train, step_name)(batch, tf.constant(step, tf.int64))
    return train


def top_singular_value(kernel):
    w = np.asarray(kernel)
    return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


def test_spectral_norm_keeps_each_d_kernel_near_unit_norm():
    from msg_stylegan_tf2.networks.build import Discriminator

    G, plain_D = build_networks("tiny", use_noise=False)
    Gs, _ = build_networks("tiny", use_noise=False)
    D = Discriminator(**{**plain_D.get_config(), "spectral_norm": True})
    D.build()
    run_steps(G, D, Gs, "d_step")
    layers = [
        layer
        for b in D.blocks
        for layer in (b.fromrgb, b.combiner and b.combiner.conv, b.conv0, b.conv1)
        if layer is not None
    ]
    layers += [D.blocks[-1].dense0, D.blocks[-1].dense1]
    for layer in layers:
        top = top_singular_value(layer._scaled_weight(tf.float32))
        assert abs(top - 1.0) < 0.1, (layer.name, top)
        assert top_singular_value(layer.weight * layer.runtime_coef) > 1.2
    assert "D/4x4/Dense0/sn_u" in D.official_variable_map()


def spectral_norm_states(model):
    # The power-iteration vectors `sn_u` of a built network, in layer order
    # (the same for two builds of one architecture, e.g. G and Gs).
    return [
        layer.sn_u
        for layer in model._flatten_layers(include_self=False)
        if getattr(layer, "sn_u", None) is not None
    ]


def test_spectral_norm_of_both_networks_keeps_each_g_kernel_near_unit_norm():
    G, D = build_networks("tiny", use_noise=False, spectral_norm=True)
    Gs, _ = build_networks("tiny", use_noise=False, spectral_norm=True)
    run_steps(G, D, Gs, "g_step").update_gs(tf.constant(0.5))
    # Gs copies G's power-iteration states (non-trainable, as official).
    pairs = zip(spectral_norm_states(Gs), spectral_norm_states(G), strict=True)
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    layers = [
        layer
        for layer in G._flatten_layers(include_self=False)
        if getattr(layer, "sn_u", None) is not None
    ]
    # Mapping, convolutions, style modulations and ToRGBs: 2 + 5 + 6 + 3.
    assert len(layers) == 16
    raw_tops = []
    for layer in layers:
        w = layer._scaled_weight(tf.float32).numpy()
        top = np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]
        assert abs(top - 1.0) < 0.1, (layer.name, top)
        raw = (layer.weight * layer.runtime_coef).numpy()
        raw_tops.append(
            np.linalg.svd(raw.reshape(-1, raw.shape[-1]), compute_uv=False)[0]
        )
    assert max(raw_tops) > 1.5  # Without the normalisation they would not be 1.
    # The states are checkpointed by name.
    names = [k for k in G.official_variable_map() if "sn_u" in k]
    assert names == [f"G/sn_u_{i:03d}" for i in range(16)]


@pytest.mark.parametrize("preset", ["tiny", "tiny_progan"])
def test_freeze_d_keeps_the_first_blocks_and_trains_the_rest(preset):
    # Freeze-D: D's blocks from the highest resolution down, FromRGB/combine
    # of those levels included, keep their weights.
    network = {"mbstd_group_size": 0} if preset == "tiny_progan" else NETWORK
    G, D = build_networks(preset, **network)
    Gs, _ = build_networks(preset, **network)
    progressive = preset == "tiny_progan"
    views = GrowingViews(D.resolution_log2) if progressive else whole_pyramids
    steps = TrainSteps(
        tf.distribute.get_strategy(),
        TrainingState(G, D, Gs, adam(), adam(), regularization=Regularization(10.0)),
        make_loss("logistic"),
        views,
        label_size=0 if progressive else 2,
        freeze_d=2,
    )
    before = {name: v.numpy() for name, (v, _) in D.official_variable_map().items()}
    frozen = {id(w) for block in D.blocks[:2] for w in block.trainable_weights}
    assert frozen and len(frozen) < len(D.trainable_weights)
    rng = np.random.RandomState(0)
    images = tf.constant(rng.randint(0, 256, [4, 16, 16, 3]), tf.uint8)
    labels = tf.constant(np.eye(2, dtype=np.float32)[[0, 1, 0, 1]])
    batch = (images, labels[:, : 0 if progressive else 2])
    for step in range(2):
        steps.d_step(batch, tf.constant(step, tf.int64))
    for name, (variable, _) in D.official_variable_map().items():
        if not variable.trainable:
            continue
        moved = not np.array_equal(variable.numpy(), before[name])
        if id(variable) in frozen:
            assert not moved, name
        elif not (progressive and "FromRGB" in name):  # Lower levels' unused.
            assert moved, name


def accumulated_steps(strategy, start, batch_gpu, steps=1, scaled=False):
    # D (with R1) and G steps of tiny networks
    # with noise, MinibatchStdDev groups of 4, labels, mirroring and DiffAugment
    # on a batch of 16, from the weights `start`.
    network = dict(use_noise=True, mbstd_group_size=4, label_size=2)
    with strategy.scope():
        G, D = build_networks("tiny", **network)
        Gs, _ = build_networks("tiny", **network)
        g_opt, d_opt = adam(), adam()
        g_opt.build(G.trainable_weights)
        d_opt.build(D.trainable_weights)
        augmentation = load(AUGMENTS, "diffaug", "augment")()
        scales = (DynamicLossScale(), DynamicLossScale()) if scaled else (None, None)
    assign_official_variables(G, start[0])
    assign_official_variables(D, start[1])
    assign_official_variables(Gs, start[0])
    for epilogue in G.synthesis.epilogues:  # Noise weights start at zero.
        epilogue.noise.weight.assign(tf.fill(epilogue.noise.weight.shape, 0.5))
    state = TrainingState(
        G,
        D,
        Gs,
        g_opt,
        d_opt,
        loss_scales=scales,
        augmentation=augmentation,
        regularization=Regularization(10.0),
    )
    train = TrainSteps(
        strategy,
        state,
        make_loss("logistic"),
        whole_pyramids,
        label_size=2,
        mirror_augment=True,
        seed=3,
        batch_gpu=batch_gpu,
    )
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [16, 16, 16, 3]).astype(np.uint8)
    labels = np.eye(2, dtype=np.float32)[rng.randint(0, 2, 16)]
    batch = (tf.constant(images), tf.constant(labels))
    terms = []
    for step in range(steps):
        terms.append(train.d_step(batch, tf.constant(step, tf.int64)))
        terms.append(train.g_step(batch, tf.constant(step, tf.int64)))
    return G, D, terms


@pytest.fixture(scope="module")
def accumulation_start():
    keras.utils.set_random_seed(99)
    G, D = build_networks("tiny", use_noise=True, mbstd_group_size=4, label_size=2)
    return official_variables(G), official_variables(D)


def test_accumulated_micro_batches_train_like_the_whole_batch(accumulation_start):
    # --batch=16 --batch_gpu=8: micro-batch j holds rows j, j + 2, ..., j + 14,
    # whose MinibatchStdDev groups (of 4, rows b, b + 4, b + 8, b + 12 in a
    # batch of 16; b, b + 2, b + 4, b + 6 of a micro-batch's 8) are the whole
    # batch's groups, each image with its own latent, noise, flip and
    # augmentation; so the step equals the whole batch's up to float32
    # summation order. W's average (not a trained weight) moves at every G
    # call, micro-batches too, as NVIDIA's StyleGAN2 code does. With loss
    # scaling and R1 (lazy R1's pass: test_batch_gpu.py; replicas' rows:
    # the next test).
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    whole = accumulated_steps(one, accumulation_start, None, scaled=True)
    micro = accumulated_steps(one, accumulation_start, 8, scaled=True)
    for a, b in zip(whole[:2], micro[:2], strict=True):
        ours, theirs = official_variables(a), official_variables(b)
        ours.pop("G/dlatent_avg", None)
        for name in ours:
            np.testing.assert_allclose(
                ours[name], theirs[name], rtol=1e-4, atol=1e-5, err_msg=name
            )
    for a, b in zip(whole[2], micro[2], strict=True):
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5)
    assert "Loss/r1_penalty" in whole[2][0]
    # Training moved the weights.
    moved = official_variables(whole[1])["D/FromRGB_lod0/weight"]
    assert np.abs(moved - accumulation_start[1]["D/FromRGB_lod0/weight"]).max() > 1e-4


def test_each_replicas_micro_batches_take_its_rows_of_the_global_draws(mirrored):
    # Global batch 8 on two replicas, batch_gpu 2: replica 1 holds rows 4..7,
    # in micro-batches [4, 6] and [5, 7] (the rows its draws are taken at).
    steps = types.SimpleNamespace(batch_gpu=2, G=None)  # G without noise maps.

    def replica_fn():
        rows = _replica_rows(4)
        images = tf.cast(rows[:, None], tf.float32)
        parts = TrainSteps._parts(steps, images, images, rows, tf.constant([1, 2]))
        for part_images, _, part_rows, _ in parts:
            tf.debugging.assert_equal(tf.cast(part_rows, tf.float32), part_images[:, 0])
        return tf.stack([part_rows for _, _, part_rows, _ in parts])

    per_replica = mirrored.experimental_local_results(mirrored.run(replica_fn))
    assert [r.numpy().tolist() for r in per_replica] == [
        [[0, 2], [1, 3]],
        [[4, 6], [5, 7]],
    ]


def test_micro_batches_are_strided_and_must_divide():
    # batch_gpu of a replica's whole share (or more) runs the plain step's code.
    assert micro_batches(8, None) == [None] and micro_batches(8, 8) == [None]
    parts = [list(p.numpy()) for p in micro_batches(8, 2)]
    assert parts == [[0, 4], [1, 5], [2, 6], [3, 7]]
    with pytest.raises(ValueError, match="`batch_gpu=3` must divide the 8 images"):
        micro_batches(8, 3)
