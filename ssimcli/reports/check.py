"""Reports of a ``check`` run: terminal table, JUnit XML, GitHub Actions output (the HTML
review page is `ssimcli.reports.review_page`).

A size change (``ImageCheck.size_change``) is shown with both sizes in every format.

File names come from pull requests, so every name is first made printable (`printable`: control
characters and undecodable bytes as visible ``\\xNN``, so no report carries a raw ESC, CR or a
byte that is not UTF-8), then escaped for the format it lands in: XML (ElementTree), GitHub
workflow commands (``%``-encoding) and Markdown tables (HTML-escaped, ``|`` backslashed).
"""

from __future__ import annotations

import html
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ssimcli.console import printable
from ssimcli.pipeline.check import CheckReport, ImageCheck
from ssimcli.reports.compare import METRIC_LABELS

LABELS = {**METRIC_LABELS, "local_ssim": "local SSIM", "changed_pixels": "changed px"}


# --------------------------------------------------------------------------- terminal


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _limit(check: dict[str, Any]) -> str:
    return f"{'>=' if check['kind'] == 'min' else '<='} {check['limit']:g}"


def _value(check: dict[str, Any]) -> str:
    """A check's value: pixel counts as counts, scores with six decimals."""
    if check["metric"] == "changed_pixels" and check["value"] is not None:
        return f"{check['value']:g}"
    return _fmt(check["value"])


def _margin(check: dict[str, Any]) -> str:
    if check["margin"] is None:
        return ""
    return f"{check['margin']:+g}" if check["metric"] == "changed_pixels" else f"{check['margin']:+.6f}"


def _note(item: ImageCheck) -> str | None:
    """What replaces the scores of an image that has none: its error or its size change."""
    if item.size_change is not None:
        return describe_size_change(item.size_change)
    if item.status == "error":
        return item.error or ""
    return None


def check_metrics(report: CheckReport) -> list[str]:
    """The metrics checked on any image, in a stable order."""
    order = ["changed_pixels", "ssim", "cs", "l1", "ssim_l1", "ms_ssim", "local_ssim"]
    seen = {c["metric"] for item in report.items for c in item.checks}
    return [m for m in order if m in seen]


def terminal_table(report: CheckReport) -> Any:
    """A Rich table: per image its result and, per checked metric, value, limit and margin."""
    from rich.table import Table
    from rich.text import Text

    metrics = check_metrics(report)
    table = Table()
    table.add_column("result")
    table.add_column("image", overflow="fold")
    for metric in metrics:
        table.add_column(LABELS[metric], justify="right")
        table.add_column("limit", justify="right")
        table.add_column("margin", justify="right")
    if "local_ssim" in metrics:
        table.add_column("worst region (x,y w x h)")
    styles = {"pass": "green", "fail": "bold red", "error": "bold red"}
    for item in report.sorted_items():
        label = "ACCEPTED" if item.name in report.updated else item.status.upper()
        cells: list[Any] = [Text(label, style=styles[item.status]), Text(printable(item.name))]
        by_metric = {c["metric"]: c for c in item.checks}
        for metric in metrics:
            check = by_metric.get(metric)
            if check is None:
                cells += [Text(""), Text(""), Text("")]
                continue
            style = "" if check["passed"] else "red"
            cells += [Text(_value(check), style=style), Text(_limit(check)),
                      Text(_margin(check), style=style)]
        if "local_ssim" in metrics:
            region = by_metric.get("local_ssim", {}).get("region")
            cells.append(Text("" if not region else
                              f"{region['x']},{region['y']} {region['width']}x{region['height']}"))
        note = _note(item)
        if note is not None:
            cells[1] = Text(f"{printable(item.name)}\n{printable(note)}")
        table.add_row(*cells)
    blank = [Text("")] * (len(metrics) * 3 + ("local_ssim" in metrics))
    for name in report.missing:
        table.add_row(Text("MISSING", style="bold red"),
                      Text(f"{printable(name)}\n(baseline has no candidate)"),
                      *blank)
    for name in report.extra:
        accepted = name in report.updated
        label = "ACCEPTED" if accepted else ("NEW (fail)" if report.fail_on_new else "NEW")
        style = "bold red" if report.fail_on_new and not accepted else "yellow"
        table.add_row(Text(label, style=style), Text(f"{printable(name)}\n(candidate has no baseline)"),
                      *blank)
    return table


