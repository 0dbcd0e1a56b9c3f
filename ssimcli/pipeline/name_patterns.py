"""``--candidate-name``: candidate file names built from the reference's, for dataset layouts.

Super-resolution benchmarks name outputs by adding a tag to the ground truth's stem:
DIV2K's ``0801.png`` becomes ``0801x4_SR.png``, Set5's ``baby.png`` becomes
``baby_EDSR_x4.png``. A pattern says how: ``{stem}`` is the reference's file name without its
extension, ``{ext}`` its extension (dot included, matched in any case), ``*`` any run of
characters within the file name (``{stem}_*_x4{ext}`` accepts any method tag). The folder of a
candidate is always the reference's folder (relative to each tree).

A pattern is ambiguous for a pair when one reference matches several candidates or one candidate
matches several references; `ssimcli.pipeline.pairing` reports those instead of guessing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ssimcli.errors import SettingError

STEM, EXT = "{stem}", "{ext}"
SETTING = "candidate_name"


@dataclass(frozen=True)
class NamePattern:
    """A parsed ``--candidate-name`` pattern.

    Attributes
    ----------
    text : str
        The pattern as given.
    prefix : str
        The literal text before ``{stem}``.
    tail : re.Pattern
        What follows ``{stem}``: literals, ``*`` wildcards and ``{ext}`` (group ``ext``).
    """

    text: str
    prefix: str
    tail: re.Pattern[str]

    @property
    def uses_ext(self) -> bool:
        return EXT in self.text

    @classmethod
    def parse(cls, text: str, image_extensions: tuple[str, ...]) -> NamePattern:
        """Check and compile ``text``; `SettingError` (``--candidate-name ...``) when unusable."""
        _check_placeholders(text)
        prefix, tail = text.split(STEM)
        if "*" in prefix:
            raise SettingError(SETTING, f"must not have '*' before {STEM}; got {text!r}")
        if EXT not in text and not tail.lower().endswith(image_extensions):
            raise SettingError(SETTING, f"must end with {EXT} or an image extension "
                                        f"(.png, .jpg, ...); got {text!r}")
        return cls(text, prefix, re.compile(_tail_regex(tail)))

    def splits(self, filename: str) -> Iterator[tuple[str, str | None]]:
        """Every ``(stem, ext)`` the pattern can read ``filename`` as (``ext`` is ``None``
        without ``{ext}``), shortest stem first. More than one means the name is ambiguous."""
        if not filename.startswith(self.prefix):
            return
        rest = filename[len(self.prefix):]
        for end in range(1, len(rest) + 1):
            match = self.tail.fullmatch(rest[end:])
            if match:
                yield rest[:end], match.groupdict().get("ext")

    def ext_matches(self, found: str | None, reference_ext: str) -> bool:
        return found is None or found.lower() == reference_ext.lower()


def _check_placeholders(text: str) -> None:
    if "/" in text or os.sep in text:
        raise SettingError(SETTING, f"names a file, not a path: no '/' allowed; got {text!r}")
    if text.count(STEM) != 1:
        raise SettingError(SETTING, f"must contain {STEM} exactly once; got {text!r}")
    if text.count(EXT) > 1:
        raise SettingError(SETTING, f"may contain {EXT} at most once; got {text!r}")
    rest = text.replace(STEM, "").replace(EXT, "")
    if "{" in rest or "}" in rest:
        raise SettingError(SETTING, f"knows only {STEM}, {EXT} and '*'; got {text!r}")


def _tail_regex(tail: str) -> str:
    parts = []
    for piece in re.split(r"(\{ext\}|\*)", tail):
        if piece == EXT:
            parts.append(r"(?P<ext>\.[^./]+)")
        elif piece == "*":
            parts.append(r"[^/]*")
        else:
            parts.append(re.escape(piece))
    return "".join(parts)
