"""MSG discriminator: takes the whole image pyramid (official `D_basic`), NHWC.

The full-resolution image enters through FromRGB; every lower-resolution image is
merged into the activation of its resolution by a combine function phi:
`simple` concat(rgb, x) (paper), `lin_cat` concat(fromrgb(rgb), x) with half the
block's channels (BMSG-GAN), `cat_lin` bias-free conv1x1(concat(x, rgb)) (the
official msg-stylegan-tf default). Minibatch stddev runs in every block.
"""

import tensorflow as tf

from msg_stylegan_tf2.choices import COMBINE_FUNCTIONS
from msg_stylegan_tf2.networks.blocks import DBlock
from msg_stylegan_tf2.networks.network_base import Network, dtype_policy_scope
from msg_stylegan_tf2.networks.ops import NONLINEARITIES, feature_maps
from msg_stylegan_tf2.validation import check_choice, check_count, check_resolution


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


class Discriminator(Network):
    """MSG discriminator over an image pyramid (official `D_basic` kwargs): a
    list of `DBlock`s from the full resolution down to the 4x4 head.

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
        super().__init__(locals())
        self.resolution_log2 = log2 = check_resolution(resolution, minimum=8)
        check_count("num_channels", num_channels, 1)
        check_count("label_size", label_size)
        check_count("mbstd_group_size", mbstd_group_size)
        check_count("mbstd_num_features", mbstd_num_features, 1)
        check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        check_choice("fused_scale", fused_scale, (True, False, "auto"))
        check_choice("combine", combine, COMBINE_FUNCTIONS)
        self.num_channels, self.label_size = num_channels, label_size
        self.combine = combine
        nf = feature_maps(fmap_base, fmap_decay, fmap_max)
        # FromRGB enters the full resolution; every lower level is combined.
        with dtype_policy_scope(self.dtype_policy):
            self.blocks = [
                DBlock(
                    res,
                    nf(res - 1),
                    nf(res - 2),
                    fromrgb=res == log2,
                    combine=None if res == log2 else combine,
                    units=max(label_size, 1),
                    mbstd_group_size=mbstd_group_size,
                    mbstd_num_features=mbstd_num_features,
                    nonlinearity=nonlinearity,
                    use_wscale=use_wscale,
                    spectral_norm=spectral_norm,
                    fused_scale=fused_scale,
                    blur_filter=blur_filter,
                )
                for res in range(log2, 1, -1)
            ]

    def build(self, input_shape=None):
        for block in self.blocks:
            side = 2**block.res
            x_shape = (None, side, side, block.fmaps)  # Or FromRGB's output.
            block.build(x_shape, (None, side, side, self.num_channels))

    def call(self, images, labels=None):
        check_pyramid(images, self.resolution_log2, self.num_channels)
        x = None
        for block, image in zip(self.blocks, reversed(images), strict=True):
            x = block(x, tf.cast(image, self.compute_dtype))
        # Condition on labels by selecting the score of the label's class.
        if self.label_size:
            if labels is None:
                raise ValueError(f"{self.name} needs labels [N, {self.label_size}].")
            x = tf.reduce_sum(x * tf.cast(labels, x.dtype), axis=1, keepdims=True)
        return x

    def official_variable_map(self):
        out = {}
        for block in self.blocks:
            lod = self.resolution_log2 - block.res
            out.update(block.official_variable_map("D/", lod))
        return out
