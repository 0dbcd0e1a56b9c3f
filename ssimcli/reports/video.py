"""What ``ssim-l1 video`` shows and writes: the per-plane summary tables, JSON, CSV and JSONL,
ffmpeg's own ssim/psnr stats-file lines, the worst frames' pictures, the per-frame plot, and
the JUnit/GitHub reports (through `ssimcli.reports.check`'s writers).

Every format is made from the same two records: a frame's dict (`FrameResult.to_dict`) and the
summary (`VideoComparison.summary`). File names are data: they are made printable before they
reach a terminal, a CSV cell or a report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ssimcli.console import printable
from ssimcli.io.formats import to_csv, to_json
from ssimcli.vocabulary import METRIC_LABELS

LABELS = {**METRIC_LABELS, "ssim_db": "SSIM (dB)", "mse": "MSE"}
STAT_LABELS = {"mean": "mean", "harmonic_mean": "harmonic", "min": "min", "p1": "1 %",
               "p5": "5 %", "max": "max", "worst_frame": "worst frame"}
#: Metrics shown with three decimals (decibels and squared errors); the others with six.
_COARSE = ("psnr", "ssim_db", "mse")
CSV_LEADING = ("frame", "reference_frame", "distorted_frame", "pts", "plane")


def format_value(value: float | None, metric: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:.3f}" if metric in _COARSE else f"{value:.6f}"


# --------------------------------------------------------------------------- terminal


def headline(summary: dict[str, Any]) -> str:
    """``ref.mp4 vs dist.mp4: 250 frames, preset ffmpeg, offset 0``: names made printable."""
    ref, dist = summary["reference"], summary["distorted"]
    parts = [f"{summary['frames_scored']} frames scored", f"preset {summary['preset']}"]
    if summary["offset"]:
        parts.append(f"offset {summary['offset']}")
    if summary["sync"]:
        parts.append(f"sync auto (window {summary['sync']['window']})")
    if summary["scaled"]:
        scaled = summary["scaled"]
        parts.append(f"distorted scaled to {scaled['width']}x{scaled['height']} ({scaled['scaler']})")
    if summary["interrupted"]:
        parts.append("INTERRUPTED")
    if summary["error"]:
        parts.append(f"stopped at frame {summary['error']['frame']}")
    return (f"{printable(ref['path'])} vs {printable(dist['path'])} "
            f"({ref['width']}x{ref['height']} {ref.get('pix_fmt') or ''}): " + ", ".join(parts))


def summary_tables(summary: dict[str, Any]) -> Any:
    """One Rich table per plane: each metric's pooled statistics and its worst frame."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text(headline(summary))]
    for plane in summary["plane_names"]:
        table = Table(title=Text(f"plane {plane}" if plane != "all" else
                                 "all planes (weighted by area)"), title_justify="left")
        table.add_column("metric")
        for stat in STAT_LABELS.values():
            table.add_column(stat, justify="right")
        for metric in summary["metrics"]:
            stats = summary["planes"][plane][metric]
            cells = [format_value(stats[s], metric) for s in STAT_LABELS if s != "worst_frame"]
            worst = stats["worst_frame"]
            table.add_row(LABELS.get(metric, metric), *cells, "—" if worst is None else str(worst))
        parts.append(table)
    if summary["preset"] == "ffmpeg":
        parts.append(Text("preset ffmpeg: ffmpeg's ssim and psnr filters (CS, L1, SSIM-L1 and "
                          "MS-SSIM exist only with the image presets)", style="dim"))
    if summary["worst_frames"]:
        worst = ", ".join(str(w["frame"]) for w in summary["worst_frames"])
        parts.append(Text(f"worst frames by {summary['worst_by']}: {worst}", style="dim"))
    return Group(*parts)


# --------------------------------------------------------------------------- data formats


def video_json(summary: dict[str, Any], frames: list[dict[str, Any]]) -> str:
    """``{"frames": [...], "summary": {...}}``."""
    return to_json({"frames": frames, "summary": summary})


def json_line(record: dict[str, Any]) -> str:
    """One JSONL line (strict JSON: ``inf`` as a string, NaN as null), as batch writes them."""
    from ssimcli.io.sinks import json_line as row_line

    return row_line(record) + "\n"


def frame_line(frame: dict[str, Any]) -> str:
    return json_line({"type": "frame", **frame})


def summary_line(summary: dict[str, Any]) -> str:
    return json_line({"type": "summary", **summary})


