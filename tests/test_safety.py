"""Issue 10, end to end: never destroy, never hang, never explode.

Every case runs the installed ``ssim-l1`` on real files made here: PNG/JPEG/BMP/.npy headers that
claim huge images (written by hand with zlib and struct), FIFOs (``os.mkfifo``), device nodes
(``os.mknod``, root only), a Unix socket, hard and symbolic links, hostile file names (newline,
CR, ESC/OSC sequences, quotes, ``<script>``, non-UTF-8 bytes) and a 1 MiB tmpfs for a full disk
(root only). Expected values come from the files themselves (bytes, inodes, modes), from Python's
own parsers (csv, json, xml.etree) and from scikit-image.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from conftest import _cli_command, photo_like

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="device nodes and tmpfs mounts need root")
# A run that should end in well under a second; only a guard against a hang, never a benchmark.
HANG = 60


# --- files ---------------------------------------------------------------------------------

def save_png(path: Path, pixels: np.ndarray) -> Path:
    """8-bit PNG of a float image in [0, 1] (or an integer array as it is)."""
    if pixels.dtype.kind == "f":
        pixels = np.round(pixels * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(imagecodecs.png_encode(pixels))
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(path: Path, width: int, height: int, depth: int = 1, colour: int = 0) -> Path:
    """A PNG whose IHDR claims ``width`` x ``height`` with a tiny IDAT (a few zero rows): a
    decoder that trusts the header allocates the whole image before it finds the data short."""
    row = b"\0" * (1 + (width * depth * {0: 1, 2: 3, 4: 2, 6: 4}[colour] + 7) // 8)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                     + _chunk(b"IDAT", zlib.compress(row * 4, 9)) + _chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A real 16x16 JPEG whose SOF0 marker is patched to claim ``width`` x ``height``."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def npy_claiming(path: Path, shape: tuple[int, ...]) -> Path:
    """A ``.npy`` header for ``shape`` uint8 followed by no data at all."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    path.write_bytes(buffer.getvalue())  # magic and header, no data
    return path


