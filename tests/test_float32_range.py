"""Inputs far outside [0, L], and flat images: exact in float32 as in float64, never NaN.

Where the values come from: scikit-image's ``structural_similarity`` in float64
(``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``), which computes the
uncentred moments ``E[x^2] - E[x]^2`` in float64 and so stays exact for the offsets used here
(a 2^-8 grid plus at most 1000: every value and product is exact or within 1e-12); and, for
MS-SSIM, `oracles.tf_ms_ssim` (TensorFlow's ``ssim_multiscale`` transcribed in float64). Every
input is exactly representable in float32, so the float32 engines see the very same values.

Tolerances: float32 results within ``rel=1e-6`` of the float64 oracle (the engines measure
~5e-8 here; before they centred each image on its own level, a photo against a constant 1000
gave NaN and against 100 was 42 % off); float64 within ``1e-9``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracles import tf_ms_ssim
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from ssimcli.metrics import compute, fast, ms_ssim, params_for

ENGINES = ("native", "opencv", "reference")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The native kernel, the OpenCV strip engine it falls back to, and the whole-image path."""
    monkeypatch.setenv("SSIM_L1_NATIVE", "0" if request.param == "opencv" else "1")
    if request.param == "native" and not fast.native_available():
        pytest.skip("the native kernel is not built here")
    return str(request.param)


def method(engine: str) -> str:
    return "reference" if engine == "reference" else "fast"


def skimage_ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    return float(structural_similarity(
        x.astype(np.float64), y.astype(np.float64), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=data_range,
        channel_axis=-1 if x.ndim == 3 else None))


def textured(height: int, width: int, seed: int) -> np.ndarray:
    """Values on a 2^-8 grid in [0, 1]: exact in float32 even after adding 1000."""
    rng = np.random.default_rng(seed)
    return np.round(rng.random((height, width)) * 256) / 256


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("level", [1000.0, 100.0, 10.0, 2.0, -50.0])
def test_a_photo_against_a_constant_far_outside_the_range(engine: str, precision: str,
                                                           level: float) -> None:
    # TensorFlow's own test_tf_ms_ssim_range scores a pattern against values far above the
    # data range; scikit-image in float64 is the oracle for the single-scale case.
    x = textured(64, 72, seed=1)
    y = np.full_like(x, level)
    expected = skimage_ssim(x, y)
    got = compute(x.astype(precision), y.astype(precision), params_for(precision=precision),
                  method=method(engine))
    assert math.isfinite(got.ssim) and math.isfinite(got.cs)
    assert got.ssim == pytest.approx(expected, rel=1e-6 if precision == "float32" else 1e-9)
    # The Gaussian-weighted |x - y| over the valid interior, as scikit-image filters (SciPy's
    # gaussian_filter, truncated at 3.5 sigma: the 11-pixel window).
    l1 = gaussian_filter(np.abs(x - y), 1.5, truncate=3.5, mode="reflect")[5:-5, 5:-5].mean()
    assert got.l1 == pytest.approx(l1, rel=1e-6)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("step,tolerance,map_tolerance",
                         [(3.0, 1e-9, 1e-6), (1000.0, 1e-9, 1e-6), (30000.0, 1e-7, 2e-5)])
def test_an_image_that_spans_many_data_ranges_is_scored_as_in_float64(
        engine: str, precision: str, step: float, tolerance: float, map_tolerance: float
) -> None:
    # Within one image: half a photo at its level, half raised by ``step`` data ranges. Float32
    # cannot keep the variances near the step; those strips are scored in float64. (At a step
    # of 30000 scikit-image's own uncentred float64 moments drift by ~1e-8 on the mean and
    # ~5e-6 on single pixels of the map.)
    x = textured(70, 90, seed=2)
    y = np.clip(x + np.random.default_rng(3).normal(0, 0.05, x.shape), 0, 1)
    y = np.round(y * 256) / 256
    x[:, 45:] += step
    y[:, 45:] += step
    expected = skimage_ssim(x, y)
    got = compute(x.astype(precision), y.astype(precision), params_for(precision=precision),
                  method=method(engine), return_maps=True, strip_rows=16)
    assert got.maps is not None
    assert got.ssim == pytest.approx(expected, abs=tolerance)
    assert np.all(np.isfinite(got.maps["ssim"])) and np.all(np.isfinite(got.maps["ssim_l1"]))
    _, full = structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, full=True)
    tol = 5e-4 if precision == "float32" else map_tolerance  # float32: the map contract
    assert np.abs(got.maps["ssim"][5:-5, 5:-5, 0] - full[5:-5, 5:-5]).max() < tol