def csv_rows(frames: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per frame and plane: the frame's indices and time, the plane, its scores."""
    rows = []
    for frame in frames:
        head = {key: frame[key] for key in CSV_LEADING if key in frame}
        for plane, values in frame["planes"].items():
            rows.append({**head, "plane": plane, **values})
    return rows


def video_csv(frames: list[dict[str, Any]]) -> str:
    return to_csv(csv_rows(frames), CSV_LEADING)


# --------------------------------------------------------------------------- ffmpeg stats files


def _letters(planes: list[str]) -> list[str]:
    """ffmpeg prints RGB video's planes as R, G, B (its rgba_map), YUV as Y, U, V."""
    if set(planes) <= {"g", "b", "r"}:
        return [p for p in ("r", "g", "b") if p in planes]
    return planes


def ssim_stats_line(frame: dict[str, Any]) -> str:
    """vf_ssim's stats-file line: ``n:1 Y:0.987654 U:... V:... All:0.98... (17.23...)``,
    ``n`` the 1-based frame number."""
    from ssimcli.metrics.ffmpeg import ssim_db

    planes = frame["planes"]
    parts = [f"n:{frame['frame'] + 1}"]
    parts += [f"{p.upper()}:{_fixed(planes[p]['ssim'], 6)}" for p in _letters(_planes(frame))]
    total = planes["all"]["ssim"]
    db = math.nan if total is None else ssim_db(total)
    parts.append(f"All:{_fixed(total, 6)} ({_fixed(db, 6)})")
    return " ".join(parts) + "\n"


def psnr_stats_line(frame: dict[str, Any]) -> str:
    """vf_psnr's stats-file line: ``n:1 mse_avg:... mse_y:... psnr_avg:... psnr_y:... ``
    (two decimals, the trailing space included, as ffmpeg writes it)."""
    planes = frame["planes"]
    letters = _letters(_planes(frame))
    parts = [f"n:{frame['frame'] + 1}", f"mse_avg:{_fixed(planes['all']['mse'], 2)}"]
    parts += [f"mse_{p}:{_fixed(planes[p]['mse'], 2)}" for p in letters]
    parts.append(f"psnr_avg:{_fixed(planes['all']['psnr'], 2)}")
    parts += [f"psnr_{p}:{_fixed(planes[p]['psnr'], 2)}" for p in letters]
    return " ".join(parts) + " \n"


def _planes(frame: dict[str, Any]) -> list[str]:
    return [p for p in frame["planes"] if p != "all"]


def _fixed(value: float | None, digits: int) -> str:
    """C's ``%.Nf``: ``inf``, ``nan`` spelled as glibc prints them."""
    if value is None or math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------- CI reports


def describe_video_check(check: dict[str, Any]) -> str:
    """``ssim 0.91 >= 0.95 (margin -0.04)``, ``frame 12 ssim 0.51 >= 0.9 (margin -0.39)``."""
    from ssimcli.reports.compare import describe_check

    text = describe_check(check)
    return f"frame {check['frame']} {text}" if check["scope"] == "frame" else f"mean {text}"


def failing_frames_line(rule: str, frames: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    more = f" and {len(frames) - limit} more" if len(frames) > limit else ""
    noun = "frame" if len(frames) == 1 else "frames"
    return f"{rule.replace('_', '-')} failed on {len(frames)} {noun}: {shown}{more}"


def check_report(summary: dict[str, Any]) -> Any:
    """The run as `ssimcli.pipeline.check.CheckReport` (one item, the distorted video), so that
    `check`'s JUnit and GitHub writers report it."""
    from ssimcli.pipeline.check import CheckReport, ImageCheck
    from ssimcli.pipeline.pair import Rules

    ref, dist = summary["reference"]["path"], summary["distorted"]["path"]
    checks = [{"metric": c["metric"] if c["scope"] == "mean" else f"{c['metric']} of frame {c['frame']}",
               "kind": c["kind"], "limit": c["limit"], "value": c["value"], "margin": c["margin"],
               "passed": c["passed"]} for c in summary["thresholds"]]
    status, problem = "pass", None
    if summary["error"]:
        status, problem = "error", summary["error"]["message"]
    elif summary["interrupted"]:
        status, problem = "error", f"interrupted after {summary['frames_scored']} frames"
    elif not all(c["passed"] for c in checks):
        status = "fail"
    item = ImageCheck(name=dist, baseline=ref, candidate=dist, rules=Rules(), status=status,
                      checks=checks, error=problem)
    return CheckReport(ref, dist, items=[item])


def junit_text(summary: dict[str, Any]) -> str:
    from ssimcli.reports.check import junit_xml

    return junit_xml(check_report(summary)).replace("ssim-l1 check", "ssim-l1 video").replace(
        "ssim-l1.check", "ssim-l1.video")


def github_lines(summary: dict[str, Any]) -> list[str]:
    from ssimcli.reports.check import github_annotations

    return [line.replace("ssim-l1 check:", "ssim-l1 video:")
            for line in github_annotations(check_report(summary))]


# --------------------------------------------------------------------------- pictures


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


PICTURE_ROLES = ("reference", "distorted", "ssim", "l1")


def picture_name(frame: int, role: str) -> str:
    return f"frame_{frame:06d}_{role}.png"


def worst_pictures(run: Any, worst: Any) -> dict[str, bytes]:
    """The PNG files of one kept worst frame: reference and distorted (RGB) and the heatmaps
    of its Y plane's SSIM and L1 maps, with the image command's colour bars."""
    from ssimcli.io.heatmap import heatmap_png
    from ssimcli.io.video import to_rgb

    maps = run.worst_maps(worst)  # scales a distorted frame of another size first
    ref_info, dist_info = run.reference.info, run.distorted.info
    if ref_info is None or dist_info is None:
        from ssimcli.errors import UsageError

        raise UsageError("pictures of the worst frames need video files (frames given as arrays "
                         "have no pixel format to show them in)")
    if (dist_info.width, dist_info.height) != (ref_info.width, ref_info.height):
        from ssimcli.io.video import scaled_info

        dist_info = scaled_info(dist_info, ref_info.width, ref_info.height)
    out = {"reference": png_bytes(to_rgb(worst.reference, ref_info)),
           "distorted": png_bytes(to_rgb(worst.distorted, dist_info))}
    for name in ("ssim", "l1"):
        out[name] = b"".join(bytes(part) for part in heatmap_png(maps[name], name))
    return out


def write_pictures(directory: str | Path, frame: int, pictures: dict[str, bytes]) -> list[Path]:
    from ssimcli.io.output import write_bytes

    paths = []
    for role, data in pictures.items():
        path = Path(directory, picture_name(frame, role))
        write_bytes(path, data)
        paths.append(path)
    return paths


def plot_bytes(frames: list[dict[str, Any]], summary: dict[str, Any], fmt: str) -> bytes:
    """The per-frame curves (SSIM and PSNR of each plane, and the ranking metric when it is
    another) with the worst frames marked, as PNG or SVG (text kept as text in SVG)."""
    import matplotlib
    from matplotlib.figure import Figure

    worst_by = summary["worst_by"]
    metrics = ["ssim", "psnr"] + ([worst_by] if worst_by not in ("ssim", "psnr") else [])
    worst = {w["frame"] for w in summary["worst_frames"]}
    x = [f["frame"] for f in frames]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ssim-l1"}):
        figure = Figure(figsize=(10, 2.6 * len(metrics)), layout="constrained")
        axes = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
        for axis, metric in zip(axes, metrics, strict=True):
            for plane in summary["plane_names"]:
                y = [_plottable(f["planes"][plane].get(metric)) for f in frames]
                axis.plot(x, y, label=plane, linewidth=1.6 if plane == "all" else 0.9)
            if metric == worst_by:
                marked = [f for f in frames if f["frame"] in worst]
                axis.scatter([f["frame"] for f in marked],
                             [_plottable(f["planes"]["all"].get(metric)) for f in marked],
                             color="red", zorder=3, label="worst")
                for f in marked:
                    axis.annotate(f"frame {f['frame']}", (f["frame"], _plottable(
                        f["planes"]["all"].get(metric))), textcoords="offset points",
                        xytext=(4, -12), fontsize=8, color="red")
            axis.set_ylabel(LABELS.get(metric, metric))
            axis.grid(alpha=0.3)
            axis.legend(loc="lower right", fontsize=8, ncol=len(summary["plane_names"]) + 1)
        axes[-1].set_xlabel("frame")
        axes[0].set_title(f"{printable(Path(summary['distorted']['path']).name)} vs "
                          f"{printable(Path(summary['reference']['path']).name)}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=110, metadata=_plot_metadata(fmt))
    return buffer.getvalue()


def _plot_metadata(fmt: str) -> dict[str, Any]:
    return {"Date": None} if fmt == "svg" else {}


def _plottable(value: float | None) -> float:
    return math.nan if value is None or (isinstance(value, float) and math.isinf(value)) else value


def plot_format(path: str | Path) -> str:
    from ssimcli.errors import UsageError

    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise UsageError(f"{printable(path)}: --plot writes .png or .svg, by the file's extension")
    return suffix[1:]
