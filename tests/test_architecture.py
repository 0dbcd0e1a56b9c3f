"""The shell's contracts (issue 9): one writer, one console, exit codes, one error policy.

Every test runs the installed CLI on real files, except where it calls the library the CLI
itself calls (the pipeline's error policy), which is the point of those tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, _cli_command, mounted_tmpfs

from ssimcli.console import printable
from ssimcli.errors import ExitCode, SettingError

REF, CAND = SAMPLES / "camera.png", SAMPLES / "camera_noise.png"


def _tree(root: Path, count: int = 3) -> tuple[Path, Path]:
    ref, cand = root / "ref", root / "cand"
    ref.mkdir()
    cand.mkdir()
    for index in range(count):
        shutil.copy(REF, ref / f"p{index:03d}.png")
        shutil.copy(CAND, cand / f"p{index:03d}.png")
    return ref, cand


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_output_file_is_0644_under_umask_022(run_cli, tmp_path: Path) -> None:
    ref, cand = _tree(tmp_path)
    out = tmp_path / "out"
    with _umask(0o022):
        assert run_cli("compare", REF, CAND, "-o", out / "one.json", "--format", "json",
                       "--maps", out / "maps").returncode == 0
        assert run_cli("batch", ref, cand, "-o", out / "all.json", "--format", "json").returncode == 0
        assert run_cli("batch", ref, cand, "-o", out / "all.csv", "--format", "csv").returncode == 0
        result = run_cli("check", ref, cand, "--min-ssim", "0", "--max-changed-pixels", "off",
                         "--html", out / "r.html",
                         "--junit", out / "r.xml", "--json", out / "r.json")
        assert result.returncode == 0, result
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 13  # 2 + 1 + 1 + 3 reports + 8 maps
    assert {p.name: oct(_mode(p)) for p in written} == {p.name: "0o644" for p in written}


def test_a_replaced_output_keeps_its_mode(run_cli, tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    target.chmod(0o640)
    assert run_cli("compare", REF, CAND, "--format", "json", "-o", target).returncode == 0
    assert _mode(target) == 0o640 and target.read_text().startswith("{")


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 64 KiB tmpfs: real ENOSPC (needs root and mount; skipped otherwise)."""
    with mounted_tmpfs(tmp_path / "tiny", "64k") as mount:
        yield mount


def test_a_failed_write_leaves_no_temporary_file_and_says_one_line(run_cli, tiny_disk: Path,
                                                                    tmp_path: Path) -> None:
    result = run_cli("compare", REF, CAND, "--maps", tiny_disk / "maps")
    assert result.returncode == ExitCode.BAD_INPUT, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(tiny_disk) in lines[0]
    assert "No space left on device" in lines[0] and "Traceback" not in result.stderr
    assert not [p for p in tiny_disk.rglob("*") if "ssim-l1-tmp" in p.name]


def test_the_library_writer_cleans_up_when_the_disk_fills(tiny_disk: Path) -> None:
    from ssimcli.errors import OutputError
    from ssimcli.io.output import write_bytes

    (tiny_disk / "kept.txt").write_text("before")
    with pytest.raises(OutputError, match="No space left on device"):
        write_bytes(tiny_disk / "kept.txt", b"x" * 1_000_000)
    assert (tiny_disk / "kept.txt").read_text() == "before"  # the old file is untouched
    assert [p.name for p in tiny_disk.iterdir()] == ["kept.txt"]


def _run_python(code: str, *args: str, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120,
                          stdin=subprocess.DEVNULL)


# The real entry point, with one library function made to raise as a bug would.
_BROKEN_TABLE = """
import sys, ssimcli.reports.compare
def broken(*args, **kwargs):
    raise RuntimeError("simulated bug")
ssimcli.reports.compare.compare_table = broken
from ssimcli.cli import main
main(sys.argv[1:])
"""


def test_an_unexpected_exception_exits_3_with_one_line(tmp_path: Path) -> None:
    done = _run_python(_BROKEN_TABLE, "compare", str(REF), str(CAND))
    assert done.returncode == ExitCode.INTERNAL_ERROR == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: internal error: RuntimeError")
    assert "report" in lines[0] and "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = _run_python(_BROKEN_TABLE, "--debug", "compare", str(REF), str(CAND))
    assert done.returncode == 3 and "Traceback" in done.stderr and "simulated bug" in done.stderr
    done = _run_python(_BROKEN_TABLE, "compare", str(REF), str(CAND),
                       env={"SSIM_L1_DEBUG": "1"})
    assert done.returncode == 3 and "Traceback" in done.stderr


