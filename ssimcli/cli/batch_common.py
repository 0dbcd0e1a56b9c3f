"""What `batch` with one candidate tree and with several (methods) share: pairing reports,
output checks, draining rows."""

from __future__ import annotations

from typing import Any

# Beyond this many lines of one kind, stderr says "... and N more": the output has them all.
STDERR_LINES = 20


def drain(rows: Any, report: Any, sink: Any, say: Any, progress: bool, total: int,
          label: Any = None) -> None:
    """Take every row as it finishes: into the report and the sink, errors onto stderr, one
    step of the progress bar each. ``label(row)`` prefixes an error line (the method)."""
    from ssimcli.cli.progress import progress_bar

    with progress_bar(progress, total) as advance:
        say.printer = advance.print
        for row in rows:
            report.add(row)
            sink.write(row)
            if row["status"] == "error":
                prefix = f"{label(row)}: " if label is not None else ""
                say(f"error: {prefix}{row['error']}")
            advance()
        say.printer = None
    report.scored_now = total


def report_ambiguous(say: Any, ambiguous: list[str], cand_dir: str) -> None:
    """Name every reference the pattern could not pair unambiguously; then exit 2."""
    from ssimcli.errors import UsageError

    if not ambiguous:
        return
    for line in ambiguous[:STDERR_LINES]:
        say(f"ambiguous: {line}")
    if len(ambiguous) > STDERR_LINES:
        say(f"ambiguous: ... and {len(ambiguous) - STDERR_LINES} more")
    raise UsageError(f"--candidate-name: {len(ambiguous)} reference(s) match more than one file "
                     f"in {cand_dir} (or share one); make the pattern more specific, or narrow "
                     "the references with --glob")


def _report_unmatched(say: Any, names: list[str], kind: str, why: str) -> None:
    for name in names[:STDERR_LINES]:
        say(f"{kind}: {name} ({why})")
    if len(names) > STDERR_LINES:
        say(f"{kind}: ... and {len(names) - STDERR_LINES} more (all are in the output)")


def _check_outputs(pairing: Any, ref_dir: str, cand_dir: str, output: str | None,
                   maps_dir: str | None) -> None:
    """Never write over any file of either tree (paired or not), and keep maps out of the trees
    (they would pair next time)."""
    from ssimcli.io.guard import map_files, refuse_folder_inside_trees, refuse_outputs_over_inputs

    names = [pair.name for pair in pairing.pairs]
    refuse_outputs_over_inputs([output, *map_files(maps_dir, names)], (ref_dir, cand_dir))
    refuse_folder_inside_trees(maps_dir, "--maps", (ref_dir, cand_dir))
