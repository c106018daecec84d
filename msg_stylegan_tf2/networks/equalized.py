"""Equalized learning rate layers of the official networks (NHWC): Dense and
Conv2D (official `dense`, `conv2d`, `upscale2d_conv2d`, `conv2d_downscale2d`,
with fused up/down resampling), their optional spectral normalisation, and the
per-channel `Bias` (official `apply_bias`).

Variables are read in float32 (`autocast=False`): each layer scales them in
float32 and casts the result once to the compute dtype.
"""

import keras
import numpy as np
import tensorflow as tf

from msg_stylegan_tf2.networks.ops import (
    ACTIVATIONS,
    SQRT2,
    apply_activation,
    downscale2d,
    equalized_coefficients,
    upscale2d,
)
from msg_stylegan_tf2.validation import check_choice, check_positive


class _EqualizedBase(keras.layers.Layer):
    """Shared options of the equalized-learning-rate layers."""

    def __init__(
        self,
        gain=SQRT2,
        use_wscale=True,
        lrmul=1.0,
        use_bias=True,
        activation="linear",
        spectral_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive("gain", gain)
        check_positive("lrmul", lrmul)
        check_choice("activation", activation, ACTIVATIONS)
        self.gain, self.use_wscale, self.lrmul = float(gain), bool(use_wscale), lrmul
        self.use_bias, self.activation = bool(use_bias), activation
        self.spectral_norm = bool(spectral_norm)

    def _add_equalized_weight(self, shape, fan_in):
        init_std, self.runtime_coef = equalized_coefficients(
            fan_in, self.gain, self.use_wscale, self.lrmul
        )
        self.weight = self.add_weight(
            name="weight",
            shape=shape,
            initializer=keras.initializers.RandomNormal(0.0, init_std),
            autocast=False,
        )
        self.sn_u = None
        if self.spectral_norm:  # Power-iteration estimate of the top singular vector.
            self.sn_u = self.add_weight(
                name="sn_u",
                shape=(shape[-1],),
                initializer=keras.initializers.RandomNormal(0.0, 1.0),
                trainable=False,
                aggregation="mean",
                autocast=False,
            )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(shape[-1],), initializer="zeros", autocast=False
            )

    def _scaled_weight(self, dtype):
        w = self.weight * self.runtime_coef
        if self.spectral_norm:
            w = self._spectrally_normalized(w)
        return tf.cast(w, dtype)

    def _spectrally_normalized(self, w):
        # One power iteration per call (Miyato et al.): w / sigma_max(w as [in, out]).
        matrix = tf.reshape(tf.cast(w, tf.float32), [-1, w.shape[-1]])
        u = tf.cast(self.sn_u, tf.float32)
        v = tf.math.l2_normalize(tf.linalg.matvec(matrix, u))
        u = tf.math.l2_normalize(tf.linalg.matvec(matrix, v, transpose_a=True))
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        self.sn_u.assign(u)
        sigma = tf.tensordot(v, tf.linalg.matvec(matrix, u), 1)
        return w / tf.cast(sigma, w.dtype)

    def _finish(self, x):
        # BiasAdd (with its fast gradient) lets the conv, bias and activation fuse.
        if self.bias is not None:
            x = tf.nn.bias_add(x, tf.cast(self.bias * float(self.lrmul), x.dtype))
        return apply_activation(x, self.activation)

    def get_config(self):
        return {
            **super().get_config(),
            "gain": self.gain,
            "use_wscale": self.use_wscale,
            "lrmul": self.lrmul,
            "use_bias": self.use_bias,
            "activation": self.activation,
            "spectral_norm": self.spectral_norm,
        }


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class EqualizedDense(_EqualizedBase):
    """Fully connected layer with equalized learning rate (official `dense`).

    Inputs of rank > 2 are flattened in NHWC order first. Variables: `weight`
    `[fan_in, units]` and, with `use_bias`, `bias` `[units]` (own lrmul).

    Call: `[N, ...]` -> `[N, units]`.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: {units!r}")
        self.units = units

    def build(self, input_shape):
        fan_in = int(np.prod(input_shape[1:]))
        self._add_equalized_weight((fan_in, self.units), fan_in)

    def call(self, x):
        if len(x.shape) > 2:
            x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
        return self._finish(tf.matmul(x, self._scaled_weight(x.dtype)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class EqualizedConv2D(_EqualizedBase):
    """2-D convolution with equalized learning rate and optional 2x resampling.

    `resample=None` is the official `conv2d`; "up" is `upscale2d_conv2d` (nearest
    upscale then conv, or one transposed conv with the padded, summed kernel when
    fused); "down" is `conv2d_downscale2d` (conv then 2x2 average, or one strided
    conv with the padded, averaged kernel when fused). `fused_scale="auto"` fuses
    where the official code does: up when the output side is >= 128, down when
    the input side is >= 128. Variables: `weight` `[k, k, C_in, filters]`, `bias`.

    Call: `[N, H, W, C_in]` -> `[N, H', W', filters]`, H' = 2H, H or H/2.
    """

    def __init__(
        self, filters, kernel_size, resample=None, fused_scale="auto", **kwargs
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(
                f"`filters` must be a positive integer. Received: {filters!r}"
            )
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"`kernel_size` must be an odd integer >= 1. Received: {kernel_size!r}"
            )
        check_choice("resample", resample, (None, "up", "down"))
        check_choice("fused_scale", fused_scale, (True, False, "auto"))
        self.filters, self.kernel_size = filters, kernel_size
        self.resample, self.fused_scale = resample, fused_scale

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self._add_equalized_weight((k, k, channels, self.filters), k * k * channels)
        self.input_hw = (int(input_shape[1]), int(input_shape[2]))
        side = min(self.input_hw)
        self.fused = False
        if self.resample is not None:
            auto = side * 2 >= 128 if self.resample == "up" else side >= 128
            self.fused = auto if self.fused_scale == "auto" else self.fused_scale

    def call(self, x):
        w = self._scaled_weight(x.dtype)
        if self.resample == "up" and self.fused:
            x = self._fused_up(x, w)
        elif self.resample == "down" and self.fused:
            w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
            w = (w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]) * 0.25
            x = tf.nn.conv2d(x, w, strides=2, padding="SAME")
        else:
            if self.resample == "up":
                x = upscale2d(x)
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
            if self.resample == "down":
                x = downscale2d(x)
        return self._finish(x)

    def _fused_up(self, x, w):
        # Transposed convolution with the kernel padded and summed over 2x2 shifts.
        w = tf.transpose(w, [0, 1, 3, 2])
        w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
        w = w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]
        h, wd = x.shape[1], x.shape[2]
        out_shape = [tf.shape(x)[0], h * 2, wd * 2, self.filters]
        return tf.nn.conv2d_transpose(x, w, out_shape, strides=2, padding="SAME")

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        scale = {None: 1, "up": 2, "down": 0.5}[self.resample]
        return (n, int(h * scale), int(w * scale), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "resample": self.resample,
            "fused_scale": self.fused_scale,
        }


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class Bias(keras.layers.Layer):
    """Per-channel bias with a learning-rate multiplier (official `apply_bias`).

    Call: `[N, ..., C]` -> same shape.
    """

    def __init__(self, lrmul=1.0, **kwargs):
        super().__init__(**kwargs)
        check_positive("lrmul", lrmul)
        self.lrmul = lrmul

    def build(self, input_shape):
        self.bias = self.add_weight(
            name="bias", shape=(input_shape[-1],), initializer="zeros", autocast=False
        )

    def call(self, x):
        return tf.nn.bias_add(x, tf.cast(self.bias * float(self.lrmul), x.dtype))

    def get_config(self):
        return {**super().get_config(), "lrmul": self.lrmul}
