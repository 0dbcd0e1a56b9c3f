"""Reports of a ``check`` run: terminal table, HTML page, JUnit XML, GitHub Actions output.

A size change (``ImageCheck.size_change``) is shown with both sizes in every format.

File names come from pull requests, so every name is first made printable (`printable`: control
characters and undecodable bytes as visible ``\\xNN``, so no report carries a raw ESC, CR or a
byte that is not UTF-8), then escaped for the format it lands in: HTML text and attributes
(`html.escape`), XML (ElementTree), GitHub workflow commands (``%``-encoding) and Markdown
tables (HTML-escaped, ``|`` backslashed). The HTML page's script never builds
markup from strings; it only reorders existing elements.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from .check import CheckReport, ImageCheck, describe_failure, describe_size_change
from .console import printable
from .writers import METRIC_LABELS

PREVIEW_WIDTH = 360  # pixels: big screenshots are shown downscaled so the page stays small
PASS_PREVIEW_WIDTH = 160  # a passing image needs only a glance; a run has many of them
LABELS = {**METRIC_LABELS, "local_ssim": "local SSIM", "changed_pixels": "changed px"}


# --------------------------------------------------------------------------- previews


def _to_rgb8(pixels: np.ndarray, colour_channels: int) -> np.ndarray:
    """Normalised ``(H, W, C)`` floats -> RGB uint8, alpha composited on white for display."""
    colour = pixels[..., :colour_channels]
    if colour_channels == 1:
        colour = np.repeat(colour, 3, axis=2)
    elif colour_channels == 2:  # not a real case after loading; keep the first channel
        colour = np.repeat(colour[..., :1], 3, axis=2)
    else:
        colour = colour[..., :3]
    if pixels.shape[2] > colour_channels:
        alpha = pixels[..., -1:]
        colour = colour * alpha + (1 - alpha)
    return np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8)


def _png_data_uri(rgb: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _shrink(rgb: np.ndarray, width: int) -> np.ndarray:
    from PIL import Image

    if rgb.shape[1] <= width:
        return rgb
    height = max(1, round(rgb.shape[0] * width / rgb.shape[1]))
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def _fit(rgb: np.ndarray, width: int, height: int, limit: int = PREVIEW_WIDTH) -> np.ndarray:
    """Nearest-neighbour resize to the size `_shrink` gives a ``width`` x ``height`` image, so
    the heatmap lines up with the two photographs beside it."""
    from PIL import Image

    if width > limit:
        width, height = limit, max(1, round(height * limit / width))
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.NEAREST))


def _block_min(values: np.ndarray, factor: int) -> np.ndarray:
    """Downscale by taking each block's minimum, so a small defect stays visible in a preview."""
    if factor <= 1:
        return values
    height, width = values.shape
    pad_h, pad_w = (-height) % factor, (-width) % factor
    padded = np.pad(values, ((0, pad_h), (0, pad_w)), mode="edge")
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    return blocks.min(axis=(1, 3))


def make_previews(item: ImageCheck, baseline: Any, candidate: Any) -> dict[str, str]:
    """Data URIs of the baseline, the candidate and the SSIM heatmap (ignored area in grey).

    ``baseline`` and ``candidate`` are `ssimcli.io.LoadedImage`; the result is small enough to
    keep for every image of a run.
    """
    from .heatmap import colourise

    limit = PASS_PREVIEW_WIDTH if item.status == "pass" else PREVIEW_WIDTH
    previews = {
        "baseline": _png_data_uri(_shrink(_to_rgb8(baseline.pixels, baseline.colour_channels),
                                          limit)),
        "candidate": _png_data_uri(_shrink(_to_rgb8(candidate.pixels, candidate.colour_channels),
                                           limit)),
    }
    if item.ssim_map is not None:
        values = item.ssim_map.astype(np.float64)
        if item.compare_area is not None:
            values = np.where(item.compare_area > 0, values, np.nan)
        factor = max(1, math.ceil(values.shape[1] / limit))
        small = _block_min(np.where(np.isnan(values), np.inf, values), factor)
        rgb = colourise(np.where(np.isinf(small), 0, small), 0.0, 1.0)
        rgb[np.isinf(small)] = (160, 160, 160)
        previews["heatmap"] = _png_data_uri(_fit(rgb, values.shape[1], values.shape[0], limit))
    return previews


