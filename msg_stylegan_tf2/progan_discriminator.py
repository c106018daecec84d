"""ProGAN's discriminator `D_paper`, with progressive growing, NHWC.

A FromRGB at every resolution; per resolution a 3x3 convolution and a 3x3
convolution with 2x downsampling (fused or conv-then-pool); at 4x4 minibatch
stddev, a 3x3 convolution and two dense layers. The output has `1 + label_size`
columns: the score, then AC-GAN label logits. The level of detail `lod`
(`D/lod`, see `fade.py`) selects the input resolution and the fade.
"""

import keras
import tensorflow as tf

from msg_stylegan_tf2 import official
from msg_stylegan_tf2.fade import add_lod_variable, lerp, lerp_clip
from msg_stylegan_tf2.layers import (
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStdDev,
    downscale2d,
    dtype_policy_scope,
)
from msg_stylegan_tf2.synthesis import feature_maps
from msg_stylegan_tf2.validation import check_count, check_resolution


class ProGANDiscriminator(keras.Model):
    """ProGAN `D_paper` (official kwargs).

    Call: full-resolution images `[N, R, R, C]` (or a pyramid, whose last level
    is used) -> scores `[N, 1]` at the level of detail held in `lod`; with
    `return_label_logits`, also `[N, label_size]`. `grow` is the training path.
    """

    def __init__(
        self,
        num_channels=1,
        resolution=32,
        label_size=0,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        use_wscale=True,
        mbstd_group_size=4,
        fused_scale=True,
        spectral_norm=False,
        dtype=None,
        name="D",
    ):
        options = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__(name=name, dtype=dtype)
        with dtype_policy_scope(self.dtype_policy):
            self.kwargs = {k: v for k, v in options.items() if k != "name"}
            self.resolution_log2 = log2 = check_resolution(resolution)
            check_count("num_channels", num_channels, 1)
            check_count("label_size", label_size)
            check_count("mbstd_group_size", mbstd_group_size)
            if fused_scale not in (True, False):
                raise ValueError(
                    f"`fused_scale` must be a bool. Received: {fused_scale!r}"
                )
            self.num_channels, self.label_size = num_channels, label_size
            self.fused_scale = fused_scale
            self.nf = nf = feature_maps(fmap_base, fmap_decay, fmap_max)

            def conv(fmaps, kernel, **kw):
                return EqualizedConv2D(
                    fmaps,
                    kernel,
                    use_wscale=use_wscale,
                    spectral_norm=spectral_norm,
                    activation="lrelu",
                    **kw,
                )

            # FromRGB per resolution, two convolutions per block, the 4x4 head.
            self.fromrgbs = {res: conv(nf(res - 1), 1) for res in range(2, log2 + 1)}
            self.conv0, self.conv1 = {}, {}
            for res in range(log2, 2, -1):
                self.conv0[res] = conv(nf(res - 1), 3)
                down = {"resample": "down", "fused_scale": True} if fused_scale else {}
                self.conv1[res] = conv(nf(res - 2), 3, **down)
            self.mbstd = (
                MinibatchStdDev(mbstd_group_size, 1) if mbstd_group_size > 1 else None
            )
            self.conv4 = conv(nf(1), 3)
            self.dense0 = EqualizedDense(
                nf(0),
                use_wscale=use_wscale,
                activation="lrelu",
                spectral_norm=spectral_norm,
            )
            self.dense1 = EqualizedDense(
                1 + label_size,
                gain=1.0,
                use_wscale=use_wscale,
                spectral_norm=spectral_norm,
            )
            self.lod = add_lod_variable(self)

    @property
    def resolution(self):
        return 2**self.resolution_log2

    def build(self, input_shape=None):
        c = self.num_channels
        for res, layer in self.fromrgbs.items():
            layer.build((None, 2**res, 2**res, c))
        for res in self.conv0:
            side = 2**res
            self.conv0[res].build((None, side, side, self.nf(res - 1)))
            self.conv1[res].build((None, side, side, self.nf(res - 1)))
        shape = (None, 4, 4, self.nf(1))
        if self.mbstd is not None:
            self.mbstd.build(shape)
            shape = self.mbstd.compute_output_shape(shape)
        self.conv4.build(shape)
        self.dense0.build((None, 4 * 4 * self.nf(1)))
        self.dense1.build((None, self.dense0.units))

    def _block(self, x, res):
        # One resolution's convolutions: [N, r, r, nf(res-1)] -> [N, r/2, r/2, ...].
        if res >= 3:
            x = self.conv1[res](self.conv0[res](x))
            return x if self.fused_scale else downscale2d(x)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv4(x)
        x = tf.reshape(x, [-1, 4 * 4 * self.nf(1)])
        return self.dense1(self.dense0(x))

    def _outputs(self, combo, return_label_logits):
        scores = combo[:, :1]
        return (scores, combo[:, 1:]) if return_label_logits else scores

    def call(self, images, labels=None, return_label_logits=False):
        # AC-GAN: D predicts labels rather than taking them; `labels` is unused.
        del labels
        if isinstance(images, (list, tuple)):
            images = images[-1]
        img = tf.cast(images, self.compute_dtype)
        lod_in = tf.cast(self.lod, self.compute_dtype)
        log2 = self.resolution_log2
        # The official linear structure: every resolution, faded by lod.
        x = self.fromrgbs[log2](img)
        for res in range(log2, 2, -1):
            x = self._block(x, res)
            img = downscale2d(img)
            y = self.fromrgbs[res - 1](img)
            x = lerp_clip(x, y, lod_in - (log2 - res))
        return self._outputs(self._block(x, 2), return_label_logits)

    def grow(self, image, alpha, return_label_logits=False):
        """Scores of images at the current resolution (training path).

        Args:
            image: `[N, r, r, C]`, r = R / 2^floor(lod) (static).
            alpha: scalar, `lod - floor(lod)`: weight of the lower resolution.

        Returns:
            scores `[N, 1]` (and label logits), equal to `call` on the
            nearest-upscaled image with `lod = log2(R / r) + alpha`.
        """
        res = int(image.shape[1]).bit_length() - 1
        image = tf.cast(image, self.compute_dtype)
        x = self._block(self.fromrgbs[res](image), res)
        if res > 2:
            alpha = tf.cast(alpha, x.dtype)
            x = lerp(x, self.fromrgbs[res - 1](downscale2d(image)), alpha)
            for lower in range(res - 1, 1, -1):
                x = self._block(x, lower)
        return self._outputs(x, return_label_logits)

    def official_variable_map(self):
        log2 = self.resolution_log2
        out = {}

        def add(scope, layer, layout=official.SAME):
            out[f"D/{scope}/weight"] = (layer.weight, layout)
            out[f"D/{scope}/bias"] = (layer.bias, official.SAME)
            if layer.sn_u is not None:  # Not official: spectral norm's state.
                out[f"D/{scope}/sn_u"] = (layer.sn_u, official.SAME)

        for res in range(log2, 1, -1):
            add(f"FromRGB_lod{log2 - res}", self.fromrgbs[res])
        for res in range(log2, 2, -1):
            scope = f"{2**res}x{2**res}"
            add(f"{scope}/Conv0", self.conv0[res])
            add(
                f"{scope}/Conv1_down" if self.fused_scale else f"{scope}/Conv1",
                self.conv1[res],
            )
        add("4x4/Conv", self.conv4)
        add("4x4/Dense0", self.dense0, official.flatten_rows(self.nf(1), 4, 4))
        add("4x4/Dense1", self.dense1)
        out["D/lod"] = (self.lod, official.SAME)
        return out

    def get_config(self):
        return dict(self.kwargs, name=self.name)
