"""pytest plugin (registered through the ``pytest11`` entry point): image regression tests.

A test asks for the ``image_regression`` fixture (``ssim_l1_baseline`` is the same) and calls
it with an array or an image file::

    def test_render(image_regression):
        image_regression(render_chart())          # or image_regression("out/chart.png")

The baseline is ``<test file's folder>/baselines/<test name>.png`` (``<test name>-<name>.png``
with ``name=``). The comparison and its limits are those of ``ssim-l1 check``: the built-in
defaults, then ``[tool.ssim-l1]`` of the nearest ``pyproject.toml`` (with its per-glob overrides,
matched against the baseline's name), then the keyword arguments of the call. On failure the
assertion message gives every score with its limit and the paths of the candidate and of an SSIM
heatmap written under pytest's temporary folder.

``pytest --ssim-l1-update`` writes missing baselines and those that fail; a baseline that passes
is never rewritten.

This module is imported by every pytest run of anyone who installs ssim-l1, so it imports
nothing heavy at module level: NumPy, SciPy and the codecs load on the fixture's first use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

UPDATE_OPTION = "--ssim-l1-update"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ssim-l1", "image regression tests (ssim-l1)")
    group.addoption(
        UPDATE_OPTION, action="store_true", default=False,
        help="ssim-l1: write missing baselines and replace those that fail; passing ones are "
             "left alone.",
    )


def _safe_name(text: str) -> str:
    """A file name from a test id: parametrize ids may hold ``/``, ``:``, spaces and so on."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._") or "image"


class ImageRegression:
    """Compare an image with its stored baseline; raise `AssertionError` when it regressed.

    Parameters
    ----------
    test_dir : Path
        Folder of the test file; baselines go to ``test_dir / "baselines"``.
    test_name : str
        The test's name (with parametrize id), made safe for a file name.
    update : bool
        ``--ssim-l1-update`` was given.
    output_dir : Path
        Where candidates and heatmaps of failures are written (under pytest's basetemp).
    """

    def __init__(self, test_dir: Path, test_name: str, update: bool, output_dir: Path) -> None:
        self.test_dir = Path(test_dir)
        self.test_name = _safe_name(test_name)
        self.update = update
        self.output_dir = Path(output_dir)

    def baseline_path(self, name: str | None = None, baseline_dir: str | Path | None = None
                      ) -> Path:
        folder = Path(baseline_dir) if baseline_dir is not None else self.test_dir / "baselines"
        stem = self.test_name + (f"-{_safe_name(name)}" if name else "")
        return folder / f"{stem}.png"

    def __call__(self, image: Any, name: str | None = None, **settings: Any) -> dict[str, Any]:
        __tracebackhide__ = True
        return self.check(image, name, **settings)

    def check(
        self,
        image: Any,
        name: str | None = None,
        *,
        baseline_dir: str | Path | None = None,
        min_ssim: float | None = None,
        min_cs: float | None = None,
        max_l1: float | None = None,
        max_ssim_l1: float | None = None,
        min_ms_ssim: float | None = None,
        min_psnr: float | None = None,
        min_local_ssim: float | None = None,
        local_window: int | None = None,
        ignore: tuple[tuple[int, int, int, int], ...] | list[Any] = (),
        mask: str | Path | None = None,
        **compare_settings: Any,
    ) -> dict[str, Any]:
        """Compare ``image`` with the baseline; returns the result as ``check --json`` gives it.

        Parameters
        ----------
        image : ndarray or str or Path
            ``(H, W)`` or ``(H, W, C)`` array (uint8, uint16, or floats in [0, 1]) or an image
            file. Float arrays are stored as 16-bit PNG and compared after that rounding.
        name : str, optional
            Distinguishes several images in one test.
        baseline_dir : str or Path, optional
            Another folder than ``<test dir>/baselines``.
        min_ssim, min_cs, max_l1, max_ssim_l1, min_ms_ssim, min_psnr, min_local_ssim, local_window, ignore, mask
            As the ``ssim-l1 check`` options of the same names.
        **compare_settings
            Metric settings of `ssimcli.options.CompareOptions.build` (``preset``, ``window``...).
        """
        __tracebackhide__ = True
        from .check import check_pair, resolve_rules
        from .config import load_config, parse_rect, resolve_metric_settings
        from .options import CompareOptions

        baseline = self.baseline_path(name, baseline_dir)
        stem = baseline.stem
        self.output_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.output_dir / f"{stem}.png"
        _write_candidate(image, candidate)

        if not baseline.exists():
            if self.update:
                _accept(candidate, baseline)
                return {"name": stem, "status": "created", "baseline": str(baseline)}
            raise AssertionError(
                f"no baseline image {baseline}\n  candidate written to {candidate}\n"
                f"  create it with: pytest {UPDATE_OPTION}")

        given: dict[str, Any] = {
            key: value for key, value in {
                "min_ssim": min_ssim, "min_cs": min_cs, "max_l1": max_l1,
                "max_ssim_l1": max_ssim_l1, "min_ms_ssim": min_ms_ssim, "min_psnr": min_psnr,
                "min_local_ssim": min_local_ssim, "local_window": local_window,
            }.items() if value is not None
        }
        if ignore:
            given["ignore"] = tuple(parse_rect(r, "ignore") for r in ignore)
        if mask is not None:
            given["mask"] = str(Path(mask).resolve())
        config = load_config(start=self.test_dir)
        rules = resolve_rules(baseline.name, given, config)
        options = CompareOptions.build(**resolve_metric_settings(compare_settings, config))
        item = check_pair(stem, baseline, candidate, options, rules, keep_maps=True)
        record = item.to_dict()
        if item.passed:
            return record
        if self.update and (item.status == "fail" or item.error_kind == "pair"):
            _accept(candidate, baseline)
            record["status"] = "updated"
            return record
        heatmap = None
        if item.ssim_map is not None:
            heatmap = self.output_dir / f"{stem}-ssim-heatmap.png"
            _write_heatmap(item.ssim_map, heatmap)
        raise AssertionError(_failure_message(item, baseline, candidate, heatmap))


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
            raise ValueError("image_regression: the array holds NaN or infinity")
        return np.round(np.clip(array, 0.0, 1.0) * 65535).astype(np.uint16)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 65535:
            raise ValueError("image_regression: integer pixels must lie within 0..65535")
        return array.astype(np.uint16 if array.max() > 255 else np.uint8)
    raise TypeError(f"image_regression: cannot store an array of dtype {array.dtype}")


