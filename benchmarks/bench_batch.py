"""Pairs per second of ``ssim-l1 batch``: on every core against ``taskset -c 0``, with and without
``--maps``, 1 and 2 workers, Dask, and a plain scikit-image loop, all in one run.

Generates a deterministic dataset of photo-like ~1-megapixel RGB PNG pairs (default 200, as
issue 13 asks) in a temporary folder, then times, on that same dataset and in the same run:

* ``ssim-l1 batch`` with its default jobs (every usable core), and the same command confined
  to one core with ``taskset -c 0`` (Linux): the ratio of the two says whether the default
  keeps every core busy;
* ``ssim-l1 batch --maps DIR`` (default jobs): each pair's four maps as ``.npy`` and heatmap
  ``.png``, written by the workers; its ratio to plain ``batch`` says what maps cost;
* ``ssim-l1 batch --jobs 1`` and ``--jobs 2``;
* ``ssim-l1 batch --scheduler local --jobs 2`` (Dask LocalCluster, start-up included;
  ``--no-dask`` skips it);
* a plain Python loop: read both PNGs with imageio, ``skimage.metrics.structural_similarity``
  with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1,
  data_range=1`` (the settings our ``standard`` preset reproduces; ``--no-skimage`` skips it).

Every figure is wall-clock time from start to exit, decoding and start-up included, best of
``--repeat`` runs; the runs of one repeat are interleaved, so that load from other jobs hits
every row alike. Run: ``python benchmarks/bench_batch.py [--pairs 200] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def photo_like(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth structure plus fine texture, float in [0, 1], (H, W, 3)."""
    from scipy.ndimage import gaussian_filter, zoom

    # Smooth content made at 1/8 size and enlarged: photo-like, and cheap to generate.
    coarse = rng.random((height // 8 + 1, width // 8 + 1, 3))
    base = zoom(coarse, (8, 8, 1), order=3)[:height, :width]
    base = gaussian_filter(base, sigma=(2, 2, 0))
    base = (base - base.min()) / max(float(base.max() - base.min()), 1e-9)
    texture = gaussian_filter(rng.random((height, width, 3)), sigma=(1, 1, 0)) - 0.5
    return np.clip(0.8 * base + 0.3 * texture + 0.1, 0, 1)


def make_dataset(root: Path, pairs: int, height: int, width: int, distinct: int = 12
                 ) -> tuple[Path, Path]:
    """``pairs`` PNG pairs made of ``distinct`` generated ones, copied under other names:
    decoding and scoring cost the same for a copy, and generating 200 photo-like megapixel
    images would take longer than the benchmark itself."""
    import imageio.v3 as iio

    ref, cand = root / "ref", root / "cand"
    rng = np.random.default_rng(2024)
    originals: list[tuple[Path, Path]] = []
    for index in range(pairs):
        # Half the pairs in a sub-folder, so that the recursive pairing is part of the run.
        sub = Path("set_b") if index % 2 else Path()
        (ref / sub).mkdir(parents=True, exist_ok=True)
        (cand / sub).mkdir(parents=True, exist_ok=True)
        name = sub / f"img_{index:04d}.png"
        if index < distinct:
            image = photo_like(rng, height, width)
            noisy = np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1)
            iio.imwrite(ref / name, np.round(image * 255).astype(np.uint8))
            iio.imwrite(cand / name, np.round(noisy * 255).astype(np.uint8))
            originals.append((ref / name, cand / name))
        else:
            source = originals[index % len(originals)]
            shutil.copyfile(source[0], ref / name)
            shutil.copyfile(source[1], cand / name)
    return ref, cand


def skimage_loop(ref: Path, cand: Path) -> float:
    import imageio.v3 as iio
    from skimage.metrics import structural_similarity

    started = time.perf_counter()
    for path in sorted(ref.rglob("*.png")):
        x = iio.imread(path).astype(np.float64) / 255
        y = iio.imread(cand / path.relative_to(ref)).astype(np.float64) / 255
        structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, channel_axis=-1, data_range=1)
    return time.perf_counter() - started


def cli() -> list[str]:
    exe = shutil.which("ssim-l1", path=str(Path(sys.executable).parent) + os.pathsep
                       + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "ssimcli"]


