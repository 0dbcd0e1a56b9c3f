"""The regression rules of ``ssim-l1 check``: thresholds, the local rule, masks, the verdict.

Defaults (documented in the README, "Use in CI"):

* ``min-ssim`` 0.95: the only limit on by default. Re-encoding noise and anti-aliasing shifts
  keep SSIM well above it; a changed layout, colour or missing element falls below.
* ``min-cs``, ``max-l1``, ``max-ssim-l1``, ``min-ms-ssim``: off unless set.
* ``min-local-ssim``: off unless set. When on, the SSIM map (mean over channels) is averaged
  over every overlapping ``local-window`` x ``local-window`` square (stride 1, default 32 pixels,
  shrunk to the image when smaller) that lies inside the image and is at least half covered by
  the compared area; the lowest such average must reach the limit. Its position is reported.
* Every limit is inclusive: a score equal to its limit passes. Values are compared unrounded.

Masks (``--mask``, white = compare) and ignore rectangles (``--ignore X,Y,W,H``) weight the
per-pixel maps (`ssimcli.metrics.masked`); the pixels themselves are never painted over.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import CheckConfig
from .errors import ExitCode, InputError, PairError, SsimCliError, UsageError
from .metrics.masked import LocalWorst, Rect, compare_area, map_weights, masked_ms_ssim, weighted_means, worst_window
from .options import THRESHOLD_KEYS, CompareOptions, Thresholds

DEFAULT_MIN_SSIM = 0.95
DEFAULT_LOCAL_WINDOW = 32
#: Built-in values of every rule setting (``None``: the rule is off).
DEFAULTS: dict[str, Any] = {
    "min_ssim": DEFAULT_MIN_SSIM, "min_cs": None, "max_l1": None, "max_ssim_l1": None,
    "min_ms_ssim": None, "min_local_ssim": None, "local_window": DEFAULT_LOCAL_WINDOW,
    "ignore": (), "mask": None,
}
RULE_KEYS = tuple(DEFAULTS)


@dataclass(frozen=True)
class Rules:
    """Every limit that applies to one image (after command line, overrides and file merge)."""

    min_ssim: float | None = DEFAULT_MIN_SSIM
    min_cs: float | None = None
    max_l1: float | None = None
    max_ssim_l1: float | None = None
    min_ms_ssim: float | None = None
    min_local_ssim: float | None = None
    local_window: int = DEFAULT_LOCAL_WINDOW
    ignore: tuple[Rect, ...] = ()
    mask: str | None = None

    def __post_init__(self) -> None:
        if self.min_local_ssim is not None and not math.isfinite(self.min_local_ssim):
            raise UsageError("--min-local-ssim must be a finite number")
        if isinstance(self.local_window, bool) or int(self.local_window) < 1:
            raise UsageError(f"--local-window must be a positive integer, got {self.local_window}")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**{name: getattr(self, name) for name in THRESHOLD_KEYS})

    @property
    def needs_maps(self) -> bool:
        return self.min_local_ssim is not None or bool(self.ignore) or self.mask is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in THRESHOLD_KEYS},
            "min_local_ssim": self.min_local_ssim, "local_window": self.local_window,
            "ignore": [list(r) for r in self.ignore], "mask": self.mask,
        }


def resolve_rules(name: str, given: dict[str, Any], config: CheckConfig | None = None) -> Rules:
    """The rules for image ``name``: command line (``given``) > matching overrides > file > defaults.

    Parameters
    ----------
    name : str
        The image's ``/``-separated path relative to the baseline folder (what globs match).
    given : dict
        Settings given on the command line only (absent keys were not given).
    config : CheckConfig, optional
        The ``[tool.ssim-l1]`` settings.
    """
    merged = dict(DEFAULTS)
    if config is not None:
        merged.update({k: v for k, v in config.for_image(name).items() if k in DEFAULTS})
    merged.update({k: v for k, v in given.items() if k in DEFAULTS})
    merged["ignore"] = tuple(merged["ignore"] or ())
    return Rules(**merged)


@dataclass
class ImageCheck:
    """The verdict on one baseline/candidate pair.

    ``status`` is ``pass``, ``fail`` or ``error`` (could not be compared: ``error`` says why).
    """

    name: str
    baseline: str
    candidate: str
    rules: Rules
    status: str = "error"
    record: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    local: LocalWorst | None = None
    error: str | None = None
    error_kind: str | None = None
    ssim_map: np.ndarray | None = field(default=None, repr=False)
    compare_area: np.ndarray | None = field(default=None, repr=False)
    loaded: tuple[Any, Any] | None = field(default=None, repr=False)
    display_region: LocalWorst | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["passed"]]

    @property
    def sort_score(self) -> float:
        """The score the reports sort by: SSIM, or the local minimum when it is lower."""
        values = [self.record.get("ssim")]
        if self.local is not None:
            values.append(self.local.value)
        present = [v for v in values if v is not None]
        return min(present) if present else -math.inf

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "reference": self.baseline,
                               "candidate": self.candidate}
        out.update(self.record)
        out["status"] = self.status
        out["passed"] = self.passed
        out["checks"] = self.checks
        out["local"] = None if self.local is None else {
            **self.local.to_dict(), "window": self.rules.local_window}
        out["rules"] = self.rules.to_dict()
        if self.error is not None:
            out["error"] = self.error
        return out


def describe_failure(item: ImageCheck) -> str:
    """One line: every failing check with value and limit (and the local region)."""
    if item.status == "error":
        return f"cannot compare: {item.error}"
    from .writers import describe_check

    return "; ".join(describe_check(check) for check in item.failed_checks)


class MaskCache:
    """Loads each mask file once per run: ``(H, W)`` float64 in [0, 1], 1 (white) = compare."""

    def __init__(self) -> None:
        self._masks: dict[str, np.ndarray] = {}

    def get(self, path: str) -> np.ndarray:
        if path not in self._masks:
            from .io import load_image

            loaded = load_image(path)
            colour = loaded.pixels[..., : loaded.colour_channels]
            mask = colour.mean(axis=2, dtype=np.float64)
            if loaded.has_alpha:  # a transparent pixel compares nothing
                mask = mask * loaded.pixels[..., -1]
            self._masks[path] = mask
        return self._masks[path]


def check_pair(
    name: str,
    baseline: str | Path,
    candidate: str | Path,
    options: CompareOptions,
    rules: Rules,
    *,
    keep_maps: bool = False,
    masks: MaskCache | None = None,
) -> ImageCheck:
    """Compare one pair and apply the rules; input problems become ``status="error"``.

    Parameters
    ----------
    name : str
        Relative path of the image (for reports and globs).
    baseline, candidate : str or Path
        The two files.
    options : CompareOptions
        Metric settings (``ms_ssim`` is switched on when ``rules.min_ms_ssim`` is set).
    rules : Rules
        Limits, the local rule, ignore rectangles and mask.
    keep_maps : bool
        Keep the SSIM map on the result (for the HTML report's heatmap).
    masks : MaskCache, optional
        Shared between pairs so a mask is decoded once.
    """
    from dataclasses import replace

    from .api import compare_loaded, load_pair

    item = ImageCheck(name, str(baseline), str(candidate), rules)
    if rules.min_ms_ssim is not None and not options.ms_ssim:
        options = replace(options, ms_ssim=True)
    try:
        ref, cand = load_pair(baseline, candidate, options.data_range)
        want_maps = keep_maps or rules.needs_maps
        result = compare_loaded(ref, cand, options, return_maps=want_maps)
        record = result.to_dict()
        area = None
        if rules.ignore or rules.mask is not None:
            mask = None
            if rules.mask is not None:
                mask = (masks or MaskCache()).get(rules.mask)
                if mask.shape != (result.height, result.width):
                    raise InputError(rules.mask, f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                                                 f"image {name} is {result.width}x{result.height}")
            area = compare_area(result.height, result.width, mask=mask, ignore=rules.ignore)
        scores = result.scores()
        weights = None
        if result.maps is not None:
            window = result.metrics.window
            border = window.radius if options.params.mean_over == "valid" else 0
            weights = map_weights(area, result.height, result.width, window.size, border)
        if area is not None and result.maps is not None and weights is not None:
            try:
                _apply_area(record, scores, result, weights, area, ref, cand, options)
            except ValueError as exc:
                raise InputError(candidate, str(exc)) from None
        if rules.min_local_ssim is not None and result.maps is not None and weights is not None:
            item.local = worst_window(result.maps["ssim"], weights, rules.local_window)
        checks = rules.thresholds.evaluate(scores)
        if rules.min_local_ssim is not None:
            checks.append(_local_check(item.local, rules))
        item.record = record
        item.checks = checks
        item.status = "pass" if all(c["passed"] for c in checks) else "fail"
        if keep_maps and result.maps is not None:
            item.ssim_map = result.maps["ssim"].mean(axis=2)
            item.compare_area = weights if area is not None else None
            item.loaded = (ref, cand)
            if item.status == "fail" and item.local is None and weights is not None:
                # Only for the report's outline: where the change is, even with the local
                # rule off. It decides nothing.
                item.display_region = worst_window(result.maps["ssim"], weights,
                                                   rules.local_window)
    except (InputError, PairError) as exc:
        item.status = "error"
        item.error = str(exc)
        item.error_kind = "pair" if isinstance(exc, PairError) else "input"
    except SsimCliError as exc:
        item.status = "error"
        item.error = f"{candidate}: {exc}"
        item.error_kind = "input"
    return item


def _apply_area(record: dict[str, Any], scores: dict[str, float], result: Any,
                weights: np.ndarray, area: np.ndarray, ref: Any, cand: Any,
                options: CompareOptions) -> None:
    """Replace the plain means in ``record``/``scores`` by mask-weighted ones."""
    from .io import prepare_pair

    per_channel = {key: weighted_means(result.maps[key], weights)
                   for key in ("ssim", "cs", "l1", "ssim_l1")}
    alpha = options.params.alpha
    if options.ms_ssim:
        x, y, _ = prepare_pair(ref, cand, options.color, options.transparency, options.background)
        values = masked_ms_ssim(x, y, area, options.params)
        per_channel["ms_ssim"] = values
        per_channel["ms_ssim_l1"] = [alpha * (1 - m) + (1 - alpha) * l1
                                     for m, l1 in zip(values, per_channel["l1"], strict=True)]
    for key, values in per_channel.items():
        scores[key] = float(np.mean(values))
        record[key] = scores[key]
    for index, channel in enumerate(record.get("per_channel", [])):
        for key, values in per_channel.items():
            channel[key] = values[index]
    record["compared_fraction"] = float(weights.sum() / weights.size)


def _local_check(local: LocalWorst | None, rules: Rules) -> dict[str, Any]:
    limit = rules.min_local_ssim
    if local is None:
        return {"metric": "local_ssim", "kind": "min", "limit": limit, "value": None,
                "margin": None, "passed": True, "region": None,
                "note": "no window is at least half inside the compared area"}
    margin = local.value - limit
    return {"metric": "local_ssim", "kind": "min", "limit": limit, "value": local.value,
            "margin": margin, "passed": margin >= 0,
            "region": {"x": local.x, "y": local.y, "width": local.width, "height": local.height}}


@dataclass
class CheckReport:
    """Everything one ``check`` run found, and its exit code."""

    baseline_dir: str
    candidate_dir: str
    items: list[ImageCheck] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    fail_on_new: bool = False
    updated: list[str] = field(default_factory=list)
    not_updated: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[ImageCheck]:
        return [i for i in self.items if i.status == "fail" and i.name not in self.updated]

    @property
    def errors(self) -> list[ImageCheck]:
        return [i for i in self.items if i.status == "error" and i.name not in self.updated]

    @property
    def new_failing(self) -> bool:
        return self.fail_on_new and any(name not in self.updated for name in self.extra)

    @property
    def exit_code(self) -> ExitCode:
        """2 when any pair could not be compared; else 1 on any regression; else 0.

        A regression is a failing image, a baseline with no candidate, or (``--fail-on-new``)
        a candidate with no baseline. Images accepted by ``--update-baseline`` no longer count.
        """
        if self.errors:
            return ExitCode.BAD_INPUT
        if self.failures or self.missing or self.new_failing:
            return ExitCode.THRESHOLD_FAILED
        return ExitCode.OK

    def sorted_items(self) -> list[ImageCheck]:
        """Failures and errors first, then by score, lowest first."""
        rank = {"error": 0, "fail": 1, "pass": 2}
        return sorted(self.items, key=lambda i: (rank[i.status], i.sort_score, i.name))

    def summary(self) -> dict[str, Any]:
        return {
            "total": len(self.items) + len(self.missing) + len(self.extra),
            "compared": len(self.items),
            "passed": sum(i.status == "pass" for i in self.items),
            "failed": sum(i.status == "fail" for i in self.items),
            "errors": sum(i.status == "error" for i in self.items),
            "missing": len(self.missing),
            "extra": len(self.extra),
            "fail_on_new": self.fail_on_new,
            "updated": list(self.updated),
            "exit_code": int(self.exit_code),
            "passed_overall": self.exit_code == ExitCode.OK,
        }

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Per metric over the compared pairs: count, mean, median, std, min, max and the worst
        pairs, computed by batch's own `Tally` so the two commands agree."""
        from .batch import METRICS, Tally

        tally = Tally()
        for item in self.items:
            if item.status != "error":
                tally.add({"name": item.name, "status": "ok",
                           **{m: item.record.get(m) for m in METRICS}})
        return tally.summary()

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document: ``pairs``, ``missing``, ``extra``, ``summary`` as in batch
        (``summary.ssim.mean`` ...; here also the counts and ``exit_code``), plus ``counts``
        (batch's names), the same per-metric ``statistics`` and the overall ``passed``."""
        summary = self.summary()
        statistics = self.statistics()
        return {
            "baseline": self.baseline_dir,
            "candidate": self.candidate_dir,
            "pairs": [i.to_dict() for i in self.items],
            "missing": list(self.missing),
            "extra": list(self.extra),
            "summary": {**summary, **statistics},
            "counts": {"pairs": len(self.items), "scored": summary["passed"] + summary["failed"],
                       "errors": summary["errors"], "failed": summary["failed"],
                       "missing": summary["missing"], "extra": summary["extra"]},
            "statistics": statistics,
            "passed": self.exit_code == ExitCode.OK,
        }


def copy_atomic(source: str | Path, target: str | Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file in the target's folder + rename.

    A reader of ``target`` sees the old file or the new one, never a half-written one; the
    source is only read.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        # mkstemp makes the file private; a baseline keeps the mode it had (or the usual one).
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def update_baseline(report: CheckReport) -> list[tuple[str, str]]:
    """Accept failing and new candidates: copy each over (or into) the baseline folder.

    Unchanged baselines (passing images) are never rewritten, candidates are never written,
    missing candidates are left as they are (there is nothing to copy), and a pair that could
    not be decoded is not accepted. A size change (the pair could not be compared, but the
    candidate decodes) is accepted. Returns ``(name, reason)`` for each image *not* updated
    that needed it; ``report.updated`` lists those copied.
    """
    skipped: list[tuple[str, str]] = []
    for item in report.items:
        accept = item.status == "fail" or (item.status == "error" and item.error_kind == "pair")
        if not accept:
            continue
        if Path(item.baseline).suffix.lower() != Path(item.candidate).suffix.lower():
            skipped.append((item.name, "baseline and candidate have different file types"))
            continue
        copy_atomic(item.candidate, item.baseline)
        report.updated.append(item.name)
    for name in report.extra:
        copy_atomic(Path(report.candidate_dir) / name, Path(report.baseline_dir) / name)
        report.updated.append(name)
    report.not_updated = [name for name, _ in skipped]
    return skipped
