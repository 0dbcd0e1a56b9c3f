"""``ssim-l1 batch REF_DIR CAND_DIR``: score every pair of two directory trees."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from ..cli import EXIT_CODES_HELP
from ..cli_common import build_options, handle_errors, metric_options, threshold_options

FORMATS = ("table", "json", "csv", "jsonl")
METRIC_CHOICES = ("ssim", "cs", "l1", "ssim_l1", "ms_ssim", "ms_ssim_l1")
# Beyond this many lines of one kind, stderr says "... and N more": the output has them all.
STDERR_LINES = 20

BATCH_EPILOG = (
    EXIT_CODES_HELP + " In batch: 2 when any pair could not be scored (every other pair is "
    "still scored), or with --strict when a file has no partner; else 1 when any pair fails a "
    "threshold; else 0."
)


@click.command(epilog=BATCH_EPILOG)
@click.argument("ref_dir", type=click.Path(file_okay=False))
@click.argument("cand_dir", type=click.Path(file_okay=False))
@metric_options
@threshold_options
@click.option("--glob", "glob", default=None, metavar="PATTERN",
              help="Only reference files whose relative path or name matches, e.g. '*.png' "
                   "('*' also matches '/').")
@click.option("--suffix", default="", metavar="TEXT",
              help="Candidate name = reference stem + TEXT: '_SR' pairs a.png with a_SR.png.")
@click.option("--candidate-ext", default=None, metavar="EXT",
              help="Extension of the candidates (jpg pairs a.png with a.jpg) [the reference's; "
                   "else the one file with the same stem].")
@click.option("--strict", is_flag=True,
              help="A file on one side only (missing/extra) is an error: exit 2 before scoring.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table",
              show_default=True, help="What stdout (or --output) carries; csv and jsonl stream.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE instead of stdout (csv/jsonl rows are flushed as pairs finish).")
@click.option("--resume", is_flag=True,
              help="Keep the pairs already scored in --output (csv or jsonl) and score the rest.")
@click.option("--worst", "worst_n", type=click.IntRange(min=0), default=10, show_default=True,
              metavar="N", help="How many worst pairs the table and the summary list.")
@click.option("--worst-by", type=click.Choice(METRIC_CHOICES), default="ssim", show_default=True,
              help="The metric that ranks pairs for --worst and --maps-worst.")
@click.option("--maps", "maps_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write each pair's maps (.npy and heatmap .png) to DIR/<relative path>/.")
@click.option("--maps-worst", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --maps: maps for the N worst pairs only (by --worst-by), after scoring.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes [the usable CPU cores].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster: tcp://host:8786, or 'local' for a LocalCluster of "
                   "--jobs workers. Needs the [dask] extra.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr (only ever shown when stderr is a terminal).")
@handle_errors
def batch(ref_dir: str, cand_dir: str, glob: str | None, suffix: str, candidate_ext: str | None,
          strict: bool, output_format: str, output: str | None, resume: bool, worst_n: int,
          worst_by: str, maps_dir: str | None, maps_worst: int | None, jobs: int | None,
          scheduler: str | None, progress: bool, **kwargs: Any) -> None:
    """Score every image in REF_DIR (ground truth) against its counterpart in CAND_DIR.

    Files pair by their path relative to each directory, recursively (nested/a.png with
    nested/a.png); --suffix, --candidate-ext and --glob cover the usual naming differences.
    Every pair is scored exactly as `ssim-l1 compare` scores it; thresholds apply to each pair.
    """
    from ..batch import Tally, make_tasks, read_previous, resumable, run_tasks, usable_cores
    from ..errors import UsageError
    from ..pairing import pair_directories

    options, thresholds = build_options(kwargs)
    if resume and (output is None or output_format not in ("csv", "jsonl")):
        raise UsageError("--resume needs --output FILE with --format csv or jsonl")
    if maps_worst is not None and maps_dir is None:
        raise UsageError("--maps-worst needs --maps DIR")
    if worst_by.startswith("ms_") and not options.ms_ssim:
        raise UsageError(f"--worst-by {worst_by} needs --ms-ssim")
    jobs = jobs or usable_cores()
    if scheduler and scheduler != "local":
        # Remote workers do not share this shell's working directory: give them full paths.
        import os

        ref_dir, cand_dir = os.path.abspath(ref_dir), os.path.abspath(cand_dir)
        maps_dir = os.path.abspath(maps_dir) if maps_dir else None

    pairing = pair_directories(ref_dir, cand_dir, glob=glob, suffix=suffix,
                               candidate_ext=candidate_ext)
    say = _Say()
    _report_unmatched(say, pairing.missing, "missing", f"no candidate in {cand_dir}")
    _report_unmatched(say, pairing.extra, "extra", f"no reference in {ref_dir}")
    if strict and not pairing.complete:
        raise UsageError(f"--strict: {len(pairing.missing)} missing and {len(pairing.extra)} "
                         "extra file(s)")
    if not pairing.pairs:
        raise UsageError(f"no image pairs found in {ref_dir} and {cand_dir}")
    _check_outputs(pairing, ref_dir, cand_dir, output, maps_dir)

    tally = Tally(worst_n=worst_n, thresholds=thresholds)
    kept: dict[str, dict[str, Any]] = {}
    header: list[str] = []
    if resume:
        previous, header = read_previous(output, output_format)  # type: ignore[arg-type]
        kept = resumable(previous, {p.name for p in pairing.pairs}, options, output)  # type: ignore
        if kept:
            say(f"resuming: {len(kept)} of {len(pairing.pairs)} pairs already in {output}")

    sink = _make_sink(output_format, output, options, header, staged=resume)
    rows: list[dict[str, Any]] = []  # only for --format json, which is one object at the end
    for row in kept.values():
        tally.add(row)
        sink.write(row)
        if output_format == "json":
            rows.append(row)
    sink.commit()

    todo = [p for p in pairing.pairs if p.name not in kept]
    each_maps = maps_dir if maps_worst is None else None
    import time

    started = time.perf_counter()
    # Workers start here, before the progress bar's thread exists (see batch.run_local); no
    # more workers than pairs, and none at all for a single pair.
    results = run_tasks(make_tasks(todo, options, each_maps),
                        jobs=max(1, min(jobs, len(todo))), scheduler=scheduler,
                        device=options.device)
    with _progress_bar(progress, len(todo)) as advance:
        say.printer = advance.print
        for row in results:
            tally.add(row)
            sink.write(row)
            if output_format == "json":
                rows.append(row)
            if row["status"] == "error":
                say(f"error: {row['error']}")
            advance()
        say.printer = None
    elapsed = time.perf_counter() - started
    sink.close()

    if maps_dir is not None and maps_worst is not None:
        worst = {name for name, _ in tally.ranked(worst_by)[:maps_worst]}
        chosen = [p for p in pairing.pairs if p.name in worst]
        for row in run_tasks(make_tasks(chosen, options, maps_dir),
                             jobs=max(1, min(jobs, len(chosen))), scheduler=scheduler,
                             device=options.device):
            if row["status"] == "error":
                say(f"error: {row['error']}")

    counts = {
        "pairs": len(pairing.pairs), "scored": len(tally.scores), "errors": len(tally.errors),
        "failed": len(tally.failed), "missing": len(pairing.missing),
        "extra": len(pairing.extra), "resumed": len(kept),
    }
    summary = tally.summary()
    if output_format == "json":
        rows.sort(key=lambda r: r["name"])
        payload = {"pairs": rows, "missing": pairing.missing, "extra": pairing.extra,
                   "summary": summary, "counts": counts}
        if thresholds.active():
            payload["thresholds"] = thresholds.active()
            payload["passed"] = not tally.failed
        _emit_whole(output, _to_json(payload))
    elif output_format == "table":
        renderable = _table(tally, summary, pairing, counts, worst_by, worst_n)
        if output:
            from ..writers import atomic_write_text, render_to_text

            atomic_write_text(output, render_to_text(renderable))
        else:
            from rich.console import Console

            Console().print(renderable)

    if output_format in ("csv", "jsonl"):
        # Rows carry no summary; the person watching still gets one, on stderr.
        for metric, entry in summary.items():
            worst = f", worst {entry['worst'][0]['name']}" if entry["worst"] else ""
            say(f"{metric}: mean {entry['mean']:.6f} median {entry['median']:.6f} "
                f"std {entry['std']:.6f} min {entry['min']:.6f} max {entry['max']:.6f} "
                f"over {entry['count']} pairs{worst}")
    from ..writers import describe_check

    failures = list(tally.failed.items())
    for name, checks in failures[:STDERR_LINES]:
        text = "; ".join(describe_check(c) for c in checks)
        say(f"threshold failed: {name}: {text}")
    if len(failures) > STDERR_LINES:
        say(f"threshold failed: ... and {len(failures) - STDERR_LINES} more pairs")
    new = len(todo)
    rate = f", {new / elapsed:.2f} pairs/s" if new and elapsed > 0 else ""
    say(f"batch: {counts['scored']} of {counts['pairs']} pairs scored, {counts['errors']} "
        f"error(s), {counts['failed']} below threshold, {counts['missing']} missing, "
        f"{counts['extra']} extra{rate}")
    if tally.errors:
        sys.exit(2)
    if tally.failed:
        sys.exit(1)


class _Say:
    """One line to stderr, through the progress bar's console while it is shown."""

    def __init__(self) -> None:
        self.printer: Any = None

    def __call__(self, line: str) -> None:
        if self.printer is not None:
            self.printer(line)
        else:
            click.echo(line, err=True)


