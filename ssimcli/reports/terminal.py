"""Rich, in one place: the width policy for terminals and files, no markup from data."""

from __future__ import annotations

import sys
from typing import Any


def rich_console(*, stderr: bool = False, file: Any = None) -> Any:
    """The one way to make a Rich console: the width policy above, no markup from data."""
    from rich.console import Console

    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    terminal = file is None and stream.isatty()
    if terminal:
        return Console(file=stream, soft_wrap=False, highlight=False)
    # Off a terminal nothing is cut or wrapped: a very wide virtual width keeps names whole.
    return Console(file=stream, width=100_000, soft_wrap=True, no_color=True,
                   color_system=None, highlight=False)


def import_rich() -> None:
    """Import what `rich_console` and the tables need, ahead of time (e.g. while the decoders
    run: ~25 ms that would otherwise come after the scoring)."""
    import rich.console  # noqa: F401
    import rich.table  # noqa: F401


def render_text(renderable: Any) -> str:
    """A Rich renderable as plain text for a file (no colour, names whole)."""
    import io

    buffer = io.StringIO()
    console = rich_console(file=buffer)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
