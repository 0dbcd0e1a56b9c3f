"""Issue 11: default verdicts on real UI screenshots, a size change as a regression, clean JSON.

The screenshots are rendered with Pillow and a real TrueType font (``tests/ui_screens.py``);
every verdict goes through the installed ``ssim-l1`` CLI in a subprocess, or through a real
pytest run of the plugin (pytester).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui_screens import CASES, Screen, png_bytes, render, write_case  # noqa: E402

pytest_plugins = ["pytester"]

FAILING = sorted(f"{c.name}.png" for c in CASES if c.expect == "fail")
PASSING = sorted(f"{c.name}.png" for c in CASES if c.expect == "pass")


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    """Every case as ``base/<case>.png`` and ``cand/<case>.png``."""
    root = tmp_path_factory.mktemp("ui-cases")
    for case in CASES:
        write_case(case, root / "base", root / "cand")
    return root


def _subset(cases: Path, target: Path, names: list[str]) -> Path:
    for side in ("base", "cand"):
        (target / side).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(cases / side / name, target / side / name)
    return target


def _json(run_cli, *args, env=None):
    result = run_cli("check", *args, "--json", "-", env=env)
    return result, json.loads(result.stdout)


# --------------------------------------------------------------------------- defaults through check


def test_check_defaults_fail_every_visible_change_and_pass_every_invisible_one(cases, run_cli):
    result, payload = _json(run_cli, cases / "base", cases / "cand")
    assert result.returncode == 1, result
    status = {pair["name"]: pair["status"] for pair in payload["pairs"]}
    assert sorted(n for n, s in status.items() if s == "fail") == FAILING, status
    assert sorted(n for n, s in status.items() if s == "pass") == PASSING, status
    for pair in payload["pairs"]:
        pixels = next(c for c in pair["checks"] if c["metric"] == "changed_pixels")
        if pair["name"] in FAILING:
            # The changed pixels are many, and their box lies inside the image.
            assert pixels["value"] >= 50 and not pixels["passed"]
            box = pixels["box"]
            assert box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 720
        else:
            assert pixels["value"] == 0 and pixels["passed"]


def test_only_invisible_changes_exit_0(cases, tmp_path, run_cli):
    tree = _subset(cases, tmp_path, PASSING)
    result = run_cli("check", tree / "base", tree / "cand")
    assert result.returncode == 0, result


def test_the_issue_cases_pass_the_mean_limit_alone(cases, run_cli):
    """What the defaults add: mean SSIM alone (the old default) passes the visible changes."""
    result, payload = _json(run_cli, cases / "base", cases / "cand", "--max-changed-pixels", "off")
    assert result.returncode == 0, result
    assert all(p["ssim"] > 0.95 for p in payload["pairs"])


@pytest.mark.parametrize("case", ["button_moved_relabelled", "badge_added", "border_removed"])
def test_the_box_surrounds_the_change(case, cases):
    """The reported box holds every pixel that differs (computed here with plain NumPy)."""
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.check import check_pair, resolve_rules

    name = f"{case}.png"
    item = check_pair(name, cases / "base" / name, cases / "cand" / name, CompareOptions.build(),
                      resolve_rules(name, {}))
    box = next(c for c in item.checks if c["metric"] == "changed_pixels")["box"]
    a = np.asarray(Image.open(cases / "base" / name).convert("RGB"), dtype=int)
    b = np.asarray(Image.open(cases / "cand" / name).convert("RGB"), dtype=int)
    rows, cols = np.nonzero(np.abs(a - b).max(axis=2) > 30)
    assert box["x"] <= cols.min() and cols.max() < box["x"] + box["width"]
    assert box["y"] <= rows.min() and rows.max() < box["y"] + box["height"]


# --------------------------------------------------------------------------- switching defaults off


def test_every_default_limit_switches_off_on_the_command_line(cases, run_cli):
    result = run_cli("check", cases / "base", cases / "cand", "--max-changed-pixels", "off",
                     "--min-ssim", "off")
    assert result.returncode == 0, result
    result, payload = _json(run_cli, cases / "base", cases / "cand", "--max-changed-pixels", "off",
                            "--min-ssim", "OFF")
    assert all(pair["checks"] == [] for pair in payload["pairs"])
    assert payload["pairs"][0]["rules"]["max_changed_pixels"] is None


def test_every_default_limit_switches_off_in_the_config(cases, tmp_path, run_cli):
    tree = _subset(cases, tmp_path, ["badge_added.png"])
    (tmp_path / "pyproject.toml").write_text(
        "[tool.ssim-l1]\nmax-changed-pixels = false\nmin-ssim = false\n")
    result = run_cli("check", "base", "cand", cwd=tree)
    assert result.returncode == 0, result
    # A per-glob override can switch it back on; the command line wins over both.
    (tmp_path / "pyproject.toml").write_text(
        "[tool.ssim-l1]\nmax-changed-pixels = false\n"
        "[[tool.ssim-l1.overrides]]\nglob = 'badge_*'\nmax-changed-pixels = 100\n")
    assert run_cli("check", "base", "cand", cwd=tree).returncode == 1
    assert run_cli("check", "base", "cand", "--max-changed-pixels", "off", cwd=tree).returncode == 0
    (tmp_path / "pyproject.toml").write_text("[tool.ssim-l1]\nmax-changed-pixels = true\n")
    bad = run_cli("check", "base", "cand", cwd=tree)
    assert bad.returncode == 2 and "false (off)" in bad.stderr, bad


def test_pixel_threshold_sets_what_counts_as_changed(cases, tmp_path, run_cli):
    tree = _subset(cases, tmp_path, ["border_removed.png"])
    # #dadce0 on white is about 31 grey levels: seen at 0.1, not at Playwright's 0.2.
    assert run_cli("check", tree / "base", tree / "cand").returncode == 1
    result = run_cli("check", tree / "base", tree / "cand", "--pixel-threshold", "0.2", "--min-ssim", "off")
    assert result.returncode == 0, result
    assert run_cli("check", tree / "base", tree / "cand", "--pixel-threshold", "2").returncode == 2
    assert run_cli("check", tree / "base", tree / "cand", "--max-changed-pixels", "-1").returncode == 2


# --------------------------------------------------------------------------- the pixel rule's formula


def _pixelmatch_count(a: np.ndarray, b: np.ndarray, threshold: float) -> int:
    """pixelmatch's colorDelta (mapbox/pixelmatch, index.js), transcribed pixel by pixel."""
    def y(r, g, bl):
        return r * 0.29889531 + g * 0.58662247 + bl * 0.11448223

    def i(r, g, bl):
        return r * 0.59597799 - g * 0.27417610 - bl * 0.32180189

    def q(r, g, bl):
        return r * 0.21147017 - g * 0.52261711 + bl * 0.31114694

    max_delta = 35215 * threshold * threshold
    count = 0
    for p1, p2 in zip(a.reshape(-1, 3).tolist(), b.reshape(-1, 3).tolist(), strict=True):
        dy, di, dq = y(*p1) - y(*p2), i(*p1) - i(*p2), q(*p1) - q(*p2)
        if 0.5053 * dy * dy + 0.299 * di * di + 0.1957 * dq * dq > max_delta:
            count += 1
    return count


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.1, 0.2])
def test_changed_pixels_match_a_transcription_of_pixelmatch(threshold):
    from ssimcli.metrics.pixeldiff import changed_pixels

    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    step = rng.choice([0, 1, 5, 20, 40, 90], size=(40, 50, 1))
    b = np.clip(a.astype(int) + step * rng.choice([-1, 1], size=(40, 50, 3)), 0, 255).astype(np.uint8)
    expected = _pixelmatch_count(a, b, threshold)
    assert changed_pixels(a / np.float32(255), b / np.float32(255), threshold).count == expected
    assert changed_pixels(a, b, threshold, divisor=255.0).count == expected  # native uint8
    wide = a.astype(np.uint16) * 257, b.astype(np.uint16) * 257
    assert changed_pixels(*wide, threshold, divisor=65535.0).count == expected  # 16-bit


