"""MSG discriminator: takes the whole image pyramid (official `D_basic`), NHWC.

The full-resolution image enters through FromRGB; every lower-resolution image is
merged into the activation of its resolution by a combine function phi:
`simple` concat(rgb, x) (paper), `lin_cat` concat(fromrgb(rgb), x) with half the
block's channels (BMSG-GAN), `cat_lin` bias-free conv1x1(concat(x, rgb)) (the
official msg-stylegan-tf default). Minibatch stddev runs in every block.
"""

import keras
import tensorflow as tf

from msg_stylegan_tf2 import official
from msg_stylegan_tf2.layers import (
    SQRT2,
    Blur,
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStdDev,
    dtype_policy_scope,
)
from msg_stylegan_tf2.synthesis import NONLINEARITIES, feature_maps
from msg_stylegan_tf2.validation import check_choice, check_count, check_resolution

COMBINE_FUNCTIONS = ("simple", "lin_cat", "cat_lin")


def check_pyramid(images, resolution_log2, num_channels=None):
    """Raises ValueError unless `images` is a pyramid 4x4 first up to 2^log2."""
    if not isinstance(images, (list, tuple)) or len(images) != resolution_log2 - 1:
        count = len(images) if isinstance(images, (list, tuple)) else type(images)
        raise ValueError(
            f"Expected a pyramid of {resolution_log2 - 1} images (4x4 first). "
            f"Received: {count}"
        )
    for i, image in enumerate(images):
        side = 4 * 2**i
        shape = tuple(image.shape)
        if len(shape) != 4 or shape[1] != side or shape[2] != side:
            raise ValueError(
                f"Pyramid level {i} must be [N, {side}, {side}, C]. Received: {shape}"
            )
        if num_channels is not None and shape[3] != num_channels:
            raise ValueError(
                f"Pyramid level {i} must have {num_channels} channels. "
                f"Received: {shape}"
            )


