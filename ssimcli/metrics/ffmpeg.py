"""FFmpeg's ``ssim`` and ``psnr`` filters (libavfilter/vf_ssim.c, vf_psnr.c), reproduced exactly.

`ssim_plane` is vf_ssim's per-plane value: the picture cut into 4x4 blocks (the last
``w % 4`` columns and ``h % 4`` rows ignored), integer sums of a, b, a*a + b*b and a*b per
block, and one SSIM term per 8x8 window of 2x2 adjacent blocks (windows overlap by 4 pixels),
with ffmpeg's integer constants ``c1 = (int)(.01**2 * max**2 * 64 + .5)`` and
``c2 = (int)(.03**2 * max**2 * 64 * 63 + .5)``. Its two code paths are kept apart because they
round differently:

* 8-bit: the window sums and the numerator and denominator terms are C ``int``; each term is
  converted to ``float`` and the window's value is ``float(A) * float(B) / (float(C) * float(D))``
  in single precision; a row of windows is summed in double (``ssim_endn_8bit`` and its SSE4 form,
  which also works in float per window and adds the results in double).
* 9- to 16-bit: ``int64`` sums and terms, the same single-precision window value, but the row is
  summed in *float* (``ssim_endn_16bit``'s ``float ssim``), one window after another; rows then
  add in double.

The plane's value is the sum over rows divided by ``((w >> 2) - 1) * ((h >> 2) - 1)``; the
frame's ``All`` is the area-weighted mean of the planes (`area_weighted`), and its dB is
`ssim_db`. vf_psnr's per-plane MSE is the exact integer sum of squared differences divided by
the plane's area in double; `psnr_db` is its ``10 * log10(max**2 / mse)`` (``inf`` for identical
planes, which ffmpeg prints as ``inf``), and ``psnr_avg`` is `psnr_db` of the area-weighted MSE
with ``max`` the rounded area-weighted mean of the planes' maxima (the same ``max`` for YUV).

Everything is vectorised with NumPy: block sums as strided adds of 4 rows and 4 columns, the
windows as two shifted adds, the window formula on whole arrays. The order of the
floating-point additions matters only where ffmpeg sums in float (the 16-bit rows), and there
it is kept (a sequential `numpy.cumsum` in float32); integer sums are exact in any order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["area_weighted", "mse_plane", "psnr_db", "ssim_db", "ssim_plane", "ssim_constants"]


def ssim_constants(max_value: int) -> tuple[int, int]:
    """vf_ssim's (c1, c2), computed as its C does: in double, then truncated toward zero."""
    c1 = int(.01 * .01 * max_value * max_value * 64 + .5)
    c2 = int(.03 * .03 * max_value * max_value * 64 * 63 + .5)
    return c1, c2


def _check(reference: np.ndarray, distorted: np.ndarray) -> None:
    if reference.shape != distorted.shape or reference.ndim != 2:
        raise ValueError(f"planes must be 2-D and the same shape, not {reference.shape} and {distorted.shape}")


def _block_sum(x: np.ndarray) -> np.ndarray:
    """Sums of 4x4 blocks of a (4*H, 4*W) array."""
    rows = x[0::4] + x[1::4]
    rows += x[2::4]
    rows += x[3::4]
    out = rows[:, 0::4] + rows[:, 1::4]
    out += rows[:, 2::4]
    out += rows[:, 3::4]
    return out


def _window_sum(blocks: np.ndarray) -> np.ndarray:
    """Sums of every 2x2 group of adjacent blocks (the overlapping 8x8 windows)."""
    pairs = blocks[:, :-1] + blocks[:, 1:]
    return pairs[:-1] + pairs[1:]


def _window_terms(reference: np.ndarray, distorted: np.ndarray,
                  dtype: type[np.signedinteger]) -> tuple[np.ndarray, ...]:
    """(s1, s2, ss, s12) per 8x8 window, in the integer type of ffmpeg's path."""
    h4, w4 = reference.shape[0] & ~3, reference.shape[1] & ~3
    a = reference[:h4, :w4].astype(dtype)
    b = distorted[:h4, :w4].astype(dtype)
    s1 = _window_sum(_block_sum(a))
    s2 = _window_sum(_block_sum(b))
    ab = a * b
    a *= a
    b *= b
    a += b
    ss = _window_sum(_block_sum(a))
    s12 = _window_sum(_block_sum(ab))
    return s1, s2, ss, s12


