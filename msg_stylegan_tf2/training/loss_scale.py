"""Dynamic loss scaling for float16 training (Keras 3.15's LossScaleOptimizer
fails on the TensorFlow backend with "No gradients provided")."""

import tensorflow as tf


class DynamicLossScale:
    """Scales the loss before differentiation and unscales the gradients.

    On an overflow (any non-finite gradient on any replica) the step's gradients
    become zero, which with Adam(beta1=0) leaves the weights unchanged, and the
    scale halves; after `growth_interval` finite steps it doubles. Create it
    under the strategy's scope; its variables belong in checkpoints.
    """

    def __init__(self, initial_scale=2.0**15, growth_interval=2000):
        self.growth_interval = growth_interval
        only_first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.scale = tf.Variable(
            initial_scale, dtype=tf.float32, trainable=False, aggregation=only_first
        )
        self.good_steps = tf.Variable(
            0, dtype=tf.int64, trainable=False, aggregation=only_first
        )

    def gradients(self, tape, loss, weights):
        """Unscaled float32 gradients of `loss`, zeroed when any overflowed.

        Returns:
            `(grads, finite)`; a gradient is None where `loss` does not depend
            on the weight (e.g. D's output bias in a penalty's loss).
        """
        scale = tf.identity(self.scale)
        # Seeding the backward pass with `scale` differentiates loss * scale.
        grads = tape.gradient(loss, weights, output_gradients=scale)
        grads = [None if g is None else tf.cast(g, tf.float32) / scale for g in grads]
        bad = tf.add_n(
            [
                tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32))
                for g in grads
                if g is not None
            ]
        )
        context = tf.distribute.get_replica_context()
        if context is not None:
            bad = context.all_reduce(tf.distribute.ReduceOp.SUM, bad)
        finite = tf.equal(bad, 0.0)
        grads = [
            None if g is None else tf.where(finite, g, tf.zeros_like(g)) for g in grads
        ]
        return grads, finite

    def update(self, finite):
        """Halves the scale after an overflow; doubles it after a finite run."""
        good = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
        grow = good >= self.growth_interval
        scale = tf.where(
            finite, tf.where(grow, self.scale * 2.0, self.scale), self.scale * 0.5
        )
        self.scale.assign(scale)
        self.good_steps.assign(tf.where(grow, tf.zeros_like(good), good))
