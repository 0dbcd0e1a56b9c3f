"""Whole-process video timings against ffmpeg: ``python benchmarks/bench_video.py [--frames N]``.

On a 1920x1080 8-bit 4:2:0 H.264 pair of N frames (default 300; made once into ``--keep DIR``,
default ``bench_data/video``, or given with ``--ref``/``--dist``), in the same run, interleaved,
best of ``--repeats``, each a whole process (start-up, demuxing, decoding, scoring):

* ``ffmpeg -lavfi ssim`` and ``ffmpeg -lavfi psnr`` (the peers: their own decoders and filters,
  stats written to /dev/null), and ``ffmpeg`` decoding both files into the null muxer (its floor);
* a Python process decoding both files with ``ssimcli.io.video`` (our floor: PyAV's decoders
  and the plane copies, no scoring);
* ``ssim-l1 video --preset ffmpeg`` (vf_ssim + vf_psnr reproduced) and the default
  ``ssim-l1 video`` (Gaussian SSIM, CS, L1, SSIM-L1 and PSNR per plane), output to /dev/null;
  when the CLI has no ``video`` command, a Python loop of decode + `ssim_plane` + `mse_plane`;
* peak RSS (``ru_maxrss``) of ``ssim-l1 video --preset ffmpeg`` on a 320x180 pair of 300 and of
  3000 frames: streaming keeps it flat.

Wall time and CPU time (user + system of the process and its children) are both printed; the
machine's other load moves wall time, so read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DECODE_ONLY = """\
import sys
from ssimcli.io.video import open_video
with open_video(sys.argv[1]) as a, open_video(sys.argv[2]) as b:
    n = sum(1 for _ in zip(a, b))
assert n > 0
"""
OWN_LOOP = """\
import sys
from ssimcli.io.video import open_video
from ssimcli.metrics.ffmpeg import area_weighted, mse_plane, ssim_plane
with open_video(sys.argv[1]) as a, open_video(sys.argv[2]) as b:
    areas = a.info.plane_areas
    for fa, fb in zip(a, b):
        s = [ssim_plane(x, y, 255) for x, y in zip(fa.planes, fb.planes)]
        m = [mse_plane(x, y) for x, y in zip(fa.planes, fb.planes)]
        area_weighted(s, areas), area_weighted(m, areas)
