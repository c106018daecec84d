"""A small line plot drawn with Pillow (no plotting library needed)."""

import numpy as np
import PIL.Image
import PIL.ImageDraw

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def line_plot(series, title, xlabel, ylabel, size=(640, 400), log_y=False):
    """Draws `{name: (xs, ys)}` as lines on shared axes.

    Args:
        log_y: logarithmic y axis (values <= 0 are drawn at the smallest
            positive one).

    Returns:
        uint8 `[H, W, 3]`.
    """
    if log_y:
        ys_all = [np.asarray(y, float) for _, y in series.values()]
        positive = np.concatenate([y[y > 0] for y in ys_all] or [[1.0]])
        floor = float(positive.min()) if positive.size else 1.0
        series = {
            name: (x, np.log10(np.maximum(np.asarray(y, float), floor)))
            for name, (x, y) in series.items()
        }
    width, height = size
    left, right, top, bottom = 70, 20, 40, 50
    image = PIL.Image.new("RGB", size, "white")
    draw = PIL.ImageDraw.Draw(image)
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()] or [[0, 1]])
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()] or [[0, 1]])
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1e-9))
    y0, y1 = 0.0, float(max(ys.max(), 1e-9)) * 1.05
    if log_y:
        y0, y1 = float(np.floor(ys.min())), float(np.ceil(ys.max()))
        y1 = max(y1, y0 + 1)

    def to_pixel(x, y):
        px = left + (x - x0) / (x1 - x0) * (width - left - right)
        py = height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
        return px, py

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    # Log axes get a tick per decade, linear ones five.
    y_ticks = np.arange(y0, y1 + 0.5) if log_y else np.linspace(y0, y1, 5)
    for yv in y_ticks:
        _, py = to_pixel(x0, yv)
        draw.line([left - 4, py, left, py], fill="black")
        label = 10**yv if log_y else yv
        draw.text((4, py - 6), f"{label:.3g}", fill="black")
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        px, _ = to_pixel(xv, y0)
        draw.line([px, height - bottom, px, height - bottom + 4], fill="black")
        draw.text((px - 12, height - bottom + 8), f"{xv:.4g}", fill="black")
    draw.text((width // 2 - 60, 10), title, fill="black")
    draw.text((width // 2 - 20, height - 18), xlabel, fill="black")
    draw.text((4, top - 24), ylabel, fill="black")
    for i, (name, (x, y)) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        points = [to_pixel(a, b) for a, b in zip(x, y, strict=True)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for px, py in points:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=color)
        draw.text((left + 10, top + 8 + 14 * i), name, fill=color)
    return np.asarray(image)
