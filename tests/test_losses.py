"""Tests for losses.py: values from fixed scores, R1 and WGAN-GP gradients,
roles and lazy penalties. The comparisons with the official TF1 loss functions
are in test_losses_official.py."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.choices import LOSSES, load
from msg_stylegan_tf2.networks.discriminator import Discriminator
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid
from msg_stylegan_tf2.training.losses import gradient_penalty_terms, make_loss
from msg_stylegan_tf2.training.step_context import Role, StepContext

DATA = pathlib.Path(__file__).parent / "data" / "official"
REAL = np.array([1.5, -0.5, 0.25, 2.0], np.float32)
FAKE = np.array([-1.25, 0.75, 3.0, -0.25], np.float32)
CHANNELS = 3


def softplus(x):
    return np.log1p(np.exp(np.asarray(x, np.float64)))


def np_pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def np_pool_transpose(grad):
    # Each fine pixel gets a quarter of its 2x2 block's coarse gradient.
    return np.repeat(np.repeat(grad, 2, axis=1), 2, axis=2) / 4


def np_pyramid(images, num_levels):
    levels = [np.asarray(images, np.float64)]
    for _ in range(num_levels - 1):
        levels.append(np_pool(levels[-1]))
    return levels[::-1]


def constant_pyramid(values, resolution_log2, channels=CHANNELS):
    """Pyramid whose every level is the constant `values[n]` in image n."""
    values = np.asarray(values, np.float32)[:, None, None, None]
    shapes = [(1, 4 * 2**i, 4 * 2**i, channels) for i in range(resolution_log2 - 1)]
    return [tf.constant(values * np.ones(shape, np.float32)) for shape in shapes]


def random_pyramid(rng, count, resolution_log2, channels=CHANNELS):
    return [
        tf.constant(
            rng.uniform(-1, 1, (count, 4 * 2**i, 4 * 2**i, channels)), "float32"
        )
        for i in range(resolution_log2 - 1)
    ]


class MeanD:
    """Scores an image by its top level's mean: a constant image scores its value."""

    def __init__(self, resolution_log2=3):
        self.resolution_log2 = resolution_log2

    def __call__(self, images, labels=None):
        assert len(images) == self.resolution_log2 - 1
        return tf.reduce_mean(images[-1], axis=[1, 2, 3])[:, None]


class PolynomialD:
    """score = sum over levels i of sum(w_i * level_i ** power), power 1 or 2."""

    def __init__(self, weights, power):
        self.weights = [tf.constant(w, tf.float32) for w in weights]
        self.power = power
        self.resolution_log2 = len(weights) + 1

    def __call__(self, images, labels=None):
        assert len(images) == len(self.weights)
        terms = [
            tf.reduce_sum(w * x**self.power, axis=[1, 2, 3])
            for w, x in zip(self.weights, images, strict=True)
        ]
        return tf.add_n(terms)[:, None]

    def numpy_scores(self, levels):
        return sum(
            np.sum(w.numpy() * x**self.power, axis=(1, 2, 3))
            for w, x in zip(self.weights, levels, strict=True)
        )

    def numpy_direct_grads(self, levels):
        # d score / d level_i, holding the other levels fixed.
        if self.power == 1:
            return [
                np.broadcast_to(w.numpy(), x.shape)
                for w, x in zip(self.weights, levels, strict=True)
            ]
        return [2 * w.numpy() * x for w, x in zip(self.weights, levels, strict=True)]


class RecordingD(PolynomialD):
    """PolynomialD that keeps a copy of every pyramid it scores."""

    def __init__(self, weights, power):
        super().__init__(weights, power)
        self.calls = []

    def __call__(self, images, labels=None):
        self.calls.append([np.asarray(x) for x in images])
        return super().__call__(images, labels)


def random_weights(rng, resolution_log2, channels=CHANNELS):
    return [
        rng.normal(size=(4 * 2**i, 4 * 2**i, channels)).astype(np.float32)
        for i in range(resolution_log2 - 1)
    ]


