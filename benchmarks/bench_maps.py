"""What ``--maps`` costs: ``ssim-l1 compare --maps`` against a plain ``compare``, in one run.

Writes a deterministic photo-like 3840x2160 RGB PNG pair (``pairs.py``) to a temporary folder,
then runs, interleaved round by round so that load from other jobs hits every command alike:

* ``ssim-l1 compare a.png b.png --format json`` (the peer: a plain compare);
* the same with ``--maps DIR`` (every map, ``.npy`` and heatmap ``.png``: the default);
* ``--maps DIR --maps-format png``, ``--maps-format npy``, and ``--map-names ssim``.

Each row is a whole process (interpreter start, imports, decoding, scoring, writing every file),
best wall time of ``--repeats``, with its CPU time (user + system, which load from other jobs
inflates less than wall time), peak RSS and the bytes it wrote; ratios are to the plain compare
measured in the same run. Run: ``python benchmarks/bench_maps.py [--size 4k] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairs import write_pair  # noqa: E402

SIZES = {"1080p": (1080, 1920, 3), "4k": (2160, 3840, 3), "8k": (4320, 7680, 3)}

# Children are started by this small runner: ru_maxrss and the CPU times of one child only.
RUNNER = """\
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
report = {"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
          "rss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}
sys.stderr.write("\\nRUNNER " + json.dumps(report) + "\\n")
"""


def ssim_l1_command() -> list[str]:
    script = Path(sys.executable).parent / "ssim-l1"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ssimcli"]


def run_once(command: list[str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", RUNNER, *command], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    report = json.loads(proc.stderr.rsplit("RUNNER ", 1)[1])
    if report["code"] != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    return report


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="4k")
    parser.add_argument("--repeats", type=int, default=3, help="best of N (default 3)")
    args = parser.parse_args(argv)
    height, width, channels = SIZES[args.size]
    folder = Path(tempfile.mkdtemp(prefix="ssim-l1-bench-maps-"))
    try:
        ref, cand = write_pair(folder, args.size, height, width, channels, seed=height)
        maps = folder / "maps"
        base = [*ssim_l1_command(), "compare", str(ref), str(cand), "--format", "json"]
        runs = {
            "compare (plain)": base,
            "compare --maps DIR (npy + png, 4 maps)": [*base, "--maps", str(maps)],
            "--maps DIR --maps-format png": [*base, "--maps", str(maps), "--maps-format", "png"],
            "--maps DIR --maps-format npy": [*base, "--maps", str(maps), "--maps-format", "npy"],
            "--maps DIR --map-names ssim": [*base, "--maps", str(maps), "--map-names", "ssim"],
        }
        print(f"# {args.size} RGB pair ({width}x{height}), {os.cpu_count()} CPUs, usable "
              f"{len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f} at start; "
              f"whole processes, best of {args.repeats}, interleaved")
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeats):
            for label, command in runs.items():
                shutil.rmtree(maps, ignore_errors=True)
                report = run_once(command)
                report["written"] = folder_bytes(maps) if maps.exists() else 0
                old = best.get(label)
                if old is None or report["wall"] < old["wall"]:
                    best[label] = report
        print(f"# load average at end: {os.getloadavg()[0]:.2f}\n")
        plain = best["compare (plain)"]
        print("| run | wall | / plain | CPU (user+sys) | / plain | peak RSS | written |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, report in best.items():
            print(f"| {label} | {report['wall']:.2f} s | **{report['wall'] / plain['wall']:.2f}x** "
                  f"| {report['cpu']:.2f} s | {report['cpu'] / plain['cpu']:.2f}x "
                  f"| {report['rss_kib'] / 1024:.0f} MiB | {report['written'] / 1e6:.0f} MB |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
