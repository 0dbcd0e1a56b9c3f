"""ssim-l1: exact, fast SSIM / CS / Gaussian-L1 / MS-SSIM image comparison."""

from __future__ import annotations

from typing import Any

__all__ = ["__version__", "compare", "compare_arrays", "compare_files", "compare_videos",
           "CompareOptions"]


def __getattr__(name: str) -> Any:
    # Lazy: `ssim-l1 --help` must not pay for NumPy, SciPy nor imageio.
    if name == "__version__":
        from ssimcli._version import __version__

        return __version__
    if name in ("compare", "compare_arrays", "compare_files", "compare_videos", "PairResult"):
        from ssimcli import api

        return getattr(api, name)
    if name == "CompareOptions":
        from ssimcli.options import CompareOptions

        return CompareOptions
    raise AttributeError(f"module 'ssimcli' has no attribute {name!r}")
