"""The fast CPU engine: separable filtering as banded matrix products, strip by strip, on threads.

Why this shape:

* **BLAS banded products.** SciPy's ``correlate1d`` loop runs at a few hundred megaflops; a
  matrix product runs at tens of gigaflops. A 1-D pass over ``B`` outputs is the product with a
  small Toeplitz block ``T`` (``B x (B + 2r)``, the window on each row, shifted by one), so
  a pass costs ``(B + 2r) / (2r + 1)`` times the flops of a direct loop but runs 10-20x faster.
  ``B`` = 16 rows (vertical) and 32 columns (horizontal) were the fastest here; overlapping
  windows of the input are handed to one batched ``matmul`` through ``as_strided`` views, so a
  strip costs two NumPy calls of filtering whatever the image width.
* **Strips.** Rows are processed in bands of a few dozen rows with a halo of the window radius,
  padded as the preset says. Every buffer is sized by the strip, not the image, so peak memory is
  the two inputs plus a few megabytes per thread, and each strip's planes stay in cache between
  the filtering and the per-pixel arithmetic. Region means accumulate strip by strip in float64;
  maps are written only when asked for.
* **Threads.** NumPy and BLAS release the GIL, so strips run on one thread per core, with BLAS
  limited to one thread inside them (it would otherwise oversubscribe the cores).

* **Centring per strip.** The planes are centred on each strip's own level (per channel) rather
  than on L/2. Variances do not depend on the centre, but float32 rounding in
  ``E[x'^2] - E[x']^2`` grows with ``|x'|``: on flat areas (white pages, black borders, sky)
  this makes the fast path several times more accurate than the reference one.

The per-pixel arithmetic repeats `core.maps_from_moments` operation by operation, in the same
order and precision, so the two paths differ only by the filter's rounding and the centre
(float32: ~1e-5 on SSIM/CS maps of photos; float64: ~1e-15) and by the order of the float64 sums.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .params import MetricParams, Window

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
    _BlasOneThread._lock = threading.Lock()
    _BlasOneThread._users = 0
    _BlasOneThread._limiter = None


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


@dataclass
class _Plan:
    """Everything about one call that does not change from strip to strip."""

    height: int
    width: int
    channels: int
    radius: int
    strip: int
    vblock: int
    hblock: int
    nblocks: int
    kinds: int
    dtype: Any
    padding: str
    params: MetricParams
    window: Window
    data_range: float
    tv: np.ndarray
    th: np.ndarray
    left: np.ndarray | None  # band columns that feed the left pad (None: zero padding)
    right: np.ndarray | None
    mean_rows: tuple[int, int]
    mean_cols: tuple[int, int]
    names: tuple[str, ...]
    want_maps: bool
    ones: np.ndarray
    partial: list[tuple[int, np.ndarray]]  # column masks of blocks straddling the region's edge
    any_valid: np.ndarray  # blocks with any column in the averaging region

    @property
    def padded_width(self) -> int:
        return self.nblocks * self.hblock + 2 * self.radius

    @property
    def strips(self) -> int:
        return -(-self.height // self.strip)


@functools.lru_cache(maxsize=32)
def _make_plan(
    shape: tuple[int, int, int], params: MetricParams, window: Window, data_range: float,
    names: tuple[str, ...], with_l1: bool, want_maps: bool, strip_rows: int | None,
) -> _Plan:
    height, width, channels = shape
    radius = window.radius
    dtype = np.dtype(params.dtype)
    if strip_rows is None:
        scale = max(1, min(4, _STRIP_MIN_SAMPLES // (DEFAULT_STRIP_ROWS * width * channels)))
        strip_rows = DEFAULT_STRIP_ROWS * scale
    strip = max(1, int(strip_rows))
    # No point in a strip taller than the image (rounded to the vertical block).
    strip = min(strip, -(-height // 8) * 8)
    vblock = next(b for b in (VERTICAL_BLOCK, 8, strip) if strip % b == 0)
    hblock = min(HORIZONTAL_BLOCK, width)
    nblocks = -(-width // hblock)
    padded = nblocks * hblock + 2 * radius
    weights = np.asarray(window.weights, dtype=np.float64)
    tv = toeplitz_block(weights, vblock, dtype)
    th = np.ascontiguousarray(toeplitz_block(weights, hblock, dtype).T)
    left = right = None
    if params.padding != "zero":
        cols = np.arange(padded) - radius
        source, _ = _map_indices(cols, width, params.padding)
        left = source[:radius] + radius
        right = source[radius + width:] + radius
    rm = radius if params.mean_over == "valid" else 0
    cols = np.arange(nblocks * hblock).reshape(nblocks, hblock)
    valid = (cols >= rm) & (cols < width - rm)
    partial = [(j, valid[j].astype(dtype)) for j in range(nblocks)
               if valid[j].any() and not valid[j].all()]
    return _Plan(
        height, width, channels, radius, strip, vblock, hblock, nblocks, 5 if with_l1 else 4,
        dtype, params.padding, params, window, data_range, tv, th, left, right,
        (rm, height - rm), (rm, width - rm), names, want_maps,
        np.ones(hblock, dtype=dtype), partial, valid.any(axis=1),
    )


class _Workspace:
    """One thread's buffers, sized by the strip (never by the image)."""

    def __init__(self, plan: _Plan):
        r, s, c = plan.radius, plan.strip, plan.channels
        k, pw = plan.kinds, plan.padded_width
        self.band = np.empty((k, s + 2 * r, c, pw), dtype=plan.dtype)
        self.vout = np.empty((k, s, c * pw), dtype=plan.dtype)
        # Filtered planes, kind-major: each kind is one contiguous (nblocks, strip * C, hblock)
        # array, so the per-pixel arithmetic runs as one long loop per operation.
        self.out = np.empty((k, plan.nblocks, s * c, plan.hblock), dtype=plan.dtype)
        shape = (plan.nblocks, s * c, plan.hblock)
        self.t1 = np.empty(shape, dtype=plan.dtype)
        self.t2 = np.empty(shape, dtype=plan.dtype)
        self.t3 = np.empty(shape, dtype=plan.dtype)
        self.key = _workspace_key(plan)


