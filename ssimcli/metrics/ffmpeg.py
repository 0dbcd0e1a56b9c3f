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

That is ffmpeg's C code, and what its x86 build prints for most sizes; where a plane's rows have
``4k + 1`` windows the x86 build differs (a remainder bug in its SSE4 row routine) and `VfSsim`
reproduces it, frame after frame, for a given filter thread count.

Two implementations, bit-identical (the tests compare them): the compiled ``_ffssim`` module
(plain C, 2.3 ms for the three planes of a 1080p 4:2:0 8-bit frame, SSIM and MSE, 6.9 ms at 10
bits, one core) and NumPy where it is not built (about 45 ms): block sums as strided adds of 4
rows and 4 columns, the windows as two shifted adds, the window formula on whole arrays. The
order of the floating-point additions matters only where ffmpeg sums in float (the 16-bit
rows), and there it is kept (a sequential `numpy.cumsum` in float32); integer sums are exact in
any order.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

try:  # the compiled sums (setup.py builds it where a C compiler is available)
    _native: Any = importlib.import_module("ssimcli.metrics._ffssim")
except ImportError:  # pragma: no cover - depends on the build
    _native = None
#: Tests set this to compare the NumPy path with the compiled one.
_FORCE_NUMPY = False

__all__ = ["VfSsim", "area_weighted", "ffmpeg_default_threads", "mse_plane", "psnr_db", "row_sums", "ssim_constants",
           "ssim_db", "ssim_plane"]


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
                  dtype: type[np.signedinteger]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def _row_sums_numpy(reference: np.ndarray, distorted: np.ndarray, max_value: int, drop_last: bool) -> np.ndarray:
    c1, c2 = ssim_constants(max_value)
    eight = reference.dtype.itemsize == 1
    values = _window_ssim(*_window_terms(reference, distorted, np.int32 if eight else np.int64), c1, c2)
    if drop_last:
        values = values[:, :-1]
    if not values.shape[1]:
        return np.zeros(values.shape[0])
    if eight:  # ssim_endn_8bit: a double accumulator
        return np.cumsum(values, axis=1, dtype=np.float64)[:, -1]
    # ssim_endn_16bit: a float accumulator, one window after another
    return np.cumsum(values, axis=1, dtype=np.float32)[:, -1].astype(np.float64)


def row_sums(reference: np.ndarray, distorted: np.ndarray, max_value: int, *, drop_last: bool = False
             ) -> np.ndarray:
    """Each row of windows' sum of SSIM terms (``(h >> 2) - 1`` float64 values), as vf_ssim sums it.

    ``drop_last`` leaves out each row's last window (the x86 build's remainder handling, `VfSsim`).
    The compiled kernel (``_ffssim``, bit-identical) is used when it is built, else NumPy.
    """
    _check(reference, distorted)
    if (reference.shape[0] >> 2) < 2 or (reference.shape[1] >> 2) < 2:
        raise ValueError("a plane needs at least two 4x4 blocks each way")
    if reference.dtype != distorted.dtype or reference.dtype.kind != "u" or reference.dtype.itemsize > 2:
        raise ValueError(f"planes must be uint8 or uint16 of one type, not {reference.dtype} and {distorted.dtype}")
    if reference.dtype.itemsize == 1 and max_value != 255:
        raise ValueError("8-bit planes use max_value 255 (vf_ssim's 8-bit path)")
    if _native is not None and not _FORCE_NUMPY:
        out = np.empty((reference.shape[0] >> 2) - 1, np.float64)
        _native.row_sums(_rows_contiguous(reference), _rows_contiguous(distorted), out, int(max_value), drop_last)
        return out
    return _row_sums_numpy(reference, distorted, max_value, drop_last)


def _rows_contiguous(plane: np.ndarray) -> np.ndarray:
    return plane if plane.strides[1] == plane.itemsize else np.ascontiguousarray(plane)


