"""The worst window of a map: box sums, the best-window searches (NumPy and native), and the
weights of an averaging area."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def map_weights(area: np.ndarray | None, height: int, width: int, window: int,
                border: int) -> np.ndarray:
    """Per-pixel weights of a map: the compare area eroded by the window, times the interior.

    Parameters
    ----------
    area : ndarray or None
        Output of `compare_area` (``None``: the whole image).
    window : int
        Side of the SSIM window actually used; a pixel counts by the smallest area weight under
        its window (a minimum filter), so ignored pixels never reach a counted window.
    border : int
        Pixels dropped at each edge (the window radius for the ``valid`` region, else 0).
    """
    from scipy.ndimage import minimum_filter

    weights = np.ones((height, width)) if area is None else area
    if area is not None and window > 1:
        eroded = minimum_filter(area, size=window, mode="nearest")
        # A mask thinner than the window would leave nothing; then fall back to the mask itself
        # rather than refusing to score (the leak is then at most one window wide).
        weights = eroded if eroded.any() else area
    if border:
        weights = weights.copy()
        weights[:border] = 0.0
        weights[-border:] = 0.0
        weights[:, :border] = 0.0
        weights[:, -border:] = 0.0
    return weights


def box_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sums over every ``size`` x ``size`` window lying inside a 2-D array (stride 1).

    Computed from a float64 summed-area table, so each window's sum is exact to float64 rounding
    whatever the window size. The result has shape ``(H - size + 1, W - size + 1)``; entry
    ``[y, x]`` is the window whose top-left pixel is ``(x, y)``.
    """
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    np.cumsum(np.cumsum(values, axis=0, dtype=np.float64), axis=1, out=table[1:, 1:])
    return table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]


@dataclass(frozen=True)
class LocalWorst:
    """The worst square window of a map: its mean and where it lies (pixels, top-left origin)."""

    value: float
    x: int
    y: int
    width: int
    height: int
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "x": self.x, "y": self.y, "width": self.width,
                "height": self.height, "coverage": self.coverage}


class _BestWindow:
    """The lowest window mean seen so far, over blocks of window sums (shared by both finders)."""

    size: int
    min_weight: float
    best: tuple[float, int, int, float] | None  # value, x, y, weight sum

    def _consider(self, value_sums: np.ndarray, weight_sums: np.ndarray, top: int,
                  divisor: float = 1.0) -> None:
        eligible = weight_sums >= self.min_weight
        if not eligible.any():
            return
        means = np.where(eligible, value_sums / np.where(eligible, weight_sums, 1.0), np.inf)
        y, x = np.unravel_index(int(np.argmin(means)), means.shape)
        value = float(means[y, x]) / divisor
        if self.best is None or value < self.best[0]:
            self.best = (value, int(x), int(y) + top, float(weight_sums[y, x]))

    def result(self) -> LocalWorst | None:
        if self.best is None:
            return None
        value, x, y, weight = self.best
        area = float(self.size * self.size)
        return LocalWorst(value, x, y, self.size, self.size, weight / area)


class WorstWindowFinder(_BestWindow):
    """The worst ``size`` x ``size`` window of a map fed row block by row block, in order.

    Memory is a few rows, never the image: each block's rows are summed over ``size``
    columns (float64 cumulative sums of one row at a time), and the last ``size - 1`` of those
    row sums are kept to complete the windows that straddle the next block. Ties go to the
    first window in row-major order (top-left first), as ``argmin`` over the whole map would.

    Parameters
    ----------
    height, width : int
        Size of the map; ``size`` shrinks to fit.
    size : int
        Window side in pixels.
    min_coverage : float
        A window counts only when its weights sum to at least this fraction of its area.
    """

    def __init__(self, height: int, width: int, size: int, min_coverage: float = 0.5):
        self.size = max(1, min(size, height, width))
        self.height, self.width = height, width
        self.min_weight = min_coverage * self.size * self.size
        self._carry = np.zeros((0, 2, width - self.size + 1))
        self._row = 0  # map row of the next block's first row
        self.best: tuple[float, int, int, float] | None = None  # value, x, y, weight sum

    def _row_sums(self, rows: np.ndarray) -> np.ndarray:
        table = np.zeros((rows.shape[0], rows.shape[1] + 1))
        np.cumsum(rows, axis=1, out=table[:, 1:])
        return table[:, self.size:] - table[:, :-self.size]

    def add(self, values: np.ndarray, weights: np.ndarray) -> None:
        """The next rows: ``values`` = map x weights and ``weights``, both ``(n, W)``."""
        sums = np.stack([self._row_sums(np.asarray(values, dtype=np.float64)),
                         self._row_sums(np.asarray(weights, dtype=np.float64))], axis=1)
        rows = np.concatenate([self._carry, sums])
        top = self._row - len(self._carry)  # map row of rows[0]
        self._row += len(values)
        self._carry = rows[max(0, len(rows) - (self.size - 1)):] if self.size > 1 else rows[:0]
        if len(rows) < self.size:
            return
        table = np.zeros((len(rows) + 1,) + rows.shape[1:])
        np.cumsum(rows, axis=0, out=table[1:])
        windows = table[self.size:] - table[:-self.size]  # (n_windows, 2, W')
        self._consider(windows[:, 0], windows[:, 1], top)


