"""Typed errors. The CLI turns each into one line on stderr and an exit code, in one place."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """The exit-code contract of every command (documented in ``--help`` and the README)."""

    OK = 0
    THRESHOLD_FAILED = 1
    BAD_INPUT = 2


class SsimCliError(Exception):
    """Base class of every error the tool reports to a user; ``str()`` is the one-line message."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class UsageError(SsimCliError, ValueError):
    """An option or parameter value that cannot be used."""


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


class OutputError(SsimCliError):
    """An output path that cannot or must not be written (for example, it is an input)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")
