"""Metric parameters, named presets and the effective (possibly shrunk) window."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ParameterError

PADDINGS = ("reflect", "zero", "replicate")
MEAN_REGIONS = ("valid", "full")
WINDOW_KINDS = ("gaussian", "uniform")
PRECISIONS = ("float32", "float64")

# Wang, Simoncelli & Bovik (2003) MS-SSIM weights, as TensorFlow's ssim_multiscale uses them.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@dataclass(frozen=True)
class MetricParams:
    """Every numeric setting of the metrics; validated on construction.

    Parameters
    ----------
    window : int
        Side of the square window, odd. Shrinks on images smaller than it (see `effective_window`).
    sigma : float
        Standard deviation of the Gaussian window, in pixels (ignored by a uniform window).
    k1, k2 : float
        Stabilisers: ``C1 = (k1 * L)**2``, ``C2 = (k2 * L)**2`` with L the data range (1 after
        normalisation).
    alpha : float
        Weight of ``1 - SSIM`` in the mixed score ``alpha*(1-SSIM) + (1-alpha)*L1``.
    padding : {"reflect", "zero", "replicate"}
        How the filtering sees beyond the border. ``reflect`` is SciPy's ``reflect``
        (``d c b a | a b c d``), as scikit-image uses.
    mean_over : {"valid", "full"}
        ``valid``: average only pixels whose whole window lies inside the image (scikit-image,
        TensorFlow, Wang's ``ssim_index.m``); ``full``: the whole map (the seed, MATLAB).
    clip : bool
        Clip the SSIM and CS maps to [0, 1] as the seed does.
    window_kind : {"gaussian", "uniform"}
    sample_covariance : bool
        Scale variances by ``N / (N - 1)``, N the number of window pixels (scikit-image default).
    precision : {"float32", "float64"}
    """

    window: int = 11
    sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03
    alpha: float = 0.84
    padding: str = "reflect"
    mean_over: str = "valid"
    clip: bool = False
    window_kind: str = "gaussian"
    sample_covariance: bool = False
    precision: str = "float32"

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)):
            raise ParameterError(f"window must be an odd integer, got {self.window!r}")
        if self.window < 1 or self.window % 2 == 0:
            raise ParameterError(f"window must be an odd integer >= 1, got {self.window}")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ParameterError(f"sigma must be a positive number, got {self.sigma}")
        for name in ("k1", "k2"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"{name} must be a positive number, got {value}")
        if not (math.isfinite(self.alpha) and 0.0 <= self.alpha <= 1.0):
            raise ParameterError(f"alpha must be within [0, 1], got {self.alpha}")
        _check_choice("padding", self.padding, PADDINGS)
        _check_choice("mean_over", self.mean_over, MEAN_REGIONS)
        _check_choice("window_kind", self.window_kind, WINDOW_KINDS)
        _check_choice("precision", self.precision, PRECISIONS)

    @property
    def dtype(self) -> Any:
        return np.float32 if self.precision == "float32" else np.float64

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> MetricParams:
        return replace(self, **changes)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


PRESETS: dict[str, dict[str, Any]] = {
    # scikit-image structural_similarity(gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False), tf.image.ssim, Wang's ssim_index.m.
    "standard": {},
    # The TensorFlow seed listing, channel by channel: zero padding, whole-map mean, clipping.
    "seed": {"padding": "zero", "mean_over": "full", "clip": True},
    # MATLAB ssim(): replicate padding, whole-map mean.
    "matlab": {"padding": "replicate", "mean_over": "full"},
    # skimage.metrics.structural_similarity(a, b) with no options.
    "skimage-default": {"window": 7, "window_kind": "uniform", "sample_covariance": True},
}


def params_for(preset: str = "standard", **overrides: Any) -> MetricParams:
    """The parameters of a named preset, with any of them overridden (``None`` = keep)."""
    if preset not in PRESETS:
        raise ParameterError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return MetricParams(**values)


@dataclass(frozen=True)
class Window:
    """The window actually used on an image: maybe smaller than requested, always odd."""

    size: int
    sigma: float
    requested_size: int
    weights: np.ndarray = field(repr=False, compare=False)

    @property
    def radius(self) -> int:
        return self.size // 2

    @property
    def shrunk(self) -> bool:
        return self.size != self.requested_size


def effective_window(params: MetricParams, height: int, width: int) -> Window:
    """The 1-D window for an image of ``height`` x ``width``.

    As in the seed, a window larger than the image shrinks to ``min(window, height, width)``
    with sigma scaled in proportion; unlike the seed, an even result becomes the next smaller odd
    size (an even window is asymmetric and would shift the maps by half a pixel). Sigma is scaled
    by the final size: ``sigma * size / window``.
    """
    size = min(params.window, height, width)
    if size % 2 == 0:
        size -= 1
    size = max(size, 1)
    sigma = params.sigma * size / params.window
    return Window(size, sigma, params.window, window_weights(size, sigma, params.window_kind))


def window_weights(size: int, sigma: float, kind: str = "gaussian") -> np.ndarray:
    """Normalised 1-D weights (float64); their outer product is the 2-D window."""
    if kind == "uniform":
        return np.full(size, 1.0 / size)
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def ms_ssim_min_size(params: MetricParams, scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Smallest side that keeps the full window at the coarsest of ``scales`` scales."""
    return (params.window - 1) * 2 ** (scales - 1) + 1
