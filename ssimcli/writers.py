"""Output formats: JSON, CSV, Rich tables, raw maps and heatmaps. Never write over an input.

This module turns results into bytes and text; `ssimcli.output` writes every file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .console import printable
from .errors import OutputError
from .vocabulary import METRIC_LABELS
from .vocabulary import METRICS as METRIC_COLUMNS

if TYPE_CHECKING:
    from .metrics.fast import MapSink
    from .options import MapRequest


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


def write_maps(
    maps: dict[str, np.ndarray], directory: str | Path, inputs: Iterable[str | Path] = (),
    request: MapRequest | None = None,
) -> list[Path]:
    """``<name>.npy`` (raw float32, H x W or H x W x C) and ``<name>.png`` (heatmap) for each
    map of ``request`` (default: every map, both files); returns the paths written."""
    with MapWriter(directory, request, inputs) as writer:
        return writer.write(maps)


class MapWriter:
    """Writes the maps of one pair into ``directory``, as ``request`` says.

    The maps are written as the engine makes them, never held whole: `sink_for` (given to
    `ssimcli.api.compare_loaded` as ``map_sink_for``) opens each ``.npy`` file as a temporary
    `ssimcli.output.PositionalFile`, writes its header, and returns a sink that receives each
    strip of rows from the engine's threads while it is in cache: the raw rows go straight
    into the file at their offset (no copy of a whole map is ever made, and the kernel writes
    them out while the rest is computed), and each heatmap keeps only its colour index, one
    byte per pixel. `write` then colours and encodes the heatmaps and renames every file into
    place. Where no sink applies (another device; a FIFO among the targets) `write` takes the
    whole maps instead. Leaving the ``with`` block without `write` (the pair failed) removes
    the temporary files, and the folders made for them when left empty.

    Heatmaps are encoded on ``threads`` threads (default: as many as the engine may use; one
    in a batch worker, whose siblings use the other cores): NumPy, the deflate encoder and
    file writes release the GIL.
    """

    def __init__(self, directory: str | Path, request: MapRequest | None = None,
                 inputs: Iterable[str | Path] = (), *, threads: int | None = None) -> None:
        from .options import MapRequest

        self.threads = threads
        self.directory = Path(directory)
        self.request = request or MapRequest()
        self.inputs = list(inputs)
        self._files: dict[str, Any] = {}  # name -> PositionalFile of its .npy
        self._index: dict[str, np.ndarray] = {}  # name -> (H, W) colour index of its heatmap
        self._indexed = False  # the engine fills self._index itself
        self._offset = 0  # of row 0 in each .npy file
        self._row_bytes = 0
        self._made: list[Path] = []

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def targets(self) -> list[Path]:
        """Every file this writer will write (refused when one is an input)."""
        paths = [self.directory / f"{name}.{kind}" for kind in ("npy", "png")
                 if kind in self.request.formats for name in self.request.names]
        for path in paths:
            guard_not_input(path, self.inputs)
        return paths

    def sink_for(self, shape: tuple[int, ...], dtype: np.dtype) -> MapSink | None:
        """Open the files for maps of this ``(H, W, C)`` shape; the sink that fills them, or
        ``None`` when a target cannot be written out of order (a FIFO, a device)."""
        from .heatmap import SCALES
        from .output import PositionalFile, can_place

        if not all(can_place(path) for path in self.targets()):
            return None
        height, width, channels = shape
        self._note_folders()
        header = npy_header((height, width) if channels == 1 else (height, width, channels))
        self._offset, self._row_bytes = len(header), width * channels * 4
        for name in self.request.names:
            if "npy" in self.request.formats:
                self._files[name] = PositionalFile(self.directory / f"{name}.npy")
                self._files[name].write_at(0, header)
            if "png" in self.request.formats and name in SCALES:
                self._index[name] = np.empty((height, width), dtype=np.uint8)
        return self

    # The sink protocol (ssimcli.metrics.fast.MapSink): the engine calls the writer itself.

    @property
    def float_maps(self) -> tuple[str, ...]:
        """The maps the sink needs as floats: those written as ``.npy``, and all of them when
        the engine leaves the heatmaps' colour index to the sink."""
        return tuple(self._files) if self._indexed else tuple(self._files) + tuple(
            name for name in self._index if name not in self._files)

    @property
    def heatmap_indexes(self) -> dict[str, tuple[np.ndarray, float, float]]:
        from .heatmap import SCALES

        return {name: (index, *SCALES[name]) for name, index in self._index.items()}

    def engine_fills_indexes(self) -> None:
        self._indexed = True

    def __call__(self, start: int, maps: dict[str, np.ndarray]) -> None:
        """One strip of rows ``start:start + n`` (called from the engine's threads)."""
        from .heatmap import SCALES, quantise

        for name, file in self._files.items():
            rows = np.ascontiguousarray(maps[name], dtype="<f4")
            file.write_at(self._offset + start * self._row_bytes, rows)
        if self._indexed:
            return
        for name, index in self._index.items():
            block = maps[name]
            quantise(block, *SCALES[name], out=index[start:start + block.shape[0]])

    def write(self, maps: dict[str, np.ndarray] | None) -> list[Path]:
        """Write what the sink has not (heatmaps; every file when there was no sink) and put
        every file in place; returns their paths."""
        tasks: list[tuple[Path, Callable[[], list[Any]]]] = []
        for path in self.targets():
            name, kind = path.stem, path.suffix[1:]
            make = self._maker(name, kind, maps)
            if make is not None:
                tasks.append((path, make))
        _run(tasks, self.threads)
        for file in self._files.values():
            file.commit()
        written = {path for path, _ in tasks} | {f.path for f in self._files.values()}
        return [path for path in self.targets() if path in written]

    def _maker(self, name: str, kind: str, maps: dict[str, np.ndarray] | None
               ) -> Callable[[], list[Any]] | None:
        if kind == "npy" and name in self._files:
            return None  # written by the sink
        if kind == "png" and name in self._index:
            from .heatmap import SCALES, heatmap_rows_of_index, png_from_rows

            index = self._index[name]
            return lambda: png_from_rows(heatmap_rows_of_index(index, name, SCALES[name]))
        if maps is None or name not in maps:
            return None
        return _map_file(maps[name], name, kind)

    def close(self) -> None:
        """Remove what was not committed (the pair failed): temporary files, new folders."""
        leftovers = [file for file in self._files.values() if not file.committed]
        for file in leftovers:
            file.discard()
        self._files.clear()
        self._index.clear()
        if leftovers:
            for folder in reversed(self._made):
                try:
                    folder.rmdir()
                except OSError:
                    break

    def _note_folders(self) -> None:
        """The folders that do not exist yet (outermost first), to remove them on failure."""
        folder = self.directory
        missing = []
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        self._made = missing[::-1]


