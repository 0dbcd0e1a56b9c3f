"""Smoke test of an installed ssim-l1: a built wheel, never the checkout's sources.

    python .ci/smoke_wheel.py SAMPLE_DIR [--native required|absent|any]

Run by .ci/run (in a fresh virtual environment holding only the wheel) and by cibuildwheel's
test command on every release wheel. Checks, from a temporary working directory:

* ``import ssimcli`` finds an installed package (a ``site-packages`` directory), and the lazy
  ``ssimcli.compare`` resolves;
* ``ssim-l1 --version`` prints the package version;
* ``ssim-l1 compare`` of two sample pairs exits 0 with the SSIM that scikit-image computes;
* the native kernel loaded (``--native required``, release wheels), or did not (``absent``: a
  build without a compiler, which must still work on the OpenCV path).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

# SSIM of the sample pairs from scikit-image 0.26.0, not from ssim-l1:
# structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
# data_range=255[, channel_axis=-1]) on float64 copies of the images, which is the standard
# preset's definition (reflect padding, mean over the valid region).
EXPECTED_SSIM = {
    ("coffee.png", "coffee_blur.png"): 0.7742882020231036,  # RGB, mean of the channels
    ("camera.png", "camera_noise.png"): 0.6133936868725903,  # grey
}
# ssim-l1 computes in float32 (the native kernel's variants differ within float32 rounding).
TOLERANCE = 1e-4


def _fail(message: str) -> NoReturn:
    print(f"smoke: FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


def _command() -> list[str]:
    """The ssim-l1 launcher of this interpreter's environment (not whatever PATH finds first)."""
    scripts = Path(sys.executable).parent
    for name in ("ssim-l1", "ssim-l1.exe"):
        if (scripts / name).is_file():
            return [str(scripts / name)]
    _fail(f"no ssim-l1 launcher beside {sys.executable}")


def _run(args: list[str]) -> str:
    env = dict(os.environ, PYTHONIOENCODING="utf-8", NO_COLOR="1")
    done = subprocess.run([*_command(), *args], capture_output=True, text=True, encoding="utf-8", env=env)
    if done.returncode != 0:
        _fail(f"ssim-l1 {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def _check_import() -> str:
    import ssimcli

    location = Path(ssimcli.__file__).resolve()
    if "site-packages" not in location.parts:
        _fail(f"ssimcli imported from {location}, not from an installed wheel")
    if not callable(ssimcli.compare):
        _fail("ssimcli.compare is not callable")
    print(f"smoke: ssimcli {ssimcli.__version__} from {location.parent}; ssimcli.compare = {ssimcli.compare}")
    return str(ssimcli.__version__)


def _check_native(expect: str) -> None:
    try:
        from ssimcli.metrics import _native
    except ImportError as error:
        if expect == "required":
            _fail(f"the native kernel did not load: {error}")
        print(f"smoke: native kernel absent ({error}); the OpenCV path runs")
        return
    if expect == "absent":
        _fail(f"a native kernel is present ({_native.__file__}) in a build that should have none")
    print(f"smoke: native kernel loaded, variant {_native.variant!r}")


def _check_compare(samples: Path) -> None:
    for (reference, candidate), expected in EXPECTED_SSIM.items():
        out = _run(["compare", "--format", "json", str(samples / reference), str(samples / candidate)])
        got = float(json.loads(out)["ssim"])
        if abs(got - expected) > TOLERANCE:
            _fail(f"compare {reference} {candidate}: SSIM {got!r}, scikit-image {expected!r}")
        print(f"smoke: compare {reference} {candidate}: SSIM {got:.6f} (scikit-image {expected:.6f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="the sample_images folder")
    parser.add_argument("--native", choices=("required", "absent", "any"), default="any")
    args = parser.parse_args()
    samples = args.samples.resolve()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as work:
        os.chdir(work)  # nothing of the checkout on sys.path or in the working directory
        sys.path[:] = [p for p in sys.path if p not in ("", ".")]
        version = _check_import()
        printed = _run(["--version"]).strip()
        print(f"smoke: ssim-l1 --version: {printed}")
        if version not in printed:
            _fail(f"--version printed {printed!r}, package version is {version}")
        _check_native(args.native)
        _check_compare(samples)
        os.chdir(samples)  # out of the temporary directory, so that Windows can remove it
    print("smoke: OK")


if __name__ == "__main__":
    main()
