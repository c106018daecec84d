"""The bf16 training step (`--mixed_precision=bf16`): variables, losses, R1 and
Adam's state stay float32 while the convolutions and matmuls run in bfloat16."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.build import build_networks
from msg_stylegan_tf2.networks.layers import EqualizedDense
from msg_stylegan_tf2.networks.network_base import dtype_policy_scope
from msg_stylegan_tf2.networks.presets import get_preset
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.growth import whole_pyramids
from msg_stylegan_tf2.training.losses import make_loss
from msg_stylegan_tf2.training.state import PRECISION_POLICIES, build_state
from msg_stylegan_tf2.training.steps import TrainSteps

BF16 = PRECISION_POLICIES["bf16"]
# The ops that carry the step's FLOPs, forward and backward.
HEAVY_OPS = (
    "Conv2D",
    "Conv2DBackpropInput",
    "Conv2DBackpropFilter",
    "DepthwiseConv2dNative",
    "DepthwiseConv2dNativeBackpropInput",
    "DepthwiseConv2dNativeBackpropFilter",
    "MatMul",
)


class Trained:
    """A bf16 state after one D step and one G step, with the steps' terms."""

    def __init__(self, preset):
        spec = get_preset(preset)
        config = TrainingConfig(
            dataset="unused",
            preset=preset,
            arch=spec.arch,
            G_kwargs=dict(spec.G),
            D_kwargs=dict(spec.D),
            mixed_precision="bf16",
        )
        side = spec.G["resolution"]
        images = np.random.RandomState(0).randint(0, 256, [4, side, side, 3])
        self.batch = (tf.constant(images, tf.uint8), tf.zeros([4, 0]))
        self.step = tf.constant(0, tf.int64)
        # Build and train as train.py does (build_state sets the policy); the
        # other tests need float32 back.
        try:
            strategy = tf.distribute.get_strategy()
            self.state = build_state(config, strategy)
            self.steps = TrainSteps(
                strategy, self.state, make_loss("logistic"), whole_pyramids
            )
            self.d_terms = self.steps.d_step(self.batch, self.step)
            self.g_terms = self.steps.g_step(self.batch, self.step)
        finally:
            keras.config.set_dtype_policy("float32")

    def graphs(self):
        """The traced D step (with R1) and G step."""
        d = self.steps._d_function.get_concrete_function(self.batch, self.step, False)
        g = self.steps._g_function.get_concrete_function(self.batch, self.step)
        return {"D": d.graph, "G": g.graph}


@pytest.fixture(scope="module", params=["tiny"])
def trained(request):
    return Trained(request.param)


def op_dtype(op):
    return op.get_attr("T").name


def test_networks_compute_in_bf16_and_the_policy_is_restored(trained):
    assert keras.config.dtype_policy().name == "float32"
    assert trained.state.G.dtype_policy.name == BF16


def test_variables_stay_float32(trained):
    state = trained.state
    for network in (state.G, state.D, state.Gs):
        variables = network.official_variable_map()
        assert variables
        for name, (variable, _) in variables.items():
            assert variable.dtype == "float32", name
    # Adam's moments (and learning rate): float32; only the step counter is not.
    for optimizer, network in ((state.g_opt, state.G), (state.d_opt, state.D)):
        slots = [v for v in optimizer.variables if v.dtype != "int64"]
        assert len(slots) >= 2 * len(network.trainable_weights)
        for slot in slots:
            assert slot.dtype == "float32", slot.path
        # The step wrote its gradients into the moments.
        assert any(np.any(slot.numpy() != 0) for slot in slots if len(slot.shape))


def test_losses_and_r1_are_float32(trained):
    terms = {**trained.d_terms, **trained.g_terms}
    for name in (
        "Loss/D/total",
        "Loss/r1_penalty",
        "Loss/G/total",
        "Loss/scores/real",
        "Loss/scores/fake",
    ):
        assert terms[name].dtype == tf.float32, name
        assert np.isfinite(float(terms[name])), name
    assert float(terms["Loss/r1_penalty"]) > 0


def test_convolutions_and_matmuls_run_in_bfloat16(trained):
    for name, graph in trained.graphs().items():
        counts = collections.Counter(
            (op.type, op_dtype(op))
            for op in graph.get_operations()
            if op.type in HEAVY_OPS
        )
        in_bf16 = sum(c for (_, dtype), c in counts.items() if dtype == "bfloat16")
        # Forward and both backward convolutions are there, all in bfloat16.
        for op_type in ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"):
            assert counts[(op_type, "bfloat16")] > 0, (name, op_type)
        assert in_bf16 == sum(counts.values()), (name, counts)


def test_r1_norm_reduces_float32_gradients(trained):
    # The R1 norm squares D's gradients w.r.t. each pyramid level (3 channels);
    # nothing else in the D step squares a 3-channel image.
    graph = trained.graphs()["D"]
    levels = trained.state.D.resolution_log2 - 1
    squares = [
        op
        for op in graph.get_operations()
        if op.type == "Square"
        and op.inputs[0].shape.rank == 4
        and op.inputs[0].shape[-1] == 3
    ]
    assert len(squares) == levels
    for op in squares:
        assert op_dtype(op) == "float32", op.name
        sums = [c for c in op.outputs[0].consumers() if c.type == "Sum"]
        assert sums and all(op_dtype(s) == "float32" for s in sums), op.name


def test_w_average_moves_in_float32():
    # Keras reads variables in bfloat16 inside a bf16 layer's call unless told
    # not to; the W average's EMA (beta 0.995) would then stall on bf16's grid.
    with dtype_policy_scope(BF16):
        G, _ = build_networks("tiny")
    old = np.full([16], 1 + 2**-12, np.float32)  # Not a bfloat16 value.
    G.dlatent_avg.assign(old)
    latents = tf.random.stateless_normal([4, 16], [0, 1])
    batch_avg = tf.reduce_mean(tf.cast(G.mapping(latents)[:, 0], tf.float32), 0)
    G(latents, training=True)
    expected = batch_avg.numpy() + (old - batch_avg.numpy()) * np.float32(0.995)
    np.testing.assert_allclose(G.dlatent_avg.numpy(), expected, rtol=1e-6)


def test_equalized_weights_are_scaled_in_float32_then_rounded_once():
    # The mapping's lrmul (0.01): identity inputs read the scaled kernel, zero
    # inputs the scaled bias, each rounded once from float32 to bfloat16.
    with dtype_policy_scope(BF16):
        no_bias = EqualizedDense(8, lrmul=0.01, use_bias=False)
        only_bias = EqualizedDense(8, lrmul=0.01)
        for layer in (no_bias, only_bias):
            layer.build((None, 8))
    rng = np.random.RandomState(0)
    weight, bias = rng.randn(8, 8).astype(np.float32), rng.randn(8).astype(np.float32)
    no_bias.weight.assign(weight)
    only_bias.weight.assign(np.zeros([8, 8], np.float32))
    only_bias.bias.assign(bias)
    kernel = no_bias(tf.eye(8))
    assert kernel.dtype == tf.bfloat16
    coef = np.float32(no_bias.runtime_coef)
    np.testing.assert_array_equal(kernel, tf.cast(weight * coef, tf.bfloat16))
    np.testing.assert_array_equal(
        only_bias(tf.zeros([1, 8]))[0], tf.cast(bias * np.float32(0.01), tf.bfloat16)
    )
