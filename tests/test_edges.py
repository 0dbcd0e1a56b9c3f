"""The last edges, end to end: refused baseline updates, reports to special files and full disks,
one line per bad input, spreadsheet-safe CSV, and MATLAB's rounded Y (``--color y8``).

Every case runs the installed ``ssim-l1`` on real files made here: FIFOs (``os.mkfifo``),
``/dev/null``, a 200 KiB tmpfs (root only), directories where files are expected. Expected values
come from the files themselves, Python's ``csv`` module, and an independent transcription of
MATLAB's ``rgb2ycbcr`` for uint8 images.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from conftest import mounted_tmpfs, photo_like, save_png

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
HANG = 60  # a guard against a hang, never a benchmark


def one_error_line(stderr: str, *names: str) -> str:
    """The only line of ``stderr``: an ``error:`` line naming every one of ``names``."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    for name in names:
        assert name in lines[0], (name, stderr)
    return lines[0]


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """base/ and cand/: one identical pair and one changed pair."""
    base, cand = tmp_path / "base", tmp_path / "cand"
    save_png(base / "same.png", photo_like(40, 48, 3))
    save_png(cand / "same.png", photo_like(40, 48, 3))
    save_png(base / "changed.png", photo_like(40, 48, 3, seed=1))
    save_png(cand / "changed.png", photo_like(40, 48, 3, seed=2))
    return base, cand


# --- 1. a refused baseline update is bad input ------------------------------------------------

def _refusable(cand: Path) -> dict[str, Path]:
    """New candidates that must never become baselines, one of each kind."""
    made = {"undecodable": cand / "garbage.png", "truncated": cand / "cut.png",
            "fifo": cand / "pipe.png"}
    made["undecodable"].write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    whole = imagecodecs.png_encode(np.round(photo_like(40, 48, 3, seed=4) * 255).astype(np.uint8))
    made["truncated"].write_bytes(whole[: len(whole) // 2])
    os.mkfifo(made["fifo"])
    if IS_ROOT:
        made["device"] = cand / "zero.png"
        os.mknod(made["device"], stat.S_IFCHR | 0o666, os.makedev(1, 5))
    return made


@pytest.mark.parametrize("kind", ["undecodable", "truncated", "fifo", "device"])
def test_a_refused_candidate_makes_the_update_exit_2_and_the_rest_is_accepted(
        run_cli, trees, kind):
    base, cand = trees
    refused = _refusable(cand)
    if kind not in refused:
        pytest.skip("device nodes need root")
    for other, path in refused.items():
        if other != kind:
            path.unlink()
    save_png(cand / "new.png", photo_like(40, 48, 3, seed=3))
    result = run_cli("check", base, cand, "--update-baseline", "--json", base.parent / "r.json",
                     timeout=HANG)
    assert result.returncode == 2, result
    name = refused[kind].name
    assert f"{name}: not accepted into the baseline" in result.stderr, result
    accepted = sorted(line.split(": ", 1)[1] for line in result.stderr.splitlines()
                      if line.startswith("accepted into the baseline: "))
    assert accepted == ["changed.png", "new.png"], result
    assert "1 refused" in result.stderr.splitlines()[-1], result
    document = json.loads((base.parent / "r.json").read_text())
    assert document["summary"]["refused"] == [name]
    assert document["summary"]["exit_code"] == 2 and document["passed"] is False
    assert sorted(p.name for p in base.iterdir()) == ["changed.png", "new.png", "same.png"]


def test_a_pixel_bomb_candidate_is_refused_with_exit_2(run_cli, trees):
    import struct
    import zlib

    base, cand = trees

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 100000, 100000, 1, 0, 0, 0, 0)
    (cand / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                    + chunk(b"IDAT", zlib.compress(b"\0" * 50000, 9))
                                    + chunk(b"IEND", b""))
    result = run_cli("check", base, cand, "--update-baseline", timeout=HANG)
    assert result.returncode == 2, result
    assert "bomb.png: not accepted into the baseline" in result.stderr
    assert "accepted into the baseline: changed.png" in result.stderr
    assert not (base / "bomb.png").exists()


def test_an_update_with_nothing_refused_still_exits_0(run_cli, trees):
    base, cand = trees
    result = run_cli("check", base, cand, "--update-baseline")
    assert result.returncode == 0, result
    assert "refused" not in result.stderr


# --- 2. reports to special files and full disks ---------------------------------------------

def test_a_review_page_to_dev_null_makes_no_folder_beside_the_device(run_cli, trees):
    assert not Path("/dev/null_files").exists()
    result = run_cli("check", *trees, "--html", "/dev/null")
    assert result.returncode == 1, result
    assert not Path("/dev/null_files").exists()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_review_page_to_stdout_inlines_its_pictures(run_cli, trees, tmp_path):
    result = run_cli("check", *trees, "--html", "-", cwd=tmp_path)
    assert result.returncode == 1, result
    assert result.stdout.startswith("<!DOCTYPE html>")  # the page alone: no table before it
    assert result.stdout.count('src="data:image/png;base64,') >= 4  # baseline, candidate, ...
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("_files")]
    both = run_cli("check", *trees, "--html", "-", "--json", "-", cwd=tmp_path)
    one_error_line(both.stderr, "--html", "--json", "stdout")
    assert both.returncode == 2 and both.stdout == ""