# --------------------------------------------------------------------------- terminal


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _limit(check: dict[str, Any]) -> str:
    return f"{'>=' if check['kind'] == 'min' else '<='} {check['limit']:g}"


def _value(check: dict[str, Any]) -> str:
    """A check's value: pixel counts as counts, scores with six decimals."""
    if check["metric"] == "changed_pixels" and check["value"] is not None:
        return f"{check['value']:g}"
    return _fmt(check["value"])


def _margin(check: dict[str, Any]) -> str:
    if check["margin"] is None:
        return ""
    return f"{check['margin']:+g}" if check["metric"] == "changed_pixels" else f"{check['margin']:+.6f}"


def _note(item: ImageCheck) -> str | None:
    """What replaces the scores of an image that has none: its error or its size change."""
    if item.size_change is not None:
        return describe_size_change(item.size_change)
    if item.status == "error":
        return item.error or ""
    return None


def check_metrics(report: CheckReport) -> list[str]:
    """The metrics checked on any image, in a stable order."""
    order = ["changed_pixels", "ssim", "cs", "l1", "ssim_l1", "ms_ssim", "local_ssim"]
    seen = {c["metric"] for item in report.items for c in item.checks}
    return [m for m in order if m in seen]


def terminal_table(report: CheckReport) -> Any:
    """A Rich table: per image its result and, per checked metric, value, limit and margin."""
    from rich.table import Table
    from rich.text import Text

    metrics = check_metrics(report)
    table = Table()
    table.add_column("result")
    table.add_column("image", overflow="fold")
    for metric in metrics:
        table.add_column(LABELS[metric], justify="right")
        table.add_column("limit", justify="right")
        table.add_column("margin", justify="right")
    if "local_ssim" in metrics:
        table.add_column("worst region (x,y w x h)")
    styles = {"pass": "green", "fail": "bold red", "error": "bold red"}
    for item in report.sorted_items():
        label = "ACCEPTED" if item.name in report.updated else item.status.upper()
        cells: list[Any] = [Text(label, style=styles[item.status]), Text(printable(item.name))]
        by_metric = {c["metric"]: c for c in item.checks}
        for metric in metrics:
            check = by_metric.get(metric)
            if check is None:
                cells += [Text(""), Text(""), Text("")]
                continue
            style = "" if check["passed"] else "red"
            cells += [Text(_value(check), style=style), Text(_limit(check)),
                      Text(_margin(check), style=style)]
        if "local_ssim" in metrics:
            region = by_metric.get("local_ssim", {}).get("region")
            cells.append(Text("" if not region else
                              f"{region['x']},{region['y']} {region['width']}x{region['height']}"))
        note = _note(item)
        if note is not None:
            cells[1] = Text(f"{printable(item.name)}\n{printable(note)}")
        table.add_row(*cells)
    blank = [Text("")] * (len(metrics) * 3 + ("local_ssim" in metrics))
    for name in report.missing:
        table.add_row(Text("MISSING", style="bold red"),
                      Text(f"{printable(name)}\n(baseline has no candidate)"),
                      *blank)
    for name in report.extra:
        accepted = name in report.updated
        label = "ACCEPTED" if accepted else ("NEW (fail)" if report.fail_on_new else "NEW")
        style = "bold red" if report.fail_on_new and not accepted else "yellow"
        table.add_row(Text(label, style=style), Text(f"{printable(name)}\n(candidate has no baseline)"),
                      *blank)
    return table


# --------------------------------------------------------------------------- JUnit


