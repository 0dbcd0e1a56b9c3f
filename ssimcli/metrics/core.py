"""SSIM, CS, Gaussian-weighted L1 and their mix, per pixel and as means. Pure: no I/O.

Every filtering is one separable window applied to a stack of five planes per channel,
``x', y', x'^2 + y'^2, x'y', |x - y|`` with ``x' = x - cx`` and ``y' = y - cy``, each image and
channel centred on its own mean: SSIM needs only the sum of the two second moments, and
centring keeps the float32 cancellation in ``E[x'^2] - E[x']^2`` small on flat and saturated
areas and on images far outside [0, L] (variance is shift-invariant; the luminance term adds
the levels back). Where the centred values still reach far past L (an image that spans many
data ranges), float32 would lose the variances: those inputs are scored in float64
(`fast.peak_exceeds` decides, from the largest ``x'^2 + y'^2``, at no extra pass).
The array module comes in as a `Backend`, so the same code runs on NumPy or CuPy.

Two paths compute this. On the CPU, `compute` defaults to `fast.strip_metrics`: row strips,
OpenCV's separable filter, threads, native (integer) inputs converted strip by strip. The whole-image path here
(`channel_maps` with `reference_filter`, SciPy's ``correlate1d``) is the reference it is
tested against, selected with ``method="reference"``, and the default on CuPy.

Why one long module: it is the reference algorithm and the oracle of every other path, kept
together so that its formula, presets and MS-SSIM scale loop can be read (and reviewed) in one
place; the fast CPU engine lives in `fast.py`, masks in `masked.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import Backend, cpu_backend
from .errors import ImageTooSmallError
from .params import MS_SSIM_WEIGHTS, MetricParams, Window, effective_window, ms_ssim_min_size

MAP_NAMES = ("ssim", "cs", "l1", "ssim_l1")
_NUMPY_PAD_MODE = {"reflect": "symmetric", "zero": "constant", "replicate": "edge"}

# A separable filter: (planes (..., H + 2r, W + 2r) padded, 1-D weights, backend) -> (..., H, W).
SeparableFilter = Callable[[Any, np.ndarray, Backend], Any]


@dataclass
class MetricResult:
    """Scores of one pair: overall means, per-channel means, and optionally the maps.

    ``maps`` holds ``ssim``, ``cs``, ``l1``, ``ssim_l1`` as ``(H, W, C)`` arrays of the backend's
    module when asked for. ``per_channel`` maps each score name to a list, one value per channel.
    ``psnr`` is ``10 log10(L^2 / MSE)`` in dB with the MSE over every pixel and channel (not the
    mean of the per-channel PSNRs), ``math.inf`` for identical images.
    """

    ssim: float
    cs: float
    l1: float
    ssim_l1: float
    per_channel: dict[str, list[float]]
    window: Window
    params: MetricParams
    ms_ssim: float | None = None
    ms_ssim_l1: float | None = None
    maps: dict[str, Any] | None = field(default=None, repr=False)
    psnr: float = math.inf
    local: Any = None  # masked.LocalWorst when asked for (``local_window``), else None

    def scores(self) -> dict[str, float]:
        out = {"ssim": self.ssim, "cs": self.cs, "l1": self.l1, "ssim_l1": self.ssim_l1,
               "psnr": self.psnr}
        if self.ms_ssim is not None and self.ms_ssim_l1 is not None:
            out["ms_ssim"] = self.ms_ssim
            out["ms_ssim_l1"] = self.ms_ssim_l1
        return out


def reference_filter(planes: Any, weights: np.ndarray, backend: Backend) -> Any:
    """Two ``correlate1d`` passes over pre-padded planes, each followed by dropping the halo.

    SciPy accumulates each output in double precision, which makes this the accurate reference
    the fast paths are tested against.
    """
    radius = len(weights) // 2
    ndimage = backend.ndimage
    w = backend.xp.asarray(weights, dtype=planes.dtype)
    rows = ndimage.correlate1d(planes, w, axis=-2, mode="nearest")
    if radius:
        rows = rows[..., radius:-radius, :]
    cols = ndimage.correlate1d(rows, w, axis=-1, mode="nearest")
    if radius:
        cols = cols[..., radius:-radius]
    return cols


def as_planes(image: Any, xp: Any, dtype: Any, divisor: float = 1.0) -> Any:
    """``(H, W)`` or ``(H, W, C)`` -> contiguous ``(C, H, W)`` of ``dtype``, divided by ``divisor``.

    Integers convert straight to ``dtype`` (float64 precision never passes through float32).
    """
    array = xp.asarray(image)
    if divisor != 1.0 or array.dtype != dtype:
        array = xp.divide(array, xp.dtype(dtype).type(divisor), dtype=dtype)
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    return xp.ascontiguousarray(xp.moveaxis(array, -1, 0))


def pad_planes(planes: Any, radius: int, padding: str, xp: Any) -> Any:
    if radius == 0:
        return planes
    widths = [(0, 0)] * (planes.ndim - 2) + [(radius, radius), (radius, radius)]
    return xp.pad(planes, widths, mode=_NUMPY_PAD_MODE[padding])


def moment_planes(xpad: Any, ypad: Any, centre: Any, xp: Any, with_l1: bool = True,
                  centre_y: Any = None) -> Any:
    """The stacked planes ``(P, C, H, W)`` to filter: centred x, y, sum of squares, product, |x-y|.

    ``centre`` is what x is centred on (a number, or per channel ``(C, 1, 1)``), ``centre_y``
    y's (default: the same).
    """
    count = 5 if with_l1 else 4
    stack = xp.empty((count, *xpad.shape), dtype=xpad.dtype)
    xc = xp.subtract(xpad, centre, out=stack[0])
    yc = xp.subtract(ypad, centre if centre_y is None else centre_y, out=stack[1])
    xp.multiply(xc, xc, out=stack[2])
    stack[2] += yc * yc
    xp.multiply(xc, yc, out=stack[3])
    if with_l1:
        xp.subtract(xpad, ypad, out=stack[4])
        xp.abs(stack[4], out=stack[4])
    return stack


def maps_from_moments(
    filtered: Any, params: MetricParams, window: Window, data_range: float, xp: Any,
    centres: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """SSIM, CS (and L1, mix when present) maps ``(C, H, W)`` from the filtered planes.

    ``centres``: what x and y were centred on (`moment_planes`); default L/2 for both.
    """
    centre_x, centre_y = centres or (0.5 * data_range, 0.5 * data_range)
    c1 = (params.k1 * data_range) ** 2
    c2 = (params.k2 * data_range) ** 2
    mx, my, squares, product = filtered[0], filtered[1], filtered[2], filtered[3]
    # mx^2 + my^2 written as 2*mx*my + (mx - my)^2 so that identical images give exactly
    # var_sum == 2 * covariance (CS and SSIM exactly 1) and swapping x, y changes no bit.
    mean_product = mx * my
    difference = mx - my
    var_sum = squares - 2 * mean_product - difference * difference
    covariance = product - mean_product
    if params.sample_covariance and window.size > 1:
        n = window.size * window.size
        scale = n / (n - 1)
        var_sum *= scale
        covariance *= scale
    cs = (2 * covariance + c2) / (var_sum + c2)
    mu_x = mx + centre_x
    mu_y = my + centre_y
    mu_product = mu_x * mu_y
    mu_difference = mu_x - mu_y
    ssim = (2 * mu_product + c1) / (2 * mu_product + mu_difference * mu_difference + c1) * cs
    if params.clip:
        xp.clip(ssim, 0, 1, out=ssim)
        xp.clip(cs, 0, 1, out=cs)
    maps = {"ssim": ssim, "cs": cs}
    if filtered.shape[0] > 4:
        l1 = filtered[4]
        maps["l1"] = l1
        maps["ssim_l1"] = params.alpha * (1 - ssim) + (1 - params.alpha) * l1
    return maps


def region_means(map_: Any, radius: int, xp: Any) -> list[float]:
    """Per-channel float64 means of a ``(C, H, W)`` map over its averaging region."""
    if radius:
        map_ = map_[:, radius:-radius, radius:-radius]
    means = xp.mean(map_, axis=(1, 2), dtype=xp.float64)
    return [float(v) for v in means.tolist()]


def channel_maps(
    x: Any,
    y: Any,
    params: MetricParams,
    window: Window,
    data_range: float,
    backend: Backend,
    with_l1: bool = True,
    separable_filter: SeparableFilter | None = None,
) -> dict[str, Any]:
    """Maps ``(C, H, W)`` of two ``(C, H, W)`` stacks on the backend.

    Each image and channel is centred on its own mean. Float32 stacks whose centred values
    reach too far for float32 (`fast.peak_exceeds`) are scored in float64, their maps returned
    in float32; where float64 is not enough either, `fast.ValuesOutOfRange` is raised.
    """
    from .fast import peak_exceeds

    xp = backend.xp
    centres = tuple(xp.mean(planes, axis=(1, 2), dtype=xp.float64).astype(planes.dtype)
                    .reshape(-1, 1, 1) for planes in (x, y))
    xpad = pad_planes(x, window.radius, params.padding, xp)
    ypad = pad_planes(y, window.radius, params.padding, xp)
    stack = moment_planes(xpad, ypad, centres[0], xp, with_l1, centres[1])
    del xpad, ypad
    if peak_exceeds(float(xp.max(stack[2])), stack.dtype, data_range, centres):
        del stack
        maps = channel_maps(x.astype(xp.float64), y.astype(xp.float64), params, window,
                            data_range, backend, with_l1, separable_filter)
        return {name: map_.astype(x.dtype) for name, map_ in maps.items()}
    filtered = (separable_filter or reference_filter)(stack, window.weights, backend)
    del stack
    return maps_from_moments(filtered, params, window, data_range, xp, centres)


def squared_error_sums(x: Any, y: Any, xp: Any, chunk_rows: int = 128) -> list[float]:
    """Per-channel float64 sums of ``(x - y)^2`` over ``(H, W)`` or ``(H, W, C)`` arrays.

    The difference is taken in float64 from the values as given (exact for integers), a few
    rows at a time, so no full-size float64 copy is made.
    """
    x, y = xp.asarray(x), xp.asarray(y)
    channels = 1 if x.ndim == 2 else x.shape[2]
    total = np.zeros(channels)
    for start in range(0, x.shape[0], chunk_rows):
        stop = start + chunk_rows
        difference = xp.subtract(x[start:stop], y[start:stop], dtype=xp.float64)
        difference *= difference
        sums = difference.reshape(-1, channels).sum(axis=0)
        total += np.asarray(sums.get() if hasattr(sums, "get") else sums, dtype=np.float64)
    return [float(v) for v in total]


def psnr_db(mse: float, data_range: float = 1.0) -> float:
    """``10 log10(L^2 / MSE)``; infinite for a zero MSE (identical images)."""
    if mse <= 0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def add_psnr(result: MetricResult, mse_per_channel: list[float], data_range: float) -> None:
    """Per-channel PSNRs and the overall one, whose MSE is over every pixel and channel."""
    result.per_channel["psnr"] = [psnr_db(m, data_range) for m in mse_per_channel]
    result.psnr = psnr_db(float(np.mean(mse_per_channel)), data_range)


def _mse_per_channel(x: Any, y: Any, divisor: float, xp: Any) -> list[float]:
    count = x.shape[0] * x.shape[1]
    return [v / count / (divisor * divisor) for v in squared_error_sums(x, y, xp)]


METHODS = ("fast", "reference")


def resolve_method(
    method: str | None, backend: Backend, separable_filter: SeparableFilter | None = None
) -> str:
    """``fast`` (CPU strips, OpenCV) unless asked otherwise or the backend is not NumPy.

    A custom ``separable_filter`` runs through the whole-image path, which is where it plugs in.
    """
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if separable_filter is not None:
        if method == "fast":
            raise ValueError("separable_filter applies to method='reference' only")
        return "reference"
    if method is None:
        return "fast" if backend.name == "cpu" else "reference"
    if method == "fast" and backend.name != "cpu":
        raise ValueError(f"method='fast' runs on the CPU backend only, not {backend.name!r}")
    return method


def compute(
    x: Any,
    y: Any,
    params: MetricParams | None = None,
    *,
    data_range: float = 1.0,
    ms_ssim: bool = False,
    return_maps: bool = False,
    backend: Backend | None = None,
    separable_filter: SeparableFilter | None = None,
    method: str | None = None,
    strip_rows: int | None = None,
    threads: int | None = None,
    divisor: float = 1.0,
    local_window: int | None = None,
    map_sink: Callable[[int, dict[str, Any]], None] | None = None,
) -> MetricResult:
    """SSIM, CS, Gaussian-weighted L1, their mix and PSNR of two images (MS-SSIM if asked).

    Parameters
    ----------
    x, y : array_like
        Reference and candidate, ``(H, W)`` or ``(H, W, C)``: ``x / divisor`` lies in
        ``[0, data_range]``. Integer arrays stay as they are and are converted to the working
        precision inside (by strips on the fast path), directly from the integers.
    params : MetricParams
        Window, constants, padding, averaging region, precision (`params_for` builds presets).
    data_range : float
        L in ``C1 = (K1 L)^2`` and ``C2 = (K2 L)^2``; 1 for normalised images.
    ms_ssim : bool
        Also compute MS-SSIM (Wang, Simoncelli & Bovik 2003, as TensorFlow's ``ssim_multiscale``)
        and its L1 mix.
    return_maps : bool
        Keep the per-pixel maps (``(H, W, C)``) in the result.
    backend : Backend
        Array module and ndimage; NumPy + SciPy by default.
    separable_filter : callable, optional
        A whole-image filter ``(padded planes, weights, backend) -> planes`` for the reference
        path (default `reference_filter`); implies ``method="reference"``.
    method : {"fast", "reference"}, optional
        ``fast`` (the default on the CPU): strips, OpenCV filtering, threads; memory bounded
        by the strip. ``reference`` (the default elsewhere): whole-image SciPy / CuPy filtering,
        the simple path the fast one is tested against.
    strip_rows, threads : int, optional
        Fast path only: rows per strip (default 32) and worker threads (default: the
        ``SSIM_L1_THREADS`` environment variable, else all usable cores).
    divisor : float
        What the values are divided by (255 for 8-bit images scored in [0, 1]).
    local_window : int, optional
        Also find the worst ``local_window``-pixel square of the channel-mean SSIM map over the
        averaging region (``result.local``, a `masked.LocalWorst`; windows at least half
        inside the region count). On the fast path it comes from the same strip pass, with
        no maps and no image-sized tables.
    map_sink : callable, optional
        ``sink(start, {name: (n, W, C) maps of rows start:start + n})`` for ``ssim``, ``cs``,
        ``l1`` and ``ssim_l1``: the fast path hands over each strip as it is made (from its
        threads, in any order; see `fast.MapSink`), so maps can be written out without being
        held whole; the reference path calls it once with the whole maps.

    Returns
    -------
    MetricResult
        Each score is the mean of its map over the averaging region, then over channels.
    """
    params = params or MetricParams()
    backend = backend or cpu_backend()
    method = resolve_method(method, backend, separable_filter)
    if method == "fast":
        return _compute_fast(x, y, params, data_range, ms_ssim, return_maps, strip_rows,
                             threads, divisor, local_window, map_sink)
    separable_filter = separable_filter or reference_filter
    xp = backend.xp
    work = working_dtype(x, y, params, divisor, data_range, xp)
    xs = as_planes(x, xp, work, divisor)
    ys = as_planes(y, xp, work, divisor)
    _check_shapes(xs.shape, ys.shape)
    _, height, width = xs.shape
    window = effective_window(params, height, width)
    maps = channel_maps(xs, ys, params, window, data_range, backend, True, separable_filter)
    radius = window.radius if params.mean_over == "valid" else 0
    per_channel = {name: region_means(maps[name], radius, xp) for name in MAP_NAMES}
    result = _result(per_channel, window, params)
    add_psnr(result, _mse_per_channel(xp.asarray(x), xp.asarray(y), divisor, xp), data_range)
    if local_window is not None:
        result.local = _local_from_map(backend.to_numpy(maps["ssim"]), params, window,
                                       local_window)
    if ms_ssim:
        values = _ms_ssim_per_channel(
            xs, ys, params, data_range, backend, separable_filter,
            first_scale=(per_channel["ssim"], per_channel["cs"]),
        )
        _add_ms_ssim(result, values)
    if return_maps or map_sink is not None:
        whole = {name: xp.moveaxis(maps[name], 0, -1).astype(params.dtype, copy=False)
                 for name in MAP_NAMES}
        if map_sink is not None:
            map_sink(0, whole)
        if return_maps:
            result.maps = whole
    return result


def working_dtype(x: Any, y: Any, params: MetricParams, divisor: float, data_range: float,
                  xp: Any) -> Any:
    """The precision the whole-image path converts the images to: ``params.dtype``, or float64
    where float32 would round values that lie far outside [0, L] (`fast.lossy_in_float32`;
    the strip engines decide strip by strip instead). Integer dtypes are judged by their
    range; other inputs that float32 rounds cost one min and one max pass each."""
    from .fast import _LOSSY_LEVEL_LIMIT, lossy_in_float32

    x, y = xp.asarray(x), xp.asarray(y)
    if params.precision != "float32" or not lossy_in_float32(x, y, divisor) or not x.size:
        return params.dtype
    limit = _LOSSY_LEVEL_LIMIT * data_range * divisor
    for image in (x, y):
        if image.dtype.kind in "ui":
            info = np.iinfo(image.dtype)
            if max(-int(info.min), int(info.max)) <= limit:
                continue
        if max(abs(float(xp.max(image))), abs(float(xp.min(image)))) > limit:
            return xp.float64
    return params.dtype


def _local_from_map(ssim: Any, params: MetricParams, window: Window, size: int) -> Any:
    """The worst local window of a ``(C, H, W)`` SSIM map over the averaging region."""
    from .windows import map_weights, worst_window

    _, height, width = ssim.shape
    border = window.radius if params.mean_over == "valid" else 0
    weights = map_weights(None, height, width, window.size, border)
    return worst_window(np.moveaxis(np.asarray(ssim), 0, -1), weights, size)


def _check_shapes(xshape: tuple[int, ...], yshape: tuple[int, ...]) -> None:
    """Shapes are ``(C, H, W)``."""
    if xshape != yshape:
        raise ValueError(f"images differ in shape: {xshape[1:]} x {xshape[0]} channels vs "
                         f"{yshape[1:]} x {yshape[0]} channels")


def _result(per_channel: dict[str, list[float]], window: Window, params: MetricParams
            ) -> MetricResult:
    ssim, cs, l1, ssim_l1 = (float(np.mean(per_channel[name])) for name in MAP_NAMES)
    return MetricResult(ssim, cs, l1, ssim_l1, per_channel=per_channel, window=window,
                        params=params)


def _mix(similarities: list[float], l1s: list[float], alpha: float) -> list[float]:
    return [alpha * (1 - s) + (1 - alpha) * d for s, d in zip(similarities, l1s, strict=True)]


def _add_ms_ssim(result: MetricResult, values: list[float]) -> None:
    params, per_channel = result.params, result.per_channel
    per_channel["ms_ssim"] = values
    per_channel["ms_ssim_l1"] = _mix(values, per_channel["l1"], params.alpha)
    result.ms_ssim = float(np.mean(values))
    result.ms_ssim_l1 = float(np.mean(per_channel["ms_ssim_l1"]))


def _compute_fast(
    x: Any, y: Any, params: MetricParams, data_range: float, with_ms_ssim: bool,
    return_maps: bool, strip_rows: int | None, threads: int | None, divisor: float = 1.0,
    local_window: int | None = None,
    map_sink: Callable[[int, dict[str, Any]], None] | None = None,
) -> MetricResult:
    """`compute` on the CPU by strips (`fast.strip_metrics`): same results, bounded memory.

    The images stay as given (integers included); PSNR's squared errors come from the same pass.
    """
    from . import fast

    xs = fast.as_image(x)
    ys = fast.as_image(y)
    _check_shapes(xs.shape[2:] + xs.shape[:2], ys.shape[2:] + ys.shape[:2])
    height, width, _ = xs.shape
    window = effective_window(params, height, width)
    squared_errors: list[float] = []
    finder = None
    if local_window is not None:
        from .windows import RegionWindowFinder

        rm = window.radius if params.mean_over == "valid" else 0
        finder = RegionWindowFinder(height, width, local_window, (rm, height - rm),
                                    (rm, width - rm), xs.shape[2])
    means, maps = fast.strip_metrics(
        xs, ys, params, window, data_range, names=("ssim", "cs", "l1"),
        return_maps=return_maps, strip_rows=strip_rows, threads=threads, divisor=divisor,
        squared_errors=squared_errors, local=finder, map_sink=map_sink,
    )
    # The mix is linear: its mean is the mix of the means, and its map is only built if kept.
    means["ssim_l1"] = _mix(means["ssim"], means["l1"], params.alpha)
    result = _result(means, window, params)
    add_psnr(result, [v / (height * width) for v in squared_errors], data_range)
    if finder is not None:
        result.local = finder.result()
    if with_ms_ssim:
        values = _ms_ssim_fast(xs, ys, params, data_range, (means["ssim"], means["cs"]),
                               strip_rows, threads, divisor)
        _add_ms_ssim(result, values)
    if return_maps:
        result.maps = maps
    return result


def _ms_ssim_fast(
    xs: np.ndarray, ys: np.ndarray, params: MetricParams, data_range: float,
    first_scale: tuple[list[float], list[float]] | None,
    strip_rows: int | None, threads: int | None, divisor: float = 1.0,
) -> list[float]:
    """MS-SSIM of ``(H, W, C)`` images through the strip engine; scale 0 may be given.

    Scale 0 is scored as given (``/ divisor``); the first downsampling converts to float.
    """
    from . import fast

    height, width, _ = xs.shape
    _check_ms_ssim_size(params, height, width)

    def means(state: tuple[np.ndarray, np.ndarray, float], want_ssim: bool
              ) -> tuple[list[float], list[float] | None]:
        x, y, scale_divisor = state
        window = effective_window(params, x.shape[0], x.shape[1])
        names = ("ssim", "cs") if want_ssim else ("cs",)
        values, _ = fast.strip_metrics(x, y, params, window, data_range, names=names,
                                       strip_rows=strip_rows, threads=threads,
                                       divisor=scale_divisor)
        return values["cs"], values.get("ssim")

    def downsample(state: tuple[np.ndarray, np.ndarray, float]
                   ) -> tuple[np.ndarray, np.ndarray, float]:
        small = fast.downsample_pair(state[0], state[1], threads, params.dtype, state[2])
        return small[0], small[1], 1.0

    return ms_ssim_over_scales((xs, ys, divisor), downsample, means, first_scale)


def downsample2(planes: Any, xp: Any, axes: tuple[int, int] = (1, 2)) -> Any:
    """2x2 average over ``axes`` (``(C, H, W)`` by default); an odd side repeats its last line.

    Four strided adds rather than a reshape and ``mean``: the same value, in a quarter of the
    time, on NumPy and CuPy alike.
    """
    a0, a1 = axes
    extend = [(0, 0)] * planes.ndim
    extend[a0] = (0, planes.shape[a0] % 2)
    extend[a1] = (0, planes.shape[a1] % 2)
    if any(e[1] for e in extend):
        planes = xp.pad(planes, extend, mode="edge")

    def take(i: int, j: int) -> Any:
        index: list[Any] = [slice(None)] * planes.ndim
        index[a0] = slice(i, None, 2)
        index[a1] = slice(j, None, 2)
        return planes[tuple(index)]

    out = take(0, 0) + take(0, 1)
    out += take(1, 0)
    out += take(1, 1)
    out *= 0.25
    return out


def _check_ms_ssim_size(params: MetricParams, height: int, width: int) -> None:
    minimum = ms_ssim_min_size(params)
    if min(height, width) < minimum:
        raise ImageTooSmallError(
            f"MS-SSIM needs images of at least {minimum}x{minimum} pixels for a {params.window}-pixel "
            f"window at {len(MS_SSIM_WEIGHTS)} scales; got {width}x{height}"
        )


def _ms_ssim_combine(cs_means: list[list[float]], ssim_means: list[float]) -> list[float]:
    """Per channel: product of the clamped CS means (scales 0-3) and SSIM mean (scale 4)."""
    last = len(MS_SSIM_WEIGHTS) - 1
    values = []
    for c in range(len(ssim_means)):
        value = 1.0
        for scale in range(last):
            value *= max(cs_means[scale][c], 0.0) ** MS_SSIM_WEIGHTS[scale]
        value *= max(ssim_means[c], 0.0) ** MS_SSIM_WEIGHTS[last]
        values.append(value)
    return values


def ms_ssim_over_scales(
    state: Any,
    downsample: Callable[[Any], Any],
    means: Callable[[Any, bool], tuple[list[float], list[float] | None]],
    first_scale: tuple[list[float], list[float]] | None = None,
) -> list[float]:
    """The MS-SSIM scale loop shared by every path (reference, fast, masked).

    ``state`` holds the images at scale 0 (and whatever else travels down the scales, such as
    a mask); ``downsample(state)`` gives the next scale; ``means(state, want_ssim)`` gives the
    per-channel CS means and, when asked (last scale), the SSIM means. ``first_scale`` =
    (SSIM means, CS means) of scale 0 when the caller already has them.
    """
    last = len(MS_SSIM_WEIGHTS) - 1
    cs_means: list[list[float]] = []
    ssim_means: list[float] | None = None
    for scale in range(last + 1):
        if scale == 0 and first_scale is not None:
            cs = first_scale[1]
        else:
            if scale:
                state = downsample(state)
            cs, ssim = means(state, scale == last)
            if scale == last:
                ssim_means = ssim
        if scale < last:
            cs_means.append(cs)
    assert ssim_means is not None  # the last scale always asks for SSIM
    return _ms_ssim_combine(cs_means, ssim_means)


def _ms_ssim_per_channel(
    xs: Any,
    ys: Any,
    params: MetricParams,
    data_range: float,
    backend: Backend,
    separable_filter: SeparableFilter,
    first_scale: tuple[list[float], list[float]] | None = None,
) -> list[float]:
    """MS-SSIM of ``(C, H, W)`` stacks on the whole-image (reference) path."""
    xp = backend.xp
    _, height, width = xs.shape
    _check_ms_ssim_size(params, height, width)

    def means(pair: tuple[Any, Any], want_ssim: bool) -> tuple[list[float], list[float] | None]:
        window = effective_window(params, pair[0].shape[1], pair[0].shape[2])
        maps = channel_maps(*pair, params, window, data_range, backend, False, separable_filter)
        radius = window.radius if params.mean_over == "valid" else 0
        ssim = region_means(maps["ssim"], radius, xp) if want_ssim else None
        return region_means(maps["cs"], radius, xp), ssim

    return ms_ssim_over_scales(
        (xs, ys), lambda pair: (downsample2(pair[0], xp), downsample2(pair[1], xp)), means,
        first_scale)


def ms_ssim(
    x: Any,
    y: Any,
    params: MetricParams | None = None,
    *,
    data_range: float = 1.0,
    backend: Backend | None = None,
    method: str | None = None,
) -> float:
    """MS-SSIM alone, averaged over channels (TensorFlow ``ssim_multiscale`` semantics)."""
    params = params or MetricParams()
    backend = backend or cpu_backend()
    if resolve_method(method, backend) == "fast":
        from . import fast

        xs = fast.as_image(x)
        ys = fast.as_image(y)
        _check_shapes(xs.shape[2:] + xs.shape[:2], ys.shape[2:] + ys.shape[:2])
        return float(np.mean(_ms_ssim_fast(xs, ys, params, data_range, None, None, None)))
    work = working_dtype(x, y, params, 1.0, data_range, backend.xp)
    xs = as_planes(x, backend.xp, work)
    ys = as_planes(y, backend.xp, work)
    return float(np.mean(_ms_ssim_per_channel(xs, ys, params, data_range, backend,
                                              reference_filter)))
