"""The generator's per-layer inputs besides its features (NHWC): AdaIN style
modulation from a dlatent (official `style_mod`) and per-pixel noise (official
`apply_noise`), with the seeds that make the noise reproducible."""

import keras
import tensorflow as tf

from msg_stylegan_tf2.networks.equalized import EqualizedDense


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
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


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
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
