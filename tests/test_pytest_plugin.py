"""The pytest plugin, run as a user runs it: a separate pytest process that finds the plugin
through the installed ``pytest11`` entry point (``runpytest_subprocess``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

def picture(change=False):
    rng = np.random.default_rng(0)
    image = gaussian_filter(rng.random((96, 128, 3)), sigma=(3, 3, 0))
    image = (image - image.min()) / (image.max() - image.min())
    if change:
        image[20:60, 30:90] = 1 - image[20:60, 30:90]
    return image

CHANGE = False

def test_array(image_regression):
    image_regression(picture(CHANGE))

@pytest.mark.parametrize("kind", ["u8"])
def test_file(ssim_l1_baseline, tmp_path, kind):
    import imageio.v3 as iio
    path = tmp_path / "out.png"
    iio.imwrite(path, (picture(CHANGE) * 255).round().astype(np.uint8))
    ssim_l1_baseline(path, name="second")
"""


def _run(pytester: pytest.Pytester, *args: str, changed: bool = False) -> pytest.RunResult:
    pytester.makepyfile(test_images=TEST_FILE.replace("CHANGE = False", f"CHANGE = {changed}"))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _baselines(pytester: pytest.Pytester) -> dict[str, tuple[bytes, int]]:
    folder = pytester.path / "baselines"
    if not folder.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_missing_baseline_fails_then_update_creates_it_then_passes(pytester):
    result = _run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no baseline image*baselines*test_array.png*",
                                 "*--ssim-l1-update*"])
    assert _baselines(pytester) == {}

    result = _run(pytester, "--ssim-l1-update")
    result.assert_outcomes(passed=2)
    assert set(_baselines(pytester)) == {"test_array.png", "test_file_u8-second.png"}

    before = _baselines(pytester)
    _run(pytester).assert_outcomes(passed=2)
    _run(pytester, "--ssim-l1-update").assert_outcomes(passed=2)
    assert _baselines(pytester) == before  # a passing baseline is never rewritten


def test_a_change_fails_with_scores_limits_and_heatmap_then_update_accepts(pytester):
    _run(pytester, "--ssim-l1-update").assert_outcomes(passed=2)
    before = _baselines(pytester)

    result = _run(pytester, changed=True)
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "image differs from its baseline" in text
    assert "FAIL ssim" in text and ">= 0.95" in text and "margin -" in text
    heatmaps = [line.split("heatmap:", 1)[1].strip() for line in text.splitlines()
                if "heatmap:" in line]
    assert heatmaps
    from pathlib import Path

    assert all(Path(h).is_file() for h in heatmaps)
    assert _baselines(pytester) == before

    _run(pytester, "--ssim-l1-update", changed=True).assert_outcomes(passed=2)
    after = _baselines(pytester)
    assert all(after[name][0] != before[name][0] for name in before)
    _run(pytester, changed=True).assert_outcomes(passed=2)


def test_thresholds_come_from_the_call(pytester):
    pytester.makepyfile(test_loose="""
import numpy as np

def test_loose(image_regression):
    rng = np.random.default_rng(1)
    image_regression(rng.random((64, 64)), min_ssim=-1.0)
""")
    pytester.runpytest_subprocess("--ssim-l1-update").assert_outcomes(passed=1)
    (pytester.path / "test_loose.py").write_text(
        (pytester.path / "test_loose.py").read_text().replace("default_rng(1)", "default_rng(2)"))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_option_is_listed_and_plugin_import_is_cheap():
    code = ("import sys, ssimcli.pytest_plugin; "
            "print(sorted(m for m in ('numpy', 'scipy', 'imageio', 'PIL', 'rich') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--ssim-l1-update" in help_text
