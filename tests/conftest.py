"""Shared fixtures: run the installed CLI as a user would, and make real image files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # shown when an assertion about the run fails
        return f"exit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def _import_the_tested_package_everywhere() -> None:
    """Put the ``ssimcli`` this process imports first on every subprocess's PYTHONPATH.

    ``python -m pytest`` in a checkout imports the sources; after a plain ``pip install .`` the
    ``ssim-l1`` script (and any ``python -c``) would import site-packages instead, whose
    compiled kernel the sources may lack, and in-process and CLI numbers would then differ in
    the last float32 bits. Set once here, so that every test's subprocess inherits it.
    """
    import ssimcli

    package_parent = str(Path(ssimcli.__file__).resolve().parent.parent)
    inherited = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = package_parent + (os.pathsep + inherited if inherited else "")


_import_the_tested_package_everywhere()


def pytest_report_header(config: pytest.Config) -> str:
    import ssimcli
    from ssimcli.metrics.fast import native_available

    engine = "native kernel" if native_available() else "OpenCV fallback (kernel not built)"
    return f"ssim-l1 engine: {engine}; ssimcli from {Path(ssimcli.__file__).resolve().parent}"


def _cli_command() -> list[str]:
    exe = shutil.which("ssim-l1", path=str(Path(sys.executable).parent) + os.pathsep
                       + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "ssimcli"]


@pytest.fixture
def run_cli():
    """Run ``ssim-l1 ARGS`` in a subprocess; stdout and stderr kept apart."""

    def run(*args: object, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> CliResult:
        full_env = {**os.environ, **(env or {})}
        if env and "PYTHONPATH" in env:  # the test's own paths first, then the tested package
            full_env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + os.environ["PYTHONPATH"]
        proc = subprocess.run(
            [*_cli_command(), *map(str, args)], capture_output=True, text=True, cwd=cwd,
            env=full_env, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def photo_like(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A deterministic smooth-plus-texture float image in [0, 1] (H, W, C) or (H, W)."""
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    shape = (height, width) if channels == 1 else (height, width, channels)
    base = gaussian_filter(rng.random(shape), sigma=(6, 6, 0)[: len(shape)])
    base = (base - base.min()) / max(base.max() - base.min(), 1e-9)
    texture = gaussian_filter(rng.random(shape), sigma=(1, 1, 0)[: len(shape)]) - 0.5
    return np.clip(0.8 * base + 0.3 * texture + 0.1, 0, 1)


@pytest.fixture
def photo():
    return photo_like


@contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``64k``, ``1m``) mounted at ``where`` for one test, for real ENOSPC;
    the test is skipped unless it runs as root with ``mount``."""
    where.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def save_png(path: Path, pixels: np.ndarray) -> Path:
    """8-bit PNG of a float image in [0, 1] (or an integer array as it is)."""
    if pixels.dtype.kind == "f":
        pixels = np.round(pixels * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(imagecodecs.png_encode(pixels))
    return path
