"""Resuming a batch run: read the rows an earlier run wrote, keep those this run can reuse.

A resumed run must never mix numbers computed with other settings, and never trust a file it
cannot parse: a bad line is named, and the run stops before scoring anything.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ssimcli.console import printable
from ssimcli.errors import InputError, UsageError
from ssimcli.io.formats import csv_text
from ssimcli.options import CompareOptions
from ssimcli.vocabulary import METRICS

#: How an infinite score (PSNR of identical images) is written in JSON, JSON Lines and CSV.
INFINITE = "inf"

# Settings that change the numbers; a resumed row scored with other values must not be mixed in.
SETTING_KEYS = ("preset", "window_requested", "sigma_requested", "window_kind", "k1", "k2",
                "alpha", "color", "crop", "transparency", "padding", "mean_over", "clip",
                "sample_covariance", "precision")
#: What a row written before a setting existed was scored with (rows before --crop: none).
ABSENT_MEANS = {"crop": "0"}


def expected_settings(options: CompareOptions) -> dict[str, str]:
    """The `SETTING_KEYS` of a row scored with ``options``, as text (CSV stores text)."""
    params = options.params
    values = {
        "preset": options.preset, "window_requested": params.window, "sigma_requested": params.sigma,
        "window_kind": params.window_kind, "k1": params.k1, "k2": params.k2,
        "alpha": params.alpha, "color": options.color, "crop": options.crop,
        "transparency": options.transparency,
        "padding": params.padding, "mean_over": params.mean_over, "clip": params.clip,
        "sample_covariance": params.sample_covariance, "precision": params.precision,
    }
    return {k: _as_text(v) for k, v in values.items()}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_previous(path: str | Path, output_format: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of an earlier run's ``jsonl`` or ``csv`` output, and that file's CSV header.

    A last line without its newline is the mark of an interrupted write and is dropped. Every
    other line must parse (a JSON object with a ``name``; a CSV record with the header's
    columns and numeric scores), else `InputError` names the bad line: a file that is not ours
    is never half-read. Rows of CSV files come back with their scores as floats so that the
    summary can use them.
    """
    path = Path(path)
    text = _read_resume_text(path)
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    if output_format == "jsonl":
        return _jsonl_rows(path, text), []
    return _csv_rows(path, text)


def _read_resume_text(path: Path) -> str:
    """The file's text, or ``""`` when there is none yet; never a FIFO or a device (it would
    block, or never end), and a byte that is not UTF-8 is named by its line."""
    import os

    from ssimcli.io.probe import check_input_file

    if not os.path.lexists(path):
        return ""
    check_input_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read the file to resume ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(path, f"line {line} is not UTF-8 text; cannot resume from it") from None


def _jsonl_rows(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(path, f"line {number} is not JSON; cannot resume from it") from None
        if not (isinstance(row, dict) and isinstance(row.get("name"), str)):
            raise InputError(path, f"line {number} is not a batch row (no name); cannot resume "
                                   "from it")
        for metric in METRICS:
            if row.get(metric) == INFINITE:  # an infinite PSNR, as strict JSON writes it
                row[metric] = math.inf
        rows.append(row)
    return rows


def _csv_rows(path: Path, text: str) -> tuple[list[dict[str, Any]], list[str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if text and "name" not in header:
        raise InputError(path, "no 'name' column; not a batch CSV, cannot resume from it")
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():  # more, or fewer, fields than the header
                raise ValueError(f"{len(header)} columns expected")
            # The one ``'`` that made a text cell safe in a spreadsheet comes off (`csv_cell`).
            row = {key: csv_text(value) for key, value in row.items()}
            for metric in METRICS:
                if metric in row:
                    value = row[metric]
                    row[metric] = float(value) if value not in (None, "") else None
            rows.append(dict(row))
    except (csv.Error, ValueError) as exc:
        raise InputError(path, f"line {reader.line_num} is not a batch CSV row ({exc}); "
                               "cannot resume from it") from None
    return rows, header


def resumable(rows: list[dict[str, Any]], names: set[str], options: CompareOptions,
              path: str | Path) -> dict[str, dict[str, Any]]:
    """The scored rows of ``rows`` that belong to this run's pairs, by name (the last wins).

    Rows of pairs that failed, of files now missing or extra, and of pairs no longer in the
    pairing are left out, so they are scored (or reported) again.

    Raises
    ------
    UsageError
        When a kept row was scored with other settings than ``options``.
    """
    wanted = expected_settings(options)
    # CSV writes names through `printable`, JSON Lines as they are: either spelling names a pair.
    by_written = {printable(name): name for name in names} | {name: name for name in names}
    kept: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("status") != "ok" or row["name"] not in by_written:
            continue
        row["name"] = by_written[row["name"]]
        for key, value in wanted.items():
            written = _as_text(row[key]) if key in row else ABSENT_MEANS.get(key, value)
            if written != value:
                raise UsageError(
                    f"{path}: {row['name']} was scored with {key} {written!r}, this run uses "
                    f"{value!r}; use another --output or drop --resume")
        if row.get("psnr") is None:
            continue  # written before PSNR was computed: scored again, so every mean has it
        if options.ms_ssim and row.get("ms_ssim") is None:
            raise UsageError(f"{path}: {row['name']} was scored without --ms-ssim; use another "
                             "--output or drop --resume")
        kept[row["name"]] = row
    return kept
