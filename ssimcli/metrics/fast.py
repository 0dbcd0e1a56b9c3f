"""The fast CPU engine: strips of rows on threads, each through the native kernel or OpenCV.

Why this shape:

* **Native kernel.** Where the C extension is built (`ssimcli/metrics/_native.c`, setup.py),
  each strip is one call (`_StripJob.native_strip`): conversion, padding, products, both
  filter passes, the formula, region sums, squared errors, map rows and heatmap colour indexes,
  per cache-sized column tile; about a third of the OpenCV path's CPU time. Everything below
  describes the OpenCV path, which remains the fallback (``SSIM_L1_NATIVE=0`` selects it) and
  whose strip plan, centring and sums the kernel follows.
* **OpenCV.** ``cv2.sepFilter2D`` (SIMD, symmetric kernels) filters a float32 plane about ten
  times faster than SciPy's ``correlate1d`` and several times faster than the banded BLAS
  products this engine used before (`banded_filter` keeps that form for the whole-image path).
  ``cv2.LUT`` turns an 8-bit strip into centred floats in one pass, ``cv2.addWeighted`` fuses
  the covariance arithmetic, ``cv2.sumElems`` sums float32 in double precision.
* **Strips, native inputs.** Rows are processed in bands of a few dozen rows with a halo of
  the window radius, padded as the preset says. The images arrive as decoded (uint8, uint16,
  float) and only each band is converted to the working precision, so peak memory is the two
  decoded images plus a few megabytes per thread; maps are written only when asked for, and
  straight into their full-size arrays. Region means accumulate strip by strip in float64, as
  do PSNR's squared errors (from the values as given: exact for integers) and, when asked, the
  worst local window (`masked.WorstWindowFinder`, fed in row order).
* **Threads.** NumPy and OpenCV release the GIL, so strips run on one thread per core, with
  OpenCV (and BLAS) limited to one thread inside them (they would otherwise oversubscribe).

* **Centring per strip.** The planes are centred on each strip's own level (per channel) rather
  than on L/2. Variances do not depend on the centre, but float32 rounding in
  ``E[x'^2] - E[x']^2`` grows with ``|x'|``: on flat areas (white pages, black borders, sky)
  this makes the fast path several times more accurate than the reference one.

The per-pixel arithmetic computes `core.maps_from_moments`'s formula with fewer passes, so the
two paths differ only by rounding (float32: ~1e-5 on SSIM/CS maps of photos; float64: ~1e-15);
identical images still give exactly 1 and swapping the images changes no bit.

Why one long module: the strip plan, workspaces, filtering, per-pixel arithmetic, sums and the
map hand-over share private buffers and invariants (halo, centring, precision); split across
modules they would need a public interface that only this engine would use.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ValuesOutOfRange
from .params import MetricParams, Window

_NATIVE_KERNEL: Any
try:  # the fused strip kernel (setup.py builds it where a C compiler is available)
    # By name: a C extension, so no edge of the Python import graph (which a `from . import`
    # of it would draw to the package itself, a false circle through `metrics/__init__`).
    _NATIVE_KERNEL = importlib.import_module("ssimcli.metrics._native")
except ImportError:  # pragma: no cover - depends on the build
    _NATIVE_KERNEL = None

VERTICAL_BLOCK = 16
HORIZONTAL_BLOCK = 32
DEFAULT_STRIP_ROWS = 32
# Below about this many samples per thread, handing strips to threads costs more than it
# saves (measured here: two threads gain ~20% from a 135x240 RGB pair up).
_THREAD_MIN_SAMPLES = 1 << 16
# Narrow images get taller strips, so that each strip still amortises its ~30 NumPy calls.
_STRIP_MIN_SAMPLES = DEFAULT_STRIP_ROWS * 4096
# Planes per channel: x', y', x'^2 + y'^2, x'y' and, when L1 is wanted, |x - y|.
_X, _Y, _SQUARES, _PRODUCT, _ABSDIFF = range(5)
# Input dtypes the native kernel reads as they are (its dtype codes).
_NATIVE_DTYPES = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2,
                  np.dtype(np.float64): 3}
_NATIVE_SUMS = {"ssim": 0, "cs": 1, "l1": 2}


def native_available() -> bool:
    """Whether the fused native kernel is built and enabled (``SSIM_L1_NATIVE=0`` disables it:
    the OpenCV path then runs, e.g. to compare the two)."""
    return _NATIVE_KERNEL is not None and os.environ.get("SSIM_L1_NATIVE", "1") != "0"


def native_module() -> Any:
    """The native kernel's module where `native_available`, else ``None``."""
    return _NATIVE_KERNEL if native_available() else None


def toeplitz_block(weights: np.ndarray, block: int, dtype: Any) -> np.ndarray:
    """The ``block x (block + 2r)`` matrix whose row ``i`` holds ``weights`` at columns ``i..i+2r``.

    Multiplying it by ``block + 2r`` consecutive padded samples gives ``block`` filtered ones.
    """
    size = len(weights)
    matrix = np.zeros((block, block + size - 1), dtype=dtype)
    for i in range(block):
        matrix[i, i:i + size] = weights
    return matrix


def banded_filter(planes: Any, weights: np.ndarray, backend: Any) -> Any:
    """Whole-array banded-product filter with the `core.SeparableFilter` signature.

    ``planes`` is ``(..., H + 2r, W + 2r)``, already padded; returns ``(..., H, W)``. It only
    uses ``matmul`` and slicing of ``backend.xp``, so it runs on CuPy as well; the strip engine
    (`strip_metrics`) is the fast path, this is the simple form of the same idea, kept for tests
    and for backends without strips.
    """
    xp = backend.xp
    size = len(weights)
    radius = size // 2
    height = planes.shape[-2] - 2 * radius
    width = planes.shape[-1] - 2 * radius
    block = VERTICAL_BLOCK
    tv = xp.asarray(toeplitz_block(weights, block, planes.dtype))
    rows = xp.empty(planes.shape[:-2] + (height, width + 2 * radius), dtype=planes.dtype)
    for start in range(0, height, block):
        stop = min(start + block, height)
        n = stop - start
        rows[..., start:stop, :] = xp.matmul(tv[:n, :n + 2 * radius],
                                             planes[..., start:stop + 2 * radius, :])
    block = HORIZONTAL_BLOCK
    th = xp.asarray(np.ascontiguousarray(toeplitz_block(weights, block, planes.dtype).T))
    out = xp.empty(planes.shape[:-2] + (height, width), dtype=planes.dtype)
    for start in range(0, width, block):
        stop = min(start + block, width)
        n = stop - start
        out[..., start:stop] = xp.matmul(rows[..., start:stop + 2 * radius],
                                         th[:n + 2 * radius, :n])
    return out


