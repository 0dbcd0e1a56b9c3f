"""The metric engine against independent oracles and the properties any SSIM must have.

Tolerances come from the numeric contract (shared/DESIGN.md, issue 2): means within 2e-5 of a
float64 oracle; maps within 5e-4 per pixel in float32 and 1e-6 in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo_like
from oracles import seed_ssim_l1, tf_ms_ssim
from skimage.metrics import structural_similarity

from ssimcli.metrics import compute, effective_window, ms_ssim, params_for
from ssimcli.metrics.params import MetricParams

MAP_TOL = {"float32": 5e-4, "float64": 1e-6}
MEAN_TOL = 2e-5


def distorted_pair(height: int, width: int, channels: int, seed: int = 0):
    ref = photo_like(height, width, channels, seed)
    rng = np.random.default_rng(seed + 100)
    cand = np.clip(ref + rng.normal(0, 0.04, ref.shape), 0, 1)
    return ref, cand


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 80, 1), (37, 53, 3), (120, 90, 3), (23, 31, 1)])
def test_standard_matches_scikit_image(shape, precision):
    ref, cand = distorted_pair(*shape)
    if shape[2] == 1:
        ref, cand = ref[:, :, 0] if ref.ndim == 3 else ref, cand[:, :, 0] if cand.ndim == 3 else cand
    channel_axis = -1 if ref.ndim == 3 else None
    expected, expected_map = structural_similarity(
        ref, cand, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0, channel_axis=channel_axis, full=True,
    )
    result = compute(ref, cand, params_for("standard", precision=precision), return_maps=True)
    assert result.ssim == pytest.approx(expected, abs=MEAN_TOL)
    ssim_map = result.maps["ssim"]
    if ref.ndim == 2:
        ssim_map = ssim_map[:, :, 0]
    assert np.abs(ssim_map - expected_map).max() < MAP_TOL[precision]


def test_skimage_default_preset_matches_structural_similarity_without_options():
    ref, cand = distorted_pair(60, 70, 3, seed=3)
    ref8 = np.round(ref * 255).astype(np.uint8)
    cand8 = np.round(cand * 255).astype(np.uint8)
    expected = structural_similarity(ref8, cand8, channel_axis=-1)
    result = compute(ref8 / 255.0, cand8 / 255.0, params_for("skimage-default", precision="float64"))
    assert result.ssim == pytest.approx(expected, abs=1e-9)
    result32 = compute(ref8 / 255.0, cand8 / 255.0, params_for("skimage-default"))
    assert result32.ssim == pytest.approx(expected, abs=MEAN_TOL)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(48, 64), (31, 45), (9, 7), (5, 13)])
def test_seed_preset_matches_the_seed_formula_on_grey(shape, precision):
    ref, cand = distorted_pair(*shape, 1, seed=5)
    expected = seed_ssim_l1(ref, cand)
    result = compute(ref, cand, params_for("seed", precision=precision), return_maps=True)
    for name, oracle_map in expected.items():
        assert np.abs(result.maps[name][:, :, 0] - oracle_map).max() < MAP_TOL[precision], name
        assert getattr(result, name) == pytest.approx(oracle_map.mean(), abs=MEAN_TOL), name


def test_seed_preset_is_channel_by_channel_on_colour():
    ref, cand = distorted_pair(40, 50, 3, seed=7)
    result = compute(ref, cand, params_for("seed", precision="float64"))
    per_channel = [seed_ssim_l1(ref[:, :, c], cand[:, :, c]) for c in range(3)]
    for name in ("ssim", "cs", "l1", "ssim_l1"):
        expected = [m[name].mean() for m in per_channel]
        assert result.per_channel[name] == pytest.approx(expected, abs=1e-9)
        assert getattr(result, name) == pytest.approx(np.mean(expected), abs=1e-9)


@pytest.mark.parametrize("shape", [(161, 161, 1), (200, 257, 3), (256, 256, 3)])
def test_ms_ssim_matches_tensorflow_semantics(shape):
    ref, cand = distorted_pair(*shape, seed=11)
    if shape[2] == 1:
        ref, cand = ref[:, :, None], cand[:, :, None]
    expected = tf_ms_ssim(ref, cand)
    result = compute(ref, cand, params_for("standard"), ms_ssim=True)
    assert result.ms_ssim == pytest.approx(expected, abs=1e-4)
    assert ms_ssim(ref, cand, params_for("standard", precision="float64")) == pytest.approx(
        expected, abs=1e-9)
    assert result.ms_ssim_l1 == pytest.approx(0.84 * (1 - result.ms_ssim) + 0.16 * result.l1)


def test_ms_ssim_too_small_says_the_smallest_size():
    ref, cand = distorted_pair(160, 300, 1)
    with pytest.raises(ValueError, match="at least 161x161"):
        compute(ref, cand, ms_ssim=True)


def test_mix_formula_on_means_and_maps():
    ref, cand = distorted_pair(50, 60, 3)
    result = compute(ref, cand, params_for("standard", alpha=0.3), return_maps=True)
    assert result.ssim_l1 == pytest.approx(0.3 * (1 - result.ssim) + 0.7 * result.l1, abs=1e-6)
    expected_map = 0.3 * (1 - result.maps["ssim"]) + 0.7 * result.maps["l1"]
    assert np.abs(result.maps["ssim_l1"] - expected_map).max() < 1e-6


def test_gaussian_l1_of_a_constant_difference_is_that_difference():
    ref = photo_like(40, 40, 1) * 0.5
    cand = ref + 0.25
    result = compute(ref, cand, params_for("standard"))
    assert result.l1 == pytest.approx(0.25, abs=1e-6)


@pytest.mark.parametrize("preset", ["standard", "seed", "matlab", "skimage-default"])
def test_identity_gives_ssim_one_and_l1_zero(preset):
    image = photo_like(45, 38, 3, seed=2)
    result = compute(image, image, params_for(preset), ms_ssim=False, return_maps=True)
    # Exact, not approximate: the engine is written so that identity survives rounding.
    assert (result.ssim, result.cs, result.l1, result.ssim_l1) == (1.0, 1.0, 0.0, 0.0)
    assert (result.maps["ssim"] == 1).all() and (result.maps["l1"] == 0).all()


@pytest.mark.parametrize("preset", ["standard", "seed", "matlab", "skimage-default"])
def test_symmetry_and_bounds(preset):
    ref, cand = distorted_pair(41, 47, 3, seed=9)
    forward = compute(ref, cand, params_for(preset), return_maps=True)
    backward = compute(cand, ref, params_for(preset), return_maps=True)
    for name in ("ssim", "cs", "l1", "ssim_l1"):
        assert getattr(forward, name) == getattr(backward, name)  # bit-for-bit symmetric
    assert -1 <= forward.maps["ssim"].min() and forward.maps["ssim"].max() <= 1 + 1e-6
    assert forward.maps["l1"].min() >= 0
    assert 0 < forward.ssim < 1


def test_different_images_score_lower_for_more_noise():
    ref = photo_like(64, 64, 3)
    rng = np.random.default_rng(1)
    scores = [compute(ref, np.clip(ref + rng.normal(0, s, ref.shape), 0, 1)).ssim
              for s in (0.01, 0.05, 0.2)]
    assert scores[0] > scores[1] > scores[2]


def test_window_shrinks_like_the_seed_and_stays_odd():
    params = MetricParams()
    assert effective_window(params, 100, 100).size == 11
    small = effective_window(params, 7, 20)
    assert (small.size, small.sigma, small.shrunk) == (7, pytest.approx(1.5 * 7 / 11), True)
    even = effective_window(params, 8, 20)
    assert even.size == 7 and even.size % 2 == 1
    assert effective_window(params, 1, 5).size == 1


def test_tiny_images_work():
    for shape in [(1, 1), (2, 3), (3, 5)]:
        ref = np.full(shape, 0.25)
        result = compute(ref, ref + 0.5)
        assert np.isfinite(result.ssim) and result.l1 == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("value", [0, 2, 10])
def test_even_or_invalid_window_is_rejected(value):
    with pytest.raises(ValueError, match="odd"):
        MetricParams(window=value)


def test_float32_close_to_float64_on_saturated_and_flat_areas():
    """Where TensorFlow's float32 maps drift by up to 5e-4: flat white/black areas."""
    rng = np.random.default_rng(4)
    ref = np.ones((120, 160, 3))
    ref[:, :60] = 0.0
    ref[40:50] = 0.5
    cand = ref.copy()
    cand[rng.random(ref.shape) < 0.02] -= 1 / 255
    cand = np.clip(cand, 0, 1)
    for preset in ("standard", "seed", "matlab", "skimage-default"):
        r32 = compute(ref, cand, params_for(preset), return_maps=True)
        r64 = compute(ref, cand, params_for(preset, precision="float64"), return_maps=True)
        for name in r32.maps:
            assert np.abs(r32.maps[name] - r64.maps[name]).max() < 5e-4, (preset, name)
            assert getattr(r32, name) == pytest.approx(getattr(r64, name), abs=MEAN_TOL)
