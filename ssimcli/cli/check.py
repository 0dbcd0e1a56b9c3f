"""``ssim-l1 check BASELINE_DIR CANDIDATE_DIR``: the CI regression check."""

from __future__ import annotations

import sys
from typing import Any

import click

from ssimcli.cli.common import (
    METRIC_KWARGS,
    THRESHOLD_KWARGS,
    Command,
    PathText,
    click_option,
    error,
    handle_errors,
    metric_options,
    threshold_options,
)
from ssimcli.console import say
from ssimcli.vocabulary import CHECK_RULES

#: The rule settings given as plain options (``--ignore`` and ``--mask`` need their own).
_RULE_OPTIONS = tuple(s for s in CHECK_RULES if s.name not in ("ignore", "mask"))
RULE_KWARGS = tuple(s.name for s in _RULE_OPTIONS)

CHECK_EXIT_CODES = (
    "Exit codes: 0 every image within its limits; 1 a regression (an image failed a limit or "
    "changed size, a baseline has no candidate, or with --fail-on-new a candidate has no "
    "baseline); 2 bad usage "
    "or bad input (an unreadable or mismatched file; the run still checks every other image). "
    "After --update-baseline the accepted images count as passing, so the exit code is 0 unless "
    "a baseline has no candidate (1), or a file could not be read or a candidate was refused "
    "(undecodable, not a regular file, over the pixel limit) (2)."
)