def _workspace_key(plan: _Plan) -> tuple[Any, ...]:
    return (plan.kinds, plan.strip, plan.radius, plan.channels, plan.padded_width,
            plan.nblocks, plan.hblock, plan.dtype.str)


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
    size = ws.band.nbytes + ws.vout.nbytes + ws.out.nbytes + 3 * ws.t1.nbytes
    if size > _KEEP_BYTES:
        return
    with _SPARE_LOCK:
        if sum(len(v) for v in _SPARE.values()) >= _KEEP_COUNT:
            _SPARE.clear()
        _SPARE.setdefault(ws.key, []).append(ws)


def _fill_band(ws: _Workspace, plan: _Plan, x: np.ndarray, y: np.ndarray, start: int) -> None:
    """Padded moment planes of rows ``start - r .. start + strip + r`` into ``ws.band``."""
    r, w = plan.radius, plan.width
    rows = np.arange(start - r, start + plan.strip + r)
    source, outside = _map_indices(rows, plan.height, plan.padding)
    lo = int(source[0])
    if np.array_equal(source, np.arange(lo, lo + len(source))):
        xs, ys = x[lo:lo + len(source)], y[lo:lo + len(source)]  # views: no copy inside
    else:
        xs, ys = x[source], y[source]
    # (rows, W, C) -> (rows, C, W): channels become separate rows of the band.
    xs, ys = xs.transpose(0, 2, 1), ys.transpose(0, 2, 1)
    band = ws.band
    # Centre each strip and channel on its own level instead of L/2: any constant leaves the
    # (co)variances unchanged, and the closer the centred values are to 0, the smaller the
    # float32 rounding that E[x'^2] - E[x']^2 cancels on flat areas (a white page: exactly 0).
    # Estimated from a sample, symmetric in x and y so that swapping them changes no bit.
    sample = np.s_[::4, :, ::8]
    centre = 0.5 * (xs[sample].mean(axis=(0, 2), dtype=np.float64)
                    + ys[sample].mean(axis=(0, 2), dtype=np.float64))
    centre = centre.astype(plan.dtype)[:, None]
    ws.centre = centre
    inner = np.s_[:, :, r:r + w]
    np.subtract(xs, centre, out=band[_X][inner])
    np.subtract(ys, centre, out=band[_Y][inner])
    if outside is not None and outside.any():
        # Zero padding: x = y = 0 there, so x' = y' = -centre.
        band[_X][outside] = -centre
        band[_Y][outside] = -centre
    for kind in (_X, _Y):
        plane = band[kind]
        if plan.left is None:
            plane[:, :, :r] = -centre
            plane[:, :, r + w:] = -centre
        else:
            if r:
                plane[:, :, :r] = plane[:, :, plan.left]
            if plan.right.size:
                plane[:, :, r + w:] = plane[:, :, plan.right]
    if plan.kinds > _ABSDIFF:
        # |x' - y'| rather than |x - y|: both planes are already padded, and x' = x - L/2 is
        # exact for x in [L/4, L], so this differs from |x - y| by at most an ulp of L/2.
        np.subtract(band[_X], band[_Y], out=band[_ABSDIFF])
        np.abs(band[_ABSDIFF], out=band[_ABSDIFF])
    # Same operations, same order as core.moment_planes: x'^2 + y'^2 and x'y'.
    np.multiply(band[_X], band[_X], out=band[_SQUARES])
    np.multiply(band[_Y], band[_Y], out=band[_PRODUCT])
    np.add(band[_SQUARES], band[_PRODUCT], out=band[_SQUARES])
    np.multiply(band[_X], band[_Y], out=band[_PRODUCT])


