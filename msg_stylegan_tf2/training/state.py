"""The training state: networks, optimizers, progress counters, loss scales."""

import dataclasses

import keras
import tensorflow as tf

from msg_stylegan_tf2.networks.build import DISCRIMINATORS, GENERATORS
from msg_stylegan_tf2.training.augment import AdaptiveProbability
from msg_stylegan_tf2.training.loss_scale import DynamicLossScale

PRECISION_POLICIES = {
    "off": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
}


@dataclasses.dataclass
class TrainingState:
    """What a checkpoint holds (variables only) and the steps update.

    Attributes:
        G, D, Gs: generator, discriminator, moving-average generator.
        g_opt, d_opt: their Adam optimizers (built).
        cur_nimg, step: int64 variables, set just before each checkpoint.
        loss_scales: `(G, D)` DynamicLossScale for float16, else None each.
        ada: ADA's `AdaptiveProbability` (augment "ada"), else None.
    """

    G: keras.Model
    D: keras.Model
    Gs: keras.Model
    g_opt: keras.optimizers.Optimizer
    d_opt: keras.optimizers.Optimizer
    cur_nimg: tf.Variable | None = None
    step: tf.Variable | None = None
    loss_scales: tuple = (None, None)
    ada: AdaptiveProbability | None = None


def lazy_ratio(r1_interval):
    """StyleGAN2's adjustment of D's Adam for lazy regularization every N D
    steps: D's learning rate is multiplied by `N / (N + 1)` and its betas are
    raised to that power (1 for N = 1: no change)."""
    return 1.0 if r1_interval == 1 else r1_interval / (r1_interval + 1)


def _optimizer(config, ratio=1.0):
    return keras.optimizers.Adam(
        config.lr * ratio,
        beta_1=config.adam_beta1**ratio,
        beta_2=config.adam_beta2**ratio,
        epsilon=config.adam_epsilon,
    )


def build_state(config, strategy):
    """Networks, optimizers (built) and progress counters under the strategy.

    The same seed gives the same initial weights; Gs starts as a copy of G.

    Returns:
        TrainingState.
    """
    keras.config.set_dtype_policy(PRECISION_POLICIES[config.mixed_precision])
    keras.utils.set_random_seed(config.seed)
    g_cls = GENERATORS[config.arch]
    with strategy.scope():
        G, Gs = g_cls(**config.G_kwargs), g_cls(**config.G_kwargs)
        D = DISCRIMINATORS[config.arch](**config.D_kwargs)
        for model in (G, Gs, D):
            model.build()
        g_opt = _optimizer(config)
        d_opt = _optimizer(config, lazy_ratio(config.r1_interval))
        g_opt.build(G.trainable_weights)
        d_opt.build(D.trainable_weights)
        cur_nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="cur_nimg")
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        scales = (None, None)
        if config.mixed_precision == "fp16":
            scales = (DynamicLossScale(), DynamicLossScale())
        ada = None
        if config.augment == "ada":
            ada = AdaptiveProbability(config.ada_target, ada_kimg=config.ada_kimg)
    for target, source in zip(Gs.weights, G.weights, strict=True):
        target.assign(source)
    return TrainingState(G, D, Gs, g_opt, d_opt, cur_nimg, step, scales, ada)
