"""What a batch run adds up to: counts, per-metric statistics, the worst pairs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ssimcli.errors import ExitCode
from ssimcli.options import Thresholds
from ssimcli.pipeline.resume import INFINITE
from ssimcli.vocabulary import HIGHER_IS_BETTER, METRICS


@dataclass
class Tally:
    """What the summary needs from each pair: its scores, not its row (memory stays small)."""

    worst_n: int = 10
    thresholds: Thresholds = field(default_factory=Thresholds)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    failed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """Record a row; returns its threshold checks (also stored in the row, as compare does)."""
        name = row["name"]
        if row.get("status") == "error":
            self.errors[name] = row.get("error") or "error"
            self.scores.pop(name, None)
            return []
        self.errors.pop(name, None)
        # A resumed row may carry the verdict of an earlier run's limits; judge it by these.
        row.pop("thresholds", None)
        row.pop("passed", None)
        values = {m: score_value(row[m]) for m in METRICS if _is_score(row.get(m))}
        self.scores[name] = values
        checks = self.thresholds.evaluate(values)
        if checks:
            row["thresholds"] = checks
            row["passed"] = all(c["passed"] for c in checks)
            if not row["passed"]:
                self.failed[name] = [c for c in checks if not c["passed"]]
            else:
                self.failed.pop(name, None)
        return checks

    @property
    def metrics(self) -> list[str]:
        return [m for m in METRICS if any(m in v for v in self.scores.values())]

    def ranked(self, metric: str) -> list[tuple[str, float]]:
        """Scored pairs from worst to best by ``metric`` (ties by name)."""
        items = [(n, v[metric]) for n, v in self.scores.items() if metric in v]
        better_high = HIGHER_IS_BETTER[metric]
        return sorted(items, key=lambda item: (item[1] if better_high else -item[1], item[0]))

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per metric: count, mean, median, std (population), min, max and the worst pairs.

        The statistics are over the finite values: a pair of identical images (infinite PSNR)
        is counted in ``infinite`` instead (the key is there only when it is not zero), so that
        one such pair does not turn a method's mean PSNR into ``inf``. When every value is
        infinite, so are the statistics (std 0).
        """
        out: dict[str, dict[str, Any]] = {}
        for metric in self.metrics:
            ranked = self.ranked(metric)
            out[metric] = {
                **statistics([v for _, v in ranked]),
                "worst": [{"name": n, "value": v} for n, v in ranked[: self.worst_n]],
            }
        return out


def statistics(values: list[float]) -> dict[str, Any]:
    """count, mean, median, std (population), min, max of the finite ``values``, and
    ``infinite`` (the number of +inf values left out) when there are any."""
    import numpy as np

    array = np.array(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    infinite = int(array.size - finite.size)
    if finite.size == 0:
        out: dict[str, Any] = {"count": 0, "mean": math.inf, "median": math.inf, "std": 0.0,
                               "min": math.inf, "max": math.inf}
    else:
        out = {"count": int(finite.size), "mean": float(finite.mean()),
               "median": float(np.median(finite)), "std": float(finite.std()),
               "min": float(finite.min()), "max": float(finite.max())}
    if infinite:
        out["infinite"] = infinite
    return out


@dataclass
class BatchReport:
    """Everything one batch run found, and its exit code (the command's only verdict)."""

    pairing: Any
    tally: Tally
    keep_rows: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed: int = 0
    scored_now: int = 0
    elapsed: float = 0.0

    def add(self, row: dict[str, Any], resumed: bool = False) -> None:
        self.tally.add(row)
        self.resumed += resumed
        if self.keep_rows:
            self.rows.append(row)

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        return self.tally.summary()

    @property
    def counts(self) -> dict[str, int]:
        return {
            "pairs": len(self.pairing.pairs), "scored": len(self.tally.scores),
            "errors": len(self.tally.errors), "failed": len(self.tally.failed),
            "missing": len(self.pairing.missing), "extra": len(self.pairing.extra),
            "resumed": self.resumed,
        }

    @property
    def exit_code(self) -> ExitCode:
        """2 when any pair could not be scored, else 1 when any failed a limit, else 0."""
        if self.tally.errors:
            return ExitCode.BAD_INPUT
        if self.tally.failed:
            return ExitCode.THRESHOLD_FAILED
        return ExitCode.OK

    def to_json(self, thresholds: Thresholds) -> dict[str, Any]:
        """The ``--format json`` document: pairs, missing, extra, summary, counts."""
        payload: dict[str, Any] = {
            "pairs": sorted(self.rows, key=lambda r: r["name"]),
            "missing": self.pairing.missing, "extra": self.pairing.extra,
            "summary": self.summary, "counts": self.counts,
        }
        if thresholds.active():
            payload["thresholds"] = thresholds.active()
            payload["passed"] = not self.tally.failed
        return payload


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_score(value: Any) -> bool:
    """A finite number, or an infinite PSNR (the float, or its written form ``"inf"``)."""
    if value == INFINITE or (isinstance(value, float) and value == math.inf):
        return True
    return _is_number(value)


def score_value(value: Any) -> float:
    """A score as a float: ``"inf"`` (as written in JSON) is ``math.inf``."""
    return math.inf if value == INFINITE else float(value)