class Discriminator(keras.Model):
    """MSG discriminator over an image pyramid (official `D_basic` kwargs).

    Call: images, list of `[N, R, R, num_channels]` with R = 4, 8, ...,
    resolution; labels `[N, label_size]` or None -> scores `[N, 1]`.
    """

    def __init__(
        self,
        num_channels=1,
        resolution=32,
        label_size=0,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        nonlinearity="lrelu",
        use_wscale=True,
        mbstd_group_size=4,
        mbstd_num_features=1,
        fused_scale="auto",
        blur_filter=(1, 2, 1),
        combine="cat_lin",
        spectral_norm=False,
        dtype=None,
        name="D",
    ):
        options = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__(name=name, dtype=dtype)
        with dtype_policy_scope(self.dtype_policy):
            if isinstance(blur_filter, list):
                options["blur_filter"] = tuple(blur_filter)
            self.kwargs = {k: v for k, v in options.items() if k != "name"}
            self.resolution_log2 = check_resolution(resolution, minimum=8)
            check_count("num_channels", num_channels, 1)
            check_count("label_size", label_size)
            check_count("mbstd_group_size", mbstd_group_size)
            check_count("mbstd_num_features", mbstd_num_features, 1)
            check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
            check_choice("fused_scale", fused_scale, (True, False, "auto"))
            check_choice("combine", combine, COMBINE_FUNCTIONS)
            self.num_channels, self.label_size, self.combine = (
                num_channels,
                label_size,
                combine,
            )
            self.nf = nf = feature_maps(fmap_base, fmap_decay, fmap_max)
            act = nonlinearity
            log2 = self.resolution_log2

            def conv(fmaps, kernel, **kw):
                return EqualizedConv2D(
                    fmaps,
                    kernel,
                    use_wscale=use_wscale,
                    spectral_norm=spectral_norm,
                    **kw,
                )

            # Build the input, the blocks from full resolution down, and the 4x4 head.
            self.fromrgb = conv(nf(log2 - 1), 1, activation=act, name="FromRGB_lod0")
            self.combiners, self.mbstd, self.conv0, self.conv1, self.blurs = (
                {},
                {},
                {},
                {},
                {},
            )
            for res in range(log2, 1, -1):
                if res < log2 and combine == "cat_lin":
                    self.combiners[res] = conv(nf(res - 1), 1, use_bias=False)
                elif res < log2 and combine == "lin_cat":
                    self.combiners[res] = conv(nf(res - 1) // 2, 1, activation=act)
                if mbstd_group_size > 1:
                    self.mbstd[res] = MinibatchStdDev(
                        mbstd_group_size, mbstd_num_features
                    )
                self.conv0[res] = conv(nf(res - 1), 3, activation=act)
                if res >= 3:
                    self.conv1[res] = conv(
                        nf(res - 2),
                        3,
                        activation=act,
                        resample="down",
                        fused_scale=fused_scale,
                    )
                    if blur_filter:
                        self.blurs[res] = Blur(blur_filter)
            self.dense0 = EqualizedDense(
                nf(0),
                gain=SQRT2,
                use_wscale=use_wscale,
                activation=act,
                spectral_norm=spectral_norm,
            )
            self.dense1 = EqualizedDense(
                max(label_size, 1),
                gain=1.0,
                use_wscale=use_wscale,
                spectral_norm=spectral_norm,
            )

    @property
    def resolution(self):
        return 2**self.resolution_log2

    def build(self, input_shape=None):
        c = self.num_channels
        shape = (None, self.resolution, self.resolution, c)
        self.fromrgb.build(shape)
        shape = self.fromrgb.compute_output_shape(shape)
        for res in range(self.resolution_log2, 1, -1):
            if res in self.combiners:
                rgb = (None, 2**res, 2**res, c)
                if self.combine == "cat_lin":
                    self.combiners[res].build(shape[:3] + (shape[3] + c,))
                    shape = self.combiners[res].compute_output_shape(shape)
                else:
                    self.combiners[res].build(rgb)
                    extra = self.combiners[res].filters
                    shape = shape[:3] + (shape[3] + extra,)
            elif self.combine == "simple" and res < self.resolution_log2:
                shape = shape[:3] + (shape[3] + c,)
            if res in self.mbstd:
                self.mbstd[res].build(shape)
                shape = self.mbstd[res].compute_output_shape(shape)
            self.conv0[res].build(shape)
            shape = self.conv0[res].compute_output_shape(shape)
            if res >= 3:
                self.conv1[res].build(shape)
                shape = self.conv1[res].compute_output_shape(shape)
        self.dense0.build(shape)
        self.dense1.build((None, self.dense0.units))

    def _merge(self, x, rgb, res):
        # Apply the combine function phi to the activation and the image.
        if self.combine == "cat_lin":
            return self.combiners[res](tf.concat([x, rgb], axis=-1))
        if self.combine == "lin_cat":
            rgb = self.combiners[res](rgb)
        return tf.concat([rgb, x], axis=-1)

    def call(self, images, labels=None):
        check_pyramid(images, self.resolution_log2, self.num_channels)
        images = [tf.cast(image, self.compute_dtype) for image in images]
        x = self.fromrgb(images[-1])
        for res in range(self.resolution_log2, 1, -1):
            if res < self.resolution_log2:
                x = self._merge(x, images[res - 2], res)
            if res in self.mbstd:
                x = self.mbstd[res](x)
            x = self.conv0[res](x)
            if res >= 3:
                if res in self.blurs:
                    x = self.blurs[res](x)
                x = self.conv1[res](x)
        scores = self.dense1(self.dense0(x))
        # Condition on labels by selecting the score of the label's class.
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.name} needs labels [N, {self.label_size}].")
            scores = tf.reduce_sum(
                scores * tf.cast(labels, scores.dtype), axis=1, keepdims=True
            )
        return scores

    def official_variable_map(self):
        log2 = self.resolution_log2
        out = {}

        def add(scope, layer, layout=official.SAME):
            out[f"D/{scope}/weight"] = (layer.weight, layout)
            if layer.bias is not None:
                out[f"D/{scope}/bias"] = (layer.bias, official.SAME)
            if layer.sn_u is not None:  # Not official: spectral norm's state.
                out[f"D/{scope}/sn_u"] = (layer.sn_u, official.SAME)

        add("FromRGB_lod0", self.fromrgb)
        for res in range(log2, 1, -1):
            scope = f"{2**res}x{2**res}"
            if self.combine == "cat_lin" and res in self.combiners:
                add(f"{scope}/combine", self.combiners[res])
            elif res in self.combiners:
                add(f"FromRGB_lod{log2 - res}", self.combiners[res])
            if res >= 3:
                add(f"{scope}/Conv0", self.conv0[res])
                add(f"{scope}/Conv1_down", self.conv1[res])
            else:
                add(f"{scope}/Conv", self.conv0[res])
        channels = self.conv0[2].filters
        add("4x4/Dense0", self.dense0, official.flatten_rows(channels, 4, 4))
        add("4x4/Dense1", self.dense1)
        return out

    def get_config(self):
        return dict(self.kwargs, name=self.name)
