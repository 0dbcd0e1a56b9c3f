"""``ssim-l1 check``: exit codes, the local rule, masks, missing files, update, configuration.

Expected outcomes are properties, never numbers copied from our own output: identical images
pass, a different picture fails the default SSIM limit, a small local change passes the mean but
fails the local rule, and ignoring exactly the changed block makes it pass again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from ssimcli.config import glob_match, load_config
from ssimcli.metrics.masked import compare_area, weighted_means
from ssimcli.metrics.windows import box_sums, map_weights
from ssimcli.pipeline.check import DEFAULT_LOCAL_WINDOW, DEFAULT_MIN_SSIM, resolve_rules

# The small change used throughout: a block inverted on a big page. It is big enough for a
# 32-pixel window to see, and small enough (0.2 % of the pixels) for the mean SSIM to stay high.
BIG = (240, 360)
BLOCK = (100, 150, 16, 16)  # x, y, w, h


def to_u8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, pixels)
    return path


def with_block_changed(pixels: np.ndarray, block=BLOCK) -> np.ndarray:
    x, y, w, h = block
    out = pixels.copy()
    out[y:y + h, x:x + w] = 255 - out[y:y + h, x:x + w]
    return out


@pytest.fixture
def page(photo):
    return to_u8(photo(*BIG, 3, seed=3))


@pytest.fixture
def small_change(tmp_path, page):
    """A baseline and a candidate that differ only in `BLOCK`."""
    base, cand = tmp_path / "base", tmp_path / "cand"
    write(base / "page.png", page)
    write(cand / "page.png", with_block_changed(page))
    return base, cand


def run_json(run_cli, *args, **kwargs):
    result = run_cli("check", *args, "--json", "-", **kwargs)
    try:
        payload = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"stdout is not JSON\n{result}")
    return result, payload


# --------------------------------------------------------------------------- exit codes


def test_identical_images_pass_and_table_shows_value_limit_margin(tmp_path, run_cli, page):
    write(tmp_path / "base" / "nested" / "a.png", page)
    write(tmp_path / "cand" / "nested" / "a.png", page)
    result = run_cli("check", tmp_path / "base", tmp_path / "cand")
    assert result.returncode == 0, result
    assert "nested/a.png" in result.stdout
    assert "PASS" in result.stdout
    assert f">= {DEFAULT_MIN_SSIM:g}" in result.stdout  # the limit in force
    assert "margin" in result.stdout


def test_json_has_pairs_missing_extra_summary_and_checks(tmp_path, run_cli, page):
    write(tmp_path / "base" / "a.png", page)
    write(tmp_path / "cand" / "a.png", page)
    result, payload = run_json(run_cli, tmp_path / "base", tmp_path / "cand")
    assert result.returncode == 0, result
    assert set(payload) >= {"pairs", "missing", "extra", "summary"}
    (pair,) = payload["pairs"]
    assert pair["name"] == "a.png" and pair["passed"] is True
    assert pair["ssim"] == 1.0  # identity is exact
    check, pixels = pair["checks"]  # the two default limits
    assert pixels["metric"] == "changed_pixels" and pixels["value"] == 0 and pixels["limit"] == 0
    assert check["metric"] == "ssim" and check["limit"] == DEFAULT_MIN_SSIM
    assert check["margin"] == pytest.approx(check["value"] - check["limit"])
    assert payload["summary"]["exit_code"] == 0


def test_a_different_picture_fails_with_exit_1(tmp_path, run_cli, photo, page):
    write(tmp_path / "base" / "a.png", page)
    write(tmp_path / "cand" / "a.png", to_u8(photo(*BIG, 3, seed=4)))
    result, payload = run_json(run_cli, tmp_path / "base", tmp_path / "cand")
    assert result.returncode == 1, result
    (pair,) = payload["pairs"]
    assert pair["passed"] is False and pair["status"] == "fail"
    assert pair["checks"][0]["margin"] < 0


def test_every_threshold_option_is_checked(tmp_path, run_cli, page):
    write(tmp_path / "base" / "a.png", page)
    write(tmp_path / "cand" / "a.png", page)
    # Identity: every limit that identity can meet passes...
    result, payload = run_json(
        run_cli, tmp_path / "base", tmp_path / "cand", "--min-ssim", "1", "--min-cs", "1",
        "--max-l1", "0", "--max-ssim-l1", "0", "--min-ms-ssim", "1")
    assert result.returncode == 0, result
    metrics = {c["metric"] for c in payload["pairs"][0]["checks"]}
    assert metrics == {"changed_pixels", "ssim", "cs", "l1", "ssim_l1", "ms_ssim"}
    # ...and one no image can meet fails.
    result = run_cli("check", tmp_path / "base", tmp_path / "cand", "--max-l1", "-1")
    assert result.returncode == 1, result


@pytest.mark.parametrize("args", [
    ["--ignore", "1,2,3"], ["--ignore", "a,b,c,d"], ["--ignore", "0,0,0,5"],
    ["--local-window", "0", "--min-local-ssim", "0.5"], ["--min-ssim", "nan"],
])
def test_bad_usage_is_exit_2(tmp_path, run_cli, page, args):
    write(tmp_path / "base" / "a.png", page)
    write(tmp_path / "cand" / "a.png", page)
    result = run_cli("check", tmp_path / "base", tmp_path / "cand", *args)
    assert result.returncode == 2, result
    assert result.stderr.strip() and not result.stdout.strip()


def test_missing_directory_or_mask_is_exit_2(tmp_path, run_cli, page):
    write(tmp_path / "base" / "a.png", page)
    assert run_cli("check", tmp_path / "base", tmp_path / "nope").returncode == 2
    write(tmp_path / "cand" / "a.png", page)
    result = run_cli("check", tmp_path / "base", tmp_path / "cand", "--mask", tmp_path / "no.png")
    assert result.returncode == 2, result


def test_unreadable_candidate_is_reported_and_the_run_continues(tmp_path, run_cli, page):
    write(tmp_path / "base" / "a_good.png", page)
    write(tmp_path / "cand" / "a_good.png", page)
    write(tmp_path / "base" / "b_broken.png", page)
    (tmp_path / "cand" / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write(tmp_path / "base" / "c_bad.png", page)
    write(tmp_path / "cand" / "c_bad.png", with_block_changed(page, (0, 0, 360, 240)))
    result, payload = run_json(run_cli, tmp_path / "base", tmp_path / "cand")
    assert result.returncode == 2, result  # bad input wins over the regression
    assert "error:" in result.stderr and "b_broken.png" in result.stderr
    statuses = {p["name"]: p["status"] for p in payload["pairs"]}
    assert statuses == {"a_good.png": "pass", "b_broken.png": "error", "c_bad.png": "fail"}


def test_missing_candidate_is_a_regression_new_candidate_only_with_fail_on_new(
        tmp_path, run_cli, page):
    write(tmp_path / "base" / "a.png", page)
    write(tmp_path / "cand" / "a.png", page)
    write(tmp_path / "cand" / "new.png", page)
    result, payload = run_json(run_cli, tmp_path / "base", tmp_path / "cand")
    assert result.returncode == 0, result
    assert payload["extra"] == ["new.png"]
    result = run_cli("check", tmp_path / "base", tmp_path / "cand", "--fail-on-new")
    assert result.returncode == 1, result
    assert "new.png" in result.stdout

    write(tmp_path / "base" / "gone.png", page)
    result, payload = run_json(run_cli, tmp_path / "base", tmp_path / "cand")
    assert result.returncode == 1, result
    assert payload["missing"] == ["gone.png"]
    assert "gone.png" in result.stderr


# --------------------------------------------------------------------------- local rule, masks


def test_local_rule_catches_a_small_change_the_mean_misses(small_change, run_cli):
    base, cand = small_change
    result, payload = run_json(run_cli, base, cand, "--max-changed-pixels", "off")
    assert result.returncode == 0, result  # the mean hides it
    assert payload["pairs"][0]["ssim"] > DEFAULT_MIN_SSIM

    result, payload = run_json(run_cli, base, cand, "--min-local-ssim", "0.9")
    assert result.returncode == 1, result
    (pair,) = payload["pairs"]
    local = [c for c in pair["checks"] if c["metric"] == "local_ssim"][0]
    assert not local["passed"] and local["value"] < 0.9
    region = local["region"]
    assert region["width"] == region["height"] == DEFAULT_LOCAL_WINDOW
    # The worst window overlaps the changed block.
    x, y, w, h = BLOCK
    assert region["x"] < x + w and x < region["x"] + region["width"]
    assert region["y"] < y + h and y < region["y"] + region["height"]
    assert pair["local"]["x"] == region["x"] and pair["local"]["y"] == region["y"]


def test_local_window_option_sets_the_window(small_change, run_cli):
    base, cand = small_change
    _, payload = run_json(run_cli, base, cand, "--min-local-ssim", "0.9", "--local-window", "64")
    region = payload["pairs"][0]["checks"][-1]["region"]
    assert region["width"] == 64
    _, small = run_json(run_cli, base, cand, "--min-local-ssim", "0.9", "--local-window", "16")
    # A smaller window sees the block more concentrated: a lower worst value.
    assert small["pairs"][0]["local"]["value"] < payload["pairs"][0]["local"]["value"]


def test_ignore_region_over_the_change_passes_without_touching_files(small_change, run_cli):
    base, cand = small_change
    before = {p: p.read_bytes() for p in (base / "page.png", cand / "page.png")}
    x, y, w, h = BLOCK
    result, payload = run_json(run_cli, base, cand, "--min-local-ssim", "0.99",
                               "--ignore", f"{x},{y},{w},{h}", "--ignore", "0,0,5,5")
    assert result.returncode == 0, result
    (pair,) = payload["pairs"]
    # Changed pixels are excluded by weight, so the pair now scores as identical.
    assert pair["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert 0.9 < pair["compared_fraction"] < 1.0
    assert {p: p.read_bytes() for p in before} == before  # nothing painted on disk
    # Ignoring somewhere else does not help.
    result = run_cli("check", base, cand, "--min-local-ssim", "0.99", "--ignore", "0,0,40,40")
    assert result.returncode == 1, result


def test_mask_black_over_the_change_passes(small_change, run_cli, tmp_path):
    base, cand = small_change
    mask = np.full(BIG, 255, np.uint8)
    x, y, w, h = BLOCK
    mask[y:y + h, x:x + w] = 0
    write(tmp_path / "mask.png", mask)
    result = run_cli("check", base, cand, "--min-local-ssim", "0.99", "--mask",
                     tmp_path / "mask.png")
    assert result.returncode == 0, result
    # A mask of the wrong size is bad input.
    write(tmp_path / "small_mask.png", mask[:100, :100])
    result = run_cli("check", base, cand, "--mask", tmp_path / "small_mask.png")
    assert result.returncode == 2, result


def test_masked_ms_ssim_is_checked(small_change, run_cli):
    base, cand = small_change
    x, y, w, h = BLOCK
    _, plain = run_json(run_cli, base, cand, "--min-ms-ssim", "0")
    _, masked = run_json(run_cli, base, cand, "--min-ms-ssim", "0", "--ignore",
                         f"{x - 8},{y - 8},{w + 16},{h + 16}")
    assert masked["pairs"][0]["ms_ssim"] > plain["pairs"][0]["ms_ssim"]


# --------------------------------------------------------------------------- update


def _state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_update_baseline_touches_only_failing_and_new(tmp_path, run_cli, photo, page):
    base, cand = tmp_path / "base", tmp_path / "cand"
    other = to_u8(photo(*BIG, 3, seed=9))
    write(base / "same.png", page)
    write(cand / "same.png", page)
    write(base / "sub" / "changed.png", page)
    write(cand / "sub" / "changed.png", other)
    write(cand / "sub" / "new.png", other)
    # Same pixels, different bytes (a compression level change): passes, so not rewritten.
    iio.imwrite(base / "noisy.png", page, compress_level=1)
    iio.imwrite(cand / "noisy.png", page, compress_level=9)
    os.utime(base / "same.png", ns=(1_000_000_000, 1_000_000_000))
    base_before, cand_before = _state(base), _state(cand)

    result = run_cli("check", base, cand, "--update-baseline")
    assert result.returncode == 0, result  # everything accepted
    base_after = _state(base)
    assert _state(cand) == cand_before  # candidates untouched
    assert base_after["same.png"] == base_before["same.png"]  # bytes and mtime
    assert base_after["noisy.png"] == base_before["noisy.png"]
    assert base_after["sub/changed.png"][0] == cand_before["sub/changed.png"][0]
    assert base_after["sub/new.png"][0] == cand_before["sub/new.png"][0]
    assert set(base_after) == {"same.png", "noisy.png", "sub/changed.png", "sub/new.png"}
    assert not list(base.rglob(".*"))  # no temporary file left behind

    # Now the check passes and a second update changes nothing at all.
    again_before = _state(base)
    assert run_cli("check", base, cand, "--fail-on-new").returncode == 0
    assert run_cli("check", base, cand, "--update-baseline").returncode == 0
    assert _state(base) == again_before


def test_update_baseline_cannot_fix_a_missing_candidate(tmp_path, run_cli, page):
    base, cand = tmp_path / "base", tmp_path / "cand"
    write(base / "a.png", page)
    write(cand / "a.png", page)
    write(base / "gone.png", page)
    result = run_cli("check", base, cand, "--update-baseline")
    assert result.returncode == 1, result
    assert (base / "gone.png").exists()  # never deleted


# --------------------------------------------------------------------------- configuration


def _project(tmp_path: Path, page: np.ndarray, toml: str) -> Path:
    """A project with icons/ and pages/ each holding the same slightly changed image."""
    changed = with_block_changed(page, (100, 100, 6, 6))
    for folder in ("icons", "pages"):
        write(tmp_path / "base" / folder / "x.png", page)
        write(tmp_path / "cand" / folder / "x.png", changed)
    (tmp_path / "pyproject.toml").write_text(toml)
    return tmp_path


def test_pyproject_config_and_per_glob_override(tmp_path, run_cli, page):
    root = _project(tmp_path, page, """
