"""What every command shares before any of its work is imported: the exit-code text of
``--help``, one ``error:`` line for a bad command line, and quiet third-party libraries.

Only Click: ``ssim-l1 --help`` loads this and nothing heavier (`ssimcli.cli.common` has the
options built from the vocabulary).
"""

from __future__ import annotations

import sys
from typing import Any

import click

EXIT_CODES_HELP = (
    "Exit codes: 0 all scores within thresholds; 1 a threshold failed (an image regressed); "
    "2 bad usage or bad input (missing, unreadable, mismatched files); 3 an internal error "
    "(a bug: please report it); 130 interrupted; 141 stdout closed by its reader."
)


class OneLineUsageError(click.ClickException):
    """A bad command line as one ``error:`` line (exit 2), not Click's usage block."""

    exit_code = 2

    def __init__(self, message: str, command_path: str) -> None:
        super().__init__(message)
        self.command_path = command_path

    def show(self, file: Any = None) -> None:
        from ssimcli.console import printable

        text = " ".join(self.format_message().split())
        click.echo(f"error: {printable(text)} (see '{printable(self.command_path)} --help')",
                   file=file or sys.stderr)


#: Libraries whose log records would reach stderr through Python's last-resort handler
#: (tifffile says "invalid page offset" for a cut multi-page TIFF before our own error line).
QUIET_LOGGERS = ("tifffile", "imageio", "imagecodecs", "PIL", "matplotlib", "av", "numcodecs")


def quiet_library_output() -> None:
    """One line per bad input: the decoders' own log records go nowhere (our ``error:`` line
    says what failed), and a Python warning becomes one ``warning:`` line, its text escaped."""
    import logging
    import warnings

    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False

    def one_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
        from ssimcli.console import warning

        warning(" ".join(str(message).split()))

    warnings.showwarning = one_line


class OneLineUsage(click.Command):
    """A bad command line (an option value, a missing argument, an unknown option) is one
    ``error:`` line naming the option, exit 2, instead of Click's usage block."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, info_name) from None


def _one_line(exc: click.UsageError, info_name: str | None) -> OneLineUsageError:
    where = exc.ctx.command_path if exc.ctx is not None else (info_name or "ssim-l1")
    return OneLineUsageError(exc.format_message(), where)


class Command(OneLineUsage):
    """Every ssim-l1 command: one line per bad command line (`OneLineUsage`); libraries print
    nothing of their own (`quiet_library_output`)."""

    def invoke(self, ctx: click.Context) -> Any:
        quiet_library_output()
        return super().invoke(ctx)


class OneLineGroup(OneLineUsage, click.Group):
    """The ``ssim-l1`` group: an unknown command (or a subcommand's Click usage error) is one
    ``error:`` line too."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, ctx.info_name) from None
