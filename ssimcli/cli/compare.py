"""``ssim-l1 compare REFERENCE CANDIDATE``."""

from __future__ import annotations

import sys
from typing import Any

import click

from ssimcli.cli import common


@click.command(cls=common.Command, epilog=common.EXIT_CODES_HELP)
@click.argument("reference", type=common.PathText())
@click.argument("candidate", type=common.PathText())
@common.metric_options
@common.threshold_options
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True, help="What stdout (or --output) carries.")
@click.option("--output", "-o", type=common.PathText("file"), default=None,
              help="Write the result to FILE instead of stdout ('-': stdout).")
@click.option("--maps", "maps_dir", type=common.PathText("directory"), default=None,
              help="Write ssim/cs/l1/ssim_l1 maps to DIR: raw float32 .npy and heatmap .png.")
@common.map_options
@common.handle_errors
def compare(reference: str, candidate: str, output_format: str, output: str | None,
            maps_dir: str | None, **kwargs: Any) -> None:
    """Compare REFERENCE (ground truth) with CANDIDATE.

    Prints SSIM, CS, Gaussian-weighted L1 and the mixed score alpha*(1-SSIM)+(1-alpha)*L1,
    per channel and overall, with the parameters in force.
    """
    from ssimcli.console import data, say
    from ssimcli.io.guard import map_files, refuse_outputs_over_inputs
    from ssimcli.io.output import is_stdout, lock_output, write_text
    from ssimcli.pipeline.pair import ERROR, PairJob, Rules, score_pair
    from ssimcli.reports.compare import compare_table, compare_text, describe_check
    from ssimcli.reports.terminal import import_rich, rich_console

    options, thresholds = common.build_options(kwargs)
    map_request = common.build_map_request(kwargs, maps_dir)
    common.check_output_folder(maps_dir, "--maps")
    refuse_outputs_over_inputs([output, *map_files(maps_dir)], (reference, candidate))
    if output and not is_stdout(output):
        lock_output(output)
    job = PairJob(candidate, reference, candidate, options, Rules.from_thresholds(thresholds),
                  maps_dir=maps_dir, map_request=map_request)
    outcome = score_pair(job, while_decoding=import_rich if output_format == "table" else None)
    if outcome.status == ERROR:
        from ssimcli.cli.common import error

        error(outcome.error or candidate)
        sys.exit(int(outcome.exit_code))
    record = dict(outcome.record)
    if outcome.checks:
        record["thresholds"] = outcome.checks
        record["passed"] = outcome.status != "failed"
    text = compare_text(record, output_format)
    if output and not is_stdout(output):
        write_text(output, text if text is not None
                   else _table_text(compare_table(record, outcome.checks)))
    elif text is not None:
        data(text)
    else:
        rich_console().print(compare_table(record, outcome.checks))
    for check in outcome.checks:
        if not check["passed"]:
            say(f"threshold failed: {describe_check(check)}")
    sys.exit(int(outcome.exit_code))


def _table_text(renderable: Any) -> str:
    from ssimcli.reports.terminal import render_text

    return render_text(renderable)
