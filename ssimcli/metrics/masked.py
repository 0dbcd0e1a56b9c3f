"""Mask-weighted means of per-pixel maps and the worst local window. Pure: no I/O.

A mask (or a set of ignore rectangles) is applied *inside* the metric: the maps are computed on
the untouched images and the mask only decides how much each map pixel counts in the mean. A map
pixel counts only when its whole SSIM window lies inside the compared area, the same rule the
``valid`` averaging region applies at the image border; without it a change inside an ignored
rectangle would still leak into the score through the windows that straddle the rectangle's edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .backend import Backend, cpu_backend
from .core import _check_ms_ssim_size, as_planes, channel_maps, downsample2, ms_ssim_over_scales
from .params import MetricParams, effective_window
from .windows import map_weights

Rect = tuple[int, int, int, int]  # x, y, width, height in pixels


def compare_area(
    height: int,
    width: int,
    *,
    mask: np.ndarray | None = None,
    ignore: Iterable[Rect] = (),
) -> np.ndarray | None:
    """The area to compare as ``(H, W)`` float64 weights in [0, 1], or ``None`` for everything.

    Parameters
    ----------
    height, width : int
        Image size.
    mask : ndarray, optional
        ``(H, W)`` weights in [0, 1]: 1 (white) compares, 0 (black) ignores, grey counts partly.
    ignore : iterable of (x, y, width, height)
        Rectangles to leave out; parts outside the image are clipped.
    """
    ignore = list(ignore)
    if mask is None and not ignore:
        return None
    area = np.ones((height, width)) if mask is None else np.array(mask, dtype=np.float64)
    if area.shape != (height, width):
        raise ValueError(f"mask is {area.shape[1]}x{area.shape[0]}, image is {width}x{height}")
    for x, y, w, h in ignore:
        area[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = 0.0
    return np.clip(area, 0.0, 1.0)


def weighted_means(map_: np.ndarray, weights: np.ndarray) -> list[float]:
    """Per-channel float64 means of an ``(H, W, C)`` map weighted by ``(H, W)`` weights."""
    total = float(weights.sum(dtype=np.float64))
    if total <= 0:
        raise ValueError("the mask and ignore regions leave no pixel to compare")
    sums = np.tensordot(weights, map_.astype(np.float64, copy=False), axes=([0, 1], [0, 1]))
    return [float(v) / total for v in np.atleast_1d(sums)]


def weighted_mse(x: np.ndarray, y: np.ndarray, area: np.ndarray | None, divisor: float = 1.0,
                 chunk_rows: int = 128) -> list[float]:
    """Per-channel mean of ``((x - y) / divisor)^2`` weighted by the compare area.

    Unlike the SSIM means, no window erosion applies: PSNR looks at each pixel alone, so an
    ignored pixel simply does not count. Float64 differences, a few rows at a time.
    """
    x = x[:, :, None] if x.ndim == 2 else x
    y = y[:, :, None] if y.ndim == 2 else y
    sums = np.zeros(x.shape[2])
    for start in range(0, x.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        difference = np.subtract(x[rows], y[rows], dtype=np.float64)
        difference *= difference
        if area is None:
            sums += difference.sum(axis=(0, 1))
        else:
            sums += np.tensordot(area[rows], difference, axes=([0, 1], [0, 1]))
    total = float(x.shape[0] * x.shape[1]) if area is None else float(area.sum(dtype=np.float64))
    if total <= 0:
        raise ValueError("the mask and ignore regions leave no pixel to compare")
    return [float(v) / total / (divisor * divisor) for v in sums]


def masked_psnr(x: np.ndarray, y: np.ndarray, area: np.ndarray | None, divisor: float = 1.0,
                data_range: float = 1.0) -> tuple[float, list[float]]:
    """Overall and per-channel PSNR (dB) over the compare area; see `weighted_mse`."""
    from .core import psnr_db

    mse = weighted_mse(x, y, area, divisor)
    return psnr_db(float(np.mean(mse)), data_range), [psnr_db(m, data_range) for m in mse]


def masked_ms_ssim(
    x: np.ndarray,
    y: np.ndarray,
    area: np.ndarray,
    params: MetricParams | None = None,
    *,
    data_range: float = 1.0,
    backend: Backend | None = None,
) -> list[float]:
    """Per-channel MS-SSIM with every scale's mean weighted by the compare area.

    The area is brought down the scales with the same 2x2 average as the images, then each
    scale's means use `map_weights` at that scale; otherwise this is the core MS-SSIM
    (Wang, Simoncelli & Bovik 2003; TensorFlow ``ssim_multiscale`` weights).
    """
    params = params or MetricParams()
    backend = backend or cpu_backend()
    xp = backend.xp
    xs = as_planes(x, xp, params.dtype)
    ys = as_planes(y, xp, params.dtype)
    _check_ms_ssim_size(params, xs.shape[1], xs.shape[2])

    def downsample(state: tuple[Any, Any, np.ndarray]) -> tuple[Any, Any, np.ndarray]:
        return downsample2(state[0], xp), downsample2(state[1], xp), downsample2(state[2], np)

    def means(state: tuple[Any, Any, np.ndarray], want_ssim: bool
              ) -> tuple[list[float], list[float] | None]:
        xs, ys, plane = state
        window = effective_window(params, xs.shape[1], xs.shape[2])
        maps = channel_maps(xs, ys, params, window, data_range, backend, False)
        border = window.radius if params.mean_over == "valid" else 0
        weights = map_weights(plane[0], xs.shape[1], xs.shape[2], window.size, border)

        def weighted(name: str) -> list[float]:
            map_ = np.moveaxis(np.asarray(backend.to_numpy(maps[name])), 0, -1)
            return list(weighted_means(map_, weights))

        return weighted("cs"), (weighted("ssim") if want_ssim else None)

    plane = np.asarray(area, dtype=np.float64)[None]
    return ms_ssim_over_scales((xs, ys, plane), downsample, means)
