"""Typed errors. The CLI turns each into one line on stderr and an exit code, in one place."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

from ssimcli.metrics.errors import ImageTooSmallError, ParameterError

__all__ = ["ExitCode", "ImageTooSmallError", "InputError", "OutputError", "PairError", "ParameterError",
           "SettingError", "SizeMismatch", "SsimCliError", "UsageError", "worst_exit_code"]


class ExitCode(IntEnum):
    """The exit-code contract of every command (documented in ``--help`` and the README)."""

    OK = 0
    THRESHOLD_FAILED = 1
    BAD_INPUT = 2
    #: A bug in ssim-l1 (an unexpected exception): never 1, which would read as "regressed".
    INTERNAL_ERROR = 3
    INTERRUPTED = 130
    #: stdout closed by its reader (``| head``): 128 + SIGPIPE, as a shell reports it.
    BROKEN_PIPE = 141


class SsimCliError(Exception):
    """Base class of every error the tool reports to a user; ``str()`` is the one-line message."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class UsageError(SsimCliError, ParameterError):
    """An option or parameter value that cannot be used. The engine raises its own
    `ParameterError` (this class's base), which the command line reports the same way."""


class InputError(SsimCliError):
    """A file that cannot be used as an input, with the file named in the message."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class PairError(SsimCliError):
    """Two inputs that cannot be compared with each other (size or channel mismatch)."""

    def __init__(self, reference: str | Path, candidate: str | Path, problem: str) -> None:
        self.reference = str(reference)
        self.candidate = str(candidate)
        self.problem = problem
        super().__init__(f"{self.candidate}: {problem} (reference {self.reference})")


class SizeMismatch(PairError):
    """The two images differ in size: ``check`` reports it as a regression, not bad input."""

    def __init__(self, reference: str | Path, candidate: str | Path,
                 reference_size: tuple[int, int], candidate_size: tuple[int, int]) -> None:
        self.reference_size = reference_size
        self.candidate_size = candidate_size
        super().__init__(reference, candidate,
                         f"size mismatch: {candidate_size[0]}x{candidate_size[1]} vs reference "
                         f"{reference_size[0]}x{reference_size[1]}")


class OutputError(SsimCliError):
    """An output path that cannot or must not be written (for example, it is an input)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


def worst_exit_code(codes: list[ExitCode]) -> ExitCode:
    """The exit code of a run from its parts: bad input (2) beats a regression (1) beats OK."""
    for code in (ExitCode.INTERNAL_ERROR, ExitCode.BAD_INPUT, ExitCode.THRESHOLD_FAILED):
        if code in codes:
            return code
    return ExitCode.OK


class SettingError(UsageError):
    """A bad value of one named setting, said in library terms (``data_range must be ...``).

    The command line names the flag instead (``--data-range must be ...``): `for_cli`.
    """

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting} {problem}")

    def for_cli(self) -> str:
        return f"--{self.setting.replace('_', '-')} {self.problem}"
