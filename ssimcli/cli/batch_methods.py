"""``ssim-l1 batch REF_DIR CAND_DIR CAND_DIR ...``: several methods side by side (and the paper
formats, for one method too). The logic is `ssimcli.pipeline.methods`; this module reports and writes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from ssimcli.cli.batch_common import STDERR_LINES, _check_outputs, _report_unmatched, drain, report_ambiguous
from ssimcli.errors import ExitCode, UsageError
from ssimcli.options import CompareOptions, MapRequest, Thresholds
from ssimcli.pipeline.methods import METHOD, Method, MethodsReport


@dataclass(frozen=True)
class MethodsRun:
    """Everything the command was asked for (the options of ``batch``)."""

    ref_dir: str
    cand_dirs: tuple[str, ...]
    naming: dict[str, Any]
    options: CompareOptions
    thresholds: Thresholds
    strict: bool
    output_format: str
    output: str | None
    resume: bool
    worst_n: int
    worst_by: str
    maps_dir: str | None
    maps_worst: int | None
    jobs: int
    scheduler: str | None
    progress: bool
    metrics: list[str] | None
    decimals: int | None
    map_request: MapRequest = field(default_factory=MapRequest)


def run_methods(run: MethodsRun) -> ExitCode:
    """Pair, score, write and report every method; returns the exit code."""
    from ssimcli.cli.progress import Say
    from ssimcli.io.output import lock_output

    _check_metrics(run)
    say = Say()
    methods = _pair_methods(run, say)
    for method in methods:
        _check_outputs(method.pairing, run.ref_dir, method.directory, run.output, run.maps_dir)
    lock_output(run.output)
    report = MethodsReport.start(methods, run.worst_n, run.thresholds,
                                 keep_rows=run.output_format == "json")
    kept, header = _previous_rows(run, methods, say)
    sink = _open_sink(run, header)
    for row in kept.values():
        report.add(row, resumed=True)
        sink.write(row)
    sink.commit()
    _score(run, report, methods, set(kept), sink, say)
    sink.close()
    if run.maps_dir is not None and run.maps_worst is not None:
        _maps_of_worst(run, report, methods, say)
    _emit(run, report)
    _tell(run, report, say)
    return report.exit_code


def _check_metrics(run: MethodsRun) -> None:
    wanted = run.metrics or []
    if any(m.startswith("ms_") for m in wanted) and not run.options.ms_ssim:
        raise UsageError("--metrics with ms_ssim or ms_ssim_l1 needs --ms-ssim")


def _pair_methods(run: MethodsRun, say: Any) -> list[Method]:
    from ssimcli.pipeline.methods import method_names
    from ssimcli.pipeline.pairing import pair_directories

    names = method_names(run.cand_dirs)
    methods = [Method(name, directory, pair_directories(run.ref_dir, directory, **run.naming))
               for name, directory in zip(names, run.cand_dirs, strict=True)]
    for method in methods:
        pairing = method.pairing
        _report_unmatched(say, pairing.missing, f"missing: {method.name}",
                          f"no candidate in {method.directory}")
        _report_unmatched(say, pairing.extra, f"extra: {method.name}",
                          f"no reference in {run.ref_dir}")
        report_ambiguous(say, pairing.ambiguous, method.directory)
    incomplete = [m.name for m in methods if not m.pairing.complete]
    if run.strict and incomplete:
        raise UsageError(f"--strict: missing or extra files for {', '.join(incomplete)}")
    empty = [m.directory for m in methods if not m.pairing.pairs]
    if empty:
        raise UsageError(f"no image pairs found in {run.ref_dir} and {', '.join(empty)}")
    return methods


def _previous_rows(run: MethodsRun, methods: list[Method], say: Any
                   ) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    if not run.resume or run.output is None:
        return {}, []
    from ssimcli.pipeline.methods import resumable_rows
    from ssimcli.pipeline.resume import read_previous

    previous, header = read_previous(run.output, run.output_format)
    if header and METHOD not in header:
        raise UsageError(f"{run.output}: no '{METHOD}' column: written by a run on one candidate "
                         "tree, not on several; use another --output or drop --resume")
    kept = resumable_rows(previous, methods, run.options, run.output)
    total = sum(len(m.pairing.pairs) for m in methods)
    if kept:
        say(f"resuming: {len(kept)} of {total} pairs already in {run.output}")
    return kept, header


def _open_sink(run: MethodsRun, header: list[str]) -> Any:
    from ssimcli.io.sinks import make_sink

    return make_sink(run.output_format, run.output, run.options, header, staged=run.resume,
                     leading=(METHOD,))


def _score(run: MethodsRun, report: MethodsReport, methods: list[Method],
           done: set[tuple[str, str]], sink: Any, say: Any) -> None:
    from ssimcli.pipeline.methods import candidate_methods, make_jobs, unbundle
    from ssimcli.pipeline.runners import pair_threads, run_tasks

    started = time.perf_counter()
    maps_dir = run.maps_dir if run.maps_worst is None else None
    grouped = _grouped(run)
    jobs = make_jobs(methods, run.options, maps_dir, done, grouped=grouped,
                     map_request=run.map_request)
    workers = max(1, min(run.jobs, len(jobs)))
    jobs = [replace(job, threads=pair_threads(workers, run.scheduler)) for job in jobs]
    total = sum(len(m.pairing.pairs) for m in methods) - len(done)
    results = run_tasks(jobs, jobs=workers, scheduler=run.scheduler, device=run.options.device)
    rows = unbundle(results, None if grouped else candidate_methods(methods))
    drain(rows, report, sink, say, run.progress, total, label=lambda row: row[METHOD])
    report.elapsed = time.perf_counter() - started


def _grouped(run: MethodsRun) -> bool:
    """One job per reference (decoded once for every method) on the process pool and Dask;
    pair by pair on the GPU path, which decodes pairs ahead on its own threads."""
    if run.scheduler or run.options.device == "cpu":
        return True
    from ssimcli.metrics.backend import resolve_backend

    return bool(resolve_backend(run.options.device).name == "cpu")


def _maps_of_worst(run: MethodsRun, report: MethodsReport, methods: list[Method],
                   say: Any) -> None:
    """Maps of each method's ``--maps-worst`` worst pairs, in ``DIR/<method>/<pair>/``."""
    from pathlib import Path

    from ssimcli.pipeline.runners import make_tasks, pair_threads, run_tasks

    assert run.maps_dir is not None and run.maps_worst is not None
    for method in methods:
        tally = report.reports[method.name].tally
        worst = {name for name, _ in tally.ranked(run.worst_by)[:run.maps_worst]}
        chosen = [p for p in method.pairing.pairs if p.name in worst]
        if not chosen:
            continue
        workers = max(1, min(run.jobs, len(chosen)))
        tasks = make_tasks(chosen, run.options, Path(run.maps_dir, method.name), run.map_request,
                           threads=pair_threads(workers, run.scheduler))
        for row in run_tasks(tasks, jobs=workers, scheduler=run.scheduler,
                             device=run.options.device):
            if row["status"] == "error":
                say(f"error: {method.name}: {row['error']}")