def test_a_review_page_to_a_fifo_inlines_its_pictures(trees, tmp_path):
    from conftest import _cli_command

    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    # The reading end is open from the start, so the run's writer always finds a reader.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    proc = subprocess.Popen([*_cli_command(), "check", *map(str, trees), "--html", str(fifo)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(reader, 1 << 16)
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.01)
    finally:
        os.close(reader)
    proc.wait(timeout=HANG)
    stderr = proc.stderr.read()
    page = b"".join(chunks)
    assert proc.returncode == 1, stderr
    assert page.startswith(b"<!DOCTYPE html>") and b"data:image/png;base64," in page
    assert page.rstrip().endswith(b"</html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "cand", "page.html"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KiB tmpfs mounted for the test (root only)."""
    with mounted_tmpfs(tmp_path / "small", "200k") as mount:
        yield mount


def _noisy_trees(tmp_path: Path, count: int = 4, side: int = 160) -> tuple[Path, Path]:
    """Failing pairs of noise: their full-size pictures do not fit in 200 KiB."""
    base, cand = tmp_path / "nb", tmp_path / "nc"
    rng = np.random.default_rng(7)
    for index in range(count):
        for folder in (base, cand):
            save_png(folder / f"n{index}.png", rng.integers(0, 256, (side, side, 3), np.uint8))
    return base, cand


def test_a_disk_that_fills_with_the_pictures_leaves_nothing_of_the_report(
        run_cli, small_disk, tmp_path):
    base, cand = _noisy_trees(tmp_path)
    result = run_cli("check", base, cand, "--html", small_disk / "out" / "report.html", "-j", "1")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], result
    assert list(small_disk.rglob("*")) == []  # no page, no report_files/, no out/, no temp file


def test_a_page_write_that_fails_removes_its_pictures(run_cli, trees, tmp_path):
    # The page itself fails to write (ENOSPC raised by the writer, as a full disk would).
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import errno, os\n"
        "import ssimcli.io.output as out\n"
        "real = out.write_buffers\n"
        "def failing(path, parts):\n"
        "    if os.fspath(path).endswith('.html'):\n"
        "        raise out.OutputError(path, 'cannot write (' + os.strerror(errno.ENOSPC) + ')')\n"
        "    return real(path, parts)\n"
        "out.write_buffers = failing\n")
    target = tmp_path / "reports" / "page.html"
    result = run_cli("check", *trees, "--html", target, env={"PYTHONPATH": str(hook)})
    assert result.returncode == 2, result
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "page.html" in errors[0] and "No space left" in errors[0], result
    assert not (tmp_path / "reports").exists()
    # An existing folder of an earlier run keeps its own pictures; this run's are gone.
    target.parent.mkdir()
    (target.parent / "page_files").mkdir()
    mine = target.parent / "page_files" / "notes.txt"
    mine.write_text("not a picture")
    result = run_cli("check", *trees, "--html", target, env={"PYTHONPATH": str(hook)})
    assert result.returncode == 2, result
    assert [p.name for p in (target.parent / "page_files").iterdir()] == ["notes.txt"]