def _given(ctx: click.Context, name: str) -> bool:
    """Whether an option came from the command line (not from its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def rule_options(func: Any) -> Any:
    """``--max-changed-pixels``, ``--pixel-threshold``, ``--min-local-ssim``, ``--local-window``
    from the vocabulary, left ``None`` when not given (the config and defaults fill them)."""
    for setting in reversed(_RULE_OPTIONS):
        func = click_option(setting, default_from_setting=False)(func)
    return func


@click.command(cls=Command, epilog=CHECK_EXIT_CODES)
@click.argument("baseline_dir", type=PathText())
@click.argument("candidate_dir", type=PathText())
@metric_options
@threshold_options
@rule_options
@click.option("--ignore", "ignore", multiple=True, metavar="X,Y,W,H",
              help="Leave a rectangle out of every score (repeatable).")
@click.option("--mask", type=PathText("file"), default=None,
              help="Image whose white pixels are compared and black ones ignored (grey: partly).")
@click.option("--fail-on-new", is_flag=True, default=False,
              help="A candidate with no baseline is a regression (default: only reported).")
@click.option("--html", "html_path", type=PathText("file"),
              default=None,
              help="Write a review page to FILE, its pictures to FILE's folder (FILE_files/); "
                   "to '-' (stdout), a FIFO or a device with its pictures inlined.")
@click.option("--junit", "junit_path", type=PathText("file"),
              default=None, help="Write JUnit XML (one testcase per image) to FILE ('-': stdout).")
@click.option("--json", "json_path", type=PathText("file"),
              default=None, help="Write the results as JSON to FILE ('-': stdout).")
@click.option("--update-baseline", is_flag=True, default=False,
              help="Copy failing and new candidates over the baseline (accept the changes).")
@click.option("--config", "config_path", type=PathText("file"), default=None,
              help="TOML settings file [the nearest pyproject.toml with [tool.ssim-l1]].")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Images checked at once [usable CPU cores, at most 8].")
@handle_errors
def check(baseline_dir: str, candidate_dir: str, ignore: tuple[str, ...], mask: str | None,
          fail_on_new: bool, html_path: str | None, junit_path: str | None,
          json_path: str | None, update_baseline: bool, config_path: str | None,
          jobs: int | None, **kwargs: Any) -> None:
    """Check every image of CANDIDATE_DIR against the one at the same relative path in
    BASELINE_DIR, and fail when one regressed.

    Default limits: no pixel changed clearly (--max-changed-pixels 0 at --pixel-threshold 0.1)
    and SSIM >= 0.95; a size change fails; the other metrics and the local rule only when set.
    Any limit can be switched off with 'off' (--min-ssim off). Settings also come from
    [tool.ssim-l1] in pyproject.toml (per-glob overrides there); command-line options win.
    """
    from ssimcli.config import load_config, resolve_metric_settings
    from ssimcli.errors import UsageError
    from ssimcli.io.formats import to_json
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.check import CheckReport, resolve_rules
    from ssimcli.pipeline.pairing import pair_directories

    ctx = click.get_current_context()
    config = load_config(config_path)
    metric = {k: kwargs.pop(k) for k in METRIC_KWARGS}
    options = CompareOptions.build(**resolve_metric_settings(
        {k: v for k, v in metric.items() if _given(ctx, k)}, config))
    given = _given_rules(kwargs, ignore, mask)
    if not _given(ctx, "fail_on_new") and "fail_on_new" in config.settings:
        fail_on_new = bool(config.settings["fail_on_new"])
    run_rules = resolve_rules("", given, config)  # bad settings stop the run before any work

    pairing = pair_directories(baseline_dir, candidate_dir)
    _remove_stale_temps(baseline_dir)
    _guard_outputs(baseline_dir, candidate_dir, mask, html_path, junit_path, json_path)
    if config.path is not None:
        say(f"settings from {config.path}")

    report = CheckReport(str(baseline_dir), str(candidate_dir), missing=list(pairing.missing),
                         extra=list(pairing.extra), fail_on_new=fail_on_new)
    rules_by_name = {pair.name: resolve_rules(pair.name, given, config) for pair in pairing.pairs}
    assets = None
    if html_path:
        from ssimcli.reports.review_page import ReviewAssets

        assets = ReviewAssets(html_path)
    try:
        previews = _check_all(report, pairing.pairs, options, rules_by_name, jobs, assets)
        if update_baseline:
            _update(report, options.max_pixels)
        _write_outputs(report, junit_path, json_path, html_path, to_json)
        if assets is not None:
            from ssimcli.pipeline.check import usable_cores
            from ssimcli.reports.review_page import RunSettings, write_review_page

            write_review_page(assets, report, previews,
                              RunSettings.from_run(options, run_rules, config.path),
                              jobs=jobs or usable_cores())
    except BaseException:
        if assets is not None:  # a failed run leaves none of its review page's pictures
            assets.discard()
        raise
    _tell(report)
    if not pairing.pairs and not pairing.missing and not pairing.extra:
        raise UsageError(f"no image files under {baseline_dir} or {candidate_dir}")
    sys.exit(int(report.exit_code))


def _check_all(report: Any, pairs: list[Any], options: Any, rules_by_name: dict[str, Any],
               jobs: int | None, assets: Any) -> dict[str, Any]:
    """Check every pair into ``report``, saying each error; returns the review page's pictures
    (written as the run goes, not held until the end)."""
    from ssimcli.pipeline.check import run_checks

    previews: dict[str, Any] = {}

    def keep_preview(item: Any) -> None:
        if assets is not None:
            previews[item.name] = assets.for_item(item)

    for item in run_checks(pairs, options, rules_by_name, jobs=jobs,
                           keep_maps=assets is not None, on_item=keep_preview):
        if item.status == "error":
            error(item.error or item.name)
        report.items.append(item)
    return previews


def _remove_stale_temps(baseline_dir: str) -> None:
    """Temporary files left in the baseline by a killed ``--update-baseline`` go first."""
    from ssimcli.pipeline.check import remove_stale_temps_under

    for path in remove_stale_temps_under(baseline_dir):
        say(f"removed a temporary file left by an interrupted run: {path}")


def _step_summary_path() -> str | None:
    """``$GITHUB_STEP_SUMMARY`` when the GitHub reports are on: it is written, so guarded."""
    import os

    from ssimcli.reports.check import github_enabled

    return (os.environ.get("GITHUB_STEP_SUMMARY") or None) if github_enabled() else None


def _guard_outputs(baseline_dir: str, candidate_dir: str, mask: str | None,
                   html_path: str | None, junit_path: str | None, json_path: str | None) -> None:
    """Reports never land on an input (nor their pictures inside a tree); each is locked."""
    from ssimcli.errors import UsageError
    from ssimcli.io.guard import refuse_folder_inside_trees, refuse_outputs_over_inputs
    from ssimcli.io.output import lock_output

    on_stdout = [option for option, path in (("--html", html_path), ("--junit", junit_path),
                                             ("--json", json_path)) if path == "-"]
    if len(on_stdout) > 1:
        raise UsageError(f"{' and '.join(on_stdout)} cannot both write to stdout ('-')")
    reports = [path for path in (html_path, junit_path, json_path) if path and path != "-"]
    refuse_outputs_over_inputs([*reports, _step_summary_path()],
                               (baseline_dir, candidate_dir, *([mask] if mask else [])))
    if html_path:
        from ssimcli.reports.review_page import asset_folder, uses_folder

        if uses_folder(html_path):  # else the pictures are inlined: no folder at all
            refuse_folder_inside_trees(asset_folder(html_path), "--html",
                                       (baseline_dir, candidate_dir))
    for path in reports:
        lock_output(path)


def _given_rules(kwargs: dict[str, Any], ignore: tuple[str, ...], mask: str | None) -> dict[str, Any]:
    """The rule settings given on the command line (absent keys: not given)."""
    from pathlib import Path

    from ssimcli.config import parse_rect
    from ssimcli.errors import InputError

    given: dict[str, Any] = {k: kwargs[k] for k in (*THRESHOLD_KWARGS, *RULE_KWARGS)
                             if kwargs.get(k) is not None}
    if ignore:
        given["ignore"] = tuple(parse_rect(value) for value in ignore)
    if mask is not None:
        from ssimcli.io.probe import probe_image

        try:
            probe_image(mask)  # a special file, or one that is no image: said once, up front
        except InputError as exc:
            raise InputError(mask, f"--mask: {exc.problem}") from None
        given["mask"] = str(Path(mask).resolve())
    return given


def _update(report: Any, max_pixels: int) -> None:
    for name, reason in _accept_changes(report, max_pixels):
        error(f"{name}: not accepted into the baseline: {reason}")
    if not report.updated:
        say("baseline already up to date: nothing to accept")


def _tell(report: Any) -> None:
    for name in report.missing:
        say(f"missing: {name}: the baseline has no candidate")
    summary = report.summary()
    say(f"{summary['compared']} compared: {summary['passed']} passed, {summary['failed']} "
        f"failed, {summary['errors']} errors; {summary['missing']} missing, {summary['extra']} new"
        + (f"; {len(report.updated)} accepted" if report.updated else "")
        + (f"; {len(report.refused)} refused" if report.refused else ""))


class _Stopped(BaseException):
    """SIGTERM during a baseline update, raised where the update is so that it can report.

    A BaseException, like KeyboardInterrupt: the decode check of a candidate catches every
    Exception (a bad file is "not accepted"), and must not swallow the signal with it."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped


