"""ssim-l1: exact, fast SSIM / CS / Gaussian-L1 / MS-SSIM image comparison."""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import Any

try:
    __version__ = _metadata.version("ssim-l1")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "compare", "compare_arrays", "compare_files", "CompareOptions"]


def __getattr__(name: str) -> Any:
    # Lazy: `ssim-l1 --help` must not pay for NumPy, SciPy or imageio.
    if name in ("compare", "compare_arrays", "compare_files", "PairResult"):
        from . import api

        return getattr(api, name)
    if name == "CompareOptions":
        from .options import CompareOptions

        return CompareOptions
    raise AttributeError(f"module 'ssimcli' has no attribute {name!r}")
