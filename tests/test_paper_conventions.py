"""PSNR, studio-range Y, border crop and float64 end to end, against independent oracles.

Expected numbers come from `oracles` (BasicSR's ``calculate_psnr``/``calculate_ssim``
transcribed, a float64 PSNR) and scikit-image, computed on the decoded integers.
"""

from __future__ import annotations

import math

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import SAMPLES, photo_like
from oracles import basicsr_psnr, basicsr_ssim, psnr_float64, studio_y_float64
from skimage.metrics import structural_similarity

import ssimcli
from ssimcli.errors import PairError, UsageError

PHOTO_PAIRS = [("astronaut.png", "astronaut_jpeg.jpg"), ("coffee.png", "coffee_blur.png"),
               ("camera.png", "camera_noise.png")]


def _read(name: str) -> np.ndarray:
    return iio.imread(SAMPLES / name)


@pytest.mark.parametrize("reference,candidate", PHOTO_PAIRS)
@pytest.mark.parametrize("crop", [0, 4])
def test_psnr_equals_a_float64_transcription(reference, candidate, crop):
    x, y = _read(reference), _read(candidate)
    result = ssimcli.compare(SAMPLES / reference, SAMPLES / candidate, crop=crop)
    if crop:
        x, y = x[crop:-crop, crop:-crop], y[crop:-crop, crop:-crop]
    expected = psnr_float64(x / 255.0, y / 255.0)
    assert result.metrics.psnr == pytest.approx(expected, abs=1e-6)
    assert result.to_dict()["psnr"] == pytest.approx(expected, abs=1e-6)
    if x.ndim == 3:
        per_channel = [psnr_float64(x[..., c] / 255.0, y[..., c] / 255.0) for c in range(3)]
        assert result.metrics.per_channel["psnr"] == pytest.approx(per_channel, abs=1e-6)
        # The overall PSNR is not the mean of the per-channel ones.
        assert result.metrics.psnr != pytest.approx(np.mean(per_channel), abs=1e-6)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("method", ["fast", "reference"])
def test_psnr_on_y_equals_a_float64_transcription(precision, method):
    x, y = _read("astronaut.png"), _read("astronaut_jpeg.jpg")
    expected = psnr_float64(studio_y_float64(x), studio_y_float64(y))
    options = ssimcli.CompareOptions.build(color="y", precision=precision)
    from ssimcli.io.decode import load_image
    from ssimcli.metrics import compute
    from ssimcli.pipeline.prepare import prepare_images

    pair = prepare_images(load_image(SAMPLES / "astronaut.png"),
                          load_image(SAMPLES / "astronaut_jpeg.jpg"), color="y",
                          precision=precision)
    result = compute(pair.reference, pair.candidate, options.params, divisor=pair.divisor,
                     method=method)
    assert result.psnr == pytest.approx(expected, abs=1e-6)
    assert ssimcli.compare(SAMPLES / "astronaut.png", SAMPLES / "astronaut_jpeg.jpg",
                           color="y").metrics.psnr == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("reference,candidate", PHOTO_PAIRS)
@pytest.mark.parametrize("crop", [2, 4])
def test_color_y_and_crop_reproduce_basicsr(reference, candidate, crop):
    x, y = _read(reference), _read(candidate)
    result = ssimcli.compare(SAMPLES / reference, SAMPLES / candidate, "standard",
                             color="y", crop=crop)
    assert result.metrics.ssim == pytest.approx(basicsr_ssim(x, y, crop, True), abs=2e-5)
    assert result.metrics.psnr == pytest.approx(basicsr_psnr(x, y, crop, True), abs=1e-4)
    assert result.channel_names == ["Y"]
    assert (result.width, result.height) == (x.shape[1] - 2 * crop, x.shape[0] - 2 * crop)
    assert result.to_dict()["crop"] == crop


def test_basicsr_rgb_without_y_matches_too():
    x, y = _read("coffee.png"), _read("coffee_blur.png")
    result = ssimcli.compare(SAMPLES / "coffee.png", SAMPLES / "coffee_blur.png", crop=3)
    assert result.metrics.ssim == pytest.approx(basicsr_ssim(x, y, 3), abs=2e-5)
    assert result.metrics.psnr == pytest.approx(basicsr_psnr(x, y, 3), abs=1e-4)


def test_identical_images_have_infinite_psnr():
    image = (photo_like(24, 30, 3) * 255).astype(np.uint8)
    result = ssimcli.compare(image, image.copy())
    assert result.metrics.psnr == math.inf
    assert result.metrics.per_channel["psnr"] == [math.inf] * 3
    assert result.scores()["psnr"] == math.inf


def test_crop_gives_maps_of_the_cropped_size():
    x = (photo_like(40, 50, 3, seed=1) * 255).astype(np.uint8)
    y = (photo_like(40, 50, 3, seed=2) * 255).astype(np.uint8)
    result = ssimcli.compare(x, y, crop=6, return_maps=True)
    assert result.maps["ssim"].shape == (28, 38, 3)
    plain = ssimcli.compare(x[6:-6, 6:-6], y[6:-6, 6:-6])
    assert result.scores() == plain.scores()


