"""The public Python API; the CLI calls these same functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssimcli.io.decode import normalise
from ssimcli.metrics.backend import Backend
from ssimcli.options import CompareOptions
from ssimcli.pipeline.score import PairResult, compare_loaded, load_pair
from ssimcli.pipeline.video import compare_videos as compare_videos  # re-exported


def compare_arrays(
    reference: np.ndarray,
    candidate: np.ndarray,
    options: CompareOptions | None = None,
    *,
    return_maps: bool = False,
    backend: Backend | None = None,
    names: tuple[str, str] = ("reference", "candidate"),
    threads: int | None = None,
) -> PairResult:
    """Compare two arrays (integer dtypes by their maximum, floats in [0, data_range])."""
    ref = normalise(np.asarray(reference), names[0], options.data_range if options else None)
    cand = normalise(np.asarray(candidate), names[1], options.data_range if options else None)
    return compare_loaded(ref, cand, options, return_maps=return_maps, backend=backend,
                          threads=threads)


def compare_files(
    reference: str | Path,
    candidate: str | Path,
    options: CompareOptions | None = None,
    *,
    return_maps: bool = False,
    backend: Backend | None = None,
    threads: int | None = None,
) -> PairResult:
    """Read two image files and compare them; `InputError`/`PairError` name the bad file."""
    options = options or CompareOptions()
    ref, cand = load_pair(reference, candidate, options.data_range, options.max_pixels)
    return compare_loaded(ref, cand, options, return_maps=return_maps, backend=backend,
                          threads=threads)


def compare(
    reference: str | Path | np.ndarray,
    candidate: str | Path | np.ndarray,
    preset: str = "standard",
    *,
    return_maps: bool = False,
    **settings: Any,
) -> PairResult:
    """Compare two images given as file paths or arrays.

    ``settings`` are those of `CompareOptions.build`: ``window``, ``sigma``, ``k1``, ``k2``,
    ``alpha``, ``padding``, ``precision``, ``data_range``, ``color`` (``rgb``, ``luma``, ``y``,
    or ``y8``: ``y`` rounded to 8-bit levels as MATLAB does), ``transparency``,
    ``background``, ``ms_ssim``, ``device``, ``crop`` (pixels removed from every border before
    scoring), ``max_pixels``.

    Examples
    --------
    >>> result = compare("ref.png", "out.png", ms_ssim=True)  # doctest: +SKIP
    >>> result.metrics.ssim, result.metrics.ms_ssim  # doctest: +SKIP
    """
    options = CompareOptions.build(preset, **settings)
    if isinstance(reference, np.ndarray) or isinstance(candidate, np.ndarray):
        return compare_arrays(np.asarray(reference), np.asarray(candidate), options,
                              return_maps=return_maps)
    return compare_files(reference, candidate, options, return_maps=return_maps)
