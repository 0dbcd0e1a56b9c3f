"""Issue 10, end to end: never destroy, never hang, never explode.

Every case runs the installed ``ssim-l1`` on real files made here: PNG/JPEG/BMP/.npy headers that
claim huge images (written by hand with zlib and struct), FIFOs (``os.mkfifo``), device nodes
(``os.mknod``, root only), a Unix socket, hard and symbolic links, hostile file names (newline,
CR, ESC/OSC sequences, quotes, ``<script>``, non-UTF-8 bytes) and a 1 MiB tmpfs for a full disk
(root only). Expected values come from the files themselves (bytes, inodes, modes), from Python's
own parsers (csv, json, xml.etree) and from scikit-image.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from conftest import _cli_command, mounted_tmpfs, photo_like, save_png

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="device nodes and tmpfs mounts need root")
# A run that should end in well under a second; only a guard against a hang, never a benchmark.
HANG = 60


# --- files ---------------------------------------------------------------------------------

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


# --- 5. names are data ----------------------------------------------------------------------------

HOSTILE = ["new\nline.png", "carriage\rreturn.png", "esc\x1b[31mred.png",
           "osc\x1b]0;pwned\x07title.png", "quote\"'s.png", "<script>alert(1)</script>.png",
           "forge\n::error::forged.png", "tab\tbell\x07.png"]
NON_UTF8 = b"bytes\xff\xfe.png"
# Raw control characters that must never reach a stream or report (newline and tab excepted).
RAW_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\n\t"} | {"\x7f"}


def _hostile_trees(tmp_path: Path) -> tuple[Path, Path]:
    ref, cand = tmp_path / "ref", tmp_path / "cand"
    for index, name in enumerate(HOSTILE):
        save_png(ref / name, photo_like(40, 48, 3, seed=index))
        save_png(cand / name, photo_like(40, 48, 3, seed=index + 50))  # fails min-ssim 0.95
    for folder, seed in ((ref, 1), (cand, 60)):
        data = imagecodecs.png_encode(np.round(photo_like(40, 48, 3, seed=seed) * 255)
                                      .astype(np.uint8))
        with open(os.path.join(os.fsencode(folder), NON_UTF8), "wb") as handle:
            handle.write(data)
    return ref, cand


def _no_raw_control(text: str, where: str) -> None:
    found = sorted({repr(c) for c in text if c in RAW_CONTROL})
    assert not found, f"raw control characters {found} in {where}"


def _all_names() -> list[str]:
    from ssimcli.console import printable

    return [printable(name) for name in HOSTILE] + [printable(os.fsdecode(NON_UTF8))]


def test_batch_csv_json_and_table_keep_hostile_names_as_data(run_cli, tmp_path):
    ref, cand = _hostile_trees(tmp_path)
    out = tmp_path / "rows.csv"
    result = run_cli("batch", ref, cand, "--format", "csv", "-o", out)
    assert result.returncode == 0, result
    _no_raw_control(result.stderr, "stderr")
    text = out.read_bytes().decode("utf-8")  # valid UTF-8 even with a non-UTF-8 name
    _no_raw_control(text, "the CSV")
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["name"] for row in rows) == sorted(_all_names())
    assert all(row["status"] == "ok" for row in rows)
    resumed = run_cli("batch", ref, cand, "--format", "csv", "-o", out, "--resume")
    assert resumed.returncode == 0, resumed
    assert f"resuming: {len(rows)} of {len(rows)}" in resumed.stderr
    for output_format in ("jsonl", "json", "table"):
        run = run_cli("batch", ref, cand, "--format", output_format)
        assert run.returncode == 0, run
        _no_raw_control(run.stdout + run.stderr, f"batch --format {output_format}")
        if output_format == "jsonl":
            rows = [json.loads(line, parse_constant=_strict) for line in run.stdout.splitlines()]
            assert len(rows) == len(HOSTILE) + 1
        elif output_format == "json":
            assert len(json.loads(run.stdout, parse_constant=_strict)["pairs"]) == len(HOSTILE) + 1


def _strict(token: str) -> None:
    raise ValueError(f"not strict JSON: {token}")


def test_check_reports_keep_hostile_names_as_data(run_cli, tmp_path):
    ref, cand = _hostile_trees(tmp_path)
    summary = tmp_path / "summary.md"
    junit, html, report = tmp_path / "junit.xml", tmp_path / "report.html", tmp_path / "r.json"
    result = run_cli("check", ref, cand, "--junit", junit, "--html", html, "--json", report,
                     cwd=tmp_path, env={"GITHUB_ACTIONS": "true",
                                        "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1, result  # every pair fails min-ssim: a regression
    _no_raw_control(result.stdout + result.stderr, "check's stdout and stderr")
    for stream in (result.stdout, result.stderr):
        commands = [line for line in stream.splitlines() if line.startswith("::")]
        assert not [line for line in commands if line.startswith("::error::forged")]
        assert len(commands) <= len(HOSTILE) + 1  # one annotation per failing image at most
    cases = ET.parse(junit).getroot().iter("testcase")  # well-formed XML
    assert len(list(cases)) == len(HOSTILE) + 1
    page = html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    _no_raw_control(page, "the HTML report")
    _no_raw_control(summary.read_text(encoding="utf-8"), "the step summary")
    payload = json.loads(report.read_text(encoding="utf-8"), parse_constant=_strict)
    assert len(payload["pairs"]) == len(HOSTILE) + 1


# --- 6. runs do not trample each other ---------------------------------------------------------

def _slow_trees(tmp_path: Path, count: int = 4, side: int = 1500) -> tuple[Path, Path]:
    """Pairs that each take a second or more with the options of `SLOW`."""
    ref, cand = tmp_path / "slow_ref", tmp_path / "slow_cand"
    ref.mkdir()
    cand.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    ref_bytes = imagecodecs.png_encode(pixels, level=1)
    cand_bytes = imagecodecs.png_encode(pixels ^ 1, level=1)
    for index in range(count):
        (ref / f"p{index}.png").write_bytes(ref_bytes)
        (cand / f"p{index}.png").write_bytes(cand_bytes)
    return ref, cand


SLOW = ("--precision", "float64", "--ms-ssim", "--preset", "matlab")


def test_a_second_run_on_the_same_output_exits_at_once(run_cli, tmp_path):
    ref, cand = _slow_trees(tmp_path, count=3)
    out = tmp_path / "rows.jsonl"
    first = subprocess.Popen([*_cli_command(), "batch", str(ref), str(cand), "--format", "jsonl",
                              "-o", str(out), "-j", "1", *SLOW], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + HANG
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_cli("batch", ref, cand, "--format", "jsonl", "-o", out, "-j", "1", *SLOW)
    still_running = first.poll() is None
    _, err = first.communicate(timeout=300)
    assert still_running, "the first run ended before the second one started: no overlap tested"
    assert second.returncode == 2, second
    assert "another ssim-l1 run" in one_error_line(second.stderr, out.name)
    assert first.returncode == 0, err
    names = sorted(json.loads(line)["name"] for line in out.read_text().splitlines())
    assert names == ["p0.png", "p1.png", "p2.png"]


def _error_line(stderr: str, *names: str) -> str:
    """The one ``error:`` line among batch's other lines (missing/extra files, summaries)."""
    assert "Traceback" not in stderr
    return one_error_line("\n".join(line for line in stderr.splitlines()
                                     if line.startswith("error:")), *names)


