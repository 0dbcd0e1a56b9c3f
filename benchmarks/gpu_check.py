"""CPU = GPU check and timing of 4K and 8K pairs: `python benchmarks/gpu_check.py`.

Checks that CuPy gives the CPU's numbers (means within 1e-6, float32 maps within 1e-5) on the
bundled sample images and on random sizes, then times SSIM + CS + L1 + mix on 3840x2160 and
7680x4320 RGB pairs on both devices. Prints one small table; exits 1 on a mismatch, and 0 with a
note when CuPy or a CUDA device is missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ssimcli.errors import ParameterError  # noqa: E402
from ssimcli.metrics import compute, params_for, resolve_backend  # noqa: E402
from ssimcli.pipeline.prepare import prepare_pair  # noqa: E402
from ssimcli.pipeline.score import load_pair  # noqa: E402

SAMPLE_PAIRS = [
    ("astronaut.png", "astronaut_jpeg.jpg"),
    ("coffee.png", "coffee_blur.png"),
    ("camera.png", "camera_noise.png"),
    ("screenshot_ref.png", "screenshot_cand.png"),
]
MEAN_TOL, MAP_TOL = 1e-6, 1e-5


def photo_pair(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cheap deterministic photo-like float32 pair (smooth gradients plus texture, noisy copy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(xx / (37 + 11 * c) + yy / (53 + 7 * c)) for c in range(3)],
                    axis=-1)
    ref = np.clip(base + rng.normal(0, 0.03, base.shape).astype(np.float32), 0, 1)
    cand = np.clip(ref + rng.normal(0, 0.02, ref.shape).astype(np.float32), 0, 1)
    return ref.astype(np.float32), cand.astype(np.float32)


def max_differences(cpu, gpu, backend) -> tuple[float, float]:
    mean_diff = max(abs(cpu.scores()[k] - gpu.scores()[k]) for k in cpu.scores())
    map_diff = 0.0
    if cpu.maps is not None:
        map_diff = max(float(np.abs(backend.to_numpy(gpu.maps[k]) - cpu.maps[k]).max())
                       for k in cpu.maps)
    return mean_diff, map_diff


def timed(func, repeats: int, sync=lambda: None) -> float:
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        func()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-8k", action="store_true", help="skip the 7680x4320 timing")
    args = parser.parse_args()
    try:
        gpu = resolve_backend("cuda")
    except ParameterError as exc:
        print(f"no GPU check: {exc}")
        return 0
    import cupy

    sync = cupy.cuda.Device().synchronize
    failures = 0
    print("| check | max abs diff of means | max abs diff of maps | ok |")
    print("|---|---|---|---|")
    for ref_name, cand_name in SAMPLE_PAIRS:
        ref_image, cand_image = load_pair(ROOT / "sample_images" / ref_name,
                                          ROOT / "sample_images" / cand_name)
        x, y, _ = prepare_pair(ref_image, cand_image)
        ms = min(x.shape[:2]) >= 161
        # Same algorithm on both devices: the CPU's reference path (see README, GPU).
        cpu_res = compute(x, y, ms_ssim=ms, return_maps=True, method="reference")
        gpu_res = compute(cupy.asarray(x), cupy.asarray(y), ms_ssim=ms, return_maps=True,
                          backend=gpu)
        mean_diff, map_diff = max_differences(cpu_res, gpu_res, gpu)
        fast = compute(x, y, ms_ssim=ms)
        fast_diff = max(abs(fast.scores()[k] - gpu_res.scores()[k]) for k in fast.scores())
        ok = mean_diff <= MEAN_TOL and map_diff <= MAP_TOL
        failures += not ok
        print(f"| {ref_name} vs {cand_name} | {mean_diff:.2e} | {map_diff:.2e} | {ok} "
              f"(vs CPU fast path: means {fast_diff:.1e}) |")
    rng = np.random.default_rng(7)
    for index in range(6):
        height, width = (int(v) for v in rng.integers(5, 700, 2))
        preset = ("standard", "seed", "matlab", "skimage-default")[index % 4]
        ref, cand = photo_pair(height, width, seed=index)
        params = params_for(preset)
        # Same algorithm on both devices: the CPU's reference path (see README, GPU).
        cpu_res = compute(ref, cand, params, return_maps=True, method="reference")
        gpu_res = compute(cupy.asarray(ref), cupy.asarray(cand), params, return_maps=True,
                          backend=gpu)
        mean_diff, map_diff = max_differences(cpu_res, gpu_res, gpu)
        ok = mean_diff <= MEAN_TOL and map_diff <= MAP_TOL
        failures += not ok
        print(f"| random {width}x{height} RGB, {preset} | {mean_diff:.2e} | {map_diff:.2e} | {ok} |")
    print()
    print("| size | CPU s | GPU s (compute) | speed-up | max abs diff of means |")
    print("|---|---|---|---|---|")
    sizes = [(2160, 3840, "4K")] + ([] if args.no_8k else [(4320, 7680, "8K")])
    for height, width, label in sizes:
        ref, cand = photo_pair(height, width, seed=1)
        cpu_time = timed(lambda a=ref, b=cand: compute(a, b), max(1, args.repeats - 1))
        ref_gpu, cand_gpu = cupy.asarray(ref), cupy.asarray(cand)
        compute(ref_gpu, cand_gpu, backend=gpu)  # warm-up: kernel compilation
        gpu_time = timed(lambda a=ref_gpu, b=cand_gpu: compute(a, b, backend=gpu), args.repeats, sync)
        cpu_res = compute(ref, cand, method="reference")
        gpu_res = compute(ref_gpu, cand_gpu, backend=gpu)
        mean_diff = max(abs(cpu_res.scores()[k] - gpu_res.scores()[k]) for k in cpu_res.scores())
        failures += mean_diff > MEAN_TOL
        print(f"| {label} {width}x{height} RGB | {cpu_time:.3f} | {gpu_time:.4f} | "
              f"{cpu_time / gpu_time:.1f}x | {mean_diff:.2e} |")
    print()
    print("PASS" if not failures else f"FAIL: {failures} check(s) outside tolerance")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
