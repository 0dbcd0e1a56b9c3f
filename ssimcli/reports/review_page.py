"""The review page of ``ssim-l1 check --html FILE``: what a person needs to accept or reject a run.

Modelled on Playwright's ``toHaveScreenshot`` report (diff, actual, expected, slider), reg-cli
(changed / new / deleted / passed, slide and toggle viewers) and pytest-mpl's HTML summary (one
card per test with baseline, result and diff, filterable):

* the run's settings at the top: version, date, preset and parameters, the limits in force,
  the folders and the counts; the colour legends of the heatmap and of the difference view;
* one card per image, failures first: could not be compared, failed (a size change among them),
  missing (baseline without candidate), new (candidate without baseline), then passed;
* for an image that needs review, the baseline, the candidate, a difference view and the SSIM
  heatmap, each a full-resolution PNG (click opens it; "100 %" shows the card at natural size),
  and a compare-in-place view: a slider between baseline and candidate, or flip (click, or blink);
* the changed regions boxed *around* the changed pixels: each box is the bounding box of a
  cluster of changed pixels grown by `BOX_MARGIN` pixels, drawn as an outline outside that box,
  so no changed pixel is ever painted over;
* passing images get one small JPEG thumbnail of the candidate, nothing at full resolution.

Images are files in a folder beside the page (``report.html`` + ``report_files/``), named by a
hash of the image's name (names come from pull requests), so the page itself stays small. A page
written to something that is not a regular file (``-``, a FIFO, ``/dev/null``) carries its
pictures inlined as ``data:`` URLs and makes no folder: nothing is ever created beside a device.
A run that fails before its page is written removes the pictures it wrote (and their folder when
it made it): nothing of a failed report stays on disk.
Nothing is fetched from elsewhere (a Content-Security-Policy forbids it), so the page works
offline and as a CI artefact. File names are data: every one is HTML-escaped, and control
characters and undecodable bytes are shown as visible escapes (``\\x1b``).

Why one long module: the page is one document; its cards, pictures, boxes and header are
rendered from the same escaped values and asset names, and `review_static.py` already holds
the style sheet and script.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import math
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from ssimcli.console import printable
from ssimcli.errors import SsimCliError
from ssimcli.io.output import can_place, write_bytes
from ssimcli.pipeline.check import CheckReport, ImageCheck
from ssimcli.reports.check import describe_failure
from ssimcli.reports.review_static import CSS, JS, script_hash
from ssimcli.vocabulary import LIMITS, METRIC_LABELS, METRICS

if TYPE_CHECKING:
    from ssimcli.io.decode import LoadedImage
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.check import Rules

ASSET_SUFFIX = "_files"  # report.html -> report_files/
EAGER_CARDS = 20  # pictures of later cards load when scrolled to: a big run opens quickly
THUMB_WIDTH = 240  # pixels: a passing image needs only a glance, and a run has many of them
CHANGE_LEVEL = 16  # of 255: a channel that moved this much is clearly changed (red, boxed)
BOX_MARGIN = 6  # pixels between the changed pixels and the inner edge of their box
BOX_BLOCK = 8  # changed pixels closer than about this many pixels share one box
BOX_CLEARANCE = 16  # boxes closer than this are merged, so no outline crosses another region
MAX_BOXES = 12  # more clusters than this: one box around them all
DIFF_FADE = 0.3  # how much of the baseline's darkness the difference view keeps
LABELS = {**METRIC_LABELS, "local_ssim": "local SSIM", "changed_pixels": "changed px"}
#: rule key -> (metric shown, comparison), from the one vocabulary of limits.
LIMIT_NAMES = {
    **{limit.name: (METRIC_LABELS[limit.metric], ">=" if limit.kind == "min" else "<=")
       for limit in LIMITS},
    "min_local_ssim": ("local SSIM", ">="), "max_changed_pixels": ("changed pixels", "<="),
}
_ASSET_NAME = re.compile(r"[0-9a-f]{16}-(baseline|candidate|diff|heatmap|thumb)\.(png|jpg)")
# What `console.printable` escapes (C0/C1 controls, DEL, undecodable bytes of a file name), and
# the bidi controls, which would show a name in another order than it has.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

Box = tuple[int, int, int, int]  # x, y, width, height in image pixels


# --------------------------------------------------------------------------- names as data


def _escape_one(char: str) -> str:
    shown = printable(char)  # the console's escapes: \x1b, and \xff for a byte that was not UTF-8
    return shown if shown != char else f"\\u{ord(char):04x}"  # a bidi control


def visible(text: str) -> str:
    """``text`` with every control character and undecodable byte as a visible escape."""
    return _HIDDEN.sub(lambda match: _escape_one(match.group()), text)


def _text(text: str) -> str:
    """HTML for ``text``: escaped, hidden characters shown as highlighted escapes."""
    out, last = [], 0
    for match in _HIDDEN.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        out.append(f'<span class="ctl">{html.escape(_escape_one(match.group()))}</span>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _attr(value: Any) -> str:
    return html.escape(visible(str(value)), quote=True)


def asset_key(name: str) -> str:
    """A file-name-safe key for an image name (never the name itself: names are hostile)."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# --------------------------------------------------------------------------- pictures


