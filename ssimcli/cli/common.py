"""Click options built from the vocabulary, and the one place that turns errors into exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from ssimcli.cli.usage import (  # noqa: F401 - the commands import them from here
    EXIT_CODES_HELP,
    Command,
    OneLineGroup,
    OneLineUsage,
    OneLineUsageError,
    quiet_library_output,
)
from ssimcli.vocabulary import LIMITS, MAP_SETTINGS, METRIC_SETTINGS, OFF, Setting

DEBUG_ENV = "SSIM_L1_DEBUG"
REPORT_HINT = ("this is a bug in ssim-l1: please report it with the command, `ssim-l1 --version` "
               f"and the traceback that --debug (or {DEBUG_ENV}=1) prints")

# Options whose defaults show in --help (the others say their default in the help text).
_SHOW_DEFAULT = {"preset", "color", "transparency", "background", "precision", "device"}


def click_option(setting: Setting, *, default_from_setting: bool = True) -> Callable[..., Any]:
    """The Click option of one setting. ``default_from_setting=False`` leaves it ``None`` so the
    caller can tell "not given" from "given" (config files fill the gaps)."""
    kwargs: dict[str, Any] = {"help": setting.help}
    if setting.flag:
        kwargs.update(is_flag=True, default=setting.default if default_from_setting else None)
    else:
        kind: Any = click.Choice(setting.choices) if setting.choices else _click_type(setting)
        if setting.switchable:
            kind = OffOr(kind)
        kwargs.update(type=kind, default=setting.default if default_from_setting else None)
        if setting.name in _SHOW_DEFAULT and default_from_setting:
            kwargs["show_default"] = True
    if setting.metavar:
        kwargs["metavar"] = setting.metavar
    return click.option(setting.option, setting.name, **kwargs)


def _click_type(setting: Setting) -> Any:
    if setting.types == (int,):
        return int
    if float in setting.types:
        return float
    return str


class OffOr(click.ParamType):
    """A number, or ``off`` (also ``none``/``false``): the limit is switched off (`OFF`)."""

    def __init__(self, number: Any) -> None:
        self.number = click.types.convert_type(number)
        self.name = f"{self.number.name}|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() in (OFF, "none", "false"):
            return OFF
        return self.number.convert(value, param, ctx)


class PathText(click.ParamType):
    """A file or folder name taken as it is: the command's own checks (`check_input_file`, the
    writer's) say what is wrong with it, in one line that names the file. Click's `click.Path`
    checks would print a usage block instead, and its ``readable`` test (``os.access``) says
    nothing true about a run as root. ``name`` is what ``--help`` shows (``FILE``, ``DIRECTORY``).
    """

    def __init__(self, name: str = "path") -> None:
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return os.fsdecode(value) if isinstance(value, bytes) else str(value)


def check_output_folder(path: str | None, option: str) -> None:
    """An output folder (``--maps DIR``) that exists must be a folder: one line naming it."""
    if path is None:
        return
    from ssimcli.errors import OutputError

    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(path, f"not a directory ({option} writes a folder)")


def without_off(values: dict[str, Any]) -> dict[str, Any]:
    """``off`` becomes ``None`` (no limit) where nothing else can switch a limit on."""
    return {key: None if value == OFF else value for key, value in values.items()}


def _apply(func: Callable[..., Any], decorators: list[Callable[..., Any]]) -> Callable[..., Any]:
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def metric_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every metric setting; ``None`` means "the preset's value"."""
    return _apply(func, [click_option(s) for s in METRIC_SETTINGS])


def threshold_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Limits on the mean scores (inclusive: a score equal to its limit passes)."""
    return _apply(func, [click_option(s) for s in LIMITS])


def map_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """What ``--maps`` writes: ``--maps-format`` and ``--map-names`` (``None``: not given)."""
    return _apply(func, [click_option(s, default_from_setting=False) for s in MAP_SETTINGS])


def build_map_request(kwargs: dict[str, Any], maps_dir: str | None) -> Any:
    """Pop the map options out of ``kwargs``; returns a `MapRequest`. Raises `UsageError`
    when one is given without ``--maps``."""
    from ssimcli.errors import UsageError
    from ssimcli.options import MapRequest

    given = {s.name: kwargs.pop(s.name, None) for s in MAP_SETTINGS}
    if maps_dir is None:
        for setting in MAP_SETTINGS:
            if given[setting.name] is not None:
                raise UsageError(f"{setting.option} needs --maps DIR")
    return MapRequest.parse(given["map_names"], given["maps_format"])


METRIC_KWARGS = tuple(s.name for s in METRIC_SETTINGS)
THRESHOLD_KWARGS = tuple(s.name for s in LIMITS)


def build_options(kwargs: dict[str, Any]) -> Any:
    """Pop the metric and threshold options out of ``kwargs``; returns (CompareOptions, Thresholds)."""
    from ssimcli.options import CompareOptions, Thresholds

    metric = {k: kwargs.pop(k) for k in METRIC_KWARGS if k in kwargs}
    limits = without_off({k: kwargs.pop(k) for k in THRESHOLD_KWARGS if k in kwargs})
    thresholds = Thresholds(**limits)
    if thresholds.needs_ms_ssim:
        metric["ms_ssim"] = True
    return CompareOptions.build(**metric), thresholds


def error(message: str) -> None:
    from ssimcli.console import error as console_error

    console_error(message)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every way a command can end into one stderr line and its exit code (`ExitCode`).

    The tool's typed errors exit with their own code (2 for bad input or usage); a closed
    stdout pipe exits quietly with 141; anything unexpected is a bug: one line saying so and
    exit 3 (never 1, which means "an image regressed"), the traceback only when debugging.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ssimcli.errors import ExitCode, ParameterError, SettingError, SsimCliError

        try:
            return func(*args, **kwargs)
        except SettingError as exc:
            error(exc.for_cli())
            _exit(exc.exit_code)
        except SsimCliError as exc:
            error(str(exc))
            _exit(exc.exit_code)
        except ParameterError as exc:  # the engine's own (it imports nothing of the tool)
            error(str(exc))
            _exit(ExitCode.BAD_INPUT)
        except BrokenPipeError:
            _silence_stdout()
            _exit(ExitCode.BROKEN_PIPE)
        except KeyboardInterrupt:
            error("interrupted")
            _exit(ExitCode.INTERRUPTED)
        except MemoryError:
            error("out of memory")
            _exit(ExitCode.BAD_INPUT)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: say so in one line, never exit 1
            if debugging():
                import traceback

                traceback.print_exc()
            text = " ".join(str(exc).split())[:300]
            error(f"internal error: {type(exc).__name__}: {text}; {REPORT_HINT}")
            _exit(ExitCode.INTERNAL_ERROR)

    return wrapper


def _exit(code: int) -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = 141
    sys.exit(int(code))


def _silence_stdout() -> None:
    """After the reader of stdout went away, keep Python's exit-time flush from failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
