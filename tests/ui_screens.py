"""Real 1280x720 application screenshots, rendered with Pillow, for the verdict tests.

A toolbar with 16 px icons and labelled buttons, a sidebar of 13 px text, cards with 1 px
borders, 12-16 px text and a smooth dithered gradient, drawn with a real TrueType font (DejaVu
Sans, shipped in ``tests/data/fonts`` with its licence). Each case of issue 11 is a baseline
and a candidate that differ the way a real UI change (or a harmless re-encoding) does.

Used by ``tests/test_verdict_defaults.py`` and by ``benchmarks/verdict_cases.py``, which prints
the table in the README ("Use in CI").
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path(__file__).resolve().parent / "data" / "fonts" / "DejaVuSans.ttf"
WIDTH, HEIGHT = 1280, 720
BORDER = (218, 220, 224)  # a typical light 1 px border (#dadce0)
GRADIENT_BOX = (760, 430, 1240, 680)  # x0, y0, x1, y1 of the smooth gradient panel


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


@dataclass
class Screen:
    """What differs between the variants of the screenshot: every field is one UI element."""

    extra_line: bool = False
    save_label: str = "Save"
    save_dx: int = 0
    icon_3: str = "star"
    badge: bool = False
    sidebar_border: bool = True
    swatch: tuple[int, int, int] = (66, 133, 244)
    dither: str = "ordered"


def _icon(draw: ImageDraw.ImageDraw, kind: str, x: int, y: int) -> None:
    """A 16x16 toolbar icon."""
    if kind == "folder":
        draw.rectangle((x, y + 4, x + 15, y + 15), fill=(240, 180, 40), outline=(190, 130, 20))
        draw.rectangle((x, y + 2, x + 6, y + 5), fill=(240, 180, 40))
    elif kind == "disk":
        draw.rectangle((x, y, x + 15, y + 15), fill=(60, 90, 160))
        draw.rectangle((x + 3, y, x + 12, y + 5), fill=(230, 230, 230))
    elif kind == "star":
        points = []
        for i in range(10):
            radius = 8 if i % 2 == 0 else 3.4
            angle = np.pi / 2 + i * np.pi / 5
            points.append((x + 7.5 + radius * np.cos(angle), y + 8 - radius * np.sin(angle)))
        draw.polygon(points, fill=(250, 190, 30), outline=(200, 140, 0))
    elif kind == "gear":
        draw.ellipse((x, y, x + 15, y + 15), fill=(110, 110, 120))
        draw.ellipse((x + 5, y + 5, x + 10, y + 10), fill=(245, 245, 245))
    elif kind == "trash":
        draw.rectangle((x + 3, y + 4, x + 12, y + 15), fill=(200, 60, 50))
        draw.rectangle((x + 1, y + 1, x + 14, y + 3), fill=(160, 40, 30))


def _dithered_gradient(kind: str) -> np.ndarray:
    """The same smooth two-colour gradient quantised to 8 bits by ordered or random dither."""
    x0, y0, x1, y1 = GRADIENT_BOX
    h, w = y1 - y0, x1 - x0
    t = np.linspace(0.0, 1.0, w)[None, :, None] * np.ones((h, 1, 1))
    start, end = np.array([52.3, 101.7, 180.2]), np.array([140.6, 60.1, 160.9])
    exact = start + (end - start) * (0.7 * t + 0.3 * np.linspace(0, 1, h)[:, None, None])
    if kind == "ordered":
        bayer = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16.0
        offset = np.tile(bayer, (h // 4 + 1, w // 4 + 1))[:h, :w, None]
    else:
        offset = np.random.default_rng(7).random((h, w, 3))
    return np.floor(exact + offset).clip(0, 255).astype(np.uint8)


def render(screen: Screen) -> np.ndarray:
    """The screenshot as ``(720, 1280, 3)`` uint8."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    # toolbar: a vertical gradient with a 1 px line under it
    for row in range(48):
        level = round(246 - 14 * row / 47)
        draw.line((0, row, WIDTH, row), fill=(level, level, level + 2))
    draw.line((0, 48, WIDTH, 48), fill=(200, 200, 204))
    for index, kind in enumerate(("folder", "disk", screen.icon_3, "gear", "trash")):
        _icon(draw, kind, 14 + index * 28, 16)
    if screen.badge:  # a 12 px notification badge on the gear icon
        draw.ellipse((14 + 3 * 28 + 9, 10, 14 + 3 * 28 + 21, 22), fill=(220, 30, 40))
        draw.text((14 + 3 * 28 + 12, 10), "3", font=font(10), fill=(255, 255, 255))
    label_font = font(13)
    for index, label in enumerate(("Open", screen.save_label, "Export", "Share")):
        x = 180 + index * 84 + (screen.save_dx if index == 1 else 0)
        draw.rounded_rectangle((x, 11, x + 74, 37), radius=5, fill=(255, 255, 255), outline=(170, 172, 178))
        draw.text((x + 37, 24), label, font=label_font, fill=(32, 33, 36), anchor="mm")
    draw.text((1100, 16), "user@example.org", font=font(12), fill=(95, 99, 104))
    # sidebar with a 1 px border on its right
    draw.rectangle((0, 49, 219, HEIGHT), fill=(248, 249, 250))
    if screen.sidebar_border:
        draw.line((220, 49, 220, HEIGHT), fill=BORDER)
    for index, item in enumerate(("Inbox", "Starred", "Snoozed", "Sent", "Drafts", "Spam",
                                  "Trash", "Categories", "Updates", "Forums")):
        draw.text((24, 70 + index * 28), item, font=font(13), fill=(60, 64, 67))
    # content: a title, paragraphs of 12-14 px text, a card with a colour swatch
    draw.text((250, 66), "Quarterly report", font=font(16), fill=(32, 33, 36))
    lines = ["Revenue grew in every region except the north-east, where two stores closed.",
             "Costs fell by four percent after the warehouse moved closer to the port.",
             "The new checkout flow lowered abandoned carts from 31% to 24% in six weeks."]
    if screen.extra_line:
        lines.insert(2, "Customer support answered 92% of tickets within one working day.")
    for index, line in enumerate(lines):
        draw.text((250, 100 + index * 22), line, font=font(14), fill=(60, 64, 67))
    draw.rectangle((250, 200, 700, 400), fill=(255, 255, 255), outline=BORDER)
    draw.text((266, 214), "Sales by month", font=font(13), fill=(32, 33, 36))
    for index in range(8):
        top = 380 - 18 * ((index * 5) % 9) - 30
        draw.rectangle((280 + index * 48, top, 310 + index * 48, 380), fill=(138, 180, 248))
    draw.rectangle((760, 200, 800, 240), fill=screen.swatch)
    draw.text((812, 212), "Primary colour", font=font(12), fill=(95, 99, 104))
    for index in range(6):
        draw.text((760, 260 + index * 20), f"Row {index + 1}: value {index * 37 % 101}",
                  font=font(12), fill=(95, 99, 104))
    pixels = np.asarray(image).copy()
    x0, y0, x1, y1 = GRADIENT_BOX
    pixels[y0:y1, x0:x1] = _dithered_gradient(screen.dither)
    return pixels