class RegionWindowFinder(_BestWindow):
    """`WorstWindowFinder` for the common case, weights = 1 inside a rectangle, 0 outside.

    The weight of every window then follows from two 1-D counts, and only the values need box
    sums: OpenCV's running-sum box filter, in float64, over the last ``size - 1`` rows plus the
    new ones. Fed channel-summed rows (``channels`` says how many were added up) by `add`, or,
    where the native kernel is built, the SSIM map's rows themselves by `add_ssim`: channel
    sums, running box sums and the comparison in one pass in C (``_native.window_rows``),
    ~10 ms on a 4K RGB map instead of ~130 ms, and no OpenCV import.
    """

    def __init__(self, height: int, width: int, size: int, rows: tuple[int, int],
                 cols: tuple[int, int], channels: int = 1, min_coverage: float = 0.5):
        self.size = max(1, min(size, height, width))
        self.height, self.width, self.channels = height, width, channels
        self.min_weight = min_coverage * self.size * self.size
        self.rows, self.cols = rows, cols
        inside = np.zeros(width)
        inside[cols[0]:cols[1]] = 1.0
        table = np.concatenate([[0.0], np.cumsum(inside)])
        self._col_counts = table[self.size:] - table[:-self.size]  # (W - size + 1,)
        self._carry = np.zeros((0, width))
        self._row = 0
        self.best: tuple[float, int, int, float] | None = None
        from .fast import native_module

        self._native = native_module()
        if self._native is not None:
            self._ring = np.zeros((self.size, width))
            self._columns = np.zeros(width)
            self._best = np.array([np.inf, 0.0, 0.0, 0.0])

    @property
    def native(self) -> bool:
        """Whether `add_ssim` is available (the native kernel is built)."""
        return self._native is not None

    def add_ssim(self, ssim: np.ndarray) -> None:
        """The next rows of the SSIM map itself, ``(n, W, channels)`` float32 (native only)."""
        rows = np.ascontiguousarray(ssim, dtype=np.float32)
        region = (self.rows[0], self.rows[1], self.cols[0], self.cols[1])
        self._native.window_rows(rows, rows.shape[0], self.width, self.channels, self._row,
                                 self.size, self._ring, self._columns, self._col_counts, region,
                                 self.min_weight, self._best)
        self._row += rows.shape[0]
        mean, x, y, weight = (float(v) for v in self._best)
        if math.isfinite(mean):
            self.best = (mean / self.channels, int(x), int(y), weight)

    def add(self, sums: np.ndarray) -> None:
        """The next rows of the channel-summed map, ``(n, W)`` float64, zero outside the rectangle."""
        import cv2

        band = np.concatenate([self._carry, sums]) if len(self._carry) else sums
        top = self._row - len(self._carry)
        self._row += len(sums)
        keep = max(0, len(band) - (self.size - 1)) if self.size > 1 else len(band)
        self._carry = band[keep:]
        count = len(band) - self.size + 1
        if count <= 0:
            return
        boxed = cv2.boxFilter(band, cv2.CV_64F, (self.size, self.size), anchor=(0, 0),
                              normalize=False, borderType=cv2.BORDER_CONSTANT)
        value_sums = boxed[:count, :self.width - self.size + 1]
        tops = np.arange(top, top + count)
        row_table = np.clip(np.minimum(tops + self.size, self.rows[1])
                            - np.maximum(tops, self.rows[0]), 0, None)
        weight_sums = row_table[:, None] * self._col_counts[None, :]
        self._consider(value_sums, weight_sums, top, self.channels)


def worst_window(map_: np.ndarray, weights: np.ndarray, size: int,
                 min_coverage: float = 0.5, block_rows: int = 256) -> LocalWorst | None:
    """The lowest weighted mean of ``map_`` over all overlapping ``size``-pixel square windows.

    Parameters
    ----------
    map_ : ndarray
        ``(H, W)`` or ``(H, W, C)``; channels are averaged first (one local score per place).
    weights : ndarray
        ``(H, W)`` weights from `map_weights` (mask, ignore regions, averaging region).
    size : int
        Window side in pixels; shrinks to the image when the image is smaller.
    min_coverage : float
        A window counts only when its weights sum to at least this fraction of its area, so a
        window that sees a handful of pixels at the edge of a mask cannot decide the result.

    Returns
    -------
    LocalWorst or None
        ``None`` when no window has enough coverage. Computed ``block_rows`` rows at a time
        (`WorstWindowFinder`): no image-sized summed-area table.
    """
    finder = WorstWindowFinder(map_.shape[0], map_.shape[1], size, min_coverage)
    for start in range(0, map_.shape[0], block_rows):
        rows = map_[start:start + block_rows]
        plane = rows.mean(axis=2, dtype=np.float64) if rows.ndim == 3 else rows.astype(np.float64)
        block_weights = weights[start:start + block_rows]
        finder.add(plane * block_weights, block_weights)
    return finder.result()
