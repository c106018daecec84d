"""Keras 3 layers with the semantics of the official msg-stylegan-tf networks (NHWC).

Each layer reproduces one op of `training/networks_stylegan.py` of the official
code: equalized learning rate with learning-rate multipliers, fused resampling
convolutions, blur, PixelNorm, instance norm, AdaIN style modulation, noise
inputs and the minibatch standard deviation layer (the plain ops: `ops.py`).
Under a mixed policy, variables are read in float32 (`autocast=False`): each
layer scales them in float32 and casts the result once to the compute dtype.
"""

import keras
import numpy as np
import tensorflow as tf

from msg_stylegan_tf2.networks.ops import (
    ACTIVATIONS,
    SQRT2,
    apply_activation,
    blur2d,
    blur_kernel,
    downscale2d,
    equalized_coefficients,
    upscale2d,
)
from msg_stylegan_tf2.validation import check_choice, check_positive


def _serializable(cls):
    return keras.saving.register_keras_serializable(package="msg_stylegan_tf2")(cls)


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


@_serializable
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


@_serializable
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


@_serializable
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


@_serializable
class Blur(keras.layers.Layer):
    """Low-pass filter applied around resampling (official `blur2d`).

    The 1-D filter becomes its outer product, normalised to sum 1; the image is
    cross-correlated per channel with 'SAME' zero padding.

    Call: `[N, H, W, C]` -> `[N, H, W, C]`.
    """

    def __init__(self, blur_filter=(1, 2, 1), normalize=True, **kwargs):
        super().__init__(**kwargs)
        f = np.asarray(blur_filter, dtype=np.float64)
        if f.ndim not in (1, 2) or f.size == 0 or not np.all(np.isfinite(f)):
            raise ValueError(
                "`blur_filter` must be a non-empty 1-D or 2-D sequence of numbers. "
                f"Received: {blur_filter!r}"
            )
        if normalize and f.sum() == 0:
            raise ValueError(f"`blur_filter` sums to zero. Received: {blur_filter!r}")
        self.blur_filter = tuple(f.tolist())
        self.normalize = bool(normalize)
        self.kernel = blur_kernel(f, normalize)

    def call(self, x):
        return blur2d(x, self.kernel)

    def get_config(self):
        return {
            **super().get_config(),
            "blur_filter": self.blur_filter,
            "normalize": self.normalize,
        }


@_serializable
class Upscale2D(keras.layers.Layer):
    """Nearest-neighbour 2x upscaling. Call: `[N, H, W, C]` -> `[N, 2H, 2W, C]`."""

    def call(self, x):
        return upscale2d(x)


@_serializable
class Downscale2D(keras.layers.Layer):
    """2x2 average downscaling. Call: `[N, H, W, C]` -> `[N, H/2, W/2, C]`."""

    def call(self, x):
        return downscale2d(x)


