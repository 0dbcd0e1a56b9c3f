"""`ssim-l1 compare` driven as a user drives it: real files, separate streams, exit codes."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import SAMPLES, photo_like
from skimage.metrics import structural_similarity


def save_png(path, values):
    iio.imwrite(path, np.round(np.asarray(values) * 255).astype(np.uint8))
    return path


@pytest.fixture
def pair(tmp_path):
    ref = photo_like(176, 184, 3, seed=1)
    cand = np.clip(ref + np.random.default_rng(2).normal(0, 0.05, ref.shape), 0, 1)
    return save_png(tmp_path / "ref.png", ref), save_png(tmp_path / "cand.png", cand)


def test_help_lists_exit_codes_and_contract_options(run_cli):
    result = run_cli("compare", "--help")
    assert result.returncode == 0
    for option in ("--preset", "--window", "--sigma", "--k1", "--k2", "--alpha", "--data-range",
                   "--color", "--transparency", "--ms-ssim", "--format", "--output", "--maps",
                   "--precision", "--device", "--min-ssim", "--min-cs", "--max-l1",
                   "--max-ssim-l1", "--min-ms-ssim"):
        assert option in result.stdout, option
    assert "Exit codes" in result.stdout
    top = run_cli("--help")
    assert "Exit codes" in top.stdout and "compare" in top.stdout
    assert run_cli("--version").stdout.startswith("ssim-l1 ")


def test_table_on_the_bundled_samples(run_cli):
    result = run_cli("compare", SAMPLES / "astronaut.png", SAMPLES / "astronaut_jpeg.jpg")
    assert result.returncode == 0, result
    for word in ("SSIM", "CS", "L1", "overall", "preset standard", "window 11"):
        assert word in result.stdout
    assert result.stderr == ""


def test_json_contract_and_values_match_scikit_image(run_cli, pair):
    ref, cand = pair
    result = run_cli("compare", ref, cand, "--format", "json", "--ms-ssim")
    assert result.returncode == 0, result
    out = json.loads(result.stdout)
    for key in ("ssim", "cs", "l1", "ssim_l1", "ms_ssim", "ms_ssim_l1", "per_channel",
                "reference", "candidate", "width", "height", "preset", "window", "sigma",
                "k1", "k2", "alpha", "data_range", "color", "padding", "version"):
        assert key in out, key
    a = iio.imread(ref) / 255.0
    b = iio.imread(cand) / 255.0
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=1.0, channel_axis=-1)
    assert out["ssim"] == pytest.approx(expected, abs=2e-5)
    assert [c["channel"] for c in out["per_channel"]] == ["R", "G", "B"]
    assert (out["width"], out["height"]) == (184, 176)
    assert out["data_range"] == 255


def test_csv_has_header_and_one_row(run_cli, pair):
    result = run_cli("compare", *pair, "--format", "csv")
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("reference,candidate,ssim,cs,l1,ssim_l1")
    assert len(lines) == 2


def test_thresholds_set_the_exit_code(run_cli, pair):
    assert run_cli("compare", *pair, "--min-ssim", "0.0001").returncode == 0
    failed = run_cli("compare", *pair, "--min-ssim", "0.9999", "--format", "json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["passed"] is False
    assert "ssim" in failed.stderr
    assert run_cli("compare", *pair, "--max-l1", "0.000001").returncode == 1
    assert run_cli("compare", *pair, "--min-ms-ssim", "0.99999").returncode == 1


def test_identity_through_the_cli_and_8_vs_16_bit(run_cli, tmp_path):
    import imagecodecs

    picture = np.round(photo_like(40, 50, 3) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "p8.png", picture)
    (tmp_path / "p16.png").write_bytes(imagecodecs.png_encode(picture.astype(np.uint16) * 257))
    out = json.loads(run_cli("compare", tmp_path / "p8.png", tmp_path / "p16.png",
                             "--format", "json").stdout)
    assert out["ssim"] == 1.0 and out["l1"] == 0.0


def test_maps_are_written_as_npy_and_heatmaps(run_cli, pair, tmp_path):
    result = run_cli("compare", *pair, "--maps", tmp_path / "maps" / "nested")
    assert result.returncode == 0, result
    for name in ("ssim", "cs", "l1", "ssim_l1"):
        raw = np.load(tmp_path / "maps" / "nested" / f"{name}.npy")
        assert raw.shape == (176, 184, 3) and raw.dtype == np.float32
        heat = iio.imread(tmp_path / "maps" / "nested" / f"{name}.png")
        assert heat.ndim == 3 and heat.shape[0] >= 176 and heat.shape[1] > 184
    grey_ref = save_png(tmp_path / "g1.png", photo_like(30, 30, 1))
    grey_cand = save_png(tmp_path / "g2.png", photo_like(30, 30, 1, seed=3))
    run_cli("compare", grey_ref, grey_cand, "--maps", tmp_path / "gm")
    assert np.load(tmp_path / "gm" / "ssim.npy").shape == (30, 30)


def test_presets_and_overrides_are_recorded(run_cli, pair):
    out = json.loads(run_cli("compare", *pair, "--preset", "seed", "--window", "7",
                             "--sigma", "1.0", "--alpha", "0.5", "--format", "json").stdout)
    assert (out["preset"], out["window"], out["sigma"], out["alpha"]) == ("seed", 7, 1.0, 0.5)
    assert out["padding"] == "zero" and out["clip"] is True


def test_window_shrink_is_recorded(run_cli, tmp_path):
    a = save_png(tmp_path / "a.png", photo_like(9, 30, 1))
    b = save_png(tmp_path / "b.png", photo_like(9, 30, 1, seed=4))
    out = json.loads(run_cli("compare", a, b, "--format", "json").stdout)
    assert out["window"] == 9 and out["window_shrunk"] is True
    assert out["sigma"] == pytest.approx(1.5 * 9 / 11)


def _bad_inputs(tmp_path, pair):
    ref, cand = pair
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(cand.read_bytes()[: len(cand.read_bytes()) // 2])
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    small = save_png(tmp_path / "small.png", photo_like(32, 32, 3))
    grey = save_png(tmp_path / "grey.png", photo_like(176, 184, 1))
    nan = tmp_path / "nan.npy"
    array = photo_like(176, 184, 3)
    array[0, 0, 0] = np.nan
    np.save(nan, array)
    high = tmp_path / "high.npy"
    np.save(high, photo_like(176, 184, 3) * 2)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return {
        "missing": (ref, tmp_path / "nope.png", "nope.png"),
        "directory": (ref, tmp_path, str(tmp_path.name)),
        "truncated": (ref, truncated, "truncated.png"),
        "not an image": (ref, text, "notes.png"),
        "empty": (ref, empty, "empty.png"),
        "size mismatch": (ref, small, "small.png"),
        "channel mismatch": (ref, grey, "grey.png"),
        "nan": (ref, nan, "nan.npy"),
        "out of range": (ref, high, "high.npy"),
        "ms-ssim too small": (small, small, "small.png"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "truncated", "not an image", "empty",
                                  "size mismatch", "channel mismatch", "nan", "out of range",
                                  "ms-ssim too small"])
def test_every_bad_input_is_one_line_and_exit_2(run_cli, tmp_path, pair, case):
    ref, cand, name = _bad_inputs(tmp_path, pair)[case]
    extra = ["--ms-ssim"] if case == "ms-ssim too small" else []
    result = run_cli("compare", ref, cand, *extra)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result
    assert name in lines[0] and lines[0].startswith("error:")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_option_values_exit_2(run_cli, pair):
    for args in (["--window", "8"], ["--alpha", "1.5"], ["--sigma", "-1"], ["--preset", "nope"],
                 ["--data-range", "0"], ["--background", "purple"]):
        result = run_cli("compare", *pair, *args)
        assert result.returncode == 2, (args, result)
        assert "Traceback" not in result.stderr


def test_never_writes_over_an_input(run_cli, pair):
    ref, cand = pair
    before = cand.read_bytes()
    result = run_cli("compare", ref, cand, "--format", "json", "--output", cand)
    assert result.returncode == 2 and "input" in result.stderr
    assert cand.read_bytes() == before
    # An input that happens to be named like a map in the --maps folder is refused, not replaced.
    named_like_a_map = cand.parent / "ssim.png"
    named_like_a_map.write_bytes(before)
    refused = run_cli("compare", ref, named_like_a_map, "--maps", cand.parent)
    assert refused.returncode == 2 and "ssim.png" in refused.stderr, refused
    assert named_like_a_map.read_bytes() == before
    assert not (cand.parent / "cs.npy").exists()  # checked before anything is written


def test_output_file_gets_the_payload(run_cli, pair, tmp_path):
    target = tmp_path / "deep" / "out.json"
    result = run_cli("compare", *pair, "--format", "json", "--output", target)
    assert result.returncode == 0 and result.stdout == ""
    assert "ssim" in json.loads(target.read_text())


def test_rgba_screenshot_pair_and_transparency_modes(run_cli):
    ref, cand = SAMPLES / "screenshot_ref.png", SAMPLES / "screenshot_cand.png"
    composite = json.loads(run_cli("compare", ref, cand, "--format", "json").stdout)
    channel = json.loads(run_cli("compare", ref, cand, "--format", "json",
                                 "--transparency", "channel").stdout)
    assert len(composite["per_channel"]) == 3
    assert [c["channel"] for c in channel["per_channel"]] == ["R", "G", "B", "A"]
    luma = json.loads(run_cli("compare", ref, cand, "--format", "json", "--color", "luma").stdout)
    assert [c["channel"] for c in luma["per_channel"]] == ["Y"]


def test_python_module_entry_point(pair):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ssimcli", "compare", *map(str, pair),
                           "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == 0 and "ssim" in json.loads(proc.stdout)


def test_public_api_compare(pair):
    import ssimcli

    result = ssimcli.compare(*pair, ms_ssim=True)
    assert 0 < result.metrics.ssim < 1 and result.metrics.ms_ssim is not None
    arrays = ssimcli.compare(photo_like(20, 20, 3), photo_like(20, 20, 3))
    assert arrays.metrics.ssim == pytest.approx(1.0, abs=1e-6)
