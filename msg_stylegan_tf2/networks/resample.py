"""Resampling layers of the official networks (NHWC): the `Blur` low-pass filter
(official `blur2d`) and nearest 2x up / 2x2 average down scaling."""

import keras
import numpy as np

from msg_stylegan_tf2.networks.ops import blur2d, blur_kernel, downscale2d, upscale2d


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
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


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class Upscale2D(keras.layers.Layer):
    """Nearest-neighbour 2x upscaling. Call: `[N, H, W, C]` -> `[N, 2H, 2W, C]`."""

    def call(self, x):
        return upscale2d(x)


@keras.saving.register_keras_serializable(package="msg_stylegan_tf2")
class Downscale2D(keras.layers.Layer):
    """2x2 average downscaling. Call: `[N, H, W, C]` -> `[N, H/2, W/2, C]`."""

    def call(self, x):
        return downscale2d(x)