def total_pyramid_grads(direct):
    """Gradient w.r.t. each level as an intermediate of the pooling chain.

    Level i's total gradient is its direct gradient plus the pool transpose of
    level i - 1's total gradient (level i - 1 is pooled from level i).
    """
    total = [direct[0]]
    for grad in direct[1:]:
        total.append(grad + np_pool_transpose(total[-1]))
    return total


def per_level_mean_of_squares(grads):
    return np.mean([np.sum(np.square(g), axis=(1, 2, 3)) for g in grads], axis=0)


# Fixed scores -------------------------------------------------------------------

FIXED_SCORE_CASES = {
    "logistic": (
        softplus(FAKE) + softplus(-REAL),
        softplus(-FAKE),
    ),
    "logistic_saturating": (
        softplus(FAKE) + softplus(-REAL),
        -softplus(FAKE),
    ),
    "wgan": ([-2.74775, 1.25025, 2.7500625, -2.246], [1.25, -0.75, -3.0, 0.25]),
    "hinge": ([0.0, 3.25, 4.75, 0.75], [1.25, -0.75, -3.0, 0.25]),
    # Batch means: mean(REAL) = 0.8125, mean(FAKE) = 0.5625.
    "relativistic_hinge": ([0.0625, 3.0, 4.5, 0.0], [5.0, 1.0625, 0.6875, 4.5]),
    "lsgan": ([0.90625, 1.40625, 4.78125, 0.53125], [2.53125, 0.03125, 2.0, 0.78125]),
}


def test_every_loss_is_tested():
    assert set(FIXED_SCORE_CASES) | {"wgan_gp", "hinge_gp"} == set(LOSSES)


@pytest.mark.parametrize("name", sorted(FIXED_SCORE_CASES))
def test_loss_values_from_fixed_scores(name):
    expected_d, expected_g = FIXED_SCORE_CASES[name]
    D = MeanD()
    reals = constant_pyramid(REAL, D.resolution_log2)[-1]
    fakes = constant_pyramid(FAKE, D.resolution_log2)
    loss = make_loss(name)
    ctx = StepContext(D, reals, fakes)

    d_loss, terms = loss.d_loss(ctx)
    np.testing.assert_allclose(d_loss, expected_d, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(terms["Loss/scores/real"], REAL, rtol=1e-6)
    np.testing.assert_allclose(terms["Loss/scores/fake"], FAKE, rtol=1e-6)
    np.testing.assert_allclose(terms["Loss/D/total"], d_loss)
    assert "Loss/r1_penalty" not in terms and "Loss/r2_penalty" not in terms
    assert d_loss.shape == (len(REAL),)

    g_loss, g_terms = loss.g_loss(ctx)
    np.testing.assert_allclose(g_loss, expected_g, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g_terms["Loss/G/total"], g_loss)
    assert g_loss.shape == (len(REAL),)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_make_loss_builds_registered_class(name):
    assert type(make_loss(name)) is load(LOSSES, name, "loss")


def test_the_logistic_losses_default_to_r1_of_gamma_10():
    assert make_loss("logistic").default_r1_gamma == 10.0
    assert make_loss("logistic_saturating").default_r1_gamma == 10.0
    for name in ("wgan", "wgan_gp", "hinge", "hinge_gp", "relativistic_hinge", "lsgan"):
        assert make_loss(name).default_r1_gamma == 0.0, name


def test_make_loss_rejects_unknown_name():
    with pytest.raises(ValueError, match="must be one of .*Received: 'softmax'"):
        make_loss("softmax")


# R1 and R2 ----------------------------------------------------------------------


@pytest.mark.parametrize("power", [1, 2])
def test_r1_is_total_derivative_through_pooling(power):
    rng = np.random.default_rng(power)
    D = PolynomialD(random_weights(rng, 4), power)
    reals = rng.uniform(-1, 1, (2, 16, 16, CHANNELS)).astype(np.float32)
    fakes = random_pyramid(rng, 2, D.resolution_log2)
    levels = np_pyramid(reals, 3)
    reals = tf.constant(reals)
    expected_grads = total_pyramid_grads(D.numpy_direct_grads(levels))
    expected_r1 = per_level_mean_of_squares(expected_grads)

    _, grads = gradient_penalty_terms(D, tf.constant(reals), None)
    for grad, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)

    ctx = StepContext(D, reals, fakes, r1_gamma=3.0)
    loss, terms = make_loss("logistic").d_loss(ctx)
    np.testing.assert_allclose(terms["Loss/r1_penalty"], expected_r1, rtol=1e-5)
    real_scores = D.numpy_scores(levels)
    fake_scores = D.numpy_scores([f.numpy() for f in fakes])
    np.testing.assert_allclose(terms["Loss/scores/real"], real_scores, rtol=1e-5)
    expected = softplus(fake_scores) + softplus(-real_scores) + 1.5 * expected_r1
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_r2_differentiates_fake_levels_as_given():
    rng = np.random.default_rng(3)
    D = PolynomialD(random_weights(rng, 4), power=2)
    reals = rng.uniform(-1, 1, (2, 16, 16, CHANNELS)).astype(np.float32)
    fakes = random_pyramid(rng, 2, D.resolution_log2)
    ctx = StepContext(D, tf.constant(reals), fakes, r2_gamma=4.0)
    d_loss, terms = make_loss("logistic").d_loss(ctx)
    # The fake levels are separate inputs: no paths through pooling.
    expected_r2 = per_level_mean_of_squares(
        D.numpy_direct_grads([f.numpy() for f in fakes])
    )
    np.testing.assert_allclose(terms["Loss/r2_penalty"], expected_r2, rtol=1e-5)
    real_scores = D.numpy_scores(np_pyramid(reals, 3))
    fake_scores = D.numpy_scores([f.numpy() for f in fakes])
    expected = softplus(fake_scores) + softplus(-real_scores) + 2.0 * expected_r2
    np.testing.assert_allclose(d_loss, expected, rtol=1e-5)