# --------------------------------------------------------------------------- the plugin, same verdicts

PLUGIN_TEST = """
import shutil
from pathlib import Path

import pytest

CASES = Path(r"{cases}")
NAMES = {names!r}

@pytest.mark.parametrize("case", NAMES)
def test_case(ssim_l1_baseline, case, request):
    ssim_l1_baseline(CASES / "cand" / f"{{case}}.png"{extra})
"""


def _plugin_run(pytester, cases: Path, extra: str = ""):
    names = [c.name for c in CASES]
    pytester.makepyfile(test_ui=PLUGIN_TEST.format(cases=cases, names=names, extra=extra))
    folder = pytester.path / "baselines" / "test_ui"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(cases / "base" / f"{name}.png", folder / f"test_case[{name}].png")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")


def test_plugin_defaults_give_the_same_verdicts(pytester, cases):
    result = _plugin_run(pytester, cases)
    result.assert_outcomes(failed=len(FAILING), passed=len(PASSING))
    text = result.stdout.str()
    for name in FAILING:
        assert f"FAILED test_ui.py::test_case[{name[:-4]}]" in text
    for name in PASSING:
        assert f"PASSED test_ui.py::test_case[{name[:-4]}]" in text
    assert "FAIL changed_pixels" in text


def test_plugin_switches_default_limits_off(pytester, cases):
    result = _plugin_run(pytester, cases, extra=', max_changed_pixels=False, min_ssim="off"')
    result.assert_outcomes(passed=len(CASES))


