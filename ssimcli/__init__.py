"""ssim-l1: exact, fast SSIM / CS / Gaussian-L1 / MS-SSIM image comparison."""

from __future__ import annotations

from typing import Any

__all__ = ["__version__", "compare", "compare_arrays", "compare_files", "CompareOptions"]


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ssim-l1")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    # Lazy: `ssim-l1 --help` must not pay for NumPy, SciPy, imageio, nor importlib.metadata.
    if name == "__version__":
        version = _package_version()
        globals()["__version__"] = version
        return version
    if name in ("compare", "compare_arrays", "compare_files", "PairResult"):
        from . import api

        return getattr(api, name)
    if name == "CompareOptions":
        from .options import CompareOptions

        return CompareOptions
    raise AttributeError(f"module 'ssimcli' has no attribute {name!r}")
