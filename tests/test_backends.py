"""The same metric code on every array backend that imports here: NumPy always, CuPy where it
imports and a CUDA device exists (skipped cleanly otherwise, as on CI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLES, photo_like

from ssimcli.errors import UsageError
from ssimcli.metrics import compute, params_for, resolve_backend


def _cuda_available() -> bool:
    try:
        resolve_backend("cuda")
    except UsageError:
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
    cpu = compute(ref, cand, params_for(preset), ms_ssim=ms, return_maps=True)
    xp = backend.xp
    other = compute(xp.asarray(ref), xp.asarray(cand), params_for(preset), ms_ssim=ms,
                    return_maps=True, backend=backend)
    for name, value in cpu.scores().items():
        assert other.scores()[name] == pytest.approx(value, abs=1e-6), name
    for name, map_ in cpu.maps.items():
        assert np.abs(backend.to_numpy(other.maps[name]) - map_).max() < 1e-5, name


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
