"""Image grids and videos: GIF with Pillow, MP4 with imageio-ffmpeg."""

import sys

import imageio.v2 as imageio
import numpy as np
import PIL.Image
import pytest

from dnnlib.image_io import Mp4Writer, image_grid, save_video


def frames(count, height, width, channels=3):
    return [np.full([height, width, channels], i * 40, np.uint8) for i in range(count)]


def test_image_grid_tiles_row_by_row_on_white():
    images = np.stack([np.full([2, 3, 1], i, np.uint8) for i in range(3)])
    grid = image_grid(images, 2)
    assert grid.shape == (4, 6, 1)
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 1 and grid[2, 0, 0] == 2
    assert np.all(grid[2:, 3:] == 255)


def test_gif_has_every_frame(tmp_path):
    save_video(frames(5, 8, 16), tmp_path / "loop.gif")
    gif = PIL.Image.open(tmp_path / "loop.gif")
    assert gif.n_frames == 5 and gif.size == (16, 8)


@pytest.mark.parametrize("height, width, channels", [(16, 48, 3), (8, 24, 1)])
def test_mp4_decodes_to_every_frame_at_its_size(tmp_path, height, width, channels):
    path = tmp_path / "loop.mp4"
    save_video(iter(frames(5, height, width, channels)), path, fps=24)
    with imageio.get_reader(path) as reader:
        decoded = list(reader.iter_data())
        assert reader.get_meta_data()["fps"] == 24
    assert len(decoded) == 5
    assert all(frame.shape == (height, width, 3) for frame in decoded)
    # H.264 is lossy: each flat frame keeps its grey level to within 2.
    levels = [float(frame.mean()) for frame in decoded]
    np.testing.assert_allclose(levels, [0, 40, 80, 120, 160], atol=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.mp4"]


def test_mp4_without_imageio_is_refused_clearly(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio", None)  # `import imageio` fails.
    monkeypatch.setitem(sys.modules, "imageio.v2", None)
    with pytest.raises(ValueError, match="MP4 needs the imageio and imageio-ffmpeg"):
        save_video(frames(2, 8, 16), tmp_path / "loop.mp4")
    assert list(tmp_path.iterdir()) == []


def test_an_mp4_written_frame_by_frame_appears_only_when_closed(tmp_path):
    path = tmp_path / "steps.mp4"
    with Mp4Writer(path, fps=10) as video:
        for frame in frames(3, 8, 16):
            video.append(frame)
        assert not path.exists()
    with imageio.get_reader(path) as reader:
        assert len(list(reader.iter_data())) == 3
    with pytest.raises(RuntimeError), Mp4Writer(tmp_path / "failed.mp4") as video:
        video.append(frames(1, 8, 16)[0])
        raise RuntimeError("stopped")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.mp4"]