@pytest.fixture(scope="module")
def float64_discriminator():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(7)
        D = Discriminator(
            num_channels=2,
            resolution=8,
            fmap_base=16,
            fmap_max=8,
            mbstd_group_size=1,  # Minibatch stddev computes in float32.
            dtype="float64",
        )
        D.build()
    finally:
        keras.config.set_dtype_policy(previous)
    assert {w.dtype for w in D.weights} == {"float64"}
    return D


def central_differences(function, x, step=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        delta = np.zeros_like(x)
        delta[index] = step
        grad[index] = (function(x + delta) - function(x - delta)) / (2 * step)
    return grad


def test_r1_gradients_of_discriminator_match_finite_differences(float64_discriminator):
    D = float64_discriminator
    rng = np.random.default_rng(5)
    reals = rng.uniform(-1, 1, (2, 8, 8, 2))
    levels = np_pyramid(reals, 2)

    @tf.function
    def summed_scores(pyramid):
        return tf.reduce_sum(D(pyramid))

    # Perturb one level; the coarser levels are pooled from it, the finer kept.
    def score_with_level(i):
        def function(level):
            pooled = downsample_pyramid(tf.constant(level), i + 1)
            rest = [tf.constant(x) for x in levels[i + 1 :]]
            return float(summed_scores(pooled + rest))

        return function

    # The top level's total gradient is the gradient w.r.t. the input batch.
    expected = [central_differences(score_with_level(i), levels[i]) for i in range(2)]
    assert np.abs(expected[0]).max() > 1e-3 and np.abs(expected[1]).max() > 1e-3
    scores, grads = gradient_penalty_terms(D, tf.constant(reals), None)
    np.testing.assert_allclose(
        scores, D([tf.constant(x) for x in levels])[:, 0], rtol=1e-6
    )
    for grad, fd in zip(grads, expected, strict=True):
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())

    fakes = [tf.constant(x) for x in levels]
    ctx = StepContext(D, tf.constant(reals), fakes, r1_gamma=10.0)
    _, terms = make_loss("logistic").d_loss(ctx)
    np.testing.assert_allclose(
        terms["Loss/r1_penalty"], per_level_mean_of_squares(expected), rtol=1e-5
    )


# Gradient penalty (WGAN-GP, hinge-GP) -------------------------------------------


