"""Pairs per second of ``ssim-l1 batch`` (1 and 2 workers, Dask) against a plain scikit-image loop.

Generates a deterministic dataset of photo-like ~1-megapixel RGB PNG pairs in a temporary folder,
then times, on that same dataset and in the same run:

* a plain Python loop: read both PNGs with imageio, ``skimage.metrics.structural_similarity``
  with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1,
  data_range=1`` (the settings our ``standard`` preset reproduces);
* ``ssim-l1 batch --jobs 1`` and ``--jobs 2`` (the installed CLI, end to end);
* ``ssim-l1 batch --scheduler local --jobs 2`` (Dask LocalCluster, start-up included);
* the default command confined to one core with ``taskset -c 0`` (Linux), to check that the
  default uses every core.

Every figure is wall-clock time from start to exit, decoding and start-up included, best of
``--repeat`` runs. Run: ``python benchmarks/bench_batch.py [--pairs 24] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
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


def make_dataset(root: Path, pairs: int, height: int, width: int) -> tuple[Path, Path]:
    import imageio.v3 as iio

    ref, cand = root / "ref", root / "cand"
    rng = np.random.default_rng(2024)
    for index in range(pairs):
        # Half the pairs in a sub-folder, so that the recursive pairing is part of the run.
        sub = Path("set_b") if index % 2 else Path()
        (ref / sub).mkdir(parents=True, exist_ok=True)
        (cand / sub).mkdir(parents=True, exist_ok=True)
        image = photo_like(rng, height, width)
        noisy = np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1)
        iio.imwrite(ref / sub / f"img_{index:04d}.png", np.round(image * 255).astype(np.uint8))
        iio.imwrite(cand / sub / f"img_{index:04d}.png", np.round(noisy * 255).astype(np.uint8))
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


def best(repeat: int, measure) -> float:  # type: ignore[no-untyped-def]
    return min(measure() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--height", type=int, default=864)
    parser.add_argument("--width", type=int, default=1152)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per row")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        ref, cand = make_dataset(root, args.pairs, args.height, args.width)
        out = root / "scores.csv"
        megapixels = args.height * args.width / 1e6
        print(f"{args.pairs} RGB PNG pairs of {args.width}x{args.height} ({megapixels:.2f} MP), "
              f"{os.cpu_count()} CPUs, usable {len(os.sched_getaffinity(0))}; "
              f"wall time incl. decoding and start-up, best of {args.repeat}\n")
        rows: list[tuple[str, float]] = []
        rows.append(("scikit-image loop (1 process)", best(args.repeat,
                                                           lambda: skimage_loop(ref, cand))))
        rows.append(("ssim-l1 batch --jobs 1",
                     best(args.repeat, lambda: run_batch(ref, cand, out, "--jobs", "1"))))
        rows.append(("ssim-l1 batch --jobs 2",
                     best(args.repeat, lambda: run_batch(ref, cand, out, "--jobs", "2"))))
        if not args.no_dask:
            try:
                import distributed  # noqa: F401
            except ImportError:
                print("(Dask row skipped: pip install 'ssim-l1[dask]')")
            else:
                rows.append(("ssim-l1 batch --scheduler local --jobs 2", best(
                    args.repeat,
                    lambda: run_batch(ref, cand, out, "--scheduler", "local", "--jobs", "2"))))
        taskset = shutil.which("taskset")
        if taskset:
            rows.append(("ssim-l1 batch (default jobs)", best(
                args.repeat, lambda: run_batch(ref, cand, out))))
            rows.append(("taskset -c 0 ssim-l1 batch (default jobs)", best(
                args.repeat, lambda: run_batch(ref, cand, out, prefix=(taskset, "-c", "0")))))

        peer = rows[0][1]
        print("| run | seconds | pairs/s | speed vs scikit-image loop |")
        print("|---|---:|---:|---:|")
        for label, seconds in rows:
            print(f"| {label} | {seconds:.2f} | {args.pairs / seconds:.2f} | "
                  f"{peer / seconds:.2f}x |")
        if taskset:
            both, one = rows[-2][1], rows[-1][1]
            print(f"\ndefault (all usable cores) vs taskset -c 0: {one / both:.2f}x faster; "
                  f"CPU capacity measured now: 2 busy processes = {parallel_capacity():.2f}x one")


if __name__ == "__main__":
    main()
