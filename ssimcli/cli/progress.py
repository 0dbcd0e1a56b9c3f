"""The progress bar of `batch` (pairs) and `video` (frames): on stderr, only when a person is
watching a terminal."""

from __future__ import annotations

import sys
from typing import Any

from ssimcli.console import printable, say


class NoProgress:
    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __call__(self) -> None:
        pass

    def advance(self) -> None:
        pass

    def total(self, total: int | None) -> None:
        pass

    def stop(self) -> None:
        pass

    def print(self, line: str) -> None:
        say(line)


class RichProgress:
    """Done of total (``None``: not known yet), items per second, elapsed time and ETA."""

    def __init__(self, total: int | None, unit: str = "pairs") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from ssimcli.reports.terminal import rich_console

        self.console = rich_console(stderr=True)
        self.progress = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
            rate_column(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task(unit, total=total)
        self.running = False

    def __enter__(self) -> RichProgress:
        self.progress.start()
        self.running = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __call__(self) -> None:
        self.progress.advance(self.task)

    def advance(self) -> None:
        self.progress.advance(self.task)

    def total(self, total: int | None) -> None:
        self.progress.update(self.task, total=total)

    def stop(self) -> None:
        """Take the bar off the screen (before a closing message); entering again is not needed."""
        if self.running:
            self.progress.stop()
            self.running = False

    def print(self, line: str) -> None:
        self.console.print(printable(line), markup=False, highlight=False, soft_wrap=True)


def rate_column() -> Any:
    """Pairs per second (a factory: Rich is imported only when a bar is shown)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("?/s" if speed is None else f"{speed:.1f}/s")

    return RateColumn()


def progress_bar(enabled: bool, total: int | None, unit: str = "pairs") -> NoProgress | RichProgress:
    # A bar is for a person watching; in a pipe or a log file it would only be noise.
    if enabled and (total is None or total > 0) and sys.stderr.isatty():
        return RichProgress(total, unit)
    return NoProgress()


class Say:
    """One line to stderr, through the progress bar's console while it is shown."""

    def __init__(self) -> None:
        self.printer: Any = None

    def __call__(self, line: str) -> None:
        if self.printer is not None:
            self.printer(line)
        else:
            say(line)
