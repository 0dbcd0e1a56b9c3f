"""Check the built sdist and wheel against the checkout they were built from.

    python .ci/check_dist.py DIST_DIR [--no-native]

* the sdist holds what building needs: pyproject.toml, setup.py, README.md, LICENSE, the
  kernel's C sources (and CHANGELOG.md where the checkout has one);
* the wheel holds every file of the package that git tracks (a subpackage without an
  ``__init__.py`` or an asset that package-data misses shows up here), and no C sources;
* the wheel holds the compiled kernels, ``ssimcli/metrics/_native.*`` and ``_ffssim.*`` (unless
  ``--no-native``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDIST_NEEDS = [
    "pyproject.toml",
    "setup.py",
    "README.md",
    "LICENSE",
    "MANIFEST.in",
    "ssimcli/metrics/_native.c",
    "ssimcli/metrics/_native_tile.h",
    "ssimcli/metrics/_ffssim.c",
]
#: The compiled extensions a wheel built with a compiler carries.
KERNELS = ("_native", "_ffssim")
NOT_IN_WHEEL = (".c", ".h")


def _tracked_package_files() -> set[str]:
    try:
        out = subprocess.run(["git", "ls-files", "ssimcli"], cwd=ROOT, capture_output=True, text=True, check=True)
        files = set(out.stdout.split("\n")) - {""}
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what is on disk
        files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ssimcli").rglob("*") if p.is_file()}
    return {f for f in files if "__pycache__" not in f and not f.endswith((".pyc", ".so", ".pyd"))}


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"check_dist: expected one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--no-native", action="store_true", help="the wheel was built without a compiler")
    args = parser.parse_args()
    problems: list[str] = []

    sdist = _one(args.dist, "*.tar.gz")
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    needs = SDIST_NEEDS + (["CHANGELOG.md"] if (ROOT / "CHANGELOG.md").exists() else [])
    problems += [f"sdist {top}: no {name}" for name in needs if name not in in_sdist]

    wheel = _one(args.dist, "*.whl")
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = set(whl.namelist())
    for name in sorted(_tracked_package_files()):
        shipped = name in in_wheel
        if name.endswith(NOT_IN_WHEEL):
            if shipped:
                problems.append(f"wheel {wheel.name}: C source {name} shipped")
        elif not shipped:
            problems.append(f"wheel {wheel.name}: no {name}")
    kernels = [n for n in in_wheel if n.startswith("ssimcli/metrics/_") and n.endswith((".so", ".pyd"))]
    if args.no_native and kernels:
        problems.append(f"wheel {wheel.name}: a kernel {kernels} in a build meant to have none")
    for kernel in () if args.no_native else KERNELS:
        if not any(n.startswith(f"ssimcli/metrics/{kernel}.") for n in kernels):
            problems.append(f"wheel {wheel.name}: no compiled ssimcli/metrics/{kernel} kernel")

    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(1)
    print(f"check_dist: {sdist.name}: {len(in_sdist)} files; {wheel.name}: {len(in_wheel)} files, kernel {kernels}")


if __name__ == "__main__":
    main()
