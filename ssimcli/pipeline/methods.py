"""Several candidate trees ("methods") scored against one reference tree in one run.

``ssim-l1 batch GT/ EDSR/ RCAN/ SwinIR/``: each candidate tree is paired with the reference tree
on its own, by the rules of one tree (`ssimcli.pipeline.pairing`). The pairs are then grouped by
reference: one `MethodsJob` holds a reference and its candidate in every tree that has one, so
the reference is decoded once and scored once per method. Each row comes back tagged with its
``method`` (the tree's folder name), and each method keeps its own `BatchReport` (tally,
missing, extra), so a method's numbers are exactly those of a run on that tree alone.

No Click and no printing here (`ssimcli.cli.batch_methods` reports).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssimcli.errors import ExitCode, UsageError, worst_exit_code
from ssimcli.io.maps import maps_folder
from ssimcli.options import CompareOptions, MapRequest, Thresholds
from ssimcli.pipeline.pair import PairJob, error_outcome, score_pair
from ssimcli.pipeline.pairing import Pairing
from ssimcli.pipeline.resume import resumable
from ssimcli.pipeline.summary import BatchReport, Tally

#: The key of a row that names its method, and the CSV column that leads every row.
METHOD = "method"
#: A worker's answer to a `MethodsJob`: the rows of every method of one reference.
BUNDLE = "method_rows"


@dataclass(frozen=True)
class Method:
    """One candidate tree: its label in tables (``name``), the folder as given, its pairing."""

    name: str
    directory: str
    pairing: Pairing


def method_names(directories: Sequence[str]) -> list[str]:
    """Each tree's folder name (``outputs/EDSR/`` -> ``EDSR``); the path as given for trees
    whose folder names collide (``a/out``, ``b/out``).

    Raises
    ------
    UsageError
        When one folder is given twice (its rows could not be told apart).
    """
    resolved = [Path(d).resolve() for d in directories]
    for index, path in enumerate(resolved):
        if path in resolved[:index]:
            raise UsageError(f"{directories[index]}: candidate tree given twice")
    names = [path.name or str(path) for path in resolved]
    return [d.rstrip("/" + os.sep) or d if names.count(n) > 1 else n
            for n, d in zip(names, directories, strict=True)]


@dataclass(frozen=True)
class MethodCandidate:
    """One method's candidate of a reference (and where its maps go, if anywhere)."""

    method: str
    candidate: str
    maps_dir: str | None = None


@dataclass(frozen=True)
class MethodsJob:
    """One reference and its candidates in several trees: decoded once, scored per method.

    Small and picklable: it travels to pool and Dask workers like a `PairJob`.
    """

    name: str
    reference: str
    candidates: tuple[MethodCandidate, ...]
    options: CompareOptions
    map_request: MapRequest = field(default_factory=MapRequest)
    threads: int | None = None  # the engine's, per pair (`ssimcli.pipeline.runners.pair_threads`)

    # The runners' task protocol, as `PairJob` has it.
    def run(self) -> dict[str, Any]:
        return score_methods(self)

    def worker_failure_row(self, why: str) -> dict[str, Any]:
        """The rows of this job when its worker failed (killed, lost): an error row per method."""
        rows = [tag(c.method, PairJob(self.name, self.reference, c.candidate, self.options)
                    .worker_failure_row(why))
                for c in self.candidates]
        return {"name": self.name, BUNDLE: rows}


def make_jobs(methods: list[Method], options: CompareOptions, maps_dir: str | None,
              done: set[tuple[str, str]], grouped: bool = True,
              map_request: MapRequest | None = None, threads: int | None = None) -> list[Any]:
    """The jobs of every pair not in ``done`` (``(method, name)``), sorted by name.

    ``grouped``: one `MethodsJob` per reference (decode it once); else one `PairJob` per pair,
    for the GPU path, which decodes pairs ahead on threads itself.
    """
    by_name: dict[str, tuple[str, list[MethodCandidate]]] = {}
    for method in methods:
        for pair in method.pairing.pairs:
            if (method.name, pair.name) in done:
                continue
            maps = None if maps_dir is None else str(maps_folder(Path(maps_dir, method.name),
                                                                 pair.name))
            entry = by_name.setdefault(pair.name, (str(pair.reference), []))
            entry[1].append(MethodCandidate(method.name, str(pair.candidate), maps))
    request = map_request or MapRequest()
    jobs: list[Any] = []
    for name in sorted(by_name):
        reference, candidates = by_name[name]
        if grouped:
            jobs.append(MethodsJob(name, reference, tuple(candidates), options, request, threads))
        else:
            jobs.extend(PairJob(name, reference, c.candidate, options, maps_dir=c.maps_dir,
                                map_request=request, threads=threads) for c in candidates)
    return jobs