def _emit(run: MethodsRun, report: MethodsReport) -> None:
    """The formats written whole at the end: json, markdown, latex and the table."""
    from ssimcli.console import data
    from ssimcli.io.formats import to_json
    from ssimcli.io.output import write_text
    from ssimcli.reports.batch_table import methods_table
    from ssimcli.reports.paper import PAPER_FORMATS, paper_table
    from ssimcli.reports.terminal import render_text, rich_console

    if run.output_format in ("csv", "jsonl"):
        return
    if run.output_format == "table":
        counts = {name: r.counts for name, r in report.reports.items()}
        renderable = methods_table(report.summaries(), counts, run.metrics)
        if run.output:
            write_text(run.output, render_text(renderable))
        else:
            rich_console().print(renderable)
        return
    if run.output_format in PAPER_FORMATS:
        text = paper_table(run.output_format, report.summaries(), run.metrics, run.decimals)
    else:
        text = to_json(report.to_json(run.thresholds))
    if run.output:
        write_text(run.output, text)
    else:
        data(text)


def _tell(run: MethodsRun, report: MethodsReport, say: Any) -> None:
    """Per method on stderr: its summary lines (formats without one), failures and counts."""
    from ssimcli.reports.batch_table import counts_line, summary_lines
    from ssimcli.reports.compare import describe_check

    for name, batch_report in report.reports.items():
        if run.output_format not in ("table", "json"):
            for line in summary_lines(batch_report.summary):
                say(f"{name}: {line}")
        failures = list(batch_report.tally.failed.items())
        for pair, checks in failures[:STDERR_LINES]:
            say(f"threshold failed: {name}: {pair}: "
                + "; ".join(describe_check(c) for c in checks))
        if len(failures) > STDERR_LINES:
            say(f"threshold failed: {name}: ... and {len(failures) - STDERR_LINES} more pairs")
        say(f"batch: {name}: {counts_line(batch_report.counts)}")
    if report.scored_now and report.elapsed > 0:
        say(f"batch: {report.scored_now / report.elapsed:.2f} pairs/s")