def _window_ssim(s1: np.ndarray, s2: np.ndarray, ss: np.ndarray, s12: np.ndarray,
                 c1: int, c2: int) -> np.ndarray:
    """ssim_end1 / ssim_end1x: integer terms, then the quotient in single precision."""
    f32 = np.float32
    s1s2 = s1 * s2
    sq = s1 * s1
    sq += s2 * s2
    num1 = (2 * s1s2 + c1).astype(f32)
    num2 = (2 * (s12 * 64 - s1s2) + c2).astype(f32)
    den2 = (ss * 64 - sq + c2).astype(f32)
    sq += c1
    den1 = sq.astype(f32)
    num1 *= num2
    den1 *= den2
    num1 /= den1
    return num1


def ssim_plane(reference: np.ndarray, distorted: np.ndarray, max_value: int) -> float:
    """vf_ssim's value for one plane (``Y``/``U``/``V`` in its stats file).

    Parameters
    ----------
    reference, distorted : ndarray
        2-D planes of the same shape, ``uint8`` (8-bit path) or ``uint16`` (9-16-bit path).
    max_value : int
        ``2**bits - 1`` of the plane's format (255 selects the 8-bit path's constants).

    Returns
    -------
    float
        The mean of the 8x8-window terms; NaN when the plane has fewer than two 4x4 blocks
        in a direction (ffmpeg divides by zero there).
    """
    _check(reference, distorted)
    nh, nw = (reference.shape[0] >> 2) - 1, (reference.shape[1] >> 2) - 1
    if nh < 1 or nw < 1:
        return math.nan
    c1, c2 = ssim_constants(max_value)
    if max_value <= 255 and reference.dtype.itemsize == 1:
        values = _window_ssim(*_window_terms(reference, distorted, np.int32), c1, c2)
        total = float(values.sum(dtype=np.float64))
    else:
        values = _window_ssim(*_window_terms(reference, distorted, np.int64), c1, c2)
        rows = np.cumsum(values, axis=1, dtype=np.float32)[:, -1]
        total = float(rows.sum(dtype=np.float64))
    return total / (nw * nh)


def ssim_db(ssim: float) -> float:
    """vf_ssim's dB: ``10 * log10(1 / (1 - ssim))``, ``inf`` within 1e-9 of 1."""
    return 10.0 * math.log10(1.0 / (1.0 - ssim)) if abs(1.0 - ssim) > 1e-9 else math.inf


def mse_plane(reference: np.ndarray, distorted: np.ndarray) -> float:
    """vf_psnr's per-plane MSE: the exact sum of squared differences over the plane's area."""
    _check(reference, distorted)
    d = reference.astype(np.int32) - distorted.astype(np.int32)
    if reference.dtype.itemsize == 1:
        sse = int(np.einsum("ij,ij->", d, d, dtype=np.int64))
    else:
        d64 = d.astype(np.int64)
        sse = int(np.einsum("ij,ij->", d64, d64))
    return sse / float(reference.shape[0] * reference.shape[1])


def psnr_db(mse: float, max_value: int) -> float:
    """vf_psnr's ``10 * log10(max**2 / mse)``; ``inf`` when the MSE is 0 (ffmpeg prints ``inf``)."""
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(float(max_value * max_value) / mse)


def area_weighted(values: Sequence[float], areas: Sequence[int]) -> float:
    """The planes' values weighted by their share of the frame's samples, as both filters do.

    Each weight is ``area / total`` in double and the products are added in plane order, so the
    result is ffmpeg's ``All`` (vf_ssim) and ``mse_avg`` (vf_psnr) bit for bit.
    """
    if len(values) != len(areas) or not values:
        raise ValueError("one area per value, at least one value")
    total = 0
    for area in areas:
        total += int(area)
    out = 0.0
    for value, area in zip(values, areas, strict=True):
        out += (float(area) / total) * value
    return out


def psnr_average_max(max_values: Sequence[int], areas: Sequence[int]) -> int:
    """vf_psnr's ``average_max``: the area-weighted mean of the planes' maxima, rounded."""
    mean = 0.0
    total = sum(int(a) for a in areas)
    for value, area in zip(max_values, areas, strict=True):
        mean += value * (float(area) / total)
    return int(np.rint(mean))