def run_batch(ref: Path, cand: Path, out: Path, *extra: str, prefix: tuple[str, ...] = ()
              ) -> float:
    command = [*prefix, *cli(), "batch", str(ref), str(cand), "--format", "csv",
               "--output", str(out), "--no-progress", *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def _spin(_: int) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return time.perf_counter() - started


def parallel_capacity(workers: int = 2) -> float:
    """Throughput of ``workers`` CPU-bound processes relative to one, measured now.

    About 2.0 on an idle 2-core machine; lower while other jobs share the cores. It bounds any
    speed-up from a second worker, so it is printed next to the taskset ratio.
    """
    from concurrent.futures import ProcessPoolExecutor

    one = _spin(0)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_spin, range(workers)))  # start-up, not measured
        started = time.perf_counter()
        list(pool.map(_spin, range(workers)))
        together = time.perf_counter() - started
    return workers * one / together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--maps-pairs", type=int, default=32,
                        help="pairs of the --maps rows (each writes ~60 MB of maps)")
    parser.add_argument("--height", type=int, default=864)
    parser.add_argument("--width", type=int, default=1152)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per row")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--no-skimage", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        data = Data(root, *make_dataset(root / "all", args.pairs, args.height, args.width),
                    *make_dataset(root / "few", args.maps_pairs, args.height, args.width))
        megapixels = args.height * args.width / 1e6
        print(f"{args.pairs} RGB PNG pairs (12 distinct, copied) of {args.width}x{args.height} ({megapixels:.2f} MP) "
              f"and {args.maps_pairs} for the --maps rows; {os.cpu_count()} CPUs, usable "
              f"{len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}; wall time "
              f"incl. decoding and start-up, best of {args.repeat}, rows interleaved\n")
        runs = plan_runs(args, data)
        best = {label: float("inf") for label in runs}
        for _ in range(args.repeat):
            for label, measure in runs.items():
                shutil.rmtree(data.maps, ignore_errors=True)
                best[label] = min(best[label], measure())
        report(args, best)


class Data:
    """The two datasets and where the runs write."""

    def __init__(self, root: Path, ref: Path, cand: Path, few_ref: Path, few_cand: Path) -> None:
        self.ref, self.cand, self.few_ref, self.few_cand = ref, cand, few_ref, few_cand
        self.out, self.maps = root / "scores.csv", root / "maps"

    def all(self, *extra: str, prefix: tuple[str, ...] = ()) -> Callable[[], float]:
        return lambda: run_batch(self.ref, self.cand, self.out, *extra, prefix=prefix)

    def few(self, *extra: str, prefix: tuple[str, ...] = ()) -> Callable[[], float]:
        return lambda: run_batch(self.few_ref, self.few_cand, self.out, *extra, prefix=prefix)


DEFAULT = "ssim-l1 batch (default jobs)"
TASKSET = "taskset -c 0 ssim-l1 batch (default jobs)"
FEW = "ssim-l1 batch (default jobs), {n} pairs"
FEW_MAPS = "ssim-l1 batch --maps DIR (default jobs), {n} pairs"
FEW_MAPS_TASKSET = "taskset -c 0 ssim-l1 batch --maps DIR, {n} pairs"
SKIMAGE = "scikit-image loop (1 process)"


def plan_runs(args: argparse.Namespace, data: Data) -> dict[str, Callable[[], float]]:
    taskset = shutil.which("taskset")
    one_core = (taskset, "-c", "0") if taskset else ()
    n = args.maps_pairs
    runs: dict[str, Callable[[], float]] = {DEFAULT: data.all()}
    if taskset:
        runs[TASKSET] = data.all(prefix=one_core)
    runs[FEW.format(n=n)] = data.few()
    runs[FEW_MAPS.format(n=n)] = data.few("--maps", str(data.maps))
    if taskset:
        runs[FEW_MAPS_TASKSET.format(n=n)] = data.few("--maps", str(data.maps), prefix=one_core)
    runs["ssim-l1 batch --jobs 1"] = data.all("--jobs", "1")
    runs["ssim-l1 batch --jobs 2"] = data.all("--jobs", "2")
    if not args.no_dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("(Dask row skipped: pip install 'ssim-l1[dask]')")
        else:
            runs["ssim-l1 batch --scheduler local --jobs 2"] = data.all(
                "--scheduler", "local", "--jobs", "2")
    if not args.no_skimage:
        runs[SKIMAGE] = lambda: skimage_loop(data.ref, data.cand)
    return runs


def report(args: argparse.Namespace, best: dict[str, float]) -> None:
    peer = best.get(SKIMAGE)
    print("| run | seconds | pairs/s |" + (" speed vs scikit-image loop |" if peer else ""))
    print("|---|---:|---:|" + ("---:|" if peer else ""))
    for label, seconds in best.items():
        pairs = args.maps_pairs if f"{args.maps_pairs} pairs" in label else args.pairs
        line = f"| {label} | {seconds:.2f} | {pairs / seconds:.2f} |"
        print(line + (f" {peer / seconds:.2f}x |" if peer and pairs == args.pairs else
                      (" |" if peer else "")))
    n = args.maps_pairs
    print()
    if TASKSET in best:
        print(f"default (all usable cores) vs taskset -c 0, {args.pairs} pairs: "
              f"{best[TASKSET] / best[DEFAULT]:.2f}x faster")
    maps = best[FEW_MAPS.format(n=n)]
    print(f"batch --maps / batch, {n} pairs: {maps / best[FEW.format(n=n)]:.2f}x the time")
    if FEW_MAPS_TASKSET.format(n=n) in best:
        print(f"batch --maps, default vs taskset -c 0: "
              f"{best[FEW_MAPS_TASKSET.format(n=n)] / maps:.2f}x faster")
    print(f"CPU capacity measured now: 2 busy processes = {parallel_capacity():.2f}x one; "
          f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