class _EpsilonLayer(keras.layers.Layer):
    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"`epsilon` must be a number >= 0. Received: {epsilon!r}")
        self.epsilon = float(epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@_serializable
class PixelNorm(_EpsilonLayer):
    """Normalises each feature vector to unit RMS over the last axis.

    Call: `[N, ..., C]` -> same shape, x / sqrt(mean(x^2 over C) + epsilon).
    """

    def call(self, x):
        ms = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
        return x * tf.math.rsqrt(ms + self.epsilon)


@_serializable
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


@_serializable
class StyleMod(keras.layers.Layer):
    """AdaIN style modulation: x * (1 + s) + b with [s, b] = dense(w) (gain 1).

    Variables (official scope `StyleMod`): `weight` `[dlatent_size, 2C]`, `bias`.

    Call: x `[N, H, W, C]`, dlatent `[N, dlatent_size]` -> `[N, H, W, C]`.
    """

    def __init__(self, use_wscale=True, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.use_wscale = bool(use_wscale)
        self.spectral_norm = bool(spectral_norm)
        self.dense = None

    def build(self, x_shape, dlatent_shape):
        channels = int(x_shape[-1])
        self.dense = EqualizedDense(
            2 * channels,
            gain=1.0,
            use_wscale=self.use_wscale,
            spectral_norm=self.spectral_norm,
            name="dense",
            dtype=self.dtype_policy,
        )
        self.dense.build(dlatent_shape)

    def call(self, x, dlatent):
        channels = x.shape[-1]
        style = self.dense(tf.cast(dlatent, x.dtype))
        scale = tf.reshape(style[:, :channels], [-1, 1, 1, channels])
        shift = tf.reshape(style[:, channels:], [-1, 1, 1, channels])
        return x * (scale + 1.0) + shift

    def get_config(self):
        return {
            **super().get_config(),
            "use_wscale": self.use_wscale,
            "spectral_norm": self.spectral_norm,
        }


def fold_in_seed(seed, data):
    """`tf.random.experimental.stateless_fold_in` of `data` into a noise seed:
    one seed int `[2]`, or one per image int `[N, 2]` (each row folded)."""
    seed, data = tf.convert_to_tensor(seed), tf.convert_to_tensor(data)
    fold_in = tf.random.experimental.stateless_fold_in
    if len(seed.shape) == 2:  # The result has the dtype of `data`.
        return tf.map_fn(
            lambda row: fold_in(row, data), seed, fn_output_signature=data.dtype
        )
    return fold_in(seed, data)


@_serializable
class NoiseInput(keras.layers.Layer):
    """Adds per-pixel Gaussian noise scaled by a learned per-channel weight.

    Variables: `weight` `[C]` (initialised to 0; official `Noise/weight`) and the
    stored, non-trainable `noise` `[1, H, W, 1]` (official `noise<i>`), used when
    `randomize_noise` is False so that outputs are deterministic. With a `seed`,
    fresh noise is drawn statelessly from it (reproducible): int `[2]` draws
    the batch's noise at once; int `[N, 2]` draws each image's from its own
    row, so an image's noise does not depend on the batch it is in. A given
    `noise` (`[N or 1, H, W, 1]`, e.g. maps a projection optimises) replaces
    both.

    Call: `[N, H, W, C]` -> same shape.
    """

    def build(self, input_shape):
        _, h, w, c = input_shape
        self.noise = self.add_weight(
            name="noise",
            shape=(1, int(h), int(w), 1),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False,
            autocast=False,
        )
        self.weight = self.add_weight(
            name="weight", shape=(c,), initializer="zeros", autocast=False
        )

    def call(self, x, randomize_noise=True, seed=None, noise=None):
        seed = None if seed is None else tf.convert_to_tensor(seed)
        if noise is not None:
            noise = tf.cast(noise, x.dtype)
        elif randomize_noise:
            shape = tf.concat([tf.shape(x)[:1], tf.shape(self.noise)[1:]], axis=0)
            if seed is None:
                noise = tf.random.normal(shape, dtype=x.dtype)
            elif len(seed.shape) == 2:
                noise = tf.map_fn(
                    lambda s: tf.random.stateless_normal(shape[1:], s, dtype=x.dtype),
                    seed,
                    fn_output_signature=x.dtype,
                )
            else:
                noise = tf.random.stateless_normal(shape, seed, dtype=x.dtype)
        else:
            noise = tf.cast(self.noise, x.dtype)
        return x + noise * tf.cast(self.weight, x.dtype)


@_serializable
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


def enable_spectral_norm(model):
    """Turns on spectral normalisation in every equalized dense/conv layer of a
    network whose layers exist but are not built yet (`--spectral_norm=both`).

    Raises:
        ValueError: a layer is already built (its variables exist).
    """
    # Keras has no public recursive layer walk; `_flatten_layers` is what
    # `Model.summary` uses.
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (_EqualizedBase, StyleMod)):
            if layer.built:
                raise ValueError(f"{layer.name}: built; enable spectral norm first.")
            layer.spectral_norm = True
