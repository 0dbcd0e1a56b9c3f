"""Deterministic photo-like image pairs for the benchmarks, written as 8-bit PNGs.

A reference is a sum of smooth random fields at four scales (sky, walls, shading), some hard
edges (objects) and fine grain (sensor noise and texture), so PNG decoding costs what a photo
costs and SSIM sees structure at every scale. The candidate is a slightly blurred, brightened,
noisier copy, as a codec or a restoration network would produce. Generated in bands of rows so
that a 16384 x 16384 pair needs well under a gigabyte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_OCTAVES = ((512, 0.35), (128, 0.25), (32, 0.15), (8, 0.08))
_BAND = 1024


def _interp_axis(grid: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``grid`` along ``axis`` at fractional ``positions``."""
    lo = np.floor(positions).astype(np.intp)
    frac = (positions - lo).astype(np.float32)
    a = np.take(grid, lo, axis=axis)
    b = np.take(grid, lo + 1, axis=axis)
    shape = [1] * grid.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return a + (b - a) * frac


def photo_like(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """An ``(H, W, C)`` uint8 photo-like image (``(H, W)`` for one channel)."""
    rng = np.random.default_rng(seed)
    grids = []
    for scale, amplitude in _OCTAVES:
        gh, gw = height // scale + 2, width // scale + 2
        grids.append((scale, amplitude, rng.random((gh, gw, channels), dtype=np.float32)))
    # A few hundred hard-edged rectangles, drawn per band below.
    count = max(8, height * width // 40000)
    boxes = np.stack([rng.integers(0, height, count), rng.integers(0, width, count),
                      rng.integers(4, max(5, height // 8), count),
                      rng.integers(4, max(5, width // 8), count)], axis=1)
    shades = rng.random((count, channels), dtype=np.float32) * 0.4 - 0.2
    out = np.empty((height, width, channels), dtype=np.uint8)
    cols = np.arange(width, dtype=np.float64)
    for top in range(0, height, _BAND):
        rows = np.arange(top, min(top + _BAND, height), dtype=np.float64)
        band = np.full((len(rows), width, channels), 0.1, dtype=np.float32)
        for scale, amplitude, grid in grids:
            lo = int(rows[0] // scale)
            sub = grid[lo:int(rows[-1] // scale) + 2]
            along = _interp_axis(sub, rows / scale - lo, axis=0)
            band += amplitude * _interp_axis(along, cols / scale, axis=1)
        for (y, x, h, w), shade in zip(boxes, shades, strict=True):
            y0, y1 = max(y, int(rows[0])), min(y + h, int(rows[-1]) + 1)
            if y0 < y1:
                band[y0 - top:y1 - top, x:x + w] += shade
        band += rng.normal(0, 0.03, band.shape).astype(np.float32)
        np.clip(band * 255, 0, 255, out=band)
        out[top:top + len(rows)] = band.round().astype(np.uint8)
    return out[:, :, 0] if channels == 1 else out


def distort(image: np.ndarray, seed: int) -> np.ndarray:
    """Blur (1-2-1 both ways), brighten by 2 levels and add noise: a typical candidate."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(image)
    for top in range(0, image.shape[0], _BAND):
        lo, hi = max(top - 1, 0), min(top + _BAND + 1, image.shape[0])
        band = image[lo:hi].astype(np.float32)
        blurred = band.copy()
        blurred[1:-1] = 0.25 * band[:-2] + 0.5 * band[1:-1] + 0.25 * band[2:]
        cols = blurred.copy()
        cols[:, 1:-1] = 0.25 * blurred[:, :-2] + 0.5 * blurred[:, 1:-1] + 0.25 * blurred[:, 2:]
        cols += 2 + rng.normal(0, 2.0, cols.shape).astype(np.float32)
        np.clip(cols, 0, 255, out=cols)
        keep = slice(top - lo, top - lo + min(_BAND, image.shape[0] - top))
        out[top:top + _BAND] = cols[keep].round().astype(np.uint8)
    return out


def write_pair(folder: Path, name: str, height: int, width: int, channels: int,
               seed: int = 0) -> tuple[Path, Path]:
    """Write ``{name}_ref.png`` and ``{name}_cand.png`` into ``folder``; returns both paths."""
    import imagecodecs

    ref = photo_like(height, width, channels, seed)
    cand = distort(ref, seed + 1)
    paths = folder / f"{name}_ref.png", folder / f"{name}_cand.png"
    for path, image in zip(paths, (ref, cand), strict=True):
        # Level 3: typical of camera and export tools; decoding cost barely depends on it.
        path.write_bytes(imagecodecs.png_encode(image, level=3))
    return paths
