"""The review page of ``ssim-l1 video --html FILE``: the per-frame plot and the worst frames.

Built from the pieces of ``check``'s review page (`ssimcli.reports.review_page`): its style
sheet and script (`review_static`: side by side, slider and flip, 100 % zoom), its escaping of
names, its Content-Security-Policy (nothing is fetched; only that script runs) and its layout
of pictures in a folder beside the page (``report.html`` + ``report_files/``), so the page
works offline and as a CI artefact. The plot is inline SVG, its text kept as text.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ssimcli._version import __version__
from ssimcli.io.output import write_bytes
from ssimcli.reports.review_page import _attr, _text, asset_folder
from ssimcli.reports.review_static import CSS, JS, script_hash
from ssimcli.reports.video import LABELS, STAT_LABELS, format_value, picture_name, plot_bytes

CAPTIONS = {"reference": "reference", "distorted": "distorted", "ssim": "SSIM heatmap (Y)",
            "l1": "Gaussian L1 heatmap (Y)"}
EXTRA_CSS = """
.plot svg{max-width:100%;height:auto;background:#fff;border:1px solid var(--line)}
.worst-list a{margin-right:8px}
"""


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _svg(frames: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    if not frames:
        return '<p class="note">no frame was scored</p>'
    text = plot_bytes(frames, summary, "svg").decode("utf-8")
    start = text.find("<svg")
    text = re.sub(r"<metadata>.*?</metadata>", "", text[start:], flags=re.S)
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def _settings(summary: dict[str, Any]) -> str:
    ref, dist = summary["reference"], summary["distorted"]
    rows = [
        ("reference", f"<code>{_text(ref['path'])}</code> ({ref['width']}x{ref['height']} "
                      f"{html.escape(str(ref.get('pix_fmt') or ''))})"),
        ("distorted", f"<code>{_text(dist['path'])}</code> ({dist['width']}x{dist['height']} "
                      f"{html.escape(str(dist.get('pix_fmt') or ''))})"),
        ("frames scored", str(summary["frames_scored"])),
        ("preset", html.escape(summary["preset"])),
        ("offset", f"{summary['offset']}" + (" (sync auto)" if summary["sync"] else "")),
        ("planes", html.escape(", ".join(summary["plane_names"]))),
        ("version", html.escape(__version__)),
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    if summary["scaled"]:
        s = summary["scaled"]
        rows.append(("scaled", f"distorted to {s['width']}x{s['height']} ({html.escape(s['scaler'])})"))
    for text in summary["warnings"]:
        rows.append(("warning", _text(text)))
    if summary["error"]:
        rows.append(("stopped", _text(summary["error"]["message"])))
    if summary["interrupted"]:
        rows.append(("stopped", "interrupted"))
    body = "".join(f"<dt>{key}</dt><dd>{value}</dd>" for key, value in rows)
    return f'<div class="settings"><dl>{body}</dl></div>'


def _table(summary: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in STAT_LABELS.values())
    rows = []
    for metric in summary["metrics"]:
        stats = summary["planes"]["all"][metric]
        shown = [str(stats[key]) if key == "worst_frame" else format_value(stats[key], metric)
                 for key in STAT_LABELS]
        cells = "".join(f'<td class="num">{html.escape(value)}</td>' for value in shown)
        rows.append(f"<tr><td>{html.escape(LABELS.get(metric, metric))}</td>{cells}</tr>")
    return (f'<table><thead><tr><th>all planes</th>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def _checks(summary: dict[str, Any]) -> str:
    if not summary["thresholds"]:
        return ""
    rows = []
    for check in summary["thresholds"]:
        where = f"frame {check['frame']}" if check["scope"] == "frame" else "mean"
        rows.append(f'<tr{"" if check["passed"] else " class=bad"}><td>{html.escape(check["rule"])}</td>'
                    f'<td>{where}</td><td class="num">{format_value(check["value"], check["metric"])}</td>'
                    f'<td>&gt;= {check["limit"]:g}</td><td>{"pass" if check["passed"] else "FAIL"}</td></tr>')
    return ('<table class="checks"><thead><tr><th>limit</th><th>where</th><th>value</th>'
            f'<th>limit</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _figure(role: str, url: str, size: tuple[int, int], frame: int) -> str:
    width, height = size
    alt = _attr(f"frame {frame}: {CAPTIONS[role]}")
    return (f'<figure class="fig-{role}"><div class="frame" style="--w:{width}px">'
            f'<a href="{url}" target="_blank" rel="noopener"><img class="full" data-role="{role}" '
            f'src="{url}" width="{width}" height="{height}" alt="{alt}" decoding="async"></a></div>'
            f"<figcaption>{CAPTIONS[role]} &middot; {width}x{height}</figcaption></figure>")


def _compare(ref: str, dist: str, size: tuple[int, int]) -> str:
    width, height = size
    return (
        f'<div class="compare" style="--w:{width}px"><div class="stage" style="--w:{width}px" '
        'title="flip: click to switch">'
        f'<img class="under" data-role="baseline" src="{ref}" width="{width}" height="{height}" alt="reference">'
        f'<img class="over" data-role="candidate" src="{dist}" width="{width}" height="{height}" '
        'alt="distorted" style="clip-path:inset(0 0 0 50%)"><div class="split" style="left:50%"></div></div>'
        '<div class="slide-only"><input type="range" min="0" max="100" value="50" step="0.5" '
        'aria-label="slider: reference on the left, distorted on the right">'
        '<div class="note">left of the line: reference &middot; right: distorted</div></div>'
        '<div class="flip-only toolbar"><button type="button" class="flip">flip</button>'
        '<label><input type="checkbox" class="blink"> blink</label> showing: '
        '<span class="which">candidate</span> (candidate: distorted, baseline: reference)</div></div>')


def _card(order: int, worst: dict[str, Any], frame: dict[str, Any] | None, files: dict[str, bytes],
          folder: str, summary: dict[str, Any]) -> str:
    index = worst["frame"]
    urls = {role: f"{quote(folder)}/{picture_name(index, role)}" for role in files}
    sizes = {role: _png_size(data) for role, data in files.items()}
    buttons = "".join(
        f'<button type="button" data-view-button="{view}" aria-pressed="{str(view == "sbs").lower()}">'
        f"{text}</button>" for view, text in (("sbs", "side by side"), ("slider", "slider"), ("flip", "flip")))
    toolbar = (f'<div class="toolbar">{buttons}<button type="button" class="zoom" aria-pressed="false" '
               'title="show the pictures at their natural size">100 %</button></div>')
    figures = "".join(_figure(role, urls[role], sizes[role], index) for role in CAPTIONS if role in files)
    compare = (_compare(urls["reference"], urls["distorted"], sizes["reference"])
               if "reference" in files and "distorted" in files else "")
    metric = summary["worst_by"]
    scores = ""
    if frame is not None:
        scores = " &middot; ".join(
            f"{html.escape(LABELS.get(m, m))} {format_value(frame['planes']['all'].get(m), m)}"
            for m in summary["metrics"])
    return (f'<article class="card k-fail" id="frame-{index}" data-rank="1" data-score="{order}" '
            f'data-order="{order}" data-name="frame {index}" data-view="sbs">'
            f'<h3><span class="st st-fail">#{order + 1}</span> <span class="name">frame {index}</span> '
            f'&middot; {html.escape(LABELS.get(metric, metric))} '
            f'{format_value(worst["value"], metric)}</h3><p class="note">{scores}</p>'
            f'{toolbar}<div class="views"><div class="grid">{figures}</div>{compare}</div></article>')


def video_page_html(summary: dict[str, Any], frames: list[dict[str, Any]],
                    pictures: dict[int, dict[str, bytes]], folder: str) -> str:
    """The page's HTML; ``pictures[frame][role]`` are the PNGs written into ``folder``."""
    ok = summary["passed"] and summary["complete"]
    by_index = {f["frame"]: f for f in frames}
    worst = summary["worst_frames"]
    links = "".join(f'<a href="#frame-{w["frame"]}">frame {w["frame"]}</a>' for w in worst)
    cards = [_card(i, w, by_index.get(w["frame"]), pictures.get(w["frame"], {}), folder, summary)
             for i, w in enumerate(worst)]
    policy = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
              f"script-src {script_hash(JS)}; base-uri 'none'; form-action 'none'")
    verdict = "passed" if ok else "FAILED"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        f"<title>ssim-l1 video: {verdict}</title>",
        f"<style>{CSS}{EXTRA_CSS}</style></head><body>",
        f'<header class="run"><h1 class="verdict-{"pass" if ok else "fail"}">ssim-l1 video {verdict}</h1>',
        _settings(summary), "</header><main>",
        _table(summary), _checks(summary),
        f'<h2>Per frame</h2><div class="plot">{_svg(frames, summary)}</div>',
        f'<h2>Worst frames by {html.escape(LABELS.get(summary["worst_by"], summary["worst_by"]))}</h2>',
        f'<p class="worst-list">{links}</p><div id="cards">', *cards, "</div></main>",
        f"<script>{JS}</script></body></html>\n",
    ])


def write_video_page(page: str | Path, summary: dict[str, Any], frames: list[dict[str, Any]],
                     pictures: dict[int, dict[str, bytes]], inputs: tuple[str, str]) -> None:
    """Write the pictures into ``page``'s folder (``page_files/``), then the page."""
    from ssimcli.io.guard import guard_not_input

    folder = asset_folder(page)
    for frame, files in pictures.items():
        for role, data in files.items():
            path = folder / picture_name(frame, role)
            guard_not_input(path, inputs)
            write_bytes(path, data)
    text = video_page_html(summary, frames, pictures, folder.name)
    write_bytes(page, text.encode("utf-8"))
