"""Array backends: NumPy + SciPy on the CPU, CuPy + cupyx on a GPU. Resolved once at the edge."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import ParameterError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Backend:
    """An array module and its matching ``ndimage``; the metric code takes one of these."""

    name: str
    xp: ModuleType
    ndimage: ModuleType

    def asarray(self, array: Any, dtype: Any = None) -> Any:
        return self.xp.asarray(array, dtype=dtype)

    def to_numpy(self, array: Any) -> Any:
        if self.name == "cuda":
            return array.get()
        return array


class LazyModule:
    """A module imported on first attribute access.

    ``import scipy.ndimage`` costs about as much as decoding a 4K PNG, and the CPU fast path
    never filters with it: only the reference path pays for it, when it runs.
    """

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def cpu_backend() -> Backend:
    import numpy

    return Backend("cpu", numpy, LazyModule("scipy.ndimage"))  # type: ignore[arg-type]


def cuda_backend() -> Backend:
    """The CuPy backend; raises `ParameterError` saying what to install when it cannot run."""
    try:
        import cupy
        import cupyx.scipy.ndimage
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        raise ParameterError(
            "device 'cuda' needs CuPy and a CUDA GPU: pip install 'ssim-l1[gpu]' "
            f"(or a cupy-cudaXXx wheel matching your CUDA) ({type(exc).__name__}: {exc})"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise ParameterError(
            f"device 'cuda': CuPy is installed but no CUDA device is usable ({exc})"
        ) from None
    if count < 1:
        raise ParameterError("device 'cuda': CuPy is installed but no CUDA device was found")
    return Backend("cuda", cupy, cupyx.scipy.ndimage)


def resolve_backend(device: str = "cpu") -> Backend:
    """``cpu``, ``cuda`` (error if unavailable) or ``auto`` (CUDA when usable, else CPU)."""
    if device == "cpu":
        return cpu_backend()
    if device == "cuda":
        return cuda_backend()
    if device == "auto":
        try:
            return cuda_backend()
        except ParameterError:
            return cpu_backend()
    raise ParameterError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
