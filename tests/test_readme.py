"""The README's and the docs' promises, checked: the set-up command runs, the test command is the
one CI runs, every command and option that `--help` lists is documented, and the user-facing text
stays a guide to the software (short README, no development history)."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import ROOT, _cli_command

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
CLI_REFERENCE = DOCS / "cli-reference.md"

# A long option as --help prints it; Click may break a name at a hyphen across two lines.
_LONG_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9])")
_BLOCK = re.compile(r"^::: mkdocs-click\n((?:[ \t]+:\w+:.*\n?)+)", re.MULTILINE)


def cli_help(*args: str) -> str:
    """``ssim-l1 ARGS --help``, run as a user runs it."""
    proc = subprocess.run([*_cli_command(), *args, "--help"], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"ssim-l1 {' '.join(args)} --help: exit {proc.returncode}\n{proc.stderr}"
    return proc.stdout


def cli_commands() -> list[str]:
    """The subcommands `ssim-l1 --help` lists, in its order."""
    try:
        text = cli_help()
    except AssertionError:  # reported by test_the_cli_lists_its_commands
        return []
    section = text.split("Commands:\n", 1)[1] if "Commands:\n" in text else ""
    names: list[str] = []
    for line in section.splitlines():
        if not line.strip():
            break
        match = re.match(r"^  (\S+)", line)  # a wrapped description is indented further
        if match:
            names.append(match.group(1))
    return names


def help_options(help_text: str) -> set[str]:
    """Every long option a --help text names (``--help`` itself left out)."""
    joined = re.sub(r"-\n\s+", "-", help_text)
    return set(_LONG_OPTION.findall(joined)) - {"--help"}


def mentions(text: str, option: str) -> bool:
    """Whether ``text`` names ``option`` as a whole word (``--maps`` is not in ``--maps-format``)."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def reference_blocks() -> dict[str, dict[str, str]]:
    """The ``::: mkdocs-click`` blocks of the CLI reference, keyed by the command they document."""
    blocks: dict[str, dict[str, str]] = {}
    for match in _BLOCK.finditer(CLI_REFERENCE.read_text(encoding="utf-8")):
        fields = dict(re.findall(r":(\w+):[ \t]*(.*)", match.group(1)))
        blocks[(fields.get("prog_name") or fields.get("command") or "?").split()[-1]] = fields
    return blocks


def handwritten_docs() -> str:
    """The README and every Markdown page under docs/, as one text."""
    pages = sorted(DOCS.rglob("*.md"))
    return "\n".join([README, *(page.read_text(encoding="utf-8") for page in pages)])


COMMANDS = cli_commands()


def _cli_command_object(name: str) -> click.Command:
    group: click.Group = importlib.import_module("ssimcli.cli").cli
    command = group.get_command(click.Context(group), name)
    assert command is not None, f"ssim-l1 lists {name!r} but cannot load it"
    return command


def _reference_options(name: str) -> set[str]:
    """The long options the generated reference shows for command ``name``: those of the Click
    object its block names, provided that is the very command the CLI runs."""
    fields = reference_blocks().get(name)
    if not fields:
        return set()
    documented = getattr(importlib.import_module(fields["module"]), fields["command"])
    if documented is not _cli_command_object(name):
        return set()
    return {opt for param in documented.params if isinstance(param, click.Option) and not param.hidden
            for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")}


def test_setup_command_runs_on_the_bundled_samples(run_cli: Any) -> None:
    match = re.search(r"ssim-l1 compare (sample_images/\S+\.png) (sample_images/\S+\.png)", README)
    assert match, "README must give `ssim-l1 compare sample_images/<ref>.png sample_images/<cand>.png`"
    result = run_cli("compare", *match.groups(), cwd=ROOT)
    assert result.returncode == 0, result
    assert "overall" in result.stdout


def test_readme_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in README and "python -m pytest -q" in ci


def test_the_cli_lists_its_commands() -> None:
    assert {"compare", "batch", "check"} <= set(COMMANDS), cli_help()


def test_global_options_are_documented() -> None:
    options = help_options(cli_help())
    assert {"--version", "--debug"} <= options
    text = handwritten_docs()
    assert not sorted(o for o in options if not mentions(text, o))


@pytest.mark.parametrize("command", COMMANDS)
def test_the_cli_reference_documents_the_command_the_cli_runs(command: str) -> None:
    fields = reference_blocks().get(command)
    assert fields, f"docs/cli-reference.md has no `::: mkdocs-click` block for {command}"
    module = importlib.import_module(fields["module"])
    assert getattr(module, fields["command"], None) is _cli_command_object(command), (
        f"{fields['module']}:{fields['command']} is not the command `ssim-l1 {command}` runs")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_documented(command: str) -> None:
    options = help_options(cli_help(command))
    assert options
    text = handwritten_docs()
    generated = _reference_options(command)
    undocumented = sorted(o for o in options if not mentions(text, o) and o not in generated)
    assert not undocumented, f"{command}: {undocumented}"
    assert f"ssim-l1 {command}" in README or f"`{command}`" in README


def test_readme_is_a_short_guide() -> None:
    lines = README.count("\n") + 1
    assert lines <= 250, f"README.md has {lines} lines; move the detail into docs/"


_HISTORY = [
    re.compile(r"\b(issue|round)\s+#?\d+", re.IGNORECASE),
    re.compile(r"\bround two\b", re.IGNORECASE),
    re.compile(r"\b20\d\d-\d\d-\d\d\b"),
    re.compile(r"\bprevious engine\b", re.IGNORECASE),
]


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))],
                         ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_user_facing_text_has_no_development_history(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = [m.group(0) for pattern in _HISTORY for m in pattern.finditer(text)]
    assert not found, f"{page.name}: {found} (history belongs in CHANGELOG.md)"


def test_readme_lists_every_exit_code_of_the_help() -> None:
    epilog = cli_help().split("Exit codes:", 1)[1]
    codes = re.findall(r"(?:^|;)\s*(\d+)\s", epilog)
    assert {"0", "1", "2", "3", "130", "141"} <= set(codes), epilog
    missing = [code for code in codes if not re.search(rf"^\| {code} \|", README, re.MULTILINE)]
    assert not missing, f"README's exit-code table lacks {missing}"


def test_readme_links_and_picture_resolve() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert any(t.endswith(".png") for t in targets), "README shows one picture"
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing
