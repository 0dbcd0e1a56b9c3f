"""The one frozen options object for comparing a pair, built once at the edge (CLI or API)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ssimcli.errors import SettingError
from ssimcli.metrics.backend import DEVICES
from ssimcli.metrics.params import MetricParams, params_for
from ssimcli.vocabulary import COLOR_MODES, LIMITS, MAP_FORMATS, MAP_NAMES, TRANSPARENCY_MODES


def parse_background(value: str | tuple[float, ...] | None) -> tuple[float, float, float]:
    """``white``, ``black``, ``#rrggbb``, or ``r,g,b`` in [0, 1] -> RGB floats in [0, 1]."""
    if value is None:
        return (1.0, 1.0, 1.0)
    if isinstance(value, tuple):
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    text = value.strip().lower()
    named = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5),
             "gray": (0.5, 0.5, 0.5)}
    if text in named:
        return named[text]
    try:
        if text.startswith("#") and len(text) == 7:
            return tuple(int(text[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) == 3 and all(0 <= p <= 1 for p in parts):
        return parts
    raise SettingError("background", f"must be white, black, #rrggbb or r,g,b in [0, 1]; got {value!r}")


#: The default pixel limit per image (width x height; channels do not count). One gigapixel:
#: a 16384 x 16384 render (268 MP) and a 30000 x 30000 scan (900 MP) pass; the 40000 x 40000
#: (1.6 GP) and 100000 x 100000 (10 GP) PNG bombs of a few MB are refused from their header.
#: Memory is checked on its own (`available_memory`), so the limit need not guess the machine.
DEFAULT_MAX_PIXELS = 1_000_000_000


def validate_max_pixels(value: int | None) -> int:
    """The pixel limit in force: ``None`` -> `DEFAULT_MAX_PIXELS`; must be a positive integer."""
    if value is None:
        return DEFAULT_MAX_PIXELS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingError("max_pixels", f"must be a positive integer, got {value!r}")
    return value


#: limit name -> (score key, direction), from the vocabulary
THRESHOLD_KEYS = {limit.name: (limit.metric, limit.kind) for limit in LIMITS}


@dataclass(frozen=True)
class Thresholds:
    """Limits on the mean scores; a limit is inclusive (a score equal to it passes)."""

    min_ssim: float | None = None
    min_cs: float | None = None
    max_l1: float | None = None
    max_ssim_l1: float | None = None
    min_ms_ssim: float | None = None
    min_psnr: float | None = None

    def __post_init__(self) -> None:
        for name in THRESHOLD_KEYS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise SettingError(name, "must be a finite number")

    def active(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in THRESHOLD_KEYS if getattr(self, name) is not None}

    def evaluate(self, scores: Mapping[str, float | None]) -> list[dict[str, Any]]:
        """One entry per active limit: metric, value, limit, kind, margin (>= 0 passes), passed."""
        checks = []
        for name, limit in self.active().items():
            key, kind = THRESHOLD_KEYS[name]
            value = scores.get(key)
            if value is None:
                checks.append({"metric": key, "kind": kind, "limit": limit, "value": None,
                               "margin": None, "passed": False})
                continue
            margin = value - limit if kind == "min" else limit - value
            checks.append({"metric": key, "kind": kind, "limit": limit, "value": value,
                           "margin": margin, "passed": margin >= 0})
        return checks

    @property
    def needs_ms_ssim(self) -> bool:
        return self.min_ms_ssim is not None


@dataclass(frozen=True)
class CompareOptions:
    """Everything that decides the numbers of one comparison."""

    preset: str = "standard"
    params: MetricParams = field(default_factory=MetricParams)
    data_range: float | None = None
    color: str = "rgb"
    transparency: str = "composite"
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ms_ssim: bool = False
    device: str = "cpu"
    crop: int = 0
    #: Images over this many pixels are refused from their header (`ssimcli.io.probe`).
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        validate_max_pixels(self.max_pixels)
        if isinstance(self.crop, bool) or not isinstance(self.crop, int) or self.crop < 0:
            raise SettingError("crop", f"must be a whole number >= 0, got {self.crop!r}")
        if self.color not in COLOR_MODES:
            raise SettingError("color", f"must be one of {', '.join(COLOR_MODES)}; got {self.color!r}")
        if self.transparency not in TRANSPARENCY_MODES:
            raise SettingError("transparency", f"must be one of {', '.join(TRANSPARENCY_MODES)}; "
                                               f"got {self.transparency!r}")
        if self.device not in DEVICES:
            raise SettingError("device", f"must be one of {', '.join(DEVICES)}; got {self.device!r}")
        if self.data_range is not None and not (
            math.isfinite(self.data_range) and self.data_range > 0
        ):
            raise SettingError("data_range", f"must be a positive number, got {self.data_range}")

    @classmethod
    def build(
        cls,
        preset: str = "standard",
        *,
        window: int | None = None,
        sigma: float | None = None,
        k1: float | None = None,
        k2: float | None = None,
        alpha: float | None = None,
        padding: str | None = None,
        precision: str | None = None,
        data_range: float | None = None,
        color: str = "rgb",
        transparency: str = "composite",
        background: str | tuple[float, ...] | None = None,
        ms_ssim: bool = False,
        device: str = "cpu",
        crop: int = 0,
        max_pixels: int | None = None,
    ) -> CompareOptions:
        """A preset with any parameter overridden; ``None`` keeps the preset's value."""
        params = params_for(
            preset, window=window, sigma=sigma, k1=k1, k2=k2, alpha=alpha, padding=padding,
            precision=precision,
        )
        return cls(
            preset=preset, params=params, data_range=data_range, color=color,
            transparency=transparency, background=parse_background(background),
            ms_ssim=ms_ssim, device=device, crop=crop,
            max_pixels=validate_max_pixels(max_pixels),
        )


@dataclass(frozen=True)
class MapRequest:
    """Which maps ``--maps`` writes (``names``, from `MAP_NAMES`), and as what (``formats``:
    ``npy`` and/or ``png``)."""

    names: tuple[str, ...] = MAP_NAMES
    formats: tuple[str, ...] = ("npy", "png")

    def __post_init__(self) -> None:
        if not self.names:
            raise SettingError("map_names", "needs at least one map name")
        for name in self.names:
            if name not in MAP_NAMES:
                why = " (MS-SSIM has no per-pixel map)" if name.startswith("ms_ssim") else ""
                raise SettingError("map_names", f"has no map {name!r}{why}; choose from "
                                                f"{', '.join(MAP_NAMES)}")
        if len(set(self.names)) != len(self.names):
            raise SettingError("map_names", f"names a map twice: {','.join(self.names)}")
        if not self.formats or not set(self.formats) <= {"npy", "png"}:
            raise SettingError("maps_format", f"must be one of {', '.join(MAP_FORMATS)}")

    @classmethod
    def parse(cls, map_names: str | None = None, maps_format: str | None = None) -> MapRequest:
        """From the command line's text: ``"ssim,l1"`` and ``"npy"``, ``"png"`` or ``"both"``."""
        names = MAP_NAMES if map_names is None else tuple(
            part.strip() for part in map_names.split(",") if part.strip())
        fmt = maps_format or "both"
        if fmt not in MAP_FORMATS:
            raise SettingError("maps_format", f"must be one of {', '.join(MAP_FORMATS)}; "
                                              f"got {fmt!r}")
        return cls(names, ("npy", "png") if fmt == "both" else (fmt,))
