"""``ssim-l1 batch REF_DIR CAND_DIR [CAND_DIR ...]``: score every pair of directory trees."""

from __future__ import annotations

import sys
from typing import Any

import click

from ssimcli.cli.batch_common import STDERR_LINES, _check_outputs, _report_unmatched, drain, report_ambiguous
from ssimcli.cli.common import (
    EXIT_CODES_HELP,
    Command,
    PathText,
    build_map_request,
    build_options,
    check_output_folder,
    handle_errors,
    map_options,
    metric_options,
    threshold_options,
)
from ssimcli.reports.paper import PAPER_FORMATS, parse_metrics
from ssimcli.vocabulary import METRICS

FORMATS = ("table", "json", "csv", "jsonl", "markdown", "latex")
METRIC_CHOICES = METRICS

BATCH_EPILOG = (
    EXIT_CODES_HELP + " In batch: 2 when any pair could not be scored (every other pair is "
    "still scored), or with --strict when a file has no partner; else 1 when any pair fails a "
    "threshold; else 0."
)


@click.command(cls=Command, epilog=BATCH_EPILOG)
@click.argument("ref_dir", type=PathText("directory"))
@click.argument("cand_dirs", nargs=-1, required=True, type=PathText("directory"),
                metavar="CAND_DIR...")
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
@click.option("--candidate-name", default=None, metavar="PATTERN",
              help="Candidate file name from the reference's: '{stem}x4_SR{ext}' pairs 0801.png "
                   "with 0801x4_SR.png; '*' matches any text. Not with --suffix/--candidate-ext.")
@click.option("--strict", is_flag=True,
              help="A file on one side only (missing/extra) is an error: exit 2 before scoring.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table",
              show_default=True,
              help="What stdout (or --output) carries; csv and jsonl stream; markdown and latex: "
                   "a paper table of each method's means.")
@click.option("--metrics", "metric_list", default=None, metavar="LIST",
              help="Columns of the markdown/latex/methods table, in order: 'ssim,psnr' "
                   "[every metric scored].")
@click.option("--decimals", type=click.IntRange(min=0, max=12), default=None, metavar="N",
              help="Decimal places in the markdown/latex table [2 for PSNR, 4 for the rest].")
@click.option("--output", "-o", type=PathText("file"), default=None,
              help="Write to FILE instead of stdout (csv/jsonl rows are flushed as pairs finish).")
@click.option("--resume", is_flag=True,
              help="Keep the pairs already scored in --output (csv or jsonl) and score the rest.")
@click.option("--worst", "worst_n", type=click.IntRange(min=0), default=10, show_default=True,
              metavar="N", help="How many worst pairs the table and the summary list.")
@click.option("--worst-by", type=click.Choice(METRIC_CHOICES), default="ssim", show_default=True,
              help="The metric that ranks pairs for --worst and --maps-worst.")
@click.option("--maps", "maps_dir", type=PathText("directory"), default=None, metavar="DIR",
              help="Write each pair's maps (.npy and heatmap .png) to DIR/<relative path>/.")
@click.option("--maps-worst", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --maps: maps for the N worst pairs only (by --worst-by), after scoring.")
@map_options
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes [the usable CPU cores].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster: tcp://host:8786, or 'local' for a LocalCluster of "
                   "--jobs workers. Needs the [dask] extra.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr (only ever shown when stderr is a terminal).")
