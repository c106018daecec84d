"""ProGAN's generator `G_paper` (NHWC): MSG-ProGAN's, and ProGAN's own.

Paper appendix (table 6): normalised latent, a 4x4 block (dense to 4x4, 3x3
conv), then per resolution 2x upsampling and two 3x3 convolutions, each followed
by leaky ReLU and PixelNorm; a 1x1 ToRGB at every resolution. MSG-ProGAN emits
every ToRGB; with `progressive=True` it is ProGAN, whose one image is faded by
the level of detail `G/lod` (see `fade.py`).
"""

import keras
import tensorflow as tf

from msg_stylegan_tf2 import official
from msg_stylegan_tf2.fade import add_lod_variable, lerp, lerp_clip
from msg_stylegan_tf2.layers import (
    SQRT2,
    Bias,
    EqualizedConv2D,
    EqualizedDense,
    PixelNorm,
    apply_activation,
    dtype_policy_scope,
    enable_spectral_norm,
    upscale2d,
)
from msg_stylegan_tf2.pyramid import downsample_pyramid
from msg_stylegan_tf2.synthesis import feature_maps
from msg_stylegan_tf2.validation import check_choice, check_count, check_resolution


def _check_no_truncation(psi):
    if psi is not None and psi != 1:
        raise ValueError(
            "ProGAN generators have no truncation trick (no W space). "
            f"Received truncation_psi={psi}; use 1 or none."
        )


