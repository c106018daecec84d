"""The blocks every network is a list of (NHWC): a generator block, a
discriminator block and the MSG combine function. Each is a layer that owns its
build, call and official variable names, so each topology is written once.
Their constructor arguments are plain values: Keras's automatic `get_config`
round-trips them."""

import keras
import tensorflow as tf

from msg_stylegan_tf2.choices import COMBINE_FUNCTIONS
from msg_stylegan_tf2.networks import official
from msg_stylegan_tf2.networks.layers import (
    Bias,
    Blur,
    EqualizedConv2D,
    EqualizedDense,
    InstanceNorm,
    MinibatchStdDev,
    NoiseInput,
    PixelNorm,
    StyleMod,
    fold_in_seed,
)
from msg_stylegan_tf2.networks.ops import SQRT2, apply_activation, downscale2d
from msg_stylegan_tf2.validation import check_choice


def spectral_norm_layers(blocks):
    """A generator's equalized layers, main path (input, convolutions) first,
    then the style modulations, then the ToRGBs: the order that numbers their
    spectral-norm vectors `G/sn_u_<i>` in checkpoints (for MSG-StyleGAN's
    synthesis, reversed)."""
    layers = [layer for b in blocks for layer in (b.dense, b.conv0, b.conv1)]
    layers += [e.style.dense for b in blocks for e in b.epilogues if e.style]
    return [layer for layer in layers if layer is not None] + [b.torgb for b in blocks]


