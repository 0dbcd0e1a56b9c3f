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

def test_array(ssim_l1_baseline):
    ssim_l1_baseline(picture(CHANGE))

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
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*.png"))}


def test_missing_baseline_fails_then_update_creates_it_then_passes(pytester):
    result = _run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no baseline image*baselines/test_images/test_array.png*",
                                 "*--ssim-l1-update*"])
    assert _baselines(pytester) == {}

    result = _run(pytester, "--ssim-l1-update")
    result.assert_outcomes(passed=2)
    assert set(_baselines(pytester)) == {"test_images/test_array.png",
                                         "test_images/test_file[u8]-second.png"}

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

def test_loose(ssim_l1_baseline):
    rng = np.random.default_rng(1)
    ssim_l1_baseline(rng.random((64, 64)), min_ssim=-1.0, max_changed_pixels="off")
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


# --------------------------------------------------------------------------- coexistence, unique baselines

PICTURE = """
import numpy as np
from scipy.ndimage import gaussian_filter

def picture(seed=0):
    rng = np.random.default_rng(seed)
    image = gaussian_filter(rng.random((64, 80, 3)), sigma=(3, 3, 0))
    return ((image - image.min()) / (image.max() - image.min()) * 255).round().astype(np.uint8)
"""


def test_pytest_regressions_image_regression_works_beside_the_plugin(pytester):
    """Both plugins loaded in one run: pytest-regressions owns ``image_regression``."""
    pytest.importorskip("pytest_regressions")
    pytester.makepyfile(test_both=PICTURE + """
import io
from PIL import Image

def test_theirs(image_regression):
    buffer = io.BytesIO()
    Image.fromarray(picture()).save(buffer, format="PNG")
    image_regression.check(buffer.getvalue(), diff_threshold=0.1)

def test_ours(ssim_l1_baseline):
    ssim_l1_baseline(picture())

def test_owner(request):
    import pytest_regressions
    defs = request._fixturemanager.getfixturedefs("image_regression", request.node)
    assert defs and all("pytest_regressions" in d.func.__module__ for d in defs)
    assert request._fixturemanager.getfixturedefs("ssim_l1_baseline", request.node)
""")
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update")
    # pytest-regressions fails the run that creates its file; ours creates on --ssim-l1-update.
    first.assert_outcomes(passed=2, failed=1)
    assert "TypeError" not in first.stdout.str()
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_baselines_are_unique_per_module_class_test_and_parameter(pytester):
    body = PICTURE + """
import pytest

def test_same_name(ssim_l1_baseline):
    ssim_l1_baseline(picture(SEED))

class TestGroup:
    def test_same_name(self, ssim_l1_baseline):
        ssim_l1_baseline(picture(SEED + 10))

    class TestInner:
        def test_same_name(self, ssim_l1_baseline):
            ssim_l1_baseline(picture(SEED + 20))

@pytest.mark.parametrize("value", ["a/b", "a_b", "a b"])
def test_params(ssim_l1_baseline, value):
    ssim_l1_baseline(picture(SEED + len(value) + ord(value[1])))
"""
    pytester.makepyfile(test_one=body.replace("SEED", "1"), test_two=body.replace("SEED", "2"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update")
    result.assert_outcomes(passed=12)
    written = sorted(_baselines(pytester))
    assert len(written) == 12  # nothing shared
    assert "test_one/test_same_name.png" in written and "test_two/test_same_name.png" in written
    assert "test_one/TestGroup/test_same_name.png" in written
    assert "test_one/TestGroup/TestInner/test_same_name.png" in written
    assert sum(name.startswith("test_one/test_params[") for name in written) == 3
    # Every baseline written is listed in the terminal summary.
    text = result.stdout.str()
    assert "ssim-l1 baselines" in text
    assert all(f"created: {pytester.path / 'baselines' / name}" in text for name in written)
    # And each test passes against its own baseline (a shared one would fail the others).
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=12)


def test_a_second_unnamed_image_in_one_test_asks_for_a_name(pytester):
    pytester.makepyfile(test_twice=PICTURE + """
def test_twice(ssim_l1_baseline):
    ssim_l1_baseline(picture(1))
    ssim_l1_baseline(picture(2))

def test_named(ssim_l1_baseline):
    ssim_l1_baseline(picture(1), name="light")
    ssim_l1_baseline(picture(2), name="dark")
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ssim_l1_baseline: this test checks a second unnamed image; "
                                 "give each image its own name=*"])
    assert sorted(_baselines(pytester)) == ["test_twice/test_named-dark.png",
                                            "test_twice/test_named-light.png",
                                            "test_twice/test_twice.png"]


def test_update_summary_lists_updated_baselines_and_nothing_when_all_pass(pytester):
    pytester.makepyfile(test_up=PICTURE + """
SEED = 1

def test_up(ssim_l1_baseline):
    ssim_l1_baseline(picture(SEED))
""")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update").assert_outcomes(passed=1)
    same = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update")
    same.stdout.fnmatch_lines(["*no baseline written*"])
    (pytester.path / "test_up.py").write_text((pytester.path / "test_up.py").read_text()
                                              .replace("SEED = 1", "SEED = 5"))
    changed = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssim-l1-update")
    changed.assert_outcomes(passed=1)
    changed.stdout.fnmatch_lines([f"updated: {pytester.path / 'baselines' / 'test_up' / 'test_up.png'}"])


def test_no_fixture_name_of_other_image_plugins_is_registered():
    from ssimcli import pytest_plugin

    fixtures = {name for name in dir(pytest_plugin)
                if hasattr(getattr(pytest_plugin, name), "_fixture_function_marker")
                or type(getattr(pytest_plugin, name)).__name__ == "FixtureFunctionDefinition"}
    assert fixtures == {"ssim_l1_baseline"}
    # Fixture names of pytest-regressions, pytest-image-diff, pytest-mpl, syrupy, pytest-datadir.
    taken = {"image_regression", "image_diff", "image_diff_reference_dir", "image_diff_dir",
             "data_regression", "file_regression", "num_regression", "ndarrays_regression",
             "dataframe_regression", "snapshot", "datadir", "original_datadir"}
    assert not fixtures & taken


def test_plugin_and_check_agree_under_the_same_config(pytester, run_cli):
    """data-range, device, sigma and min-local-ssim from [tool.ssim-l1] reach the plugin too."""
    import json

    import imagecodecs
    import numpy as np

    rng = np.random.default_rng(5)
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(rng.random((96, 128)), 4)
    base = ((smooth - smooth.min()) / np.ptp(smooth) * 4095).round().astype(np.uint16)  # 12-bit data
    cand = base.copy()
    cand[30:50, 40:70] = np.clip(cand[30:50, 40:70].astype(int) + 300, 0, 4095)
    (pytester.path / "base").mkdir()
    (pytester.path / "cand").mkdir()
    (pytester.path / "base" / "parity.png").write_bytes(imagecodecs.png_encode(base))
    (pytester.path / "cand" / "parity.png").write_bytes(imagecodecs.png_encode(cand))
    folder = pytester.path / "baselines" / "test_parity"
    folder.mkdir(parents=True)
    (folder / "test_parity.png").write_bytes(imagecodecs.png_encode(base))
    pytester.makepyfile(test_parity=f"""
def test_parity(ssim_l1_baseline):
    ssim_l1_baseline(r"{pytester.path / 'cand' / 'parity.png'}")
""")

    def both() -> tuple[dict, str]:
        checked = run_cli("check", "base", "cand", "--json", "-", cwd=pytester.path)
        plugin = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        return json.loads(checked.stdout)["pairs"][0], plugin.stdout.str()

    plain, _ = both()
    pytester.path.joinpath("pyproject.toml").write_text(
        "[tool.ssim-l1]\ndata-range = 4095\ndevice = 'cpu'\nsigma = 2.5\nmin-local-ssim = 0.97\n"
        "max-changed-pixels = false\nmin-ssim = false\n")
    pair, text = both()
    local = next(c for c in pair["checks"] if c["metric"] == "local_ssim")
    assert pair["status"] == "fail" and not local["passed"]
    assert pair["sigma"] == 2.5 and pair["ssim"] != plain["ssim"]  # the settings changed the numbers
    assert f"FAIL local_ssim {local['value']:.6f} >= 0.97" in text, text
    assert "1 failed" in text and "changed_pixels" not in text

    # A limit the pair meets passes in both.
    pytester.path.joinpath("pyproject.toml").write_text(
        pytester.path.joinpath("pyproject.toml").read_text().replace("0.97", f"{local['value'] - 1e-6:.9f}"))
    pair, text = both()
    assert pair["status"] == "pass" and "1 passed" in text, text