@pytest.mark.parametrize("crop", [-1, 1.5, True])
def test_bad_crop_values_are_usage_errors(crop):
    with pytest.raises(UsageError, match="crop must be a whole number"):
        ssimcli.CompareOptions.build(crop=crop)


def test_a_crop_that_leaves_nothing_names_both_files():
    x = np.zeros((10, 30, 3), np.uint8)
    with pytest.raises(PairError, match="--crop 5"):
        ssimcli.compare(x, x, crop=5)
    assert ssimcli.compare(x, x, crop=4).height == 2


def test_y_on_grey_scores_the_grey_values_as_they_are():
    grey = _read("camera.png")
    noisy = _read("camera_noise.png")
    as_y = ssimcli.compare(grey, noisy, color="y")
    as_is = ssimcli.compare(grey, noisy)
    assert as_y.scores() == as_is.scores()
    assert as_y.channel_names == ["Y"]


def test_y_of_a_colour_image_against_its_grey_y():
    rgb = _read("astronaut.png")
    y8 = np.round(studio_y_float64(rgb) * 255).astype(np.uint8)
    result = ssimcli.compare(rgb, y8, color="y")
    expected = psnr_float64(studio_y_float64(rgb), y8 / 255.0)
    assert result.metrics.psnr == pytest.approx(expected, abs=1e-6)


def _skimage_float64(x: np.ndarray, y: np.ndarray) -> float:
    extra = {"channel_axis": -1} if x.ndim == 3 else {}
    return structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, **extra)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_float64_end_to_end_agrees_with_float64_on_the_integers(tmp_path, bits, channels):
    dtype, top = (np.uint8, 255) if bits == 8 else (np.uint16, 65535)
    rng = np.random.default_rng(bits + channels)
    x = np.round(photo_like(70, 90, channels, seed=3) * top).astype(dtype)
    noise = rng.normal(0, 0.05 * top, x.shape)
    y = np.clip(np.round(x + noise), 0, top).astype(dtype)
    import imagecodecs

    (tmp_path / "x.png").write_bytes(imagecodecs.png_encode(x))
    (tmp_path / "y.png").write_bytes(imagecodecs.png_encode(y))
    assert imagecodecs.png_decode((tmp_path / "y.png").read_bytes()).dtype == dtype
    xf, yf = x.astype(np.float64) / top, y.astype(np.float64) / top
    expected_ssim = _skimage_float64(xf, yf)
    for method in ("fast", "reference"):
        options = ssimcli.CompareOptions.build(precision="float64")
        from ssimcli.pipeline.score import compare_loaded, load_pair

        ref, cand = load_pair(tmp_path / "x.png", tmp_path / "y.png")
        result = compare_loaded(ref, cand, options) if method == "fast" else None
        if result is None:
            from ssimcli.metrics import compute
            from ssimcli.pipeline.prepare import prepare_images

            pair = prepare_images(ref, cand, precision="float64")
            metrics = compute(pair.reference, pair.candidate, options.params,
                              divisor=pair.divisor, method="reference")
        else:
            metrics = result.metrics
        assert metrics.ssim == pytest.approx(expected_ssim, abs=1e-12)
        assert metrics.psnr == pytest.approx(psnr_float64(xf, yf), abs=1e-9)


def test_masked_psnr_counts_only_the_compared_pixels():
    from ssimcli.metrics.masked import compare_area, masked_psnr

    x = (photo_like(40, 50, 3, seed=4) * 255).astype(np.uint8)
    y = (photo_like(40, 50, 3, seed=5) * 255).astype(np.uint8)
    area = compare_area(40, 50, ignore=[(10, 5, 20, 30)])
    overall, per_channel = masked_psnr(x, y, area, 255.0)
    keep = area > 0
    assert overall == pytest.approx(psnr_float64(x[keep] / 255.0, y[keep] / 255.0), abs=1e-9)
    assert per_channel[1] == pytest.approx(
        psnr_float64(x[..., 1][keep] / 255.0, y[..., 1][keep] / 255.0), abs=1e-9)
    assert masked_psnr(x, y, None, 255.0)[0] == pytest.approx(
        ssimcli.compare(x, y).metrics.psnr, abs=1e-9)


def test_check_with_ignore_rectangles_reports_psnr_of_the_compared_pixels(tmp_path, run_cli):
    import json

    import imagecodecs

    x = (photo_like(48, 64, 3, seed=6) * 255).astype(np.uint8)
    y = x.copy()
    y[20:30, 20:40] = 255 - y[20:30, 20:40]  # changed only inside the ignored rectangle
    y[2:4, 2:4] //= 2
    for folder, image in (("base", x), ("cand", y)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.png").write_bytes(imagecodecs.png_encode(image))
    result = run_cli("check", tmp_path / "base", tmp_path / "cand", "--ignore", "20,20,20,10",
                     "--json", tmp_path / "out.json")
    assert result.returncode in (0, 1), result
    record = json.loads((tmp_path / "out.json").read_text())["pairs"][0]
    keep = np.ones((48, 64), bool)
    keep[20:30, 20:40] = False
    assert record["psnr"] == pytest.approx(psnr_float64(x[keep] / 255.0, y[keep] / 255.0),
                                           abs=1e-6)