def test_resume_names_the_bad_line(run_cli, tmp_path, trees):
    ref, cand = trees
    out = tmp_path / "rows.jsonl"
    assert run_cli("batch", ref, cand, "--format", "jsonl", "-o", out).returncode == 0
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n" + "not json at all\n" + "\n".join(lines[1:]) + "\n")
    before = out.read_bytes()
    result = run_cli("batch", ref, cand, "--format", "jsonl", "-o", out, "--resume")
    assert result.returncode == 2, result
    assert "line 2" in _error_line(result.stderr, out.name)
    assert out.read_bytes() == before  # nothing rewritten
    bad_csv = tmp_path / "rows.csv"
    bad_csv.write_text("name,ssim,status\na.png,0.5,ok\nnested/b.png,0.4,ok,extra,fields\n")
    result = run_cli("batch", ref, cand, "--format", "csv", "-o", bad_csv, "--resume")
    assert result.returncode == 2 and "line 3" in _error_line(result.stderr, bad_csv.name)
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    result = run_cli("batch", ref, cand, "--format", "jsonl", "-o", fifo, "--resume", timeout=HANG)
    assert result.returncode == 2 and "FIFO" in _error_line(result.stderr, fifo.name)


# --- 7. baseline updates you can trust ---------------------------------------------------------

