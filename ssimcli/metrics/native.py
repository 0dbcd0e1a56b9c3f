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
