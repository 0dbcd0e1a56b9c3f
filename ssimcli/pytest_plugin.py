"""pytest plugin (registered through the ``pytest11`` entry point): image regression tests.

A test asks for the ``ssim_l1_baseline`` fixture and calls it with an array or an image file::

    def test_render(ssim_l1_baseline):
        ssim_l1_baseline(render_chart())          # or ssim_l1_baseline("out/chart.png")

The plugin registers no other fixture: ``image_regression`` belongs to pytest-regressions (and
pytest-image-diff), and both can be installed beside this one.

Baselines are unique per test node: ``<test file's folder>/baselines/<module>/<Class>/<test
name and parameters>.png`` (``...-<name>.png`` with ``name=``). A second unnamed call in one test
(or the same ``name=`` twice) is an error asking for a distinct ``name=``: numbering calls by
their order would silently swap baselines when the calls are reordered.

The comparison and its limits are those of ``ssim-l1 check``, resolved the same way: the
built-in defaults, then ``[tool.ssim-l1]`` of the nearest ``pyproject.toml`` (with its per-glob
overrides, matched against the baseline's path under ``baselines/``), then the keyword arguments
of the call (any ``check`` setting in its Python spelling; ``False`` or ``"off"`` switches a
limit off). On failure the assertion message gives every score with its limit and the paths of
the candidate and of an SSIM heatmap written under pytest's temporary folder.

``pytest --ssim-l1-update`` writes missing baselines and those that fail; a baseline that passes
is never rewritten. The terminal summary lists every baseline written.

This module is imported by every pytest run of anyone who installs ssim-l1, so it imports
nothing heavy at module level: NumPy, SciPy and the codecs load on the fixture's first use.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

UPDATE_OPTION = "--ssim-l1-update"
FIXTURE = "ssim_l1_baseline"
_WRITTEN = pytest.StashKey[list[tuple[str, Path]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ssim-l1", "image regression tests (ssim-l1)")
    group.addoption(
        UPDATE_OPTION, action="store_true", default=False,
        help="ssim-l1: write missing baselines and replace those that fail; passing ones are "
             "left alone. The summary lists each baseline written.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_WRITTEN] = []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, [])
    if not config.getoption(UPDATE_OPTION):
        return
    terminalreporter.section("ssim-l1 baselines")
    if not written:
        terminalreporter.write_line("no baseline written: every image matched its baseline")
    for what, path in written:
        terminalreporter.write_line(f"{what}: {path}")


def _safe_name(text: str) -> str:
    """A file name from a test id or ``name=``: parametrize ids may hold ``/``, ``:``, spaces.
    When characters had to be replaced, a short hash of the original keeps two ids that differ
    only in those characters apart."""
    safe = re.sub(r"[^A-Za-z0-9_.=\[\]-]+", "_", text).strip("._") or "image"
    if safe != text:
        safe += "-" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return safe


class ImageRegression:
    """Compare an image with its stored baseline; raise `AssertionError` when it regressed.

    Parameters
    ----------
    baseline_root : Path
        ``<test file's folder>/baselines``.
    node_parts : tuple of str
        The module's file stem, the classes and the test name with its parameters.
    update : bool
        ``--ssim-l1-update`` was given.
    output_dir : Path
        Where candidates and heatmaps of failures are written (under pytest's basetemp).
    written : list, optional
        Where each baseline written is recorded for the terminal summary.
    """

    def __init__(self, baseline_root: Path, node_parts: tuple[str, ...], update: bool,
                 output_dir: Path, written: list[tuple[str, Path]] | None = None) -> None:
        self.baseline_root = Path(baseline_root)
        self.node_parts = tuple(_safe_name(part) for part in node_parts)
        self.update = update
        self.output_dir = Path(output_dir)
        self.written = written if written is not None else []
        self._used: dict[str | None, Path] = {}

    def baseline_path(self, name: str | None = None, baseline_dir: str | Path | None = None) -> Path:
        """``<root>/<module>/<Class>/<test[params]>.png``, ``...-<name>.png`` with a name."""
        root = Path(baseline_dir) if baseline_dir is not None else self.baseline_root
        *folders, test = self.node_parts
        stem = test + (f"-{_safe_name(name)}" if name else "")
        return root.joinpath(*folders, f"{stem}.png")

    def _claim(self, name: str | None, baseline: Path) -> None:
        if name in self._used:
            first = self._used[name]
            what = "a second unnamed image" if name is None else f"name={name!r} a second time"
            raise ValueError(
                f"{FIXTURE}: this test checks {what}; give each image its own name= "
                f"(the first is checked against {first})")
        self._used[name] = baseline

    def __call__(self, image: Any, name: str | None = None, **settings: Any) -> dict[str, Any]:
        __tracebackhide__ = True
        return self.check(image, name, **settings)

    def check(self, image: Any, name: str | None = None, *,
              baseline_dir: str | Path | None = None, **settings: Any) -> dict[str, Any]:
        """Compare ``image`` with the baseline; returns the result as ``check --json`` gives it.

        Parameters
        ----------
        image : ndarray or str or Path
            ``(H, W)`` or ``(H, W, C)`` array (uint8, uint16, or floats in [0, 1]) or an image
            file. Float arrays are stored as 16-bit PNG and compared after that rounding.
        name : str, optional
            Distinguishes several images in one test (each needs its own).
        baseline_dir : str or Path, optional
            Another folder than ``<test dir>/baselines``.
        **settings
            Any ``ssim-l1 check`` setting in its Python spelling: limits (``min_ssim``,
            ``min_psnr``, ``max_changed_pixels``, ``min_local_ssim``...; ``False`` or ``"off"`` switches one
            off), ``ignore``, ``mask``, and metric settings (``preset``, ``window``, ``sigma``...).
        """
        __tracebackhide__ = True
        from ssimcli.pipeline.check import check_pair

        baseline = self.baseline_path(name, baseline_dir)
        self._claim(name, baseline)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.output_dir / f"{'__'.join((*self.node_parts[:-1], baseline.stem))}.png"
        _write_candidate(image, candidate)

        if not baseline.exists():
            if self.update:
                self._accept(candidate, baseline, "created")
                return {"name": baseline.stem, "status": "created", "baseline": str(baseline)}
            raise AssertionError(
                f"no baseline image {baseline}\n  candidate written to {candidate}\n"
                f"  create it with: pytest {UPDATE_OPTION}")

        options, rules = self._settings(baseline, baseline_dir, settings)
        item = check_pair(baseline.stem, baseline, candidate, options, rules, keep_maps=True)
        record = item.to_dict()
        if item.passed:
            return record
        if self.update and (item.status == "fail" or item.error_kind == "pair"):
            self._accept(candidate, baseline, "updated")
            record["status"] = "updated"
            return record
        heatmap = None
        if item.ssim_map is not None:
            heatmap = candidate.with_name(f"{candidate.stem}-ssim-heatmap.png")
            _write_heatmap(item.ssim_map, heatmap)
        raise AssertionError(_failure_message(item, baseline, candidate, heatmap))

    def _settings(self, baseline: Path, baseline_dir: str | Path | None,
                  settings: dict[str, Any]) -> tuple[Any, Any]:
        """Options and rules through `ssimcli.config`'s one precedence, as ``check`` resolves."""
        from ssimcli.config import load_config, parse_rect, resolve_metric_settings
        from ssimcli.options import CompareOptions
        from ssimcli.pipeline.check import resolve_rules
        from ssimcli.vocabulary import METRIC_NAMES, RULE_SETTINGS

        rule_names = {s.name for s in RULE_SETTINGS}
        unknown = sorted(set(settings) - rule_names - set(METRIC_NAMES))
        if unknown:
            raise TypeError(f"{FIXTURE}: unknown setting(s) {', '.join(unknown)}")
        given = {k: v for k, v in settings.items() if k in rule_names and v is not None}
        if given.get("ignore"):
            given["ignore"] = tuple(parse_rect(r, "ignore") for r in given["ignore"])
        if given.get("mask") is not None:
            given["mask"] = str(Path(given["mask"]).resolve())
        config = load_config(start=self.baseline_root.parent)
        root = Path(baseline_dir) if baseline_dir is not None else self.baseline_root
        try:
            name = baseline.relative_to(root).as_posix()
        except ValueError:
            name = baseline.name
        rules = resolve_rules(name, given, config)
        metric = {k: v for k, v in settings.items() if k in METRIC_NAMES}
        return CompareOptions.build(**resolve_metric_settings(metric, config)), rules

    def _accept(self, candidate: Path, baseline: Path, what: str) -> None:
        _accept(candidate, baseline)
        self.written.append((what, baseline))


def _to_storable(image: Any) -> Any:
    """An array PNG can hold exactly: uint8/uint16 as they are, floats as 16-bit, bool as 8-bit."""
    import numpy as np

    array = np.asarray(image)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype in (np.uint8, np.uint16):
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("ssim_l1_baseline: the array holds NaN or infinity")
        return np.round(np.clip(array, 0.0, 1.0) * 65535).astype(np.uint16)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 65535:
            raise ValueError("ssim_l1_baseline: integer pixels must lie within 0..65535")
        return array.astype(np.uint16 if array.max() > 255 else np.uint8)
    raise TypeError(f"ssim_l1_baseline: cannot store an array of dtype {array.dtype}")


def _write_candidate(image: Any, target: Path) -> None:
    from ssimcli.io.output import copy_file

    if isinstance(image, (str, Path)):
        source = Path(image)
        if source.suffix.lower() == ".png":
            copy_file(source, target)  # keep the file exactly as produced
            return
        from ssimcli.io.decode import read_raw

        image = read_raw(source)
    import imagecodecs

    from ssimcli.io.output import write_bytes

    array = _to_storable(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    # libpng through imagecodecs: 16-bit colour stays 16-bit (Pillow would reduce it to 8).
    data = imagecodecs.png_encode(array)

    write_bytes(target, bytes(data))


def _accept(candidate: Path, baseline: Path) -> None:
    from ssimcli.io.output import copy_file

    copy_file(candidate, baseline)


def _write_heatmap(ssim_map: Any, path: Path) -> None:
    import io

    from PIL import Image

    from ssimcli.io.heatmap import render_heatmap
    from ssimcli.io.output import write_bytes

    buffer = io.BytesIO()
    Image.fromarray(render_heatmap(ssim_map, "ssim")).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def _failure_message(item: Any, baseline: Path, candidate: Path, heatmap: Path | None) -> str:
    lines = [f"image differs from its baseline {baseline}"]
    if item.size_change is not None:
        from ssimcli.reports.check import describe_size_change

        lines.append(f"  FAIL {describe_size_change(item.size_change)}")
    elif item.status == "error":
        lines.append(f"  cannot compare: {item.error}")
    from ssimcli.reports.compare import describe_check

    for check in item.checks:
        lines.append(f"  {'ok  ' if check['passed'] else 'FAIL'} {describe_check(check)}")
    lines.append(f"  candidate: {candidate}")
    if heatmap is not None:
        lines.append(f"  heatmap:   {heatmap}")
    lines.append(f"  accept the change with: pytest {UPDATE_OPTION}")
    return "\n".join(lines)


@pytest.fixture
def ssim_l1_baseline(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> ImageRegression:
    """Compare an array or image file with ``<test dir>/baselines/<module>/<Class>/<test>.png``."""
    node_path = Path(getattr(request.node, "path", None) or str(request.node.fspath))
    classes: list[str] = []
    parent = request.node.parent
    while parent is not None and isinstance(parent, pytest.Class):
        classes.insert(0, parent.name)
        parent = parent.parent
    output = tmp_path_factory.mktemp("ssim-l1", numbered=True)
    return ImageRegression(node_path.parent / "baselines", (node_path.stem, *classes, request.node.name),
                           bool(request.config.getoption(UPDATE_OPTION)), output,
                           request.config.stash.get(_WRITTEN, []))
