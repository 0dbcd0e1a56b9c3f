"""Scoring many pairs: a bounded process pool (or a Dask cluster, or one GPU), and a summary.

Resuming an interrupted run (reading the rows it wrote) is `ssimcli.pipeline.resume`.

No Click and no printing here: the ``batch`` command formats and reports; this module decides
what is computed where. Every pair goes through `ssimcli.pipeline.score_pair`, the pipeline
``compare`` and ``check`` use, so a pair scores exactly the same everywhere.

Rows
----
Each scored pair becomes one dict, a *row*: ``name`` (the relative path), ``status``
(``"ok"`` or ``"error"``), then either every key of `PairResult.to_dict` or ``reference``,
``candidate`` and a one-line ``error``.

Why one long module: the three runners (process pool with its retry of killed workers, Dask,
GPU) share the job type, the row shape and the in-flight bound; the summary (`Tally`,
`BatchReport`) is the consumer of exactly those rows.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from ssimcli.errors import UsageError
from ssimcli.io.maps import maps_folder
from ssimcli.options import CompareOptions, MapRequest
from ssimcli.pipeline.pair import PairJob, error_outcome, score_pair
from ssimcli.pipeline.pairing import Pair

DASK_HINT = "pip install 'ssim-l1[dask]'"
# Tasks in flight per worker: enough to keep every worker fed while results are written, few
# enough that memory does not grow with the number of pairs.
IN_FLIGHT_PER_WORKER = 4


class Task(Protocol):
    """What the runners run: a `PairJob` or a `ssimcli.pipeline.methods.MethodsJob`, small and
    picklable (it travels to pool and Dask workers), that scores itself into a row."""

    @property
    def name(self) -> str: ...

    def run(self) -> dict[str, Any]: ...

    def worker_failure_row(self, why: str) -> dict[str, Any]: ...


def usable_cores() -> int:
    """CPU cores this process may run on (respects ``taskset`` and cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows: no affinity API
        return max(1, os.cpu_count() or 1)


def score_task(task: Task) -> dict[str, Any]:
    """Score one task and return its row (a bug inside the engine becomes the pair's error row;
    the error instead). Runs in pool and Dask workers, which write the pair's maps themselves
    so that maps never travel back to the parent.

    A `ssimcli.pipeline.methods.MethodsJob` (one reference, several candidate trees) answers with one
    bundle of rows (`ssimcli.pipeline.methods.unbundle` takes them apart)."""
    return task.run()


# The metric engine may spread one pair over threads on every core; when pairs already run in
# parallel processes that would oversubscribe the cores, so each worker computes on one thread.
WORKER_ENV = {"SSIM_L1_THREADS": "1"}
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_init(parent: int | None = None) -> None:
    die_with_parent(parent)
    # Ctrl-C goes to the whole process group; only the parent should react (and report once).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for key, value in WORKER_ENV.items():
        os.environ.setdefault(key, value)
    warm_imports()  # a no-op after a fork; with spawn, the import happens once per worker


def die_with_parent(parent: int | None) -> None:
    """Make this worker exit when the batch process dies, SIGKILL of the parent included.

    On Linux the kernel sends the worker SIGKILL when its parent exits (``PR_SET_PDEATHSIG``);
    the parent pid is checked after that call, since a parent that died just before it would
    never trigger the signal. Elsewhere only the pid check runs.
    """
    if _is_linux():
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc symbol: the pid check still runs
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)


# Modules every pair needs, imported before the workers start (in the parent before a fork,
# or in the forkserver) so that the import cost is paid once, not once per worker or per pair.
HEAVY_MODULES = ("ssimcli.pipeline.score", "ssimcli.metrics.fast", "imagecodecs")


def warm_imports() -> None:
    """Import `HEAVY_MODULES` (those that are installed) into this process."""
    import importlib

    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _pool_context() -> Any:
    import multiprocessing

    if _is_linux():
        # fork: a worker starts in milliseconds with every module already imported. Safe here
        # because the workers are forked before this process starts any thread (`run_local`).
        warm_imports()
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(HEAVY_MODULES))
        return context
    return multiprocessing.get_context("spawn")  # macOS, Windows: fork is unsafe there


def _is_linux() -> bool:
    # A function, not an inline test, so that type checkers on other platforms see both paths.
    import sys

    return sys.platform.startswith("linux")


def _ready() -> bool:
    return True


