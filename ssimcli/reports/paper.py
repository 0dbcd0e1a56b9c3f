"""Paper-ready tables of means: Markdown and LaTeX, one row per method, the best in bold.

The numbers are the ``mean`` of each method's summary (`ssimcli.pipeline.runners.Tally.summary`), the same
as ``--format json`` gives, rounded to ``decimals`` places (by default 2 for PSNR in dB and 4
for the rest, as SR papers print them). The best value of each column is bold; "best" is judged
on the printed (rounded) values, so two methods that print the same are both bold.
"""

from __future__ import annotations

import math
from typing import Any

from ssimcli.errors import SettingError
from ssimcli.vocabulary import HIGHER_IS_BETTER, METRIC_LABELS, METRICS

#: Decimal places when ``--decimals`` is not given: dB to 0.01, similarities to 1e-4.
DEFAULT_DECIMALS = 4
METRIC_DECIMALS = {"psnr": 2}
PAPER_FORMATS = ("markdown", "latex")
_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                   "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "\\": r"\textbackslash{}"}

Summaries = list[tuple[str, dict[str, Any]]]


def parse_metrics(text: str | None) -> list[str] | None:
    """``"ssim,psnr"`` -> ``["ssim", "psnr"]`` (the columns, in that order); ``None`` stays.

    Raises
    ------
    SettingError
        For a name that is not a metric, or a metric named twice.
    """
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise SettingError("metrics", f"must be a comma-separated list of {', '.join(METRICS)}; "
                                      f"got {text!r}")
    if len(set(names)) != len(names):
        raise SettingError("metrics", f"names a metric twice: {text!r}")
    return names


def columns(summaries: Summaries, metrics: list[str] | None) -> list[str]:
    """The metrics to show: those asked for, else every metric any method has."""
    if metrics is not None:
        return metrics
    return [m for m in METRICS if any(m in summary for _, summary in summaries)]


def places(metric: str, decimals: int | None) -> int:
    return decimals if decimals is not None else METRIC_DECIMALS.get(metric, DEFAULT_DECIMALS)


def format_mean(value: float, digits: int) -> str:
    return "inf" if value == math.inf else f"{value:.{digits}f}"


def table_cells(summaries: Summaries, metrics: list[str], decimals: int | None
                ) -> list[tuple[str, list[tuple[str, bool] | None]]]:
    """Per method: its name and, per metric, ``(printed mean, is best)`` or ``None`` (absent)."""
    printed: dict[str, list[str | None]] = {}
    for metric in metrics:
        digits = places(metric, decimals)
        printed[metric] = [format_mean(s[metric]["mean"], digits) if metric in s else None
                           for _, s in summaries]
    best = {metric: _best(values, HIGHER_IS_BETTER[metric]) for metric, values in printed.items()}
    rows = []
    for index, (name, _) in enumerate(summaries):
        cells: list[tuple[str, bool] | None] = []
        for metric in metrics:
            text = printed[metric][index]
            cells.append(None if text is None else (text, text == best[metric]))
        rows.append((name, cells))
    return rows


def _best(values: list[str | None], higher_is_better: bool) -> str | None:
    numbers = [(float(v), v) for v in values if v is not None]
    if not numbers:
        return None
    chosen = max(numbers) if higher_is_better else min(numbers)
    return chosen[1]


def markdown_table(summaries: Summaries, metrics: list[str] | None = None,
                   decimals: int | None = None) -> str:
    """A GitHub-flavoured Markdown table: ``| Method | SSIM | PSNR (dB) |``, best in ``**bold**``."""
    shown = columns(summaries, metrics)
    lines = ["| Method | " + " | ".join(METRIC_LABELS[m] for m in shown) + " |",
             "|:--|" + "--:|" * len(shown)]
    for name, cells in table_cells(summaries, shown, decimals):
        texts = [_markdown_cell(cell) for cell in cells]
        lines.append(f"| {_markdown_escape(name)} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


def _markdown_cell(cell: tuple[str, bool] | None) -> str:
    if cell is None:
        return "—"
    text, best = cell
    return f"**{text}**" if best else text


def _markdown_escape(text: str) -> str:
    from ssimcli.console import printable

    return printable(text).replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


def latex_table(summaries: Summaries, metrics: list[str] | None = None,
                decimals: int | None = None) -> str:
    """A ``tabular`` with booktabs rules (``\\usepackage{booktabs}``), best in ``\\textbf``."""
    shown = columns(summaries, metrics)
    header = " & ".join(["Method", *(_latex_escape(METRIC_LABELS[m]) for m in shown)])
    lines = [r"\begin{tabular}{l" + "r" * len(shown) + "}", r"\toprule", header + r" \\",
             r"\midrule"]
    for name, cells in table_cells(summaries, shown, decimals):
        texts = [_latex_cell(cell) for cell in cells]
        lines.append(" & ".join([_latex_escape(name), *texts]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _latex_cell(cell: tuple[str, bool] | None) -> str:
    if cell is None:
        return "--"
    text, best = cell
    text = r"$\infty$" if text == "inf" else text
    return rf"\textbf{{{text}}}" if best else text


def _latex_escape(text: str) -> str:
    from ssimcli.console import printable

    return "".join(_LATEX_SPECIALS.get(char, char) for char in printable(text))


def paper_table(output_format: str, summaries: Summaries, metrics: list[str] | None,
                decimals: int | None) -> str:
    """The ``--format markdown`` or ``--format latex`` text."""
    if output_format == "latex":
        return latex_table(summaries, metrics, decimals)
    return markdown_table(summaries, metrics, decimals)
