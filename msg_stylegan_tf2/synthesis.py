"""MSG-StyleGAN mapping and synthesis networks (official `G_mapping`, `G_synthesis`).

NHWC. The synthesis output is an image pyramid: a list of
`[N, R, R, num_channels]` tensors with R = 4, 8, ..., resolution.
"""

import keras
import tensorflow as tf

from msg_stylegan_tf2 import official
from msg_stylegan_tf2.layers import (
    SQRT2,
    Bias,
    Blur,
    EqualizedConv2D,
    EqualizedDense,
    InstanceNorm,
    NoiseInput,
    PixelNorm,
    StyleMod,
    apply_activation,
    dtype_policy_scope,
)
from msg_stylegan_tf2.validation import check_choice, check_count, check_resolution

NONLINEARITIES = ("lrelu", "relu")


def feature_maps(fmap_base, fmap_decay, fmap_max):
    """Returns the official `nf(stage)`: min(fmap_base / 2^(stage * decay), max)."""

    def nf(stage):
        return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)

    return nf


class Mapping(keras.Model):
    """Mapping network z (+ labels) -> w, broadcast to every synthesis layer.

    Call: latents `[N, latent_size]`, labels `[N, label_size]` or None ->
    dlatents `[N, dlatent_broadcast, dlatent_size]` (or `[N, dlatent_size]`).
    """

    def __init__(
        self,
        latent_size=512,
        label_size=0,
        dlatent_size=512,
        dlatent_broadcast=None,
        mapping_layers=8,
        mapping_fmaps=512,
        mapping_lrmul=0.01,
        mapping_nonlinearity="lrelu",
        use_wscale=True,
        normalize_latents=True,
        name="G_mapping",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        with dtype_policy_scope(self.dtype_policy):
            for key, value in (
                ("latent_size", latent_size),
                ("dlatent_size", dlatent_size),
                ("mapping_fmaps", mapping_fmaps),
            ):
                check_count(key, value, 1)
            check_count("label_size", label_size)
            check_count("mapping_layers", mapping_layers)
            check_choice("mapping_nonlinearity", mapping_nonlinearity, NONLINEARITIES)
            self.latent_size, self.label_size = latent_size, label_size
            self.dlatent_size, self.dlatent_broadcast = dlatent_size, dlatent_broadcast
            self.mapping_layers, self.normalize_latents = (
                mapping_layers,
                normalize_latents,
            )
            self.dense_layers = [
                EqualizedDense(
                    dlatent_size if i == mapping_layers - 1 else mapping_fmaps,
                    gain=SQRT2,
                    use_wscale=use_wscale,
                    lrmul=mapping_lrmul,
                    activation=mapping_nonlinearity,
                    name=f"Dense{i}",
                )
                for i in range(mapping_layers)
            ]
            self.pixel_norm = PixelNorm()

    def build(self, input_shape=None):
        if self.label_size:
            self.label_embedding = self.add_weight(
                name="label_embedding",
                shape=(self.label_size, self.latent_size),
                initializer=keras.initializers.RandomNormal(0.0, 1.0),
            )
        features = self.latent_size * (2 if self.label_size else 1)
        for layer in self.dense_layers:
            layer.build((None, features))
            features = layer.units
        if features != self.dlatent_size:
            raise ValueError(
                f"With mapping_layers=0, `dlatent_size` ({self.dlatent_size}) must "
                f"equal "
                f"the latent width ({features})."
            )

    def call(self, latents, labels=None):
        x = tf.cast(latents, self.compute_dtype)
        # Embed labels and concatenate them with the latents.
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.name} needs labels [N, {self.label_size}].")
            embedded = tf.matmul(
                tf.cast(labels, x.dtype), tf.cast(self.label_embedding, x.dtype)
            )
            x = tf.concat([x, embedded], axis=1)
        if self.normalize_latents:
            x = self.pixel_norm(x)
        for layer in self.dense_layers:
            x = layer(x)
        if self.dlatent_broadcast is not None:
            x = tf.tile(x[:, tf.newaxis], [1, self.dlatent_broadcast, 1])
        return x

    def official_variable_map(self):
        out = {}
        if self.label_size:
            out["G_mapping/LabelConcat/weight"] = (self.label_embedding, official.SAME)
        for i, layer in enumerate(self.dense_layers):
            out[f"G_mapping/Dense{i}/weight"] = (layer.weight, official.SAME)
            out[f"G_mapping/Dense{i}/bias"] = (layer.bias, official.SAME)
        return out


