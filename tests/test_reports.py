"""Reports of ``ssim-l1 check``: HTML (parsed, and rendered in headless Chromium when present),
JUnit XML, GitHub Actions annotations and step summary. File names come from pull requests, so
the tree holds names built to break naive HTML, XML and Markdown writers."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

# This name runs a script if it ever lands in the page as markup; the browser test looks for
# the attribute it would set.
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


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def html_report(tree, tmp_path_factory):
    from conftest import _cli_command  # the installed CLI, as in run_cli

    target = tree / "out" / "deep" / "report.html"
    proc = subprocess.run([*_cli_command(), "check", "base", "cand", "--min-local-ssim", "0.9",
                           "--html", str(target)], cwd=tree, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr
    return target


def test_html_is_self_contained_and_escapes_every_name(html_report):
    text = html_report.read_text(encoding="utf-8")
    page = _parse(text)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "code",
               "section", "button", "table", "thead", "tbody", "tr", "th", "td", "a", "article",
               "div", "figure", "img", "figcaption", "span", "script", "ul", "li"}
    assert {tag for tag, _ in page.tags} <= allowed  # no <b> from the NEW name
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
        for key in ("src", "href"):
            assert not (attrs.get(key) or "").startswith(("http:", "https:", "//"))
    body = "".join(page.text)
    for name in (XSS, QUOTES, LOCAL, NEW, MISSING):
        assert name in body  # shown as text, exactly
    # Three pictures per compared image: baseline, candidate, heatmap.
    assert sum(tag == "img" for tag, _ in page.tags) == 9


def test_html_lists_failures_first_and_outlines_the_local_region(html_report):
    page = _parse(html_report.read_text(encoding="utf-8"))
    cards = [attrs for tag, attrs in page.tags if tag == "article"]
    statuses = [attrs["class"].split()[1] for attrs in cards]
    assert statuses == sorted(statuses, key=lambda s: s != "fail")
    assert statuses[-1] == "pass"
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and "data-rank" in attrs]
    scores = [float(r["data-score"]) for r in rows if r["data-rank"] == "1"]
    assert scores == sorted(scores)  # failures by score, worst first
    regions = [attrs for tag, attrs in page.tags
               if tag == "div" and attrs.get("class") == "region"]
    assert len(regions) >= 3  # outlined on baseline, candidate and heatmap


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_html_renders_in_headless_chromium_without_running_names(html_report, tmp_path):
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]
    url = html_report.resolve().as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    page = _parse(dom)
    body = [attrs for tag, attrs in page.tags if tag == "body"][0]
    assert body.get("data-sorted") == "failures"  # the page's script ran
    assert "data-pwned" not in body  # and nothing from a file name did
    assert sum(tag == "img" for tag, _ in page.tags) == 9
    # The sorting script really reorders: ask for name order through the URL.
    by_name = _parse(subprocess.run([*base, "--dump-dom", url + "#sort=name"],
                                    capture_output=True, text=True, timeout=120).stdout)
    names = [attrs["data-name"] for tag, attrs in by_name.tags if tag == "article"]
    assert names == sorted(names) and len(names) == 3
    rows = [attrs["data-name"] for tag, attrs in by_name.tags
            if tag == "tr" and "data-name" in attrs]
    assert rows == sorted(rows, key=lambda n: [ord(c) for c in n]) and len(rows) == 5
    shot = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1400,1000", url],
                   capture_output=True, timeout=120)
    picture = iio.imread(shot)
    assert picture.shape[:2] == (1000, 1400)
    assert picture[..., :3].std() > 10  # not a blank page


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