def junit_xml(report: CheckReport) -> str:
    """JUnit XML: one ``testcase`` per image; ``failure`` with values and limits, ``error`` for
    pairs that could not be compared."""
    cases: list[ET.Element] = []
    failures = errors = skipped = 0
    for item in report.sorted_items():
        case = ET.Element("testcase", classname="ssim-l1.check", name=item.name,
                          file=item.candidate)
        lines = [f"baseline: {item.baseline}", f"candidate: {item.candidate}"]
        if item.size_change is not None:
            lines.append(describe_size_change(item.size_change))
        for check in item.checks:
            margin = "" if check["margin"] is None else f" margin {_margin(check)}"
            mark = "ok" if check["passed"] else "FAILED"
            line = f"{check['metric']} {_value(check)} limit {_limit(check)}{margin} {mark}"
            if check.get("region"):
                r = check["region"]
                line += f" region x={r['x']} y={r['y']} w={r['width']} h={r['height']}"
            lines.append(line)
        if item.status == "fail" and item.name not in report.updated:
            failure = ET.SubElement(case, "failure", message=describe_failure(item),
                                    type="size-change" if item.size_change else "regression")
            failure.text = "\n".join(lines)
            failures += 1
        elif item.status == "error" and item.name not in report.updated:
            error = ET.SubElement(case, "error", message=item.error or "", type="bad-input")
            error.text = "\n".join(lines[:2] + [item.error or ""])
            errors += 1
        else:
            ET.SubElement(case, "system-out").text = "\n".join(lines)
        cases.append(case)
    for name in report.missing:
        case = ET.Element("testcase", classname="ssim-l1.check", name=name,
                          file=str(Path(report.baseline_dir) / name))
        failure = ET.SubElement(case, "failure", type="missing",
                                message="baseline has no candidate")
        failure.text = f"baseline: {Path(report.baseline_dir) / name}\ncandidate: (none)"
        failures += 1
        cases.append(case)
    for name in report.extra:
        case = ET.Element("testcase", classname="ssim-l1.check", name=name,
                          file=str(Path(report.candidate_dir) / name))
        if report.fail_on_new and name not in report.updated:
            ET.SubElement(case, "failure", type="new",
                          message="candidate has no baseline (--fail-on-new)").text = \
                f"candidate: {Path(report.candidate_dir) / name}\nbaseline: (none)"
            failures += 1
        else:
            ET.SubElement(case, "system-out").text = "new image: candidate has no baseline"
        cases.append(case)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors),
              "skipped": str(skipped)}
    root = ET.Element("testsuites", name="ssim-l1 check", **counts)
    suite = ET.SubElement(root, "testsuite", name="ssim-l1 check", **counts)
    suite.extend(cases)
    _make_printable(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _make_printable(root: ET.Element) -> None:
    """Every attribute and line of text made `printable`: XML 1.0 cannot hold most control
    characters at all, and a byte that is not UTF-8 would make the file unreadable."""
    for element in root.iter():
        element.attrib = {key: printable(value) for key, value in element.attrib.items()}
        if element.text:
            element.text = "\n".join(printable(line) for line in element.text.split("\n"))


# --------------------------------------------------------------------------- GitHub Actions


def _escape_data(text: str) -> str:
    return printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: CheckReport) -> list[str]:
    """``::error file=PATH::message`` workflow commands, one per regression or bad pair."""
    lines = []
    for item in report.sorted_items():
        if item.status == "pass" or item.name in report.updated:
            continue
        message = f"ssim-l1 check: {item.name}: {describe_failure(item)}"
        lines.append(f"::error file={_escape_property(item.candidate)}::{_escape_data(message)}")
    for name in report.missing:
        path = str(Path(report.baseline_dir) / name)
        message = f"ssim-l1 check: {name}: baseline has no candidate"
        lines.append(f"::error file={_escape_property(path)}::{_escape_data(message)}")
    if report.fail_on_new:
        for name in report.extra:
            if name in report.updated:
                continue
            path = str(Path(report.candidate_dir) / name)
            message = f"ssim-l1 check: {name}: new image with no baseline (--fail-on-new)"
            lines.append(f"::error file={_escape_property(path)}::{_escape_data(message)}")
    return lines


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell (GitHub renders HTML in step summaries)."""
    return html.escape(printable(text)).replace("|", "\\|")


def step_summary_markdown(report: CheckReport) -> str:
    """A Markdown section for ``$GITHUB_STEP_SUMMARY``: verdict, counts, a row per image."""
    summary = report.summary()
    verdict = "passed" if summary["exit_code"] == 0 else "FAILED"
    metrics = check_metrics(report)
    lines = [
        f"## ssim-l1 check {verdict}",
        "",
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['errors']} errors, "
        f"{summary['missing']} missing, {summary['extra']} new"
        + (f", {len(report.updated)} accepted into the baseline" if report.updated else ""),
        "",
        "| result | image | " + " | ".join(LABELS[m] + " (limit)" for m in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for item in report.sorted_items():
        by_metric = {c["metric"]: c for c in item.checks}
        cells = []
        for metric in metrics:
            check = by_metric.get(metric)
            cells.append("" if check is None else
                         f"{_value(check)} ({_limit(check)})"
                         + ("" if check["passed"] else " ❌"))
        status = "accepted" if item.name in report.updated else item.status
        note = _note(item)
        name = _md(item.name) + (f" — {_md(note)}" if note is not None else "")
        lines.append(f"| {status} | {name} | " + " | ".join(cells) + " |")
    blank = " | ".join("" for _ in metrics)
    for name in report.missing:
        lines.append(f"| missing | {_md(name)} (baseline has no candidate) | {blank} |")
    for name in report.extra:
        status = "accepted" if name in report.updated else "new"
        lines.append(f"| {status} | {_md(name)} (candidate has no baseline) | {blank} |")
    return "\n".join(lines) + "\n\n"


def append_step_summary(path: str | Path, markdown: str) -> None:
    """Append (GitHub gives every step the same file to add to), through the one writer: a FIFO
    with no reader is an `OutputError`, not a run that hangs in ``open``."""
    from .output import open_stream

    stream = open_stream(path, append=True)
    try:
        stream.write(markdown)
    finally:
        stream.close()


def github_enabled(environ: dict[str, str] | None = None) -> bool:
    environ = dict(os.environ) if environ is None else environ
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{margin:.2em 0}.verdict-pass{color:#17773a}.verdict-fail{color:#b3261e}
.meta{color:#555;word-break:break-all}
table{border-collapse:collapse;margin:.8em 0;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th.sortable{cursor:pointer;user-select:none;background:#eef}th.sortable:hover{background:#dde}
.st-pass{color:#17773a;font-weight:600}.st-fail,.st-error,.st-missing{color:#b3261e;font-weight:600}
.st-new{color:#8a6d00;font-weight:600}.st-accepted{color:#555;font-weight:600}
.bad{color:#b3261e}
.name{word-break:break-all}
.controls button{margin-right:.4em}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #17773a;margin:1em 0;padding:.6em 1em}
.card.fail,.card.error{border-left-color:#b3261e}
.card h2{font-size:16px;margin:.2em 0;word-break:break-all}
.trio{display:flex;gap:12px;flex-wrap:wrap}
figure{margin:0}figcaption{color:#555;font-size:12px;text-align:center}
.frame{position:relative;display:inline-block;line-height:0;border:1px solid #ccc;
 background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}
.frame img{max-width:360px;height:auto;image-rendering:auto}
.region{position:absolute;border:3px solid #ff1f5a;box-shadow:0 0 0 1px #fff;
 box-sizing:border-box;pointer-events:none}
ul.plain{padding-left:1.2em}
"""

