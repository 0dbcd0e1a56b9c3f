"""What a batch run tells people: the summary table (stdout) and the summary lines (stderr)."""

from __future__ import annotations

from typing import Any

from ssimcli.console import printable
from ssimcli.vocabulary import METRIC_LABELS


def _format(value: float | None) -> str:
    from ssimcli.reports.compare import format_score

    return format_score(value)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """One line per metric for stderr (csv/jsonl runs, whose rows carry no summary)."""
    lines = []
    for metric, entry in summary.items():
        worst = f", worst {entry['worst'][0]['name']}" if entry["worst"] else ""
        lines.append(f"{metric}: mean {entry['mean']:.6f} median {entry['median']:.6f} "
                     f"std {entry['std']:.6f} min {entry['min']:.6f} max {entry['max']:.6f} "
                     f"over {entry['count']} pairs{infinite_note(entry)}{worst}")
    return lines


def infinite_note(entry: dict[str, Any]) -> str:
    """Said wherever a mean leaves out infinite values (identical images: PSNR inf)."""
    count = entry.get("infinite", 0)
    return f" (+{count} identical, infinite, left out)" if count else ""


def counts_line(counts: dict[str, int]) -> str:
    return (f"{counts['scored']} of {counts['pairs']} pairs scored, {counts['errors']} error(s), "
            f"{counts['failed']} below threshold, {counts['missing']} missing, "
            f"{counts['extra']} extra")


def batch_table(tally: Any, summary: dict[str, Any], missing: list[str], extra: list[str],
                counts: dict[str, int], worst_by: str, worst_n: int) -> Any:
    """The ``--format table`` renderable: per-metric statistics, the worst pairs, problems."""
    from rich.console import Group

    parts: list[Any] = [_statistics_table(summary)]
    ranked = tally.ranked(worst_by)[:worst_n] if worst_by in summary else []
    if ranked:
        parts.append(_worst_table(tally, list(summary), ranked, worst_by))
    parts.append(_problems(tally, missing, extra, counts, worst_n))
    return Group(*parts)


def _statistics_table(summary: dict[str, Any]) -> Any:
    from rich.table import Table

    stats = Table(title="Summary", title_justify="left")
    stats.add_column("metric")
    for column in ("pairs", "mean", "median", "std", "min", "max"):
        stats.add_column(column, justify="right")
    for metric, entry in summary.items():
        stats.add_row(METRIC_LABELS[metric], f"{entry['count']}{infinite_note(entry)}",
                      *(_format(entry[k]) for k in ("mean", "median", "std", "min", "max")))
    return stats


def _worst_table(tally: Any, metrics: list[str], ranked: list[Any], worst_by: str) -> Any:
    from rich.table import Table
    from rich.text import Text

    worst = Table(title=f"Worst {len(ranked)} by {METRIC_LABELS[worst_by]}", title_justify="left")
    worst.add_column("#", justify="right")
    worst.add_column("name")
    for metric in metrics:
        worst.add_column(METRIC_LABELS[metric], justify="right")
    limits = bool(tally.thresholds.active())
    if limits:
        worst.add_column("thresholds")
    for rank, (name, _) in enumerate(ranked, 1):
        scores = tally.scores[name]
        cells: list[Any] = [str(rank), Text(printable(name)),
                            *(_format(scores.get(m)) for m in metrics)]
        if limits:
            cells.append("FAIL" if name in tally.failed else "pass")
        worst.add_row(*cells)
    return worst


def _problems(tally: Any, missing: list[str], extra: list[str], counts: dict[str, int],
              worst_n: int) -> Any:
    from rich.text import Text

    lines = Text()
    for name, message in sorted(tally.errors.items()):
        lines.append("error ", style="bold red")
        lines.append(f"{printable(name)}: {printable(message)}\n")
    for kind, names in (("missing", missing), ("extra", extra)):
        for name in names[:worst_n]:
            lines.append(f"{kind} ", style="yellow")
            lines.append(f"{printable(name)}\n")
        if len(names) > worst_n:
            lines.append(f"{kind} ... and {len(names) - worst_n} more\n", style="yellow")
    lines.append(counts_line(counts), style="dim")
    return lines


def methods_table(summaries: list[tuple[str, dict[str, Any]]], counts: dict[str, dict[str, int]],
                  metrics: list[str] | None) -> Any:
    """The ``--format table`` of several methods: one row per method, the number of pairs it
    scored and the mean of every metric (or of ``--metrics``, in that order), then its counts."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ssimcli.reports.paper import columns

    shown = columns(summaries, metrics)
    table = Table(title="Mean per method", title_justify="left")
    table.add_column("method")
    table.add_column("pairs", justify="right")
    for metric in shown:
        table.add_column(METRIC_LABELS[metric], justify="right")
    for name, summary in summaries:
        means = [_format(summary[m]["mean"]) if m in summary else _format(None) for m in shown]
        table.add_row(Text(printable(name)), str(counts[name]["scored"]), *means)
    lines = Text()
    for name, _ in summaries:
        lines.append(f"{printable(name)}: {counts_line(counts[name])}\n", style="dim")
        for metric in shown:
            note = infinite_note(summaries_entry(summaries, name, metric))
            if note:
                lines.append(f"{printable(name)}: {metric}{note}\n", style="dim")
    return Group(table, lines)


def summaries_entry(summaries: list[tuple[str, dict[str, Any]]], name: str, metric: str
                    ) -> dict[str, Any]:
    return dict(summaries).get(name, {}).get(metric, {})
