"""Making images square: center-crop, resize, pad, and NVIDIA's center-crop-wide."""

import numpy as np
import PIL.Image

TRANSFORMS = ("center-crop", "resize", "pad", "center-crop-wide")


def wide_crop_rows(width, height, resolution):
    """The source rows `center-crop-wide` keeps of a `width` x `height` image
    at `resolution`, or None when it leaves the image out (as NVIDIA's tool
    does: narrower than `resolution`, or wider than 2:1)."""
    rows = int(np.round(resolution * height / width))
    if width < resolution or rows < resolution // 2:
        return None
    return rows


def wide_reason(width, height, resolution):
    """Why `center-crop-wide` leaves out a `width` x `height` image."""
    why = "narrower than" if width < resolution else "wider than 2:1 at"
    return (
        f"`transform=center-crop-wide` leaves out this {width}x{height} image: "
        f"{why} `resolution={resolution}`, as NVIDIA's dataset tool does"
    )


def _wide(image, resolution):
    # NVIDIA's center-crop-wide at output width `resolution`, height half of it:
    # the centred `wide_crop_rows` rows at full width, resized (Lanczos) to
    # resolution x resolution/2, centred on a black square.
    width, height = image.size
    rows = wide_crop_rows(width, height, resolution)
    if rows is None:
        raise ValueError(wide_reason(width, height, resolution))
    top = (height - rows) // 2
    strip = image.crop((0, top, width, top + rows))
    strip = strip.resize((resolution, resolution // 2), PIL.Image.LANCZOS)
    canvas = PIL.Image.new(image.mode, (resolution, resolution))
    canvas.paste(strip, (0, (resolution - resolution // 2) // 2))
    return canvas


def fit(image, resolution, transform):
    """Makes an image `resolution` x `resolution` with the given transform.

    center-crop: the largest centred square, then resize; resize: stretch;
    pad: pad to a centred square with black, then resize; center-crop-wide:
    NVIDIA's (`wide_crop_rows` centred rows, resized to `resolution` x
    `resolution / 2`, padded with black above and below). Resizing uses Lanczos.

    Raises:
        ValueError: an unknown transform, or an image `center-crop-wide`
            leaves out.
    """
    width, height = image.size
    if transform == "center-crop-wide":
        return _wide(image, resolution)
    if transform == "center-crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    elif transform == "pad":
        side = max(width, height)
        canvas = PIL.Image.new(image.mode, (side, side))
        canvas.paste(image, ((side - width) // 2, (side - height) // 2))
        image = canvas
    elif transform != "resize":
        raise ValueError(
            f"`transform` must be one of {TRANSFORMS}. Received: {transform!r}"
        )
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), PIL.Image.LANCZOS)
    return image