def ssim_plane(reference: np.ndarray, distorted: np.ndarray, max_value: int) -> float:
    """vf_ssim's value for one plane (``Y``/``U``/``V`` in its stats file), as its C code computes it.

    Parameters
    ----------
    reference, distorted : ndarray
        2-D planes of the same shape, ``uint8`` (8-bit path, `max_value` 255) or ``uint16``
        (the 9-16-bit path).
    max_value : int
        ``2**bits - 1`` of the plane's format.

    Returns
    -------
    float
        The mean of the 8x8-window terms; NaN when the plane has fewer than two 4x4 blocks
        in a direction (ffmpeg divides by zero there).

    Notes
    -----
    This is ffmpeg's C code, and ffmpeg's x86 build wherever a plane's ``(w >> 2) % 4 != 2``;
    `VfSsim` reproduces the x86 build for the other widths too.
    """
    _check(reference, distorted)
    nh, nw = (reference.shape[0] >> 2) - 1, (reference.shape[1] >> 2) - 1
    if nh < 1 or nw < 1:
        return math.nan
    rows = row_sums(reference, distorted, max_value)
    return float(np.cumsum(rows)[-1]) / (nw * nh)


def ffmpeg_default_threads(cpus: int) -> int:
    """libavfilter's thread count for a graph left at its default: the CPUs plus one, or 1 on one CPU."""
    return cpus + 1 if cpus > 1 else 1


def _block_row(reference: np.ndarray, distorted: np.ndarray, z: int, bw: int) -> np.ndarray:
    """(bw, 4) int64 sums (s1, s2, ss, s12) of the 4x4 blocks in block row z."""
    a = reference[4 * z:4 * z + 4, :4 * bw].astype(np.int64)
    b = distorted[4 * z:4 * z + 4, :4 * bw].astype(np.int64)
    terms = (a, b, a * a + b * b, a * b)
    return np.stack([t.reshape(4, bw, 4).sum(axis=(0, 2)) for t in terms], axis=1)