def score_methods(job: MethodsJob) -> dict[str, Any]:
    """Decode the reference once, score it against each method's candidate: one bundle of rows.

    A reference that cannot be read is an error row in every method; a bad candidate, in its
    method only (the same error policy as one pair, `ssimcli.pipeline.error_outcome`).
    """
    from ssimcli.io.decode import load_image

    reference: Any = None
    problem: BaseException | None = None
    try:
        reference = load_image(job.reference, job.options.data_range)
    except Exception as exc:  # reported in each method's row, by the pipeline's policy
        problem = exc
    rows = []
    for entry in job.candidates:
        pair_job = PairJob(job.name, job.reference, entry.candidate, job.options,
                           maps_dir=entry.maps_dir, map_request=job.map_request,
                           threads=job.threads)
        rows.append(tag(entry.method, _score_one(pair_job, reference, problem)))
    return {"name": job.name, BUNDLE: rows}


def _score_one(job: PairJob, reference: Any, problem: BaseException | None) -> dict[str, Any]:
    from ssimcli.io.decode import load_image

    if problem is not None:
        return error_outcome(job, problem).to_row()
    try:
        candidate = load_image(job.candidate, job.options.data_range)
    except Exception as exc:
        return error_outcome(job, exc).to_row()
    return score_pair(job, loaded=(reference, candidate)).to_row()


def tag(method: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row with ``method`` as its first key."""
    return {METHOD: method, **{k: v for k, v in row.items() if k != METHOD}}


def unbundle(rows: Iterable[dict[str, Any]], method_of: dict[str, str] | None = None
             ) -> Iterator[dict[str, Any]]:
    """Plain rows out of the runners' answers: a bundle's rows one by one; a plain pair's row
    (GPU path) tagged with its method, found by its candidate file (``method_of``)."""
    for row in rows:
        if BUNDLE in row:
            yield from row[BUNDLE]
        elif method_of is not None and METHOD not in row:
            yield tag(method_of[str(row["candidate"])], row)
        else:
            yield row


def candidate_methods(methods: list[Method]) -> dict[str, str]:
    """Candidate file -> method, for tagging the rows of ungrouped jobs."""
    return {str(p.candidate): m.name for m in methods for p in m.pairing.pairs}


def resumable_rows(previous: list[dict[str, Any]], methods: list[Method],
                   options: CompareOptions, path: str | Path
                   ) -> dict[tuple[str, str], dict[str, Any]]:
    """The earlier run's rows to keep, by ``(method, name)``: a row belongs to a method by its
    ``method`` column, and is kept on the rules of one tree (`ssimcli.pipeline.resume.resumable`)."""
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for method in methods:
        rows = [row for row in previous if row.get(METHOD) == method.name]
        names = {pair.name for pair in method.pairing.pairs}
        for name, row in resumable(rows, names, options, path).items():
            kept[(method.name, name)] = row
    return kept


@dataclass
class MethodsReport:
    """Every method's `BatchReport`, in the order the trees were given, and the run's verdict."""

    methods: list[Method]
    reports: dict[str, BatchReport] = field(default_factory=dict)
    scored_now: int = 0
    elapsed: float = 0.0

    @classmethod
    def start(cls, methods: list[Method], worst_n: int, thresholds: Thresholds,
              keep_rows: bool) -> MethodsReport:
        reports = {m.name: BatchReport(pairing=m.pairing,
                                       tally=Tally(worst_n=worst_n, thresholds=thresholds),
                                       keep_rows=keep_rows)
                   for m in methods}
        return cls(methods, reports)

    def add(self, row: dict[str, Any], resumed: bool = False) -> None:
        self.reports[row[METHOD]].add(row, resumed)

    @property
    def exit_code(self) -> ExitCode:
        return worst_exit_code([report.exit_code for report in self.reports.values()])

    def summaries(self) -> list[tuple[str, dict[str, Any]]]:
        """``(method, summary)`` per method, in the order given."""
        return [(m.name, self.reports[m.name].summary) for m in self.methods]

    def to_json(self, thresholds: Thresholds) -> dict[str, Any]:
        """``{"methods": [{"method", "candidate", ...one tree's json document}, ...]}``; the
        rows of ``pairs`` are those of a one-tree run (no ``method`` key)."""
        out = []
        for method in self.methods:
            document = self.reports[method.name].to_json(thresholds)
            document["pairs"] = [{k: v for k, v in row.items() if k != METHOD}
                                 for row in document["pairs"]]
            out.append({METHOD: method.name, "candidate": method.directory, **document})
        return {"methods": out}
