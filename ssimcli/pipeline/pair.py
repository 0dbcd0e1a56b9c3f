"""The one pair pipeline: load, prepare, score, apply limits, produce maps, return an outcome.

``compare``, ``batch`` (process pool, Dask and GPU) and ``check`` (and the pytest plugin) all
score a pair through `score_pair`, so a pair gets the same numbers, the same verdict and the same
error policy everywhere:

* a pair that cannot be scored (missing, unreadable, mismatched, too large, out of memory, or a
  bug that raised) becomes an ``error`` outcome naming its files, never an exception: nothing
  about one pair ends a run;
* ``failed`` means it was scored and a limit failed; ``ok`` that every limit held.

The outcome's `PairOutcome.record` is the JSON contract of one pair (`PairResult.to_dict`, with
the mask-weighted means in place of the plain ones when a mask or ignore rectangles apply).

Why one module of this size: the job, its outcome, the error policy and the rules' checks are
one contract (what a row says about a pair); split, each half would need the other's internals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ssimcli.errors import (
    ExitCode,
    InputError,
    PairError,
    ParameterError,
    SettingError,
    SizeMismatch,
    SsimCliError,
)
from ssimcli.metrics.masked import Rect, compare_area, masked_ms_ssim, weighted_means
from ssimcli.metrics.windows import LocalWorst, map_weights, worst_window
from ssimcli.options import CompareOptions, MapRequest, Thresholds
from ssimcli.vocabulary import CHECK_RULES, LIMIT_NAMES

OK, FAILED, ERROR = "ok", "failed", "error"

#: The error kinds of an ``error`` outcome. ``size``: the images differ in size (a `PairError`
#: that ``check`` reports as a regression, with `PairOutcome.size_change`).
INPUT, PAIR, MEMORY, INTERNAL, WORKER, SIZE = "input", "pair", "memory", "internal", "worker", "size"


@dataclass(frozen=True)
class Rules(Thresholds):
    """Every limit that applies to one pair: the mean limits (inherited from `Thresholds`, which
    validates and evaluates them), the changed-pixel rule, the local rule, mask and ignores.

    No limit is on unless set: ``check``'s defaults come from `ssimcli.pipeline.check.DEFAULTS` through
    `ssimcli.config.resolve_rule_settings`.
    """

    max_changed_pixels: float | None = None
    pixel_threshold: float = 0.1
    min_local_ssim: float | None = None
    local_window: int = 32
    ignore: tuple[Rect, ...] = ()
    mask: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_local_ssim is not None and not math.isfinite(self.min_local_ssim):
            raise SettingError("min_local_ssim", "must be a finite number")
        if isinstance(self.local_window, bool) or int(self.local_window) < 1:
            raise SettingError("local_window", f"must be a positive integer, got {self.local_window}")
        if self.max_changed_pixels is not None and not (
                math.isfinite(self.max_changed_pixels) and self.max_changed_pixels >= 0):
            raise SettingError("max_changed_pixels", f"must be a count >= 0, got {self.max_changed_pixels}")
        if not 0.0 <= self.pixel_threshold <= 1.0:
            raise SettingError("pixel_threshold", f"must lie in [0, 1], got {self.pixel_threshold}")

    @classmethod
    def from_thresholds(cls, thresholds: Thresholds) -> Rules:
        return cls(**{name: getattr(thresholds, name) for name in LIMIT_NAMES})

    @property
    def thresholds(self) -> Thresholds:
        """The mean limits alone."""
        return Thresholds(**{name: getattr(self, name) for name in LIMIT_NAMES})

    @property
    def needs_maps(self) -> bool:
        return self.min_local_ssim is not None or bool(self.ignore) or self.mask is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in LIMIT_NAMES}
        for setting in CHECK_RULES:
            out[setting.name] = getattr(self, setting.name)
        out["ignore"] = [list(r) for r in self.ignore]
        return out


@dataclass(frozen=True)
class PairJob:
    """One pair to score, small and picklable (it travels to pool and Dask workers).

    ``maps_dir``: write the pair's maps there (in the worker, so they never travel back);
    ``map_request``: which maps, in which formats.
    ``keep_maps``: keep the SSIM map, compare area and decoded pixels on the outcome (for the
    review page and the pytest plugin's heatmap).
    """

    name: str
    reference: str
    candidate: str
    options: CompareOptions
    rules: Rules = field(default_factory=Rules)
    maps_dir: str | None = None
    keep_maps: bool = False
    map_request: MapRequest = field(default_factory=MapRequest)
    #: The engine's threads for this pair (and for writing its maps); ``None``: every core.
    #: A batch running one pair per core sets 1, so that pairs never oversubscribe the cores.
    threads: int | None = None

    # The task protocol of the runners (`ssimcli.pipeline.runners`): a job scores itself and says
    # what its row is when its worker dies, so the runners need not know the kinds of job.
    def run(self) -> dict[str, Any]:
        return score_pair(self).to_row()

    def worker_failure_row(self, why: str) -> dict[str, Any]:
        """The row of this pair when its worker, not the pair, failed (``why`` says how)."""
        return PairOutcome(self.name, self.reference, self.candidate, status=ERROR,
                           error=f"{self.candidate}: the worker scoring this pair {why}",
                           error_kind=WORKER).to_row()


@dataclass
class PairOutcome:
    """What became of one pair: ``ok``, ``failed`` (scored, a limit failed) or ``error``."""

    name: str
    reference: str
    candidate: str
    status: str = ERROR
    record: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    local: LocalWorst | None = None
    ssim_map: np.ndarray | None = field(default=None, repr=False)
    compare_area: np.ndarray | None = field(default=None, repr=False)
    loaded: tuple[Any, Any] | None = field(default=None, repr=False)
    #: ``{"baseline": [w, h], "candidate": [w, h]}`` when the error is a size change.
    size_change: dict[str, list[int]] | None = None

    @property
    def scored(self) -> bool:
        return self.status != ERROR

    @property
    def exit_code(self) -> ExitCode:
        if self.status == OK:
            return ExitCode.OK
        if self.status == FAILED:
            return ExitCode.THRESHOLD_FAILED
        return ExitCode.INTERNAL_ERROR if self.error_kind == INTERNAL else ExitCode.BAD_INPUT

    def to_row(self) -> dict[str, Any]:
        """The batch row: ``name``, ``status`` (``ok`` or ``error``), then the record or the error."""
        if self.status == ERROR:
            return {"name": self.name, "status": "error", "reference": self.reference,
                    "candidate": self.candidate, "error": self.error}
        return {"name": self.name, "status": "ok", **self.record}


class MaskCache:
    """Loads each mask file once per run: ``(H, W)`` float64 in [0, 1], 1 (white) = compare."""

    def __init__(self) -> None:
        self._masks: dict[str, np.ndarray] = {}

    def get(self, path: str) -> np.ndarray:
        if path not in self._masks:
            from ssimcli.io.decode import load_image

            loaded = load_image(path)
            colour = loaded.pixels[..., : loaded.colour_channels]
            mask = colour.mean(axis=2, dtype=np.float64)
            if loaded.has_alpha:  # a transparent pixel compares nothing
                mask = mask * loaded.pixels[..., -1]
            self._masks[path] = mask
        return self._masks[path]


def score_pair(job: PairJob, *, backend: Any = None, loaded: tuple[Any, Any] | None = None,
               masks: MaskCache | None = None,
               while_decoding: Callable[[], None] | None = None) -> PairOutcome:
    """Score one pair and apply its rules; every failure becomes an ``error`` outcome.

    Parameters
    ----------
    job : PairJob
        The pair, its settings, rules and what to do with maps.
    backend : Backend, optional
        The array backend (the GPU batch passes its own).
    loaded : (LoadedImage, LoadedImage), optional
        Already decoded images (the GPU batch decodes ahead on threads).
    masks : MaskCache, optional
        Shared between pairs so that a mask file is decoded once.
    while_decoding : callable, optional
        Work for this thread while the decoders run (`api.load_pair`), e.g. imports that the
        output will need.
    """
    outcome = PairOutcome(job.name, job.reference, job.candidate)
    try:
        _score_into(outcome, job, backend, loaded, masks or MaskCache(), while_decoding)
    except Exception as exc:  # one odd file (or a bug) must not stop thousands of others
        return error_outcome(job, exc)
    return outcome


def error_outcome(job: PairJob, exc: BaseException) -> PairOutcome:
    """The one error policy: what any exception raised while scoring ``job`` becomes."""
    outcome = PairOutcome(job.name, job.reference, job.candidate, status=ERROR)
    if isinstance(exc, SizeMismatch):
        outcome.error, outcome.error_kind = str(exc), SIZE
        outcome.size_change = {"baseline": list(exc.reference_size),
                               "candidate": list(exc.candidate_size)}
    elif isinstance(exc, (InputError, PairError, ParameterError)):
        outcome.error, outcome.error_kind = str(exc), PAIR if isinstance(exc, PairError) else INPUT
    elif isinstance(exc, SsimCliError):
        outcome.error, outcome.error_kind = f"{job.candidate}: {exc}", INPUT
    elif isinstance(exc, MemoryError):
        outcome.error, outcome.error_kind = f"{job.candidate}: out of memory", MEMORY
    else:
        text = " ".join(str(exc).split())[:200]
        outcome.error = f"{job.candidate}: {type(exc).__name__}: {text}"
        outcome.error_kind = INTERNAL
    return outcome


def _score_into(outcome: PairOutcome, job: PairJob, backend: Any,
                loaded: tuple[Any, Any] | None, masks: MaskCache,
                while_decoding: Callable[[], None] | None = None) -> None:
    from ssimcli.pipeline.score import load_pair

    options, rules = job.options, job.rules
    if rules.needs_ms_ssim and not options.ms_ssim:
        options = replace(options, ms_ssim=True)
    # The local rule alone needs no maps: the engine finds the worst window in its strip pass.
    local_in_engine = (rules.min_local_ssim is not None and not rules.ignore
                       and rules.mask is None)
    if local_in_engine:
        while_decoding = _also_importing_opencv(while_decoding)
    ref, cand = loaded if loaded is not None else load_pair(
        job.reference, job.candidate, options.data_range, options.max_pixels,
        while_decoding=while_decoding)
    result = _compare_writing_maps(job, options, ref, cand, backend,
                                   rules.local_window if local_in_engine else None)
    record = result.to_dict()
    scores = result.scores()
    area = _compare_area(job, rules, result, masks)
    weights = _apply_rules_area(job, rules, result, record, scores, ref, cand, options, area)
    checks = rules.thresholds.evaluate(scores)
    if rules.max_changed_pixels is not None:
        checks.append(_pixel_check(record, ref, cand, options, rules, area))
    if local_in_engine and rules.min_local_ssim is not None:
        outcome.local = result.metrics.local
        checks.append(local_check(outcome.local, rules.min_local_ssim))
    elif rules.min_local_ssim is not None and result.maps is not None and weights is not None:
        outcome.local = worst_window(result.maps["ssim"], weights, rules.local_window)
        checks.append(local_check(outcome.local, rules.min_local_ssim))
    outcome.record, outcome.checks = record, checks
    outcome.status = OK if all(c["passed"] for c in checks) else FAILED
    if job.keep_maps and result.maps is not None:
        outcome.ssim_map = result.maps["ssim"].mean(axis=2)
        outcome.compare_area = weights if (rules.ignore or rules.mask) else None
        outcome.loaded = (ref, cand)


def _also_importing_opencv(work: Callable[[], None] | None) -> Callable[[], None]:
    """``work``, then the import of OpenCV, which the local rule's window sums use without the
    native kernel (~40 ms, better spent while the decoders run than after them)."""
    def both() -> None:
        if work is not None:
            work()
        from ssimcli.metrics.fast import native_available

        if native_available():
            return  # the kernel's window search needs no OpenCV
        try:
            import cv2  # noqa: F401
        except ImportError:  # pragma: no cover - a dependency; the rule reports it
            pass

    return both


def _compare_writing_maps(job: PairJob, options: CompareOptions, ref: Any, cand: Any,
                          backend: Any, local_window: int | None = None) -> Any:
    """`compare_loaded`, writing the maps to ``job.maps_dir`` as they are computed when asked
    (`ssimcli.reports.compare.MapWriter`); whole maps are kept when the rules or the caller need them
    (not for a local rule the engine applies itself: ``local_window``)."""
    from ssimcli.pipeline.score import compare_loaded

    keep = job.keep_maps or (job.rules.needs_maps and local_window is None)
    if job.maps_dir is None:
        return compare_loaded(ref, cand, options, return_maps=keep, backend=backend,
                              threads=job.threads, local_window=local_window)
    from ssimcli.io.maps import MapWriter

    with MapWriter(job.maps_dir, job.map_request, (job.reference, job.candidate),
                   threads=job.threads) as writer:
        writer.targets()  # refuse a map path that is an input before any work
        result = compare_loaded(ref, cand, options, return_maps=keep, backend=backend,
                                threads=job.threads, map_sink_for=writer.sink_for,
                                local_window=local_window)
        writer.write(result.maps)
    return result


def _compare_area(job: PairJob, rules: Rules, result: Any, masks: MaskCache) -> np.ndarray | None:
    """The per-pixel weights of the mask and ignore rectangles (``None``: every pixel counts)."""
    if not (rules.ignore or rules.mask is not None):
        return None
    mask = None
    if rules.mask is not None:
        mask = masks.get(rules.mask)
        if mask.shape != (result.height, result.width):
            raise InputError(rules.mask, f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                                         f"image {job.name} is {result.width}x{result.height}")
    return compare_area(result.height, result.width, mask=mask, ignore=rules.ignore)


def _pixel_check(record: dict[str, Any], ref: Any, cand: Any, options: CompareOptions, rules: Rules,
                 area: np.ndarray | None) -> dict[str, Any]:
    """The changed-pixels rule as a check entry; the count also goes into ``record``."""
    from ssimcli.metrics.pixeldiff import changed_pixels
    from ssimcli.pipeline.prepare import prepare_images

    # The native arrays (views of the decoded images when nothing is converted): the rule
    # converts them strip by strip, so it costs no full-size float copy.
    pair = prepare_images(ref, cand, options.color, options.transparency, options.background,
                          options.crop)
    changed = changed_pixels(pair.reference, pair.candidate, rules.pixel_threshold, area,
                             divisor=pair.divisor)
    count: float = int(changed.count) if float(changed.count).is_integer() else changed.count
    record["changed_pixels"] = count
    limit = rules.max_changed_pixels or 0
    box = changed.to_dict()["box"]
    return {"metric": "changed_pixels", "kind": "max", "limit": limit, "value": count,
            "margin": limit - count, "passed": count <= limit, "threshold": rules.pixel_threshold,
            "box": box}


def _apply_rules_area(job: PairJob, rules: Rules, result: Any, record: dict[str, Any],
                      scores: dict[str, float], ref: Any, cand: Any, options: CompareOptions,
                      area: np.ndarray | None) -> np.ndarray | None:
    """The per-pixel weights of the maps; with a mask or ignores, the weighted means replace the
    plain ones in ``record`` and ``scores``."""
    if result.maps is None:
        return None
    window = result.metrics.window
    border = window.radius if options.params.mean_over == "valid" else 0
    weights = map_weights(area, result.height, result.width, window.size, border)
    if area is not None:
        try:
            _weighted_means(record, scores, result, weights, area, ref, cand, options)
        except ValueError as exc:
            raise InputError(job.candidate, str(exc)) from None
    return weights


def _weighted_means(record: dict[str, Any], scores: dict[str, float], result: Any,
                    weights: np.ndarray, area: np.ndarray, ref: Any, cand: Any,
                    options: CompareOptions) -> None:
    """Replace the plain means in ``record``/``scores`` by mask-weighted ones."""
    from ssimcli.metrics.masked import masked_psnr
    from ssimcli.pipeline.prepare import prepare_images, prepare_pair

    per_channel = {key: weighted_means(result.maps[key], weights)
                   for key in ("ssim", "cs", "l1", "ssim_l1")}
    alpha = options.params.alpha
    if options.ms_ssim:
        x, y, _ = prepare_pair(ref, cand, options.color, options.transparency, options.background,
                               options.crop)
        values = masked_ms_ssim(x, y, area, options.params)
        per_channel["ms_ssim"] = values
        per_channel["ms_ssim_l1"] = [alpha * (1 - m) + (1 - alpha) * l1
                                     for m, l1 in zip(values, per_channel["l1"], strict=True)]
    for key, values in per_channel.items():
        scores[key] = float(np.mean(values))
        record[key] = scores[key]
    # PSNR's MSE is over every pixel and channel: not the mean of the per-channel PSNRs.
    pair = prepare_images(ref, cand, options.color, options.transparency, options.background,
                          options.crop, options.params.precision)
    scores["psnr"], per_channel["psnr"] = masked_psnr(pair.reference, pair.candidate, area,
                                                      pair.divisor)
    record["psnr"] = scores["psnr"]
    for index, channel in enumerate(record.get("per_channel", [])):
        for key, values in per_channel.items():
            channel[key] = values[index]
    record["compared_fraction"] = float(weights.sum() / weights.size)


def local_check(local: LocalWorst | None, limit: float) -> dict[str, Any]:
    """The local rule as a check entry (the same shape as `Thresholds.evaluate`'s)."""
    if local is None:
        return {"metric": "local_ssim", "kind": "min", "limit": limit, "value": None,
                "margin": None, "passed": True, "region": None,
                "note": "no window is at least half inside the compared area"}
    margin = local.value - limit
    return {"metric": "local_ssim", "kind": "min", "limit": limit, "value": local.value,
            "margin": margin, "passed": margin >= 0,
            "region": {"x": local.x, "y": local.y, "width": local.width, "height": local.height}}
