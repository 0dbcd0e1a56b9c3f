"""Array backends: NumPy + SciPy on the CPU, CuPy + cupyx on a GPU. Resolved once at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import UsageError

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


def cpu_backend() -> Backend:
    import numpy
    import scipy.ndimage

    return Backend("cpu", numpy, scipy.ndimage)


def cuda_backend() -> Backend:
    """The CuPy backend; raises `UsageError` saying what to install when it cannot run."""
    try:
        import cupy
        import cupyx.scipy.ndimage
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        raise UsageError(
            "--device cuda needs CuPy and a CUDA GPU: pip install 'ssim-l1[gpu]' "
            f"(or a cupy-cudaXXx wheel matching your CUDA) ({type(exc).__name__}: {exc})"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise UsageError(f"--device cuda: CuPy is installed but no CUDA device is usable ({exc})")
    if count < 1:
        raise UsageError("--device cuda: CuPy is installed but no CUDA device was found")
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
        except UsageError:
            return cpu_backend()
    raise UsageError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
