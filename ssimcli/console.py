"""The console: stdout carries data, stderr carries people's messages; names are data.

* `printable` is applied to every file name and message that reaches a terminal, a log, an
  annotation or a report: control characters (C0, DEL, C1) and bytes that are not UTF-8 (held as
  surrogate escapes by ``os.fsdecode``) are written as visible ``\\xNN`` escapes, so a name can
  never recolour a terminal, set its title, start a GitHub workflow command or break a CSV row.
* One width policy for Rich output: on a terminal, its width (paths are never broken mid-word:
  they fold as whole cells); anywhere else (pipes, CI logs, files) no width limit at all, so
  names stay whole and greppable.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

# C0 controls, DEL, C1 controls, and lone surrogates (undecodable bytes from os.fsdecode).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code > 0xFF:
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"


def printable(text: object) -> str:
    """``text`` with every control character and undecodable byte escaped visibly (``\\x1b``)."""
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return _UNPRINTABLE.sub(_escape, str(text))


def say(message: str) -> None:
    """One line for people, on stderr (already-made text: callers escape the names they embed)."""
    _write(sys.stderr, printable(message) + "\n")


def error(message: str) -> None:
    say(f"error: {message}")


def warning(message: str) -> None:
    say(f"warning: {message}")


def data(text: str) -> None:
    """Payload on stdout, as it is (JSON, CSV and tables are escaped by their writers)."""
    _write(sys.stdout, text)


def _write(stream: Any, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except UnicodeEncodeError:
        stream.buffer.write(text.encode("utf-8", "backslashreplace"))
        stream.flush()


