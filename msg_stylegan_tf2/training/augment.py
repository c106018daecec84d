"""Pyramid-consistent DiffAugment and ADA's adaptive probability.

DiffAugment (Zhao et al. 2020, policy "color,translation,cutout") augments
what D sees, reals and fakes alike, with differentiable operations, so G
learns through them. MSG-GAN's D sees a pyramid per image; here one random
draw per image is applied to every level of its pyramid, with translation and
cutout scaled to each level's size (whole pixels at the top level, as in
DiffAugment, and fractions of a pixel below it: linear interpolation, partial
cover), so the levels of an augmented pyramid still agree: 2x2 pooling the
augmented level of side 2r gives the augmented level of side r, exactly where
the shift and the cutout's edges fall on whole pixels of both, and up to
resampling elsewhere.

ADA (Karras et al. 2020) applies each operation to an image with probability
p, adjusted from the overfitting heuristic r_t = E[sign(D(reals))] toward a
target: `AdaptiveProbability`.

Images are float in [-1, 1]; zero (mid grey) fills what translation shifts in
and what cutout removes, as in DiffAugment. What D sees in training, and
when, is `augmentation.py`'s.
"""

import tensorflow as tf

# DiffAugment's magnitudes: translation up to 1/8 of the side, a cutout square
# of half the side.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5

# The operations in the order applied; ADA gates each with probability p.
OPERATIONS = ("brightness", "saturation", "contrast", "translation", "cutout")

# Uniform numbers of one draw per image: one per operation parameter, then one
# gate per operation.
_PARAMETERS = (
    "brightness",
    "saturation",
    "contrast",
    "translate_y",
    "translate_x",
    "cutout_y",
    "cutout_x",
)
DRAW_SIZE = len(_PARAMETERS) + len(OPERATIONS)


def draw(seed, batch, p=1.0):
    """One augmentation draw per image.

    Args:
        seed: stateless seed `[2]`.
        batch: images drawn for.
        p: probability of each operation (float or scalar tensor; 1: DiffAugment).

    Returns:
        `{name: float32 [batch]}`: uniforms in [0, 1) for each parameter
        (`_PARAMETERS`) and `apply_<operation>` as 0 or 1.
    """
    uniforms = tf.random.stateless_uniform([batch, DRAW_SIZE], seed)
    params = {name: uniforms[:, i] for i, name in enumerate(_PARAMETERS)}
    gates = uniforms[:, len(_PARAMETERS) :] < tf.cast(p, tf.float32)
    for i, name in enumerate(OPERATIONS):
        params[f"apply_{name}"] = tf.cast(gates[:, i], tf.float32)
    return params


def rows_of_draw(params, rows):
    """The rows (int `[n]`, indices into the global batch) of a draw: a
    replica's or a micro-batch's share."""
    return {name: tf.gather(value, rows) for name, value in params.items()}


def _per_image(value):
    return value[:, None, None, None]


def _colour(level, params):
    # Brightness, saturation and contrast (DiffAugment's magnitudes); each is
    # affine per pixel, or uses a mean that 2x2 pooling keeps, so the levels
    # stay exactly consistent.
    brightness = (params["brightness"] - 0.5) * params["apply_brightness"]
    level = level + _per_image(brightness)
    saturation = 1.0 + (params["saturation"] * 2.0 - 1.0) * params["apply_saturation"]
    mean = tf.reduce_mean(level, axis=3, keepdims=True)
    level = (level - mean) * _per_image(saturation) + mean
    contrast = 1.0 + (params["contrast"] - 0.5) * params["apply_contrast"]
    mean = tf.reduce_mean(level, axis=[1, 2, 3], keepdims=True)
    return (level - mean) * _per_image(contrast) + mean


def translation_pixels(params, side):
    """Per-image integer shifts `(dy, dx)` `[N]` at the pyramid's top level of
    `side` (DiffAugment's: uniform in [-side/8, side/8]), 0 where not applied."""
    reach = int(side * TRANSLATION_RATIO + 0.5)
    shifts = []
    for name in ("translate_y", "translate_x"):
        shift = tf.floor(params[name] * (2 * reach + 1)) - reach
        shifts.append(shift * params["apply_translation"])
    return shifts


def _gather_shifted(level, source, axis):
    # level[source] along `axis` (1 or 2) per image, zero outside.
    side = level.shape[axis]
    inside = tf.cast((source >= 0) & (source < side), level.dtype)
    moved = tf.gather(
        level, tf.clip_by_value(source, 0, side - 1), axis=axis, batch_dims=1
    )
    mask = inside[:, :, None, None] if axis == 1 else inside[:, None, :, None]
    return moved * mask


def _shift(level, shift, axis):
    # out[i] = level[i + shift] along `axis`, zero outside; a fractional
    # shift interpolates linearly between the two whole shifts around it.
    whole = tf.floor(shift)
    fraction = tf.cast(shift - whole, level.dtype)
    source = tf.range(level.shape[axis])[None, :] + tf.cast(whole, tf.int32)[:, None]
    low = _gather_shifted(level, source, axis)
    high = _gather_shifted(level, source + 1, axis)
    return low + (high - low) * _per_image(fraction)


