"""What `compare` shows: the Rich table of one pair, its parameter line, threshold checks as text,
and the pair as JSON or CSV text (encoded by `ssimcli.io.formats`)."""

from __future__ import annotations

from typing import Any

from ssimcli.console import printable
from ssimcli.io.formats import pair_csv_row, present_metrics, to_csv, to_json
from ssimcli.vocabulary import METRIC_LABELS


def format_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.6f}"


def compare_table(record: dict[str, Any], checks: list[dict[str, Any]]) -> Any:
    """A Rich renderable: per-channel and overall scores, the parameters, threshold checks."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    metrics = present_metrics([record])
    # Text, not a str: Rich would read "[...]" in a file name as markup.
    title = Text(f"{printable(record['reference'])}  vs  {printable(record['candidate'])}")
    table = Table(title=title, title_justify="left")
    table.add_column("channel")
    for metric in metrics:
        table.add_column(METRIC_LABELS[metric], justify="right")
    per_channel = record.get("per_channel", [])
    if len(per_channel) > 1:
        for channel in per_channel:
            table.add_row(channel["channel"], *(format_score(channel.get(m)) for m in metrics))
        table.add_section()
    table.add_row(Text("overall", style="bold"),
                  *(Text(format_score(record.get(m)), style="bold") for m in metrics))
    parts: list[Any] = [table, Text(parameter_line(record), style="dim")]
    if checks:
        parts.append(checks_text(checks))
    return Group(*parts)


def describe_check(check: dict[str, Any]) -> str:
    """One threshold check in words: ``ssim 0.812345 >= 0.95 (margin -0.137655)``, plus the
    worst window for the local rule. Every command and report phrases a check this way."""
    sign = ">=" if check["kind"] == "min" else "<="
    if check["metric"] == "changed_pixels":
        return _describe_changed_pixels(check, sign)
    value = "n/a" if check["value"] is None else f"{check['value']:.6f}"
    margin = "" if check["margin"] is None else f" (margin {check['margin']:+.6f})"
    text = f"{check['metric']} {value} {sign} {check['limit']:g}{margin}"
    region = check.get("region")
    if region:
        text += (f", worst {region['width']}x{region['height']} window at "
                 f"x={region['x']}, y={region['y']}")
    return text


def _describe_changed_pixels(check: dict[str, Any], sign: str) -> str:
    """``changed_pixels 122 <= 0 (threshold 0.1), within 12x12 at x=93, y=10``."""
    text = f"changed_pixels {check['value']:g} {sign} {check['limit']:g} (threshold {check['threshold']:g})"
    box = check.get("box")
    if box:
        text += f", within {box['width']}x{box['height']} at x={box['x']}, y={box['y']}"
    return text


def checks_text(checks: list[dict[str, Any]]) -> Any:
    from rich.text import Text

    text = Text()
    for check in checks:
        mark, style = ("PASS", "green") if check["passed"] else ("FAIL", "bold red")
        text.append(mark, style=style)
        text.append(f"  {describe_check(check)}\n")
    return text


def parameter_line(record: dict[str, Any]) -> str:
    window = f"window {record['window']}"
    if record.get("window_kind") == "uniform":
        window += " uniform"
    else:
        window += f" gaussian sigma {record['sigma']:g}"
    if record.get("window_shrunk"):
        window += f" (shrunk from {record['window_requested']}: image smaller than the window)"
    return (
        f"{record['width']}x{record['height']}  preset {record['preset']} | {window} | "
        f"K1 {record['k1']:g} K2 {record['k2']:g} | alpha {record['alpha']:g} | "
        f"padding {record['padding']}, mean over {record['mean_over']}"
        f"{', clipped' if record.get('clip') else ''} | data range {record['data_range']:g} | "
        f"{record['color']}{_crop_text(record)} | {record['precision']} on {record['device']} | "
        f"ssim-l1 {record['version']}"
    )


def _crop_text(record: dict[str, Any]) -> str:
    crop = record.get("crop") or 0
    return f", crop {crop}" if crop else ""


def compare_text(record: dict[str, Any], output_format: str) -> str | None:
    """One pair's record as ``json`` or ``csv`` text; ``None`` for the table (rendered by Rich)."""
    if output_format == "json":
        return to_json(record)
    if output_format == "csv":
        return to_csv([pair_csv_row(record)], ("reference", "candidate"))
    return None