class LayerEpilogue(keras.layers.Layer):
    """noise -> bias -> activation -> pixel/instance norm -> style, per layer.

    Call: x `[N, H, W, C]`, dlatent `[N, dlatent_size]` -> `[N, H, W, C]`.
    """

    def __init__(
        self,
        use_noise,
        use_pixel_norm,
        use_instance_norm,
        use_styles,
        use_wscale,
        nonlinearity,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.nonlinearity = nonlinearity
        self.noise = NoiseInput(name="noise") if use_noise else None
        self.bias = Bias(name="bias")
        self.pixel_norm = PixelNorm() if use_pixel_norm else None
        self.instance_norm = InstanceNorm() if use_instance_norm else None
        self.style = (
            StyleMod(use_wscale=use_wscale, name="style") if use_styles else None
        )

    def build(self, x_shape, dlatent_shape):
        if self.noise is not None:
            self.noise.build(x_shape)
        self.bias.build(x_shape)
        if self.style is not None:
            self.style.build(x_shape, dlatent_shape)

    def call(self, x, dlatent, randomize_noise=True, noise_seed=None):
        if self.noise is not None:
            x = self.noise(x, randomize_noise=randomize_noise, seed=noise_seed)
        x = apply_activation(self.bias(x), self.nonlinearity)
        if self.pixel_norm is not None:
            x = self.pixel_norm(x)
        if self.instance_norm is not None:
            x = self.instance_norm(x)
        if self.style is not None:
            x = self.style(x, dlatent)
        return x

    def official_variable_map(self, scope, layer_idx):
        out = {}
        if self.noise is not None:
            out[f"G_synthesis/noise{layer_idx}"] = (
                self.noise.noise,
                official.NCHW_IMAGE,
            )
            out[f"{scope}/Noise/weight"] = (self.noise.weight, official.SAME)
        out[f"{scope}/bias"] = (self.bias.bias, official.SAME)
        if self.style is not None:
            out[f"{scope}/StyleMod/weight"] = (self.style.dense.weight, official.SAME)
            out[f"{scope}/StyleMod/bias"] = (self.style.dense.bias, official.SAME)
        return out


class Synthesis(keras.Model):
    """Synthesis network w -> image pyramid (official `G_synthesis`).

    Call: dlatents `[N, num_layers, dlatent_size]` -> list of
    `[N, R, R, num_channels]`, R = 4, 8, ..., resolution (4x4 first).
    `noise_seed` (int32 `[2]`) makes random noise reproducible.
    """

    def __init__(
        self,
        dlatent_size=512,
        num_channels=3,
        resolution=1024,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        use_styles=True,
        const_input_layer=True,
        use_noise=True,
        nonlinearity="lrelu",
        use_wscale=True,
        use_pixel_norm=False,
        use_instance_norm=True,
        fused_scale="auto",
        blur_filter=(1, 2, 1),
        name="G_synthesis",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        with dtype_policy_scope(self.dtype_policy):
            self.resolution_log2 = check_resolution(resolution)
            check_count("num_channels", num_channels, 1)
            check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
            check_choice("fused_scale", fused_scale, (True, False, "auto"))
            self.dlatent_size, self.num_channels = dlatent_size, num_channels
            self.const_input_layer = const_input_layer
            self.num_layers = self.resolution_log2 * 2 - 2
            self.num_styles = self.num_layers if use_styles else 1
            self.use_styles, self.nonlinearity = use_styles, nonlinearity
            self.nf = feature_maps(fmap_base, fmap_decay, fmap_max)
            nf = self.nf

            def epilogue(idx):
                return LayerEpilogue(
                    bool(use_noise),
                    use_pixel_norm,
                    use_instance_norm,
                    use_styles,
                    use_wscale,
                    nonlinearity,
                    name=f"epilogue{idx}",
                )

            def conv(fmaps, kernel, **kw):
                return EqualizedConv2D(
                    fmaps, kernel, use_wscale=use_wscale, use_bias=False, **kw
                )

            # Build the 4x4 input, then two convolutions per resolution.
            if not const_input_layer:
                self.input_dense = EqualizedDense(
                    nf(1) * 16, gain=SQRT2 / 4, use_wscale=use_wscale, use_bias=False
                )
            self.convs = [None, conv(nf(1), 3, name="4x4_Conv")]
            self.blurs = {}
            for res in range(3, self.resolution_log2 + 1):
                self.convs.append(
                    conv(nf(res - 1), 3, resample="up", fused_scale=fused_scale)
                )
                self.convs.append(conv(nf(res - 1), 3))
                if blur_filter:
                    self.blurs[res] = Blur(blur_filter)
            self.epilogues = [epilogue(i) for i in range(self.num_layers)]
            self.torgbs = [
                EqualizedConv2D(num_channels, 1, gain=1.0, use_wscale=use_wscale)
                for _ in range(2, self.resolution_log2 + 1)
            ]

    def layer_scope(self, layer_idx):
        """Official variable scope of synthesis layer `layer_idx`."""
        res = layer_idx // 2 + 2
        if res == 2:
            first = "Const" if self.const_input_layer else "Dense"
            return f"4x4/{first if layer_idx == 0 else 'Conv'}"
        return f"{2**res}x{2**res}/{'Conv0_up' if layer_idx % 2 == 0 else 'Conv1'}"

    def build(self, input_shape=None):
        nf = self.nf
        dlatent_shape = (None, self.dlatent_size)
        if self.const_input_layer:
            self.const = self.add_weight(
                name="const", shape=(1, 4, 4, nf(1)), initializer="ones"
            )
        else:
            self.input_dense.build(dlatent_shape)
        shape = (None, 4, 4, nf(1))
        for idx in range(self.num_layers):
            if self.convs[idx] is not None:
                self.convs[idx].build(shape)
                shape = self.convs[idx].compute_output_shape(shape)
            self.epilogues[idx].build(shape, dlatent_shape)
            if idx % 2 == 1:
                self.torgbs[idx // 2].build(shape)

    def call(self, dlatents, randomize_noise=True, noise_seed=None):
        dlatents = tf.cast(dlatents, self.compute_dtype)

        def style(idx):
            return dlatents[:, idx if self.use_styles else 0]

        if self.const_input_layer:
            x = tf.tile(
                tf.cast(self.const, dlatents.dtype), [tf.shape(dlatents)[0], 1, 1, 1]
            )
        else:
            x = tf.reshape(self.input_dense(dlatents[:, 0]), [-1, 4, 4, self.nf(1)])
        images = []
        for idx in range(self.num_layers):
            if self.convs[idx] is not None:
                x = self.convs[idx](x)
                res = idx // 2 + 2
                if idx % 2 == 0 and res in self.blurs:
                    x = self.blurs[res](x)
            seed = None
            if noise_seed is not None:
                seed = tf.random.experimental.stateless_fold_in(noise_seed, idx)
            x = self.epilogues[idx](
                x, style(idx), randomize_noise=randomize_noise, noise_seed=seed
            )
            if idx % 2 == 1:
                images.append(self.torgbs[idx // 2](x))
        return images

    def official_variable_map(self):
        prefix = "G_synthesis/"
        out = {}
        if self.const_input_layer:
            out[prefix + "4x4/Const/const"] = (self.const, official.NCHW_IMAGE)
        else:
            layout = official.flatten_cols(self.nf(1), 4, 4)
            out[prefix + "4x4/Dense/weight"] = (self.input_dense.weight, layout)
        for idx in range(self.num_layers):
            scope = prefix + self.layer_scope(idx)
            if self.convs[idx] is not None:
                out[scope + "/weight"] = (self.convs[idx].weight, official.SAME)
            out.update(self.epilogues[idx].official_variable_map(scope, idx))
        for res, torgb in enumerate(self.torgbs, 2):
            scope = f"{prefix}ToRGB_lod{self.resolution_log2 - res}"
            out[scope + "/weight"] = (torgb.weight, official.SAME)
            out[scope + "/bias"] = (torgb.bias, official.SAME)
        return out