def _translate(level, shifts, scale):
    # The top level's shifts scaled to this level (`scale` = side / top side):
    # whole pixels at the top level, fractions of a pixel below it.
    for axis, shift in zip((1, 2), shifts, strict=True):
        level = _shift(level, shift * scale, axis)
    return level


def cutout_offsets(params, side):
    """Per-image cutout centres `(cy, cx)` `[N]` in pixels of the top level of
    `side` (DiffAugment's: integers in [0, side])."""
    return [tf.floor(params[name] * (side + 1)) for name in ("cutout_y", "cutout_x")]


def _coverage(centre, top_side, side):
    # Per image `[N, side]`: the fraction of each pixel (of a level of `side`)
    # inside the cutout's extent along one axis, in fractions of the image:
    # [c / R - ratio / 2, c / R + ratio / 2).
    start = (centre / top_side - CUTOUT_RATIO / 2)[:, None]
    end = start + CUTOUT_RATIO
    left = tf.range(side, dtype=tf.float32)[None, :] / side
    overlap = tf.minimum(left + 1.0 / side, end) - tf.maximum(left, start)
    return tf.clip_by_value(overlap * side, 0.0, 1.0)


def _cutout(level, centres, top_side, apply):
    # The square removes the same part of the image at every level; a pixel
    # it covers in part keeps the rest (whole pixels at the top level).
    side = level.shape[1]
    rows, columns = (_coverage(c, top_side, side) for c in centres)
    box = rows[:, :, None] * columns[:, None, :]
    keep = 1.0 - box * apply[:, None, None]
    return level * tf.cast(keep, level.dtype)[..., None]


def augment_pyramid(levels, params):
    """Applies one draw per image to every level of its pyramid.

    Args:
        levels: list of float `[N, r, r, C]`, 4x4 (or the lowest) first; the
            last is the top level of side R.
        params: a `draw` (or its replica's `slice_draw`) for the N images.

    Returns:
        The augmented levels (float32), differentiable with respect to `levels`.
    """
    top = int(levels[-1].shape[1])
    shifts = translation_pixels(params, top)
    centres = cutout_offsets(params, top)
    augmented = []
    for level in levels:
        level = _colour(tf.cast(level, tf.float32), params)
        level = _translate(level, shifts, int(level.shape[1]) / top)
        level = _cutout(level, centres, top, params["apply_cutout"])
        augmented.append(level)
    return augmented


class AdaptiveProbability:
    """ADA's augmentation probability p (Karras et al. 2020).

    Every `ada_interval` D steps, p moves by `sign(r_t - ada_target)` times the
    images seen since the last adjustment over `ada_kimg` thousand, so it can
    go from 0 to 1 in `ada_kimg`; r_t is the mean of sign(D(reals)) over
    those images. p stays within [0, 1]. Variables hold p and what has been
    gathered since the last adjustment, so a checkpoint resumes exactly.

    Args:
        ada_target: the target of r_t (official 0.6).
        ada_interval: D steps between adjustments (official 4).
        ada_kimg: thousands of images for p to go from 0 to 1 (official 500).
    """

    def __init__(self, ada_target=0.6, ada_interval=4, ada_kimg=500.0):
        if not 0 < ada_target < 1:
            raise ValueError(f"`ada_target` must be in (0, 1). Received: {ada_target}")
        if ada_kimg <= 0:
            raise ValueError(f"`ada_kimg` must be > 0. Received: {ada_kimg}")
        self.ada_target, self.ada_interval = float(ada_target), int(ada_interval)
        self.ada_kimg = float(ada_kimg)
        self.p = tf.Variable(0.0, trainable=False, name="augment_p")
        # Sums since the last adjustment: sign(D(reals)), images, D steps.
        self.sign_sum = tf.Variable(0.0, trainable=False, name="ada_sign_sum")
        self.images = tf.Variable(0.0, trainable=False, name="ada_images")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="ada_steps")

    def variables(self):
        """What a checkpoint holds, by name."""
        return {
            "p": self.p,
            "sign_sum": self.sign_sum,
            "images": self.images,
            "steps": self.steps,
        }

    def accumulate(self, sign_sum, images):
        """Adds one D step's sum of sign(D(reals)) over its `images`; adjusts
        p at every `ada_interval`-th step.

        Returns:
            r_t of the step's images (for logging).
        """
        sign_sum = tf.cast(sign_sum, tf.float32)
        images = tf.cast(images, tf.float32)
        self.sign_sum.assign_add(sign_sum)
        self.images.assign_add(images)
        self.steps.assign_add(1)
        due = self.steps >= self.ada_interval
        # Exact in the sums (whole numbers): r_t > target <=> sum > target * n.
        excess = self.sign_sum - self.ada_target * self.images
        adjust = tf.sign(excess) * self.images / (self.ada_kimg * 1000.0)
        p = tf.clip_by_value(self.p + adjust, 0.0, 1.0)
        self.p.assign(tf.where(due, p, self.p))
        zero = tf.zeros_like(self.sign_sum)
        self.sign_sum.assign(tf.where(due, zero, self.sign_sum))
        self.images.assign(tf.where(due, zero, self.images))
        self.steps.assign(tf.where(due, tf.zeros_like(self.steps), self.steps))
        return sign_sum / images