_JS = """
(function(){
  function key(el, by){
    var d = el.dataset;
    if (by === 'name') return [d.name || ''];
    if (by === 'score') return [parseFloat(d.score)];
    if (by === 'score-desc') return [-parseFloat(d.score)];
    if (by !== 'failures') return [0];
    return [parseInt(d.rank, 10), parseFloat(d.score)];
  }
  function cmp(a, b){
    for (var i = 0; i < a.length; i++){
      if (a[i] < b[i]) return -1; if (a[i] > b[i]) return 1;
    }
    return 0;
  }
  function sortAll(by){
    ['results-body', 'cards'].forEach(function(id){
      var box = document.getElementById(id); if (!box) return;
      var items = Array.prototype.slice.call(box.children);
      items.sort(function(a, b){
        var r = cmp(key(a, by), key(b, by));
        return r !== 0 ? r : parseInt(a.dataset.order, 10) - parseInt(b.dataset.order, 10);
      });
      items.forEach(function(el){ box.appendChild(el); });
    });
    document.body.dataset.sorted = by;
  }
  document.querySelectorAll('[data-sort]').forEach(function(el){
    el.addEventListener('click', function(){
      var by = el.dataset.sort;
      if (by === 'score' && document.body.dataset.sorted === 'score') by = 'score-desc';
      sortAll(by);
    });
  });
  // A link may ask for an order: report.html#sort=score (or name, score-desc, failures).
  var wanted = /[#&]sort=([a-z-]+)/.exec(window.location.hash);
  sortAll(wanted ? wanted[1] : 'failures');
})();
"""