class LayerEpilogue(keras.layers.Layer):
    """What follows a generator convolution (official `layer_epilogue`): [noise],
    bias, activation, [pixel norm], [instance norm], [style modulation]; by
    default only the bias and the activation.

    Call: x `[N, H, W, C]`, dlatent `[N, dlatent_size]` (or None without
    styles) -> `[N, H, W, C]`.
    """

    def __init__(
        self,
        use_noise=False,
        use_pixel_norm=False,
        use_instance_norm=False,
        use_styles=False,
        use_wscale=True,
        nonlinearity="lrelu",
        pixel_norm_epsilon=1e-8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.nonlinearity = nonlinearity
        self.noise = NoiseInput(name="noise") if use_noise else None
        self.bias = Bias(name="bias")
        self.pixel_norm = PixelNorm(pixel_norm_epsilon) if use_pixel_norm else None
        self.instance_norm = InstanceNorm() if use_instance_norm else None
        self.style = StyleMod(use_wscale, name="style") if use_styles else None

    def build(self, x_shape, dlatent_shape=None):
        if self.noise is not None:
            self.noise.build(x_shape)
        self.bias.build(x_shape)
        if self.style is not None:
            self.style.build(x_shape, dlatent_shape)

    def call(self, x, dlatent=None, randomize_noise=True, noise_seed=None, noise=None):
        if self.noise is not None:
            x = self.noise(
                x, randomize_noise=randomize_noise, seed=noise_seed, noise=noise
            )
        x = apply_activation(self.bias(x), self.nonlinearity)
        if self.pixel_norm is not None:
            x = self.pixel_norm(x)
        if self.instance_norm is not None:
            x = self.instance_norm(x)
        if self.style is not None:
            x = self.style(x, dlatent)
        return x

    def official_variable_map(self, scope, noise_name):
        """Entries of the layer in `scope`; the stored noise is `noise_name`."""
        out = {}
        if self.noise is not None:
            out[noise_name] = (self.noise.noise, official.NCHW_IMAGE)
            out[f"{scope}/Noise/weight"] = (self.noise.weight, official.SAME)
        out[f"{scope}/bias"] = (self.bias.bias, official.SAME)
        if self.style is not None:
            out.update(official.layer_entries(f"{scope}/StyleMod", self.style.dense))
        return out


class GBlock(keras.layers.Layer):
    """One resolution r = 2**res of a generator: two layers and a ToRGB.

    At 4x4 the layers are the input, a learned constant (`4x4/Const`) or a
    dense layer from the input vector reshaped to `[4, 4, fmaps]`
    (`4x4/Dense`), and a 3x3 conv (`4x4/Conv`); above, a 3x3 conv with 2x
    upsampling, then the blur (`Conv0_up`), and a 3x3 conv (`Conv1`). Each is
    bias-free and followed by a `LayerEpilogue` made from the options
    `epilogue`, which adds the bias. ToRGB (`ToRGB_lod<k>`) is a 1x1 conv.
    With `progan` the names and layouts are ProGAN's (`G_paper`): the
    upsampling conv is `Conv0` unless fused, and fused it is `[k, k, out, in]`.

    Call: x `[N, r/2, r/2, C]` (at 4x4 the input vector `[N, F]`, of which a
    constant input uses only N), styles `[N, 2, dlatent_size]` or None ->
    `(x, image)`: `[N, r, r, fmaps]` and `[N, r, r, num_channels]`.
    """

    def __init__(
        self,
        res,
        fmaps,
        num_channels,
        epilogue=None,
        const_input_layer=True,
        use_wscale=True,
        fused_scale="auto",
        blur_filter=(1, 2, 1),
        progan=False,
        **kwargs,
    ):
        super().__init__(**{"name": f"{2**res}x{2**res}", **kwargs})
        self.res, self.fmaps, self.progan = res, fmaps, progan
        self.layer_idx = 2 * (res - 2)  # Of the first layer, in the network.
        # The input (4x4) or the upsampling conv, then the second conv.
        self.dense = self.conv0 = self.blur = None
        if res == 2 and not const_input_layer:
            self.dense = EqualizedDense(
                fmaps * 16, gain=SQRT2 / 4, use_wscale=use_wscale, use_bias=False
            )
        elif res > 2:
            self.conv0 = EqualizedConv2D(
                fmaps,
                3,
                resample="up",
                fused_scale=fused_scale,
                use_wscale=use_wscale,
                use_bias=False,
            )
            if blur_filter:
                self.blur = Blur(blur_filter)
        self.conv1 = EqualizedConv2D(fmaps, 3, use_wscale=use_wscale, use_bias=False)
        self.epilogues = [
            LayerEpilogue(**(epilogue or {}), name=f"epilogue{i}") for i in (0, 1)
        ]
        self.torgb = EqualizedConv2D(num_channels, 1, gain=1.0, use_wscale=use_wscale)

    def build(self, x_shape, styles_shape=None):
        dlatent_shape = None if styles_shape is None else (None, styles_shape[-1])
        if self.conv0 is not None:
            self.conv0.build(x_shape)
        elif self.dense is not None:
            self.dense.build(x_shape)
        else:
            self.const = self.add_weight(
                name="const", shape=(1, 4, 4, self.fmaps), initializer="ones"
            )
        shape = (x_shape[0], 2**self.res, 2**self.res, self.fmaps)
        self.epilogues[0].build(shape, dlatent_shape)
        self.conv1.build(shape)
        self.epilogues[1].build(shape, dlatent_shape)
        self.torgb.build(shape)

    def call(self, x, styles=None, randomize_noise=True, noise_seed=None, noise=None):
        # `noise`: None, or this block's two layers' noise maps (see NoiseInput).
        if self.conv0 is not None:
            x = self.conv0(x)
            if self.blur is not None:
                x = self.blur(x)
        elif self.dense is not None:
            x = tf.reshape(self.dense(x), [-1, 4, 4, self.fmaps])
        else:
            x = tf.tile(tf.cast(self.const, x.dtype), [tf.shape(x)[0], 1, 1, 1])
        for i, epilogue in enumerate(self.epilogues):
            if i:
                x = self.conv1(x)
            # The style and noise seed of layer 2 * (res - 2) + i of the network.
            style = None if styles is None else styles[:, i]
            seed = noise_seed
            if seed is not None:
                seed = fold_in_seed(seed, self.layer_idx + i)
            x = epilogue(
                x,
                style,
                randomize_noise=randomize_noise,
                noise_seed=seed,
                noise=None if noise is None else noise[i],
            )
        return x, self.torgb(x)

    def official_variable_map(self, prefix, lod):
        """`{official_name: (variable, layout)}` under `prefix` ("G_synthesis/",
        or "G/" for ProGAN); `lod` = log2(resolution) - res names the ToRGB."""
        side = f"{prefix}{2**self.res}x{2**self.res}"
        out = {}
        if self.conv0 is not None:
            fused_progan = self.progan and self.conv0.fused
            first = "Conv0" if self.progan and not self.conv0.fused else "Conv0_up"
            layout = official.TRANSPOSE_IO if fused_progan else official.SAME
            out.update(official.layer_entries(f"{side}/{first}", self.conv0, layout))
        elif self.dense is not None:
            first, layout = "Dense", official.flatten_cols(self.fmaps, 4, 4)
            out.update(official.layer_entries(f"{side}/Dense", self.dense, layout))
        else:
            first = "Const"
            out[f"{side}/Const/const"] = (self.const, official.NCHW_IMAGE)
        second = "Conv1" if self.conv0 is not None else "Conv"
        out.update(official.layer_entries(f"{side}/{second}", self.conv1))
        for i, scope in enumerate((first, second)):
            noise = f"{prefix}noise{self.layer_idx + i}"
            out.update(
                self.epilogues[i].official_variable_map(f"{side}/{scope}", noise)
            )
        out.update(official.layer_entries(f"{prefix}ToRGB_lod{lod}", self.torgb))
        return out


class Combine(keras.layers.Layer):
    """The MSG combine function phi: merges a pyramid level into the
    discriminator's activation of the same resolution.

    `simple`: concat(image, x) (paper). `lin_cat`: concat(conv1x1(image), x),
    the conv with `fmaps // 2` outputs and the activation (BMSG-GAN; official
    name `FromRGB_lod<k>`). `cat_lin`: a linear bias-free conv1x1 of
    concat(x, image) to `fmaps` (msg-stylegan-tf's default; `<r>x<r>/combine`).

    Call: x `[N, r, r, C]`, image `[N, r, r, c]` -> `[N, r, r, C']`, C' =
    C + c, C + fmaps // 2 or fmaps.
    """

    def __init__(
        self,
        combine,
        fmaps,
        nonlinearity="lrelu",
        use_wscale=True,
        spectral_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("combine", combine, COMBINE_FUNCTIONS)
        self.combine, self.fmaps = combine, fmaps
        self.conv = None
        if combine != "simple":
            lin_cat = combine == "lin_cat"
            self.conv = EqualizedConv2D(
                fmaps // 2 if lin_cat else fmaps,
                1,
                activation=nonlinearity if lin_cat else "linear",
                use_bias=lin_cat,
                use_wscale=use_wscale,
                spectral_norm=spectral_norm,
            )

    def build(self, x_shape, image_shape):
        if self.combine == "cat_lin":
            self.conv.build((*x_shape[:3], x_shape[3] + image_shape[3]))
        elif self.combine == "lin_cat":
            self.conv.build(image_shape)

    def call(self, x, image):
        if self.combine == "cat_lin":
            return self.conv(tf.concat([x, image], axis=-1))
        if self.combine == "lin_cat":
            image = self.conv(image)
        return tf.concat([image, x], axis=-1)

    def compute_output_shape(self, x_shape, image_shape):
        channels = {
            "simple": x_shape[3] + image_shape[3],
            "lin_cat": x_shape[3] + self.fmaps // 2,
            "cat_lin": self.fmaps,
        }[self.combine]
        return (*x_shape[:3], channels)

    def official_variable_map(self, scope, fromrgb_scope):
        """Entries of the combine of the block `scope` (`D/<r>x<r>`); `lin_cat`'s
        conv is named `fromrgb_scope` (`D/FromRGB_lod<k>`)."""
        if self.conv is None:
            return {}
        name = f"{scope}/combine" if self.combine == "cat_lin" else fromrgb_scope
        return official.layer_entries(name, self.conv, spectral_state=True)


class DBlock(keras.layers.Layer):
    """One resolution r = 2**res of a discriminator, from side r to r / 2.

    [FromRGB (1x1, `FromRGB_lod<k>`) or the MSG combine,] [minibatch stddev,]
    a 3x3 conv (`<r>x<r>/Conv0`), [the blur,] a 3x3 conv with 2x downsampling
    (`Conv1_down`). At 4x4 the head replaces the last conv: a 3x3 conv
    (`4x4/Conv`), a dense layer to `fmaps_out` (`Dense0`) and a linear one to
    `units` (`Dense1`). With `progan` an unfused downsampling conv is ProGAN's
    (`D_paper`): `Conv1`, then 2x2 pooling after its activation.

    Call: x `[N, r, r, fmaps]`, or None to start from FromRGB of the image;
    image `[N, r, r, num_channels]` (what the combine merges into x) or None ->
    `[N, r/2, r/2, fmaps_out]`, at 4x4 `[N, units]`.
    """

    def __init__(
        self,
        res,
        fmaps,
        fmaps_out,
        fromrgb=False,
        combine=None,
        units=1,
        mbstd_group_size=4,
        mbstd_num_features=1,
        nonlinearity="lrelu",
        use_wscale=True,
        spectral_norm=False,
        fused_scale="auto",
        blur_filter=(1, 2, 1),
        progan=False,
        **kwargs,
    ):
        super().__init__(**{"name": f"{2**res}x{2**res}", **kwargs})
        self.res, self.fmaps, self.fmaps_out = res, fmaps, fmaps_out
        self.pool = progan and not fused_scale
        # The input, the statistics, then the convolutions (or the head).
        options = dict(use_wscale=use_wscale, spectral_norm=spectral_norm)
        act = dict(activation=nonlinearity, **options)
        self.fromrgb = EqualizedConv2D(fmaps, 1, **act) if fromrgb else None
        self.combiner = None
        if combine is not None:
            self.combiner = Combine(combine, fmaps, nonlinearity, **options)
        self.mbstd = None
        if mbstd_group_size > 1:
            self.mbstd = MinibatchStdDev(mbstd_group_size, mbstd_num_features)
        self.conv0 = EqualizedConv2D(fmaps, 3, **act)
        self.blur = self.conv1 = self.dense0 = self.dense1 = None
        if res > 2:
            if blur_filter:
                self.blur = Blur(blur_filter)
            down = {} if self.pool else {"resample": "down", "fused_scale": fused_scale}
            self.conv1 = EqualizedConv2D(fmaps_out, 3, **down, **act)
        else:
            self.dense0 = EqualizedDense(fmaps_out, gain=SQRT2, **act)
            self.dense1 = EqualizedDense(units, gain=1.0, **options)

    def build(self, x_shape, image_shape):
        if self.fromrgb is not None and not self.fromrgb.built:
            self.fromrgb.build(image_shape)
        if self.combiner is not None:
            self.combiner.build(x_shape, image_shape)
            x_shape = self.combiner.compute_output_shape(x_shape, image_shape)
        if self.mbstd is not None:
            self.mbstd.build(x_shape)
            x_shape = self.mbstd.compute_output_shape(x_shape)
        self.conv0.build(x_shape)
        x_shape = self.conv0.compute_output_shape(x_shape)
        if self.conv1 is not None:
            self.conv1.build(x_shape)
        else:
            self.dense0.build(x_shape)
            self.dense1.build((None, self.fmaps_out))

    def call(self, x, image=None):
        if x is None:
            x = self.fromrgb(image)
        elif self.combiner is not None:
            x = self.combiner(x, image)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv0(x)
        if self.conv1 is None:
            return self.dense1(self.dense0(x))
        if self.blur is not None:
            x = self.blur(x)
        x = self.conv1(x)
        return downscale2d(x) if self.pool else x

    def official_variable_map(self, prefix, lod):
        """`{official_name: (variable, layout)}` under `prefix` ("D/"); `lod` =
        log2(resolution) - res names FromRGB. Spectral-norm vectors (not
        official) are `<scope>/sn_u`."""
        side, fromrgb = (
            f"{prefix}{2**self.res}x{2**self.res}",
            f"{prefix}FromRGB_lod{lod}",
        )
        if self.conv1 is not None:
            down = "Conv1" if self.pool else "Conv1_down"
            named = {"Conv0": self.conv0, down: self.conv1}
        else:
            named = {"Conv": self.conv0, "Dense0": self.dense0, "Dense1": self.dense1}
        layers = {fromrgb: self.fromrgb, **{f"{side}/{k}": v for k, v in named.items()}}
        out = {}
        if self.combiner is not None:
            out.update(self.combiner.official_variable_map(side, fromrgb))
        for name, layer in layers.items():
            if layer is None:
                continue
            # Dense0 takes the 4x4 map flattened, the official code in NCHW order.
            layout = official.SAME
            if layer is self.dense0:
                layout = official.flatten_rows(self.fmaps, 4, 4)
            out.update(official.layer_entries(name, layer, layout, spectral_state=True))
        return out
