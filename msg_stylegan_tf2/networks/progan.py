"""ProGAN's generator `G_paper` (NHWC): MSG-ProGAN's, and ProGAN's own.

Paper appendix (table 6): normalised latent, a 4x4 block (dense to 4x4, 3x3
conv), then per resolution 2x upsampling and two 3x3 convolutions, each followed
by leaky ReLU and PixelNorm; a 1x1 ToRGB at every resolution. MSG-ProGAN emits
every ToRGB; with `progressive=True` it is ProGAN, whose one image is faded by
the level of detail `G/lod` (see `fade.py`).
"""

import tensorflow as tf

from msg_stylegan_tf2.networks import official
from msg_stylegan_tf2.networks.blocks import GBlock, spectral_norm_layers
from msg_stylegan_tf2.networks.fade import add_lod_variable, lerp, lerp_clip
from msg_stylegan_tf2.networks.network_base import Network, dtype_policy_scope
from msg_stylegan_tf2.networks.normalization import PixelNorm
from msg_stylegan_tf2.networks.ops import feature_maps, upscale2d
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid
from msg_stylegan_tf2.networks.spectral_norm import enable_spectral_norm
from msg_stylegan_tf2.validation import check_choice, check_count, check_resolution


def _check_no_truncation(psi):
    if psi is not None and psi != 1:
        raise ValueError(
            "ProGAN generators have no truncation trick (no W space). "
            f"Received truncation_psi={psi}; use 1 or none."
        )


class ProGANGenerator(Network):
    """MSG-ProGAN generator (official ProGAN `G_paper` kwargs): a list of
    `GBlock`s, 4x4 first, without noise or styles, each with pixel norm.

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
        super().__init__(locals())
        self.resolution_log2 = check_resolution(resolution)
        check_count("num_channels", num_channels, 1)
        check_count("label_size", label_size)
        check_choice("fused_scale", fused_scale, (True, False, "auto"))
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        self.latent_size = nf(0) if latent_size is None else latent_size
        check_count("latent_size", self.latent_size, 1)
        self.label_size, self.normalize_latents = label_size, normalize_latents
        self.progressive = progressive
        # Each conv's epilogue: bias, activation and (usually) pixel norm.
        act = "lrelu" if use_leakyrelu else "relu"
        epilogue = dict(nonlinearity=act, pixel_norm_epsilon=pixelnorm_epsilon)
        epilogue["use_pixel_norm"] = use_pixelnorm
        options = dict(const_input_layer=False, blur_filter=None, progan=True)
        options.update(use_wscale=use_wscale, fused_scale=fused_scale)
        with dtype_policy_scope(self.dtype_policy):
            self.latent_norm = PixelNorm(pixelnorm_epsilon)
            # ProGAN's names; the 4x4 block's dense input takes the latents.
            self.blocks = [
                GBlock(res, nf(res - 1), num_channels, epilogue, **options)
                for res in range(2, self.resolution_log2 + 1)
            ]
            if spectral_norm:  # Every conv/dense (the original MSG-GAN post).
                enable_spectral_norm(self)
            self.lod = add_lod_variable(self) if progressive else None

    def build(self, input_shape=None):
        shape = (None, self.latent_size + self.label_size)
        for block in self.blocks:
            block.build(shape)
            shape = (None, 2**block.res, 2**block.res, block.fmaps)

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
        # The image of every block up to 2^top_log2, 4x4 first.
        x = tf.cast(latents, self.compute_dtype)
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.name} needs labels [N, {self.label_size}].")
            x = tf.concat([x, tf.cast(labels, x.dtype)], axis=1)
        if self.normalize_latents:
            x = self.latent_norm(x)
        images = []
        for block in self.blocks[: top_log2 - 1]:
            x, image = block(x)
            images.append(image)
        return images

    def official_variable_map(self):
        out = {}
        for block in self.blocks:
            lod = self.resolution_log2 - block.res
            out.update(block.official_variable_map("G/", lod))
        if self.lod is not None:
            out["G/lod"] = (self.lod, official.SAME)
        layers = spectral_norm_layers(self.blocks)
        out.update(official.spectral_norm_entries("G", layers))
        return out
