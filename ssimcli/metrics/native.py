"""The optional native kernel (the C extension ``ssimcli.metrics._native``), for the modules that
use its helpers directly: the PNG reader, the heatmap colouring.

Imported by name: a C extension is no node of the Python import graph, and a ``from ... import
_native`` would draw an edge to the package face instead (a false circle in the layer checks).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any


@cache
def kernel() -> Any:
    """The extension module, or ``None`` where it was built without a C compiler."""
    try:
        return importlib.import_module("ssimcli.metrics._native")
    except ImportError:  # pragma: no cover - depends on the build
        return None


def describe() -> str:
    """Which engine scores on the CPU, for ``ssim-l1 --version`` and bug reports."""
    import os

    module = kernel()
    if module is None:
        return "native kernel: not built (no C compiler at install time); OpenCV engine"
    if os.environ.get("SSIM_L1_NATIVE", "1") == "0":
        return f"native kernel: {module.variant}, disabled by SSIM_L1_NATIVE=0; OpenCV engine"
    return f"native kernel: {module.variant}"