def run_local(tasks: Iterable[Task], jobs: int) -> Iterator[dict[str, Any]]:
    """Yield one row per task as it finishes (completion order), using ``jobs`` processes.

    ``jobs == 1`` scores in this process: no start-up cost, and the same function. Otherwise
    the workers are started before this function returns, so that a caller may start threads
    (a progress bar) afterwards without any being inherited by a forked worker.

    A worker killed by the OS (out of memory, a signal) costs only its own pair: the pool is
    replaced, and every pair that was in flight with it is scored again, alone, in a fresh
    worker; a pair that kills that worker too becomes an error row (`killed_row`).
    """
    if jobs <= 1:
        return (score_task(task) for task in tasks)
    pool = _Pool(jobs)
    return pool.rows(tasks)


class _Pool:
    """A process pool that survives the death of its workers (see `run_local`)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.context = _pool_context()
        self.executor = self._start(jobs)

    def _start(self, workers: int) -> ProcessPoolExecutor:
        # The workers' parent is this process, except under a forkserver (not on Linux).
        parent = None if self.context.get_start_method() == "forkserver" else os.getpid()
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=self.context,
                                       initializer=_worker_init, initargs=(parent,))
        executor.submit(_ready)  # the first submit launches every worker (all at once, fork)
        return executor

    def rows(self, tasks: Iterable[Task]) -> Iterator[dict[str, Any]]:
        iterator = iter(tasks)
        try:
            while True:
                suspects = yield from self._until_broken(iterator)
                if not suspects:
                    return
                self.executor.shutdown(wait=True, cancel_futures=True)
                yield from _alone(suspects, self._start)
                self.executor = self._start(self.jobs)
        finally:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def _until_broken(self, iterator: Iterator[Task]
                      ) -> Generator[dict[str, Any], None, list[Task]]:
        """Rows until the tasks run out (returns ``[]``) or the pool breaks (returns the tasks
        that were in flight, or not yet sent, when it did)."""
        from concurrent.futures.process import BrokenProcessPool

        pending: dict[Future, Task] = {}
        lost: list[Task] = []
        limit = self.jobs * IN_FLIGHT_PER_WORKER
        while True:
            while not lost and len(pending) < limit:
                task = next(iterator, None)
                if task is None:
                    break
                try:
                    pending[self.executor.submit(score_task, task)] = task
                except BrokenProcessPool:
                    lost.append(task)
            if not pending:
                return lost
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                row = _row_of(future, task)
                if row is None:
                    lost.append(task)
                else:
                    yield row


def _row_of(future: Future, task: Task) -> dict[str, Any] | None:
    """The row a finished future carries; ``None`` when its worker died."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        return None
    except Exception as exc:  # the worker, not the pair, failed: report it per pair
        return failed_row(task, exc)


def _alone(suspects: list[Task], start: Callable[[int], ProcessPoolExecutor]
           ) -> Iterator[dict[str, Any]]:
    """Score each task on its own in a one-worker pool, so a death is that task's own."""
    executor: ProcessPoolExecutor | None = None
    try:
        for task in suspects:
            executor = executor or start(1)
            row = _row_of(executor.submit(score_task, task), task)
            if row is None:
                row = killed_row(task)
                executor.shutdown(wait=True)
                executor = None
            yield row
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def killed_row(task: Task) -> dict[str, Any]:
    """The row of a pair whose worker was killed twice (once with others, once alone)."""
    return task.worker_failure_row("was killed, twice (out of memory, or a signal); the pair was not scored")


def failed_row(task: Task, exc: BaseException) -> dict[str, Any]:
    """The row of a pair whose worker failed, rather than the pair itself."""
    text = " ".join(str(exc).split())[:160]
    return task.worker_failure_row(f"failed ({type(exc).__name__}{': ' + text if text else ''})")