"""
MAXRSS = """\
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _maker():  # noqa: ANN202 - the sample_images module
    spec = importlib.util.spec_from_file_location("make_sample_video", ROOT / "sample_images" / "make_sample_video.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_pair(directory: Path, frames: int, width: int, height: int) -> tuple[Path, Path]:
    """A reference (crf 18) and distorted (crf 32) H.264 pair of a moving pattern, made once."""
    import av
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    ref, dist = directory / f"ref_{width}x{height}_{frames}.mp4", directory / f"dist_{width}x{height}_{frames}.mp4"
    if ref.exists() and dist.exists():
        return ref, dist
    maker = _maker()
    # A few full pattern frames, then each frame a shifted crop of them: cheap at 1080p.
    base = list(maker.pattern_frames(4, width + 64, height + 32, "yuv420p", seed=11))
    outs = []
    for path, crf in ((ref, "18"), (dist, "32")):
        container = av.open(str(path), "w")
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": crf}
        outs.append((container, stream))
    for i in range(frames):
        planes = base[i % 4]
        dx, dy = (i * 2) % 64, (i // 2) % 32
        frame_planes = (planes[0][dy:dy + height, dx:dx + width],
                        planes[1][dy // 2:dy // 2 + height // 2, dx // 2:dx // 2 + width // 2],
                        planes[2][dy // 2:dy // 2 + height // 2, dx // 2:dx // 2 + width // 2])
        frame = maker.to_av_frame(tuple(np.ascontiguousarray(p) for p in frame_planes), "yuv420p", i)
        frame.time_base = Fraction(1, 25)
        for container, stream in outs:
            for packet in stream.encode(frame):
                container.mux(packet)
    for container, stream in outs:
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    return ref, dist


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def has_video_cli() -> bool:
    return subprocess.run(["ssim-l1", "video", "--help"], capture_output=True).returncode == 0


def commands(ref: Path, dist: Path) -> dict[str, list[str]]:
    py = sys.executable
    out: dict[str, list[str]] = {}
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        both = [ffmpeg, "-nostdin", "-v", "error", "-i", str(dist), "-i", str(ref)]
        out["ffmpeg ssim"] = [*both, "-lavfi", "[0:v][1:v]ssim=stats_file=/dev/null", "-f", "null", "-"]
        out["ffmpeg psnr"] = [*both, "-lavfi", "[0:v][1:v]psnr=stats_file=/dev/null", "-f", "null", "-"]
        out["ffmpeg decode both"] = [*both, "-map", "0:v", "-map", "1:v", "-f", "null", "-"]
    out["io.video decode both"] = [py, "-c", DECODE_ONLY, str(ref), str(dist)]
    if has_video_cli():
        out["ssim-l1 video --preset ffmpeg"] = ["ssim-l1", "video", "--preset", "ffmpeg", str(ref), str(dist),
                                                "-o", os.devnull]
        out["ssim-l1 video (default)"] = ["ssim-l1", "video", str(ref), str(dist), "-o", os.devnull]
    else:
        out["decode + ssim_plane/mse_plane loop (no CLI)"] = [py, "-c", OWN_LOOP, str(ref), str(dist)]
    return out


def peak_rss(ref: Path, dist: Path) -> int:
    cmd = ["ssim-l1", "video", "--preset", "ffmpeg", str(ref), str(dist), "-o", os.devnull] if has_video_cli() \
        else [sys.executable, "-c", OWN_LOOP, str(ref), str(dist)]
    done = subprocess.run([sys.executable, "-c", MAXRSS, *cmd], check=True, capture_output=True, text=True)
    return int(done.stdout.strip()) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=ROOT / "bench_data" / "video")
    parser.add_argument("--ref", type=Path)
    parser.add_argument("--dist", type=Path)
    parser.add_argument("--no-rss", action="store_true", help="skip the 300 vs 3000 frame peak-RSS runs")
    args = parser.parse_args()
    if args.ref and args.dist:
        ref, dist = args.ref, args.dist
    else:
        ref, dist = write_pair(args.keep, args.frames, 1920, 1080)
    frames = args.frames
    cmds = commands(ref, dist)
    if "ffmpeg ssim" not in cmds:
        print("no ffmpeg binary on PATH (apt-get install ffmpeg): no peer timings")
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):  # interleaved, so that load changes hit every entry alike
        for name, cmd in cmds.items():
            wall, cpu = run(cmd)
            old = best.get(name)
            best[name] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
    peer = best.get("ffmpeg ssim")
    print(f"1920x1080 yuv420p H.264, {frames} frames, best of {args.repeats}, {os.cpu_count()} CPUs")
    print(f"{'':46} {'wall s':>8} {'fps':>8} {'CPU s':>8} {'wall/ssim':>10} {'CPU/ssim':>9}")
    for name, (wall, cpu) in best.items():
        ratio = f"{wall / peer[0]:10.2f} {cpu / peer[1]:9.2f}" if peer else ""
        print(f"{name:46} {wall:8.2f} {frames / wall:8.1f} {cpu:8.2f} {ratio}")
    if not args.no_rss:
        small = [write_pair(args.keep, n, 320, 180) for n in (300, 3000)]
        rss = [peak_rss(r, d) for r, d in small]
        print(f"peak RSS, 320x180, --preset ffmpeg: 300 frames {rss[0] / 2**20:.1f} MiB, "
              f"3000 frames {rss[1] / 2**20:.1f} MiB ({rss[1] / rss[0]:.2f}x)")


if __name__ == "__main__":
    main()