def _report_unmatched(say: _Say, names: list[str], kind: str, why: str) -> None:
    for name in names[:STDERR_LINES]:
        say(f"{kind}: {name} ({why})")
    if len(names) > STDERR_LINES:
        say(f"{kind}: ... and {len(names) - STDERR_LINES} more (all are in the output)")


def _check_outputs(pairing: Any, ref_dir: str, cand_dir: str, output: str | None,
                   maps_dir: str | None) -> None:
    """Never write over an input, and keep maps out of the trees (they would pair next time)."""
    from ..errors import UsageError
    from ..writers import guard_not_input

    if output is not None:
        target = Path(output).resolve()
        for pair in pairing.pairs:
            if target in (pair.reference.resolve(), pair.candidate.resolve()):
                guard_not_input(output, (pair.reference, pair.candidate))
    if maps_dir is not None:
        maps = Path(maps_dir).resolve()
        for root in (ref_dir, cand_dir):
            base = Path(root).resolve()
            if maps == base or base in maps.parents:
                raise UsageError(f"--maps {maps_dir} lies inside {root}; choose a folder outside "
                                 "both trees so that maps are never taken for inputs")


# --- streaming sinks -----------------------------------------------------------------------

def _json_line(row: dict[str, Any]) -> str:
    import json

    from ..writers import _json_default

    return json.dumps(row, allow_nan=False, default=_json_default)


