"""Reports of ``ssim-l1 check``: JUnit XML, GitHub Actions annotations and step summary, JSON
(the HTML review page: `test_review_page.py`). File names come from pull requests, so the tree
holds names built to break naive XML and Markdown writers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

# This name runs a script wherever a writer pastes it into markup (the step summary is HTML).
XSS = "<img src=x onerror=document.body.setAttribute('data-pwned',1)>.png"
QUOTES = "quote \"q\" & 'a' | pipe.png"
LOCAL = "sub/local.png"
NEW = "new <b>bold</b>.png"
MISSING = "gone.png"


def _u8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _write(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, pixels)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """baseline/candidate folders: one different picture (XSS name), one identical (quotes),
    one small local change, one missing candidate, one new candidate."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import photo_like

    root = tmp_path_factory.mktemp("reports")
    page = _u8(photo_like(200, 300, 3, seed=5))
    other = _u8(photo_like(200, 300, 3, seed=6))
    changed = page.copy()
    changed[80:96, 120:136] = 255 - changed[80:96, 120:136]
    base, cand = root / "base", root / "cand"
    for name, b, c in ((XSS, page, other), (QUOTES, page, page), (LOCAL, page, changed)):
        _write(base / name, b)
        _write(cand / name, c)
    _write(base / MISSING, page)
    _write(cand / NEW, other)
    return root


def _check(run_cli, tree, *args, env=None):
    return run_cli("check", "base", "cand", "--min-local-ssim", "0.9", *args, cwd=tree, env=env)


def test_junit_has_one_testcase_per_image_with_values_and_limits(tree, run_cli):
    result = _check(run_cli, tree, "--junit", "out/new/dir/junit.xml")
    assert result.returncode == 1, result
    root = ET.parse(tree / "out" / "new" / "dir" / "junit.xml").getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {XSS, QUOTES, LOCAL, MISSING, NEW}
    failing = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failing == {XSS, LOCAL, MISSING}
    message = cases[XSS].find("failure").get("message")
    assert "ssim" in message and ">= 0.95" in message
    assert ">= 0.9" in cases[LOCAL].find("failure").text  # the local limit and its value
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == 5 and int(suite.get("failures")) == 3


def test_github_annotations_and_step_summary(tree, run_cli, tmp_path):
    summary = tmp_path / "gh" / "summary.md"
    summary.parent.mkdir()
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = _check(run_cli, tree, env=env)
    assert result.returncode == 1, result
    # Annotations go to stderr (the runner reads both streams), so stdout stays the report.
    assert "::error" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("::error ")]
    files = sorted(line.split("file=", 1)[1].split("::", 1)[0] for line in errors)
    # Workflow-command property values encode '%', ':' and ',' (the XSS name holds a comma).
    expected = [f"base/{MISSING}", f"cand/{XSS}".replace(",", "%2C"), f"cand/{LOCAL}"]
    assert files == sorted(expected)
    assert all("ssim-l1 check" in line for line in errors)
    markdown = summary.read_text()
    assert markdown.startswith("earlier step\n")  # appended, not replaced
    assert "| fail |" in markdown and "| pass |" in markdown and "| missing |" in markdown
    assert "<img" not in markdown and "<b>" not in markdown
    assert "&lt;img src=x" in markdown
    assert "\\| pipe" in markdown  # a '|' in a name does not split the table

    quiet = _check(run_cli, tree, env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": str(summary)})
    assert "::error" not in quiet.stdout and "::error" not in quiet.stderr
    assert summary.read_text() == markdown


def test_json_report_into_a_new_folder(tree, run_cli):
    result = _check(run_cli, tree, "--json", "out/json/nested/result.json")
    assert result.returncode == 1, result
    payload = json.loads((tree / "out" / "json" / "nested" / "result.json").read_text())
    assert {p["name"] for p in payload["pairs"]} == {XSS, QUOTES, LOCAL}
    assert payload["missing"] == [MISSING] and payload["extra"] == [NEW]
    assert payload["summary"]["failed"] == 2 and payload["passed"] is False
