"""The documentation site builds with ``mkdocs build --strict`` (every page in the nav, no broken
link or anchor), and its generated CLI reference shows every option of every command as
``ssim-l1 <command> --help`` prints it. Skipped where the ``docs`` extra is not installed."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_readme import cli_commands, cli_help, help_options, mentions

pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
pytest.importorskip("material", reason="the docs extra: pip install -e '.[docs]'")
pytest.importorskip("mkdocs_click", reason="the docs extra: pip install -e '.[docs]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _article(site: Path, page: str) -> str:
    """The main content of a built page, as HTML."""
    markup = (site / page / "index.html").read_text(encoding="utf-8")
    return markup[markup.find("<article"):markup.find("</article>")]


def _command_section(article: str, command: str) -> str:
    """The part of the reference page under the heading of ``ssim-l1 <command>``."""
    start = article.find(f'id="ssim-l1-{command}"')
    assert start >= 0, f"the CLI reference has no section for ssim-l1 {command}"
    following = re.search(r'<h[1-6][^>]*id="ssim-l1-', article[start + 1:])
    end = start + 1 + following.start() if following else len(article)
    return html.unescape(re.sub(r"<[^>]+>", "", article[start:end]))


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ["index.html", "getting-started/index.html", "cli-reference/index.html",
                 "metrics-and-presets/index.html", "research/index.html", "ci/index.html",
                 "safety/index.html", "performance/index.html", "python-api/index.html",
                 "architecture/index.html", "video/index.html"]:
        assert (site / page).is_file(), page
    assert (site / "img" / "ssim.png").is_file()


@pytest.mark.parametrize("command", cli_commands())
def test_the_built_cli_reference_shows_every_option(site: Path, command: str) -> None:
    article = _article(site, "cli-reference")
    section = _command_section(article, command)
    options = help_options(cli_help(command))
    assert options
    missing = sorted(o for o in options if not mentions(section, o))
    assert not missing, f"ssim-l1 {command}: {missing} not in the built reference"


def test_the_built_cli_reference_shows_the_global_options(site: Path) -> None:
    article = _article(site, "cli-reference")
    text = html.unescape(re.sub(r"<[^>]+>", "", article))
    missing = sorted(o for o in help_options(cli_help()) if not mentions(text, o))
    assert not missing, missing