def run_measured(*args: object, env: dict | None = None, timeout: float = HANG
                 ) -> tuple[int, str, str, int]:
    """Run ``ssim-l1 ARGS``; returns exit code, stdout, stderr and peak RSS in bytes."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    proc = subprocess.Popen([*_cli_command(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    guard = threading.Timer(timeout, proc.kill)  # a hang fails the test instead of blocking it
    guard.start()
    with ThreadPoolExecutor(2) as readers:
        out, err = readers.submit(proc.stdout.read), readers.submit(proc.stderr.read)
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own peak RSS
    guard.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, out.result().decode(errors="replace"),
            err.result().decode(errors="replace"), usage.ru_maxrss * 1024)


def one_error_line(stderr: str, *names: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    assert "Traceback" not in stderr
    for name in names:
        assert name in lines[0], (name, stderr)
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and its inode (a replaced file has a new one)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_ino)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    ref = save_png(tmp_path / "pair" / "ref.png", photo_like(48, 56, 3))
    cand = save_png(tmp_path / "pair" / "cand.png", photo_like(48, 56, 3, seed=1))
    return ref, cand


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """ref/ and cand/: two pairs, a reference with no candidate, an extra candidate, and a
    reference that ``--glob '*.png'`` leaves out (a .jpg)."""
    ref, cand = tmp_path / "ref", tmp_path / "cand"
    for index, name in enumerate(("a.png", "nested/b.png")):
        save_png(ref / name, photo_like(40, 48, 3, seed=index))
        save_png(cand / name, photo_like(40, 48, 3, seed=index + 10))
    save_png(ref / "only_ref.png", photo_like(40, 48, 3, seed=5))
    save_png(cand / "only_cand.png", photo_like(40, 48, 3, seed=6))
    from PIL import Image

    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(ref / "left_out.jpg")
    return ref, cand


# --- 1. inputs are read-only ----------------------------------------------------------------

def _victims(tmp_path: Path, ref: Path, cand: Path) -> dict[str, Path]:
    hard = tmp_path / "hardlink.jsonl"
    os.link(cand / "a.png", hard)
    soft = tmp_path / "symlink.jsonl"
    soft.symlink_to(ref / "nested" / "b.png")
    return {
        "reference with no candidate": ref / "only_ref.png",
        "extra candidate": cand / "only_cand.png",
        "excluded by --glob": ref / "left_out.jpg",
        "hard link to a paired file": hard,
        "symbolic link to a paired file": soft,
        "paired candidate": cand / "a.png",
    }


@pytest.mark.parametrize("case", ["reference with no candidate", "extra candidate",
                                  "excluded by --glob", "hard link to a paired file",
                                  "symbolic link to a paired file", "paired candidate"])
def test_batch_output_never_overwrites_any_input(run_cli, tmp_path, trees, case):
    ref, cand = trees
    target = _victims(tmp_path, ref, cand)[case]
    before = snapshot(ref), snapshot(cand)
    result = run_cli("batch", ref, cand, "--glob", "*.png", "--format", "jsonl", "-o", target)
    assert result.returncode == 2, result
    one_error_line(result.stderr, target.name)
    assert (snapshot(ref), snapshot(cand)) == before


@pytest.mark.parametrize("option", ["--html", "--junit", "--json"])
@pytest.mark.parametrize("case", ["reference with no candidate", "extra candidate",
                                  "hard link to a paired file"])
def test_check_reports_never_overwrite_any_input(run_cli, tmp_path, trees, option, case):
    ref, cand = trees
    target = _victims(tmp_path, ref, cand)[case]
    before = snapshot(ref), snapshot(cand)
    result = run_cli("check", ref, cand, option, target, cwd=tmp_path)
    assert result.returncode == 2, result
    one_error_line(result.stderr, target.name)
    assert (snapshot(ref), snapshot(cand)) == before


def test_compare_output_and_maps_never_overwrite_an_input(run_cli, tmp_path, pair):
    ref, cand = pair
    maps = tmp_path / "maps"
    maps.mkdir()
    os.link(cand, maps / "l1.npy")  # a map file that is a hard link to the candidate
    link = tmp_path / "out.json"
    link.symlink_to(ref)
    before = snapshot(pair[0].parent)
    for args in (["-o", link], ["--maps", maps], ["-o", cand]):
        result = run_cli("compare", ref, cand, "--format", "json", *args)
        assert result.returncode == 2, result
        one_error_line(result.stderr)
    assert snapshot(pair[0].parent) == before
    assert sorted(p.name for p in maps.iterdir()) == ["l1.npy"]  # refused before any write


# --- 2. special files -------------------------------------------------------------------------

@needs_root
def test_a_character_device_output_is_written_never_replaced(run_cli, tmp_path, pair):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    for args in (["compare", *pair, "-o", null], ["compare", *pair, "--format", "json", "-o", null]):
        result = run_cli(*args)
        assert result.returncode == 0, result
        assert stat.S_ISCHR(null.stat().st_mode), "the device was replaced by a regular file"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_fifo_output_is_written_never_replaced(tmp_path, pair):
    import select

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    # The reader a FIFO needs, as `-o >(jq .)` gives it; opened first and without blocking, so
    # that a tool that replaces the FIFO fails this test instead of hanging it.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    proc = subprocess.Popen([*_cli_command(), "compare", *map(str, pair), "--format", "json",
                             "-o", str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    received = b""
    deadline = time.monotonic() + HANG
    while proc.poll() is None or select.select([reader], [], [], 0)[0]:
        if time.monotonic() > deadline:
            break
        if select.select([reader], [], [], 0.1)[0]:
            chunk = os.read(reader, 65536)
            received += chunk
            if not chunk:  # no writer (yet, or any more)
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
    os.close(reader)
    proc.wait(timeout=HANG)
    assert proc.returncode == 0, proc.stderr.read()
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the FIFO was replaced by a regular file"
    assert json.loads(received)["ssim"] > 0


def test_a_link_to_stdout_is_written_never_replaced(run_cli, tmp_path, pair):
    out = tmp_path / "stdout"
    out.symlink_to("/dev/stdout")  # the same thing as `-o /dev/stdout`, without risking /dev
    result = run_cli("compare", *pair, "--format", "json", "-o", out)
    assert result.returncode == 0, result
    assert json.loads(result.stdout)["ssim"] > 0
    assert out.is_symlink() and os.readlink(out) == "/dev/stdout"


@pytest.mark.parametrize("command", [["compare", "--format", "json"],
                                     ["batch", "--format", "jsonl"]])
def test_dash_means_stdout(run_cli, tmp_path, pair, trees, command):
    args = [*pair] if command[0] == "compare" else [*trees]
    result = run_cli(command[0], *args, *command[1:], "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result
    assert not (tmp_path / "-").exists()
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()] \
        if command[0] == "batch" else [json.loads(result.stdout)]
    assert all(row.get("ssim") for row in lines)


def _special_inputs(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    sock_path = tmp_path / "socket.png"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    inputs = {"FIFO": fifo, "socket": sock_path, "directory": tmp_path / "folder.png",
              "dev/zero": Path("/dev/zero")}
    inputs["directory"].mkdir()
    if IS_ROOT:
        zero = tmp_path / "zero.png"
        os.mknod(zero, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # what /dev/zero is
        inputs["character device"] = zero
    return inputs


def test_special_inputs_are_refused_at_once(run_cli, tmp_path, pair):
    for kind, path in _special_inputs(tmp_path).items():
        for args in ((pair[0], path), (path, pair[1])):
            result = run_cli("compare", *args, timeout=HANG)
            assert result.returncode == 2, (kind, result)
            line = one_error_line(result.stderr, path.name)
            assert "not an image file" in line, (kind, line)


def test_special_files_in_trees_are_error_rows_and_the_run_goes_on(run_cli, tmp_path, trees):
    ref, cand = trees
    os.mkfifo(cand / "fifo.png")
    save_png(ref / "fifo.png", photo_like(40, 48, 3))
    os.mkfifo(ref / "nested" / "pipe.png")
    os.mkfifo(cand / "nested" / "pipe.png")
    result = run_cli("batch", ref, cand, "--format", "jsonl", timeout=HANG)
    assert result.returncode == 2, result
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["a.png"]["status"] == "ok" and rows["nested/b.png"]["status"] == "ok"
    assert rows["fifo.png"]["status"] == "error" and "FIFO" in rows["fifo.png"]["error"]
    assert rows["nested/pipe.png"]["status"] == "error"
    checked = run_cli("check", ref, cand, "--json", "-", cwd=tmp_path, timeout=HANG)
    assert checked.returncode == 2, checked
    statuses = {p["name"]: p["status"] for p in json.loads(checked.stdout)["pairs"]}
    assert statuses["fifo.png"] == "error" and statuses["a.png"] in ("pass", "fail")


def test_a_fifo_as_github_step_summary_does_not_hang(run_cli, tmp_path, trees):
    summary = tmp_path / "summary.fifo"
    os.mkfifo(summary)
    result = run_cli("check", *trees, cwd=tmp_path, timeout=HANG,
                     env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode in (1, 2), result
    assert "Traceback" not in result.stderr
    assert stat.S_ISFIFO(summary.stat().st_mode)


# --- 3. bounded decoding ----------------------------------------------------------------------

PEAK_LIMIT = 500 * 2**20


@pytest.mark.parametrize("bomb", ["png 100000x100000 1-bit", "png 40000x40000 RGB",
                                  "jpeg 60000x60000", "npy 100000x100000"])
def test_bombs_are_refused_from_the_header(tmp_path, pair, bomb):
    makers = {
        "png 100000x100000 1-bit": lambda p: png_bomb(p.with_suffix(".png"), 100000, 100000),
        "png 40000x40000 RGB": lambda p: png_bomb(p.with_suffix(".png"), 40000, 40000, 8, 2),
        "jpeg 60000x60000": lambda p: jpeg_claiming(p.with_suffix(".jpg"), 60000, 60000),
        "npy 100000x100000": lambda p: npy_claiming(p.with_suffix(".npy"), (100000, 100000)),
    }
    path = makers[bomb](tmp_path / "bomb")
    assert path.stat().st_size < 2_000_000
    code, out, err, peak = run_measured("compare", path, path)
    assert code == 2, err
    line = one_error_line(err, path.name)
    assert "over the limit" in line
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    # Against a normal image: a size mismatch, found from the two headers before any decode.
    code, out, err, peak = run_measured("compare", pair[0], path)
    assert code == 2 and "size mismatch" in one_error_line(err, path.name)
    assert peak < PEAK_LIMIT


def test_the_default_lets_16k_through_and_max_pixels_is_settable(run_cli, tmp_path, pair):
    # The header of a 16384 x 16384 PNG passes the default limit: what stops this file is its
    # missing data, found by decoding.
    big = png_bomb(tmp_path / "big16k.png", 16384, 16384)
    result = run_cli("compare", big, big)
    assert result.returncode == 2
    assert "not a valid PNG" in one_error_line(result.stderr, "big16k.png")
    limited = run_cli("compare", *pair, "--max-pixels", 1000)
    assert limited.returncode == 2 and "over the limit of 1,000 pixels" in limited.stderr
    assert run_cli("compare", *pair, "--max-pixels", 48 * 56).returncode == 0  # inclusive
    (tmp_path / "pyproject.toml").write_text("[tool.ssim-l1]\nmax-pixels = 1000\n")
    ref_dir, cand_dir = tmp_path / "b", tmp_path / "c"
    save_png(ref_dir / "x.png", photo_like(48, 56, 3))
    save_png(cand_dir / "x.png", photo_like(48, 56, 3))
    checked = run_cli("check", ref_dir, cand_dir, "--json", "-", cwd=tmp_path)
    assert checked.returncode == 2 and "over the limit" in checked.stderr, checked


def test_an_image_that_does_not_fit_in_memory_is_refused(tmp_path):
    # 100000 x 100000 16-bit RGBA is 80 GB: under a raised pixel limit, memory refuses it.
    path = png_bomb(tmp_path / "huge.png", 100000, 100000, 16, 6)
    code, _, err, peak = run_measured("compare", path, path, "--max-pixels", 10**12)
    assert code == 2
    assert "memory available" in one_error_line(err, "huge.png")
    assert peak < PEAK_LIMIT


def test_a_bomb_in_batch_and_check_is_one_error_and_the_run_goes_on(tmp_path, trees):
    ref, cand = trees
    png_bomb(ref / "bomb.png", 100000, 100000)
    png_bomb(cand / "bomb.png", 100000, 100000)
    junit = tmp_path / "report.xml"
    for command in (["batch", ref, cand, "--format", "jsonl"],
                    ["check", ref, cand, "--junit", junit, "--json", "-"]):
        code, out, err, peak = run_measured(*command)
        assert code == 2, err
        assert peak < PEAK_LIMIT
        assert "bomb.png" in err and "Traceback" not in err
        rows = ([json.loads(line) for line in out.splitlines()] if command[0] == "batch"
                else json.loads(out)["pairs"])
        by_name = {row["name"]: row for row in rows}
        assert by_name["bomb.png"]["status"] == "error"
        assert by_name["a.png"]["status"] in ("ok", "pass", "fail")
    suite = ET.parse(junit).getroot()
    assert "bomb.png" in ET.tostring(suite, encoding="unicode")


# --- 4. colour models ---------------------------------------------------------------------------

def test_a_cmyk_jpeg_scores_as_its_rgb_rendering(run_cli, tmp_path):
    from PIL import Image
    from skimage.metrics import structural_similarity

    rgb = np.round(photo_like(96, 112, 3, seed=3) * 255).astype(np.uint8)
    save_png(tmp_path / "rgb.png", rgb)
    # Pillow writes CMYK JPEGs the Adobe way (inverted, with an Adobe marker), as Photoshop does.
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    # Independent rendering: the stored CMYK values through R = (255 - C)(255 - K) / 255.
    cmyk = np.asarray(Image.open(tmp_path / "cmyk.jpg"), dtype=np.float64)
    assert cmyk.shape[2] == 4
    rendered = (255 - cmyk[..., :3]) * (255 - cmyk[..., 3:]) / 255
    expected = structural_similarity(
        rgb / 255.0, rendered / 255.0, channel_axis=2, data_range=1.0, gaussian_weights=True,
        sigma=1.5, use_sample_covariance=False)
    result = run_cli("compare", tmp_path / "rgb.png", tmp_path / "cmyk.jpg", "--format", "json")
    assert result.returncode == 0, result
    record = json.loads(result.stdout)
    assert record["channels"] == 3
    assert record["ssim"] == pytest.approx(expected, abs=2e-3)  # 8-bit rounding of the render
    assert record["ssim"] > 0.99  # read as RGB + alpha it was 0.41


def test_odd_colour_models_are_converted_or_refused_by_name(run_cli, tmp_path):
    import tifffile
    from PIL import Image

    grey = np.round(photo_like(40, 48, 1, seed=2) * 255).astype(np.uint8)
    save_png(tmp_path / "grey.png", grey)
    tifffile.imwrite(tmp_path / "white.tif", 255 - grey, photometric="miniswhite")
    same = run_cli("compare", tmp_path / "grey.png", tmp_path / "white.tif", "--format", "json")
    assert same.returncode == 0 and json.loads(same.stdout)["ssim"] == 1.0, same
    rgb = np.round(photo_like(40, 48, 3, seed=4) * 255).astype(np.uint8)
    palette = Image.fromarray(rgb).quantize(64)
    palette.save(tmp_path / "palette.tif")
    save_png(tmp_path / "palette_rgb.png", np.asarray(palette.convert("RGB")))
    same = run_cli("compare", tmp_path / "palette_rgb.png", tmp_path / "palette.tif",
                   "--format", "json")
    assert same.returncode == 0 and json.loads(same.stdout)["ssim"] == 1.0, same
    Image.fromarray(rgb).convert("LAB").save(tmp_path / "lab.tif")
    refused = run_cli("compare", tmp_path / "palette_rgb.png", tmp_path / "lab.tif")
    assert refused.returncode == 2
    assert "colour model" in one_error_line(refused.stderr, "lab.tif")


def test_decoder_errors_are_stable_and_printable(run_cli, tmp_path, pair):
    data = bytearray(pair[1].read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20:idat + 60] = os.urandom(40)  # corrupt the compressed pixels
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.jpg"
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.round(photo_like(48, 56, 3) * 255).astype(np.uint8)).save(buffer, "JPEG")
    truncated.write_bytes(buffer.getvalue()[:-200])  # cut inside the entropy-coded data
    headless = tmp_path / "headless.jpg"
    headless.write_bytes(buffer.getvalue()[:300])  # cut before the frame header
    for path, expected in ((corrupt, "not a valid PNG (truncated or corrupt data)"),
                           (truncated, "not a valid JPEG (truncated or corrupt data)"),
                           (headless, "not a valid JPEG (truncated or corrupt data)")):
        messages = {run_cli("compare", pair[0], path).stderr for _ in range(3)}
        assert len(messages) == 1, messages
        message = messages.pop()
        assert message.isprintable() or message.rstrip("\n").isprintable()
        assert expected in one_error_line(message, path.name)
