"""``ssim-l1 compare REFERENCE CANDIDATE``."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..cli import EXIT_CODES_HELP
from ..cli_common import build_options, handle_errors, metric_options, threshold_options


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("reference", type=click.Path(dir_okay=True))
@click.argument("candidate", type=click.Path(dir_okay=True))
@metric_options
@threshold_options
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True, help="What stdout (or --output) carries.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the result to FILE instead of stdout.")
@click.option("--maps", "maps_dir", type=click.Path(file_okay=False), default=None,
              help="Write ssim/cs/l1/ssim_l1 maps to DIR: raw float32 .npy and heatmap .png.")
@handle_errors
def compare(reference: str, candidate: str, output_format: str, output: str | None,
            maps_dir: str | None, **kwargs: Any) -> None:
    """Compare REFERENCE (ground truth) with CANDIDATE.

    Prints SSIM, CS, Gaussian-weighted L1 and the mixed score alpha*(1-SSIM)+(1-alpha)*L1,
    per channel and overall, with the parameters in force.
    """
    from ..api import compare_files
    from ..writers import (
        atomic_write_text,
        compare_table,
        describe_check,
        guard_not_input,
        pair_csv_row,
        render_to_text,
        to_csv,
        to_json,
        write_maps,
    )

    options, thresholds = build_options(kwargs)
    inputs = (reference, candidate)
    if output:
        guard_not_input(output, inputs)
    result = compare_files(reference, candidate, options, return_maps=maps_dir is not None)
    record = result.to_dict()
    checks = thresholds.evaluate(result.scores())
    if checks:
        record["thresholds"] = checks
        record["passed"] = all(c["passed"] for c in checks)
    if maps_dir is not None and result.maps is not None:
        write_maps(result.maps, maps_dir, inputs)
    if output_format == "json":
        text = to_json(record)
    elif output_format == "csv":
        text = to_csv([pair_csv_row(record)], ("reference", "candidate"))
    else:
        text = None
    if output:
        atomic_write_text(output, text if text is not None
                          else render_to_text(compare_table(record, checks)))
    elif text is not None:
        click.echo(text, nl=False)
    else:
        from rich.console import Console

        Console().print(compare_table(record, checks))
    failed = [c for c in checks if not c["passed"]]
    for check in failed:
        click.echo(f"threshold failed: {describe_check(check)}", err=True)
    if failed:
        sys.exit(1)