def _run(tasks: list[tuple[Path, Callable[[], list[Any]]]], threads: int | None = None) -> None:
    threads = min(len(tasks), _writer_threads() if threads is None else threads)
    if threads <= 1:
        for path, make in tasks:
            _write_map_file(path, make)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(_write_map_file, path, make) for path, make in tasks]:
            future.result()


def _writer_threads() -> int:
    from .metrics.fast import default_threads

    return default_threads()


def _map_file(map_: np.ndarray, name: str, kind: str) -> Callable[[], list[Any]]:
    """A function that returns the buffers of one map file (made on the writing thread)."""
    raw = map_[:, :, 0] if map_.ndim == 3 and map_.shape[2] == 1 else map_
    if kind == "npy":
        return lambda: npy_buffers(raw)
    from .heatmap import heatmap_png

    return lambda: heatmap_png(raw, name)


def _write_map_file(path: Path, make: Callable[[], list[Any]]) -> None:
    from .output import write_buffers

    write_buffers(path, make())


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` (version 1.0) header of a C-ordered little-endian float32 array, as
    `numpy.save` writes it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": tuple(int(n) for n in shape)})
    return header.getvalue()


def npy_buffers(array: np.ndarray) -> list[Any]:
    """A ``.npy`` file of ``array`` as float32, as buffers: the header, then the array's own
    memory (no copy when it already is C-contiguous float32)."""
    array = np.ascontiguousarray(array, dtype="<f4")
    return [npy_header(array.shape), array.reshape(-1).data.cast("B")]


def compare_text(record: dict[str, Any], output_format: str) -> str | None:
    """One pair's record as ``json`` or ``csv`` text; ``None`` for the table (rendered by Rich)."""
    if output_format == "json":
        return to_json(record)
    if output_format == "csv":
        return to_csv([pair_csv_row(record)], ("reference", "candidate"))
    return None