def run_dask(tasks: Iterable[Task], scheduler: str, jobs: int) -> Iterator[dict[str, Any]]:
    """Yield one row per task from a Dask distributed cluster, as tasks finish.

    ``scheduler`` is an address (``tcp://host:8786``) or ``"local"`` for a `LocalCluster` of
    ``jobs`` single-threaded worker processes on the loopback interface. Workers must see the
    same file paths as this process (a shared file system) and have ``ssim-l1`` installed.
    """
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--scheduler needs Dask distributed: {DASK_HINT}") from None
    import logging

    # Dask logs cluster life-cycle at INFO on stderr; our stderr is for the user's messages.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler == "local":
            cluster = distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR,
                env={k: os.environ.get(k, v) for k, v in WORKER_ENV.items()},
            )
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(scheduler, timeout="15s")
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: an address Dask cannot parse
        if cluster is not None:
            cluster.close()
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    try:
        workers = max(1, sum(client.nthreads().values()))
        queue = distributed.as_completed()
        tasks_by_key: dict[Any, Task] = {}
        iterator = iter(tasks)
        in_flight = 0

        def submit_next() -> bool:
            task = next(iterator, None)
            if task is None:
                return False
            # pure=False: the same pair scored twice (a resumed run) is still computed.
            future = client.submit(score_task, task, pure=False)
            tasks_by_key[future.key] = task
            queue.add(future)
            return True

        while in_flight < workers * IN_FLIGHT_PER_WORKER and submit_next():
            in_flight += 1
        for future in queue:
            try:
                row = future.result()
            except Exception as exc:  # e.g. KilledWorker: the cluster gave up on this pair
                row = failed_row(tasks_by_key[future.key], exc)
            tasks_by_key.pop(future.key, None)
            future.release()
            in_flight -= 1
            if submit_next():
                in_flight += 1
            yield row
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_gpu(tasks: Iterable[Task], backend: Any, decoders: int) -> Iterator[dict[str, Any]]:
    """Score on one GPU: ``decoders`` CPU threads decode the next pairs while the GPU computes.

    One process and one CUDA context: the device is fed from a bounded queue of decoded pairs
    (the codecs release the GIL), so memory stays bounded and the GPU does not wait for PNGs.
    A pair that fails to decode, or runs the device out of memory, is an error row like any
    other (the same pipeline, the same policy).
    """
    from concurrent.futures import ThreadPoolExecutor

    from ssimcli.pipeline.score import load_pair

    def decode(task: PairJob) -> Any:
        try:
            return load_pair(task.reference, task.candidate, task.options.data_range,
                             task.options.max_pixels)
        except Exception as exc:  # handed to the pipeline's error policy, which names the pair
            return exc

    iterator = map(_pair_job, tasks)
    ahead = max(2, 2 * decoders)
    with ThreadPoolExecutor(max_workers=decoders) as pool:
        pending: list[tuple[PairJob, Future]] = []
        while True:
            while len(pending) < ahead:
                task = next(iterator, None)
                if task is None:
                    break
                pending.append((task, pool.submit(decode, task)))
            if not pending:
                return
            task, future = pending.pop(0)
            loaded = future.result()
            if isinstance(loaded, BaseException):
                yield error_outcome(task, loaded).to_row()
            else:
                yield score_pair(task, backend=backend, loaded=loaded).to_row()


def _pair_job(task: Task) -> PairJob:
    # The GPU path decodes pairs ahead itself, so its callers hand it ungrouped pairs.
    if not isinstance(task, PairJob):
        raise TypeError(f"the GPU runner scores PairJobs, not {type(task).__name__}")
    return task


def run_tasks(tasks: Iterable[Task], *, jobs: int, scheduler: str | None = None,
              device: str = "cpu") -> Iterator[dict[str, Any]]:
    """Dispatch to `run_dask` when a scheduler is given, to `run_gpu` when the device is a GPU
    (``cuda``, or ``auto`` with CuPy and a device present), else to `run_local`."""
    if scheduler:
        return run_dask(tasks, scheduler, jobs)
    if device != "cpu":
        from ssimcli.metrics.backend import resolve_backend

        backend = resolve_backend(device)  # `cuda` without CuPy: UsageError, exit 2
        if backend.name == "cuda":
            return run_gpu(tasks, backend, decoders=max(2, usable_cores()))
    return run_local(tasks, jobs)


def make_tasks(pairs: Iterable[Pair], options: CompareOptions, maps_dir: str | Path | None = None,
               map_request: MapRequest | None = None, *, threads: int | None = None
               ) -> Iterator[PairJob]:
    """One `PairJob` per pair (lazily, so a huge pairing is not copied); ``threads``: the
    engine's threads per pair (`pair_threads`)."""
    request = map_request or MapRequest()
    for pair in pairs:
        folder = None if maps_dir is None else str(maps_folder(maps_dir, pair.name))
        yield PairJob(pair.name, str(pair.reference), str(pair.candidate), options, maps_dir=folder,
                   map_request=request, threads=threads)


def pair_threads(jobs: int, scheduler: str | None = None) -> int | None:
    """The engine's threads per pair when ``jobs`` pairs run at once: the usable cores shared
    among them (1 when there are as many workers as cores; 1 on Dask, whose workers run one
    single-threaded task per core), or ``None`` (every core) for one pair at a time."""
    if scheduler:
        return 1
    return None if jobs <= 1 else max(1, usable_cores() // jobs)


# --- summary -------------------------------------------------------------------------------