def display_rgb(image: LoadedImage) -> np.ndarray:
    """Normalised ``(H, W, C)`` floats -> RGB uint8, alpha composited on white for display."""
    pixels = image.pixels
    colour = pixels[..., : image.colour_channels]
    colour = np.repeat(colour[..., :1], 3, axis=2) if colour.shape[2] < 3 else colour[..., :3]
    if image.has_alpha:
        alpha = pixels[..., -1:]
        colour = colour * alpha + (1 - alpha)
    return np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8)


# Difference view palette: 0..GREYS-1 the faded baseline, then slightly and clearly changed.
_GREYS = int(round(255 * DIFF_FADE)) + 1
SLIGHT_INDEX, CLEAR_INDEX = 254, 255
SLIGHT_RGB, CLEAR_RGB = (255, 200, 40), (230, 0, 40)


def _diff_palette() -> list[int]:
    palette = [0, 0, 0] * 256
    for index in range(_GREYS):
        palette[3 * index: 3 * index + 3] = [255 - index] * 3
    palette[3 * SLIGHT_INDEX: 3 * SLIGHT_INDEX + 3] = SLIGHT_RGB
    palette[3 * CLEAR_INDEX: 3 * CLEAR_INDEX + 3] = CLEAR_RGB
    return palette


def difference_view(baseline: np.ndarray, candidate: np.ndarray,
                    area: np.ndarray | None = None) -> tuple[np.ndarray, list[Box]]:
    """Palette indices of the difference picture (see `_diff_palette`) and the boxes around
    the changed regions.

    Like pixelmatch's output: the baseline faded to light grey, pixels where a channel moved by
    `CHANGE_LEVEL` or more in red, smaller changes in yellow. Boxes surround the red pixels
    (the yellow ones when there is no red) inside the compared ``area``.
    """
    delta = np.abs(baseline.astype(np.int16) - candidate.astype(np.int16)).max(axis=2)
    luma = baseline.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    indices = np.round((255 - luma) * DIFF_FADE).astype(np.uint8)
    indices[delta > 0] = SLIGHT_INDEX
    clear = delta >= CHANGE_LEVEL
    indices[clear] = CLEAR_INDEX
    changed = clear if clear.any() else delta > 0
    if area is not None:
        changed &= area > 0
    return indices, change_boxes(changed)


def _block_any(mask: np.ndarray, block: int) -> np.ndarray:
    height, width = mask.shape
    padded = np.pad(mask, ((0, (-height) % block), (0, (-width) % block)))
    return np.asarray(padded.reshape(padded.shape[0] // block, block, -1, block).any(axis=(1, 3)))


def change_boxes(changed: np.ndarray, margin: int = BOX_MARGIN) -> list[Box]:
    """Boxes that surround each cluster of ``changed`` pixels with ``margin`` pixels to spare
    (clipped to the image), merged until no two come closer than `BOX_CLEARANCE`."""
    from scipy import ndimage

    if not changed.any():
        return []
    height, width = changed.shape
    blocks = ndimage.binary_dilation(_block_any(changed, BOX_BLOCK), structure=np.ones((3, 3)))
    labels, count = ndimage.label(blocks)
    if count > MAX_BOXES:
        rows, cols = np.nonzero(changed)
        spans = [(int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)]
    else:
        pixel_labels = np.repeat(np.repeat(labels, BOX_BLOCK, 0), BOX_BLOCK, 1)[:height, :width]
        found = ndimage.find_objects(np.where(changed, pixel_labels, 0))
        spans = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in found if s is not None]
    grown = [(max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin),
              min(height, y1 + margin)) for x0, y0, x1, y1 in spans]
    return [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in _merge_close(grown)]


