"""The review page of ``ssim-l1 check --html``, checked as a reviewer meets it: written by the
installed CLI from real image files, opened in a real headless Chromium (Playwright driving
Debian's ``chromium``; those tests skip without it), clicked, measured and screenshotted.

Expected values come from the test's own construction of the images (where the changed block
is, what size each file has) and from the files on disk, never from the page's generator.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import _cli_command

WIDTH, HEIGHT = 320, 200  # small screens keep the correctness tests quick
BLOCK = (150, 90, 40, 30)  # x, y, w, h of the recoloured block in the failing images
BLOCK_RGB = (200, 40, 40)

CHANGED = "changed.png"
SAME = "same.png"
RESIZED = "resized.png"
BROKEN = "broken.png"
MISSING = "gone.png"
NEW = "fresh.png"
# Names are data: each of these breaks a page that pastes names into markup or asset paths.
XSS_IMG = "<img src=x onerror=document.body.setAttribute('data-pwned',1)>.png"
XSS_SCRIPT = "<script>document.body.setAttribute('data-pwned',2)</script>.png"  # has a '/'
QUOTES = "q\"uote's & amp.png"
NEWLINE = "new\nline.png"
ESCAPE = "esc\x1b[31m.png"
NOT_UTF8 = os.fsdecode(b"bad\xff\xfe.png")  # surrogateescape, as os.listdir gives it
HOSTILE_FAILING = (XSS_IMG, XSS_SCRIPT, NOT_UTF8)
HOSTILE_PASSING = (QUOTES, NEWLINE, ESCAPE)
# How each hostile name must read on the page (hidden characters as visible escapes).
SHOWN = {NEWLINE: "new\\x0aline.png", ESCAPE: "esc\\x1b[31m.png", NOT_UTF8: "bad\\xff\\xfe.png"}


def ui_screen(width: int, height: int, seed: int = 0, label: str = "Save") -> np.ndarray:
    """An application screenshot: title bar, sidebar, cards with text and bar charts."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (250, 250, 252))
    draw = ImageDraw.Draw(image)
    scale = width / 1280
    font = ImageFont.load_default(size=max(8, round(14 * scale)))
    bar = round(48 * scale)
    draw.rectangle([0, 0, width, bar], fill=(33, 52, 92))
    draw.text((round(16 * scale), round(12 * scale)), f"Dashboard {seed}", fill=(255, 255, 255),
              font=font)
    side = round(220 * scale)
    draw.rectangle([0, bar, side, height], fill=(236, 238, 242))
    for i in range(10):
        draw.text((round(20 * scale), bar + round((22 + 30 * i) * scale)), f"Menu item {i + 1}",
                  fill=(60, 60, 70), font=font)
    for row in range(3):
        for col in range(3):
            x, y = round((250 + col * 340) * scale), round((80 + row * 200) * scale)
            w, h = round(310 * scale), round(170 * scale)
            draw.rectangle([x, y, x + w, y + h], fill=(255, 255, 255), outline=(210, 212, 218))
            draw.text((x + 4, y + 3), f"Card {row * 3 + col}: {int(rng.integers(100, 999))}",
                      fill=(20, 20, 30), font=font)
            for k, value in enumerate(rng.random(12)):
                left = x + round((20 + 22 * k) * scale)
                draw.rectangle([left, y + h - 4 - round(0.5 * h * value),
                                left + max(1, round(16 * scale)), y + h - 4], fill=(70, 130, 200))
    draw.rectangle([width - round(150 * scale), round(8 * scale), width - round(20 * scale),
                    round(40 * scale)], fill=(60, 160, 90))
    draw.text((width - round(118 * scale), round(14 * scale)), label, fill=(255, 255, 255),
              font=font)
    return np.asarray(image)


def _recoloured(pixels: np.ndarray) -> np.ndarray:
    x, y, w, h = BLOCK
    out = pixels.copy()
    out[y:y + h, x:x + w] = BLOCK_RGB
    return out


