"""Clearly changed pixels: pixelmatch's perceptual colour distance, counted.

pixelmatch (and Playwright's ``toHaveScreenshot``, which uses it) calls a pixel changed when the
squared YIQ distance of its two colours (Kotsarenko and Ramos, 2010: weights 0.5053, 0.299,
0.1957 on the Y, I and Q differences of 8-bit values) exceeds ``35215 * threshold**2``, 35215
being the largest possible distance (black against white). Here the colours are the prepared
planes of a pair (after transparency and colour policies) in [0, 1], so the same test reads
``delta / 35215 > threshold**2`` with ``delta`` computed on ``255 * value``.

Pure computation: no I/O. Memory stays bounded: the planes are processed in row strips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: pixelmatch's largest possible YIQ distance (8-bit black against white).
MAX_YIQ_DELTA = 35215.0
_Y = (0.29889531, 0.58662247, 0.11448223)
_I = (0.59597799, -0.27417610, -0.32180189)
_Q = (0.21147017, -0.52261711, 0.31114694)
_WEIGHTS = (0.5053, 0.299, 0.1957)
_STRIP_PIXELS = 1 << 18
_YIQ = np.asarray([_Y, _I, _Q], dtype=np.float32).T
#: The YIQ weights times 255**2 / 35215: the distance of [0, 1] values, divided by its maximum.
_WEIGHTS_SCALED = np.asarray(_WEIGHTS, dtype=np.float32) * np.float32(255.0 ** 2 / MAX_YIQ_DELTA)


@dataclass(frozen=True)
class ChangedPixels:
    """How many pixels changed clearly, and the box around them (``None`` when none did).

    ``count`` is weighted by the compared area (a half-weighted mask pixel counts half).
    ``box`` is ``(x, y, width, height)`` around every changed pixel.
    """

    count: float
    box: tuple[int, int, int, int] | None

    def to_dict(self) -> dict[str, object]:
        box = None if self.box is None else dict(zip(("x", "y", "width", "height"), self.box, strict=True))
        return {"count": self.count, "box": box}


def yiq_delta(x: np.ndarray, y: np.ndarray, divisor: float = 1.0) -> np.ndarray:
    """pixelmatch's squared YIQ distance of each pixel, divided by its maximum (in [0, 1]).

    ``x``, ``y``: ``(H, W, C)`` with ``values / divisor`` in [0, 1] (native integers or
    floats); C is 1 (grey), 3 (RGB), or either plus an alpha channel (``--transparency
    channel``), whose difference counts as a grey difference.
    """
    colour = 3 if x.shape[2] >= 3 else 1
    diff = np.subtract(x, y, dtype=np.float32)
    if divisor != 1.0:
        diff *= np.float32(1.0 / divisor)
    if colour == 3:
        # One product gives the Y, I and Q differences; one more weighs their squares.
        yiq = diff[..., :3] @ _YIQ
        np.square(yiq, out=yiq)
        delta = yiq @ _WEIGHTS_SCALED
    else:  # a grey level has I = Q = 0 (each row of the I and Q weights sums to zero)
        delta = np.square(diff[..., 0]) * _WEIGHTS_SCALED[0]
    if x.shape[2] > colour:
        delta = np.maximum(delta, np.square(diff[..., colour]) * _WEIGHTS_SCALED[0])
    return delta


def changed_pixels(x: np.ndarray, y: np.ndarray, threshold: float,
                   area: np.ndarray | None = None, divisor: float = 1.0) -> ChangedPixels:
    """Count the pixels whose colour distance exceeds ``threshold`` (pixelmatch's option, 0-1).

    Parameters
    ----------
    x, y : ndarray
        ``(H, W, C)`` prepared planes, ``values / divisor`` in [0, 1].
    threshold : float
        0 counts every differing pixel; pixelmatch's default is 0.1, Playwright's 0.2.
    area : ndarray, optional
        ``(H, W)`` weights in [0, 1] (mask, ignore rectangles): a pixel counts with its weight.
    divisor : float
        What brings the values to [0, 1] (255 for 8-bit arrays, 1 for floats).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    height, width = x.shape[:2]
    limit = np.float32(threshold * threshold)
    rows = max(1, _STRIP_PIXELS // max(width, 1))
    count = 0.0
    row_hits: list[np.ndarray] = []
    col_hits = np.zeros(width, dtype=bool)
    for top in range(0, height, rows):
        band = slice(top, min(top + rows, height))
        changed = yiq_delta(x[band], y[band], divisor) > limit
        if area is not None:
            weights = area[band]
            count += float(weights[changed].sum())
            changed &= weights > 0
        else:
            count += float(np.count_nonzero(changed))
        row_hits.append(np.asarray(changed.any(axis=1)))
        col_hits |= changed.any(axis=0)
    return ChangedPixels(count, _box(np.concatenate(row_hits) if row_hits else np.zeros(0, bool), col_hits))


def _box(rows: np.ndarray, cols: np.ndarray) -> tuple[int, int, int, int] | None:
    if not rows.any():
        return None
    row_index, col_index = np.flatnonzero(rows), np.flatnonzero(cols)
    top, left = int(row_index[0]), int(col_index[0])
    return left, top, int(col_index[-1]) - left + 1, int(row_index[-1]) - top + 1