# --- 3. one line per bad input -----------------------------------------------------------------

def _cut_multipage_tiff(path: Path) -> Path:
    """A two-page TIFF cut inside its first page: tifffile logs "invalid page offset" on its
    own before the file is found unreadable."""
    import io

    import tifffile

    buffer = io.BytesIO()
    pixels = np.round(photo_like(64, 64, 3) * 255).astype(np.uint8)
    with tifffile.TiffWriter(buffer) as writer:
        writer.write(pixels, contiguous=False, compression="zlib")
        writer.write(pixels, contiguous=False)
    path.write_bytes(buffer.getvalue()[:5000])
    return path


def test_a_truncated_tiff_is_one_error_line(run_cli, tmp_path):
    import tifffile

    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.round(photo_like(64, 64, 3) * 255).astype(np.uint8))
    cut = _cut_multipage_tiff(tmp_path / "cut.tif")
    result = run_cli("compare", good, cut)
    assert result.returncode == 2, result
    line = one_error_line(result.stderr, "cut.tif")
    assert "tifffile" not in result.stderr and "TIFF" in line


def _no_permission(*args: object) -> list[str]:
    """Run without the capabilities that let root read a mode-000 file."""
    from conftest import _cli_command

    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *_cli_command(),
            *map(str, args)]


@pytest.mark.skipif(not IS_ROOT, reason="dropping root's override capabilities needs root")
def test_an_unreadable_file_is_one_error_line_naming_it(tmp_path):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    good = save_png(tmp_path / "good.png", photo_like(40, 48, 3))
    locked = save_png(tmp_path / "locked.png", photo_like(40, 48, 3, seed=1))
    locked.chmod(0)
    done = subprocess.run(_no_permission("compare", good, locked), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=HANG)
    assert done.returncode == 2, done.stderr
    assert "permission denied" in one_error_line(done.stderr, "locked.png").lower()
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    done = subprocess.run(_no_permission("compare", good, good, "-o", folder / "out.json"),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=HANG)
    assert done.returncode == 2, done.stderr
    assert "Permission denied" in one_error_line(done.stderr, "out.json")


def test_a_directory_or_special_file_where_a_file_is_expected(run_cli, trees, tmp_path):
    base, cand = trees
    folder = tmp_path / "folder.png"
    folder.mkdir()
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    good = base / "same.png"
    cases = [
        (("compare", good, folder), "folder.png"),
        (("compare", good, fifo), "pipe.png"),
        (("compare", good, "/dev/zero"), "/dev/zero"),
        (("compare", good, good, "-o", folder), "folder.png"),
        (("compare", good, good, "--maps", "/dev/null"), "/dev/null"),
        (("compare", good, good, "--maps", good), "same.png"),
        (("batch", good, cand), "same.png"),
        (("batch", base, cand, "-o", folder), "folder.png"),
        (("batch", base, cand, "--maps", good), "same.png"),
        (("check", base, cand, "--html", folder), "folder.png"),
        (("check", base, cand, "--junit", folder), "folder.png"),
        (("check", base, cand, "--json", folder), "folder.png"),
        (("check", base, cand, "--mask", folder), "folder.png"),
        (("check", base, cand, "--mask", fifo), "pipe.png"),
        (("check", base, cand, "--config", folder), "folder.png"),
        (("check", base, cand, "--config", fifo), "pipe.png"),
        (("check", good, cand), "same.png"),
    ]
    for args, name in cases:
        result = run_cli(*args, timeout=HANG)
        assert result.returncode == 2, (args, result)
        one_error_line(result.stderr, name)
    assert folder.is_dir() and not list(folder.iterdir())
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("args, option", [
    (("compare", "{a}", "{a}", "--color", "nope"), "--color"),
    (("compare", "{a}", "{a}", "--no-such-option"), "--no-such-option"),
    (("compare", "{a}"), "CANDIDATE"),
    (("batch", "{base}", "{cand}", "-j", "0"), "--jobs"),
    (("check", "{base}", "{cand}", "--min-ssim", "high"), "--min-ssim"),
    (("batch", "{base}", "{cand}", "--scheduler", "garbage"), "--scheduler"),
    (("batch", "{base}", "{cand}", "--scheduler", "not-a-host:99999"), "--scheduler"),
    (("batch", "{base}", "{cand}", "--scheduler", "tcp://256.1.1.1:8786"), "--scheduler"),
    (("batch", "{base}", "{cand}", "{cand}", "--scheduler", "garbage"), "--scheduler"),
])
def test_a_bad_option_value_is_one_line_naming_the_option(run_cli, trees, args, option):
    base, cand = trees
    values = {"a": base / "same.png", "base": base, "cand": cand}
    result = run_cli(*(str(a).format(**values) for a in args), timeout=HANG)
    assert result.returncode == 2, result
    one_error_line(result.stderr, option)
    assert "Usage:" not in result.stderr and "internal error" not in result.stderr