@pytest.mark.parametrize("name", ["wgan_gp", "hinge_gp"])
def test_gradient_penalty_of_linear_discriminator(name):
    rng = np.random.default_rng(11)
    weights = random_weights(rng, 4)
    D = PolynomialD(weights, power=1)
    reals = rng.uniform(-1, 1, (4, 16, 16, CHANNELS)).astype(np.float32)
    fakes = random_pyramid(rng, 4, D.resolution_log2)
    real_pyramid = np_pyramid(reals, 3)
    reals = tf.constant(reals)
    # The gradient of a linear D is w at any mixing factor.
    norm = np.sqrt(sum(np.sum(np.square(w.astype(np.float64))) for w in weights))
    expected_penalty = (norm - 1.0) ** 2
    real_scores = D.numpy_scores(real_pyramid)
    fake_scores = D.numpy_scores([f.numpy() for f in fakes])
    if name == "wgan_gp":
        base = fake_scores - real_scores + 0.001 * real_scores**2
    else:
        base = np.maximum(0, 1 + fake_scores) + np.maximum(0, 1 - real_scores)
    loss = make_loss(name)
    for seed in (1, 2):
        tf.random.set_seed(seed)
        d_loss, terms = loss.d_loss(StepContext(D, reals, fakes))
        np.testing.assert_allclose(
            terms["Loss/gradient_penalty"], [expected_penalty] * 4, rtol=1e-5
        )
        np.testing.assert_allclose(
            d_loss, base + 10.0 * expected_penalty, rtol=1e-5, atol=1e-3
        )


def test_gradient_penalty_mixes_every_level_with_one_factor():
    resolution_log2, count = 4, 8
    ones = [np.ones((4 * 2**i, 4 * 2**i, CHANNELS), np.float32) for i in range(3)]
    D = RecordingD(ones, power=2)
    reals = tf.zeros([count, 16, 16, CHANNELS])
    fakes = constant_pyramid(np.ones(count), resolution_log2)
    _, terms = make_loss("wgan_gp").d_loss(StepContext(D, reals, fakes))

    # The mixed pyramid is the only one that is neither all zeros nor all ones.
    mixed = [c for c in D.calls if not all(np.all(x == c[0].flat[0]) for x in c)]
    assert len(D.calls) == 3 and len(mixed) == 1
    alpha = mixed[0][0][:, 0, 0, 0]
    for level in mixed[0]:
        np.testing.assert_array_equal(level, alpha[:, None, None, None] * level**0)
    assert np.all((alpha >= 0) & (alpha < 1)) and np.unique(alpha).size == count

    # d score / d level_i = 2 * alpha everywhere, so the norm reveals alpha too.
    size = sum(x.size for x in ones)
    expected = (2 * alpha.astype(np.float64) * np.sqrt(size) - 1) ** 2
    np.testing.assert_allclose(terms["Loss/gradient_penalty"], expected, rtol=1e-5)


def test_gradient_penalty_of_equal_real_and_fake_is_at_the_reals():
    rng = np.random.default_rng(13)
    D = RecordingD(random_weights(rng, 4), power=2)
    reals = tf.constant(rng.uniform(-1, 1, (4, 16, 16, CHANNELS)), tf.float32)
    real_pyramid = downsample_pyramid(reals, 3)
    make_loss("hinge_gp").d_loss(StepContext(D, reals, real_pyramid))
    assert len(D.calls) == 3
    for call in D.calls:
        for level, real in zip(call, real_pyramid, strict=True):
            np.testing.assert_array_equal(level, real)


# Gradient flow ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, r2_gamma", [(n, 0.0) for n in LOSSES] + [("lsgan", 1.0)]
)
def test_d_loss_does_not_backpropagate_into_fakes(name, r2_gamma):
    rng = np.random.default_rng(17)
    D = PolynomialD(random_weights(rng, 3), power=2)
    reals = tf.constant(rng.uniform(-1, 1, (2, 8, 8, CHANNELS)), tf.float32)
    fakes = random_pyramid(rng, 2, D.resolution_log2)
    loss = make_loss(name)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(fakes)
        ctx = StepContext(D, reals, fakes, r1_gamma=1.0, r2_gamma=r2_gamma)
        d_total = tf.reduce_sum(loss.d_loss(ctx)[0])
        g_total = tf.reduce_sum(loss.g_loss(ctx)[0])
    assert tape.gradient(d_total, fakes) == [None, None]
    # The same fakes do carry G's gradient, so the check above is not vacuous.
    g_grads = tape.gradient(g_total, fakes)
    assert all(g is not None and np.abs(g).max() > 0 for g in g_grads)


