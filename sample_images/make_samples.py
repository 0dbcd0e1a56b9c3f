"""Regenerate the bundled sample images (needs scikit-image, which ships the photographs).

Run from the repository root: ``python sample_images/make_samples.py``. Deterministic: fixed
seeds, fixed JPEG quality, so the files are reproducible byte for byte with the same libraries.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter
from skimage import data

HERE = Path(__file__).resolve().parent


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average downscale to (width, height) to keep the repository light."""
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def screenshot(shift: int, label: str) -> np.ndarray:
    """A small RGBA 'app screenshot' on a transparent background."""
    canvas = Image.new("RGBA", (320, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle([8, 8, 311, 191], radius=14, fill=(250, 250, 252, 255),
                           outline=(200, 200, 210, 255))
    draw.rectangle([8, 8, 311, 44], fill=(52, 101, 164, 255))
    draw.text((20, 20), "ssim-l1 report", fill=(255, 255, 255, 255))
    for row in range(4):
        y = 60 + row * 26
        draw.rectangle([24, y, 24 + 180 - row * 20, y + 12], fill=(120, 120, 130, 255))
    draw.rounded_rectangle([200 + shift, 150, 296 + shift, 178], radius=8, fill=(46, 160, 67, 255))
    draw.text((214 + shift, 158), label, fill=(255, 255, 255, 255))
    return np.asarray(canvas)


def main() -> None:
    rng = np.random.default_rng(20261128)
    astronaut = shrink(data.astronaut(), (384, 384))
    iio.imwrite(HERE / "astronaut.png", astronaut)
    iio.imwrite(HERE / "astronaut_jpeg.jpg", astronaut, quality=25)

    coffee = shrink(data.coffee(), (400, 300))
    iio.imwrite(HERE / "coffee.png", coffee)
    blurred = gaussian_filter(coffee.astype(np.float64), sigma=(1.5, 1.5, 0))
    iio.imwrite(HERE / "coffee_blur.png", to_uint8(blurred))

    camera = shrink(data.camera(), (384, 384))
    iio.imwrite(HERE / "camera.png", camera)
    noisy = camera.astype(np.float64) + rng.normal(0, 10, camera.shape)
    iio.imwrite(HERE / "camera_noise.png", to_uint8(noisy))

    iio.imwrite(HERE / "screenshot_ref.png", screenshot(0, "Save"))
    iio.imwrite(HERE / "screenshot_cand.png", screenshot(3, "Saved"))


if __name__ == "__main__":
    main()
