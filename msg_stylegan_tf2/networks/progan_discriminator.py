"""ProGAN's discriminator `D_paper`, with progressive growing, NHWC.

A FromRGB at every resolution; per resolution a 3x3 convolution and a 3x3
convolution with 2x downsampling (fused or conv-then-pool); at 4x4 minibatch
stddev, a 3x3 convolution and two dense layers. The output has `1 + label_size`
columns: the score, then AC-GAN label logits. The level of detail `lod`
(`D/lod`, see `fade.py`) selects the input resolution and the fade.
"""

import tensorflow as tf

from msg_stylegan_tf2.networks import official
from msg_stylegan_tf2.networks.blocks import DBlock
from msg_stylegan_tf2.networks.fade import add_lod_variable, lerp, lerp_clip
from msg_stylegan_tf2.networks.network_base import Network, dtype_policy_scope
from msg_stylegan_tf2.networks.ops import downscale2d, feature_maps
from msg_stylegan_tf2.validation import check_count, check_resolution


class ProGANDiscriminator(Network):
    """ProGAN `D_paper` (official kwargs): a list of `DBlock`s from the full
    resolution down to the 4x4 head, each with its own FromRGB.

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
        super().__init__(locals())
        self.resolution_log2 = log2 = check_resolution(resolution)
        check_count("num_channels", num_channels, 1)
        check_count("label_size", label_size)
        check_count("mbstd_group_size", mbstd_group_size)
        if fused_scale not in (True, False):
            raise ValueError(f"`fused_scale` must be a bool. Received: {fused_scale!r}")
        self.num_channels, self.label_size = num_channels, label_size
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        # Minibatch stddev in the 4x4 head only; the head scores and classifies.
        with dtype_policy_scope(self.dtype_policy):
            self.blocks = [
                DBlock(
                    res,
                    nf(res - 1),
                    nf(res - 2),
                    fromrgb=True,
                    units=1 + label_size,
                    mbstd_group_size=mbstd_group_size if res == 2 else 0,
                    use_wscale=use_wscale,
                    spectral_norm=spectral_norm,
                    fused_scale=fused_scale,
                    blur_filter=None,
                    progan=True,
                )
                for res in range(log2, 1, -1)
            ]
            self.lod = add_lod_variable(self)

    def build(self, input_shape=None):
        # Every FromRGB first, 4x4 up: the creation order, hence the initial
        # weights of a seed, of the networks before blocks.
        for block in reversed(self.blocks):
            side = 2**block.res
            block.fromrgb.build((None, side, side, self.num_channels))
        for block in self.blocks:
            side = 2**block.res
            x_shape = (None, side, side, block.fmaps)  # Or FromRGB's output.
            block.build(x_shape, (None, side, side, self.num_channels))

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
        # The official linear structure: every resolution, faded by lod.
        x = None
        for block in self.blocks:
            if x is not None:
                img = downscale2d(img)
                t = lod_in - (self.resolution_log2 - block.res - 1)
                x = lerp_clip(x, block.fromrgb(img), t)
            x = block(x, img)
        return self._outputs(x, return_label_logits)

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
        blocks = self.blocks[self.resolution_log2 - res :]
        image = tf.cast(image, self.compute_dtype)
        x = blocks[0](None, image)
        if res > 2:
            alpha = tf.cast(alpha, x.dtype)
            x = lerp(x, blocks[1].fromrgb(downscale2d(image)), alpha)
            for block in blocks[1:]:
                x = block(x)
        return self._outputs(x, return_label_logits)

    def official_variable_map(self):
        out = {}
        for block in self.blocks:
            lod = self.resolution_log2 - block.res
            out.update(block.official_variable_map("D/", lod))
        out["D/lod"] = (self.lod, official.SAME)
        return out
