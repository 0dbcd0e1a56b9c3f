"""PSNR through every writer: strict JSON/JSONL/CSV for identical images ("inf"), batch means
over the finite values with a count, --min-psnr, --resume, and crop/colour as settings.

Expected PSNRs come from a float64 transcription on the decoded integers (`oracles`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import SAMPLES
from oracles import psnr_float64

from ssimcli.pipeline.summary import statistics


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def trees(tmp_path: Path) -> dict[str, Path]:
    """same.png: identical files (PSNR inf); noisy.png: a real photo against its blurred copy."""
    ref, cand = tmp_path / "ref", tmp_path / "cand"
    ref.mkdir()
    cand.mkdir()
    shutil.copy(SAMPLES / "coffee.png", ref / "same.png")
    shutil.copy(SAMPLES / "coffee.png", cand / "same.png")
    shutil.copy(SAMPLES / "coffee.png", ref / "noisy.png")
    shutil.copy(SAMPLES / "coffee_blur.png", cand / "noisy.png")
    expected = psnr_float64(iio.imread(SAMPLES / "coffee.png") / 255.0,
                            iio.imread(SAMPLES / "coffee_blur.png") / 255.0)
    return {"ref": ref, "cand": cand, "root": tmp_path, "psnr": expected}  # type: ignore[dict-item]


def test_json_is_strict_and_the_mean_leaves_infinity_out(trees, run_cli) -> None:
    result = run_cli("batch", trees["ref"], trees["cand"], "--format", "json")
    assert result.returncode == 0, result
    assert "Infinity" not in result.stdout
    payload = _strict(result.stdout)
    pairs = {p["name"]: p for p in payload["pairs"]}
    assert pairs["same.png"]["psnr"] == "inf"
    assert all(c["psnr"] == "inf" for c in pairs["same.png"]["per_channel"])
    assert pairs["noisy.png"]["psnr"] == pytest.approx(trees["psnr"], abs=1e-6)
    summary = payload["summary"]["psnr"]
    assert summary["count"] == 1 and summary["infinite"] == 1
    assert summary["mean"] == pytest.approx(trees["psnr"], abs=1e-6)
    assert "infinite" not in payload["summary"]["ssim"]
    assert [w["value"] for w in summary["worst"]] == [pytest.approx(trees["psnr"]), "inf"]
    table = run_cli("batch", trees["ref"], trees["cand"])
    assert "(+1 identical, infinite, left out)" in table.stdout


def test_jsonl_and_csv_write_inf_and_resume_reads_it(trees, run_cli) -> None:
    for fmt in ("jsonl", "csv"):
        out = trees["root"] / f"rows.{fmt}"
        first = run_cli("batch", trees["ref"], trees["cand"], "--format", fmt, "-o", out)
        assert first.returncode == 0, first
        text = out.read_text()
        if fmt == "jsonl":
            rows = {r["name"]: r for r in map(_strict, text.splitlines())}
            assert rows["same.png"]["psnr"] == "inf"
        else:
            rows = {r["name"]: r for r in csv.DictReader(io.StringIO(text))}
            assert rows["same.png"]["psnr"] == "inf"
            assert float(rows["noisy.png"]["psnr"]) == pytest.approx(trees["psnr"], abs=1e-6)
        again = run_cli("batch", trees["ref"], trees["cand"], "--format", fmt, "-o", out,
                        "--resume")
        assert again.returncode == 0, again
        assert "resuming: 2 of 2" in again.stderr  # the infinite row is kept, not rescored
        assert f"psnr: mean {trees['psnr']:.6f}" in again.stderr
        assert "(+1 identical, infinite, left out)" in again.stderr
        lines = out.read_text().splitlines()
        assert len(lines) == (2 if fmt == "jsonl" else 3)  # two rows (and the CSV header)


def test_min_psnr_limit(trees, run_cli) -> None:
    below = math.floor(trees["psnr"]) + 1  # just above the noisy pair's PSNR
    result = run_cli("batch", trees["ref"], trees["cand"], "--min-psnr", below, "--format",
                     "json")
    assert result.returncode == 1, result
    payload = _strict(result.stdout)
    assert payload["thresholds"] == {"min_psnr": below}
    verdicts = {p["name"]: p["passed"] for p in payload["pairs"]}
    assert verdicts == {"same.png": True, "noisy.png": False}  # infinity passes any limit
    assert "threshold failed: noisy.png: psnr" in result.stderr
    ok = run_cli("compare", trees["ref"] / "noisy.png", trees["cand"] / "noisy.png",
                 "--min-psnr", below - 1)
    assert ok.returncode == 0, ok
    failed = run_cli("compare", trees["ref"] / "noisy.png", trees["cand"] / "noisy.png",
                     "--min-psnr", below)
    assert failed.returncode == 1, failed


def test_crop_and_colour_are_part_of_a_resumed_rows_identity(trees, run_cli) -> None:
    out = trees["root"] / "rows.jsonl"
    assert run_cli("batch", trees["ref"], trees["cand"], "--format", "jsonl", "-o", out,
                   "--crop", 2).returncode == 0
    rows = [_strict(line) for line in out.read_text().splitlines()]
    assert {r["crop"] for r in rows} == {2} and {r["width"] for r in rows} == {400 - 4}
    other = run_cli("batch", trees["ref"], trees["cand"], "--format", "jsonl", "-o", out,
                    "--resume", "--crop", 4)
    assert other.returncode == 2 and "crop" in other.stderr, other
    colour = run_cli("batch", trees["ref"], trees["cand"], "--format", "jsonl", "-o", out,
                     "--resume", "--crop", 2, "--color", "y")
    assert colour.returncode == 2 and "color" in colour.stderr, colour
    # A row written before --crop existed (no crop key) was scored uncropped.
    for row in rows:
        del row["crop"]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refused = run_cli("batch", trees["ref"], trees["cand"], "--format", "jsonl", "-o", out,
                      "--resume", "--crop", 2)
    assert refused.returncode == 2 and "crop '0'" in refused.stderr, refused


def test_check_takes_crop_and_colour_from_the_command_line_and_pyproject(tmp_path, run_cli
                                                                         ) -> None:
    baselines, outputs = tmp_path / "baselines", tmp_path / "outputs"
    baselines.mkdir()
    outputs.mkdir()
    shutil.copy(SAMPLES / "coffee.png", baselines / "a.png")
    shutil.copy(SAMPLES / "coffee_blur.png", outputs / "a.png")
    x = iio.imread(SAMPLES / "coffee.png").astype(np.float64)
    y = iio.imread(SAMPLES / "coffee_blur.png").astype(np.float64)
    from oracles import studio_y_float64

    expected = psnr_float64(studio_y_float64(x[3:-3, 3:-3].astype(np.uint8)),
                            studio_y_float64(y[3:-3, 3:-3].astype(np.uint8)))
    report = tmp_path / "report.json"
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ssim-l1]\ncrop = 3\ncolor = "y"\nmin-ssim = 0.1\nmin-psnr = 10\n'
        'max-changed-pixels = false\n')
    result = run_cli("check", baselines, outputs, "--json", report, cwd=tmp_path)
    assert result.returncode == 0, result
    pair = _strict(report.read_text())["pairs"][0]  # type: ignore[index]
    assert (pair["crop"], pair["color"], pair["width"], pair["height"]) == (3, "y", 394, 294)
    assert pair["psnr"] == pytest.approx(expected, abs=1e-6)  # the PSNR of the cropped Y
    given = run_cli("check", baselines, outputs, "--json", report, "--crop", 3, "--color", "y",
                    "--min-psnr", 60, cwd=tmp_path)
    assert given.returncode == 1, given


def test_statistics_over_finite_values() -> None:
    assert statistics([30.0, math.inf, 40.0]) == {
        "count": 2, "mean": 35.0, "median": 35.0, "std": 5.0, "min": 30.0, "max": 40.0,
        "infinite": 1}
    assert statistics([math.inf, math.inf]) == {
        "count": 0, "mean": math.inf, "median": math.inf, "std": 0.0, "min": math.inf,
        "max": math.inf, "infinite": 2}
    assert "infinite" not in statistics([0.5, 0.7])


pytest_plugins = ["pytester"]


def test_plugin_takes_min_psnr(pytester) -> None:
    """The plugin's limits include --min-psnr's: an image 0.01 off everywhere has PSNR 40 dB."""
    pytester.makepyfile(test_psnr="""
import numpy as np

def test_psnr(ssim_l1_baseline):
    image = np.full((48, 48), 0.5)
    ssim_l1_baseline(image + (0.01 if SHIFTED else 0.0), min_ssim=-1.0, min_psnr=LIMIT)
""".replace("SHIFTED", "False").replace("LIMIT", "99"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update"
                                  ).assert_outcomes(passed=1)
    source = pytester.path / "test_psnr.py"
    shifted = source.read_text().replace("0.01 if False", "0.01 if True")
    source.write_text(shifted)
    failed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*FAIL*psnr*>= 99*"])
    source.write_text(shifted.replace("min_psnr=99", "min_psnr=39"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