# --------------------------------------------------------------------------- a size change


def _size_tree(tmp_path: Path) -> Path:
    base = render(Screen())
    taller = np.concatenate([base, np.full((8, base.shape[1], 3), 255, np.uint8)])
    for side, pixels in (("base", base), ("cand", taller)):
        (tmp_path / side).mkdir(parents=True, exist_ok=True)
        (tmp_path / side / "grown.png").write_bytes(png_bytes(pixels))
        (tmp_path / side / "same.png").write_bytes(png_bytes(base))
    return tmp_path


def test_a_size_change_is_a_regression_in_every_format(tmp_path, run_cli):
    tree = _size_tree(tmp_path / "t")
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_cli("check", tree / "base", tree / "cand", "--json", "-", "--junit",
                     tmp_path / "junit.xml", env=env)
    assert result.returncode == 1, result
    payload = json.loads(result.stdout)  # exactly one JSON document, also under GitHub Actions
    pair = next(p for p in payload["pairs"] if p["name"] == "grown.png")
    assert pair["status"] == "fail" and pair["passed"] is False
    assert pair["size_change"] == {"baseline": [1280, 720], "candidate": [1280, 728]}
    assert payload["summary"]["errors"] == 0 and payload["summary"]["failed"] == 1
    words = "size changed: baseline 1280x720, candidate 1280x728"
    annotations = [line for line in result.stderr.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 1 and words in annotations[0]
    assert words in summary.read_text()
    import xml.etree.ElementTree as ET

    failure = ET.parse(tmp_path / "junit.xml").find(".//testcase[@name='grown.png']/failure")
    assert failure is not None and failure.get("type") == "size-change" and words in failure.get("message")

    table = run_cli("check", tree / "base", tree / "cand", env={"COLUMNS": "200"})
    assert table.returncode == 1 and "1280x720" in table.stdout and "1280x728" in table.stdout, table


def test_update_baseline_accepts_a_size_change(tmp_path, run_cli):
    tree = _size_tree(tmp_path)
    result = run_cli("check", tree / "base", tree / "cand", "--update-baseline")
    assert result.returncode == 0, result
    assert "grown.png" in result.stderr
    assert (tree / "base" / "grown.png").read_bytes() == (tree / "cand" / "grown.png").read_bytes()
    assert run_cli("check", tree / "base", tree / "cand").returncode == 0


def test_json_on_stdout_stays_one_document_under_github_actions(cases, tmp_path, run_cli):
    tree = _subset(cases, tmp_path, ["badge_added.png", "png_level.png"])
    result = run_cli("check", tree / "base", tree / "cand", "--json", "-",
                     env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": ""})
    assert result.returncode == 1, result
    json.loads(result.stdout)  # raises on anything after the document
    assert result.stdout.lstrip().startswith("{") and result.stdout.rstrip().endswith("}")
    assert "::error file=" in result.stderr and "badge_added.png" in result.stderr


# --------------------------------------------------------------------------- the README's CI recipe


def _ci_recipe() -> str:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "ci.md").read_text(encoding="utf-8")
    return guide.split("```yaml", 1)[1].split("```", 1)[0]


def test_ci_guide_recipe_installs_from_source_and_its_check_command_runs(cases, tmp_path, run_cli):
    recipe = _ci_recipe()
    installs = [line.split("run:", 1)[1].split("#", 1)[0].strip()
                for line in recipe.splitlines() if "pip install" in line]
    # From this checkout: no package name that is not published.
    assert installs == ["pip install ."], installs
    command = recipe.split("run: >", 1)[1].split("- uses:", 1)[0].split()
    assert command[:2] == ["ssim-l1", "check"]
    baseline, candidate = tmp_path / command[2], tmp_path / command[3]
    _subset(cases, tmp_path / "src", ["png_level.png", "badge_added.png"])
    shutil.copytree(tmp_path / "src" / "base", baseline)
    shutil.copytree(tmp_path / "src" / "cand", candidate)
    result = run_cli(*command[1:], cwd=tmp_path)
    assert result.returncode == 1, result  # the badge is caught with the recipe's settings
    assert (tmp_path / "report" / "screens.html").is_file() and (tmp_path / "report" / "junit.xml").is_file()
