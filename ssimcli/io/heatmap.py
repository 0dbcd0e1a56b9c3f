"""Heatmap images of per-pixel maps: a perceptually uniform colour map on a fixed scale, with a
labelled colour bar, so that two heatmaps of the same metric can be compared by eye.

Speed matters here: ``--maps`` on a 4K pair writes four 3926x2198 RGB heatmaps, and encoding
them once cost more than scoring the pair. So the picture is built straight into PNG
scanlines (one filter byte, then RGB), never as a PIL image that is copied, pasted and copied
back:

* the channel mean, the quantisation to 256 levels and the colours (a 256-entry table) run
  in blocks of rows that stay in cache;
* only the text (title, tick labels) is drawn by PIL, on two small greyscale images;
* the scanlines use PNG filter 0 (none) and are compressed by libdeflate at level 1
  (imagecodecs). On these pictures that is both the fastest and the smallest choice measured:
  the colour-mapped noise of a map defeats the prediction filters (libpng's adaptive filters
  at level 1: 0.35 s and 11.6 MB for one 4K SSIM heatmap; filter none + libdeflate 1:
  0.15 s and 7.6 MB; zlib level 1: 0.5 s and 9.0 MB).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# Fixed, documented scales (README, "Heatmaps"): values outside are clamped to the ends.
SCALES: dict[str, tuple[float, float]] = {
    "ssim": (0.0, 1.0),
    "cs": (0.0, 1.0),
    "l1": (0.0, 0.2),
    "ssim_l1": (0.0, 1.0),
}
TITLES = {"ssim": "SSIM", "cs": "CS", "l1": "Gaussian L1", "ssim_l1": "SSIM-L1 mix"}
COLORMAP = "viridis"

# Rows per block when quantising: 32 rows of a 4K map (0.5 MB of float32) stay in L2.
_BLOCK_ROWS = 32
_TITLE_BAND = 28  # rows above the picture, for the title
_BAR_WIDTH = 18
_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Compressed data per IDAT chunk; any size up to 2**31 - 1 is valid PNG.
_IDAT_BYTES = 1 << 24
# Heatmap rows are deflated when a sample of every 16th row deflates to at most half its size.
_SAMPLE_EVERY = 16
_WORTH_DEFLATING = 0.5


# cmap's viridis as _lut computes it (tests/test_maps.py checks that they agree): importing
# cmap costs ~40 ms of a 4K ``--maps`` run, for a table of 768 bytes.
_VIRIDIS = bytes.fromhex(
    "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
    "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
    "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
    "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
    "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
    "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
    "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
    "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
    "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
    "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
    "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
    "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
    "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
    "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
    "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
    "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725"
)


@lru_cache(maxsize=4)
def _lut(name: str = COLORMAP) -> np.ndarray:
    """The 256 x 3 uint8 colour table of a colour map."""
    if name == "viridis":
        return np.frombuffer(_VIRIDIS, dtype=np.uint8).reshape(256, 3)
    return _lut_from_cmap(name)


def _lut_from_cmap(name: str) -> np.ndarray:
    from cmap import Colormap

    rgba = np.asarray(Colormap(name).lut(256))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def colourise(values: np.ndarray, low: float, high: float, colormap: str = COLORMAP) -> np.ndarray:
    """``(H, W)`` floats -> ``(H, W, 3)`` uint8 through a 256-entry colour map on [low, high]."""
    values = np.asarray(values)
    out = np.empty((*values.shape[:2], 3), dtype=np.uint8)
    _paint(out.reshape(out.shape[0], -1), values, low, high, _lut(colormap))
    return out


def quantise(values: np.ndarray, low: float, high: float,
             out: np.ndarray | None = None) -> np.ndarray:
    """The colour-map index of each pixel: ``(H, W)`` uint8 from ``(H, W)`` or ``(H, W, C)``.

    ``floor(clip((mean - low) * 255 / (high - low), 0, 255))``, NaN taking the low end. The
    mean over channels is NumPy's (channels added in order, then divided by C, in the map's
    precision). Runs by blocks of rows that stay in cache.
    """
    height = values.shape[0]
    out = np.empty(values.shape[:2], dtype=np.uint8) if out is None else out
    native = _native_quantise()
    if (native is not None and values.dtype == np.float32 and values.flags.c_contiguous
            and out.flags.c_contiguous):
        # One pass instead of ~8 NumPy ones, the same float32 operations in the same order.
        channels = values.shape[2] if values.ndim == 3 else 1
        native(values, height * values.shape[1], channels, low, high, out)
        return out
    dtype = np.float64 if values.dtype == np.float64 else np.float32
    work = np.empty((min(_BLOCK_ROWS, height), values.shape[1]), dtype=dtype)
    for top in range(0, height, _BLOCK_ROWS):
        block = values[top:top + _BLOCK_ROWS]
        _quantise(block, low, high, work[: block.shape[0]], out[top:top + block.shape[0]])
    return out


def _native_quantise() -> Any:
    from ssimcli.metrics.native import kernel

    module = kernel()
    return None if module is None else module.quantise


def _paint(target: np.ndarray, values: np.ndarray, low: float, high: float,
           lut: np.ndarray) -> None:
    """Colour ``values`` (`quantise`'s input) into ``target``, ``(H, 3 W)`` uint8 whose rows
    are contiguous RGB, quantising and colouring block by block while the block is in cache."""
    height = values.shape[0]
    dtype = np.float64 if values.dtype == np.float64 else np.float32
    work = np.empty((min(_BLOCK_ROWS, height), values.shape[1]), dtype=dtype)
    index = np.empty(work.shape, dtype=np.uint8)
    for top in range(0, height, _BLOCK_ROWS):
        block = values[top:top + _BLOCK_ROWS]
        rows = block.shape[0]
        _quantise(block, low, high, work[:rows], index[:rows])
        _colour(target[top:top + rows], index[:rows], lut)


def _quantise(block: np.ndarray, low: float, high: float, acc: np.ndarray,
              index: np.ndarray) -> None:
    if block.ndim == 3 and block.shape[2] == 1:
        block = block[..., 0]
    if block.ndim == 3:
        np.add(block[..., 0], block[..., 1], out=acc)
        for channel in range(2, block.shape[2]):
            np.add(acc, block[..., channel], out=acc)
        np.divide(acc, block.shape[2], out=acc)
        np.subtract(acc, low, out=acc)
    else:
        np.subtract(block, low, out=acc)
    np.multiply(acc, 255.0 / (high - low), out=acc)
    np.fmax(acc, 0, out=acc)  # fmax: NaN -> 0
    np.minimum(acc, 255, out=acc)
    index[...] = acc  # truncation: the floor of non-negatives


def _colour(target: np.ndarray, index: np.ndarray, lut: np.ndarray) -> None:
    """``target`` (``(H, 3 W)``) = ``lut[index]``. The colours are gathered as 3-byte items:
    several times faster than one byte plane at a time into interleaved RGB."""
    colours = np.ascontiguousarray(lut, dtype=np.uint8).view("V3").reshape(-1)
    np.take(colours, index, out=target.view("V3"), mode="clip")


@dataclass(frozen=True)
class _Layout:
    """Where everything goes on the heatmap's canvas."""

    height: int
    width: int
    low: float
    high: float
    title: str
    font: Any
    labels: tuple[str, ...]
    bar_height: int
    label_width: int

    @property
    def bar_x(self) -> int:
        return self.width + 12

    @property
    def canvas_width(self) -> int:
        return self.width + 12 + _BAR_WIDTH + 6 + self.label_width

    @property
    def canvas_height(self) -> int:
        return self.bar_height + _TITLE_BAND + 10


def _layout(height: int, width: int, name: str, low: float, high: float) -> _Layout:
    from PIL import ImageFont

    bar_height = max(height, 120)
    font = ImageFont.load_default(size=max(10, min(bar_height // 12, 18)))
    labels = tuple(f"{low + f * (high - low):g}" for f in _FRACTIONS)
    label_width = int(max(font.getlength(label) for label in labels)) + 16
    title = f"{TITLES.get(name, name)}  (colour scale {low:g} to {high:g})"
    return _Layout(height, width, low, high, title, font, labels, bar_height, label_width)


def scale_of(map_: np.ndarray, name: str) -> tuple[float, float]:
    """The colour scale of a map: fixed for the known maps (`SCALES`), else its range."""
    if name in SCALES:
        return SCALES[name]
    values = map_.mean(axis=2) if map_.ndim == 3 else map_
    return float(values.min()), float(values.max()) or 1.0


@dataclass(frozen=True)
class _Palette:
    """The heatmaps' PNG palette: the colour table, with two of its repeated entries taken
    for the white margins and the black ink (their levels use the identical entry before)."""

    colours: np.ndarray  # (256, 3) uint8
    remap: np.ndarray  # (256,) uint8: colour-table level -> palette index
    white: int
    black: int


@lru_cache(maxsize=1)
def _palette() -> _Palette:
    lut = _lut(COLORMAP)
    repeated = [level for level in range(1, 256) if (lut[level] == lut[level - 1]).all()]
    if len(repeated) < 2:  # pragma: no cover - viridis repeats two entries (a test checks)
        raise RuntimeError(f"colour map {COLORMAP} has no two repeated entries for a palette")
    white, black = repeated[:2]
    remap = np.arange(256, dtype=np.uint8)
    remap[[white, black]] = [white - 1, black - 1]  # the very same colours
    colours = lut.copy()
    colours[white], colours[black] = 255, 0
    return _Palette(colours, remap, white, black)


def heatmap_rows(map_: np.ndarray, name: str, *,
                 scale: tuple[float, float] | None = None) -> np.ndarray:
    """The heatmap as PNG scanlines of palette indices: ``(H', 1 + W')`` uint8, each row a 0
    (filter "none") followed by its pixels. `render_heatmap` is the same picture in RGB."""
    low, high = scale or scale_of(map_, name)
    return heatmap_rows_of_index(quantise(map_, low, high), name, (low, high))


def heatmap_rows_of_index(index: np.ndarray, name: str, scale: tuple[float, float]
                          ) -> np.ndarray:
    """`heatmap_rows` of a map already quantised on ``scale`` (`quantise`)."""
    rows, layout = _canvas(index.shape[0], index.shape[1], name, *scale, body=False)
    remap = _palette().remap
    native = _native_colour()
    if native is not None and index.flags.c_contiguous:
        native(index, index.shape[0], index.shape[1], remap, rows,
               1 + _TITLE_BAND * rows.shape[1], rows.shape[1], 1)
    else:
        np.take(remap, index, out=_body(rows, layout))
    return rows


def _native_colour() -> Any:
    from ssimcli.metrics.native import kernel

    module = kernel()
    return None if module is None else module.colour_rows


def _canvas(height: int, width: int, name: str, low: float, high: float, *, body: bool = True
            ) -> tuple[np.ndarray, _Layout]:
    """White scanlines (palette indices) with the colour bar, its ticks, labels and the
    title; no picture yet.

    ``body=False``: the picture's own pixels are left unset (the caller paints every one of
    them), which spares writing the largest part of the canvas twice.
    """
    layout = _layout(height, width, name, low, high)
    white = _palette().white
    shape = (layout.canvas_height, 1 + layout.canvas_width)
    if body:
        rows = np.full(shape, white, dtype=np.uint8)
    else:
        rows = np.empty(shape, dtype=np.uint8)
        rows[:_TITLE_BAND] = white
        rows[_TITLE_BAND:_TITLE_BAND + height, 1 + width:] = white
        rows[_TITLE_BAND + height:] = white
    rows[:, 0] = 0
    _paint_bar(rows, layout)
    _draw_text(rows[:, 1:], layout)
    return rows, layout


def _body(rows: np.ndarray, layout: _Layout) -> np.ndarray:
    """Where the picture goes: ``(H, W)`` of ``rows``."""
    return rows[_TITLE_BAND:_TITLE_BAND + layout.height, 1:1 + layout.width]


def render_heatmap(
    map_: np.ndarray, name: str, *, scale: tuple[float, float] | None = None
) -> np.ndarray:
    """An RGB picture of a map (mean over channels) with a colour bar and labelled ticks: the
    heatmap PNG's pixels."""
    rows = heatmap_rows(map_, name, scale=scale)
    return np.take(_palette().colours, rows[:, 1:], axis=0)


def _paint_bar(rows: np.ndarray, layout: _Layout) -> None:
    gradient = np.linspace(layout.high, layout.low, layout.bar_height - 2)[:, None]
    top, left = _TITLE_BAND + 1, 1 + layout.bar_x
    levels = quantise(np.repeat(gradient, _BAR_WIDTH, axis=1), layout.low, layout.high)
    rows[top:top + gradient.shape[0], left:left + _BAR_WIDTH] = _palette().remap[levels]


def _draw_text(canvas: np.ndarray, layout: _Layout) -> None:
    """The title, the bar's outline, its ticks and labels: black on the white margins.

    Drawn by PIL on two small greyscale images (the title band left of the bar, and the whole
    height right of the picture) rather than on a full-size copy of the canvas, without
    anti-aliasing (the palette has one ink colour); the ink is then laid on the canvas (no ink
    falls on the picture or inside the bar).
    """
    from PIL import Image, ImageDraw

    split = layout.bar_x - 1
    left = Image.new("L", (split, _TITLE_BAND), 255)
    title = ImageDraw.Draw(left)
    title.fontmode = "1"
    _draw_title(title, layout, 0)
    right = Image.new("L", (layout.canvas_width - split, layout.canvas_height), 255)
    draw = ImageDraw.Draw(right)
    draw.fontmode = "1"
    bar_x, bottom = layout.bar_x - split, _TITLE_BAND + layout.bar_height - 1
    draw.rectangle([bar_x - 1, _TITLE_BAND, bar_x + _BAR_WIDTH, bottom], outline=0)
    for fraction, label in zip(_FRACTIONS, layout.labels, strict=True):
        y = _TITLE_BAND + round((1 - fraction) * (layout.bar_height - 1))
        draw.line([bar_x + _BAR_WIDTH, y, bar_x + _BAR_WIDTH + 4, y], fill=0)
        draw.text((bar_x + _BAR_WIDTH + 7, y), label, fill=0, font=layout.font, anchor="lm")
    _draw_title(draw, layout, -split)
    black = _palette().black
    for ink, region in ((left, canvas[:_TITLE_BAND, :split]), (right, canvas[:, split:])):
        region[np.asarray(ink) < 128] = black


def _draw_title(draw: Any, layout: _Layout, x_offset: int) -> None:
    draw.text((2 + x_offset, 14), layout.title, fill=0, font=layout.font, anchor="lm")


# --- PNG -------------------------------------------------------------------------------------

def heatmap_png(map_: np.ndarray, name: str, *,
                scale: tuple[float, float] | None = None) -> list[Any]:
    """The PNG file of `render_heatmap` as a list of buffers, to be written in order."""
    return png_from_rows(heatmap_rows(map_, name, scale=scale))


def png_from_rows(rows: np.ndarray) -> list[Any]:
    """An 8-bit palette PNG of filtered scanlines ``(height, 1 + width)``, as buffers."""
    height, width = rows.shape[0], rows.shape[1] - 1
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    data = memoryview(_zlib_stream(rows))
    parts: list[Any] = [_PNG_SIGNATURE, *_chunk(b"IHDR", header),
                        *_chunk(b"PLTE", _palette().colours.tobytes())]
    for start in range(0, max(len(data), 1), _IDAT_BYTES):
        parts.extend(_chunk(b"IDAT", data[start:start + _IDAT_BYTES]))
    parts.extend(_chunk(b"IEND", b""))
    return parts


def _chunk(kind: bytes, payload: Any) -> list[Any]:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return [struct.pack(">I", len(payload)) + kind, payload, struct.pack(">I", crc)]


def _zlib_stream(rows: np.ndarray) -> bytes:
    """A zlib stream of ``rows``: deflated at libdeflate's fastest level when a sample of the
    rows shrinks to at most `_WORTH_DEFLATING` of its size, else stored (level 0).

    A smooth map's heatmap deflates fast and small; a noisy one's (colour-mapped noise) both
    slowly and little: on a 4K photo pair's SSIM heatmap, 65 ms for 37% less, against 2 ms.
    """
    try:
        import imagecodecs

        if imagecodecs.DEFLATE.available:
            sample = np.ascontiguousarray(rows[::_SAMPLE_EVERY])
            small = len(imagecodecs.deflate_encode(sample, level=1))  # type: ignore[arg-type]
            level = 1 if small <= _WORTH_DEFLATING * sample.nbytes else 0
            # Any C-contiguous buffer works; the stubs list only bytes types.
            return bytes(imagecodecs.deflate_encode(rows, level=level))  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - imagecodecs is a dependency
        pass
    return zlib.compress(rows.tobytes(), 1)  # pragma: no cover
