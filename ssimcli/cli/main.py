"""The ``ssim-l1`` command. Subcommands load lazily so that ``--help`` and ``--version`` start
without importing NumPy, SciPy or imageio."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from ssimcli.cli.usage import EXIT_CODES_HELP, OneLineGroup

COMMANDS = {
    "compare": ("ssimcli.cli.compare", "compare", "Compare two images: SSIM, CS, L1, mix."),
    "batch": ("ssimcli.cli.batch", "batch", "Score every pair of two directory trees."),
    "check": ("ssimcli.cli.check", "check", "CI regression check of candidates against a baseline."),
    "video": ("ssimcli.cli.video", "video", "Compare two videos frame by frame: per-plane SSIM, PSNR, L1."),
}


class LazyGroup(OneLineGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    @staticmethod
    def _available(name: str) -> bool:
        return importlib.util.find_spec(COMMANDS[name][0]) is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._available(name):
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ssimcli._version import __version__
    from ssimcli.metrics.native import describe

    click.echo(f"ssim-l1 {__version__} ({describe()})")
    ctx.exit()


@click.group(cls=LazyGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and the engine in use (the native kernel or OpenCV), and exit.")
@click.option("--debug", is_flag=True, default=False,
              help="Print the traceback of an internal error (also: SSIM_L1_DEBUG=1).")
def cli(debug: bool) -> None:
    """How different are two images? SSIM, its CS term, Gaussian-weighted L1, their mix and
    MS-SSIM, per pixel and as means, with tables, JSON, CSV and heatmaps."""
    if debug:
        import os

        os.environ["SSIM_L1_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> Any:
    import os

    # The engine's own threads use every core, and it keeps BLAS single-threaded while it
    # runs; the pool OpenBLAS would start (one thread per core, spinning at NumPy's import,
    # ~0.1 s of CPU measured here) would only compete with the decoders. Set before NumPy is
    # imported; a user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return cli.main(args=argv, prog_name="ssim-l1")
