"""Streaming sinks of batch rows: JSON Lines and CSV, written as pairs finish.

Each row is one write of whole lines through `ssimcli.io.output.Stream` and is flushed at once,
so an interrupt, a kill or a full disk keeps every finished row and the file stays valid up to
its last complete row.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Protocol

from ssimcli.io.output import Stream, write_text
from ssimcli.options import CompareOptions


class RowSink(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """For the formats written whole at the end (table, json)."""

    def write(self, row: dict[str, Any]) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


class StreamSink:
    """Rows to a file (or stdout) as they come.

    ``staged``: rows go to memory until `commit` replaces the file with them in one rename and
    reopens it for appending. A resumed run rewrites the rows it keeps this way, so that an
    interrupt at that moment cannot lose the earlier run's work.
    """

    def __init__(self, output: str | None, staged: bool = False) -> None:
        self.output = output
        self.staged = staged and output is not None
        self.buffer = io.StringIO()
        self.stream: Stream | None = None if self.staged else Stream(output)

    def put(self, text: str) -> None:
        if self.stream is None:
            self.buffer.write(text)
        else:
            self.stream.write(text)

    def commit(self) -> None:
        if self.staged and self.output is not None:
            write_text(self.output, self.buffer.getvalue())
            self.staged = False
            self.stream = Stream(self.output, append=True)

    def close(self) -> None:
        self.commit()
        if self.stream is not None:
            self.stream.close()

    def write(self, row: dict[str, Any]) -> None:
        raise NotImplementedError


def json_line(row: dict[str, Any]) -> str:
    from ssimcli.io.formats import _finite, _json_default

    return json.dumps(_finite(row), allow_nan=False, default=_json_default)


class JsonlSink(StreamSink):
    def write(self, row: dict[str, Any]) -> None:
        self.put(json_line(row) + "\n")


class CsvSink(StreamSink):
    """CSV rows; the header is fixed at the first scored row (rows before it wait in memory)."""

    def __init__(self, output: str | None, options: CompareOptions, header: list[str],
                 staged: bool = False, leading: tuple[str, ...] = ()) -> None:
        super().__init__(output, staged)
        self.options = options
        self.leading = leading
        self.columns: list[str] = header if "name" in header else []
        self.waiting: list[dict[str, Any]] = []
        if self.columns:
            self._write_header()

    def _write_header(self) -> None:
        self._emit_line(self.columns)

    def _emit_line(self, values: list[Any]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        self.put(buffer.getvalue())

    def _columns_from(self, row: dict[str, Any] | None) -> list[str]:
        from ssimcli.io.formats import pair_csv_row

        metrics = ["ssim", "cs", "l1", "ssim_l1", "psnr"]
        if self.options.ms_ssim:
            metrics += ["ms_ssim", "ms_ssim_l1"]
        columns = [*self.leading, "name", *metrics, "status", "error", "passed", "reference", "candidate"]
        if row is None:
            return columns
        per_channel = row.get("per_channel") or []
        channel_keys = [k for k in (per_channel[0] if per_channel else {}) if k != "channel"]
        flat = pair_csv_row(row)
        suffixes = tuple(f"_{c['channel']}" for c in per_channel)
        for key in flat:
            if key not in columns and not (key.endswith(suffixes) and suffixes):
                columns.append(key)
        # A fixed set of channel columns, so grey and colour pairs fit one header.
        channels = ["Y"] if self.options.color in ("luma", "y", "y8") else ["R", "G", "B", "L"]
        if self.options.transparency == "channel":
            channels.append("A")
        columns += [f"{key}_{channel}" for channel in channels for key in channel_keys]
        return columns

    def write(self, row: dict[str, Any]) -> None:
        if not self.columns:
            if row.get("status") != "ok":
                self.waiting.append(row)
                return
            self.columns = self._columns_from(row)
            self._write_header()
            for waiting in self.waiting:
                self._write_row(waiting)
            self.waiting = []
        self._write_row(row)

    def _write_row(self, row: dict[str, Any]) -> None:
        from ssimcli.io.formats import _csv_value, pair_csv_row

        flat = pair_csv_row(row) if "per_channel" in row else row
        self._emit_line([_csv_value(flat.get(column)) for column in self.columns])

    def close(self) -> None:
        if not self.columns:
            self.columns = self._columns_from(None)
            self._write_header()
            for waiting in self.waiting:
                self._write_row(waiting)
        super().close()


def make_sink(output_format: str, output: str | None, options: CompareOptions, header: list[str],
              staged: bool, leading: tuple[str, ...] = ()) -> RowSink:
    """``leading``: columns before ``name`` in CSV (``method`` when several trees are scored)."""
    if output_format == "jsonl":
        return JsonlSink(output, staged)
    if output_format == "csv":
        return CsvSink(output, options, header, staged, leading)
    return NullSink()
