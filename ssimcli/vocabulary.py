"""The one vocabulary: metric names, setting names, their types, defaults and help.

The Click options (`ssimcli.cli.common`), the ``[tool.ssim-l1]`` loader (`ssimcli.config`), the
pytest plugin, the writers and the reports all read these tables, so a setting added here is
known everywhere at once. A setting's *name* is its Python spelling (``data_range``); its
*key* is how users write it, on the command line (``--data-range``) and in TOML
(``data-range``, underscores accepted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Every score a pair can have, in the order tables and CSV columns show them.
METRICS: tuple[str, ...] = ("ssim", "cs", "l1", "ssim_l1", "psnr", "ms_ssim", "ms_ssim_l1")
METRIC_LABELS: dict[str, str] = {
    "ssim": "SSIM", "cs": "CS", "l1": "L1 (Gauss)", "ssim_l1": "SSIM-L1",
    "psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM", "ms_ssim_l1": "MS-SSIM-L1",
}
#: Which end of each metric is better: similarities are better high, distances low.
HIGHER_IS_BETTER: dict[str, bool] = {
    "ssim": True, "cs": True, "ms_ssim": True, "psnr": True, "l1": False, "ssim_l1": False,
    "ms_ssim_l1": False,
}
#: Metrics computed only when MS-SSIM is asked for.
MS_SSIM_METRICS = ("ms_ssim", "ms_ssim_l1")

PRESETS = ("standard", "seed", "matlab", "skimage-default")
PADDINGS = ("reflect", "zero", "replicate")
COLOR_MODES = ("rgb", "luma", "y", "y8")
TRANSPARENCY_MODES = ("composite", "channel", "ignore")
PRECISIONS = ("float32", "float64")
DEVICES = ("auto", "cpu", "cuda")

_NUMBER = (int, float)
#: How a user switches a default limit off: ``--min-ssim off`` on the command line,
#: ``min-ssim = false`` (or ``"off"``) in ``[tool.ssim-l1]``, ``min_ssim=False`` in the plugin.
OFF = "off"


@dataclass(frozen=True)
class Setting:
    """One user-facing setting: its name, accepted TOML types, default and help."""

    name: str
    types: tuple[type, ...]
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    flag: bool = False
    metavar: str | None = None
    #: A limit that may be switched off with `OFF` (so a default limit can be turned off).
    switchable: bool = False

    @property
    def key(self) -> str:
        return self.name.replace("_", "-")

    @property
    def option(self) -> str:
        return f"--{self.key}"


@dataclass(frozen=True)
class Limit(Setting):
    """A limit on one mean score; inclusive (a score equal to its limit passes)."""

    metric: str = ""
    kind: str = "min"  # "min": the score must be >= limit; "max": <= limit
    switchable: bool = True


METRIC_SETTINGS: tuple[Setting, ...] = (
    Setting("preset", (str,), "standard", "Border and averaging convention (README: Presets).",
            choices=PRESETS),
    Setting("window", (int,), None, "Odd window size [preset: 11; skimage-default 7]."),
    Setting("sigma", _NUMBER, None, "Gaussian sigma [1.5]."),
    Setting("k1", _NUMBER, None, "K1 constant [0.01]."),
    Setting("k2", _NUMBER, None, "K2 constant [0.03]."),
    Setting("alpha", _NUMBER, None,
            "Weight of 1-SSIM in the mix alpha*(1-SSIM)+(1-alpha)*L1 [0.84]."),
    Setting("padding", (str,), None, "Border handling [preset].", choices=PADDINGS),
    Setting("data_range", _NUMBER, None,
            "Divisor that brings pixel values to [0, 1] [dtype maximum; 1 for floats]."),
    Setting("color", (str,), "rgb",
            "Per-channel scores (rgb), one BT.601 full-range luma score (luma), the studio-range "
            "Y of MATLAB rgb2ycbcr, as BasicSR reports it (y), or that Y rounded to whole 8-bit "
            "levels, as MATLAB returns it for uint8 images (y8: the classic SR tables).",
            choices=COLOR_MODES),
    Setting("crop", (int,), 0,
            "Pixels removed from every border of both images before any metric (SR papers: the "
            "scale factor).", metavar="N"),
    Setting("transparency", (str,), "composite",
            "Alpha policy when an image is not fully opaque.", choices=TRANSPARENCY_MODES),
    Setting("background", (str,), "white",
            "Composite background: white, black, #rrggbb or r,g,b in [0,1]."),
    Setting("ms_ssim", (bool,), False, "Also compute MS-SSIM and its L1 mix.", flag=True),
    Setting("precision", (str,), "float32", "Arithmetic precision.", choices=PRECISIONS),
    Setting("device", (str,), "cpu", "auto: the GPU when CuPy and a device are present.",
            choices=DEVICES),
    Setting("max_pixels", (int,), None,
            "Refuse, from its header, an image of more than N pixels (width x height) "
            "[1000000000].", metavar="N"),
)

LIMITS: tuple[Limit, ...] = (
    Limit("min_ssim", _NUMBER, None, "Fail when SSIM is below.", metric="ssim", kind="min"),
    Limit("min_cs", _NUMBER, None, "Fail when CS is below.", metric="cs", kind="min"),
    Limit("max_l1", _NUMBER, None, "Fail when Gaussian L1 is above.", metric="l1", kind="max"),
    Limit("max_ssim_l1", _NUMBER, None, "Fail when the mix is above.", metric="ssim_l1",
          kind="max"),
    Limit("min_ms_ssim", _NUMBER, None, "Fail when MS-SSIM is below (implies --ms-ssim).",
          metric="ms_ssim", kind="min"),
    Limit("min_psnr", _NUMBER, None, "Fail when PSNR (dB) is below (identical images: inf).",
          metric="psnr", kind="min"),
)

#: The rules of ``check`` beyond the mean limits (the local rule, masks).
CHECK_RULES: tuple[Setting, ...] = (
    Setting("max_changed_pixels", (int,), None,
            "Fail when more pixels than this changed clearly (see --pixel-threshold) [check: 0].",
            switchable=True),
    Setting("pixel_threshold", _NUMBER, 0.1,
            "How far a pixel's colour must move to count as changed: pixelmatch's YIQ distance "
            "threshold, 0 to 1 [0.1]."),
    Setting("min_local_ssim", _NUMBER, None,
            "Fail when the worst local window's mean SSIM is below [off].", switchable=True),
    Setting("local_window", (int,), 32, "Side in pixels of the square windows of --min-local-ssim."),
    Setting("ignore", (list,), (), "Leave a rectangle out of every score (repeatable).",
            metavar="X,Y,W,H"),
    Setting("mask", (str,), None,
            "Image whose white pixels are compared and black ones ignored (grey: partly)."),
)
CHECK_RUN_SETTINGS: tuple[Setting, ...] = (
    Setting("fail_on_new", (bool,), False,
            "A candidate with no baseline is a regression (default: only reported).", flag=True),
)

#: The per-pixel maps ``--maps`` can write. MS-SSIM has none: its scales have different sizes,
#: and its score is a product of per-scale means, not the mean of one map.
MAP_NAMES: tuple[str, ...] = ("ssim", "cs", "l1", "ssim_l1")
#: What ``--maps`` writes of each map: raw float32 ``.npy``, a heatmap ``.png``, or both.
MAP_FORMATS: tuple[str, ...] = ("npy", "png", "both")
MAP_SETTINGS: tuple[Setting, ...] = (
    Setting("maps_format", (str,), "both",
            "With --maps: raw float32 .npy, heatmap .png, or both [both].", choices=MAP_FORMATS),
    Setting("map_names", (str,), ",".join(MAP_NAMES),
            f"With --maps: which maps, comma-separated [{','.join(MAP_NAMES)}].",
            metavar="NAMES"),
)

METRIC_NAMES = tuple(s.name for s in METRIC_SETTINGS)
LIMIT_NAMES = tuple(s.name for s in LIMITS)
LIMITS_BY_NAME: dict[str, Limit] = {limit.name: limit for limit in LIMITS}
#: What a per-glob override in ``[tool.ssim-l1]`` may set: the rules of one image.
RULE_SETTINGS: tuple[Setting, ...] = (*LIMITS, *CHECK_RULES)
#: Everything the ``[tool.ssim-l1]`` table may set.
TABLE_SETTINGS: tuple[Setting, ...] = (*RULE_SETTINGS, *CHECK_RUN_SETTINGS, *METRIC_SETTINGS)


def by_name(settings: tuple[Setting, ...]) -> dict[str, Setting]:
    return {setting.name: setting for setting in settings}