class ProGANGenerator(keras.Model):
    """MSG-ProGAN generator (official ProGAN `G_paper` kwargs).

    Labels, when `label_size` > 0, are concatenated to the latents before the
    normalisation, as ProGAN does.

    Call: latents `[N, latent_size]`, labels `[N, label_size]` or None ->
    list of `[N, R, R, num_channels]`, R = 4, 8, ..., resolution. With
    `progressive=True` the last level is ProGAN's image at the level of detail
    held in `lod`, and the others are its 2x2 means; `grow` is the training
    path.
    """

    def __init__(
        self,
        num_channels=1,
        resolution=32,
        label_size=0,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        latent_size=None,
        normalize_latents=True,
        use_wscale=True,
        use_pixelnorm=True,
        pixelnorm_epsilon=1e-8,
        use_leakyrelu=True,
        fused_scale=True,
        progressive=False,
        spectral_norm=False,
        dtype=None,
        name="G",
    ):
        options = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__(name=name, dtype=dtype)
        with dtype_policy_scope(self.dtype_policy):
            self.kwargs = {k: v for k, v in options.items() if k != "name"}
            self.resolution_log2 = check_resolution(resolution)
            check_count("num_channels", num_channels, 1)
            check_count("label_size", label_size)
            check_choice("fused_scale", fused_scale, (True, False, "auto"))
            self.nf = nf = feature_maps(fmap_base, fmap_decay, fmap_max)
            self.latent_size = nf(0) if latent_size is None else latent_size
            check_count("latent_size", self.latent_size, 1)
            self.label_size, self.normalize_latents = label_size, normalize_latents
            act = "lrelu" if use_leakyrelu else "relu"
            self.pixel_norm = PixelNorm(pixelnorm_epsilon) if use_pixelnorm else None
            self.latent_norm = PixelNorm(pixelnorm_epsilon)
            self.fused_scale = fused_scale

            def conv(fmaps, **kw):
                return EqualizedConv2D(
                    fmaps, 3, use_wscale=use_wscale, activation=act, **kw
                )

            # Build the 4x4 block, then two convolutions per resolution.
            self.dense = EqualizedDense(
                nf(1) * 16, gain=SQRT2 / 4, use_wscale=use_wscale, use_bias=False
            )
            self.dense_bias = Bias(name="dense_bias")
            self.convs = [conv(nf(1))]
            for res in range(3, self.resolution_log2 + 1):
                self.convs.append(
                    conv(nf(res - 1), resample="up", fused_scale=fused_scale)
                )
                self.convs.append(conv(nf(res - 1)))
            self.torgbs = [
                EqualizedConv2D(num_channels, 1, gain=1.0, use_wscale=use_wscale)
                for _ in range(2, self.resolution_log2 + 1)
            ]
            self.activation = act
            self.progressive = progressive
            if spectral_norm:  # Every conv/dense (the original MSG-GAN post).
                enable_spectral_norm(self)
            self.lod = None
            if progressive:
                self.lod = add_lod_variable(self)

    @property
    def resolution(self):
        return 2**self.resolution_log2

    def build(self, input_shape=None):
        nf = self.nf
        self.dense.build((None, self.latent_size + self.label_size))
        self.dense_bias.build((None, 4, 4, nf(1)))
        shape = (None, 4, 4, nf(1))
        for idx, conv in enumerate(self.convs):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if idx % 2 == 0:
                self.torgbs[idx // 2].build(shape)

    def _norm(self, x):
        return self.pixel_norm(x) if self.pixel_norm is not None else x

    def __call__(self, *args, **kwargs):
        # Checked before Keras wraps errors raised in `call` into several lines.
        psi = kwargs.get("truncation_psi", args[2] if len(args) > 2 else None)
        if isinstance(psi, (int, float)):
            _check_no_truncation(psi)
        return super().__call__(*args, **kwargs)

    def call(
        self,
        latents,
        labels=None,
        truncation_psi=None,
        truncation_cutoff=None,
        randomize_noise=None,
        training=False,
        noise_seed=None,
    ):
        # Same call as Generator; ProGAN has no W space to truncate and no noise.
        del truncation_cutoff, randomize_noise, noise_seed
        _check_no_truncation(truncation_psi)
        images = self._torgb_images(latents, labels, self.resolution_log2)
        if not self.progressive:
            return images
        # The official linear structure: each level fades into the next by lod.
        lod_in = tf.cast(self.lod, images[0].dtype)
        out = images[0]
        for res, img in enumerate(images[1:], 3):
            out = lerp_clip(img, upscale2d(out), lod_in - (self.resolution_log2 - res))
        return downsample_pyramid(out, len(images))

    def grow(self, latents, labels, resolution, alpha):
        """ProGAN's image at the current resolution (training path).

        Args:
            latents, labels: as for `call`.
            resolution: side r = R / 2^floor(lod) (a Python int).
            alpha: scalar, `lod - floor(lod)`: weight of the lower resolution.

        Returns:
            `[N, r, r, C]`; `call`'s last level is this, nearest-upscaled to R.
        """
        images = self._torgb_images(latents, labels, resolution.bit_length() - 1)
        if len(images) == 1:
            return images[0]
        alpha = tf.cast(alpha, images[-1].dtype)
        return lerp(images[-1], upscale2d(images[-2]), alpha)

    def _torgb_images(self, latents, labels, top_log2):
        # ToRGB of every block up to 2^top_log2, 4x4 first.
        x = tf.cast(latents, self.compute_dtype)
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.name} needs labels [N, {self.label_size}].")
            x = tf.concat([x, tf.cast(labels, x.dtype)], axis=1)
        if self.normalize_latents:
            x = self.latent_norm(x)
        x = tf.reshape(self.dense(x), [-1, 4, 4, self.nf(1)])
        x = self._norm(apply_activation(self.dense_bias(x), self.activation))
        images = []
        for idx, conv in enumerate(self.convs[: 2 * top_log2 - 3]):
            x = self._norm(conv(x))
            if idx % 2 == 0:
                images.append(self.torgbs[idx // 2](x))
        return images

    def conv_scope(self, idx):
        """Official variable scope of convolution `idx` (0 is the 4x4 Conv)."""
        if idx == 0:
            return "4x4/Conv"
        res = (idx + 1) // 2 + 2
        if idx % 2:
            fused = self.convs[idx].fused
            return f"{2**res}x{2**res}/{'Conv0_up' if fused else 'Conv0'}"
        return f"{2**res}x{2**res}/Conv1"

    def official_variable_map(self):
        nf = self.nf
        out = {
            "G/4x4/Dense/weight": (
                self.dense.weight,
                official.flatten_cols(nf(1), 4, 4),
            ),
            "G/4x4/Dense/bias": (self.dense_bias.bias, official.SAME),
        }
        for idx, conv in enumerate(self.convs):
            scope = "G/" + self.conv_scope(idx)
            # ProGAN stores its fused upscale kernel as [k, k, out, in].
            fused_up = idx % 2 == 1 and conv.fused
            layout = official.TRANSPOSE_IO if fused_up else official.SAME
            out[scope + "/weight"] = (conv.weight, layout)
            out[scope + "/bias"] = (conv.bias, official.SAME)
        for res, torgb in enumerate(self.torgbs, 2):
            scope = f"G/ToRGB_lod{self.resolution_log2 - res}"
            out[scope + "/weight"] = (torgb.weight, official.SAME)
            out[scope + "/bias"] = (torgb.bias, official.SAME)
        if self.lod is not None:
            out["G/lod"] = (self.lod, official.SAME)
        out.update(official.spectral_norm_entries(self, "G"))
        return out

    def get_config(self):
        return dict(self.kwargs, name=self.name)
