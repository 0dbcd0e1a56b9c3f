"""Heatmap images of per-pixel maps: a perceptually uniform colour map on a fixed scale, with a
labelled colour bar, so that two heatmaps of the same metric can be compared by eye."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Fixed, documented scales (README, "Heatmaps"): values outside are clamped to the ends.
SCALES: dict[str, tuple[float, float]] = {
    "ssim": (0.0, 1.0),
    "cs": (0.0, 1.0),
    "l1": (0.0, 0.2),
    "ssim_l1": (0.0, 1.0),
}
TITLES = {"ssim": "SSIM", "cs": "CS", "l1": "Gaussian L1", "ssim_l1": "SSIM-L1 mix"}
COLORMAP = "viridis"


@lru_cache(maxsize=4)
def _lut(name: str = COLORMAP) -> np.ndarray:
    from cmap import Colormap

    rgba = np.asarray(Colormap(name).lut(256))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def colourise(values: np.ndarray, low: float, high: float, colormap: str = COLORMAP) -> np.ndarray:
    """``(H, W)`` floats -> ``(H, W, 3)`` uint8 through a 256-entry colour map on [low, high]."""
    scaled = (np.nan_to_num(values, nan=low) - low) * (255.0 / (high - low))
    index = np.clip(scaled, 0, 255).astype(np.uint8)
    return _lut(colormap)[index]


def render_heatmap(
    map_: np.ndarray, name: str, *, scale: tuple[float, float] | None = None
) -> np.ndarray:
    """An RGB picture of a map (mean over channels) with a colour bar and labelled ticks."""
    from PIL import Image, ImageDraw, ImageFont

    values = map_.mean(axis=2) if map_.ndim == 3 else map_
    low, high = scale or SCALES.get(name, (float(values.min()), float(values.max()) or 1.0))
    body = colourise(values, low, high)
    height, width = body.shape[:2]
    bar_height = max(height, 120)
    font = ImageFont.load_default(size=max(10, min(bar_height // 12, 18)))
    fractions = (0.0, 0.25, 0.5, 0.75, 1.0)
    labels = [f"{low + f * (high - low):g}" for f in fractions]
    label_width = int(max(font.getlength(label) for label in labels)) + 16
    bar_width = 18
    canvas_w = width + 12 + bar_width + 6 + label_width
    canvas = Image.new("RGB", (canvas_w, bar_height + 28 + 10), (255, 255, 255))
    canvas.paste(Image.fromarray(body), (0, 28))
    gradient = np.linspace(high, low, bar_height - 2)[:, None].repeat(bar_width, axis=1)
    bar_x = width + 12
    canvas.paste(Image.fromarray(colourise(gradient, low, high)), (bar_x, 29))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([bar_x - 1, 28, bar_x + bar_width, 28 + bar_height - 1], outline=(0, 0, 0))
    for fraction, label in zip(fractions, labels, strict=True):
        y = 28 + round((1 - fraction) * (bar_height - 1))
        draw.line([bar_x + bar_width, y, bar_x + bar_width + 4, y], fill=(0, 0, 0))
        draw.text((bar_x + bar_width + 7, y), label, fill=(0, 0, 0), font=font, anchor="lm")
    title = f"{TITLES.get(name, name)}  (colour scale {low:g} to {high:g})"
    draw.text((2, 14), title, fill=(0, 0, 0), font=font, anchor="lm")
    return np.asarray(canvas)
