"""The last edges, end to end: refused baseline updates, reports to special files and full disks,
one line per bad input, spreadsheet-safe CSV, and MATLAB's rounded Y (``--color y8``).

Every case runs the installed ``ssim-l1`` on real files made here: FIFOs (``os.mkfifo``),
``/dev/null``, a 200 KiB tmpfs (root only), directories where files are expected. Expected values
come from the files themselves, Python's ``csv`` module, and an independent transcription of
MATLAB's ``rgb2ycbcr`` for uint8 images.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from conftest import photo_like

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
HANG = 60  # a guard against a hang, never a benchmark


def save_png(path: Path, pixels: np.ndarray) -> Path:
    if pixels.dtype.kind == "f":
        pixels = np.round(pixels * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(imagecodecs.png_encode(pixels))
    return path


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