def _attr(value: Any) -> str:
    return html.escape(printable(value), quote=True)


def _esc(value: Any, quote: bool = True) -> str:
    """HTML text of a name or message: `printable` first, then `html.escape`."""
    return html.escape(printable(value), quote=quote)


def _region_style(region: dict[str, Any], width: int, height: int) -> str:
    # Percentages of the image, so the box follows the image whatever its displayed size.
    left = 100.0 * region["x"] / width
    top = 100.0 * region["y"] / height
    return (f"left:{left:.3f}%;top:{top:.3f}%;width:{100.0 * region['width'] / width:.3f}%;"
            f"height:{100.0 * region['height'] / height:.3f}%")


def html_report(report: CheckReport, previews: dict[str, dict[str, str]] | None = None) -> str:
    """One self-contained HTML page (images as data: URIs, no external resources).

    Parameters
    ----------
    report : CheckReport
        The run.
    previews : dict
        ``name -> {"baseline", "candidate", "heatmap"}`` data URIs from `make_previews`.
    """
    previews = previews or {}
    esc = _esc
    summary = report.summary()
    ok = summary["exit_code"] == 0
    metrics = check_metrics(report)
    rank = {"error": 0, "fail": 1, "pass": 3}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing on the page is fetched from elsewhere, and nothing may be.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        "<title>ssim-l1 check: " + ("passed" if ok else "FAILED") + "</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1 class="{"verdict-pass" if ok else "verdict-fail"}">ssim-l1 check '
        + ("passed" if ok else "FAILED") + "</h1>",
        f'<p class="meta">baseline <code>{esc(report.baseline_dir)}</code> &middot; candidate '
        f"<code>{esc(report.candidate_dir)}</code></p>",
        '<section id="summary"><h2>Summary</h2>',
        f'<p id="counts">{summary["passed"]} passed, {summary["failed"]} failed, '
        f'{summary["errors"]} could not be compared, {summary["missing"]} missing, '
        f'{summary["extra"]} new' + (f", {len(report.updated)} accepted" if report.updated else "")
        + f" &middot; exit code {summary['exit_code']}</p>",
        '<p class="controls">Sort: <button type="button" data-sort="failures">failures first'
        '</button><button type="button" data-sort="score">by score</button>'
        '<button type="button" data-sort="name">by name</button></p>',
        '<table id="results"><thead><tr>'
        '<th class="sortable" data-sort="failures">result</th>'
        '<th class="sortable" data-sort="name">image</th>'
        '<th class="sortable" data-sort="score">score</th>'
        + "".join(f"<th>{esc(LABELS[m])} (limit)</th>" for m in metrics)
        + '</tr></thead><tbody id="results-body">',
    ]
    items = report.sorted_items()
    for order, item in enumerate(items):
        status = "accepted" if item.name in report.updated else item.status
        score = item.sort_score if math.isfinite(item.sort_score) else -1.0
        by_metric = {c["metric"]: c for c in item.checks}
        cells = []
        for metric in metrics:
            check = by_metric.get(metric)
            if check is None:
                cells.append("<td></td>")
                continue
            cls = "num" + ("" if check["passed"] else " bad")
            cells.append(f'<td class="{cls}">{_fmt(check["value"])} '
                         f"({esc(_limit(check))})</td>")
        out.append(
            f'<tr data-rank="{rank[item.status]}" data-score="{score:.9f}" '
            f'data-order="{order}" data-name="{_attr(item.name)}">'
            f'<td class="st-{status}">{status}</td>'
            f'<td class="name"><a href="#img-{order}">{esc(item.name)}</a></td>'
            f'<td class="num">{_fmt(item.sort_score if math.isfinite(item.sort_score) else None)}'
            "</td>" + "".join(cells) + "</tr>"
        )
    extra_rows = [(n, "missing", 2, "baseline has no candidate") for n in report.missing]
    extra_rows += [(n, "accepted" if n in report.updated else "new",
                    2 if report.fail_on_new and n not in report.updated else 4,
                    "candidate has no baseline") for n in report.extra]
    for offset, (name, status, row_rank, note) in enumerate(extra_rows):
        out.append(
            f'<tr data-rank="{row_rank}" data-score="-1" data-order="{len(items) + offset}" '
            f'data-name="{_attr(name)}"><td class="st-{status}">{status}</td>'
            f'<td class="name">{esc(name)}</td><td colspan="{1 + len(metrics)}">{esc(note)}</td>'
            "</tr>"
        )
    out.append("</tbody></table></section>")
    out.append('<section><h2>Images</h2><div id="cards">')
    for order, item in enumerate(items):
        out.append(_card(item, order, previews.get(item.name, {}), report,
                         rank[item.status]))
    out.append("</div></section>")
    out.append(f"<script>{_JS}</script></body></html>\n")
    return "\n".join(out)


