"""Image grids, and atomic PNG, GIF and MP4 writing."""

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
    """Writes uint8 frames `[H, W, 1|3]` of one size (any iterable) atomically
    (temp file, rename): an H.264 MP4 for a `.mp4` path (imageio-ffmpeg; frames
    go to ffmpeg one at a time), else a looping GIF (Pillow).

    Raises:
        ValueError: an MP4 without the imageio and imageio-ffmpeg packages.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        if path.suffix == ".mp4":
            _write_mp4(frames, tmp, fps)
        else:
            _write_gif(frames, tmp, fps)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _mp4_writer(path, fps):
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401 - imageio's MP4 writer.
    except ImportError as e:
        raise ValueError(
            "MP4 needs the imageio and imageio-ffmpeg packages (requirements.txt): "
            "python -m pip install imageio imageio-ffmpeg"
        ) from e
    # Keep each frame's size: H.264 needs even sides, which every frame of a
    # pyramid has (odd ones would be scaled up by one pixel).
    return imageio.get_writer(path, fps=fps, macro_block_size=2)


def _write_mp4(frames, path, fps):
    with _mp4_writer(path, fps) as writer:
        for frame in frames:
            writer.append_data(frame[:, :, 0] if frame.shape[2] == 1 else frame)


class Mp4Writer:
    """An MP4 written frame by frame (uint8 `[H, W, 1|3]`, one size), atomically:
    to a temp file renamed into place by `close()`; `discard()` (or an error
    inside a `with` block) leaves nothing behind."""

    def __init__(self, path, fps=24):
        self.path = pathlib.Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}.mp4")
        self.writer = _mp4_writer(self.tmp, fps)

    def append(self, frame):
        self.writer.append_data(frame[:, :, 0] if frame.shape[2] == 1 else frame)

    def close(self):
        self.writer.close()
        os.replace(self.tmp, self.path)

    def discard(self):
        self.writer.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.discard()


def _write_gif(frames, path, fps):
    images = [PIL.Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=1000 // fps, loop=0
    )