def test_a_bug_inside_one_pair_is_an_error_row_and_the_batch_goes_on(tmp_path: Path) -> None:
    ref, cand = _tree(tmp_path, 4)
    code = """
import sys, ssimcli.pipeline.score
real = ssimcli.pipeline.score.compare_loaded
def flaky(reference, candidate, *args, **kwargs):
    if reference.path.endswith("p001.png"):
        raise ZeroDivisionError("simulated bug")
    return real(reference, candidate, *args, **kwargs)
ssimcli.pipeline.score.compare_loaded = flaky
from ssimcli.cli import main
main(sys.argv[1:])
"""
    done = _run_python(code, "batch", str(ref), str(cand), "--format", "jsonl", "--jobs", "1")
    rows = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(rows) == 4, done.stderr
    assert sum('"status": "error"' in row for row in rows) == 1
    assert "ZeroDivisionError" in done.stderr and "p001.png" in done.stderr
    assert done.returncode == ExitCode.BAD_INPUT


def test_a_closed_stdout_pipe_exits_141_quietly(tmp_path: Path) -> None:
    ref, cand = _tree(tmp_path, 40)
    proc = subprocess.Popen([*_cli_command(), "batch", str(ref), str(cand), "--format", "jsonl",
                             "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as `| head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == ExitCode.BROKEN_PIPE == 141
    assert "Traceback" not in stderr and "error" not in stderr


def test_library_messages_name_parameters_and_the_cli_names_flags(run_cli) -> None:
    from ssimcli.options import CompareOptions

    with pytest.raises(SettingError, match="^data_range must be a positive number"):
        CompareOptions.build(data_range=-1.0)
    result = run_cli("compare", REF, CAND, "--data-range", "-1")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --data-range must be a positive number, got -1.0"


def test_special_output_files_are_written_in_place(run_cli, tmp_path: Path) -> None:
    result = run_cli("compare", REF, CAND, "--format", "json", "-o", "/dev/null")
    assert result.returncode == 0, result
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = run_cli("compare", REF, CAND, "--format", "json", "-o", fifo)
    assert result.returncode == 0, result
    assert reader.communicate(timeout=60)[0].startswith(b"{")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dash_means_stdout(run_cli) -> None:
    result = run_cli("compare", REF, CAND, "--format", "json", "-o", "-")
    assert result.returncode == 0 and result.stdout.startswith("{")


def test_printable_escapes_control_characters_and_undecodable_bytes() -> None:
    assert printable("plain/name.png") == "plain/name.png"
    assert printable("a\nb\rc\x1b]0;title\x07d\x9b") == "a\\x0ab\\x0dc\\x1b]0;title\\x07d\\x9b"
    assert printable(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert printable("café ✓.png") == "café ✓.png"  # printable Unicode stays as it is


def test_piped_tables_never_wrap_long_names(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / ("a-very-long-folder-name-" * 6)
    folder.mkdir()
    ref, cand = folder / "reference-image.png", folder / "candidate-image.png"
    shutil.copy(REF, ref)
    shutil.copy(CAND, cand)
    result = run_cli("compare", ref, cand)
    assert result.returncode == 0
    assert str(ref) in result.stdout and str(cand) in result.stdout


def test_two_runs_cannot_write_one_output(tmp_path: Path) -> None:
    from ssimcli.errors import OutputError
    from ssimcli.io.output import OutputLock

    target = tmp_path / "rows.csv"
    with OutputLock(target), pytest.raises(OutputError, match="another ssim-l1 run"):
        OutputLock(target)
    OutputLock(target).release()  # free again once the first run is done


def test_the_pipeline_error_policy_names_the_files() -> None:
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.pair import ERROR, INPUT, PairJob, score_pair

    outcome = score_pair(PairJob("x", "/nonexistent/ref.png", str(CAND), CompareOptions()))
    assert outcome.status == ERROR and outcome.error_kind == INPUT
    assert "/nonexistent/ref.png" in (outcome.error or "")
    assert outcome.exit_code == ExitCode.BAD_INPUT
    row = outcome.to_row()
    assert row["status"] == "error" and row["reference"] == "/nonexistent/ref.png"


def test_gpu_batch_pipeline_keeps_going_past_a_bad_pair(tmp_path: Path) -> None:
    """`run_gpu` (backend-agnostic, run on the CPU backend here) applies the same policy."""
    from ssimcli.metrics.backend import cpu_backend
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.pairing import pair_directories
    from ssimcli.pipeline.runners import make_tasks, run_gpu

    ref, cand = _tree(tmp_path, 3)
    (cand / "p001.png").write_bytes(b"not a png")
    pairs = pair_directories(ref, cand).pairs
    rows = {r["name"]: r for r in run_gpu(make_tasks(pairs, CompareOptions()), cpu_backend(), 2)}
    assert [rows[n]["status"] for n in sorted(rows)] == ["ok", "error", "ok"]
    assert str(cand / "p001.png") in rows["p001.png"]["error"]
    assert np.isfinite(rows["p000.png"]["ssim"])


def test_the_review_page_pictures_never_land_inside_a_tree(run_cli, tmp_path: Path) -> None:
    ref, cand = _tree(tmp_path)
    result = run_cli("check", ref, cand, "--html", cand / "report.html")
    assert result.returncode == ExitCode.BAD_INPUT, result
    assert "lies inside" in result.stderr and not (cand / "report_files").exists()
