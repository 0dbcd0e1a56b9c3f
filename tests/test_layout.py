"""The plan of the package, checked from its import graph (grimp), independently of the
import-linter contracts, and the contracts themselves shown to fail on a planted violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

grimp = pytest.importorskip("grimp")

#: Left to right: a module may import its own layer and the layers to its right only.
LAYERS = ("cli", "api", "reports", "pipeline", "io", "settings", "metrics")
SETTINGS = {"options", "config", "errors", "vocabulary", "console", "_version"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package face, which loads the API lazily
    top = parts[1]
    if top == "pytest_plugin":
        return "cli"
    if top in SETTINGS:
        return "settings"
    return top if top in LAYERS else None


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("ssimcli")


def test_every_module_belongs_to_a_layer(graph) -> None:
    unplaced = sorted(m for m in graph.modules if _layer(m) is None and m not in ("ssimcli", "ssimcli.__main__"))
    assert not unplaced


def test_no_import_goes_against_the_direction(graph) -> None:
    against = []
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = _layer(importer), _layer(imported)
            if a is not None and b is not None and LAYERS.index(b) < LAYERS.index(a):
                against.append(f"{importer} -> {imported}")
    assert not against


def test_the_engine_imports_nothing_of_the_tool(graph) -> None:
    engine = [m for m in graph.modules if m.startswith("ssimcli.metrics")]
    outside = sorted({f"{m} -> {i}" for m in engine for i in graph.find_modules_directly_imported_by(m)
                      if not i.startswith("ssimcli.metrics")})
    assert not outside


def test_there_are_no_import_circles(graph) -> None:
    circles = sorted({importer for importer in graph.modules
                      for imported in graph.find_modules_directly_imported_by(importer)
                      if graph.chain_exists(importer=imported, imported=importer)})
    assert not circles


def test_the_contracts_fail_on_a_planted_upward_import(tmp_path: Path) -> None:
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed")
    shutil.copytree(ROOT / "ssimcli", tmp_path / "ssimcli", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def lint() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["lint-imports"], cwd=tmp_path, env=env, capture_output=True, text=True)

    assert lint().returncode == 0, lint().stdout
    params = tmp_path / "ssimcli" / "metrics" / "params.py"
    params.write_text(params.read_text() + "\n\ndef _planted() -> None:\n    import ssimcli.reports.compare  # noqa\n")
    done = lint()
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout
    assert "ssimcli.metrics.params -> ssimcli.reports.compare" in done.stdout


def test_version_says_whether_the_native_kernel_is_in_use(run_cli) -> None:
    from ssimcli.metrics.native import kernel

    out = run_cli("--version").stdout
    assert out.startswith("ssim-l1 ") and "native kernel" in out
    module = kernel()
    if module is None:
        assert "not built" in out and "OpenCV" in out
    else:
        assert module.variant in out and "OpenCV" not in out
    disabled = subprocess.run([sys.executable, "-m", "ssimcli", "--version"], capture_output=True, text=True,
                              env={**os.environ, "SSIM_L1_NATIVE": "0"}, cwd=ROOT)
    assert "OpenCV engine" in disabled.stdout
