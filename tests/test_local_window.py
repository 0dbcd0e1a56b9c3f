"""The worst local window from the strip pass equals the one found on the whole SSIM map.

The expected value comes from a brute-force transcription: every window's weighted mean, each
window summed on its own (NumPy's ``sliding_window_view``, none of the project's code), and the
first minimum in row-major order.
"""

from __future__ import annotations

import numpy as np
import pytest

from ssimcli.metrics import compute, params_for
from ssimcli.metrics.fast import native_available
from ssimcli.metrics.windows import RegionWindowFinder, map_weights, worst_window

PRESETS = ("standard", "seed", "matlab", "skimage-default")


def _pair(height: int, width: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    y = x.copy()
    # A local change: the worst window must find it.
    top, left = rng.integers(0, height - 12), rng.integers(0, width - 12)
    y[top:top + 12, left:left + 12] = 255 - y[top:top + 12, left:left + 12]
    noise = rng.integers(-6, 7, x.shape)
    return x, np.clip(y.astype(int) + noise, 0, 255).astype(np.uint8)


def _brute_force(map_: np.ndarray, weights: np.ndarray, size: int) -> tuple[float, int, int]:
    plane = map_.mean(axis=2, dtype=np.float64)
    size = max(1, min(size, *plane.shape))

    def window_sums(array: np.ndarray) -> np.ndarray:  # every window summed on its own
        return np.lib.stride_tricks.sliding_window_view(array, (size, size)).sum(axis=(2, 3))

    weight_sums = window_sums(weights)
    value_sums = window_sums(plane * weights)
    eligible = weight_sums >= 0.5 * size * size
    means = np.where(eligible, value_sums / np.where(eligible, weight_sums, 1.0), np.inf)
    y, x = np.unravel_index(int(np.argmin(means)), means.shape)
    return float(means[y, x]), int(x), int(y)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("shape", [(97, 130, 3), (64, 41, 1), (20, 300, 3)])
@pytest.mark.parametrize("strip_rows", [None, 8])
@pytest.mark.parametrize("engine", ["native", "opencv"])
def test_strip_pass_finds_the_same_worst_window(preset, shape, strip_rows, engine, monkeypatch):
    if engine == "opencv":
        monkeypatch.setenv("SSIM_L1_NATIVE", "0")
    elif not native_available():
        pytest.skip("the native kernel is not built here")
    x, y = _pair(*shape, seed=sum(shape))
    params = params_for(preset)
    result = compute(x, y, params, divisor=255.0, return_maps=True, local_window=16,
                     strip_rows=strip_rows, threads=2)
    window = result.window
    border = window.radius if params.mean_over == "valid" else 0
    weights = map_weights(None, shape[0], shape[1], window.size, border)
    value, wx, wy = _brute_force(result.maps["ssim"], weights, 16)
    assert result.local is not None
    assert result.local.value == pytest.approx(value, abs=1e-12)
    assert (result.local.x, result.local.y) == (wx, wy)
    # Without maps, on one thread: the same strips give the same bits.
    plain = compute(x, y, params, divisor=255.0, local_window=16, threads=1,
                    strip_rows=strip_rows)
    assert plain.local == result.local
    reference = compute(x, y, params, divisor=255.0, local_window=16, method="reference")
    assert reference.local.value == pytest.approx(value, abs=2e-6)
    assert (reference.local.x, reference.local.y) == (wx, wy)


@pytest.mark.parametrize("block_rows", [1, 5, 256])
def test_worst_window_by_blocks_equals_brute_force(block_rows):
    rng = np.random.default_rng(3)
    map_ = rng.random((45, 61, 3)).astype(np.float32)
    weights = (rng.random((45, 61)) > 0.4).astype(float)
    for size in (1, 7, 32, 80):
        found = worst_window(map_, weights, size, block_rows=block_rows)
        value, wx, wy = _brute_force(map_, weights, size)
        assert found.value == pytest.approx(value, abs=1e-12)
        assert (found.x, found.y) == (wx, wy)


@pytest.mark.skipif(not native_available(), reason="the native kernel is not built here")
@pytest.mark.parametrize("size", [1, 5, 16, 57, 80])
def test_native_window_search_fed_in_uneven_pieces_equals_brute_force(size):
    rng = np.random.default_rng(size)
    height, width = 45, 57
    map_ = (rng.random((height, width, 3)) * 2 - 0.5).astype(np.float32)  # SSIM can be < 0
    rows, cols = (3, 40), (2, 55)
    weights = np.zeros((height, width))
    weights[rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    finder = RegionWindowFinder(height, width, size, rows, cols, channels=3)
    assert finder.native
    start = 0
    for piece in [1, 7, 13, 2, 30]:
        finder.add_ssim(map_[start:start + piece])
        start = min(start + piece, height)
    found = finder.result()
    value, wx, wy = _brute_force(map_, weights, size)
    assert found is not None
    assert found.value == pytest.approx(value, abs=1e-12)
    assert (found.x, found.y) == (wx, wy)


def test_float64_precision_keeps_float64_window_sums():
    """At --precision float64 the strips are float64: the window search must not round them."""
    from dataclasses import replace

    x, y = _pair(70, 90, 3, seed=5)
    params = replace(params_for("standard"), precision="float64")
    result = compute(x, y, params, divisor=255.0, return_maps=True, local_window=16, threads=2,
                     strip_rows=8)
    assert result.maps["ssim"].dtype == np.float64
    border = result.window.radius
    weights = map_weights(None, 70, 90, result.window.size, border)
    value, wx, wy = _brute_force(result.maps["ssim"], weights, 16)
    assert result.local.value == pytest.approx(value, abs=1e-13)
    assert (result.local.x, result.local.y) == (wx, wy)
