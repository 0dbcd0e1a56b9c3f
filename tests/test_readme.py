"""The README's promises, checked: its set-up command runs, and every command and option that
`--help` lists is documented."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_setup_command_runs_on_the_bundled_samples(run_cli):
    match = re.search(r"ssim-l1 compare (sample_images/\S+\.png) (sample_images/\S+\.png)", README)
    assert match, "README must give `ssim-l1 compare sample_images/<ref>.png sample_images/<cand>.png`"
    result = run_cli("compare", *match.groups(), cwd=ROOT)
    assert result.returncode == 0, result
    assert "overall" in result.stdout


def test_readme_test_command_is_the_one_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in README and "python -m pytest -q" in ci


@pytest.mark.parametrize("command", ["compare", "batch", "check"])
def test_every_option_is_documented(run_cli, command):
    help_text = run_cli(command, "--help").stdout
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", help_text)) - {"--help"}
    assert options, help_text
    undocumented = sorted(o for o in options if o not in README)
    assert not undocumented, f"{command}: {undocumented}"
    assert f"ssim-l1 {command}" in README or f"`{command}`" in README