[project]
name = "demo"

[tool.ssim-l1]
min-ssim = 0.5

[[tool.ssim-l1.overrides]]
glob = "icons/**"
min-ssim = 0.99999
""")
    (root / "deeper").mkdir()
    result, payload = run_json(run_cli, "../base", "../cand", cwd=root / "deeper")
    assert result.returncode == 1, result
    status = {p["name"]: p["status"] for p in payload["pairs"]}
    assert status == {"icons/x.png": "fail", "pages/x.png": "pass"}
    limits = {p["name"]: p["checks"][0]["limit"] for p in payload["pairs"]}
    assert limits == {"icons/x.png": 0.99999, "pages/x.png": 0.5}
    # The command line beats the file and its overrides.
    result = run_cli("check", "base", "cand", "--min-ssim", "0.5", cwd=root)
    assert result.returncode == 0, result


def test_config_enables_local_rule_and_explicit_config_file(tmp_path, run_cli, small_change):
    base, cand = small_change
    settings = tmp_path / "ci" / "ssim.toml"
    settings.parent.mkdir()
    settings.write_text("min-local-ssim = 0.9\nlocal-window = 24\n")
    result, payload = run_json(run_cli, base, cand, "--config", settings)
    assert result.returncode == 1, result
    assert payload["pairs"][0]["local"]["width"] == 24
    result = run_cli("check", base, cand, "--config", settings, "--min-local-ssim", "0.1",
                     "--max-changed-pixels", "off")
    assert result.returncode == 0, result


@pytest.mark.parametrize("toml", [
    "[tool.ssim-l1]\nmin-ssimm = 0.5\n",
    "[tool.ssim-l1]\nmin-ssim = 'high'\n",
    "[tool.ssim-l1\n",
    "[tool.ssim-l1]\n[[tool.ssim-l1.overrides]]\nmin-ssim = 0.5\n",
])
def test_bad_config_is_exit_2(tmp_path, run_cli, page, toml):
    _project(tmp_path, page, toml)
    result = run_cli("check", "base", "cand", cwd=tmp_path)
    assert result.returncode == 2, result
    assert "pyproject.toml" in result.stderr


# --------------------------------------------------------------------------- pure parts


def test_rules_precedence_command_line_then_override_then_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.ssim-l1]\nmin-ssim = 0.9\nmax-l1 = 0.1\n"
        "[[tool.ssim-l1.overrides]]\nglob = 'icons/**'\nmin-ssim = 0.99\n")
    config = load_config(start=tmp_path)
    assert resolve_rules("a.png", {}, config).min_ssim == 0.9
    assert resolve_rules("icons/a/b.png", {}, config).min_ssim == 0.99
    assert resolve_rules("icons/a/b.png", {"min_ssim": 0.5}, config).min_ssim == 0.5
    assert resolve_rules("icons/b.png", {}, config).max_l1 == 0.1
    assert resolve_rules("a.png", {}, None).min_ssim == DEFAULT_MIN_SSIM
    assert resolve_rules("a.png", {}, None).min_local_ssim is None  # off by default


@pytest.mark.parametrize("pattern,name,expected", [
    ("icons/**", "icons/a.png", True), ("icons/**", "icons/x/y.png", True),
    ("icons/**", "other/icons/a.png", False), ("**/*.png", "a.png", True),
    ("**/*.png", "x/y/a.png", True), ("*.png", "x/y/a.png", True),
    ("icons/*.png", "icons/x/a.png", False), ("a?.png", "ab.png", True),
    ("[ab].png", "c.png", False),
])
def test_glob_match(pattern, name, expected):
    assert glob_match(pattern, name) is expected


def test_unmasked_weighted_mean_equals_the_core_score(photo):
    from ssimcli.api import compare_arrays

    x, y = photo(64, 80, 3, seed=1), photo(64, 80, 3, seed=2)
    result = compare_arrays(x, y, return_maps=True)
    window = result.metrics.window
    weights = map_weights(None, 64, 80, window.size, window.radius)
    for key in ("ssim", "cs", "l1", "ssim_l1"):
        means = weighted_means(result.maps[key], weights)
        assert np.mean(means) == pytest.approx(result.scores()[key], rel=1e-6)


def test_ignored_block_is_excluded_with_its_window_margin():
    area = compare_area(40, 40, ignore=[(10, 10, 5, 5)])
    weights = map_weights(area, 40, 40, window=11, border=0)
    assert weights[12, 12] == 0 and weights[12, 6] == 0  # inside, and within one radius
    assert weights[12, 4] == 1 and weights[30, 30] == 1


def test_box_sums_match_brute_force():
    rng = np.random.default_rng(0)
    values = rng.random((9, 13))
    sums = box_sums(values, 4)
    assert sums.shape == (6, 10)
    for y in range(6):
        for x in range(10):
            assert sums[y, x] == pytest.approx(values[y:y + 4, x:x + 4].sum())


def test_help_lists_every_check_option_and_the_exit_codes(run_cli):
    result = run_cli("check", "--help")
    assert result.returncode == 0, result
    text = " ".join(result.stdout.split())
    for option in ("--min-ssim", "--min-cs", "--max-l1", "--max-ssim-l1", "--min-ms-ssim",
                   "--min-local-ssim", "--local-window", "--ignore", "--mask", "--fail-on-new",
                   "--html", "--junit", "--json", "--update-baseline", "--config"):
        assert option in text
    assert "Exit codes: 0" in text


def test_masked_ms_ssim_with_everything_compared_is_the_core_ms_ssim(photo):
    from ssimcli.metrics import ms_ssim
    from ssimcli.metrics.masked import masked_ms_ssim

    x, y = photo(176, 176, 1, seed=1), photo(176, 176, 1, seed=2)
    values = masked_ms_ssim(x, y, np.ones((176, 176)))
    assert values[0] == pytest.approx(ms_ssim(x, y), rel=1e-5)
    assert masked_ms_ssim(x, x, np.ones((176, 176)))[0] == pytest.approx(1.0, abs=1e-6)


def test_json_summary_has_batch_statistics(run_cli, tmp_path):
    """`--json` is "as in batch": summary.<metric>.mean/median/std/min/max and worst pairs."""
    import json
    import shutil

    from conftest import SAMPLES

    base, cand = tmp_path / "base", tmp_path / "cand"
    base.mkdir()
    cand.mkdir()
    shutil.copy(SAMPLES / "coffee.png", base / "coffee.png")
    shutil.copy(SAMPLES / "coffee_blur.png", cand / "coffee.png")
    shutil.copy(SAMPLES / "camera.png", base / "camera.png")
    shutil.copy(SAMPLES / "camera.png", cand / "camera.png")
    result = run_cli("check", base, cand, "--json", tmp_path / "out.json")
    assert result.returncode == 1, result
    summary = json.loads((tmp_path / "out.json").read_text())["summary"]
    ssim = summary["ssim"]
    assert ssim["max"] == 1.0 and ssim["min"] < 0.95
    assert ssim["mean"] == (ssim["min"] + ssim["max"]) / 2 == ssim["median"]
    assert ssim["worst"][0]["name"] == "coffee.png"
    assert summary["failed"] == 1 and summary["exit_code"] == 1
