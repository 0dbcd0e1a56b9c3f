"""The same metric code on every array backend that imports here: NumPy always, CuPy where it
imports and a CUDA device exists (skipped cleanly otherwise, as on CI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLES, photo_like

from ssimcli.errors import ParameterError
from ssimcli.metrics import compute, params_for, resolve_backend


def _cuda_available() -> bool:
    try:
        resolve_backend("cuda")
    except ParameterError:
        return False
    return True


CUDA = _cuda_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not CUDA, reason="CuPy or a CUDA device is not available"))])
def backend(request):
    return resolve_backend(request.param)


@pytest.mark.parametrize("preset", ["standard", "seed", "matlab", "skimage-default"])
@pytest.mark.parametrize("shape", [(37, 53, 3), (180, 200, 1), (7, 9, 3)])
def test_backend_matches_the_cpu(backend, preset, shape):
    """GPU equals CPU: means within 1e-6, maps within 1e-5 (float32), per issue 5."""
    ref = photo_like(*shape, seed=3)
    cand = np.clip(ref + np.random.default_rng(4).normal(0, 0.05, ref.shape), 0, 1)
    ms = min(shape[:2]) >= 161
    # The GPU runs the reference algorithm (SciPy's and cupyx's correlate1d) in float32; the
    # CPU's default fast path rounds differently (BLAS products, per-strip centring) and agrees
    # with both only within the float32 contract, so the 1e-6 / 1e-5 check is against the
    # same algorithm on the CPU. In float64 every path agrees (below).
    cpu = compute(ref, cand, params_for(preset), ms_ssim=ms, return_maps=True,
                  method="reference")
    xp = backend.xp
    other = compute(xp.asarray(ref), xp.asarray(cand), params_for(preset), ms_ssim=ms,
                    return_maps=True, backend=backend, method="reference")
    for name, value in cpu.scores().items():
        assert other.scores()[name] == pytest.approx(value, abs=1e-6), name
    for name, map_ in cpu.maps.items():
        assert np.abs(backend.to_numpy(other.maps[name]) - map_).max() < 1e-5, name


@pytest.mark.parametrize("preset", ["standard", "seed"])
def test_backend_matches_the_default_cpu_path_in_float64(backend, preset):
    ref = photo_like(61, 83, 3, seed=8)
    cand = np.clip(ref + np.random.default_rng(9).normal(0, 0.05, ref.shape), 0, 1)
    params = params_for(preset, precision="float64")
    cpu = compute(ref, cand, params, return_maps=True)
    other = compute(backend.xp.asarray(ref), backend.xp.asarray(cand), params, return_maps=True,
                    backend=backend)
    for name, value in cpu.scores().items():
        assert other.scores()[name] == pytest.approx(value, abs=1e-9), name
    for name, map_ in cpu.maps.items():
        assert np.abs(backend.to_numpy(other.maps[name]) - map_).max() < 1e-9, name


def test_identity_on_the_backend(backend):
    image = backend.xp.asarray(photo_like(40, 44, 3))
    result = compute(image, image, backend=backend)
    assert (result.ssim, result.l1) == (1.0, 0.0)


def test_device_auto_records_the_device_used(run_cli):
    out = json.loads(run_cli("compare", SAMPLES / "camera.png", SAMPLES / "camera_noise.png",
                             "--device", "auto", "--format", "json").stdout)
    assert out["device"] == ("cuda" if CUDA else "cpu")


@pytest.mark.skipif(CUDA, reason="only meaningful where CUDA is missing")
def test_device_cuda_without_cupy_is_one_line_exit_2(run_cli):
    result = run_cli("compare", SAMPLES / "camera.png", SAMPLES / "camera_noise.png",
                     "--device", "cuda")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.skipif(not CUDA, reason="CuPy or a CUDA device is not available")
def test_device_cuda_through_the_cli_equals_cpu(run_cli):
    args = ("compare", SAMPLES / "astronaut.png", SAMPLES / "astronaut_jpeg.jpg", "--format",
            "json", "--ms-ssim")
    gpu = json.loads(run_cli(*args, "--device", "cuda").stdout)
    cpu = json.loads(run_cli(*args, "--device", "cpu").stdout)
    assert gpu["device"] == "cuda"
    for key in ("ssim", "cs", "l1", "ssim_l1", "ms_ssim", "ms_ssim_l1"):
        assert gpu[key] == pytest.approx(cpu[key], abs=1e-6), key


@pytest.mark.skipif(CUDA, reason="only meaningful where CUDA is missing")
@pytest.mark.parametrize("command", ["batch", "check"])
def test_every_command_has_device_and_cuda_without_cupy_exits_2(run_cli, tmp_path, command):
    import shutil

    for side in ("ref", "cand"):
        (tmp_path / side).mkdir()
        shutil.copy(SAMPLES / "camera.png", tmp_path / side / "camera.png")
    assert "--device" in run_cli(command, "--help").stdout
    result = run_cli(command, tmp_path / "ref", tmp_path / "cand", "--device", "cuda")
    assert result.returncode == 2, result
    assert "pip install" in result.stderr and "Traceback" not in result.stderr
    auto = run_cli(command, tmp_path / "ref", tmp_path / "cand", "--device", "auto")
    assert auto.returncode == 0, auto


@pytest.mark.skipif(not CUDA, reason="CuPy or a CUDA device is not available")
def test_batch_on_the_gpu_equals_the_cpu(run_cli, tmp_path):
    import shutil

    for side in ("ref", "cand"):
        (tmp_path / side).mkdir()
    for ref, cand in [("astronaut.png", "astronaut_jpeg.jpg"), ("coffee.png", "coffee_blur.png")]:
        shutil.copy(SAMPLES / ref, tmp_path / "ref" / ref)
        shutil.copy(SAMPLES / cand, tmp_path / "cand" / ref)
    args = ("batch", tmp_path / "ref", tmp_path / "cand", "--format", "json")
    gpu = json.loads(run_cli(*args, "--device", "cuda").stdout)
    cpu = json.loads(run_cli(*args, "--device", "cpu").stdout)
    by_name = {p["name"]: p for p in cpu["pairs"]}
    for pair in gpu["pairs"]:
        assert pair["device"] == "cuda"
        for key in ("ssim", "cs", "l1", "ssim_l1"):
            assert pair[key] == pytest.approx(by_name[pair["name"]][key], abs=1e-6)


def test_gpu_pipeline_decodes_ahead_and_scores_like_compare(tmp_path):
    """`run_gpu` is backend-agnostic: run it on the CPU backend where no GPU exists, with a
    truncated file among the pairs, and check every row against the process-pool path."""
    import shutil

    from ssimcli.metrics import cpu_backend
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.pairing import pair_directories
    from ssimcli.pipeline.runners import make_tasks, run_gpu, run_local

    for side in ("ref", "cand"):
        (tmp_path / side).mkdir()
    names = ["astronaut.png", "coffee.png", "camera.png", "screenshot_ref.png"]
    for name in names:
        shutil.copy(SAMPLES / name, tmp_path / "ref" / name)
        shutil.copy(SAMPLES / name, tmp_path / "cand" / name)
    shutil.copy(SAMPLES / "coffee_blur.png", tmp_path / "cand" / "coffee.png")
    data = (SAMPLES / "camera_noise.png").read_bytes()
    (tmp_path / "cand" / "camera.png").write_bytes(data[: len(data) // 2])
    pairs = pair_directories(tmp_path / "ref", tmp_path / "cand").pairs
    options = CompareOptions.build()
    gpu_rows = {r["name"]: r for r in run_gpu(make_tasks(pairs, options), cpu_backend(), 2)}
    cpu_rows = {r["name"]: r for r in run_local(make_tasks(pairs, options), 1)}
    assert set(gpu_rows) == set(names)
    assert gpu_rows["camera.png"]["status"] == "error"
    assert "camera.png" in gpu_rows["camera.png"]["error"]
    for name in names:
        for key in ("ssim", "cs", "l1", "ssim_l1", "status"):
            assert gpu_rows[name].get(key) == cpu_rows[name].get(key), (name, key)
    assert gpu_rows["astronaut.png"]["ssim"] == 1.0
    assert gpu_rows["coffee.png"]["ssim"] < 0.95
