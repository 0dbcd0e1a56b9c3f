"""Row encoders shared by every writer: JSON with non-finite values spelled out, CSV cells.

CSV cells are safe to open in a spreadsheet and to print in a GitHub Actions log
(`csv_cell`): a text cell (a name, a path, a message) that a spreadsheet would read as a
formula, because it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (OWASP's
list), or that a workflow runner would read as a command, because it starts with ``::`` or
``##[``, gets one leading ``'``. So does a cell that already starts with ``'`` followed by any
of those, which makes the mark reversible: `csv_text` removes exactly one ``'`` from a cell
that has one and reads back the name as it was written. Numbers are never marked: ``-0.5``
and ``-inf`` stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ssimcli.console import printable
from ssimcli.vocabulary import METRICS as METRIC_COLUMNS


def to_json(payload: Any) -> str:
    return json.dumps(_finite(payload), indent=2, allow_nan=False, default=_json_default) + "\n"


def _finite(value: Any) -> Any:
    """Strict JSON: an infinite PSNR (identical images) becomes the string "inf", NaN null."""
    if isinstance(value, np.generic):  # NumPy scalars too (a float32 inf is no Python float)
        value = value.item()
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


#: A text cell that starts like this (after any number of ``'``) gets one more ``'``: a formula
#: to a spreadsheet (OWASP: ``= + - @``, tab, carriage return), or a workflow command to the
#: GitHub Actions runner (``::``, ``##[``; also after blanks, which the runner skips).
_MARKED = re.compile(r"'*(?:[=+\-@\t\r]|\s*::|\s*##\[)")
_UNMARK = re.compile(r"'+(?:[=+\-@\t\r]|\s*::|\s*##\[)")
#: Text that is a number (``-0.5``, ``-inf``, ``+1e-3``): harmless in a spreadsheet, never marked.
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)",
                     re.IGNORECASE)


def csv_cell(text: str) -> str:
    """A text cell as every CSV of the tool writes it: control characters escaped visibly
    (`printable`), then one leading ``'`` when a spreadsheet or a CI log would run it."""
    text = printable(text)  # a CR or ESC in a name must not reach a CSV reader raw
    if _MARKED.match(text) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(cell: str) -> str:
    """The text `csv_cell` was given (its control characters still escaped): exactly one
    leading ``'`` comes off a cell that `csv_cell` marked."""
    return cell[1:] if _UNMARK.match(cell) else cell


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_cell(value)
    return value
