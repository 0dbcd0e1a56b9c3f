"""Whole-process ratios at 4K: ``python benchmarks/bench_compare.py [--huge] [--keep DIR]``.

Every number is a ratio of two whole processes (interpreter start, imports, decoding, scoring,
printing) measured in the same run, interleaved, best of ``--repeats``; peak RSS is each child's
``ru_maxrss``. On a 3840x2160 RGB PNG pair (`pairs.write_pair`):

* ``ssim-l1 compare`` against the **decode floor**: a Python process that imports NumPy and
  imagecodecs (the project's PNG decoder) and decodes both files on two threads
  (``imagecodecs.png_decode``, libpng: what any Python tool would call), and a second floor
  that decodes with ``ssimcli.io.png``, the faster reader ``compare`` itself uses;
* the same ``compare`` on the OpenCV engine (``SSIM_L1_NATIVE=0``), the fallback where the
  native kernel is not built;
* against ``ffmpeg -lavfi ssim`` (when ``ffmpeg`` is on the PATH), scikit-image's
  ``structural_similarity`` after the same decoding, and the OpenCV one-shot recipe (``cv2.imread``
  + ``cv2.GaussianBlur`` moments, the tutorial's ``getMSSISM``);
* ``ssim-l1 check --min-local-ssim`` against a plain ``check`` of the same pair;
* with ``--huge``: peak RSS of ``compare`` on a 30000x30000 8-bit grey pair and a 16384x16384 RGB
  pair (written once into ``--keep DIR``, reused afterwards; several minutes and ~2.5 GB of disk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairs import write_pair  # noqa: E402

# Read both files whole and decode them on two threads: the floor, with imagecodecs
# (libpng), and the same with the decoder `compare` itself uses for these files (libdeflate and
# the native unfilter), the lowest a whole process that must decode both PNGs can go.
_DECODE_BOTH = """\
import sys
from concurrent.futures import ThreadPoolExecutor
import numpy
{imports}
def decode(path):
    with open(path, "rb") as handle:
        return {decoder}(handle.read())
with ThreadPoolExecutor(2) as pool:
    a, b = pool.map(decode, sys.argv[1:3])
