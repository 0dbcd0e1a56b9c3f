"""Output formats: JSON, CSV, Rich tables, raw maps and heatmaps. Never write over an input.

This module turns results into bytes and text; `ssimcli.output` writes every file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .console import printable
from .errors import OutputError
from .vocabulary import METRIC_LABELS
from .vocabulary import METRICS as METRIC_COLUMNS


def guard_not_input(path: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse to write ``path`` when it is (or resolves to) one of the inputs."""
    target = Path(path)
    for source in inputs:
        source = Path(source)
        try:
            same = target.exists() and os.path.samefile(target, source)
        except OSError:
            same = False
        if same or target.resolve() == source.resolve():
            raise OutputError(path, "refusing to write over an input file")


def to_json(payload: Any) -> str:
    return json.dumps(_finite(payload), indent=2, allow_nan=False, default=_json_default) + "\n"


def _finite(value: Any) -> Any:
    """Strict JSON: an infinite PSNR (identical images) becomes the string "inf", NaN null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def present_metrics(rows: Iterable[dict[str, Any]]) -> list[str]:
    rows = list(rows)
    return [m for m in METRIC_COLUMNS if any(row.get(m) is not None for row in rows)]


def pair_csv_row(record: dict[str, Any]) -> dict[str, Any]:
    """Flatten one pair's dict (as `PairResult.to_dict`) into CSV columns."""
    row = {k: v for k, v in record.items() if not isinstance(v, (list, dict))}
    for channel in record.get("per_channel", []):
        for key, value in channel.items():
            if key != "channel":
                row[f"{key}_{channel['channel']}"] = value
    return row


def to_csv(rows: list[dict[str, Any]], leading: tuple[str, ...]) -> str:
    columns: list[str] = [c for c in leading]
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return printable(value)  # a CR or ESC in a name must not reach a CSV reader raw
    return value


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
    value = "n/a" if check["value"] is None else f"{check['value']:.6f}"
    margin = "" if check["margin"] is None else f" (margin {check['margin']:+.6f})"
    text = f"{check['metric']} {value} {sign} {check['limit']:g}{margin}"
    region = check.get("region")
    if region:
        text += (f", worst {region['width']}x{region['height']} window at "
                 f"x={region['x']}, y={region['y']}")
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


def render_to_text(renderable: Any) -> str:
    from .console import render_text

    return render_text(renderable)


def write_maps(
    maps: dict[str, np.ndarray], directory: str | Path, inputs: Iterable[str | Path] = ()
) -> list[Path]:
    """``<name>.npy`` (raw float32, H x W or H x W x C) and ``<name>.png`` (heatmap) per map.

    The maps are rendered and encoded on two threads (zlib and NumPy release the GIL): on a 4K
    pair the PNG encoding, not the metrics, is what costs the time.
    """
    from concurrent.futures import ThreadPoolExecutor

    directory = Path(directory)
    inputs = list(inputs)
    targets = [(name, directory / f"{name}.npy", directory / f"{name}.png") for name in maps]
    for _, npy_path, png_path in targets:
        guard_not_input(npy_path, inputs)
        guard_not_input(png_path, inputs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_write_one_map, maps[name], name, npy_path, png_path)
                   for name, npy_path, png_path in targets]
        for future in futures:
            future.result()
    return [path for _, npy_path, png_path in targets for path in (npy_path, png_path)]


def _write_one_map(map_: np.ndarray, name: str, npy_path: Path, png_path: Path) -> None:
    from PIL import Image

    from .heatmap import render_heatmap
    from .output import write_bytes

    raw = np.ascontiguousarray(map_[:, :, 0] if map_.shape[-1] == 1 else map_, np.float32)
    buffer = io.BytesIO()
    np.save(buffer, raw, allow_pickle=False)
    write_bytes(npy_path, buffer.getvalue())
    picture = io.BytesIO()
    # zlib level 3: within a few percent of the default's size at about half its time.
    Image.fromarray(render_heatmap(raw, name)).save(picture, format="PNG", compress_level=3)
    write_bytes(png_path, picture.getvalue())


def compare_text(record: dict[str, Any], output_format: str) -> str | None:
    """One pair's record as ``json`` or ``csv`` text; ``None`` for the table (rendered by Rich)."""
    if output_format == "json":
        return to_json(record)
    if output_format == "csv":
        return to_csv([pair_csv_row(record)], ("reference", "candidate"))
    return None