def default_threads() -> int:
    """Cores this process may run on (``SSIM_L1_THREADS`` overrides)."""
    env = os.environ.get("SSIM_L1_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_POOL_LOCK = threading.Lock()
_POOL: Any = None
_POOL_KEY: tuple[int, int] = (0, 0)


def _helper_pool(helpers: int) -> Any:
    """A process-wide pool of at least ``helpers`` threads, kept between calls.

    Starting a thread costs ~0.1-1.5 ms here (it waits until the new thread runs, which on a
    busy machine takes a while); MS-SSIM alone would start a dozen. Rebuilt after a fork,
    whose child inherits the pool object but not its threads.
    """
    global _POOL, _POOL_KEY
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        size, pid = _POOL_KEY
        if _POOL is None or pid != os.getpid() or size < helpers:
            _POOL = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="ssim-l1")
            _POOL_KEY = (helpers, os.getpid())
        return _POOL


def _after_fork_in_child() -> None:
    # A fork copies locks as they were (maybe held by a thread that does not exist in the
    # child) and the pool object without its threads: start afresh.
    global _POOL, _POOL_LOCK, _SPARE_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()
    _SPARE_LOCK = threading.Lock()
    _OneThreadInside._lock = threading.Lock()
    _OneThreadInside._users = 0
    _OneThreadInside._limiter = None
    _OneThreadInside._saved_cv2 = None


