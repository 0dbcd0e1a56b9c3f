"""The pure metric engine: arrays in, scores and maps out. No files, no printing, no CLI."""

from .backend import Backend, cpu_backend, resolve_backend
from .core import MAP_NAMES, MetricResult, compute, ms_ssim
from .params import PRESETS, MetricParams, Window, effective_window, params_for

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