def centred_ssim(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """SSIM transcribed in float64 (scikit-image's Gaussian window: SciPy's gaussian_filter,
    sigma 1.5, truncated at 3.5 sigma; population covariance; the valid interior), with the
    moments taken about ``level`` so that a large offset costs no digits."""

    def blur(image: np.ndarray) -> np.ndarray:
        return gaussian_filter(image, 1.5, truncate=3.5, mode="reflect")

    a, b = x - level, y - level  # exact: every value is on a fine grid near the level
    ma, mb = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    ux, uy = ma + level, mb + level
    c1, c2 = 1e-4, 9e-4
    ssim = ((2 * ux * uy + c1) * (2 * cov + c2)) / ((ux * ux + uy * uy + c1) * (var_a + var_b + c2))
    return float(ssim[5:-5, 5:-5].mean())


@pytest.mark.parametrize("level", [1e4, 300.0, -20.0])
def test_float64_input_far_outside_the_range_loses_nothing_to_float32(engine: str,
                                                                      level: float) -> None:
    # Float64 values that float32 cannot hold (a 2^-20 grid; at 1e4 float32 keeps 2^-10) are
    # not rounded to float32: a faint float64 texture plus 1e4 was 7e-5 off (a float64 photo
    # plus 1e4 against a flat 1e4, in a 3-pixel window, 1e-3).
    grid = float(2 ** 20)
    rng = np.random.default_rng(10)
    x = level + np.round(rng.random((60, 70)) * 0.1 * grid) / grid
    y = level + np.round(np.clip(x - level + rng.normal(0, 0.003, x.shape), 0, 1) * grid) / grid
    got = compute(x, y, method=method(engine))
    assert got.ssim == pytest.approx(centred_ssim(x, y, level), rel=1e-6)


def test_the_float64_rescue_keeps_identity_symmetry_and_every_output(engine: str) -> None:
    x = textured(80, 100, seed=4).astype(np.float32)
    y = np.roll(x, 1, axis=1)
    x[:40] += 500.0
    y[:40] += 500.0
    same = compute(x, x, method=method(engine), return_maps=True)
    assert same.maps is not None
    assert same.per_channel["ssim"] == [1.0] and same.per_channel["cs"] == [1.0]
    assert np.all(same.maps["ssim"] == 1.0)
    one = compute(x, y, method=method(engine), return_maps=True, local_window=16)
    other = compute(y, x, method=method(engine), return_maps=True, local_window=16)
    assert one.maps is not None and other.maps is not None
    assert one.per_channel == other.per_channel
    for name in one.maps:
        assert np.array_equal(one.maps[name], other.maps[name]), name
    assert one.local is not None and math.isfinite(one.local.value)
    assert one.ssim == pytest.approx(skimage_ssim(x, y), abs=1e-9)


def test_strips_scored_in_float64_reach_a_map_sink() -> None:
    # The same rows a sink receives as the maps kept whole, strip by strip, in float32.
    x = textured(96, 64, seed=5).astype(np.float32)
    y = np.roll(x, 2, axis=0)
    x[48:] *= 3000.0
    y[48:] *= 3000.0
    whole = compute(x, y, return_maps=True, strip_rows=16)
    assert whole.maps is not None
    received = {name: np.full(x.shape + (1,), np.nan, np.float32) for name in whole.maps}

    def sink(start: int, maps: dict[str, np.ndarray]) -> None:
        for name, rows in maps.items():
            received[name][start:start + len(rows)] = rows

    compute(x, y, map_sink=sink, strip_rows=16)
    for name, map_ in whole.maps.items():
        assert map_.dtype == np.float32
        np.testing.assert_array_equal(received[name], map_, err_msg=name)


def test_strips_scored_in_float64_fill_the_heatmap_indexes_the_kernel_would() -> None:
    # A sink that leaves the heatmaps' colour index to the native kernel (as the map writer
    # does): the strips scored in float64 must fill it too, as heatmap.quantise would.
    if not fast.native_available():
        pytest.skip("the native kernel is not built here")
    from ssimcli.io.heatmap import quantise

    x = textured(64, 80, seed=9).astype(np.float32)
    y = np.roll(x, 3, axis=1)
    x[:, 40:] += 2000.0
    y[:, 40:] += 2000.0
    whole = compute(x, y, return_maps=True, strip_rows=16)
    assert whole.maps is not None
    scales = {"ssim": (0.0, 1.0), "l1": (0.0, 0.2)}

    class IndexSink:
        float_maps: tuple[str, ...] = ()
        filled = False

        def __init__(self) -> None:
            self.heatmap_indexes = {name: (np.full(x.shape, 7, np.uint8), *scale)
                                    for name, scale in scales.items()}

        def engine_fills_indexes(self) -> None:
            self.filled = True

        def __call__(self, start: int, maps: dict[str, np.ndarray]) -> None:
            pass

    sink = IndexSink()
    compute(x, y, map_sink=sink, strip_rows=16)
    assert sink.filled
    for name, (index, low, high) in sink.heatmap_indexes.items():
        np.testing.assert_array_equal(index, quantise(whole.maps[name], low, high), name)


def test_normal_inputs_never_take_the_float64_rescue(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inputs within [0, L] (and a little outside) stay on the float32 engine: no second pass.
    calls: list[int] = []
    monkeypatch.setattr(fast._StripJob, "float64_strip",
                        lambda self, ws, index, start, rows: calls.append(index))
    rng = np.random.default_rng(6)
    x8 = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    x8[:, :30] = 255
    y8 = np.zeros_like(x8)
    for setting in ("1", "0"):
        monkeypatch.setenv("SSIM_L1_NATIVE", setting)
        compute(x8, y8, divisor=255.0, ms_ssim=False)
        compute(x8, 255 - x8, divisor=255.0, ms_ssim=False)
        near = rng.random((64, 96)) * 1.3 - 0.15  # [-0.15, 1.15]
        compute(near, near[::-1].copy())
    assert calls == []


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf, before the error
def test_values_beyond_float64_are_refused_with_a_clear_error(engine: str) -> None:
    x = textured(40, 40, seed=7)
    x[:, 20:] += 1e7
    with pytest.raises(fast.ValuesOutOfRange, match="data range of 1.*is the data range right"):
        compute(x, x[::-1].copy(), method=method(engine))
    with pytest.raises(ValueError, match="data range"):  # a ValueError for library users
        compute(x, x[::-1].copy(), params_for(precision="float64"), method=method(engine))
    for where in ((3, 3), (0, 0)):  # off and on the rows and columns the levels sample
        infinite = textured(40, 40, seed=7)
        infinite[where] = np.inf
        with pytest.raises(fast.ValuesOutOfRange):
            compute(infinite, x, method=method(engine))
    every = np.full((40, 40), np.inf)
    with pytest.raises(fast.ValuesOutOfRange):
        compute(every, every, method=method(engine))


def test_the_data_range_sets_what_counts_as_far() -> None:
    # The same raw 16-bit values are normal at data range 65535 and far outside at 1.
    rng = np.random.default_rng(8)
    x = rng.integers(0, 65536, (48, 48)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 500, x.shape), 0, 65535).round()
    for data_range in (65535.0, 1.0):
        got = compute(x.astype(np.float32), y.astype(np.float32), data_range=data_range)
        assert got.ssim == pytest.approx(skimage_ssim(x, y, data_range), abs=2e-5)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("levels", [(0.0, 1.0), (1.0, 0.0)])
def test_ms_ssim_of_black_against_white_is_exact(engine: str, precision: str,
                                                 levels: tuple[float, float]) -> None:
    shape = (176, 176, 3)
    x, y = np.full(shape, levels[0]), np.full(shape, levels[1])
    expected = tf_ms_ssim(x, y)  # cs = 1 at every scale; the coarsest luminance C1 / (1 + C1)
    got = compute(x.astype(precision), y.astype(precision), params_for(precision=precision),
                  ms_ssim=True, method=method(engine))
    assert got.ms_ssim == pytest.approx(expected, abs=1e-9)
    assert ms_ssim(x.astype(precision), y.astype(precision), params_for(precision=precision),
                   method=method(engine)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("levels", [(0.02, 0.3), (0.25, 0.98), (0.5, 1.0), (0.2, 0.7)])
def test_ms_ssim_of_flat_images_is_exact_to_float32_luminance(engine: str,
                                                              levels: tuple[float, float]) -> None:
    # Every variance and covariance is exactly 0; what remains is the float32 rounding of the
    # luminance term at the coarsest scale (a few 1e-9; before: up to 3e-5).
    shape = (176, 180, 2)
    x32 = np.full(shape, levels[0], np.float32)
    y32 = np.full(shape, levels[1], np.float32)
    expected = tf_ms_ssim(x32.astype(np.float64), y32.astype(np.float64))
    got = compute(x32, y32, ms_ssim=True, method=method(engine))
    assert got.ms_ssim == pytest.approx(expected, abs=3e-8)
    assert got.cs == 1.0