@handle_errors
def batch(ref_dir: str, cand_dirs: tuple[str, ...], glob: str | None, suffix: str,
          candidate_ext: str | None, candidate_name: str | None, strict: bool,
          output_format: str, metric_list: str | None, decimals: int | None, output: str | None,
          resume: bool, worst_n: int, worst_by: str, maps_dir: str | None,
          maps_worst: int | None, jobs: int | None, scheduler: str | None, progress: bool,
          **kwargs: Any) -> None:
    """Score every image in REF_DIR (ground truth) against its counterpart in CAND_DIR.

    Files pair by their path relative to each directory, recursively (nested/a.png with
    nested/a.png); the naming options below cover the usual differences. Every pair is scored
    exactly as `ssim-l1 compare` scores it; thresholds apply to each pair. Several CAND_DIRs
    (one per method) give one row of means per method.
    """
    from ssimcli.cli.progress import Say
    from ssimcli.io.output import is_stdout, lock_output
    from ssimcli.pipeline.pairing import pair_directories
    from ssimcli.pipeline.runners import usable_cores
    from ssimcli.pipeline.summary import BatchReport, Tally

    options, thresholds = build_options(kwargs)
    map_request = build_map_request(kwargs, maps_dir)
    if is_stdout(output):
        output = None
    _check_usage(options, output, output_format, resume, maps_dir, maps_worst, worst_by)
    check_output_folder(maps_dir, "--maps")
    if scheduler and scheduler != "local":
        check_scheduler(scheduler)
    jobs = jobs or usable_cores()
    if scheduler and scheduler != "local":
        ref_dir, maps_dir = _absolute(ref_dir, maps_dir)
        cand_dirs = _absolute(*cand_dirs)
    naming: dict[str, Any] = {"glob": glob, "suffix": suffix, "candidate_ext": candidate_ext,
                              "candidate_name": candidate_name}
    metrics = parse_metrics(metric_list)
    if len(cand_dirs) > 1 or output_format in PAPER_FORMATS:
        from ssimcli.cli.batch_methods import MethodsRun, run_methods

        sys.exit(int(run_methods(MethodsRun(
            ref_dir, cand_dirs, naming, options, thresholds, strict, output_format, output,
            resume, worst_n, worst_by, maps_dir, maps_worst, jobs, scheduler, progress,
            metrics, decimals, map_request))))
    if metrics is not None or decimals is not None:
        from ssimcli.errors import UsageError

        raise UsageError("--metrics and --decimals shape the markdown and latex tables and the "
                         "table of several candidate trees; add --format markdown or latex")
    cand_dir = cand_dirs[0]

    pairing = pair_directories(ref_dir, cand_dir, **naming)
    _check_outputs(pairing, ref_dir, cand_dir, output, maps_dir)  # before a line is printed
    lock_output(output)
    say = Say()
    _report_pairing(say, pairing, ref_dir, cand_dir, strict)

    report = BatchReport(pairing=pairing, tally=Tally(worst_n=worst_n, thresholds=thresholds),
                         keep_rows=output_format == "json")
    kept, header = _previous_rows(resume, output, output_format, options, pairing, say)
    sink = _open_sink(output_format, output, options, header, resume)
    for row in kept.values():
        report.add(row, resumed=True)
        sink.write(row)
    sink.commit()

    todo = [p for p in pairing.pairs if p.name not in kept]
    _score(report, todo, options, maps_dir if maps_worst is None else None, map_request, jobs,
           scheduler, progress, sink, say)
    sink.close()
    if maps_dir is not None and maps_worst is not None:
        _maps_of_worst(report, pairing, options, maps_dir, map_request, maps_worst, worst_by, jobs,
                       scheduler, say)
    _emit(report, output_format, output, worst_by, worst_n, thresholds)
    _tell(report, output_format, say)
    sys.exit(int(report.exit_code))


def _check_usage(options: Any, output: str | None, output_format: str, resume: bool,
                 maps_dir: str | None, maps_worst: int | None, worst_by: str) -> None:
    from ssimcli.errors import UsageError

    if resume and (output is None or output_format not in ("csv", "jsonl")):
        raise UsageError("--resume needs --output FILE with --format csv or jsonl")
    if maps_worst is not None and maps_dir is None:
        raise UsageError("--maps-worst needs --maps DIR")
    if worst_by.startswith("ms_") and not options.ms_ssim:
        raise UsageError(f"--worst-by {worst_by} needs --ms-ssim")


_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