# The step context: roles, lazy penalties -----------------------------------------


def role_recording_context(D, reals, fakes, **options):
    # D sees each role's images shifted by the role's value: which role each
    # of D's calls was for shows in its scores.
    roles = []

    def augment(role, pyramid):
        roles.append(role)
        return [level + float(role) for level in pyramid]

    return StepContext(D, reals, fakes, augment=augment, **options), roles


@pytest.mark.parametrize(
    "name, d_roles, g_roles",
    [
        ("logistic", [Role.REALS, Role.FAKES], [Role.FAKES]),
        ("wgan_gp", [Role.REALS, Role.FAKES, Role.PENALTY], [Role.FAKES]),
        ("relativistic_hinge", [Role.REALS, Role.FAKES], [Role.REALS, Role.FAKES]),
    ],
)
def test_d_sees_each_role_through_its_own_augmentation(name, d_roles, g_roles):
    # The mean over every level: a constant pyramid scores its value.
    shapes = [(4 * 2**i, 4 * 2**i, CHANNELS) for i in range(2)]
    D = PolynomialD([np.full(s, 0.5 / np.prod(s), np.float32) for s in shapes], 1)
    reals = constant_pyramid(REAL, D.resolution_log2)[-1]
    fakes = constant_pyramid(FAKE, D.resolution_log2)
    ctx, roles = role_recording_context(D, reals, fakes)
    _, terms = make_loss(name).d_loss(ctx)
    assert roles == d_roles
    np.testing.assert_allclose(terms["Loss/scores/real"], REAL + Role.REALS, rtol=1e-6)
    np.testing.assert_allclose(terms["Loss/scores/fake"], FAKE + Role.FAKES, rtol=1e-6)
    roles.clear()
    make_loss(name).g_loss(ctx)
    assert roles == g_roles


def test_lazy_penalties_are_the_penalties_of_the_main_loss():
    # R1 and R2 are computed in one place: `d_penalties` gives what `d_loss`
    # adds, alone, and calls D only where a gamma asks.
    rng = np.random.default_rng(19)
    D = PolynomialD(random_weights(rng, 3), power=2)
    reals = tf.constant(rng.uniform(-1, 1, (2, 8, 8, CHANNELS)), tf.float32)
    fakes = random_pyramid(rng, 2, D.resolution_log2)
    loss = make_loss("logistic")
    ctx = StepContext(D, reals, fakes, r1_gamma=2.0, r2_gamma=6.0)
    d_loss, terms = loss.d_loss(ctx)
    reg, reg_terms = loss.d_penalties(ctx)
    for name in ("Loss/r1_penalty", "Loss/r2_penalty"):
        np.testing.assert_allclose(reg_terms[name], terms[name], rtol=1e-6)
    np.testing.assert_allclose(reg, d_loss - terms["Loss/D/loss"], rtol=1e-5)
    np.testing.assert_allclose(reg_terms["Loss/D/reg"], reg)
    ctx, roles = role_recording_context(D, reals, fakes, r1_gamma=2.0)
    _, reg_terms = loss.d_penalties(ctx)
    assert roles == [Role.REALS] and "Loss/r2_penalty" not in reg_terms
    with pytest.raises(ValueError, match="needs `r1_gamma` or `r2_gamma` > 0"):
        loss.d_penalties(StepContext(D, reals, fakes))


# Official TF1 losses ------------------------------------------------------------


def test_every_loss_name_loads_its_class_and_unknown_names_are_refused():
    from msg_stylegan_tf2.training.losses import Loss

    assert len({load(LOSSES, name, "loss") for name in LOSSES}) == len(LOSSES)
    for name in LOSSES:
        assert issubclass(load(LOSSES, name, "loss"), Loss)
    with pytest.raises(ValueError, match="`loss` must be one of"):
        make_loss("gan")