def _accept_changes(report: Any, max_pixels: int) -> list[tuple[str, str]]:
    """Run ``--update-baseline``, saying each image as it is accepted; a file that cannot be
    written is an `OutputError` (exit 2); SIGINT or SIGTERM stops it with the list of the images
    accepted so far (exit 130 or 143)."""
    import signal

    from ssimcli.errors import OutputError
    from ssimcli.pipeline.check import update_baseline

    def announce(name: str) -> None:
        say(f"accepted into the baseline: {name}")

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return update_baseline(report, max_pixels, announce)
    except OSError as exc:
        raise OutputError(getattr(exc, "filename", "") or "baseline",
                          f"cannot update ({exc.strerror or exc})") from None
    except (KeyboardInterrupt, _Stopped) as exc:
        accepted = ", ".join(report.updated) or "none"
        error(f"interrupted: the baseline update stopped; accepted before it stopped "
              f"({len(report.updated)}): {accepted}")
        sys.exit(143 if isinstance(exc, _Stopped) else 130)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_outputs(report: Any, junit_path: str | None, json_path: str | None,
                   html_path: str | None, to_json: Any) -> None:
    from ssimcli.console import data, warning
    from ssimcli.errors import OutputError
    from ssimcli.io.output import is_stdout, write_text
    from ssimcli.reports.check import (
        append_step_summary,
        github_annotations,
        github_enabled,
        junit_xml,
        step_summary_markdown,
        terminal_table,
    )
    from ssimcli.reports.terminal import rich_console

    if is_stdout(json_path):
        data(to_json(report.to_dict()))
    else:
        if not (is_stdout(junit_path) or is_stdout(html_path)):  # stdout is that report's
            rich_console().print(terminal_table(report))
        if json_path:
            write_text(json_path, to_json(report.to_dict()))
    if junit_path:
        write_text(junit_path, junit_xml(report))
    if github_enabled():
        import os

        from ssimcli.console import say

        # On stderr, always: the runner reads workflow commands from both streams, and stdout
        # may be the --json document, which must stay exactly one JSON value.
        for line in github_annotations(report):
            say(line)
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            try:
                append_step_summary(summary_file, step_summary_markdown(report))
            except OutputError as exc:
                # The verdict stands; a summary that cannot be written is only worth a warning.
                warning(f"cannot append to $GITHUB_STEP_SUMMARY: {exc}")
