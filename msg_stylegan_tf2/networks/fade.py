"""Progressive growing's level of detail (ProGAN), shared by G, D and training.

`lod` counts halvings below the full resolution: lod 0 is the full resolution
R, lod k is R / 2^k. While a new resolution fades in, lod is fractional:
with `f = floor(lod)` and `alpha = lod - f`, networks work at R / 2^f and
blend in the next lower resolution with weight `alpha` (1 = only the old
resolution, 0 = only the new one), as the official `lerp(new, old, lod - f)`.

Training runs at R / 2^f rather than at R: the official code feeds
nearest-upscaled images to a D that average-pools them back, which gives the
same scores; only input gradients differ, by the factor `input_gradient_scale`.
"""

import tensorflow as tf


def lerp(a, b, t):
    """`a + (b - a) * t` (official `lerp`)."""
    return a + (b - a) * t


def lerp_clip(a, b, t):
    """`lerp` with `t` clipped to [0, 1] (official `lerp_clip`)."""
    return a + (b - a) * tf.clip_by_value(t, 0.0, 1.0)


def split_lod(lod):
    """`(f, alpha)`: the integer part of a Python float lod and its fraction."""
    f = int(lod // 1)
    return f, float(lod) - f


def input_gradient_scale(full_log2, image):
    """Gradient norm factor between an image at R / 2^f and its official R copy.

    The official input is the image nearest-upscaled by 2^f; a gradient g at
    the low resolution is spread as g / 4^f over 4^f pixels there, so norms are
    2^-f of ours. Gradient penalties multiply our gradients by this.

    Args:
        full_log2: log2 of the full resolution R.
        image: `[N, r, r, C]` with a static side r.
    """
    return 2.0 ** (int(image.shape[1]).bit_length() - 1 - full_log2)


def add_lod_variable(model):
    """Creates a network's non-trainable float32 `lod` (official `G/lod`, `D/lod`)."""
    return model.add_weight(
        shape=(), initializer="zeros", trainable=False, name="lod", dtype="float32"
    )