def check_scheduler(address: str) -> None:
    """A ``--scheduler`` address must read as ``[tcp://]host:port`` (port 1-65535) whose host
    resolves: anything else is bad usage, said in one line, before any work starts."""
    import socket

    from ssimcli.errors import UsageError

    def bad(problem: str) -> UsageError:
        return UsageError(f"--scheduler {address!r}: {problem}; give tcp://host:port or 'local'")

    scheme, _, location = address.rpartition("://")
    if scheme and scheme not in _SCHEMES:
        raise bad(f"unknown protocol {scheme!r} (known: {', '.join(_SCHEMES)})")
    host, colon, port_text = location.rpartition(":")
    if not colon or not host:
        raise bad("no host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise bad(f"port {port_text!r} is not a number from 1 to 65535")
    try:
        socket.getaddrinfo(host, int(port_text), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise bad(f"cannot resolve host {host!r} ({getattr(exc, 'strerror', None) or exc})") from None


def _absolute(*paths: str | None) -> tuple[Any, ...]:
    """Remote Dask workers do not share this shell's working directory: give them full paths."""
    import os

    return tuple(os.path.abspath(p) if p else None for p in paths)


def _report_pairing(say: Any, pairing: Any, ref_dir: str, cand_dir: str, strict: bool) -> None:
    from ssimcli.errors import UsageError

    _report_unmatched(say, pairing.missing, "missing", f"no candidate in {cand_dir}")
    _report_unmatched(say, pairing.extra, "extra", f"no reference in {ref_dir}")
    report_ambiguous(say, pairing.ambiguous, cand_dir)
    if strict and not pairing.complete:
        raise UsageError(f"--strict: {len(pairing.missing)} missing and {len(pairing.extra)} "
                         "extra file(s)")
    if not pairing.pairs:
        raise UsageError(f"no image pairs found in {ref_dir} and {cand_dir}")


def _previous_rows(resume: bool, output: str | None, output_format: str, options: Any,
                   pairing: Any, say: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    if not resume or output is None:
        return {}, []
    from ssimcli.pipeline.resume import read_previous, resumable

    previous, header = read_previous(output, output_format)
    kept = resumable(previous, {p.name for p in pairing.pairs}, options, output)
    if kept:
        say(f"resuming: {len(kept)} of {len(pairing.pairs)} pairs already in {output}")
    return kept, header


def _open_sink(output_format: str, output: str | None, options: Any, header: list[str],
               resume: bool) -> Any:
    from ssimcli.io.sinks import make_sink

    return make_sink(output_format, output, options, header, staged=resume)


def _score(report: Any, todo: list[Any], options: Any, maps_dir: str | None, map_request: Any,
           jobs: int, scheduler: str | None, progress: bool, sink: Any, say: Any) -> None:
    import time

    from ssimcli.pipeline.runners import make_tasks, pair_threads, run_tasks

    started = time.perf_counter()
    # Workers start here, before the progress bar's thread exists (see batch.run_local); no
    # more workers than pairs, and none at all for a single pair.
    jobs = max(1, min(jobs, len(todo)))
    tasks = make_tasks(todo, options, maps_dir, map_request, threads=pair_threads(jobs, scheduler))
    rows = run_tasks(tasks, jobs=jobs, scheduler=scheduler, device=options.device)
    drain(rows, report, sink, say, progress, len(todo))
    report.elapsed = time.perf_counter() - started


def _maps_of_worst(report: Any, pairing: Any, options: Any, maps_dir: str, map_request: Any,
                   maps_worst: int, worst_by: str, jobs: int, scheduler: str | None,
                   say: Any) -> None:
    from ssimcli.pipeline.runners import make_tasks, pair_threads, run_tasks

    worst = {name for name, _ in report.tally.ranked(worst_by)[:maps_worst]}
    chosen = [p for p in pairing.pairs if p.name in worst]
    jobs = max(1, min(jobs, len(chosen)))
    tasks = make_tasks(chosen, options, maps_dir, map_request, threads=pair_threads(jobs, scheduler))
    for row in run_tasks(tasks, jobs=jobs, scheduler=scheduler, device=options.device):
        if row["status"] == "error":
            say(f"error: {row['error']}")


def _emit(report: Any, output_format: str, output: str | None, worst_by: str, worst_n: int,
          thresholds: Any) -> None:
    """The formats written whole at the end: json and table."""
    from ssimcli.console import data
    from ssimcli.io.formats import to_json
    from ssimcli.io.output import write_text
    from ssimcli.reports.batch_table import batch_table
    from ssimcli.reports.terminal import render_text, rich_console

    if output_format == "json":
        text = to_json(report.to_json(thresholds))
        if output:
            write_text(output, text)
        else:
            data(text)
    elif output_format == "table":
        renderable = batch_table(report.tally, report.summary, report.pairing.missing,
                                 report.pairing.extra, report.counts, worst_by, worst_n)
        if output:
            write_text(output, render_text(renderable))
        else:
            rich_console().print(renderable)


def _tell(report: Any, output_format: str, say: Any) -> None:
    """The person's summary on stderr (csv/jsonl rows carry none), failures, counts and rate."""
    from ssimcli.reports.batch_table import counts_line, summary_lines
    from ssimcli.reports.compare import describe_check

    if output_format in ("csv", "jsonl"):
        for line in summary_lines(report.summary):
            say(line)
    failures = list(report.tally.failed.items())
    for name, checks in failures[:STDERR_LINES]:
        say(f"threshold failed: {name}: " + "; ".join(describe_check(c) for c in checks))
    if len(failures) > STDERR_LINES:
        say(f"threshold failed: ... and {len(failures) - STDERR_LINES} more pairs")
    rate = ""
    if report.scored_now and report.elapsed > 0:
        rate = f", {report.scored_now / report.elapsed:.2f} pairs/s"
    say(f"batch: {counts_line(report.counts)}{rate}")


