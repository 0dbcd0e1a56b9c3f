"""Settings of ``ssim-l1 check`` from ``[tool.ssim-l1]`` in ``pyproject.toml``.

Where the settings come from, strongest first:

1. options given on the command line;
2. the last ``[[tool.ssim-l1.overrides]]`` entry whose ``glob`` matches the image's relative path;
3. the ``[tool.ssim-l1]`` table itself;
4. the built-in defaults (`ssimcli.pipeline.check.DEFAULTS`).

The file is ``--config FILE`` when given (a ``pyproject.toml``, or any TOML file whose top level
holds the keys), else the nearest ``pyproject.toml`` with a ``[tool.ssim-l1]`` table found walking
up from the current directory. Keys are spelled as the command-line options (``min-ssim``);
underscores are accepted too. A path in the file (``mask``) is relative to the file's folder.
A limit set to ``false`` (or ``"off"``) is switched off, a default one included.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ssimcli.errors import UsageError
from ssimcli.vocabulary import METRIC_NAMES, OFF, RULE_SETTINGS, TABLE_SETTINGS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None  # type: ignore[assignment]

TABLE = "ssim-l1"

_FLOAT = (int, float)
# key -> accepted Python types (bool is excluded from numbers below), from the vocabulary
THRESHOLD_SETTINGS: dict[str, tuple[type, ...]] = {s.name: s.types for s in RULE_SETTINGS}
GLOBAL_SETTINGS: dict[str, tuple[type, ...]] = {s.name: s.types for s in TABLE_SETTINGS}
#: Limits that ``false`` (or ``"off"``) switches off, default ones included.
SWITCHABLE: frozenset[str] = frozenset(s.name for s in TABLE_SETTINGS if s.switchable)


def is_off(value: Any) -> bool:
    """``false`` or ``"off"``: how a file (or a plugin call) switches a limit off."""
    return value is False or (isinstance(value, str) and value.strip().lower() == OFF)


@dataclass(frozen=True)
class Override:
    """Settings that apply to images whose relative path matches ``glob``."""

    glob: str
    settings: dict[str, Any]

    def matches(self, name: str) -> bool:
        return glob_match(self.glob, name)


@dataclass(frozen=True)
class CheckConfig:
    """The parsed ``[tool.ssim-l1]`` table: ``path`` is ``None`` when no file was found."""

    path: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()

    def for_image(self, name: str) -> dict[str, Any]:
        """The file's settings for one image: the table, then every matching override in order."""
        merged = dict(self.settings)
        for override in self.overrides:
            if override.matches(name):
                merged.update(override.settings)
        return merged


def find_pyproject(start: str | Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.ssim-l1]`` table, from ``start`` upwards."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            data = _read_toml(candidate)
            if isinstance(data.get("tool"), dict) and TABLE in data["tool"]:
                return candidate
    return None