def _card(item: ImageCheck, order: int, previews: dict[str, str], report: CheckReport,
          rank: int) -> str:
    esc = _esc
    status = "accepted" if item.name in report.updated else item.status
    score = item.sort_score if math.isfinite(item.sort_score) else -1.0
    parts = [
        f'<article class="card {item.status}" id="img-{order}" data-rank="{rank}" '
        f'data-score="{score:.9f}" data-order="{order}" data-name="{_attr(item.name)}">',
        f'<h2><span class="st-{status}">{status}</span> {esc(item.name)}</h2>',
    ]
    if item.status == "error":
        parts.append(f'<p class="bad">{esc(item.error or "")}</p>')
    elif item.status == "fail":
        parts.append(f'<p class="bad">{esc(describe_failure(item))}</p>')
    region = None
    for check in item.checks:
        if check["metric"] == "local_ssim" and check.get("region") and not check["passed"]:
            region = check["region"]
    if region is None and item.status == "fail" and item.display_region is not None:
        region = item.display_region.to_dict()
    width, height = item.record.get("width"), item.record.get("height")
    figures = []
    masked = bool(item.rules.ignore or item.rules.mask)
    heat_caption = "SSIM map (0 to 1" + (", grey: ignored)" if masked else ")")
    for key, caption in (("baseline", "baseline"), ("candidate", "candidate"),
                         ("heatmap", heat_caption)):
        if key not in previews:
            continue
        box = ""
        if region and width and height:
            box = f'<div class="region" style="{_region_style(region, width, height)}"></div>'
        path = item.baseline if key == "baseline" else item.candidate
        title = "" if key == "heatmap" else f' title="{_attr(path)}"'
        figures.append(
            f'<figure><div class="frame"><img src="{previews[key]}" '
            f'alt="{_attr(caption + ": " + item.name)}"{title}>{box}</div>'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    if figures:
        parts.append('<div class="trio">' + "".join(figures) + "</div>")
    if item.checks:
        rows = []
        for check in item.checks:
            margin = "" if check["margin"] is None else f"{check['margin']:+.6f}"
            where = ""
            if check.get("region"):
                r = check["region"]
                where = f"x={r['x']} y={r['y']} {r['width']}x{r['height']}"
            cls = "" if check["passed"] else ' class="bad"'
            rows.append(
                f"<tr{cls}><td>{esc(LABELS.get(check['metric'], check['metric']))}</td>"
                f'<td class="num">{_fmt(check["value"])}</td><td>{esc(_limit(check))}</td>'
                f'<td class="num">{margin}</td><td>{"pass" if check["passed"] else "FAIL"}</td>'
                f"<td>{esc(where)}</td></tr>"
            )
        parts.append("<table><thead><tr><th>metric</th><th>value</th><th>limit</th>"
                     "<th>margin</th><th></th><th>worst region</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
    parts.append("</article>")
    return "\n".join(parts)
