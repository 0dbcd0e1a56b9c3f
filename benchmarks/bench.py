"""ssim-l1 against scikit-image and the decode floor: ``python benchmarks/bench.py [--huge]``.

Writes deterministic photo-like PNG pairs (512x512, 1920x1080 and 3840x2160 RGB; with ``--huge``
also 16384x16384 grey) to a temporary folder and prints one table. Every ratio compares two
measurements taken in the same run, interleaved, best of ``--repeats``:

* compute: ``compute`` (SSIM + CS + Gaussian L1 + mix) on the loaded float32 arrays, against
  scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, channel_axis=-1, data_range=1)``, which computes less; and the
  same with one thread, to show what the second core brings;
* MS-SSIM: ``compute(ms_ssim=True)`` over ``compute()``;
* end to end, whole processes: ``ssim-l1 compare a.png b.png`` against a process that only
  imports imageio and decodes the two files (on two threads, the floor), and against one that
  decodes them and calls scikit-image;
* peak RSS of each child process (``ru_maxrss`` from ``wait4``).

With ``--huge`` the 16k pair is scored by ``ssim-l1 compare`` (peak RSS) and its means are
checked against a whole-image SciPy reference computed in column slabs.

The machine is usually shared: the header prints the load average before and after.
"""

from __future__ import annotations

import os
import sys

# OpenBLAS reads these once, at load; some machines set them to work around old OpenBLAS
# builds, and they slow a current one down. Benchmark without them, in this process only.
_BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(name in os.environ for name in _BLAS_OVERRIDES) and "numpy" not in sys.modules:
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_OVERRIDES}
    env["SSIM_L1_BENCH_UNSET"] = ",".join(n for n in _BLAS_OVERRIDES if n in os.environ)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairs import write_pair  # noqa: E402

from ssimcli.io.decode import load_image  # noqa: E402
from ssimcli.metrics import compute, params_for  # noqa: E402
from ssimcli.metrics.core import maps_from_moments, moment_planes, reference_filter  # noqa: E402
from ssimcli.metrics.params import effective_window  # noqa: E402
from ssimcli.pipeline.prepare import prepare_pair  # noqa: E402

SIZES = {"512": (512, 512, 3), "1080p": (1080, 1920, 3), "4k": (2160, 3840, 3)}
HUGE = ("16k-grey", (16384, 16384, 1))

DECODE = """\
import sys
import imageio.v3 as iio
from PIL import Image
Image.MAX_IMAGE_PIXELS = None  # the 16k pair is no decompression bomb
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(2) as pool:
    a, b = pool.map(iio.imread, sys.argv[1:3])
"""
SKIMAGE = DECODE + """\
import numpy as np
from skimage.metrics import structural_similarity
x, y = a.astype(np.float32) / 255, b.astype(np.float32) / 255
extra = {"channel_axis": -1} if x.ndim == 3 else {}
print(structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                            use_sample_covariance=False, data_range=1, **extra))
"""


def ssim_l1_command() -> list[str]:
    script = Path(sys.executable).parent / "ssim-l1"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ssimcli"]


# Children are started by this small runner, not by the benchmark itself: on Linux a child's
# ru_maxrss starts from the RSS of the process it was forked from, which here holds 4K arrays.
RUNNER = """\
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
report = {"wall": wall, "rss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}
sys.stderr.write("\\nRUNNER " + json.dumps(report) + "\\n")
"""


