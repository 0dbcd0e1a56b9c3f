"""ssim-l1: exact, fast SSIM / CS / Gaussian-L1 / MS-SSIM image comparison.

The rule of direction: cli -> reports -> pipeline -> io -> metrics. Each layer imports only
the layers to its right, never one to its left, and there are no import circles:

    cli        ssimcli/cli/       Click commands, options, console, progress (and the pytest
                                  plugin, ssimcli/pytest_plugin.py, beside it; ssimcli/api.py below)
    reports    ssimcli/reports/   every table, page, annotation and paper table people read
    pipeline   ssimcli/pipeline/  pairing, the pair and frame pipelines, batch, methods, check, resume
    io         ssimcli/io/        decoding images and videos, probing, limits, output files, maps
    settings   options, config, errors, vocabulary, console: the words every layer shares
    metrics    ssimcli/metrics/   the pure engine: arrays in, numbers out; imports nothing of the tool

The import-linter contracts in pyproject.toml (run by .ci/run) enforce it.
"""

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