def _write(folder: Path, name: str, pixels: np.ndarray) -> None:
    path = os.fsencode(folder) + b"/" + os.fsencode(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(iio.imwrite("<bytes>", pixels, extension=".png"))


@pytest.fixture(scope="module")
def review_tree(tmp_path_factory):
    """One image of every kind, plus hostile names (failing ones get full cards)."""
    root = tmp_path_factory.mktemp("review")
    base, cand = root / "base", root / "cand"
    screen = ui_screen(WIDTH, HEIGHT, seed=1)
    for name in (SAME, *HOSTILE_PASSING):
        _write(base, name, screen)
        _write(cand, name, screen)
    for name in (CHANGED, *HOSTILE_FAILING):
        _write(base, name, screen)
        _write(cand, name, _recoloured(screen))
    _write(base, RESIZED, screen)
    _write(cand, RESIZED, ui_screen(WIDTH, HEIGHT + 20, seed=1))
    _write(base, BROKEN, screen)
    (cand / BROKEN).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _write(base, MISSING, ui_screen(WIDTH, HEIGHT, seed=2))
    _write(cand, NEW, ui_screen(WIDTH, HEIGHT, seed=3))
    return root


def _run_check(root: Path, page: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_cli_command(), "check", "base", "cand", "--min-local-ssim", "0.9",
                           "--html", page, *extra], cwd=root, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def page(review_tree):
    proc = _run_check(review_tree, "out/deep/report.html")
    # 2: the broken candidate could not be compared (it still gets its card).
    assert proc.returncode in (1, 2), proc.stderr
    return review_tree / "out" / "deep" / "report.html"


# --------------------------------------------------------------------------- without a browser


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser


def test_page_markup_is_inert_offline_and_small(page):
    text = page.read_text(encoding="utf-8")
    parsed = _parse(text)
    allowed = {"html", "head", "meta", "title", "style", "body", "header", "main", "h1", "h2",
               "h3", "p", "code", "ul", "li", "dl", "dt", "dd", "div", "span", "button",
               "details", "summary", "table", "thead", "tbody", "tr", "th", "td", "a", "article",
               "figure", "figcaption", "img", "input", "label", "br", "script"}
    assert {tag for tag, _ in parsed.tags} <= allowed  # no tag made from a name
    assert sum(tag == "script" for tag, _ in parsed.tags) == 1
    for tag, attrs in parsed.tags:
        assert not any(key.startswith("on") for key in attrs), (tag, attrs)
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"^([a-z]+:|//)", value) or value.startswith("#"), (tag, value)
    policy = [attrs["content"] for tag, attrs in parsed.tags
              if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in policy[0] and "unsafe-inline" not in \
        policy[0].split("script-src")[1].split(";")[0]
    body = "".join(parsed.text)
    for name in (XSS_IMG, XSS_SCRIPT, QUOTES, CHANGED, SAME, RESIZED, BROKEN, MISSING, NEW):
        assert name in body  # shown as text, exactly
    for shown in SHOWN.values():
        assert shown in body
    assert "\x1b" not in text and "\ufffd" not in text  # never raw, never a replacement char
    # Pictures are files beside the page, named by hash: no name reaches the file system.
    folder = page.with_name("report_files")
    files = sorted(os.listdir(folder))
    assert files and all(re.fullmatch(r"[0-9a-f]{16}-[a-z]+\.(png|jpg)", f) for f in files)
    sources = {attrs["src"] for tag, attrs in parsed.tags if tag == "img"}
    assert sources == {f"report_files/{f}" for f in files}  # every file used, none missing


def test_rerun_replaces_pictures_and_keeps_other_files(review_tree, tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(review_tree / "base", root / "base")
    shutil.copytree(review_tree / "cand", root / "cand")
    folder = root / "r" / "page_files"
    folder.mkdir(parents=True)
    stale = folder / ("0" * 16 + "-diff.png")
    stale.write_bytes(b"old")
    mine = folder / "notes.txt"
    mine.write_text("kept")
    assert _run_check(root, "r/page.html").returncode in (1, 2)
    assert not stale.exists() and mine.read_text() == "kept"
    mode = (folder.parent / "page.html").stat().st_mode & 0o777
    assert mode & 0o044 == 0o044  # readable by an artefact uploader, not a private temp file


def test_change_boxes_surround_each_cluster_with_a_margin():
    from ssimcli.reports.review_page import BOX_MARGIN, change_boxes

    changed = np.zeros((100, 200), bool)
    changed[10:20, 30:50] = True  # rows 10..19, columns 30..49
    changed[70:72, 150:190] = True
    changed[95:100, 0:3] = True  # touches the left and bottom edges: the box is clipped
    boxes = sorted(change_boxes(changed))
    m = BOX_MARGIN
    assert boxes == sorted([(30 - m, 10 - m, 20 + 2 * m, 10 + 2 * m),
                            (150 - m, 70 - m, 40 + 2 * m, 2 + 2 * m),
                            (0, 95 - m, 3 + m, 5 + m)])
    assert change_boxes(np.zeros((10, 10), bool)) == []


def test_difference_view_marks_changed_pixels_and_fades_the_rest():
    from ssimcli.reports.review_page import CLEAR_INDEX, SLIGHT_INDEX, difference_view

    base = np.full((40, 60, 3), 200, np.uint8)
    cand = base.copy()
    cand[5:10, 5:10] = 0  # clearly changed
    cand[30, 50] = 203  # a 3-level change: shown, not boxed while a clear change exists
    indices, boxes = difference_view(base, cand)
    assert (indices[5:10, 5:10] == CLEAR_INDEX).all() and indices[30, 50] == SLIGHT_INDEX
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert x < 5 and y < 5 and x + w > 10 and y + h > 10
    ignored = np.ones((40, 60))
    ignored[0:20, 0:20] = 0  # the clear change lies in an ignored area: no box there
    assert difference_view(base, cand, ignored)[1] == []


# --------------------------------------------------------------------------- in Chromium


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("no chromium on PATH (CI installs Debian's chromium best-effort)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as driver:
        # Playwright gives every launch a fresh temporary profile (--user-data-dir).
        launched = driver.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser):
    opened = []

    def open_(path: Path, width: int = 1400, height: int = 1000):
        context = browser.new_context(viewport={"width": width, "height": height})
        tab = context.new_page()
        tab.requests = []  # type: ignore[attr-defined]
        tab.on("request", lambda request: tab.requests.append(request.url))
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.errors = errors  # type: ignore[attr-defined]
        tab.goto(path.resolve().as_uri(), wait_until="load")
        opened.append(context)
        return tab

    yield open_
    for context in opened:
        context.close()


def _card(tab, name: str):
    cards = tab.locator("article.card")
    for index in range(cards.count()):
        card = cards.nth(index)
        if card.locator("h3 .name").text_content() == SHOWN.get(name, name):
            return card
    raise AssertionError(f"no card for {name!r}")


def test_every_image_has_a_card_failures_first(page, open_page):
    tab = open_page(page)
    assert tab.errors == []
    assert tab.evaluate("document.body.dataset.ready") == "1"  # the script ran, under the CSP
    assert tab.evaluate("document.body.getAttribute('data-pwned')") is None  # no name did
    kinds = tab.eval_on_selector_all("article.card", "cards => cards.map(c => c.dataset.kind)")
    names = tab.eval_on_selector_all("article.card h3 .name",
                                     "els => els.map(e => e.textContent)")
    expected = {CHANGED: "fail", RESIZED: "fail", BROKEN: "error", MISSING: "missing",
                NEW: "new", SAME: "pass", **{n: "fail" for n in HOSTILE_FAILING},
                **{n: "pass" for n in HOSTILE_PASSING}}
    assert sorted(names) == sorted(SHOWN.get(n, n) for n in expected)
    shown_kind = dict(zip(names, kinds, strict=True))
    for name, kind in expected.items():
        if name == RESIZED and shown_kind[name] == "error":
            continue  # until a size change is a failure, it is an error with both pictures
        assert shown_kind[SHOWN.get(name, name)] == kind, name
    assert _card(tab, RESIZED).locator("h3 .st").text_content() == "size changed"
    order = {"error": 0, "fail": 1, "missing": 2, "new": 3, "pass": 4}
    ranks = [order[k] for k in kinds]
    assert ranks == sorted(ranks)  # failures first (the page's own default order)


def test_failing_image_views_are_full_resolution(page, open_page):
    tab = open_page(page)
    card = _card(tab, CHANGED)
    pictures = card.locator("figure img.full").evaluate_all(
        "imgs => imgs.map(i => [i.dataset.role, i.naturalWidth, i.naturalHeight,"
        " i.parentElement.getAttribute('href')])")
    roles = {role: (w, h, href) for role, w, h, href in pictures}
    assert {"baseline", "candidate", "diff", "heatmap"} <= set(roles)
    for role in ("baseline", "candidate", "diff", "heatmap"):
        width, height, href = roles[role]
        assert (width, height) == (WIDTH, HEIGHT), role
        on_disk = iio.imread(page.parent / href)  # the link opens the full-size file
        assert on_disk.shape[:2] == (HEIGHT, WIDTH), role
    assert (iio.imread(page.parent / roles["candidate"][2])[BLOCK[1] + 5, BLOCK[0] + 5, :3]
            == BLOCK_RGB).all()  # the candidate's own pixels, not a resample
    resized = _card(tab, RESIZED)
    sizes = resized.locator("figure img.full").evaluate_all(
        "imgs => imgs.map(i => [i.dataset.role, i.naturalWidth, i.naturalHeight])")
    assert sorted(sizes) == [["baseline", WIDTH, HEIGHT], ["candidate", WIDTH, HEIGHT + 20]]
    text = resized.text_content()
    assert f"{WIDTH}x{HEIGHT}" in text and f"{WIDTH}x{HEIGHT + 20}" in text
    # Missing and new images show their one picture at full size too.
    for name, role in ((MISSING, "baseline"), (NEW, "candidate")):
        shown = _card(tab, name).locator("figure img.full").evaluate_all(
            "imgs => imgs.map(i => [i.dataset.role, i.naturalWidth])")
        assert shown == [[role, WIDTH]]
    # "100 %" shows a picture at its natural size.
    card.locator("button.zoom").click()
    box = card.locator("figure.fig-diff img.full").bounding_box()
    assert round(box["width"]) == WIDTH


def test_settings_header(page, open_page):
    from importlib import metadata

    tab = open_page(page)
    header = tab.locator("header.run").inner_text()
    assert f"ssim-l1 {metadata.version('ssim-l1')}" in header
    settings = dict(tab.eval_on_selector_all(
        "#settings dt", "dts => dts.map(d => [d.textContent, d.nextElementSibling.textContent])"))
    assert settings["preset"] == "standard" and settings["window"].startswith("11 ")
    assert "SSIM >= 0.95" in header and "local SSIM >= 0.9" in header
    date = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", header)
    assert date
    written = datetime.strptime(date.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs((datetime.fromtimestamp(page.stat().st_mtime, timezone.utc) - written)
               .total_seconds()) < 600
    counts = dict(tab.eval_on_selector_all(
        "#counts li", "lis => lis.map(l => [l.dataset.count, l.querySelector('.n').textContent])"))
    # From the tree: 4 identical pairs, 4 recoloured, 1 resized, 1 broken, 1 missing, 1 new.
    assert counts["passed"] == "4" and counts["missing"] == "1" and counts["new"] == "1"
    assert counts["total"] == "12"
    assert int(counts["failed"]) + int(counts["errors"]) == 6
    legend = tab.locator("#heatmap-legend")
    assert "0" in legend.inner_text() and "1" in legend.inner_text()
    assert "linear-gradient" in legend.locator(".bar").evaluate("e => e.style.background")


def _stage_colour(card, tab, out: Path) -> np.ndarray:
    """The mean colour at the centre of the changed block, as the compare stage shows it."""
    card.locator(".stage").screenshot(path=str(out))
    shot = iio.imread(out)[..., :3].astype(float)
    sy, sx = shot.shape[0] / HEIGHT, shot.shape[1] / WIDTH
    x, y, w, h = BLOCK
    cy, cx = round((y + h / 2) * sy), round((x + w / 2) * sx)
    return shot[cy - 3:cy + 4, cx - 3:cx + 4].reshape(-1, 3).mean(axis=0)


def test_compare_in_place_slider_and_flip(page, open_page, tmp_path):
    tab = open_page(page)
    card = _card(tab, CHANGED)
    x, y, w, h = BLOCK
    cy, cx = round(y + h / 2), round(x + w / 2)
    baseline_rgb = ui_screen(WIDTH, HEIGHT, seed=1)[cy - 3:cy + 4, cx - 3:cx + 4].reshape(-1, 3)
    baseline_rgb = baseline_rgb.astype(float).mean(axis=0)
    assert np.abs(baseline_rgb - BLOCK_RGB).max() > 60  # the two are told apart

    def near(colour, expected):
        return np.abs(colour - np.asarray(expected, float)).max() < 30

    card.locator("[data-view-button=slider]").click()
    assert card.locator(".stage").is_visible() and not card.locator(".grid").is_visible()
    card.locator(".compare input[type=range]").fill("0")  # all candidate
    assert near(_stage_colour(card, tab, tmp_path / "a.png"), BLOCK_RGB)
    card.locator(".compare input[type=range]").fill("100")  # all baseline
    assert near(_stage_colour(card, tab, tmp_path / "b.png"), baseline_rgb)
    card.locator("[data-view-button=flip]").click()
    first = _stage_colour(card, tab, tmp_path / "c.png")
    card.locator("button.flip").click()
    second = _stage_colour(card, tab, tmp_path / "d.png")
    assert {near(first, BLOCK_RGB), near(second, BLOCK_RGB)} == {True, False}
    assert near(first, baseline_rgb) or near(second, baseline_rgb)
    card.screenshot(path=str(tmp_path / "flip.png"))
    card.locator("[data-view-button=sbs]").click()
    assert card.locator(".grid").is_visible() and not card.locator(".stage").is_visible()


def test_region_box_lies_outside_the_changed_pixels(page, open_page):
    tab = open_page(page)
    card = _card(tab, CHANGED)
    for role in ("baseline", "candidate", "diff", "heatmap"):
        figure = card.locator(f"figure.fig-{role}")
        image = figure.locator("img.full").bounding_box()
        regions = figure.locator(".region")
        assert regions.count() == 1, role
        inner = regions.first.bounding_box()  # the outline is drawn outside this box
        style = regions.first.evaluate(
            "e => { const s = getComputedStyle(e);"
            " return [s.borderTopWidth, s.outlineStyle, parseFloat(s.outlineOffset)]; }")
        assert style[0] == "0px" and style[1] != "none" and style[2] >= 0
        scale = image["width"] / WIDTH
        x, y, w, h = BLOCK
        changed = (image["x"] + x * scale, image["y"] + y * scale,
                   image["x"] + (x + w) * scale, image["y"] + (y + h) * scale)
        assert inner["x"] < changed[0] and inner["y"] < changed[1], role
        assert inner["x"] + inner["width"] > changed[2], role
        assert inner["y"] + inner["height"] > changed[3], role
    # And nothing is drawn on the changed pixels: the diff view's block is all red on screen.
    card.locator("button.zoom").click()
    shot = card.locator("figure.fig-diff .frame").screenshot()
    pixels = iio.imread(shot)[..., :3].astype(int)
    x, y, w, h = BLOCK
    block = pixels[y + 2:y + h - 2, x + 2:x + w - 2].reshape(-1, 3)  # 2 px for sub-pixel offsets
    from ssimcli.reports.review_page import CLEAR_RGB

    assert (np.abs(block - np.asarray(CLEAR_RGB)).max(axis=1) < 8).all()


def test_hostile_names_are_inert_and_visible(page, open_page, tmp_path):
    tab = open_page(page)
    assert tab.evaluate("document.body.getAttribute('data-pwned')") is None
    assert tab.evaluate("document.scripts.length") == 1
    for name in (*HOSTILE_FAILING, *HOSTILE_PASSING):
        card = _card(tab, name)
        assert card.locator("h3 .name").text_content() == SHOWN.get(name, name)
    assert tab.locator("article.card h3 .ctl").count() >= 3  # escapes are highlighted
    # Sorting by name (through the URL) still works with these names in the data.
    tab.goto(page.resolve().as_uri() + "#sort=name", wait_until="load")
    names = tab.eval_on_selector_all("article.card", "cards => cards.map(c => c.dataset.name)")
    assert names == sorted(names)
    tab.screenshot(path=str(tmp_path / "names.png"))


def test_page_fetches_nothing_from_elsewhere(page, open_page):
    tab = open_page(page)
    folder = page.parent.resolve().as_uri()
    assert tab.requests and all(url.startswith(folder) for url in tab.requests), tab.requests


# --------------------------------------------------------------------------- 200 + 10 screenshots


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    """200 passing and 10 failing 1280x720 screenshots (identical passes are byte copies).

    Each failure recolours a 400x300 panel, far below any default limit, so the run needs no
    option and stays the cheapest the command allows."""
    root = tmp_path_factory.mktemp("big")
    base, cand = root / "base", root / "cand"
    base.mkdir()
    cand.mkdir()
    for seed in range(10):
        screen = ui_screen(1280, 720, seed=seed)
        iio.imwrite(base / f"fail{seed:02d}.png", screen)
        changed = screen.copy()
        changed[200 + 20 * seed:500 + 20 * seed, 400:800] = (200, 40, 40)
        iio.imwrite(cand / f"fail{seed:02d}.png", changed)
    for seed in range(20):
        first = base / f"pass{seed:03d}.png"
        iio.imwrite(first, ui_screen(1280, 720, seed=100 + seed))
        for copy in range(10):
            name = f"pass{seed + 20 * copy:03d}.png"
            if copy:
                shutil.copyfile(first, base / name)
            shutil.copyfile(first, cand / name)
    proc = subprocess.run([*_cli_command(), "check", "base", "cand", "--html", "report/index.html"],
                          cwd=root, capture_output=True, timeout=900)
    assert proc.returncode == 1, proc.stderr
    return root / "report" / "index.html"


def test_two_hundred_passing_and_ten_failing_screenshots_stay_light(big_run, open_page):
    page = big_run
    folder = page.with_name("index_files")
    total = page.stat().st_size + sum(f.stat().st_size for f in folder.iterdir())
    assert total < 25 * 1024 * 1024, total
    tab = open_page(page)
    timing = tab.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()")
    assert 0 < timing[1] < 5000, timing  # milliseconds from navigation start to 'load'
    kinds = tab.eval_on_selector_all("article.card", "cards => cards.map(c => c.dataset.kind)")
    assert kinds.count("fail") == 10 and kinds.count("pass") == 200
    # Full-resolution pictures only for the failures; passing images get a small thumbnail.
    full = tab.eval_on_selector_all(
        "article.k-fail figure img.full", "imgs => imgs.map(i => [i.naturalWidth, i.complete])")
    assert len(full) == 40 and all(entry == [1280, True] for entry in full)
    assert tab.locator("article.k-pass img.full").count() == 0
    widths = tab.eval_on_selector_all("article.k-pass img.thumb",
                                      "imgs => imgs.map(i => i.getAttribute('width'))")
    assert len(widths) == 200 and max(int(w) for w in widths) <= 320