def _map_indices(index: np.ndarray, n: int, padding: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Source indices in ``[0, n)`` for ``index`` (which may lie outside) under ``padding``.

    Returns the indices and, for zero padding, the mask of positions outside the image. Indices
    beyond the halo only feed rows or columns that are computed and then discarded, so any valid
    index serves there; clipping keeps them valid on tiny images.
    """
    if padding == "reflect":
        # SciPy "reflect" = NumPy "symmetric": d c b a | a b c d | d c b a
        mapped = np.where(index < 0, -index - 1, index)
        mapped = np.where(mapped >= n, 2 * n - 1 - mapped, mapped)
        return np.clip(mapped, 0, n - 1), None
    outside = (index < 0) | (index >= n)
    return np.clip(index, 0, n - 1), (outside if padding == "zero" else None)


#: Receives the maps of image rows ``start:start + n`` as ``{name: (n, W, C) array}``, for
#: ``ssim``, ``cs``, ``l1`` and ``ssim_l1``. Called from the engine's threads, strips in any
#: order and concurrently; the arrays are reused once it returns, so it must copy what it keeps.
#: A sink may also carry ``float_maps`` (the names it needs as floats; the native kernel then
#: makes only those) and ``heatmap_indexes`` (``{name: ((H, W) uint8, low, high)}``): the native
#: kernel writes `heatmap.quantise`'s colour index of those maps straight into the arrays,
#: after calling the sink's ``engine_fills_indexes()`` once, before any strip.
MapSink = Callable[[int, dict[str, np.ndarray]], None]
MAP_KINDS = ("ssim", "cs", "l1", "ssim_l1")


def _cv2() -> Any:
    import cv2

    return cv2


def warm_up() -> None:
    """Import what the engine needs (OpenCV: ~40 ms), e.g. on a thread that would otherwise
    wait for decoders; failures surface later, where the engine runs. With the native kernel
    nothing is needed: OpenCV is then not imported at all."""
    if native_available():
        return
    try:
        _cv2()
    except ImportError:
        pass


@dataclass
class _Plan:
    """Everything about one call that does not change from strip to strip."""

    height: int
    width: int
    channels: int
    radius: int
    strip: int
    kinds: int
    dtype: Any
    padding: str
    params: MetricParams
    window: Window
    data_range: float
    kernel: np.ndarray
    left: np.ndarray | None  # band columns that feed the left pad (None: zero padding)
    right: np.ndarray | None
    mean_rows: tuple[int, int]
    mean_cols: tuple[int, int]
    names: tuple[str, ...]
    want_maps: bool
    need_ssim: bool
    native: bool
    col_src: np.ndarray  # padded column -> source column (-1: zero padding), for the kernel

    @property
    def padded_width(self) -> int:
        return self.width + 2 * self.radius

    @property
    def strips(self) -> int:
        return -(-self.height // self.strip)


@functools.lru_cache(maxsize=32)
def _make_plan(
    shape: tuple[int, int, int], params: MetricParams, window: Window, data_range: float,
    names: tuple[str, ...], with_l1: bool, want_maps: bool, strip_rows: int | None,
    native: bool = False,
) -> _Plan:
    height, width, channels = shape
    radius = window.radius
    dtype = np.dtype(params.dtype)
    if strip_rows is None:
        scale = max(1, min(4, _STRIP_MIN_SAMPLES // (DEFAULT_STRIP_ROWS * width * channels)))
        strip_rows = DEFAULT_STRIP_ROWS * scale
    strip = min(max(1, int(strip_rows)), height)
    kernel = np.asarray(window.weights, dtype=dtype)
    left = right = None
    if params.padding != "zero":
        cols = np.arange(width + 2 * radius) - radius
        source, _ = _map_indices(cols, width, params.padding)
        left = source[:radius] + radius
        right = source[radius + width:] + radius
    rm = radius if params.mean_over == "valid" else 0
    source, outside = _map_indices(np.arange(width + 2 * radius) - radius, width, params.padding)
    col_src = np.where(outside, -1, source) if outside is not None else source
    return _Plan(
        height, width, channels, radius, strip, 5 if with_l1 else 4, dtype, params.padding,
        params, window, data_range, np.ascontiguousarray(kernel), left, right,
        (rm, height - rm), (rm, width - rm), names, want_maps, "ssim" in names or want_maps,
        native and dtype == np.float32, col_src.astype(np.int64),
    )


class _Workspace:
    """One thread's buffers, sized by the strip (never by the image)."""

    def __init__(self, plan: _Plan):
        r, s, c = plan.radius, plan.strip, plan.channels
        k, pw = plan.kinds, plan.padded_width
        self.band = np.empty((k, s + 2 * r, pw, c), dtype=plan.dtype)
        self.out = np.empty((k, s + 2 * r, pw, c), dtype=plan.dtype)
        shape = (s, plan.width, c)
        self.t1 = np.empty(shape, dtype=plan.dtype)
        self.t2 = np.empty(shape, dtype=plan.dtype)
        self.t3 = np.empty(shape, dtype=plan.dtype)
        self.t4 = np.empty(shape, dtype=plan.dtype)
        self.squares = np.empty(shape, dtype=np.float64)
        self.squares32 = np.empty(shape, dtype=np.float32)
        self.centre = np.zeros((c,), dtype=plan.dtype)  # x's levels, then y's
        self.centre_y = np.zeros((c,), dtype=plan.dtype)
        self.sink_maps: dict[str, np.ndarray] | None = None
        self.native_ssim: np.ndarray | None = None
        self.key = _workspace_key(plan)


def _workspace_key(plan: _Plan) -> tuple[Any, ...]:
    return (plan.kinds, plan.strip, plan.radius, plan.channels, plan.width, plan.dtype.str)


# Small workspaces are kept for the next call: MS-SSIM's coarse scales and small images would
# otherwise spend as long allocating (and faulting in) buffers as computing. Large ones are
# cheap relative to their work and are not worth holding on to.
_KEEP_BYTES = 8 << 20
_KEEP_COUNT = 16
_SPARE: dict[tuple[Any, ...], list[_Workspace]] = {}
_SPARE_LOCK = threading.Lock()


def _acquire_workspace(plan: _Plan) -> _Workspace:
    with _SPARE_LOCK:
        spare = _SPARE.get(_workspace_key(plan))
        if spare:
            return spare.pop()
    return _Workspace(plan)


def _release_workspace(ws: _Workspace) -> None:
    size = ws.band.nbytes + ws.out.nbytes + 4 * ws.t1.nbytes + 3 * ws.squares32.nbytes
    if size > _KEEP_BYTES:
        return
    with _SPARE_LOCK:
        if sum(len(v) for v in _SPARE.values()) >= _KEEP_COUNT:
            _SPARE.clear()
        _SPARE.setdefault(ws.key, []).append(ws)


def _normalise_into(out: np.ndarray, values: np.ndarray, divisor: float) -> None:
    """``values / divisor`` into ``out`` in its dtype (integers convert straight to it)."""
    if divisor == 1.0:
        np.copyto(out, values, casting="unsafe")
    else:
        np.divide(values, out.dtype.type(divisor), out=out, dtype=out.dtype, casting="unsafe")


def _centred_table(values_dtype: np.dtype, divisor: float, centre: np.ndarray
                   ) -> np.ndarray | None:
    """For 8-bit images, ``v / divisor - centre`` of every ``v`` and channel: ``(256, 1, C)``.

    One table lookup then replaces a conversion, a division and a subtraction, with the very
    same float results (each entry is computed by those operations).
    """
    if values_dtype != np.uint8 or len(centre) > 4:
        return None
    levels = np.arange(256, dtype=centre.dtype)[:, None]
    table = np.empty((256, len(centre)), dtype=centre.dtype)
    _normalise_into(table, levels, divisor)
    np.subtract(table, centre, out=table)
    return table.reshape(256, 1, len(centre))


def _lookup_into(out: np.ndarray, values: np.ndarray, table: np.ndarray) -> None:
    cv2 = _cv2()
    if table.shape[2] == 1:
        out, values, table = out[:, :, 0], values[:, :, 0], table[:, :, 0]
    result = cv2.LUT(values, table, dst=out)
    if not np.shares_memory(result, out):  # OpenCV could not write in place: copy its result
        np.copyto(out, result.reshape(out.shape))


def _fill_band(ws: _Workspace, plan: _Plan, x: np.ndarray, y: np.ndarray, start: int,
               rows: int, divisor: float) -> float:
    """Padded moment planes of rows ``start - r .. start + rows + r`` into ``ws.band``.

    ``x`` and ``y`` are the images as given (any dtype, ``values / divisor`` in [0, L]): only
    these rows are converted to the working precision. Returns the band's largest
    ``x'^2 + y'^2`` (`_PrecisionGuard` reads it).
    """
    r, w = plan.radius, plan.width
    n = rows + 2 * r
    index = np.arange(start - r, start + rows + r)
    source, outside = _map_indices(index, plan.height, plan.padding)
    lo = int(source[0])
    if np.array_equal(source, np.arange(lo, lo + n)):
        xs, ys = x[lo:lo + n], y[lo:lo + n]  # views: no copy
    else:
        xs, ys = x[source], y[source]
    band = ws.band[:, :n]
    c2 = (plan.params.k2 * plan.data_range) ** 2
    ws.centre, ws.centre_y = _strip_centre(xs, ys, divisor, plan.dtype, c2)
    for kind, values, centre in ((_X, xs, ws.centre), (_Y, ys, ws.centre_y)):
        inner = band[kind][:, r:r + w]
        table = _centred_table(values_dtype=values.dtype, divisor=divisor, centre=centre)
        if table is not None and values.flags.c_contiguous:
            _lookup_into(inner, values, table)
        else:
            _normalise_into(inner, values, divisor)
            np.subtract(inner, centre, out=inner)
        plane = band[kind]
        if outside is not None and outside.any():
            plane[outside] = -centre  # zero padding: x = 0 there, so x' = -centre
        if plan.left is None:
            plane[:, :r] = -centre
            plane[:, r + w:] = -centre
        else:
            if r:
                plane[:, :r] = plane[:, plan.left]
            if plan.right is not None and plan.right.size:
                plane[:, r + w:] = plane[:, plan.right]
    if plan.kinds > _ABSDIFF:
        # |(x' - y') + (cx - cy)| rather than |x - y|: both planes are already padded. In this
        # order swapping the images only flips signs (no bit of the value changes).
        np.subtract(band[_X], band[_Y], out=band[_ABSDIFF])
        if np.any(ws.centre != ws.centre_y):
            np.add(band[_ABSDIFF], ws.centre - ws.centre_y, out=band[_ABSDIFF])
        np.abs(band[_ABSDIFF], out=band[_ABSDIFF])
    # Same operations, same order as core.moment_planes: x'^2 + y'^2 and x'y'.
    np.multiply(band[_X], band[_X], out=band[_SQUARES])
    np.multiply(band[_Y], band[_Y], out=band[_PRODUCT])
    np.add(band[_SQUARES], band[_PRODUCT], out=band[_SQUARES])
    np.multiply(band[_X], band[_Y], out=band[_PRODUCT])
    return float(np.max(band[_SQUARES]))


# Bands of up to this many pixels are centred on the mean of all of them, larger ones on a
# sample (a sparse sample of a few pixels can lie far from their mean).
_SMALL_BAND = 4096


def _strip_centre(xs: np.ndarray, ys: np.ndarray, divisor: float, dtype: Any, c2: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The levels each strip's channels of ``xs`` and of ``ys`` are centred on.

    Centre each strip and channel on its own level instead of L/2: any constant leaves the
    (co)variances unchanged, and the closer the centred values are to 0, the smaller the
    float32 rounding that E[x'^2] - E[x']^2 cancels on flat areas. One common level, the mean
    of both images, where their means lie within ``sqrt(c2)`` of each other: pixels equal in
    both then have equal centred values, whose rounding cancels in the variance of the
    difference. Each image's own mean otherwise: two flat images at any levels then give
    exactly 0, and a photo against a constant far outside [0, L] keeps small values.
    Estimated from a sample, symmetric in x and y so that swapping them changes no bit.
    """
    sample = np.s_[:, :] if xs.shape[0] * xs.shape[1] <= _SMALL_BAND else np.s_[::4, ::8]
    mx = xs[sample].mean(axis=(0, 1), dtype=np.float64)
    my = ys[sample].mean(axis=(0, 1), dtype=np.float64)
    common = 0.5 * (mx + my) / divisor
    apart = (mx / divisor - my / divisor) ** 2 > c2
    levels = [np.ascontiguousarray(np.where(apart, own / divisor, common).astype(dtype))
              for own in (mx, my)]
    return levels[0], levels[1]


def _filter_band(ws: _Workspace, plan: _Plan, rows: int) -> None:
    """OpenCV's separable filter (SIMD, symmetric kernel) on each plane of the band.

    Every pixel kept afterwards has its whole window inside the band (halo rows and padded
    columns are real or padded data), so OpenCV's own border rule never reaches a result.
    """
    cv2 = _cv2()
    n = rows + 2 * plan.radius
    for kind in range(plan.kinds):
        src, dst = ws.band[kind, :n], ws.out[kind, :n]
        if plan.channels == 1:
            src, dst = src[:, :, 0], dst[:, :, 0]
        result = cv2.sepFilter2D(src, -1, plan.kernel, plan.kernel, dst=dst,
                                 borderType=cv2.BORDER_REPLICATE)
        if result is not dst and not np.shares_memory(result, dst):  # never: dst fits
            np.copyto(dst, result.reshape(dst.shape))


def _strip_maps(ws: _Workspace, plan: _Plan, rows: int,
                dest: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Per-pixel maps of the filtered strip, each ``(rows, W, C)``.

    The formula of `core.maps_from_moments` in fewer passes: ``cv2.addWeighted`` gives
    ``2(product - mx*my) + C2`` and ``squares - 2*mx*my + C2`` in one pass each. Identical
    images still give exactly 1 (``squares`` is then exactly twice ``product``, and both
    expressions go through the same operations), and swapping x and y changes no bit (every
    step is symmetric in them). With ``maps_out`` the maps are written straight into the
    full-size arrays.
    """
    cv2 = _cv2()
    params = plan.params
    r, w = plan.radius, plan.width
    c1 = (params.k1 * plan.data_range) ** 2
    c2 = (params.k2 * plan.data_range) ** 2
    f = [ws.out[kind, r:r + rows, r:r + w] for kind in range(plan.kinds)]
    mx, my, squares, product = f[_X], f[_Y], f[_SQUARES], f[_PRODUCT]
    t1, t2, t3, t4 = ws.t1[:rows], ws.t2[:rows], ws.t3[:rows], ws.t4[:rows]

    def target(name: str, fallback: np.ndarray) -> np.ndarray:
        return dest[name] if dest is not None else fallback

    scale = _covariance_scale(plan)
    np.multiply(mx, my, out=t1)
    np.subtract(mx, my, out=t3)
    np.multiply(t3, t3, out=t3)
    # CS = (2 s (product - mx my) + C2) / (s (squares - 2 mx my - (mx - my)^2) + C2)
    _checked(cv2.addWeighted(product, 2 * scale, t1, -2 * scale, c2, dst=t2), t2)
    _checked(cv2.addWeighted(squares, scale, t1, -2 * scale, c2, dst=t4), t4)
    if scale != 1.0:
        np.multiply(t3, scale, out=t1)
        np.subtract(t4, t1, out=t4)
    else:
        np.subtract(t4, t3, out=t4)
    cs = target("cs", t2)
    np.divide(t2, t4, out=cs)
    maps = {"cs": cs}
    if plan.need_ssim:
        # (2 mu_x mu_y + C1) / (2 mu_x mu_y + C1 + (mu_x - mu_y)^2) * cs
        np.add(mx, ws.centre, out=mx)
        np.add(my, ws.centre_y, out=my)
        np.multiply(mx, my, out=t1)
        _checked(cv2.addWeighted(t1, 2.0, t1, 0.0, c1, dst=t4), t4)
        if scale != 1.0 or np.any(ws.centre != ws.centre_y):
            # t3 holds (mx' - my')^2, which is (mu_x - mu_y)^2 only for one common level
            np.subtract(mx, my, out=t3)
            np.multiply(t3, t3, out=t3)
        np.add(t4, t3, out=t1)
        ssim = target("ssim", t3)
        np.divide(t4, t1, out=ssim)
        np.multiply(ssim, cs, out=ssim)
        if params.clip:
            np.clip(ssim, 0, 1, out=ssim)
        maps["ssim"] = ssim
    if params.clip:
        np.clip(cs, 0, 1, out=cs)
    if plan.kinds > _ABSDIFF:
        maps["l1"] = f[_ABSDIFF]
        if dest is not None:
            np.copyto(dest["l1"], f[_ABSDIFF])
            mix = dest["ssim_l1"]
            # alpha (1 - ssim) + (1 - alpha) l1
            _checked(cv2.addWeighted(maps["ssim"], -params.alpha, f[_ABSDIFF],
                                     1 - params.alpha, params.alpha, dst=mix), mix)
            maps["ssim_l1"] = mix
    return maps


def _checked(result: np.ndarray, dst: np.ndarray) -> None:
    """OpenCV writes into ``dst`` when it fits (always here); copy if it ever did not."""
    if result is not dst and not np.shares_memory(result, dst):
        np.copyto(dst, result.reshape(dst.shape))


def _strip_sums(plan: _Plan, map_: np.ndarray, start: int, rows: int) -> np.ndarray:
    """Float64 per-channel sum of one strip's map over the averaging region (OpenCV sums
    float32 in double)."""
    lo = max(plan.mean_rows[0], start) - start
    hi = min(plan.mean_rows[1], start + rows) - start
    c0, c1 = plan.mean_cols
    if hi <= lo or c1 <= c0:
        return np.zeros(plan.channels)
    region = map_[lo:hi, c0:c1]
    if plan.channels == 1:
        region = region[:, :, 0]
    elif not region.flags.c_contiguous:
        region = np.ascontiguousarray(region)
    return np.asarray(_cv2().sumElems(region)[:plan.channels], dtype=np.float64)


def _squared_error_sums(ws: _Workspace, x: np.ndarray, y: np.ndarray, start: int,
                        rows: int) -> np.ndarray:
    """Per-channel float64 sums of ``(x - y)^2`` over the strip's rows, from the values as
    given (exact for integers): PSNR does not pass through the working precision."""
    if x.dtype == np.uint8 and y.dtype == np.uint8:
        # Differences of 8-bit values and their squares (< 2^16) are exact in float32, and
        # OpenCV sums float32 in double: the same exact sums at half the memory traffic.
        squares: np.ndarray = ws.squares32[:rows]
    else:
        squares = ws.squares[:rows]
    np.subtract(x[start:start + rows], y[start:start + rows], out=squares, dtype=squares.dtype)
    np.multiply(squares, squares, out=squares)
    channels = squares.shape[2]
    region = squares[:, :, 0] if channels == 1 else squares
    return np.asarray(_cv2().sumElems(region)[:channels], dtype=np.float64)


class _OneThreadInside:
    """Keeps OpenCV (and BLAS) single-threaded while any strip engine runs, process-wide and
    refcounted.

    Our threads already use every core; library threads on top would oversubscribe them.
    Nested and concurrent callers (a batch running pairs on threads) share one limit that is
    lifted when the last of them leaves, so the user's own settings come back intact.
    ``blas=True`` also limits BLAS through threadpoolctl (optional; only the MS-SSIM
    downsampling multiplies matrices).
    """

    _lock = threading.Lock()
    _users = 0
    _saved_cv2: int | None = None
    _limiter: Any = None
    # Finding the BLAS libraries reads /proc/self/maps (~1 ms): do it once per process.
    _controller: Any = None

    def __init__(self, blas: bool = False):
        self.blas = blas

    @classmethod
    def _limit_blas(cls) -> Any:
        if cls._controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                cls._controller = False
            else:
                cls._controller = ThreadpoolController()
        if cls._controller is False:
            return None
        return cls._controller.limit(limits=1, user_api="blas")

    def __enter__(self) -> None:
        with self._lock:
            cls = _OneThreadInside
            # OpenCV is limited only where it is used: the native kernel does not import it.
            cv2 = sys.modules.get("cv2")
            if cls._users == 0 and cv2 is not None:
                cls._saved_cv2 = cv2.getNumThreads()
                cv2.setNumThreads(1)
            if self.blas and cls._limiter is None:
                cls._limiter = self._limit_blas()
            cls._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            cls = _OneThreadInside
            cls._users -= 1
            if cls._users == 0:
                if cls._saved_cv2 is not None:
                    sys.modules["cv2"].setNumThreads(cls._saved_cv2)
                    cls._saved_cv2 = None
                if cls._limiter is not None:
                    cls._limiter.restore_original_limits()
                    cls._limiter = None


class _StripJob:
    """One `strip_metrics` call: the strips, who takes the next one, and what they add up to."""

    def __init__(self, plan: _Plan, x: np.ndarray, y: np.ndarray, divisor: float,
                 maps_out: dict[str, np.ndarray] | None, want_errors: bool,
                 feed: _OrderedFeed | None, map_sink: MapSink | None = None):
        self.plan, self.x, self.y, self.divisor = plan, x, y, divisor
        self.maps_out, self.want_errors, self.feed = maps_out, want_errors, feed
        self.map_sink = map_sink
        self.native = plan.native
        self.native_direct = _native_inputs(x, y)
        self.lossy = lossy_in_float32(x, y, divisor)
        # The same call in float64, for the strips that float32 cannot score (`_needs_float64`).
        self.plan64_key = ((plan.height, plan.width, plan.channels),
                           plan.params.replace(precision="float64"), plan.window,
                           plan.data_range, plan.names, plan.kinds > _ABSDIFF, plan.want_maps,
                           plan.strip)
        self.sink_floats: tuple[str, ...] = ()
        self.sink_indexes: dict[str, tuple[np.ndarray, float, float]] = {}
        if map_sink is not None:
            if self.native and maps_out is None:
                self.sink_indexes = dict(getattr(map_sink, "heatmap_indexes", {}))
                if self.sink_indexes:
                    map_sink.engine_fills_indexes()  # type: ignore[attr-defined]
            # Read after the line above: a sink that no longer quantises needs fewer floats.
            self.sink_floats = tuple(getattr(map_sink, "float_maps", MAP_KINDS))
        # One row of sums per strip, added in strip order at the end: the result does not
        # depend on which thread ran which strip.
        self.sums = np.zeros((plan.strips, len(plan.names) + int(want_errors), plan.channels))
        self._next = iter(range(plan.strips))
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    def run_on(self, threads: int) -> list[BaseException]:
        with _OneThreadInside():
            # The caller's thread works too: helpers that start late find the strips taken.
            helpers = [_helper_pool(threads - 1).submit(self.work) for _ in range(threads - 1)]
            self.work()
            for helper in helpers:
                helper.result()
        return self.errors

    def work(self) -> None:
        ws = None
        try:
            while True:
                with self._lock:
                    index = next(self._next, None)
                if index is None or self.errors:
                    return
                if ws is None:  # allocated only by threads that get a strip
                    ws = _acquire_workspace(self.plan)
                self.strip(ws, index)
        except BaseException as exc:  # re-raised in the caller's thread
            self.errors.append(exc)
        finally:
            if ws is not None:
                _release_workspace(ws)

    def strip(self, ws: _Workspace, index: int) -> None:
        plan = self.plan
        start = index * plan.strip
        rows = min(plan.strip, plan.height - start)
        if self.native:
            self.native_strip(ws, index, start, rows)
            return
        if self.want_errors:
            self.sums[index, -1] = _squared_error_sums(ws, self.x, self.y, start, rows)
        peak = _fill_band(ws, plan, self.x, self.y, start, rows, self.divisor)
        if _needs_float64(peak, plan, (ws.centre, ws.centre_y), self.lossy):
            self.float64_strip(ws, index, start, rows)
            return
        _filter_band(ws, plan, rows)
        dest = self.destination(ws, start, rows)
        maps = _strip_maps(ws, plan, rows, dest)
        for i, name in enumerate(plan.names):
            self.sums[index, i] = _strip_sums(plan, maps[name], start, rows)
        if self.feed is not None:
            self.feed.put(index, maps["ssim"], start, rows)
        if self.map_sink is not None and dest is not None:
            self.map_sink(start, dest)

    def native_strip(self, ws: _Workspace, index: int, start: int, rows: int) -> None:
        """The whole strip in one call of the native kernel (`_native.strip`): conversion,
        padding, filtering, the formula, region sums, squared errors and map rows."""
        plan, params = self.plan, self.plan.params
        r = plan.radius
        source, outside = _map_indices(np.arange(start - r, start + rows + r), plan.height,
                                       plan.padding)
        row_src = np.where(outside, -1, source) if outside is not None else source
        lo, hi = int(source.min()), int(source.max()) + 1
        xs, ys = self.x[lo:hi], self.y[lo:hi]
        centre = np.empty(2 * plan.channels, np.float32)  # the kernel centres as _strip_centre
        peak = np.zeros(1)
        if self.native_direct:
            xs, ys, lo, hi = self.x, self.y, 0, plan.height
        else:  # any other layout or dtype: a contiguous copy of the band's rows (float64 holds
            # every value of the other dtypes exactly, and converts to float32 as they would)
            dtype = xs.dtype if xs.dtype == ys.dtype and xs.dtype in _NATIVE_DTYPES else np.float64
            xs, ys = np.ascontiguousarray(xs, dtype=dtype), np.ascontiguousarray(ys, dtype=dtype)
        sums = np.zeros((3, plan.channels))
        errors = np.zeros(plan.channels) if self.want_errors else None
        dest = self.destination(ws, start, rows) or {}
        if self.maps_out is None and self.map_sink is not None:
            dest = {name: dest[name] for name in self.sink_floats}  # what the sink wants
        to_sink = dict(dest)
        if "ssim" not in dest and self.feed is not None:
            if ws.native_ssim is None:
                ws.native_ssim = np.empty((plan.strip, plan.width, plan.channels), plan.dtype)
            dest["ssim"] = ws.native_ssim[:rows]
        indexes = [self.sink_indexes.get(name) for name in MAP_KINDS]
        _NATIVE_KERNEL.strip(
            xs, ys, _NATIVE_DTYPES[xs.dtype], lo, hi - lo, plan.width, plan.channels,
            plan.window.size, start, rows, plan.kernel, centre,
            row_src.astype(np.int64), plan.col_src, float(self.divisor),
            (params.k1 * plan.data_range) ** 2, (params.k2 * plan.data_range) ** 2,
            _covariance_scale(plan), params.alpha, params.clip, plan.need_ssim,
            (*plan.mean_rows, *plan.mean_cols), sums, errors, dest.get("ssim"),
            dest.get("cs"), dest.get("l1"), dest.get("ssim_l1"),
            *[None if ix is None else ix[0][start:start + rows] for ix in indexes],
            tuple(float(v) for ix in indexes for v in ((0.0, 1.0) if ix is None else ix[1:])),
            peak)
        if _needs_float64(float(peak[0]), plan, (centre,), self.lossy):
            self.float64_strip(ws, index, start, rows)
            return
        for i, name in enumerate(plan.names):
            self.sums[index, i] = sums[_NATIVE_SUMS[name]]
        if errors is not None:
            self.sums[index, -1] = errors
        if self.feed is not None:
            self.feed.put(index, dest["ssim"], start, rows)
        if self.map_sink is not None and to_sink:
            self.map_sink(start, to_sink)

    def float64_strip(self, ws: _Workspace, index: int, start: int, rows: int) -> None:
        """Strip ``index`` scored again in float64 (`_needs_float64`), on the OpenCV path, its
        maps handed over in float32 as the float32 strip would have."""
        plan = _make_plan(*self.plan64_key)
        ws64 = _acquire_workspace(plan)
        try:
            if self.want_errors:
                self.sums[index, -1] = _squared_error_sums(ws64, self.x, self.y, start, rows)
            peak = _fill_band(ws64, plan, self.x, self.y, start, rows, self.divisor)
            _needs_float64(peak, plan, (ws64.centre, ws64.centre_y))  # raises past float64
            _filter_band(ws64, plan, rows)
            shape = (rows, plan.width, plan.channels)
            whole = {name: np.empty(shape) for name in MAP_KINDS} if plan.need_ssim else None
            maps = _strip_maps(ws64, plan, rows, whole)
            for i, name in enumerate(plan.names):
                self.sums[index, i] = _strip_sums(plan, maps[name], start, rows)
            if plan.need_ssim:
                self._hand_over(ws, index, start, rows, maps)
        finally:
            _release_workspace(ws64)

    def _hand_over(self, ws: _Workspace, index: int, start: int, rows: int,
                   maps: dict[str, np.ndarray]) -> None:
        """Float64 maps of a strip to wherever the float32 ones go: map rows, heatmap
        indexes, the worst-window feed and the sink."""
        dest = self.destination(ws, start, rows) or {}
        if self.native and self.maps_out is None and self.map_sink is not None:
            dest = {name: dest[name] for name in self.sink_floats}
        for name, array in dest.items():
            np.copyto(array, maps[name], casting="same_kind")

        def single(name: str) -> np.ndarray:
            return dest[name] if name in dest else np.ascontiguousarray(maps[name], np.float32)

        for name, (indexes, low, high) in self.sink_indexes.items():
            _NATIVE_KERNEL.quantise(single(name), rows * self.plan.width, self.plan.channels,
                                    low, high, indexes[start:start + rows])
        if self.feed is not None:
            self.feed.put(index, single("ssim"), start, rows)
        if self.map_sink is not None and dest:
            self.map_sink(start, dest)

    def destination(self, ws: _Workspace, start: int, rows: int
                    ) -> dict[str, np.ndarray] | None:
        """Where this strip's maps go: rows of the whole maps, else the thread's strip arrays
        for the sink (made on first use), else nowhere."""
        if self.maps_out is not None:
            return {name: array[start:start + rows] for name, array in self.maps_out.items()}
        if self.map_sink is None:
            return None
        if ws.sink_maps is None:
            shape = (self.plan.strip, self.plan.width, self.plan.channels)
            ws.sink_maps = {name: np.empty(shape, dtype=self.plan.dtype) for name in MAP_KINDS}
        return {name: array[:rows] for name, array in ws.sink_maps.items()}


# The largest x'^2 + y'^2 (centred values, in units of L^2) that each working precision scores
# to its usual rounding. Inputs within [0, L] reach 2 (a black pixel in a white strip); 4
# leaves room for values a little outside. Past it the variances, E[x'^2] - E[x']^2 set
# against C2 = (0.03 L)^2, lose digits as the square of the excess (a photo against a step
# of 1000 L: float32 has none left). Float64 scores a photo with a step of 3e5 L within 1e-7
# of an 80-bit oracle, 7e5 L within 4e-6 (as scikit-image's float64 does), 3e6 L only within
# 7e-5: it goes up to 2^38, about a step of 7e5 L (a step S centred on its mean peaks at
# S^2 / 2), and refuses what lies beyond.
_PEAK_LIMIT = {np.dtype(np.float32): 4.0, np.dtype(np.float64): 2.0 ** 38}
# Values that do not convert to float32 exactly (float64 input, or any division) are rounded
# by up to 6e-8 of their magnitude: at a level of M L, the local variances of a pixel can move
# by about 2e-6 M of themselves (the rounding against sqrt(C2) = 0.03 L). Past 8 L (a float64
# photo plus 1e4 was 1e-3 off) such inputs are scored in float64.
_LOSSY_LEVEL_LIMIT = 8.0
# Input dtypes whose values float32 holds exactly (when not divided).
_EXACT_IN_FLOAT32 = {np.dtype(t) for t in (np.float32, np.float16, np.uint8, np.uint16, np.int8,
                                          np.int16, np.bool_)}


def lossy_in_float32(x: Any, y: Any, divisor: float) -> bool:
    """Whether converting ``x / divisor`` and ``y / divisor`` to float32 may round them."""
    return divisor != 1.0 or not {np.dtype(x.dtype), np.dtype(y.dtype)} <= _EXACT_IN_FLOAT32


def _needs_float64(peak: float, plan: _Plan, levels: Sequence[np.ndarray],
                   lossy: bool = False) -> bool:
    """Whether a strip whose centred values reach ``x'^2 + y'^2 = peak`` must be scored again
    in float64; raises `ValuesOutOfRange` where float64 would lose them too."""
    return peak_exceeds(peak, plan.dtype, plan.data_range, levels, lossy)


def peak_exceeds(peak: float, dtype: Any, data_range: float,
                 levels: Sequence[Any] = (), lossy: bool = False) -> bool:
    """`_needs_float64` for any caller: True where float32 is not enough (and ``dtype`` is
    float32): the centred values reach too far, or the ``levels`` the images were centred on
    lie far outside [0, L] for values that float32 rounds (``lossy``, `lossy_in_float32`).
    Raises `ValuesOutOfRange` where float64 is not enough either, or where a level is infinite
    (infinite input). A NaN peak (NaN input) is not checked: it propagates into the scores, as
    NaN input does in NumPy."""
    dtype = np.dtype(dtype)
    magnitude = max((float(np.max(np.abs(np.asarray(level)))) for level in levels), default=0.0)
    if math.isinf(magnitude):
        peak = math.inf
    scale = data_range * data_range
    far = dtype == np.float32 and lossy and magnitude > _LOSSY_LEVEL_LIMIT * data_range
    if not (far or peak > _PEAK_LIMIT[dtype] * scale):
        return False
    if dtype == np.float32 and not peak > _PEAK_LIMIT[np.dtype(np.float64)] * scale:
        return True
    raise ValuesOutOfRange(
        f"image values lie up to {math.sqrt(peak):.3g} from their local level, too far for a "
        f"data range of {data_range:g}: SSIM's variances would lose their precision even in "
        "float64 (is the data range right?)")


def _native_inputs(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the native kernel can read both images as they are."""
    return (x.dtype == y.dtype and x.dtype in _NATIVE_DTYPES and x.shape == y.shape
            and x.flags.c_contiguous and y.flags.c_contiguous)


def _covariance_scale(plan: _Plan) -> float:
    """``N / (N - 1)`` for the sample covariance of an ``N``-pixel window, else 1."""
    if plan.params.sample_covariance and plan.window.size > 1:
        count = plan.window.size * plan.window.size
        return count / (count - 1)
    return 1.0


class _OrderedFeed:
    """Hands strips to a `masked.RegionWindowFinder` in row order, whichever thread ends first.

    Each strip is reduced to its channel-summed SSIM rows (float64, zero outside the averaging
    region); a strip that finishes early waits, as those rows, until the ones above it are in.
    Threads take strips in order, so few ever wait.
    """

    def __init__(self, finder: Any, plan: _Plan):
        self.finder = finder
        self.plan = plan
        self.lock = threading.Lock()
        self.waiting: dict[int, np.ndarray] = {}
        self.next = 0
        # The kernel's float32 strips go to the finder's own C search; float64 ones (the
        # OpenCV path at --precision float64) are summed here, as they are, and box-filtered.
        self.native = plan.native and finder.native

    def put(self, index: int, ssim: np.ndarray, start: int, rows: int) -> None:
        if self.native:
            self._put_native(index, ssim[:rows])
            return
        plan = self.plan
        summed = np.zeros((rows, plan.width))
        lo = max(plan.mean_rows[0], start) - start
        hi = min(plan.mean_rows[1], start + rows) - start
        c0, c1 = plan.mean_cols
        if hi > lo and c1 > c0:
            region = summed[lo:hi, c0:c1]
            np.add(region, ssim[lo:hi, c0:c1, 0], out=region)
            for channel in range(1, plan.channels):
                np.add(region, ssim[lo:hi, c0:c1, channel], out=region)
        with self.lock:
            self.waiting[index] = summed
            while self.next in self.waiting:
                self.finder.add(self.waiting.pop(self.next))
                self.next += 1

    def _put_native(self, index: int, ssim: np.ndarray) -> None:
        """The strip's SSIM rows straight into the native finder when it is next; a copy waits
        otherwise (the strip's buffer is reused by its thread)."""
        with self.lock:
            if index != self.next:
                self.waiting[index] = np.array(ssim)
                return
            self.finder.add_ssim(ssim)
            self.next += 1
            while self.next in self.waiting:
                self.finder.add_ssim(self.waiting.pop(self.next))
                self.next += 1


def downsample2_image(image: np.ndarray, chunk: int = 16, dtype: Any = None,
                      divisor: float = 1.0) -> np.ndarray:
    """`core.downsample2` for ``(H, W, C)`` images: 2x2 average, odd sides repeat their edge.

    Rows are paired by one add over contiguous rows; columns by one small matrix product, as
    an add of every other ``C``-sample chunk would loop in NumPy over chunks of ``C`` samples.
    Done ``chunk`` output rows at a time, so the row sums stay in cache (twice as fast as
    one full-size temporary on a 4K image). ``dtype`` and ``divisor``: an integer image is
    converted (``/ divisor``) on the way, with no full-size float copy of it.
    """
    dtype = np.dtype(dtype or image.dtype)
    height, width, channels = image.shape
    if height % 2 or width % 2:
        image = np.pad(image, [(0, height % 2), (0, width % 2), (0, 0)], mode="edge")
        height, width = image.shape[:2]
    out = np.empty((height // 2, width // 2, channels), dtype=dtype)
    pair = np.vstack([np.eye(channels), np.eye(channels)]).astype(dtype) * 0.25
    rows = np.empty((min(chunk, height // 2), width, channels), dtype=dtype)
    for start in range(0, height // 2, chunk):
        stop = min(start + chunk, height // 2)
        summed = rows[:stop - start]
        if divisor == 1.0:
            np.add(image[2 * start:2 * stop:2], image[2 * start + 1:2 * stop:2], out=summed,
                   dtype=dtype)
        else:
            # Each row divided first, as core.downsample2 sees normalised images.
            np.divide(image[2 * start:2 * stop:2], dtype.type(divisor), out=summed, dtype=dtype)
            summed += np.divide(image[2 * start + 1:2 * stop:2], dtype.type(divisor),
                                dtype=dtype)
        np.matmul(summed.reshape(-1, 2 * channels), pair,
                  out=out[start:stop].reshape(-1, channels))
    return out


def downsample_pair(x: np.ndarray, y: np.ndarray, threads: int | None = None,
                    dtype: Any = None, divisor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """`downsample2_image` of both images, on two threads when large enough to gain from it.

    Between MS-SSIM scales this is the only serial work; on a 4K pair it is ~10% of SSIM.
    """
    threads = default_threads() if threads is None else threads
    with _OneThreadInside(blas=True):  # the column pairing is a matrix product
        if threads < 2 or x.size < 2 * _THREAD_MIN_SAMPLES:
            return (downsample2_image(x, dtype=dtype, divisor=divisor),
                    downsample2_image(y, dtype=dtype, divisor=divisor))
        future = _helper_pool(1).submit(downsample2_image, y, 16, dtype, divisor)
        small_x = downsample2_image(x, dtype=dtype, divisor=divisor)
        # A helper that has not started yet (a busy machine) is not waited for.
        small_y = (downsample2_image(y, dtype=dtype, divisor=divisor) if future.cancel()
                   else future.result())
    return small_x, small_y


def as_image(image: Any, dtype: Any = None, divisor: float = 1.0) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` -> ``(H, W, C)``: a view as given when ``dtype`` is None,
    else converted (``/ divisor``) to ``dtype``."""
    array = np.asarray(image)
    if dtype is not None and (divisor != 1.0 or array.dtype != dtype):
        array = np.divide(array, np.dtype(dtype).type(divisor), dtype=dtype)
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    return array


def strip_metrics(
    x: np.ndarray,
    y: np.ndarray,
    params: MetricParams,
    window: Window,
    data_range: float = 1.0,
    *,
    names: Sequence[str] = ("ssim", "cs", "l1"),
    return_maps: bool = False,
    strip_rows: int | None = None,
    threads: int | None = None,
    divisor: float = 1.0,
    squared_errors: list[float] | None = None,
    local: Any = None,
    map_sink: MapSink | None = None,
) -> tuple[dict[str, list[float]], dict[str, np.ndarray] | None]:
    """Per-channel region means (and optionally maps) of two ``(H, W, C)`` images, by strips.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(H, W, C)`` arrays of any dtype and strides; ``x / divisor`` lies in
        ``[0, data_range]``. Each strip's rows are converted to ``params.dtype`` on the way,
        so integer images are never copied whole.
    params, window, data_range
        As in `core.compute`; ``window`` is the effective window for this size.
    names : sequence of str
        Which of ``ssim``, ``cs``, ``l1`` to average. Without ``l1`` (MS-SSIM's coarser scales)
        the ``|x - y|`` plane is skipped; without ``ssim`` its arithmetic is skipped too.
    return_maps : bool
        Also return ``ssim``, ``cs``, ``l1`` and ``ssim_l1`` maps as ``(H, W, C)`` arrays.
    strip_rows : int, optional
        Output rows per strip (default 32); small values exist for tests of strip boundaries.
    threads : int, optional
        Worker threads (default: `default_threads`).
    divisor : float
        What the values are divided by.
    squared_errors : list, optional
        When given, receives the per-channel float64 sums of ``((x - y) / divisor)^2`` (for
        PSNR), taken from the values as given in the same pass.
    local : masked.RegionWindowFinder, optional
        Fed, in row order, with the channel-mean SSIM of each strip over the averaging region:
        the worst local window comes out of the same pass, without maps.
    map_sink : callable, optional
        Called with each strip's maps as they are made (see `MapSink`), so that they can be
        written out while they are in cache, without ever holding whole maps.

    Returns
    -------
    means : dict
        ``name -> [mean per channel]`` over the averaging region, accumulated in float64.
    maps : dict or None
    """
    names = tuple(names)
    want_maps = return_maps or map_sink is not None
    with_l1 = "l1" in names or want_maps
    height, width, channels = x.shape
    plan = _make_plan((height, width, channels), params, window, data_range, names, with_l1,
                      want_maps, strip_rows, native_available())
    maps_out = None
    if return_maps:
        maps_out = {name: np.empty((height, width, channels), dtype=plan.dtype)
                    for name in MAP_KINDS}
    job = _StripJob(plan, x, y, divisor, maps_out, squared_errors is not None,
                    _OrderedFeed(local, plan) if local is not None else None, map_sink)
    threads = default_threads() if threads is None else max(1, int(threads))
    threads = max(1, min(threads, plan.strips, x.size // _THREAD_MIN_SAMPLES))
    errors = job.run_on(threads)
    if errors:
        raise errors[0]
    totals = job.sums.sum(axis=0)
    if squared_errors is not None:
        squared_errors[:] = [float(v) / (divisor * divisor) for v in totals[-1]]
    area = (plan.mean_rows[1] - plan.mean_rows[0]) * (plan.mean_cols[1] - plan.mean_cols[0])
    means = {name: [float(v) / area for v in totals[i]] for i, name in enumerate(names)}
    return means, maps_out


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
