"""The training state: networks, optimizers, progress counters, loss scales,
and the features built from the config (augmentation, regularization)."""

import dataclasses

import keras
import tensorflow as tf

from msg_stylegan_tf2.formats.network_run import network_variables
from msg_stylegan_tf2.networks.build import DISCRIMINATORS, GENERATORS
from msg_stylegan_tf2.training import snapshot
from msg_stylegan_tf2.training.augmentation import (
    Augmentation,
    NoAugmentation,
    make_augmentation,
)
from msg_stylegan_tf2.training.loss_scale import DynamicLossScale
from msg_stylegan_tf2.training.regularization import Regularization

PRECISION_POLICIES = {
    "off": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
}


@dataclasses.dataclass
class TrainingState:
    """What a checkpoint holds (variables only) and the steps update, and the
    features built from the config that the steps and the loop ask.

    Attributes:
        G, D, Gs: generator, discriminator, moving-average generator.
        g_opt, d_opt: their Adam optimizers (built).
        cur_nimg, step: int64 variables, set just before each checkpoint.
        loss_scales: `(G, D)` DynamicLossScale for float16, else None each.
        augmentation: what D sees (`augmentation.py`; ADA's p is a variable).
        regularization: R1/R2 and their interval (`regularization.py`).
    """

    G: keras.Model
    D: keras.Model
    Gs: keras.Model
    g_opt: keras.optimizers.Optimizer
    d_opt: keras.optimizers.Optimizer
    cur_nimg: tf.Variable | None = None
    step: tf.Variable | None = None
    loss_scales: tuple = (None, None)
    augmentation: Augmentation = dataclasses.field(default_factory=NoAugmentation)
    regularization: Regularization = dataclasses.field(default_factory=Regularization)

    def checkpoint_objects(self):
        """`{name: trackable}`: what a checkpoint holds, by the names runs
        have always written (the data reader is repositioned from cur_nimg)."""
        objects = {
            "G": network_variables(self.G),
            "D": network_variables(self.D),
            "Gs": network_variables(self.Gs),
            "g_opt": snapshot.optimizer_variables(self.g_opt, self.G),
            "d_opt": snapshot.optimizer_variables(self.d_opt, self.D),
            "cur_nimg": self.cur_nimg,
            "step": self.step,
        }
        for name, scaler in zip("gd", self.loss_scales, strict=True):
            if scaler is not None:
                objects[f"{name}_loss_scale"] = tf.train.Checkpoint(
                    scale=scaler.scale, good_steps=scaler.good_steps
                )
        return {**objects, **self.augmentation.checkpoint_objects()}


def _adam(config, betas):
    # The learning rates are set before each step (`schedule.LearningRates`).
    beta_1, beta_2 = betas
    return keras.optimizers.Adam(
        0.0, beta_1=beta_1, beta_2=beta_2, epsilon=config.adam_epsilon
    )


def build_state(config, strategy):
    """Networks, optimizers (built), progress counters and the features of
    `config` under the strategy.

    The same seed gives the same initial weights; Gs starts as a copy of G;
    D's Adam has the regularization's betas.

    Returns:
        TrainingState.

    Raises:
        ValueError: an unknown `augment`, or options of R1/R2 that do not hold
            together (`Regularization`).
    """
    regularization = Regularization.from_config(config)
    keras.config.set_dtype_policy(PRECISION_POLICIES[config.mixed_precision])
    keras.utils.set_random_seed(config.seed)
    g_cls = GENERATORS[config.arch]
    betas = (config.adam_beta1, config.adam_beta2)
    with strategy.scope():
        G, Gs = g_cls(**config.G_kwargs), g_cls(**config.G_kwargs)
        D = DISCRIMINATORS[config.arch](**config.D_kwargs)
        for model in (G, Gs, D):
            model.build()
        g_opt = _adam(config, betas)
        d_opt = _adam(config, regularization.d_betas(*betas))
        g_opt.build(G.trainable_weights)
        d_opt.build(D.trainable_weights)
        cur_nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="cur_nimg")
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        scales = (None, None)
        if config.mixed_precision == "fp16":
            scales = (DynamicLossScale(), DynamicLossScale())
        augmentation = make_augmentation(config)
    for target, source in zip(Gs.weights, G.weights, strict=True):
        target.assign(source)
    return TrainingState(
        G, D, Gs, g_opt, d_opt, cur_nimg, step, scales, augmentation, regularization
    )