def _filter_band(ws: _Workspace, plan: _Plan) -> None:
    """Both passes over the band: two batched matrix products on overlapping strided windows."""
    k, s, r, c = plan.kinds, plan.strip, plan.radius, plan.channels
    vb, hb = plan.vblock, plan.hblock
    n = c * plan.padded_width
    item = ws.band.itemsize
    band = ws.band.reshape(k, s + 2 * r, n)
    windows = as_strided(band, shape=(k, s // vb, vb + 2 * r, n),
                         strides=(band.strides[0], vb * n * item, n * item, item), writeable=False)
    np.matmul(plan.tv, windows, out=ws.vout.reshape(k, s // vb, vb, n))
    rows = ws.vout.reshape(k * s * c, plan.padded_width)
    row = rows.strides[0]
    windows = as_strided(rows, shape=(k, plan.nblocks, s * c, hb + 2 * r),
                         strides=(s * c * row, hb * item, row, item), writeable=False)
    np.matmul(windows, plan.th, out=ws.out)


def _strip_maps(ws: _Workspace, plan: _Plan, need_ssim: bool) -> dict[str, np.ndarray]:
    """Per-pixel maps of the filtered strip, each ``(nblocks, strip * C, hblock)``.

    Mirrors `core.maps_from_moments` operation by operation (same order, same precision, so
    identical images still give exactly 1) on in-place buffers instead of temporaries.
    """
    params = plan.params
    # mu = mean of the centred plane + this strip's centre, channel by channel.
    centre = ws.centre.reshape(1, 1, plan.channels, 1)
    c1 = (params.k1 * plan.data_range) ** 2
    c2 = (params.k2 * plan.data_range) ** 2
    f = list(ws.out)
    mx, my, var_sum, cov = f[_X], f[_Y], f[_SQUARES], f[_PRODUCT]
    t1, cs, t3 = ws.t1, ws.t2, ws.t3
    # var_sum = squares - 2*mx*my - (mx - my)^2; covariance = product - mx*my
    np.multiply(mx, my, out=t1)
    np.subtract(mx, my, out=t3)
    np.multiply(t1, 2, out=cs)
    np.subtract(var_sum, cs, out=var_sum)
    np.multiply(t3, t3, out=t3)
    np.subtract(var_sum, t3, out=var_sum)
    np.subtract(cov, t1, out=cov)
    if params.sample_covariance and plan.window.size > 1:
        count = plan.window.size * plan.window.size
        scale = count / (count - 1)
        np.multiply(var_sum, scale, out=var_sum)
        np.multiply(cov, scale, out=cov)
    np.multiply(cov, 2, out=cov)
    np.add(cov, c2, out=cov)
    np.add(var_sum, c2, out=var_sum)
    np.divide(cov, var_sum, out=cs)
    maps = {"cs": cs}
    if need_ssim:
        # (2*mu_x*mu_y + C1) / (2*mu_x*mu_y + (mu_x - mu_y)^2 + C1) * cs
        ssim = t1
        blocks = (plan.nblocks, plan.strip, plan.channels, plan.hblock)
        np.add(mx.reshape(blocks), centre, out=mx.reshape(blocks))
        np.add(my.reshape(blocks), centre, out=my.reshape(blocks))
        np.multiply(mx, my, out=t1)
        np.subtract(mx, my, out=t3)
        np.multiply(t3, t3, out=t3)
        np.multiply(t1, 2, out=mx)
        np.add(mx, t3, out=var_sum)
        np.add(var_sum, c1, out=var_sum)
        np.add(mx, c1, out=mx)
        np.divide(mx, var_sum, out=ssim)
        np.multiply(ssim, cs, out=ssim)
        if params.clip:
            np.clip(ssim, 0, 1, out=ssim)
        maps["ssim"] = ssim
    if params.clip:
        np.clip(cs, 0, 1, out=cs)
    if plan.kinds > _ABSDIFF:
        maps["l1"] = f[_ABSDIFF]
        if plan.want_maps:
            mix = t3
            np.subtract(1, maps["ssim"], out=mix)
            np.multiply(mix, params.alpha, out=mix)
            np.multiply(f[_ABSDIFF], 1 - params.alpha, out=var_sum)
            np.add(mix, var_sum, out=mix)
            maps["ssim_l1"] = mix
    return maps


def _strip_sums(ws: _Workspace, plan: _Plan, map_: np.ndarray, start: int) -> np.ndarray:
    """Float64 per-channel sum of one strip's map over the averaging region.

    Each block row of ``hblock`` samples is summed by BLAS (a short, accurate sum), and those
    partial sums are added up in float64, so no long float32 accumulation happens anywhere.
    """
    s, c, hb = plan.strip, plan.channels, plan.hblock
    lo = max(plan.mean_rows[0], start) - start
    hi = min(plan.mean_rows[1], start + s) - start
    if hi <= lo:
        return np.zeros(c)
    blocks = map_.reshape(plan.nblocks, s * c, hb)
    partial = np.matmul(map_.reshape(-1, hb), plan.ones).reshape(plan.nblocks, s * c)
    for j, mask in plan.partial:
        partial[j] = np.matmul(blocks[j], mask)
    partial[~plan.any_valid] = 0
    partial = partial.reshape(plan.nblocks, s, c)[:, lo:hi]
    return partial.sum(axis=(0, 1), dtype=np.float64)


#: Receives the maps of image rows ``start:start + n`` as ``{name: (n, W, C) array}``, for
#: ``ssim``, ``cs``, ``l1`` and ``ssim_l1``. Called from the engine's threads, strips in any
#: order and concurrently; the arrays are reused once it returns, so it must copy what it keeps.
MapSink = Callable[[int, dict[str, np.ndarray]], None]


def _deliver_maps(plan: _Plan, maps: dict[str, np.ndarray], start: int,
                  maps_out: dict[str, np.ndarray] | None, map_sink: MapSink | None,
                  spare: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """Store a strip's maps in the whole maps and/or hand them to the sink; returns the
    thread's strip-sized arrays for the sink (made on first use, then reused)."""
    if maps_out is not None:
        _store_maps(plan, maps, maps_out, start)
    if map_sink is not None:
        spare = spare or _strip_arrays(plan)
        _store_maps(plan, maps, spare, start, at=0)
        rows = min(plan.strip, plan.height - start)
        map_sink(start, {name: array[:rows] for name, array in spare.items()})
    return spare


def _strip_arrays(plan: _Plan) -> dict[str, np.ndarray]:
    """One thread's strip-sized ``(strip, W, C)`` maps, for a `MapSink`."""
    shape = (plan.strip, plan.width, plan.channels)
    return {name: np.empty(shape, dtype=plan.dtype) for name in ("ssim", "cs", "l1", "ssim_l1")}


def _store_maps(plan: _Plan, maps: dict[str, np.ndarray], out: dict[str, np.ndarray],
                start: int, at: int | None = None) -> None:
    """Copy a strip's maps into ``(H, W, C)`` arrays at row ``at`` (default: ``start``)."""
    s, c, hb, w = plan.strip, plan.channels, plan.hblock, plan.width
    rows = min(s, plan.height - start)
    at = start if at is None else at
    full = w // hb
    for name, target in out.items():
        blocks = maps[name].reshape(plan.nblocks, s, c, hb)[:, :rows]  # (nb, rows, C, hb)
        dest = target[at:at + rows]
        if full:
            np.copyto(dest[:, :full * hb].reshape(rows, full, hb, c),
                      blocks[:full].transpose(1, 0, 3, 2))
        if w > full * hb:
            np.copyto(dest[:, full * hb:], blocks[full, :, :, :w - full * hb].transpose(0, 2, 1))


class _BlasOneThread:
    """Keeps BLAS single-threaded while any strip engine runs, process-wide and refcounted.

    Our threads already use every core; BLAS threads on top would oversubscribe them. Nested
    and concurrent callers (a batch running pairs on threads) share one limit that is lifted
    when the last of them leaves, so the user's own BLAS setting comes back intact.
    threadpoolctl is optional: without it BLAS merely oversubscribes a little.
    """

    _lock = threading.Lock()
    _users = 0
    _limiter: Any = None
    # Finding the BLAS libraries reads /proc/self/maps (~1 ms): do it once per process.
    _controller: Any = None

    @classmethod
    def _limit(cls) -> Any:
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
            if _BlasOneThread._users == 0:
                _BlasOneThread._limiter = self._limit()
            _BlasOneThread._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            _BlasOneThread._users -= 1
            if _BlasOneThread._users == 0 and _BlasOneThread._limiter is not None:
                _BlasOneThread._limiter.restore_original_limits()
                _BlasOneThread._limiter = None


def downsample2_image(image: np.ndarray, chunk: int = 16) -> np.ndarray:
    """`core.downsample2` for ``(H, W, C)`` images: 2x2 average, odd sides repeat their edge.

    Rows are paired by one add over contiguous rows; columns by one small matrix product, as
    an add of every other ``C``-sample chunk would loop in NumPy over chunks of ``C`` samples.
    Done ``chunk`` output rows at a time, so the row sums stay in cache (twice as fast as
    one full-size temporary on a 4K image).
    """
    height, width, channels = image.shape
    if height % 2 or width % 2:
        image = np.pad(image, [(0, height % 2), (0, width % 2), (0, 0)], mode="edge")
        height, width = image.shape[:2]
    out = np.empty((height // 2, width // 2, channels), dtype=image.dtype)
    pair = np.vstack([np.eye(channels), np.eye(channels)]).astype(image.dtype) * 0.25
    rows = np.empty((min(chunk, height // 2), width, channels), dtype=image.dtype)
    for start in range(0, height // 2, chunk):
        stop = min(start + chunk, height // 2)
        summed = rows[:stop - start]
        np.add(image[2 * start:2 * stop:2], image[2 * start + 1:2 * stop:2], out=summed)
        np.matmul(summed.reshape(-1, 2 * channels), pair,
                  out=out[start:stop].reshape(-1, channels))
    return out


def downsample_pair(x: np.ndarray, y: np.ndarray, threads: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """`downsample2_image` of both images, on two threads when large enough to gain from it.

    Between MS-SSIM scales this is the only serial work; on a 4K pair it is ~10% of SSIM.
    """
    threads = default_threads() if threads is None else threads
    if threads < 2 or x.size < 2 * _THREAD_MIN_SAMPLES:
        return downsample2_image(x), downsample2_image(y)
    future = _helper_pool(1).submit(downsample2_image, y)
    small_x = downsample2_image(x)
    # A helper that has not started yet (a busy machine) is not waited for.
    small_y = downsample2_image(y) if future.cancel() else future.result()
    return small_x, small_y


def as_image(image: Any, dtype: Any, divisor: float = 1.0) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` -> ``(H, W, C)`` of ``dtype`` (a view when nothing changes)."""
    array = np.asarray(image)
    if divisor != 1.0 or array.dtype != dtype:
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
    map_sink: MapSink | None = None,
) -> tuple[dict[str, list[float]], dict[str, np.ndarray] | None]:
    """Per-channel region means (and optionally maps) of two ``(H, W, C)`` images, by strips.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(H, W, C)`` arrays of ``params.dtype`` (see `as_image`); any strides.
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
        Worker threads (default: the cores available, see `default_threads`).
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
    with_l1 = "l1" in names or return_maps or map_sink is not None
    need_ssim = "ssim" in names or return_maps or map_sink is not None
    height, width, channels = x.shape
    plan = _make_plan((height, width, channels), params, window, data_range, names, with_l1,
                      return_maps or map_sink is not None, strip_rows)
    maps_out = None
    if return_maps:
        maps_out = {name: np.empty((height, width, channels), dtype=plan.dtype)
                    for name in ("ssim", "cs", "l1", "ssim_l1")}
    count = plan.strips
    # One row of sums per strip, added in strip order at the end: the result does not depend
    # on which thread ran which strip.
    sums = np.zeros((count, len(names), channels))
    threads = default_threads() if threads is None else max(1, int(threads))
    threads = max(1, min(threads, count, x.size // _THREAD_MIN_SAMPLES))
    next_strip = iter(range(count))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        ws = None
        strip_maps = None
        try:
            while True:
                with lock:
                    index = next(next_strip, None)
                if index is None or errors:
                    return
                if ws is None:  # allocated only by threads that get a strip
                    ws = _acquire_workspace(plan)
                start = index * plan.strip
                _fill_band(ws, plan, x, y, start)
                _filter_band(ws, plan)
                maps = _strip_maps(ws, plan, need_ssim)
                for i, name in enumerate(names):
                    sums[index, i] = _strip_sums(ws, plan, maps[name], start)
                strip_maps = _deliver_maps(plan, maps, start, maps_out, map_sink, strip_maps)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)
        finally:
            if ws is not None:
                _release_workspace(ws)

    with _BlasOneThread():
        # The caller's thread works too: helpers that start late find the strips taken.
        helpers = [_helper_pool(threads - 1).submit(work) for _ in range(threads - 1)]
        work()
        for helper in helpers:
            helper.result()
    if errors:
        raise errors[0]
    area = (plan.mean_rows[1] - plan.mean_rows[0]) * (plan.mean_cols[1] - plan.mean_cols[0])
    totals = sums.sum(axis=0) / area
    means = {name: [float(v) for v in totals[i]] for i, name in enumerate(names)}
    return means, maps_out


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