def _to_json(payload: Any) -> str:
    from ..writers import to_json

    return to_json(payload)


def _emit_whole(output: str | None, text: str) -> None:
    if output:
        from ..writers import atomic_write_text

        atomic_write_text(output, text)
    else:
        click.echo(text, nl=False)


class _NullSink:
    def write(self, row: dict[str, Any]) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


class _StreamSink:
    """Rows to a file (or stdout) as they come, flushed each time: an interrupt keeps them all.

    ``staged``: rows go to memory until `commit` replaces the file with them in one rename and
    reopens it for appending. A resumed run rewrites the rows it keeps this way, so that an
    interrupt at that moment cannot lose the earlier run's work.
    """

    def __init__(self, output: str | None, staged: bool = False) -> None:
        self.output = output
        self.staged = staged and output is not None
        if output is None:
            self.handle: TextIO = sys.stdout
        elif self.staged:
            self.handle = io.StringIO()
        else:
            self.handle = self._open("w")

    def _open(self, mode: str) -> TextIO:
        from ..errors import OutputError

        try:
            Path(self.output).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
            return open(self.output, mode, encoding="utf-8", newline="")  # type: ignore[arg-type]
        except OSError as exc:
            raise OutputError(self.output, f"cannot write ({exc.strerror or exc})") from None

    def commit(self) -> None:
        if self.staged:
            from ..writers import atomic_write_text

            atomic_write_text(self.output, self.handle.getvalue())  # type: ignore[arg-type]
            self.staged = False
            self.handle = self._open("a")

    def put(self, text: str) -> None:
        try:
            self.handle.write(text)
            self.handle.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly rather than with a traceback, and
            # keep Python from failing again when it flushes stdout at exit.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(2)

    def close(self) -> None:
        self.commit()
        if self.output is not None:
            self.handle.close()
        else:
            self.handle.flush()


class _JsonlSink(_StreamSink):
    def write(self, row: dict[str, Any]) -> None:
        self.put(_json_line(row) + "\n")


class _Writable:
    """What `csv.writer` writes to: each line through `_StreamSink.put` (flush, broken pipe)."""

    def __init__(self, sink: _StreamSink) -> None:
        self.sink = sink

    def write(self, text: str) -> None:
        self.sink.put(text)