def test_update_baseline_accepts_only_decodable_regular_files_and_lists_them(run_cli, tmp_path):
    base, cand = tmp_path / "base", tmp_path / "cand"
    save_png(base / "same.png", photo_like(40, 48, 3))
    save_png(cand / "same.png", photo_like(40, 48, 3))
    save_png(base / "changed.png", photo_like(40, 48, 3, seed=1))
    save_png(cand / "changed.png", photo_like(40, 48, 3, seed=2))
    save_png(cand / "new.png", photo_like(40, 48, 3, seed=3))
    (cand / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    os.mkfifo(cand / "fifo.png")
    png_bomb(cand / "bomb.png", 100000, 100000)
    if IS_ROOT:
        os.mknod(cand / "zero.png", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    before = snapshot(base)
    report = tmp_path / "report.json"
    result = run_cli("check", base, cand, "--update-baseline", "--json", report, cwd=tmp_path,
                     timeout=HANG)
    assert "Traceback" not in result.stderr
    accepted = sorted(line.split(": ", 1)[1] for line in result.stderr.splitlines()
                      if line.startswith("accepted into the baseline: "))
    assert accepted == ["changed.png", "new.png"], result
    assert sorted(json.loads(report.read_text())["updated"]) == ["changed.png", "new.png"]
    refused = ["bomb.png", "fifo.png", "garbage.png"] + (["zero.png"] if IS_ROOT else [])
    for name in refused:
        assert f"{name}: not accepted into the baseline" in result.stderr, (name, result)
    after = snapshot(base)
    assert sorted(after) == ["changed.png", "new.png", "same.png"]
    assert after["same.png"] == before["same.png"]
    assert after["changed.png"][0] == (cand / "changed.png").read_bytes()
    assert not [p for p in base.rglob(".*")]


def test_temporary_files_of_a_killed_update_are_removed_by_the_next_run(run_cli, tmp_path,
                                                                        trees):
    ref, cand = trees
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now belongs to no process: the owner of the temp file was killed
    stale = ref / "nested" / f".b.png.ssim-l1-tmp-{dead.pid}-0a1b2c3d"
    stale.write_bytes(b"\0" * 4096)
    live = ref / f".a.png.ssim-l1-tmp-{os.getpid()}-0a1b2c3d"  # a run still writing
    live.write_bytes(b"\0" * 16)
    result = run_cli("check", ref, cand, cwd=tmp_path)
    assert result.returncode in (0, 1), result
    assert not stale.exists() and live.exists()


def test_an_interrupted_update_says_what_it_accepted(tmp_path):
    base, cand = tmp_path / "base", tmp_path / "cand"
    base.mkdir()
    cand.mkdir()
    save_png(base / "keep.png", photo_like(40, 48, 3))
    save_png(cand / "keep.png", photo_like(40, 48, 3))
    pixels = np.round(photo_like(400, 400, 3) * 255).astype(np.uint8)
    big = imagecodecs.png_encode(np.tile(pixels, (4, 4, 1)), level=1)  # 1600 x 1600
    names = [f"new{index:02d}.png" for index in range(60)]
    for name in names:
        (cand / name).write_bytes(big)
    proc = subprocess.Popen([*_cli_command(), "check", str(base), str(cand), "--update-baseline"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=tmp_path)
    lines = []
    for line in proc.stderr:  # the update says each image as it accepts it
        lines.append(line)
        if line.startswith("accepted into the baseline: "):
            proc.send_signal(signal.SIGTERM)
            break
    lines += proc.stderr.readlines()
    proc.wait(timeout=HANG)
    stderr = "".join(lines)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    summary = [line for line in lines if "accepted before it stopped" in line]
    assert len(summary) == 1, stderr
    accepted = summary[0].rstrip("\n").split(": ")[-1].split(", ")
    assert accepted and set(accepted) < set(names)
    assert sorted(p.name for p in base.iterdir()) == sorted(["keep.png", *accepted])
    assert all((base / name).read_bytes() == big for name in accepted)


# --- 8. workers ---------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(predicate, what: str, timeout: float = HANG):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _start_batch(ref: Path, cand: Path) -> subprocess.Popen:
    return subprocess.Popen([*_cli_command(), "batch", str(ref), str(cand), "--format", "jsonl",
                             "-j", "2", *SLOW], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_costs_only_its_own_pair(tmp_path):
    ref, cand = _slow_trees(tmp_path, count=4)
    proc = _start_batch(ref, cand)
    workers = _wait_for(lambda: len(_children(proc.pid)) >= 2 and _children(proc.pid), "workers")
    time.sleep(0.5)  # well inside the first pairs
    os.kill(workers[0], signal.SIGKILL)  # what the OOM killer does
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(row["name"] for row in rows) == [f"p{i}.png" for i in range(4)]
    assert all(row["status"] == "ok" for row in rows), rows


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_pair_that_kills_its_worker_twice_is_an_error_row(tmp_path):
    ref, cand = _slow_trees(tmp_path, count=2)
    proc = _start_batch(ref, cand)
    first = _wait_for(lambda: len(_children(proc.pid)) >= 2 and _children(proc.pid), "workers")
    time.sleep(0.5)
    for pid in first:  # both pairs are in flight: both die with their workers
        os.kill(pid, signal.SIGKILL)
    # Each is then scored again alone, in a fresh worker: kill the first of those too.
    retry = _wait_for(lambda: [p for p in _children(proc.pid) if p not in first], "a retry")
    time.sleep(0.3)
    os.kill(retry[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert proc.returncode == 2, err
    assert sorted(row["status"] for row in rows.values()) == ["error", "ok"], rows
    failed = next(row for row in rows.values() if row["status"] == "error")
    assert "killed, twice" in failed["error"]
    assert "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_the_batch(tmp_path, how):
    ref, cand = _slow_trees(tmp_path, count=4)
    proc = _start_batch(ref, cand)
    workers = _wait_for(lambda: len(_children(proc.pid)) >= 2 and _children(proc.pid), "workers")
    time.sleep(0.3)
    proc.send_signal(how)
    proc.communicate(timeout=HANG)
    _wait_for(lambda: not any(_alive(pid) for pid in workers), "the orphans to exit", timeout=10)


# --- 9. a full disk ------------------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs, mounted for the test (root only), with ``free`` bytes left on it."""
    with mounted_tmpfs(tmp_path / "small", "1m") as mount:

        def fill(free: int) -> None:
            filler = mount / "filler"
            descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                while os.write(descriptor, b"\0" * 4096):
                    pass
            except OSError:  # ENOSPC: the disk is full
                pass
            finally:
                os.close(descriptor)
            size = filler.stat().st_size
            os.truncate(filler, max(0, size - free))

        yield mount, fill


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if "ssim-l1-tmp" in p.name]


def test_disk_full_exits_2_naming_the_file_and_leaves_no_temporary_file(run_cli, full_disk,
                                                                        pair, trees):
    mount, fill = full_disk
    fill(8192)
    maps = run_cli("compare", *pair, "--maps", mount / "maps")
    assert maps.returncode == 2, maps
    line = one_error_line(maps.stderr, str(mount / "maps"))
    assert "No space left on device" in line
    fill(0)
    report = run_cli("check", *trees, "--junit", mount / "junit.xml", cwd=mount.parent)
    assert report.returncode == 2, report
    assert "junit.xml" in report.stderr and "No space left" in report.stderr
    assert "Traceback" not in maps.stderr + report.stderr
    assert not _temps(mount)


def test_a_streamed_file_stays_valid_up_to_its_last_full_row(run_cli, full_disk, tmp_path):
    mount, fill = full_disk
    ref, cand = tmp_path / "r", tmp_path / "c"
    for index in range(40):
        save_png(ref / f"p{index:02d}.png", photo_like(24, 24, 3, seed=index))
        save_png(cand / f"p{index:02d}.png", photo_like(24, 24, 3, seed=index + 100))
    fill(6000)  # room for a few rows of about 1.4 kB
    for output_format in ("jsonl", "csv"):
        out = mount / f"rows.{output_format}"
        result = run_cli("batch", ref, cand, "--format", output_format, "-o", out, "-j", "1")
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert errors and out.name in errors[-1] and "No space left" in errors[-1], result
        text = out.read_text(encoding="utf-8")
        assert text.endswith("\n"), "a partial last row was left behind"
        if output_format == "jsonl":
            rows = [json.loads(line) for line in text.splitlines()]
        else:
            records = list(csv.reader(io.StringIO(text, newline="")))
            assert len({len(record) for record in records}) == 1
            rows = records[1:]
        assert 0 < len(rows) < 40
        out.unlink()
    assert not _temps(mount)