def _write_candidate(image: Any, target: Path) -> None:
    from .output import copy_file

    if isinstance(image, (str, Path)):
        source = Path(image)
        if source.suffix.lower() == ".png":
            copy_file(source, target)  # keep the file exactly as produced
            return
        from .io import read_raw

        image = read_raw(source)
    import imagecodecs

    from .output import write_bytes

    array = _to_storable(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    # libpng through imagecodecs: 16-bit colour stays 16-bit (Pillow would reduce it to 8).
    data = imagecodecs.png_encode(array)

    write_bytes(target, bytes(data))


def _accept(candidate: Path, baseline: Path) -> None:
    from .output import copy_file

    copy_file(candidate, baseline)


def _write_heatmap(ssim_map: Any, path: Path) -> None:
    import io

    from PIL import Image

    from .heatmap import render_heatmap
    from .output import write_bytes

    buffer = io.BytesIO()
    Image.fromarray(render_heatmap(ssim_map, "ssim")).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def _failure_message(item: Any, baseline: Path, candidate: Path, heatmap: Path | None) -> str:
    lines = [f"image differs from its baseline {baseline}"]
    if item.status == "error":
        lines.append(f"  cannot compare: {item.error}")
    from .writers import describe_check

    for check in item.checks:
        lines.append(f"  {'ok  ' if check['passed'] else 'FAIL'} {describe_check(check)}")
    lines.append(f"  candidate: {candidate}")
    if heatmap is not None:
        lines.append(f"  heatmap:   {heatmap}")
    lines.append(f"  accept the change with: pytest {UPDATE_OPTION}")
    return "\n".join(lines)


@pytest.fixture
def image_regression(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> ImageRegression:
    """Compare an array or image file with ``<test dir>/baselines/<test name>.png``."""
    node_path = getattr(request.node, "path", None) or Path(str(request.node.fspath))
    test_dir = Path(node_path).parent
    output = tmp_path_factory.mktemp("ssim-l1", numbered=True)
    return ImageRegression(test_dir, request.node.name,
                           bool(request.config.getoption(UPDATE_OPTION)), output)


@pytest.fixture
def ssim_l1_baseline(image_regression: ImageRegression) -> ImageRegression:
    """The same as ``image_regression``."""
    return image_regression