assert a is not None and b is not None
"""
FLOOR = _DECODE_BOTH.format(imports="import imagecodecs", decoder="imagecodecs.png_decode")
FLOOR_OWN = _DECODE_BOTH.format(imports="from ssimcli.io import png as pngread", decoder="pngread.decode")
SKIMAGE = FLOOR + """\
import numpy as np
from skimage.metrics import structural_similarity
x, y = a.astype(np.float32) / 255, b.astype(np.float32) / 255
print(structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                            data_range=1, channel_axis=-1))
"""
# OpenCV's documented SSIM (the "Image similarity" tutorial's getMSSISM), on float32.
OPENCV = """\
import sys
import cv2
import numpy as np
a = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED).astype(np.float32)
b = cv2.imread(sys.argv[2], cv2.IMREAD_UNCHANGED).astype(np.float32)
c1, c2 = 6.5025, 58.5225
blur = lambda m: cv2.GaussianBlur(m, (11, 11), 1.5)
mu1, mu2 = blur(a), blur(b)
mu1_2, mu2_2, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
s1, s2, s12 = blur(a * a) - mu1_2, blur(b * b) - mu2_2, blur(a * b) - mu1_mu2
ssim = ((2 * mu1_mu2 + c1) * (2 * s12 + c2)) / ((mu1_2 + mu2_2 + c1) * (s1 + s2 + c2))
print(cv2.mean(ssim))
"""

RUNNER = """\
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
report = {"wall": wall, "rss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}
sys.stderr.write("\\nRUNNER " + json.dumps(report) + "\\n")
"""


def run_process(command: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child, started by a small runner process (a
    child's ru_maxrss starts from the RSS of its parent)."""
    done = subprocess.run([sys.executable, "-c", RUNNER, *command], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=True)
    report = json.loads(done.stderr.rsplit("RUNNER ", 1)[1])
    if report["code"] not in ok_codes:
        raise RuntimeError(f"{command[:4]} exited {report['code']}: {done.stderr[-1500:]}")
    return report["wall"], report["rss_kib"] / 1024


def best_processes(commands: dict[str, list[str]], repeats: int,
                   ok_codes: tuple[int, ...] = (0,)) -> dict[str, tuple[float, float]]:
    """Best wall time and peak RSS of each command, rounds interleaved."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, command in commands.items():
            wall, rss = run_process(command, ok_codes)
            old = best.get(name, (float("inf"), 0.0))
            best[name] = (min(wall, old[0]), max(rss, old[1]))
    return best


def ssim_l1() -> list[str]:
    script = Path(sys.executable).parent / "ssim-l1"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ssimcli"]


def pair(folder: Path, name: str, height: int, width: int, channels: int) -> tuple[Path, Path]:
    ref, cand = folder / f"{name}_ref.png", folder / f"{name}_cand.png"
    if ref.exists() and cand.exists():
        return ref, cand
    return write_pair(folder, name, height, width, channels)


def compare_ratios(ref: Path, cand: Path, repeats: int) -> list[tuple[str, float, float, float]]:
    py = sys.executable
    commands = {
        "decode floor": [py, "-c", FLOOR, str(ref), str(cand)],
        "decode floor, ssim-l1's own reader": [py, "-c", FLOOR_OWN, str(ref), str(cand)],
        "ssim-l1 compare": [*ssim_l1(), "compare", str(ref), str(cand)],
        # The same command on the OpenCV engine (the fallback where the kernel is not built).
        "ssim-l1 compare, OpenCV engine": ["env", "SSIM_L1_NATIVE=0", *ssim_l1(), "compare",
                                           str(ref), str(cand)],
        "scikit-image": [py, "-c", SKIMAGE, str(ref), str(cand)],
        "OpenCV one-shot": [py, "-c", OPENCV, str(ref), str(cand)],
    }
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        commands["ffmpeg -lavfi ssim"] = [ffmpeg, "-v", "error", "-i", str(ref), "-i", str(cand),
                                          "-lavfi", "ssim", "-f", "null", "-"]
    best = best_processes(commands, repeats)
    ours = best["ssim-l1 compare"][0]
    return [(name, wall, rss, ours / wall) for name, (wall, rss) in best.items()]


def local_rule_ratio(ref: Path, cand: Path, repeats: int) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base, new = Path(tmp) / "base", Path(tmp) / "new"
        base.mkdir()
        new.mkdir()
        os.symlink(ref, base / "a.png")
        os.symlink(cand, new / "a.png")
        commands = {"plain": [*ssim_l1(), "check", str(base), str(new)],
                    "local": [*ssim_l1(), "check", str(base), str(new),
                              "--min-local-ssim", "0.1"]}
        best = best_processes(commands, repeats, ok_codes=(0, 1))
    return best["plain"][0], best["local"][0], best["plain"][1], best["local"][1]


def engine() -> str:
    """Which strip engine ``ssim-l1`` runs here (the native kernel's variant, or OpenCV)."""
    code = ("from ssimcli.metrics import fast\n"
            "k = fast._NATIVE_KERNEL\n"
            "print(f'native kernel ({k.variant})' if fast.native_available() else 'OpenCV')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = os.getloadavg()[0]
    return f"{model}, {len(os.sched_getaffinity(0))} cores, load average {load:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--huge", action="store_true", help="also the 30k grey / 16k RGB pairs")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the PNG pairs")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ssim-l1-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"# {machine()}; {time.strftime('%Y-%m-%d %H:%M')}; best of {args.repeats}; "
          f"engine: {engine()}")
    ref, cand = pair(folder, "4k", 2160, 3840, 3)
    print("\n| 4K RGB PNG pair, whole process | time | peak RSS | ssim-l1 compare / this |")
    print("|---|---|---|---|")
    for name, wall, rss, ratio in compare_ratios(ref, cand, args.repeats):
        print(f"| {name} | {wall:.2f} s | {rss:.0f} MiB | **{ratio:.2f}x** |")
    plain, local, plain_rss, local_rss = local_rule_ratio(ref, cand, args.repeats)
    print(f"\ncheck --min-local-ssim / plain check (4K): **{local / plain:.2f}x** "
          f"({local:.2f} s vs {plain:.2f} s; peak RSS {local_rss:.0f} vs {plain_rss:.0f} MiB)")
    if args.huge:
        for name, shape in (("30k-grey", (30000, 30000, 1)), ("16k-rgb", (16384, 16384, 3))):
            big_ref, big_cand = pair(folder, name, *shape)
            wall, rss = run_process([*ssim_l1(), "compare", str(big_ref), str(big_cand)])
            print(f"{name} compare: {wall:.1f} s, peak RSS {rss / 1024:.2f} GiB")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