class VfSsim:
    """vf_ssim frame after frame, as an x86 build of ffmpeg prints it (or its C code, ``x86=False``).

    ffmpeg's SSE4 row routine (``ff_ssim_end_line_sse4``, libavfilter/x86/vf_ssim.asm) takes four
    windows at a time; when a row has ``4k + 1`` windows (a plane ``(w >> 2) % 4 == 2`` blocks
    wide: 176 or 720 pixels' chroma, 168 pixels' luma) its remainder handling subtracts the wrong
    lanes, so the row's last window is replaced by one made of the two entries past the row's
    end in each of its two sum buffers. Those entries hold what earlier rows left there: sums of
    the luma plane (for a chroma plane), of an earlier frame's planes, or zeros. Each of the
    filter's slice jobs has its own buffers, so the printed value depends on the job count,
    ``min((chroma height + 3) >> 2, threads)``, with ``threads`` libavfilter's thread count
    (`ffmpeg_default_threads` of the CPUs unless ``-filter_complex_threads`` says otherwise).
    This class keeps those buffers as ffmpeg does and reproduces the printed values exactly.
    Where a plane's width in blocks is odd the SSSE3 block routine also writes one entry from
    the frame's padding; if such an entry is ever read, `exact` becomes False (zeros are used).
    8-bit only: the 9-16-bit path is plain C everywhere and needs no state.
    """

    def __init__(self, *, threads: int = 1, x86: bool = True) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.threads = threads
        self.x86 = x86
        self.exact = True
        self._temp: list[np.ndarray] = []
        self._unknown: list[np.ndarray] = []

    @staticmethod
    def quirk_applies(plane_sizes: Sequence[tuple[int, int]], bit_depth: int) -> bool:
        """Whether the x86 build's values differ from the C code's for planes of these (h, w) sizes:
        8-bit with some plane ``(w >> 2) % 4 == 2``. Only then do the thread count and feeding
        every frame (all planes, in order) matter; elsewhere `ssim_plane` per plane is the same."""
        return bit_depth <= 8 and any((w >> 2) % 4 == 2 and (h >> 2) >= 2 for h, w in plane_sizes)

    def frame(self, reference: Sequence[np.ndarray], distorted: Sequence[np.ndarray], max_value: int
              ) -> list[float]:
        """The per-plane values of one frame (planes in the format's order, luma first)."""
        eight = reference[0].dtype.itemsize == 1
        if not (self.x86 and eight):
            return [ssim_plane(a, b, max_value) for a, b in zip(reference, distorted, strict=True)]
        if not self._temp:
            entries = 2 * ((reference[0].shape[1] >> 2) + 3)
            self._temp = [np.zeros((entries, 4), np.int64) for _ in range(self.threads)]
            self._unknown = [np.zeros(entries, bool) for _ in range(self.threads)]
        height1 = reference[1].shape[0] if len(reference) > 1 else reference[0].shape[0]
        jobs = min((height1 + 3) >> 2, self.threads)
        return [self._plane(a, b, max_value, jobs) for a, b in zip(reference, distorted, strict=True)]

    def _plane(self, a: np.ndarray, b: np.ndarray, max_value: int, jobs: int) -> float:
        _check(a, b)
        bh, bw = a.shape[0] >> 2, a.shape[1] >> 2
        if bh < 2 or bw < 2:
            return math.nan
        quirk = (bw - 1) % 4 == 1
        rows = row_sums(a, b, max_value, drop_last=quirk)
        total = 0.0
        for j in range(jobs):
            start, end = max(1, (bh * j) // jobs), (bh * (j + 1)) // jobs
            if end <= start:
                continue
            part = rows[start - 1:end - 1]
            if quirk:
                part = part + self._stale_window(j, bw, max_value)
            total += float(np.cumsum(part)[-1])
            self._remember(j, a, b, start, end, bw)
        return total / ((bw - 1) * (bh - 1))

    def _stale_window(self, job: int, bw: int, max_value: int) -> float:
        t, unknown, second = self._temp[job], self._unknown[job], bw + 3
        picks = [bw, bw + 1, second + bw, second + bw + 1]
        if unknown[picks].any():
            self.exact = False
        q = t[picks].sum(axis=0)
        c1, c2 = ssim_constants(max_value)
        terms = [np.array([v], np.int32) for v in q]
        return float(_window_ssim(terms[0], terms[1], terms[2], terms[3], c1, c2)[0])

    def _remember(self, job: int, a: np.ndarray, b: np.ndarray, start: int, end: int, bw: int) -> None:
        """What the job's block rows leave in its two buffers (the SSSE3 routine writes pairs)."""
        writes = end - start + 1  # block rows start - 1 .. end - 1, first into the second buffer
        last_first = writes % 2 == 0  # the last row went into the first buffer
        rows = {0: end - 1 if last_first else end - 2, bw + 3: end - 2 if last_first else end - 1}
        written = bw + (bw & 1)
        for offset, z in rows.items():
            self._temp[job][offset:offset + bw] = _block_row(a, b, z, bw)
            self._unknown[job][offset:offset + bw] = False
            if written > bw:
                self._temp[job][offset + bw] = 0
                self._unknown[job][offset + bw] = True


def ssim_db(ssim: float) -> float:
    """vf_ssim's dB: ``10 * log10(1 / (1 - ssim))``, ``inf`` within 1e-9 of 1."""
    return 10.0 * math.log10(1.0 / (1.0 - ssim)) if abs(1.0 - ssim) > 1e-9 else math.inf


def mse_plane(reference: np.ndarray, distorted: np.ndarray) -> float:
    """vf_psnr's per-plane MSE: the exact sum of squared differences over the plane's area."""
    _check(reference, distorted)
    if _native is not None and not _FORCE_NUMPY and reference.dtype == distorted.dtype \
            and reference.dtype.itemsize <= 2 and reference.dtype.kind == "u":
        sse_native = int(_native.sse(_rows_contiguous(reference), _rows_contiguous(distorted)))
        return sse_native / float(reference.shape[0] * reference.shape[1])
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