class _CsvSink(_StreamSink):
    """CSV rows; the header is fixed at the first scored row (rows before it wait in memory)."""

    def __init__(self, output: str | None, options: Any, header: list[str],
                 staged: bool = False) -> None:
        super().__init__(output, staged)
        self.options = options
        self.columns: list[str] = header if "name" in header else []
        self.waiting: list[dict[str, Any]] = []
        if self.columns:
            self._write_header()

    def _write_header(self) -> None:
        import csv

        self.writer = csv.DictWriter(_Writable(self), fieldnames=self.columns,
                                     extrasaction="ignore", lineterminator="\n")
        self.writer.writeheader()

    def _columns_from(self, row: dict[str, Any] | None) -> list[str]:
        from ..writers import pair_csv_row

        metrics = ["ssim", "cs", "l1", "ssim_l1"]
        if self.options.ms_ssim:
            metrics += ["ms_ssim", "ms_ssim_l1"]
        columns = ["name", *metrics, "status", "error", "passed", "reference", "candidate"]
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
        channels = ["Y"] if self.options.color == "luma" else ["R", "G", "B", "L"]
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
        from ..writers import _csv_value, pair_csv_row

        flat = pair_csv_row(row) if "per_channel" in row else row
        self.writer.writerow({k: _csv_value(v) for k, v in flat.items()})

    def close(self) -> None:
        if not self.columns:
            self.columns = self._columns_from(None)
            self._write_header()
            for waiting in self.waiting:
                self._write_row(waiting)
        super().close()


def _make_sink(output_format: str, output: str | None, options: Any, header: list[str],
               staged: bool) -> Any:
    if output_format == "jsonl":
        return _JsonlSink(output, staged)
    if output_format == "csv":
        return _CsvSink(output, options, header, staged)
    return _NullSink()


# --- progress and table --------------------------------------------------------------------

class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __call__(self) -> None:
        pass

    def print(self, line: str) -> None:
        click.echo(line, err=True)


class _RichProgress:
    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("pairs"),
            _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task("batch", total=total)

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def __call__(self) -> None:
        self.progress.advance(self.task)

    def print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _RateColumn() -> Any:  # noqa: N802 - a factory standing in for a class defined lazily
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("?/s" if speed is None else f"{speed:.1f}/s")

    return RateColumn()


def _progress_bar(enabled: bool, total: int) -> Any:
    # A bar is for a person watching; in a pipe or a log file it would only be noise.
    if enabled and total > 0 and sys.stderr.isatty():
        return _RichProgress(total)
    return _NoProgress()


def _table(tally: Any, summary: dict[str, Any], pairing: Any, counts: dict[str, int],
           worst_by: str, worst_n: int) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..writers import METRIC_LABELS, format_score

    parts: list[Any] = []
    stats = Table(title="Summary", title_justify="left")
    stats.add_column("metric")
    for column in ("pairs", "mean", "median", "std", "min", "max"):
        stats.add_column(column, justify="right")
    for metric, entry in summary.items():
        stats.add_row(METRIC_LABELS[metric], str(entry["count"]),
                      *(format_score(entry[k]) for k in ("mean", "median", "std", "min", "max")))
    parts.append(stats)
    metrics = list(summary)
    ranked = tally.ranked(worst_by)[:worst_n] if worst_by in metrics else []
    if ranked:
        worst = Table(title=f"Worst {len(ranked)} by {METRIC_LABELS[worst_by]}",
                      title_justify="left")
        worst.add_column("#", justify="right")
        worst.add_column("name")
        for metric in metrics:
            worst.add_column(METRIC_LABELS[metric], justify="right")
        if tally.thresholds.active():
            worst.add_column("thresholds")
        for rank, (name, _) in enumerate(ranked, 1):
            scores = tally.scores[name]
            cells = [str(rank), name, *(format_score(scores.get(m)) for m in metrics)]
            if tally.thresholds.active():
                cells.append("FAIL" if name in tally.failed else "pass")
            worst.add_row(*cells)
        parts.append(worst)
    lines = Text()
    for name, message in sorted(tally.errors.items()):
        lines.append("error ", style="bold red")
        lines.append(f"{name}: {message}\n")
    for kind, names in (("missing", pairing.missing), ("extra", pairing.extra)):
        for name in names[:worst_n]:
            lines.append(f"{kind} ", style="yellow")
            lines.append(f"{name}\n")
        if len(names) > worst_n:
            lines.append(f"{kind} ... and {len(names) - worst_n} more\n", style="yellow")
    lines.append(
        f"{counts['scored']} of {counts['pairs']} pairs scored, {counts['errors']} error(s), "
        f"{counts['failed']} below threshold, {counts['missing']} missing, "
        f"{counts['extra']} extra", style="dim")
    parts.append(lines)
    return Group(*parts)