# --------------------------------------------------------------------------- encodings


def png_bytes(pixels: np.ndarray, *, level: int = 6, mode: str | None = None) -> bytes:
    """PNG through Pillow; ``mode``: None (as given), "RGBA" (opaque alpha), "P" (palette)."""
    image = Image.fromarray(pixels)
    if mode == "RGBA":
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def png16_bytes(pixels: np.ndarray) -> bytes:
    """The same picture as a 16-bit RGB PNG (each 8-bit value v stored as v * 257)."""
    import imagecodecs

    return imagecodecs.png_encode(pixels.astype(np.uint16) * 257)


def in_256_colours(pixels: np.ndarray) -> np.ndarray:
    """The screenshot reduced to at most 256 colours (so a palette PNG can hold it exactly)."""
    image = Image.fromarray(pixels).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                             dither=Image.Dither.NONE)
    return np.asarray(image.convert("RGB"))


def noisy(pixels: np.ndarray, amount: int = 2, seed: int = 3) -> np.ndarray:
    """Every sample moved by exactly +-``amount`` grey levels (random sign; reflected at 0/255)."""
    rng = np.random.default_rng(seed)
    sign = rng.choice(np.array([-1, 1]), size=pixels.shape)
    moved = pixels.astype(np.int16) + amount * sign
    moved = np.where((moved < 0) | (moved > 255), pixels.astype(np.int16) - amount * sign, moved)
    return moved.astype(np.uint8)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One baseline/candidate pair: ``expect`` is "fail" or "pass" with default settings."""

    name: str
    expect: str
    what: str
    make: Callable[[], tuple[bytes, bytes]]


def _pair(candidate: Screen) -> tuple[bytes, bytes]:
    return png_bytes(render(Screen())), png_bytes(render(candidate))


def _reencoded(encode: Callable[[np.ndarray], bytes],
               prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[bytes, bytes]:
    pixels = render(Screen())
    if prepare is not None:
        pixels = prepare(pixels)
    return png_bytes(pixels), encode(pixels)


CASES: tuple[Case, ...] = (
    Case("new_text_line", "fail", "a new line of 14 px text",
         lambda: _pair(Screen(extra_line=True))),
    Case("button_moved_relabelled", "fail", "button moved 3 px, label Save -> Saved",
         lambda: _pair(Screen(save_label="Saved", save_dx=3))),
    Case("icon_swapped", "fail", "a 16 px toolbar icon swapped (star -> gear)",
         lambda: _pair(Screen(icon_3="gear"))),
    Case("badge_added", "fail", "a 12 px red badge added",
         lambda: _pair(Screen(badge=True))),
    Case("border_removed", "fail", "a 1 px #dadce0 border line removed",
         lambda: _pair(Screen(sidebar_border=False))),
    Case("area_recoloured", "fail", "a 40x40 swatch recoloured (blue -> green)",
         lambda: _pair(Screen(swatch=(52, 168, 83)))),
    Case("png_level", "pass", "identical pixels, PNG zlib level 1 vs 9",
         lambda: (png_bytes(render(Screen()), level=1), png_bytes(render(Screen()), level=9))),
    Case("rgba_opaque", "pass", "identical pixels, RGB vs opaque RGBA",
         lambda: _reencoded(lambda p: png_bytes(p, mode="RGBA"))),
    Case("png_16bit", "pass", "identical pixels, 8-bit vs 16-bit PNG",
         lambda: _reencoded(png16_bytes)),
    Case("palette", "pass", "identical pixels (256 colours), RGB vs palette PNG",
         lambda: _reencoded(lambda p: png_bytes(p, mode="P"), in_256_colours)),
    Case("noise_2", "pass", "every sample +-2 grey levels",
         lambda: (png_bytes(render(Screen())), png_bytes(noisy(render(Screen()))))),
    Case("dither", "pass", "the gradient dithered randomly instead of ordered",
         lambda: _pair(Screen(dither="random"))),
)


def write_case(case: Case, baseline_dir: Path, candidate_dir: Path, name: str | None = None) -> str:
    """Write the case's two files as ``<name>.png`` in the two folders; returns the file name."""
    baseline, candidate = case.make()
    file_name = f"{name or case.name}.png"
    baseline_dir.mkdir(parents=True, exist_ok=True)
    candidate_dir.mkdir(parents=True, exist_ok=True)
    (baseline_dir / file_name).write_bytes(baseline)
    (candidate_dir / file_name).write_bytes(candidate)
    return file_name