def _merge_close(spans: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    def close(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        gap = BOX_CLEARANCE
        return a[0] - gap < b[2] and b[0] - gap < a[2] and a[1] - gap < b[3] and b[1] - gap < a[3]

    spans = list(spans)
    merged = True
    while merged:
        merged = False
        for i in range(len(spans)):
            for j in range(i + 1, len(spans)):
                if close(spans[i], spans[j]):
                    a, b = spans[i], spans.pop(j)
                    spans[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    merged = True
                    break
            if merged:
                break
    return sorted(spans, key=lambda s: (s[1], s[0]))


def heatmap_scale() -> tuple[float, float]:
    from ssimcli.io.heatmap import SCALES

    return SCALES["ssim"]


def _heat_palette() -> list[int]:
    from ssimcli.io.heatmap import colourise

    low, high = heatmap_scale()
    colours = colourise(np.linspace(low, high, 255)[None, :], low, high)[0]  # (H, W) in
    return [int(v) for v in colours.reshape(-1)] + [160, 160, 160]  # 255: ignored, grey


def heatmap_indices(ssim_map: np.ndarray, area: np.ndarray | None) -> np.ndarray:
    """Palette indices (see `_heat_palette`) of an SSIM map on the heatmaps' fixed scale."""
    low, high = heatmap_scale()
    values = np.nan_to_num(ssim_map.astype(np.float64), nan=low)
    indices = np.clip(np.round((values - low) * (254 / (high - low))), 0, 254).astype(np.uint8)
    if area is not None:
        indices[area <= 0] = 255
    return indices


def _encode(image: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=82)
    else:
        image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


# --------------------------------------------------------------------------- assets


@dataclass(frozen=True)
class Picture:
    """One picture file beside the page: its URL relative to the page, and its pixel size."""

    url: str
    width: int
    height: int


@dataclass
class CardImages:
    """The pictures of one card. ``boxes`` surround the changed regions (image pixels)."""

    baseline: Picture | None = None
    candidate: Picture | None = None
    diff: Picture | None = None
    heatmap: Picture | None = None
    thumb: Picture | None = None
    boxes: list[Box] = field(default_factory=list)
    size_change: dict[str, list[int]] | None = None


def size_change_of(item: ImageCheck) -> dict[str, list[int]] | None:
    """``{"baseline": [w, h], "candidate": [w, h]}`` when the check reports a size change."""
    value: Any = getattr(item, "size_change", None) or item.record.get("size_change")
    try:
        return {role: [int(v) for v in value[role]] for role in ("baseline", "candidate")}
    except (KeyError, TypeError, ValueError):
        return None


def _load_rgb(path: str) -> np.ndarray | None:
    from ssimcli.io.decode import load_image

    try:
        return display_rgb(load_image(path))
    except SsimCliError:
        return None


def asset_folder(page: str | Path) -> Path:
    """The folder of the page's pictures: ``report.html`` -> ``report_files/`` beside it."""
    page = Path(page)
    return page.with_name(page.stem + ASSET_SUFFIX)


def uses_folder(page: str | Path) -> bool:
    """Whether the page's pictures go to a folder beside it: only for a regular file (or a new
    one); ``-``, a FIFO or a device gets them inlined."""
    return can_place(page)


class ReviewAssets:
    """Writes the page's pictures into the folder beside it, as the run goes (or keeps them
    inlined, for a page that is not a regular file: `uses_folder`).

    Thread-safe: each worker writes only its own image's files. File names are
    ``<hash of the image name>-<kind>.<png|jpg>``. `discard` removes what a failed run wrote.
    """

    def __init__(self, page: str | Path) -> None:
        self.page = Path(page)
        self.inline = not uses_folder(page)
        self.folder = asset_folder(page)
        self._made_folders = [] if self.inline else _missing_folders(self.folder)
        self._written: set[str] = set()
        self._lock = threading.Lock()

    def _store(self, key: str, kind: str, image: Any, fmt: str = "PNG") -> Picture:
        extension = "jpg" if fmt == "JPEG" else "png"
        data = _encode(image, fmt)
        if self.inline:
            import base64

            mime = "image/jpeg" if fmt == "JPEG" else "image/png"
            url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            return Picture(url, image.width, image.height)
        filename = f"{key}-{kind}.{extension}"
        with self._lock:
            self._written.add(filename)  # before the write: a failed one may leave it half done
        write_bytes(self.folder / filename, data)
        return Picture(quote(self.folder.name) + "/" + filename, image.width, image.height)

    def discard(self) -> None:
        """Remove every picture this run wrote, and the folders it made for them."""
        if self.inline:
            return
        for filename in sorted(self._written):
            with contextlib.suppress(OSError):
                os.unlink(self.folder / filename)
        self._written.clear()
        for folder in reversed(self._made_folders):  # innermost first; only when empty
            with contextlib.suppress(OSError):
                os.rmdir(folder)

    def _full(self, key: str, kind: str, rgb: np.ndarray) -> Picture:
        from PIL import Image

        return self._store(key, kind, Image.fromarray(rgb))

    def _palette(self, key: str, kind: str, indices: np.ndarray, palette: list[int]) -> Picture:
        from PIL import Image

        image = Image.fromarray(indices, mode="P")
        image.putpalette(palette)
        return self._store(key, kind, image)

    def _thumb(self, key: str, rgb: np.ndarray) -> Picture:
        from PIL import Image

        image = Image.fromarray(rgb)
        if image.width > THUMB_WIDTH:
            height = max(1, round(image.height * THUMB_WIDTH / image.width))
            image = image.resize((THUMB_WIDTH, height), Image.Resampling.LANCZOS)
        return self._store(key, "thumb", image, "JPEG")

    def for_item(self, item: ImageCheck) -> CardImages:
        """The pictures of a compared pair: a thumbnail when it passed, else everything."""
        key = asset_key(item.name)
        if item.status == "pass":
            if item.loaded is None:
                return CardImages()
            return CardImages(thumb=self._thumb(key, display_rgb(item.loaded[1])))
        ref: np.ndarray | None
        cand: np.ndarray | None
        if item.loaded is not None:
            ref, cand = display_rgb(item.loaded[0]), display_rgb(item.loaded[1])
        else:  # a size change or an error: show whatever decodes
            ref, cand = _load_rgb(item.baseline), _load_rgb(item.candidate)
        images = CardImages(size_change=size_change_of(item))
        if ref is not None:
            images.baseline = self._full(key, "baseline", ref)
        if cand is not None:
            images.candidate = self._full(key, "candidate", cand)
        if ref is None or cand is None:
            return images
        if ref.shape != cand.shape:
            images.size_change = images.size_change or {
                "baseline": [ref.shape[1], ref.shape[0]], "candidate": [cand.shape[1], cand.shape[0]]}
        if images.size_change is None:
            self._changes(key, item, ref, cand, images)
        return images

    def _changes(self, key: str, item: ImageCheck, ref: np.ndarray, cand: np.ndarray,
                 images: CardImages) -> None:
        """The difference view, the boxes around the changes and the SSIM heatmap."""
        indices, images.boxes = difference_view(ref, cand, item.compare_area)
        images.diff = self._palette(key, "diff", indices, _diff_palette())
        if item.ssim_map is not None:
            heat = heatmap_indices(item.ssim_map, item.compare_area)
            images.heatmap = self._palette(key, "heatmap", heat, _heat_palette())

    def for_file(self, name: str, path: str | Path, role: str) -> CardImages:
        """The one picture of a missing (``role="baseline"``) or new (``"candidate"``) image."""
        images = CardImages()
        rgb = _load_rgb(str(path))
        if rgb is not None:
            setattr(images, role, self._full(asset_key(name), role, rgb))
        return images

    def for_unpaired(self, report: CheckReport, jobs: int = 4) -> dict[str, CardImages]:
        """Pictures of every missing and new image, decoded ``jobs`` at a time."""
        work = [(name, Path(report.baseline_dir) / name, "baseline") for name in report.missing]
        work += [(name, Path(report.candidate_dir) / name, "candidate") for name in report.extra]
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            found = list(pool.map(lambda job: self.for_file(*job), work))
        return {name: images for (name, _, _), images in zip(work, found, strict=True)}

    def prune(self) -> None:
        """Remove pictures an earlier run left in the folder (only files named as ours)."""
        if self.inline:
            return
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if _ASSET_NAME.fullmatch(entry.name) and entry.name not in self._written:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RunSettings:
    """What produced the run, for the page's header."""

    version: str
    created: str
    preset: str
    parameters: dict[str, Any]
    limits: dict[str, Any]
    config: str | None = None

    @classmethod
    def from_run(cls, options: CompareOptions, rules: Rules, config: str | Path | None = None,
                 now: datetime | None = None) -> RunSettings:
        from ssimcli._version import __version__

        params = options.params
        window = f"{params.window} ({params.window_kind}"
        window += f", sigma {params.sigma:g})" if params.window_kind == "gaussian" else ")"
        parameters = {"window": window, "K1, K2": f"{params.k1:g}, {params.k2:g}",
                      "alpha (mix)": f"{params.alpha:g}", "padding": params.padding,
                      "mean over": params.mean_over, "colour": options.color,
                      "transparency": options.transparency}
        if options.crop:
            parameters["crop"] = f"{options.crop} px from every border"
        created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
        return cls(str(__version__), created, options.preset, parameters, rules.to_dict(),
                   None if config is None else str(config))


def limit_lines(limits: dict[str, Any]) -> list[str]:
    """The limits in force in words: ``SSIM >= 0.95``; rules that are off, listed as off."""
    lines, off = [], []
    for key, value in limits.items():
        if key in LIMIT_NAMES:
            metric, sign = LIMIT_NAMES[key]
            if value is None:
                off.append(metric)
            else:
                lines.append(f"{metric} {sign} {value:g}")
        elif key == "local_window":
            if limits.get("min_local_ssim") is not None:
                lines.append(f"local window {value}x{value} px")
        elif key == "ignore":
            lines += [f"ignored rectangle x={r[0]} y={r[1]} {r[2]}x{r[3]}" for r in value or ()]
        elif value not in (None, (), [], False):
            lines.append(f"{key.replace('_', '-')}: {value}")
    if off:
        lines.append("off: " + ", ".join(off))
    return lines


# --------------------------------------------------------------------------- page model


@dataclass
class Entry:
    """One card (and one row of the table)."""

    name: str
    kind: str  # fail, error, missing, new, pass: the card's colour and filter class
    label: str  # what the card says: failed, size changed, error, missing, new, passed, accepted
    rank: int  # failures first
    score: float | None
    why: str
    baseline: str | None
    candidate: str | None
    images: CardImages
    checks: list[dict[str, Any]] = field(default_factory=list)
    order: int = 0


def _size_text(size: dict[str, list[int]]) -> str:
    (bw, bh), (cw, ch) = size["baseline"], size["candidate"]
    return f"size changed: baseline {bw}x{bh}, candidate {cw}x{ch}"


def _item_entry(item: ImageCheck, images: CardImages, report: CheckReport) -> Entry:
    size = images.size_change or size_change_of(item)
    score = item.sort_score if math.isfinite(item.sort_score) else None
    if item.status == "pass":
        kind, label, rank, why = "pass", "passed", 4, ""
    elif item.status == "error":
        kind, label, rank, why = "error", "error", 0, f"cannot compare: {item.error or ''}"
    else:
        kind, label, rank = "fail", "size changed" if size else "failed", 1
        why = describe_failure(item) if item.checks else ""
    if size:
        label = "size changed"
        why = _size_text(size) + (f"; {why}" if why and not why.startswith("cannot") else "")
        if item.status == "error":
            why += f" ({item.error})"
    if item.name in report.updated:
        label, rank = "accepted", 3
    return Entry(item.name, kind, label, rank, score, why, item.baseline, item.candidate,
                 images, item.checks)


def page_entries(report: CheckReport, images: dict[str, CardImages]) -> list[Entry]:
    """Every image of the run as a card, in review order: errors, failures, missing and
    failing new ones, then accepted and new ones, then passes; by score, then name."""
    entries = [_item_entry(item, images.get(item.name, CardImages()), report)
               for item in report.items]
    for name in report.missing:
        entries.append(Entry(name, "missing", "missing", 2, None, "the baseline has no candidate",
                             str(Path(report.baseline_dir) / name), None,
                             images.get(name, CardImages())))
    for name in report.extra:
        failing = report.fail_on_new and name not in report.updated
        label = "accepted" if name in report.updated else "new"
        why = "new image: the candidate has no baseline" + (
            " (a failure: --fail-on-new)" if failing else "")
        entries.append(Entry(name, "new", label, 2 if failing else 3, None, why, None,
                             str(Path(report.candidate_dir) / name),
                             images.get(name, CardImages())))
    entries.sort(key=lambda e: (e.rank, -1.0 if e.score is None else e.score, e.name))
    for order, entry in enumerate(entries):
        entry.order = order
    return entries


# --------------------------------------------------------------------------- markup


def _legend_gradient() -> str:
    from ssimcli.io.heatmap import colourise

    low, high = heatmap_scale()
    colours = colourise(np.linspace(low, high, 11)[None, :], low, high)[0]
    stops = ",".join(f"rgb({r},{g},{b}) {10 * i}%" for i, (r, g, b) in enumerate(colours))
    return f"linear-gradient(to right,{stops})"


def _legends() -> str:
    low, high = heatmap_scale()
    ticks = "".join(f'<span style="left:{100 * f:g}%">{low + f * (high - low):g}</span>'
                    for f in (0, 0.25, 0.5, 0.75, 1))
    slight, clear = (f"rgb{SLIGHT_RGB}", f"rgb{CLEAR_RGB}")
    return (
        '<div class="legends">'
        '<div class="legend" id="heatmap-legend"><div>SSIM heatmap (viridis, fixed scale '
        f'{low:g} to {high:g}; grey: not compared)</div>'
        f'<div class="bar" style="background:{_legend_gradient()}"></div>'
        f'<div class="ticks">{ticks}</div></div>'
        '<div class="legend" id="diff-legend"><div>Difference view</div>'
        f'<span class="swatch" style="background:{clear};margin-left:0"></span>changed by '
        f'{CHANGE_LEVEL}/255 or more'
        f'<span class="swatch" style="background:{slight}"></span>changed less'
        '<span class="swatch" style="background:#e0e0e0"></span>unchanged (baseline, faded)<br>'
        '<span class="swatch box" style="margin-left:0"></span>changed region, boxed with a '
        f'{BOX_MARGIN} px margin (the outline never covers a changed pixel)</div>'
        "</div>"
    )


def _dl(rows: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _header(report: CheckReport, settings: RunSettings, entries: list[Entry]) -> str:
    summary = report.summary()
    ok = summary["exit_code"] == 0
    counts = [("passed", summary["passed"]), ("failed", summary["failed"]),
              ("errors", summary["errors"]), ("missing", summary["missing"]),
              ("new", summary["extra"]), ("accepted", len(report.updated)),
              ("total", summary["total"])]
    count_items = "".join(f'<li data-count="{key}"><span class="n">{value}</span> {key}</li>'
                          for key, value in counts)
    limits = limit_lines(settings.limits) + (["new images fail (--fail-on-new)"]
                                             if report.fail_on_new else [])
    overridden = sum(1 for item in report.items if item.rules.to_dict() != settings.limits)
    if overridden:
        limits.append(f"{overridden} image(s) have other limits (config overrides): see their cards")
    run = [("version", f"ssim-l1 {html.escape(settings.version)}"),
           ("date", html.escape(settings.created)), ("preset", html.escape(settings.preset))]
    run += [(key, html.escape(str(value))) for key, value in settings.parameters.items()]
    where = [("baseline", f"<code>{_text(report.baseline_dir)}</code>"),
             ("candidate", f"<code>{_text(report.candidate_dir)}</code>"),
             ("settings file", "none" if settings.config is None
              else f"<code>{_text(settings.config)}</code>"),
             ("exit code", str(summary["exit_code"]))]
    verdict = "passed" if ok else "FAILED"
    return (
        '<header class="run">'
        f'<h1 class="verdict-{"pass" if ok else "fail"}">ssim-l1 check {verdict}</h1>'
        f'<ul class="counts" id="counts">{count_items}</ul>'
        '<div class="settings" id="settings">'
        + _dl(run)
        + _dl([("limits", "<br>".join(html.escape(line) for line in limits))])
        + _dl(where)
        + "</div>" + _legends()
        + '<div class="toolbar">Sort: <button type="button" data-sort="failures">failures first'
        '</button><button type="button" data-sort="score">by score</button>'
        '<button type="button" data-sort="name">by name</button>'
        '<button type="button" id="hide-pass" aria-pressed="false">hide passed</button></div>'
        "</header>"
    )


def _data_attrs(entry: Entry) -> str:
    score = -1.0 if entry.score is None else entry.score
    return (f'data-rank="{entry.rank}" data-score="{score:.9f}" data-order="{entry.order}" '
            f'data-name="{_attr(entry.name)}" data-kind="{entry.kind}"')


def _status_class(entry: Entry) -> str:
    if entry.label == "accepted":
        return "st-accepted"
    return "st-size" if entry.label == "size changed" else f"st-{entry.kind}"


def _fmt(value: float | None, metric: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:g}" if metric == "changed_pixels" else f"{value:.6f}"


def _limit(check: dict[str, Any]) -> str:
    return f"{'>=' if check['kind'] == 'min' else '<='} {check['limit']:g}"


def _table(entries: list[Entry], metrics: list[str]) -> str:
    rows = []
    for entry in entries:
        by_metric = {c["metric"]: c for c in entry.checks}
        cells = []
        for metric in metrics:
            check = by_metric.get(metric)
            if check is None:
                cells.append("<td></td>")
                continue
            cls = "num" + ("" if check["passed"] else " bad")
            cells.append(f'<td class="{cls}">{_fmt(check["value"], check["metric"])} ({html.escape(_limit(check))})'
                         "</td>")
        rows.append(
            f'<tr class="k-{entry.kind}" {_data_attrs(entry)}>'
            f'<td class="st {_status_class(entry)}">{entry.label}</td>'
            f'<td class="name"><a href="#img-{entry.order}">{_text(entry.name)}</a></td>'
            f'<td class="num">{_fmt(entry.score)}</td>' + "".join(cells) + "</tr>")
    head = "".join(f"<th>{html.escape(LABELS.get(m, m))} (limit)</th>" for m in metrics)
    return (
        f'<details class="results"{" open" if len(entries) <= 30 else ""}>'
        f"<summary>All {len(entries)} images in a table</summary>"
        '<table id="results"><thead><tr><th class="sortable" data-sort="failures">result</th>'
        '<th class="sortable" data-sort="name">image</th>'
        f'<th class="sortable" data-sort="score">score</th>{head}</tr></thead>'
        f'<tbody id="results-body">{"".join(rows)}</tbody></table></details>'
    )


def _region_divs(boxes: list[Box], width: int, height: int) -> str:
    # Percentages of the image, so a box follows the picture at any displayed size.
    return "".join(
        f'<div class="region" data-box="{x},{y},{w},{h}" style="left:{100 * x / width:.4f}%;'
        f"top:{100 * y / height:.4f}%;width:{100 * w / width:.4f}%;"
        f'height:{100 * h / height:.4f}%"></div>' for x, y, w, h in boxes)


def _loading(entry: Entry) -> str:
    return "eager" if entry.order < EAGER_CARDS else "lazy"


def _figure(role: str, caption: str, picture: Picture, entry: Entry, boxes: list[Box]) -> str:
    size = f"{picture.width}x{picture.height}"
    alt = _attr(f"{caption}: {visible(entry.name)}")
    return (
        f'<figure class="fig-{role}"><div class="frame" style="--w:{picture.width}px">'
        f'<a href="{picture.url}" target="_blank" rel="noopener" title="open full size ({size})">'
        f'<img class="full" data-role="{role}" src="{picture.url}" width="{picture.width}" '
        f'height="{picture.height}" alt="{alt}" loading="{_loading(entry)}" decoding="async"></a>'
        f"{_region_divs(boxes, picture.width, picture.height)}</div>"
        f'<figcaption>{caption} &middot; {size} &middot; <a href="{picture.url}" target="_blank" '
        f'rel="noopener">full size</a></figcaption></figure>'
    )


def _compare(base: Picture, cand: Picture, boxes: list[Box], loading: str) -> str:
    return (
        f'<div class="compare" style="--w:{base.width}px">'
        f'<div class="stage" style="--w:{base.width}px" title="flip: click to switch">'
        f'<img class="under" data-role="baseline" src="{base.url}" width="{base.width}" '
        f'height="{base.height}" alt="baseline" loading="{loading}">'
        f'<img class="over" data-role="candidate" src="{cand.url}" width="{cand.width}" '
        f'height="{cand.height}" alt="candidate" loading="{loading}" style="clip-path:inset(0 0 0 50%)">'
        f'<div class="split" style="left:50%"></div>'
        f"{_region_divs(boxes, base.width, base.height)}</div>"
        '<div class="slide-only"><input type="range" min="0" max="100" value="50" step="0.5" '
        'aria-label="slider: baseline on the left, candidate on the right">'
        '<div class="note">left of the line: baseline &middot; right: candidate</div></div>'
        '<div class="flip-only toolbar"><button type="button" class="flip">flip</button>'
        '<label><input type="checkbox" class="blink"> blink</label>'
        ' showing: <span class="which">candidate</span></div>'
        "</div>"
    )


def _pictures(entry: Entry) -> str:
    images = entry.images
    comparable = (images.baseline is not None and images.candidate is not None
                  and images.size_change is None)
    boxes = images.boxes if comparable else []
    figures = []
    for role, caption in (("baseline", "baseline"), ("candidate", "candidate"),
                          ("diff", "difference"), ("heatmap", "SSIM heatmap")):
        picture = getattr(images, role)
        if picture is not None:
            figures.append(_figure(role, caption, picture, entry, boxes))
    if not figures:
        return '<p class="note">no picture: the file could not be decoded</p>'
    buttons = ""
    if comparable:
        buttons = "".join(
            f'<button type="button" data-view-button="{view}" aria-pressed="{str(view == "sbs").lower()}">'
            f"{text}</button>" for view, text in (("sbs", "side by side"), ("slider", "slider"),
                                                  ("flip", "flip")))
    toolbar = (f'<div class="toolbar">{buttons}<button type="button" class="zoom" '
               'aria-pressed="false" title="show the pictures at their natural size">100 %</button></div>')
    compare = ""
    if comparable and images.baseline is not None and images.candidate is not None:
        compare = _compare(images.baseline, images.candidate, boxes, _loading(entry))
    return f'{toolbar}<div class="views"><div class="grid">{"".join(figures)}</div>{compare}</div>'


def _checks_table(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return ""
    rows = []
    for check in checks:
        margin = "" if check["margin"] is None else f"{check['margin']:+.6f}"
        region = check.get("region")
        where = f"x={region['x']} y={region['y']} {region['width']}x{region['height']}" if region else ""
        rows.append(
            f'<tr{"" if check["passed"] else " class=bad"}>'
            f"<td>{html.escape(LABELS.get(check['metric'], str(check['metric'])))}</td>"
            f'<td class="num">{_fmt(check["value"], check["metric"])}</td><td>{html.escape(_limit(check))}</td>'
            f'<td class="num">{margin}</td><td>{"pass" if check["passed"] else "FAIL"}</td>'
            f"<td>{html.escape(where)}</td></tr>")
    return ('<table class="checks"><thead><tr><th>metric</th><th>value</th><th>limit</th>'
            "<th>margin</th><th></th><th>worst window</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _paths(entry: Entry) -> str:
    parts = [f"{role} <code>{_text(path)}</code>"
             for role, path in (("baseline", entry.baseline), ("candidate", entry.candidate))
             if path is not None]
    return f'<p class="paths">{" &middot; ".join(parts)}</p>'


def _card(entry: Entry) -> str:
    head = (f'<article class="card k-{entry.kind}" id="img-{entry.order}" {_data_attrs(entry)}'
            f'{" data-view=sbs" if entry.kind != "pass" else ""}>'
            f'<h3><span class="st {_status_class(entry)}">{entry.label}</span> '
            f'<span class="name">{_text(entry.name)}</span></h3>')
    if entry.kind == "pass":
        thumb = entry.images.thumb
        picture = "" if thumb is None else (
            f'<img class="thumb" src="{thumb.url}" width="{thumb.width}" height="{thumb.height}" '
            f'alt="{_attr("candidate: " + visible(entry.name))}" loading="lazy" decoding="async">')
        line = " &middot; ".join(
            f"{html.escape(LABELS.get(c['metric'], str(c['metric'])))} {_fmt(c['value'], c['metric'])}"
            for c in entry.checks)
        return f'{head}{picture}<p class="note">{line}</p></article>'
    why = f'<p class="why{" bad" if entry.rank <= 2 else ""}">{_text(entry.why)}</p>' if entry.why else ""
    return f"{head}{why}{_paths(entry)}{_pictures(entry)}{_checks_table(entry.checks)}</article>"


def _metrics(report: CheckReport) -> list[str]:
    order = ["changed_pixels", *METRICS, "local_ssim"]
    seen = {c["metric"] for item in report.items for c in item.checks}
    return [m for m in order if m in seen] + sorted(seen - set(order))


def review_page_html(report: CheckReport, images: dict[str, CardImages],
                     settings: RunSettings) -> str:
    """The page's HTML. ``images`` maps image names to their pictures (`ReviewAssets`)."""
    entries = page_entries(report, images)
    ok = report.summary()["exit_code"] == 0
    policy = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
              f"script-src {script_hash(JS)}; base-uri 'none'; form-action 'none'")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        f"<title>ssim-l1 check: {'passed' if ok else 'FAILED'}</title>",
        f"<style>{CSS}</style></head><body>",
        _header(report, settings, entries),
        "<main>",
        _table(entries, _metrics(report)),
        '<h2>Images</h2><div id="cards">',
        *(_card(entry) for entry in entries),
        "</div></main>",
        f"<script>{JS}</script></body></html>\n",
    ])


def write_review_page(assets: ReviewAssets, report: CheckReport, images: dict[str, CardImages],
                      settings: RunSettings, jobs: int = 4) -> None:
    """Write the page ``assets.page`` (and the pictures of missing and new images) beside the
    pictures the run wrote through ``assets``; then remove pictures an earlier run left there."""
    try:
        every = {**images, **assets.for_unpaired(report, jobs)}
        text = review_page_html(report, every, settings)
        write_bytes(assets.page, text.encode("utf-8"))
    except BaseException:
        assets.discard()
        raise
    assets.prune()


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, outermost first."""
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate == candidate.parent:
            break
        missing.append(candidate)
    return missing[::-1]
