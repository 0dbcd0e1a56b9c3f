"""The regression rules of ``ssim-l1 check``: thresholds, the local rule, masks, the verdict.

Defaults (documented, with the measured table of cases behind them, in the README, "Use in CI"):

* ``max-changed-pixels`` 0 at ``pixel-threshold`` 0.1: no pixel may change clearly. A pixel has
  changed clearly when pixelmatch's perceptual YIQ colour distance exceeds the threshold (0.1 is
  pixelmatch's default; about 26 grey levels). A mean hides a 12 px badge on a 1280x720 page
  (SSIM 0.9997); this rule sees its 122 pixels, while re-encodings, +-2 levels of noise and a
  different dither change none. Cheap: one pass over the pixels.
* ``min-ssim`` 0.95: catches diffuse changes (blur, a shifted page) made of many small deltas.
* ``min-cs``, ``max-l1``, ``max-ssim-l1``, ``min-ms-ssim``, ``min-psnr``: off unless set.
* Every limit, default ones included, can be switched off (``--min-ssim off``,
  ``min-ssim = false``, ``min_ssim=False``).
* A size change is a regression (``fail`` with ``size_change``), not bad input.
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssimcli.config import CheckConfig, resolve_rule_settings
from ssimcli.errors import ExitCode
from ssimcli.io.output import copy_file
from ssimcli.metrics.windows import LocalWorst
from ssimcli.options import CompareOptions
from ssimcli.pipeline.pair import ERROR, FAILED, PAIR, SIZE, MaskCache, PairJob, PairOutcome, Rules, score_pair

DEFAULT_MIN_SSIM = 0.95
DEFAULT_MAX_CHANGED_PIXELS = 0
DEFAULT_PIXEL_THRESHOLD = 0.1
DEFAULT_LOCAL_WINDOW = 32
#: Built-in values of every rule setting (``None``: the rule is off).
DEFAULTS: dict[str, Any] = {
    "min_ssim": DEFAULT_MIN_SSIM, "min_cs": None, "max_l1": None, "max_ssim_l1": None,
    "min_ms_ssim": None, "min_psnr": None, "max_changed_pixels": DEFAULT_MAX_CHANGED_PIXELS,
    "pixel_threshold": DEFAULT_PIXEL_THRESHOLD, "min_local_ssim": None,
    "local_window": DEFAULT_LOCAL_WINDOW, "ignore": (), "mask": None,
}
RULE_KEYS = tuple(DEFAULTS)
#: ``check``'s statuses for the pipeline's outcomes.
_STATUS = {"ok": "pass", FAILED: "fail", ERROR: "error"}

__all__ = ["DEFAULTS", "CheckReport", "ImageCheck", "MaskCache", "Rules", "check_pair",
           "resolve_rules"]


def resolve_rules(name: str, given: dict[str, Any], config: CheckConfig | None = None) -> Rules:
    """The rules for image ``name``: command line (``given``) > matching overrides > file > defaults.

    Parameters
    ----------
    name : str
        The image's ``/``-separated path relative to the baseline folder (what globs match).
    given : dict
        Settings given on the command line (or the plugin's call) only: absent keys were not given.
    config : CheckConfig, optional
        The ``[tool.ssim-l1]`` settings.
    """
    return Rules(**resolve_rule_settings(name, given, config, DEFAULTS))


@dataclass
class ImageCheck:
    """The verdict on one baseline/candidate pair.

    ``status`` is ``pass``, ``fail`` or ``error`` (could not be compared: ``error`` says why).
    A size change is a ``fail`` with ``size_change = {"baseline": [w, h], "candidate": [w, h]}``.
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
    size_change: dict[str, list[int]] | None = None

    @classmethod
    def from_outcome(cls, outcome: PairOutcome, rules: Rules) -> ImageCheck:
        # In a screenshot suite a new size is a regression to review, not a broken input.
        status = "fail" if outcome.error_kind == SIZE else _STATUS[outcome.status]
        return cls(
            outcome.name, outcome.reference, outcome.candidate, rules, size_change=outcome.size_change,
            status=status, record=outcome.record, checks=outcome.checks,
            local=outcome.local, error=outcome.error, error_kind=outcome.error_kind,
            ssim_map=outcome.ssim_map, compare_area=outcome.compare_area,
            loaded=outcome.loaded,
        )

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
        if self.size_change is not None:
            out["size_change"] = self.size_change
        if self.error is not None:
            out["error"] = self.error
        return out


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
    """Compare one pair through the pair pipeline and apply the rules (errors become
    ``status="error"``). ``keep_maps`` keeps the SSIM map and pixels for the review page."""
    job = PairJob(name, str(baseline), str(candidate), options, rules, keep_maps=keep_maps)
    return ImageCheck.from_outcome(score_pair(job, masks=masks), rules)


def usable_cores(limit: int = 8) -> int:
    """CPU cores this process may use (``taskset`` and cgroup affinity), at most ``limit``:
    each image in flight holds its maps in memory."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, limit))


def run_checks(pairs: Iterable[Any], options: CompareOptions, rules_by_name: dict[str, Rules], *,
               jobs: int | None = None, keep_maps: bool = False,
               on_item: Callable[[ImageCheck], None] | None = None) -> Iterator[ImageCheck]:
    """Check every pair on threads (decoding and filtering release the GIL), in pair order.

    ``on_item`` runs in the worker thread while the item still holds its pixels and maps (the
    review page's previews); afterwards they are dropped: every image's would not fit.
    """
    from concurrent.futures import ThreadPoolExecutor

    pairs = list(pairs)
    masks = MaskCache()

    def run_one(pair: Any) -> ImageCheck:
        item = check_pair(pair.name, pair.reference, pair.candidate, options,
                          rules_by_name[pair.name], keep_maps=keep_maps, masks=masks)
        if on_item is not None:
            on_item(item)
        item.loaded = item.ssim_map = item.compare_area = None
        return item

    workers = max(1, min(jobs or usable_cores(), len(pairs) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(run_one, pairs)


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
    #: Candidates ``--update-baseline`` refused as files (undecodable, special, over the pixel
    #: limit): bad input, like a pair that could not be compared.
    refused: list[str] = field(default_factory=list)

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
        """2 when any pair could not be compared or ``--update-baseline`` refused a candidate
        as a file; else 1 on any regression; else 0.

        A regression is a failing image, a baseline with no candidate, or (``--fail-on-new``)
        a candidate with no baseline. Images accepted by ``--update-baseline`` no longer count.
        """
        if self.errors or self.refused:
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
            "refused": list(self.refused),
            "exit_code": int(self.exit_code),
            "passed_overall": self.exit_code == ExitCode.OK,
        }

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Per metric over the compared pairs: count, mean, median, std, min, max and the worst
        pairs, computed by batch's own `Tally` so the two commands agree."""
        from ssimcli.pipeline.summary import Tally
        from ssimcli.vocabulary import METRICS

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
            "updated": list(self.updated),
            "passed": self.exit_code == ExitCode.OK,
        }


def acceptable(candidate: str | Path, max_pixels: int | None = None) -> str | None:
    """Why ``candidate`` must not become a baseline (``None``: it may): it must be a regular
    file that decodes, within the pixel limit and the memory available."""
    from ssimcli.errors import SsimCliError
    from ssimcli.io.decode import load_image

    try:
        load_image(candidate, max_pixels=max_pixels)
    except SsimCliError as exc:
        return getattr(exc, "problem", None) or str(exc)
    except MemoryError:
        return "out of memory while decoding it"
    return None


def update_baseline(report: CheckReport, max_pixels: int | None = None,
                    announce: Callable[[str], None] | None = None) -> list[tuple[str, str]]:
    """Accept failing and new candidates: copy each over (or into) the baseline folder.

    Unchanged baselines (passing images) are never rewritten, candidates are never written,
    missing candidates are left as they are (there is nothing to copy). Only a regular file
    that decodes within the limits is accepted (`acceptable`): a size change (the pair could not
    be compared, but the candidate decodes) is; an undecodable or special file, or one over
    ``max_pixels``, is not. ``announce(name)`` is called as each image is accepted, so that a
    run stopped half-way has already said which ones. Returns ``(name, reason)`` for each image
    *not* updated that needed it; ``report.updated`` lists those copied, ``report.refused``
    those refused as files (bad input: the run exits 2).
    """
    skipped: list[tuple[str, str]] = []
    for name, source, target, decoded in _wanted_updates(report, skipped):
        reason = None if decoded else acceptable(source, max_pixels)
        if reason is not None:
            skipped.append((name, reason))
            report.refused.append(name)
            continue
        copy_file(source, target)
        report.updated.append(name)
        if announce is not None:
            announce(name)
    report.not_updated = [name for name, _ in skipped]
    return skipped


def _wanted_updates(report: CheckReport, skipped: list[tuple[str, str]]
                    ) -> list[tuple[str, Path, Path, bool]]:
    """(name, candidate, baseline, decoded already) of every image an update would accept."""
    wanted: list[tuple[str, Path, Path, bool]] = []
    for item in report.items:
        accept = item.status == "fail" or (item.status == "error" and item.error_kind == PAIR)
        if not accept:
            continue
        if Path(item.baseline).suffix.lower() != Path(item.candidate).suffix.lower():
            skipped.append((item.name, "baseline and candidate have different file types"))
            continue
        # A size change is found from the headers, before decoding: its candidate is checked.
        decoded = item.status == "fail" and item.size_change is None
        wanted.append((item.name, Path(item.candidate), Path(item.baseline), decoded))
    for name in report.extra:
        wanted.append((name, Path(report.candidate_dir) / name, Path(report.baseline_dir) / name,
                       False))
    return wanted


def remove_stale_temps_under(folder: str | Path) -> list[Path]:
    """`ssimcli.io.output.remove_stale_temps` in ``folder`` and every folder below it: what a
    killed ``--update-baseline`` left behind goes at the start of the next run."""
    from ssimcli.io.output import remove_stale_temps

    removed: list[Path] = []
    for directory, _, _ in os.walk(folder):
        removed.extend(remove_stale_temps(directory))
    return removed
