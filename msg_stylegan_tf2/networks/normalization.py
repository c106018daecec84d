"""Layers of the official networks that normalise by statistics (NHWC):
PixelNorm (over channels), InstanceNorm (over pixels) and the minibatch
standard deviation the discriminator appends (over image groups)."""

import keras
import tensorflow as tf


class _EpsilonLayer(keras.layers.Layer):
    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"`epsilon` must be a number >= 0. Received: {epsilon!r}")
        self.epsilon = float(epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class PixelNorm(_EpsilonLayer):
    """Normalises each feature vector to unit RMS over the last axis.

    Call: `[N, ..., C]` -> same shape, x / sqrt(mean(x^2 over C) + epsilon).
    """

    def call(self, x):
        ms = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
        return x * tf.math.rsqrt(ms + self.epsilon)


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class InstanceNorm(_EpsilonLayer):
    """Normalises each channel of each image to zero mean and unit variance.

    Computed in float32. Call: `[N, H, W, C]` -> same shape.
    """

    def call(self, x):
        dtype = x.dtype
        x = tf.cast(x, tf.float32)
        x -= tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        var = tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True)
        return tf.cast(x * tf.math.rsqrt(var + self.epsilon), dtype)


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the minibatch standard deviation as extra feature maps.

    The batch is split as the official code does: with G = min(group_size, N)
    and M = N / G, images i, i + M, i + 2M, ... form one group. Channels are split
    into `num_new_features` groups; each yields one map, the mean over its
    channels and pixels of the per-group standard deviation (eps 1e-8 inside sqrt).

    Call: `[N, H, W, C]` -> `[N, H, W, C + num_new_features]`; N must be
    divisible by min(group_size, N).
    """

    def __init__(self, group_size=4, num_new_features=1, **kwargs):
        super().__init__(**kwargs)
        for name, value in (
            ("group_size", group_size),
            ("num_new_features", num_new_features),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"`{name}` must be an integer >= 1. Received: {value!r}"
                )
        self.group_size, self.num_new_features = group_size, num_new_features

    def build(self, input_shape):
        if int(input_shape[-1]) % self.num_new_features:
            raise ValueError(
                f"The channel count must be divisible by `num_new_features`="
                f"{self.num_new_features}. Received input shape: {input_shape}"
            )
        batch = input_shape[0]
        if batch is not None and batch % min(self.group_size, batch):
            raise ValueError(
                f"The minibatch ({batch}) must be divisible by `group_size`="
                f"{self.group_size} (or smaller than it)."
            )

    def call(self, x):
        _, h, w, c = x.shape
        n = self.num_new_features
        group = tf.minimum(self.group_size, tf.shape(x)[0])
        y = tf.reshape(x, [group, -1, h, w, n, c // n])
        y = tf.cast(y, tf.float32)
        y -= tf.reduce_mean(y, axis=0, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)
        y = tf.reduce_mean(y, axis=[1, 2, 4])
        y = tf.cast(tf.reshape(y, [-1, 1, 1, n]), x.dtype)
        y = tf.tile(y, [group, h, w, 1])
        return tf.concat([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_new_features)

    def get_config(self):
        return {
            **super().get_config(),
            "group_size": self.group_size,
            "num_new_features": self.num_new_features,
        }