# --------------------------------------------------------------------------- JUnit


def junit_xml(report: CheckReport) -> str:
    """JUnit XML: one ``testcase`` per image; ``failure`` with values and limits, ``error`` for
    pairs that could not be compared."""
    cases: list[ET.Element] = []
    failures = errors = skipped = 0
    for item in report.sorted_items():
        case = ET.Element("testcase", classname="ssim-l1.check", name=item.name,
                          file=item.candidate)
        lines = [f"baseline: {item.baseline}", f"candidate: {item.candidate}"]
        if item.size_change is not None:
            lines.append(describe_size_change(item.size_change))
        for check in item.checks:
            margin = "" if check["margin"] is None else f" margin {_margin(check)}"
            mark = "ok" if check["passed"] else "FAILED"
            line = f"{check['metric']} {_value(check)} limit {_limit(check)}{margin} {mark}"
            if check.get("region"):
                r = check["region"]
                line += f" region x={r['x']} y={r['y']} w={r['width']} h={r['height']}"
            lines.append(line)
        if item.status == "fail" and item.name not in report.updated:
            failure = ET.SubElement(case, "failure", message=describe_failure(item),
                                    type="size-change" if item.size_change else "regression")
            failure.text = "\n".join(lines)
            failures += 1
        elif item.status == "error" and item.name not in report.updated:
            error = ET.SubElement(case, "error", message=item.error or "", type="bad-input")
            error.text = "\n".join(lines[:2] + [item.error or ""])
            errors += 1
        else:
            ET.SubElement(case, "system-out").text = "\n".join(lines)
        cases.append(case)
    for name in report.missing:
        case = ET.Element("testcase", classname="ssim-l1.check", name=name,
                          file=str(Path(report.baseline_dir) / name))
        failure = ET.SubElement(case, "failure", type="missing",
                                message="baseline has no candidate")
        failure.text = f"baseline: {Path(report.baseline_dir) / name}\ncandidate: (none)"
        failures += 1
        cases.append(case)
    for name in report.extra:
        case = ET.Element("testcase", classname="ssim-l1.check", name=name,
                          file=str(Path(report.candidate_dir) / name))
        if report.fail_on_new and name not in report.updated:
            ET.SubElement(case, "failure", type="new",
                          message="candidate has no baseline (--fail-on-new)").text = \
                f"candidate: {Path(report.candidate_dir) / name}\nbaseline: (none)"
            failures += 1
        else:
            ET.SubElement(case, "system-out").text = "new image: candidate has no baseline"
        cases.append(case)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors),
              "skipped": str(skipped)}
    attributes = {"name": "ssim-l1 check", **counts}
    root = ET.Element("testsuites", attributes)
    suite = ET.SubElement(root, "testsuite", attributes)
    suite.extend(cases)
    _make_printable(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _make_printable(root: ET.Element) -> None:
    """Every attribute and line of text made `printable`: XML 1.0 cannot hold most control
    characters at all, and a byte that is not UTF-8 would make the file unreadable."""
    for element in root.iter():
        element.attrib = {key: printable(value) for key, value in element.attrib.items()}
        if element.text:
            element.text = "\n".join(printable(line) for line in element.text.split("\n"))


# --------------------------------------------------------------------------- GitHub Actions


def _escape_data(text: str) -> str:
    return printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: CheckReport) -> list[str]:
    """``::error file=PATH::message`` workflow commands, one per regression or bad pair."""
    lines = []
    for item in report.sorted_items():
        if item.status == "pass" or item.name in report.updated:
            continue
        message = f"ssim-l1 check: {item.name}: {describe_failure(item)}"
        lines.append(f"::error file={_escape_property(item.candidate)}::{_escape_data(message)}")
    for name in report.missing:
        path = str(Path(report.baseline_dir) / name)
        message = f"ssim-l1 check: {name}: baseline has no candidate"
        lines.append(f"::error file={_escape_property(path)}::{_escape_data(message)}")
    if report.fail_on_new:
        for name in report.extra:
            if name in report.updated:
                continue
            path = str(Path(report.candidate_dir) / name)
            message = f"ssim-l1 check: {name}: new image with no baseline (--fail-on-new)"
            lines.append(f"::error file={_escape_property(path)}::{_escape_data(message)}")
    return lines


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell (GitHub renders HTML in step summaries)."""
    return html.escape(printable(text)).replace("|", "\\|")


def step_summary_markdown(report: CheckReport) -> str:
    """A Markdown section for ``$GITHUB_STEP_SUMMARY``: verdict, counts, a row per image."""
    summary = report.summary()
    verdict = "passed" if summary["exit_code"] == 0 else "FAILED"
    metrics = check_metrics(report)
    lines = [
        f"## ssim-l1 check {verdict}",
        "",
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['errors']} errors, "
        f"{summary['missing']} missing, {summary['extra']} new"
        + (f", {len(report.updated)} accepted into the baseline" if report.updated else "")
        + (f", {len(report.refused)} refused" if getattr(report, "refused", None) else ""),
        "",
        "| result | image | " + " | ".join(LABELS[m] + " (limit)" for m in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for item in report.sorted_items():
        by_metric = {c["metric"]: c for c in item.checks}
        cells = []
        for metric in metrics:
            check = by_metric.get(metric)
            cells.append("" if check is None else
                         f"{_value(check)} ({_limit(check)})"
                         + ("" if check["passed"] else " ❌"))
        status = "accepted" if item.name in report.updated else item.status
        note = _note(item)
        name = _md(item.name) + (f" — {_md(note)}" if note is not None else "")
        lines.append(f"| {status} | {name} | " + " | ".join(cells) + " |")
    blank = " | ".join("" for _ in metrics)
    for name in report.missing:
        lines.append(f"| missing | {_md(name)} (baseline has no candidate) | {blank} |")
    for name in report.extra:
        status = "accepted" if name in report.updated else "new"
        lines.append(f"| {status} | {_md(name)} (candidate has no baseline) | {blank} |")
    return "\n".join(lines) + "\n\n"


def append_step_summary(path: str | Path, markdown: str) -> None:
    """Append (GitHub gives every step the same file to add to), through the one writer: a FIFO
    with no reader is an `OutputError`, not a run that hangs in ``open``."""
    from ssimcli.io.output import open_stream

    stream = open_stream(path, append=True)
    try:
        stream.write(markdown)
    finally:
        stream.close()


def github_enabled(environ: dict[str, str] | None = None) -> bool:
    environ = dict(os.environ) if environ is None else environ
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def describe_failure(item: ImageCheck) -> str:
    """One line: every failing check with value and limit (and the local region)."""
    if item.status == "error":
        return f"cannot compare: {item.error}"
    if item.size_change is not None:
        return describe_size_change(item.size_change)
    from ssimcli.reports.compare import describe_check

    return "; ".join(describe_check(check) for check in item.failed_checks)


def describe_size_change(size_change: dict[str, list[int]]) -> str:
    """``size changed: baseline 1280x720, candidate 1280x728``: every format says it so."""
    (bw, bh), (cw, ch) = size_change["baseline"], size_change["candidate"]
    return f"size changed: baseline {bw}x{bh}, candidate {cw}x{ch}"
