"""Image grids and atomic PNG writing."""

import os
import pathlib

import numpy as np
import PIL.Image


def image_grid(images, columns):
    """Tiles uint8 `[N, H, W, C]` into one `[rows * H, columns * W, C]` image."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full([rows * h, columns * w, c], 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return grid


def to_uint8(images):
    """Float images in [-1, 1] (numpy or tensor) -> uint8 [0, 255], rounded."""
    images = (np.asarray(images, dtype=np.float32) + 1.0) * 127.5
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def save_png(array, path):
    """Writes a uint8 `[H, W, 1|3]` array as PNG, atomically (temp file, rename)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    image = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
