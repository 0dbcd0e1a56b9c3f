"""Options and error handling shared by every command (one decorator per option group)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

PRESET_NAMES = ("standard", "seed", "matlab", "skimage-default")


def metric_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every metric parameter; ``None`` means "the preset's value"."""
    decorators = [
        click.option("--preset", type=click.Choice(PRESET_NAMES), default="standard",
                     show_default=True,
                     help="Border and averaging convention (README: Presets)."),
        click.option("--window", type=int, default=None,
                     help="Odd window size [preset: 11; skimage-default 7]."),
        click.option("--sigma", type=float, default=None, help="Gaussian sigma [1.5]."),
        click.option("--k1", type=float, default=None, help="K1 constant [0.01]."),
        click.option("--k2", type=float, default=None, help="K2 constant [0.03]."),
        click.option("--alpha", type=float, default=None,
                     help="Weight of 1-SSIM in the mix alpha*(1-SSIM)+(1-alpha)*L1 [0.84]."),
        click.option("--padding", type=click.Choice(["reflect", "zero", "replicate"]),
                     default=None, help="Border handling [preset]."),
        click.option("--data-range", type=float, default=None,
                     help="Divisor that brings pixel values to [0, 1] [dtype maximum; 1 for floats]."),
        click.option("--color", "color", type=click.Choice(["rgb", "luma"]), default="rgb",
                     show_default=True, help="Per-channel scores, or one BT.601 luma score."),
        click.option("--transparency", type=click.Choice(["composite", "channel", "ignore"]),
                     default="composite", show_default=True,
                     help="Alpha policy when an image is not fully opaque."),
        click.option("--background", default="white", show_default=True,
                     help="Composite background: white, black, #rrggbb or r,g,b in [0,1]."),
        click.option("--ms-ssim", "ms_ssim", is_flag=True, help="Also compute MS-SSIM and its L1 mix."),
        click.option("--precision", type=click.Choice(["float32", "float64"]), default="float32",
                     show_default=True),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu",
                     show_default=True, help="auto: the GPU when CuPy and a device are present."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def threshold_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Limits on the mean scores (inclusive: a score equal to its limit passes)."""
    decorators = [
        click.option("--min-ssim", type=float, default=None, help="Fail when SSIM is below."),
        click.option("--min-cs", type=float, default=None, help="Fail when CS is below."),
        click.option("--max-l1", type=float, default=None, help="Fail when Gaussian L1 is above."),
        click.option("--max-ssim-l1", type=float, default=None, help="Fail when the mix is above."),
        click.option("--min-ms-ssim", type=float, default=None,
                     help="Fail when MS-SSIM is below (implies --ms-ssim)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


METRIC_KWARGS = ("preset", "window", "sigma", "k1", "k2", "alpha", "padding", "data_range",
                 "color", "transparency", "background", "ms_ssim", "precision", "device")
THRESHOLD_KWARGS = ("min_ssim", "min_cs", "max_l1", "max_ssim_l1", "min_ms_ssim")


def build_options(kwargs: dict[str, Any]) -> Any:
    """Pop the metric and threshold options out of ``kwargs``; returns (CompareOptions, Thresholds)."""
    from .options import CompareOptions, Thresholds

    metric = {k: kwargs.pop(k) for k in METRIC_KWARGS if k in kwargs}
    limits = {k: kwargs.pop(k) for k in THRESHOLD_KWARGS if k in kwargs}
    thresholds = Thresholds(**limits)
    if thresholds.needs_ms_ssim:
        metric["ms_ssim"] = True
    return CompareOptions.build(**metric), thresholds


def error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the tool's typed errors into one ``error:`` line on stderr and their exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .errors import SsimCliError

        try:
            return func(*args, **kwargs)
        except SsimCliError as exc:
            error(str(exc))
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            error("interrupted")
            sys.exit(130)
        except MemoryError:
            error("out of memory")
            sys.exit(2)

    return wrapper