def load_config(path: str | Path | None = None, start: str | Path | None = None) -> CheckConfig:
    """Read ``path`` (``--config``) or the nearest pyproject.toml; `UsageError` on bad content.

    Parameters
    ----------
    path : str or Path, optional
        An explicit file; it must exist.
    start : str or Path, optional
        Where the search for ``pyproject.toml`` begins (the current directory by default).
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else (
                "not a regular file" if path.exists() else "no such file")
            raise UsageError(f"--config {path}: {what}")
        data = _read_toml(path)
        table = data["tool"].get(TABLE, {}) if isinstance(data.get("tool"), dict) else data
    else:
        found = find_pyproject(start)
        if found is None:
            return CheckConfig()
        path = found
        table = _read_toml(path)["tool"][TABLE]
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.{TABLE}] must be a table")
    table = dict(table)
    raw_overrides = table.pop("overrides", [])
    if not isinstance(raw_overrides, list):
        raise UsageError(f"{path}: overrides must be an array of tables ([[tool.{TABLE}.overrides]])")
    settings = _validate(table, GLOBAL_SETTINGS, path, f"[tool.{TABLE}]")
    overrides = []
    for index, entry in enumerate(raw_overrides):
        where = f"overrides[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("glob"), str):
            raise UsageError(f"{path}: {where} needs a glob = \"pattern\" string")
        entry = dict(entry)
        glob = entry.pop("glob")
        _check_glob(glob, path, where)
        overrides.append(Override(glob, _validate(entry, THRESHOLD_SETTINGS, path, where)))
    return CheckConfig(path=path, settings=settings, overrides=tuple(overrides))


def _check_glob(glob: str, path: Path, where: str) -> None:
    """A glob that cannot be compiled (``[z-a]*.png``) is bad input, said with its file and key."""
    try:
        _glob_regex(glob.strip().lstrip("/"))
    except re.error as exc:
        raise UsageError(f"{path}: glob {glob!r} in {where} is not a valid pattern ({exc})") from None


def _read_toml(path: Path) -> dict[str, Any]:
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise UsageError(f"{path}: reading TOML on Python 3.10 needs the 'tomli' package")
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None


def _validate(table: dict[str, Any], allowed: dict[str, tuple[type, ...]], path: Path,
              where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in allowed:
            known = ", ".join(sorted(k.replace("_", "-") for k in allowed))
            raise UsageError(f"{path}: unknown key {raw_key!r} in {where}; known keys: {known}")
        types = allowed[key]
        if key in SWITCHABLE and is_off(value):
            out[key] = OFF
            continue
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            if key in SWITCHABLE:
                names += ' or false (off)'
            raise UsageError(f"{path}: {raw_key} in {where} must be {names}, got {value!r}")
        out[key] = _convert(key, value, types, path, where)
    return out


def _convert(key: str, value: Any, types: tuple[type, ...], path: Path, where: str) -> Any:
    """A checked TOML value as the setting holds it (paths relative to the file's folder)."""
    if key == "ignore":
        return tuple(parse_rect(item, f"{path}: ignore in {where}") for item in value)
    if key == "mask":
        return str((path.parent / value).resolve())
    if types == _FLOAT:
        return float(value)
    return value


def parse_rect(value: Any, what: str = "--ignore") -> tuple[int, int, int, int]:
    """``"X,Y,W,H"`` or ``[X, Y, W, H]`` -> a rectangle of non-negative integers, W and H > 0."""
    if isinstance(value, str):
        parts: list[Any] = [p.strip() for p in value.split(",")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = []
    try:
        if len(parts) != 4 or any(isinstance(p, bool) for p in parts):
            raise ValueError
        x, y, w, h = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be X,Y,W,H (four integers), got {value!r}") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise UsageError(f"{what} needs X, Y >= 0 and W, H > 0, got {value!r}")
    return x, y, w, h


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a path glob: ``**`` spans folders, ``*`` and ``?`` stay within one name."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, name: str) -> bool:
    """Whether a ``/``-separated relative path matches a glob.

    ``icons/**`` matches everything under ``icons/``; ``**/*.png`` any PNG at any depth; a
    pattern without ``/`` (``*_dark.png``) is matched against the file name alone, as in
    ``.gitignore``.
    """
    pattern = pattern.strip().lstrip("/")
    if "/" not in pattern:
        name = name.rsplit("/", 1)[-1]
    return _glob_regex(pattern).match(name) is not None


def resolve_rule_settings(name: str, given: dict[str, Any], config: CheckConfig | None,
                          defaults: dict[str, Any]) -> dict[str, Any]:
    """The one precedence of rule settings for image ``name``: ``given`` (command line, or the
    plugin call's arguments) > the matching overrides > the ``[tool.ssim-l1]`` table >
    ``defaults``. Only keys of ``defaults`` are taken."""
    merged = dict(defaults)
    if config is not None:
        merged.update({k: v for k, v in config.for_image(name).items() if k in defaults})
    merged.update({k: v for k, v in given.items() if k in defaults})
    merged["ignore"] = tuple(merged.get("ignore") or ())
    # "off" (command line, file or plugin call) switches a limit off, a default one included.
    return {k: None if k in SWITCHABLE and (v == OFF or v is False) else v for k, v in merged.items()}


def resolve_metric_settings(given: dict[str, Any], config: CheckConfig | None) -> dict[str, Any]:
    """Metric settings: those ``given`` (not ``None``) > the ``[tool.ssim-l1]`` table > the
    preset's (left out here, so `CompareOptions.build` applies them)."""
    merged: dict[str, Any] = {}
    if config is not None:
        merged.update({k: v for k, v in config.settings.items() if k in METRIC_NAMES})
    merged.update({k: v for k, v in given.items() if k in METRIC_NAMES and v is not None})
    return merged