def test_a_bad_glob_in_the_configuration_names_the_file_and_key(run_cli, trees, tmp_path):
    base, cand = trees
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.ssim-l1]\n\n[[tool.ssim-l1.overrides]]\nglob = "[z-a]*.png"\nmin-ssim = 0.5\n')
    result = run_cli("check", base, cand, cwd=project)
    assert result.returncode == 2, result
    line = one_error_line(result.stderr, "pyproject.toml", "glob", "[z-a]*.png", "overrides[0]")
    assert "internal error" not in line


# --- 4. reports safe to open in a spreadsheet ----------------------------------------------

HOSTILE = ["=HYPERLINK(1).png", "+cmd.png", "-x.png", "@SUM(A1).png", "'=quoted.png",
           "''+twice.png", "'plain.png", "::warning::x.png", "##[group]x.png", "a=b.png"]
#: Where a formula or a workflow command could start (OWASP's list, GitHub's two markers).
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "::", "##[")


def _hostile_trees(tmp_path: Path) -> tuple[Path, Path]:
    ref, cand = tmp_path / "ref", tmp_path / "cand"
    for index, name in enumerate(HOSTILE):
        save_png(ref / name, photo_like(24, 24, 3, seed=index))
        save_png(cand / name, photo_like(24, 24, 3, seed=index + 50))
    pixels = np.round(photo_like(24, 24, 3, seed=99) * 255).astype(np.uint8)
    save_png(ref / "inverted.png", pixels)
    save_png(cand / "inverted.png", 255 - pixels)  # SSIM below zero: a negative number
    return ref, cand


def _records(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text, newline="")))


def _safe(cell: str) -> bool:
    return not cell.startswith(DANGEROUS) or _is_number(cell)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_csv_cells_never_start_a_formula_and_numbers_stay_numbers(run_cli, tmp_path):
    ref, cand = _hostile_trees(tmp_path)
    result = run_cli("batch", ref, cand, "--format", "csv")
    assert result.returncode == 0, result
    records = _records(result.stdout)
    assert len(records) == len(HOSTILE) + 1
    for record in records:
        for column, cell in record.items():
            assert _safe(cell), (column, cell)
    # Exactly one "'" more on the names that needed it; the others as they are.
    names = {record["name"] for record in records}
    expected = {("'" + n if n.startswith(("=", "+", "-", "@", "::", "##[", "'=", "''+")) else n)
                for n in HOSTILE} | {"inverted.png"}
    assert names == expected
    inverted = next(r for r in records if r["name"] == "inverted.png")
    assert inverted["ssim"].startswith("-") and float(inverted["ssim"]) < 0  # a number
    shutil.copy(cand / "=HYPERLINK(1).png", ref / "-candidate.png")
    single = run_cli("compare", "--format", "csv", "--", "=HYPERLINK(1).png", "-candidate.png",
                     cwd=ref)
    assert single.returncode == 0, single
    (row,) = _records(single.stdout)
    assert all(_safe(cell) for cell in row.values()), row
    assert (row["reference"], row["candidate"]) == ("'=HYPERLINK(1).png", "'-candidate.png")


