"""The pure metric engine: arrays in, scores and maps out. No files, no printing, no CLI.

The names below load on first use (PEP 562), so that importing a light module of the engine,
such as `ssimcli.metrics.errors` (which the tool's own errors extend), does not import NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import Backend, cpu_backend, resolve_backend
    from .core import MAP_NAMES, MetricResult, compute, ms_ssim
    from .params import PRESETS, MetricParams, Window, effective_window, params_for

_HOMES = {
    "Backend": "backend", "cpu_backend": "backend", "resolve_backend": "backend",
    "MAP_NAMES": "core", "MetricResult": "core", "compute": "core", "ms_ssim": "core",
    "PRESETS": "params", "MetricParams": "params", "Window": "params", "effective_window": "params",
    "params_for": "params",
}

__all__ = [
    "MAP_NAMES",
    "PRESETS",
    "Backend",
    "MetricParams",
    "MetricResult",
    "Window",
    "compute",
    "cpu_backend",
    "effective_window",
    "ms_ssim",
    "params_for",
    "resolve_backend",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ssimcli.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ssimcli.metrics.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