def run_process(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        subprocess.run([sys.executable, "-c", RUNNER, *command], stdout=out, stderr=err,
                       stdin=subprocess.DEVNULL, check=True)
        out.seek(0)
        err.seek(0)
        errors = err.read().decode()
        report = json.loads(errors.rsplit("RUNNER ", 1)[1])
        if report["code"] != 0:
            raise RuntimeError(f"{command[:3]} failed: {errors[-2000:]}")
        return report["wall"], report["rss_kib"] / 1024, out.read().decode()


def best_of(functions: dict[str, Callable[[], object]], repeats: dict[str, int]
            ) -> dict[str, float]:
    """Best wall time of each function; rounds interleave them so that load hits all alike."""
    best = {name: float("inf") for name in functions}
    for round_ in range(max(repeats.values())):
        for name, function in functions.items():
            if round_ < repeats[name]:
                start = time.perf_counter()
                function()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def best_processes(commands: dict[str, list[str]], repeats: int
                   ) -> dict[str, tuple[float, float, str]]:
    """Best wall time, peak RSS and last stdout of each command, interleaved."""
    results: dict[str, tuple[float, float, str]] = {}
    for _ in range(repeats):
        for name, command in commands.items():
            wall, rss, out = run_process(command)
            old = results.get(name)
            results[name] = (min(wall, old[0]) if old else wall, max(rss, old[1]) if old else rss,
                             out)
    return results


def load_arrays(ref: Path, cand: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y, _ = prepare_pair(load_image(ref), load_image(cand))
    return x, y


def skimage_ssim(x: np.ndarray, y: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    if x.shape[2] == 1:
        x, y, extra = x[:, :, 0], y[:, :, 0], {}
    else:
        extra = {"channel_axis": -1}
    return float(structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=1, **extra))


def time_compute(x: np.ndarray, y: np.ndarray, repeats: int) -> dict:
    """In-process timings of ssim-l1 (2 threads, 1 thread, with MS-SSIM) and scikit-image."""
    # First-call costs (imports, thread start) out of the timings, for both.
    compute(x[:64], y[:64])
    skimage_ssim(x[:64, :64], y[:64, :64])
    heavy = x.shape[0] * x.shape[1] > 4e6
    times = best_of(
        {
            "ours": lambda: compute(x, y),
            "ours_1thread": lambda: compute(x, y, threads=1),
            "ms_ssim": lambda: compute(x, y, ms_ssim=True),
            "skimage": lambda: skimage_ssim(x, y),
        },
        {"ours": repeats + 2, "ours_1thread": repeats, "ms_ssim": repeats + 2,
         "skimage": max(1, repeats - 1) if heavy else repeats},
    )
    times["ssim_diff_vs_skimage"] = abs(compute(x, y).ssim - skimage_ssim(x, y))
    return times


def bench_size(name: str, ref: Path, cand: Path, repeats: int, processes: bool) -> dict:
    x, y = load_arrays(ref, cand)
    row = {"size": name, "shape": f"{x.shape[1]}x{x.shape[0]}x{x.shape[2]}",
           "mp": x.shape[0] * x.shape[1] / 1e6, **time_compute(x, y, repeats)}
    del x, y
    if processes:
        procs = best_processes(
            {
                "e2e": [*ssim_l1_command(), "compare", str(ref), str(cand)],
                "decode": [sys.executable, "-c", DECODE, str(ref), str(cand)],
                "decode_skimage": [sys.executable, "-c", SKIMAGE, str(ref), str(cand)],
            },
            repeats,
        )
        row.update({f"{k}_s": v[0] for k, v in procs.items()})
        row.update({f"{k}_rss": v[1] for k, v in procs.items()})
    return row


def slab_reference_means(x: np.ndarray, y: np.ndarray, slab: int = 512) -> dict[str, float]:
    """Whole-image SciPy reference means in float64, computed in column slabs to fit in memory.

    Columns are independent once the image is padded as a whole, so each slab of the padded
    image gives exactly the whole-image maps of its columns: an independent decomposition from
    the fast path's row strips, in the precision the float32 results are judged against.
    """
    params = params_for("standard", precision="float64")
    height, width, _ = x.shape
    window = effective_window(params, height, width)
    r = window.radius
    from ssimcli.metrics import cpu_backend

    backend = cpu_backend()
    xpad = np.pad(x[:, :, 0], r, mode="symmetric")[None]
    ypad = np.pad(y[:, :, 0], r, mode="symmetric")[None]
    sums = {"ssim": 0.0, "cs": 0.0, "l1": 0.0, "ssim_l1": 0.0}
    for start in range(r, width - r, slab):
        stop = min(start + slab, width - r)
        cols = np.s_[:, :, start:stop + 2 * r]  # gives the maps of image columns start..stop
        stack = moment_planes(xpad[cols].astype(np.float64), ypad[cols].astype(np.float64),
                              0.5, np)
        maps = maps_from_moments(reference_filter(stack, window.weights, backend), params,
                                 window, 1.0, np)
        for key in sums:
            sums[key] += float(maps[key][:, r:height - r].sum(dtype=np.float64))
    area = (height - 2 * r) * (width - 2 * r)
    return {key: value / area for key, value in sums.items()}


def bench_huge(folder: Path, repeats: int) -> dict:
    name, (height, width, channels) = HUGE
    ref, cand = write_pair(folder, name, height, width, channels, seed=16)
    procs = best_processes(
        {"e2e": [*ssim_l1_command(), "compare", "--format", "json", str(ref), str(cand)],
         "decode": [sys.executable, "-c", DECODE, str(ref), str(cand)]},
        max(1, repeats - 1),
    )
    scores = json.loads(procs["e2e"][2])
    start = time.perf_counter()
    reference = slab_reference_means(*load_arrays(ref, cand))
    reference_s = time.perf_counter() - start
    return {
        "size": name, "shape": f"{width}x{height}x{channels}", "mp": height * width / 1e6,
        "e2e_s": procs["e2e"][0], "e2e_rss": procs["e2e"][1],
        "decode_s": procs["decode"][0], "decode_rss": procs["decode"][1],
        "reference_s": reference_s,
        "max_mean_diff": max(abs(scores[k] - reference[k]) for k in reference),
    }


def machine() -> str:
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i.get('internal_api')} {i.get('architecture')} x{i.get('num_threads')}"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        blas = "?"
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import scipy
    import skimage

    unset = os.environ.get("SSIM_L1_BENCH_UNSET")
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {blas}; python "
            f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-image {skimage.__version__}" + (f"; unset {unset}" if unset else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help=f"comma-separated subset of {', '.join(SIZES)} (default: all)")
    parser.add_argument("--huge", action="store_true", help="also the 16384x16384 grey pair")
    parser.add_argument("--repeats", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--no-processes", action="store_true",
                        help="skip the end-to-end process timings")
    parser.add_argument("--keep", type=Path, default=None, help="write the PNGs here and keep them")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ssim-l1-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"# machine: {machine()}")
    print(f"# load average at start: {os.getloadavg()[0]:.2f}")
    rows = []
    try:
        for size in args.sizes.split(","):
            height, width, channels = SIZES[size]
            ref, cand = write_pair(folder, size, height, width, channels, seed=height)
            rows.append(bench_size(size, ref, cand, args.repeats, not args.no_processes))
        huge = bench_huge(folder, args.repeats) if args.huge else None
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"# load average at end: {os.getloadavg()[0]:.2f}")
    print()
    print("| size | ssim-l1 compute | scikit-image | speed-up | 1 thread / 2 | MS-SSIM / SSIM "
          "| `compare` process | decode only | compare / decode | decode + skimage "
          "| speed-up | peak RSS compare / decode / skimage |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [
            f"{row['size']} ({row['shape']})",
            f"{row['ours'] * 1e3:.0f} ms", f"{row['skimage'] * 1e3:.0f} ms",
            f"**{row['skimage'] / row['ours']:.1f}x**",
            f"{row['ours_1thread'] / row['ours']:.2f}x",
            f"**{row['ms_ssim'] / row['ours']:.2f}x**",
        ]
        if "e2e_s" in row:
            cells += [
                f"{row['e2e_s']:.2f} s", f"{row['decode_s']:.2f} s",
                f"**{row['e2e_s'] / row['decode_s']:.2f}x**", f"{row['decode_skimage_s']:.2f} s",
                f"**{row['decode_skimage_s'] / row['e2e_s']:.1f}x**",
                f"{row['e2e_rss']:.0f} / {row['decode_rss']:.0f} / "
                f"{row['decode_skimage_rss']:.0f} MiB",
            ]
        else:
            cells += ["-"] * 6
        print("| " + " | ".join(cells) + " |")
    print()
    for row in rows:
        print(f"# {row['size']}: |SSIM - scikit-image SSIM| = {row['ssim_diff_vs_skimage']:.2e}")
    if huge:
        print(f"# {huge['size']} ({huge['shape']}): `ssim-l1 compare` {huge['e2e_s']:.1f} s, "
              f"peak RSS {huge['e2e_rss'] / 1024:.2f} GiB; decode only {huge['decode_s']:.1f} s, "
              f"{huge['decode_rss'] / 1024:.2f} GiB; means vs whole-image float64 SciPy "
              f"reference: max |diff| {huge['max_mean_diff']:.1e} (reference took {huge['reference_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