def test_resume_reads_the_marked_names_back(run_cli, tmp_path):
    ref, cand = _hostile_trees(tmp_path)
    out = tmp_path / "rows.csv"
    assert run_cli("batch", ref, cand, "--format", "csv", "-o", out).returncode == 0
    before = out.read_text()
    result = run_cli("batch", ref, cand, "--format", "csv", "-o", out, "--resume")
    assert result.returncode == 0, result
    count = len(HOSTILE) + 1
    assert f"resuming: {count} of {count} pairs already" in result.stderr, result
    assert sorted(r["name"] for r in _records(out.read_text())) == sorted(
        r["name"] for r in _records(before))
    # Several trees: the method column and the names come back too.
    methods = tmp_path / "methods.csv"
    other = tmp_path / "=other"
    shutil.copytree(cand, other)
    assert run_cli("batch", ref, cand, other, "--format", "csv", "-o", methods).returncode == 0
    again = run_cli("batch", ref, cand, other, "--format", "csv", "-o", methods, "--resume")
    assert again.returncode == 0, again
    assert f"{2 * count}" in again.stderr and "resuming" in again.stderr, again


def test_no_csv_line_on_stdout_is_a_workflow_command_under_github_actions(run_cli, tmp_path):
    ref, cand = _hostile_trees(tmp_path)
    result = run_cli("batch", ref, cand, "--format", "csv",
                     env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": ""})
    assert result.returncode == 0, result
    for line in result.stdout.splitlines():
        assert not line.lstrip().startswith(("::", "##[")), line


# --- 7. MATLAB's rounded Y: --color y8 -------------------------------------------------------

def matlab_rgb2ycbcr_y_uint8(rgb8: np.ndarray) -> np.ndarray:
    """Y of MATLAB's ``rgb2ycbcr`` on a ``uint8`` image, transcribed from rgb2ycbcr.m: for
    ``uint8`` the matrix is scaled by 1/255 and the offset kept, ``imlincomb(T(1,1), R, T(1,2),
    G, T(1,3), B, 16)`` returns ``uint8``, which rounds half away from zero. Computed here in
    exact decimal arithmetic, one colour at a time, so no float rounding decides a half level."""
    from decimal import ROUND_HALF_UP, Decimal

    colours, inverse = np.unique(rgb8.reshape(-1, 3), axis=0, return_inverse=True)
    weights = (Decimal("65.481"), Decimal("128.553"), Decimal("24.966"))
    levels = np.array([
        int((16 + sum(w * int(c) for w, c in zip(weights, colour, strict=True)) / 255)
            .quantize(Decimal(1), rounding=ROUND_HALF_UP))
        for colour in colours], dtype=np.int64)
    return levels[inverse.ravel()].reshape(rgb8.shape[:2])


def _psnr_levels(a: np.ndarray, b: np.ndarray) -> float:
    """MATLAB-style PSNR of two 8-bit Y images: 10 log10(255^2 / MSE), by hand."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0 ** 2 / mse)


def test_y8_is_matlab_rgb2ycbcr_of_uint8_exactly():
    import imageio.v3 as iio
    from conftest import SAMPLES

    from ssimcli.pipeline.prepare import studio_y8

    rng = np.random.default_rng(3)
    # Colours whose exact Y lies on a half level: MATLAB's rounding of the exact value goes up.
    every_tie = np.array([[r, g, b] for r in range(256) for g in range(0, 256, 3)
                          for b in range(0, 256, 3)
                          if (65481 * r + 128553 * g + 24966 * b) % 255000 == 127500], np.uint8)
    assert len(every_tie) > 10
    images = [iio.imread(SAMPLES / "astronaut.png")[:128, :128],
              rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)]
    images.append(every_tie.reshape(1, -1, 3))
    for rgb in images:
        expected = matlab_rgb2ycbcr_y_uint8(rgb)
        got = studio_y8(rgb)[:, :, 0] * 255
        assert np.array_equal(np.round(got).astype(np.int64), expected)
        assert np.abs(got - expected).max() < 1e-9
    # Float input (values / 255) rounds the same way away from exact ties.
    rgb = images[1]
    from_float = studio_y8(rgb.astype(np.float64) / 255)[:, :, 0] * 255
    assert np.array_equal(np.round(from_float).astype(np.int64), matlab_rgb2ycbcr_y_uint8(rgb))


@pytest.mark.parametrize("crop", [0, 4])
def test_y8_psnr_and_ssim_in_every_command(run_cli, tmp_path, crop):
    import imageio.v3 as iio
    from conftest import SAMPLES

    import ssimcli

    x = iio.imread(SAMPLES / "astronaut.png")
    y = iio.imread(SAMPLES / "astronaut_jpeg.jpg")
    ya, yb = matlab_rgb2ycbcr_y_uint8(x), matlab_rgb2ycbcr_y_uint8(y)
    if crop:
        ya, yb = ya[crop:-crop, crop:-crop], yb[crop:-crop, crop:-crop]
    expected = _psnr_levels(ya, yb)
    from skimage.metrics import structural_similarity

    expected_ssim = structural_similarity(ya.astype(np.float64), yb.astype(np.float64),
                                          data_range=255, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)
    api = ssimcli.compare(SAMPLES / "astronaut.png", SAMPLES / "astronaut_jpeg.jpg",
                          color="y8", crop=crop)
    assert api.metrics.psnr == pytest.approx(expected, abs=1e-7)
    assert api.channel_names == ["Y"]
    rounded_away = ssimcli.compare(SAMPLES / "astronaut.png", SAMPLES / "astronaut_jpeg.jpg",
                                   color="y", crop=crop).metrics.psnr
    assert abs(rounded_away - expected) > 1e-4  # y and y8 are different conventions

    cli = run_cli("compare", SAMPLES / "astronaut.png", SAMPLES / "astronaut_jpeg.jpg",
                  "--color", "y8", "--crop", crop, "--format", "json")
    assert cli.returncode == 0, cli
    document = json.loads(cli.stdout)
    assert document["psnr"] == pytest.approx(expected, abs=1e-7)
    assert document["ssim"] == pytest.approx(expected_ssim, abs=2e-5)

    ref, cand = tmp_path / "ref", tmp_path / "cand"
    ref.mkdir()
    cand.mkdir()
    shutil.copy(SAMPLES / "astronaut.png", ref / "a.png")
    iio.imwrite(cand / "a.png", y)
    batch = run_cli("batch", ref, cand, "--color", "y8", "--crop", crop, "--format", "csv")
    assert batch.returncode == 0, batch
    import csv
    import io

    (row,) = list(csv.DictReader(io.StringIO(batch.stdout, newline="")))
    assert float(row["psnr"]) == pytest.approx(expected, abs=1e-7)
    assert row["color"] == "y8" and "psnr_Y" in row
    report = tmp_path / "check.json"
    check = run_cli("check", ref, cand, "--color", "y8", "--crop", crop, "--min-ssim", "off",
                    "--max-changed-pixels", "off", "--json", report)
    assert check.returncode == 0, check
    assert json.loads(report.read_text())["pairs"][0]["psnr"] == pytest.approx(expected, abs=1e-7)
    paper = run_cli("batch", ref, cand, "--color", "y8", "--crop", crop, "--format", "markdown",
                    "--metrics", "psnr", "--decimals", "6")
    assert paper.returncode == 0, paper
    assert f"{expected:.6f}" in paper.stdout


def test_y8_is_a_documented_choice(run_cli):
    result = run_cli("compare", "--help")
    assert "y8" in result.stdout
    bad = run_cli("compare", "a.png", "b.png", "--color", "y16")
    assert bad.returncode == 2 and "y8" in one_error_line(bad.stderr, "--color")
