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


def save_video(frames, path, fps=24):
    """GIF with Pillow, or MP4 with imageio-ffmpeg; written atomically."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    if path.suffix == ".mp4":
        try:
            import imageio.v2 as imageio
        except ImportError as e:
            raise ValueError(
                "MP4 needs: python -m pip install imageio imageio-ffmpeg"
            ) from e
        imageio.mimwrite(tmp, frames, fps=fps)
    else:
        images = [
            PIL.Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames
        ]
        images[0].save(
            tmp, save_all=True, append_images=images[1:], duration=1000 // fps, loop=0
        )
    os.replace(tmp, path)
