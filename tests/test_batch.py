"""``ssim-l1 batch`` as a user runs it: real PNG/JPEG trees, the installed CLI, separate streams.

Expected numbers are never copied from our own output: every per-pair value is checked against
``ssim-l1 compare --format json`` on the same two files (the independent path the issue names),
and summary statistics against Python's ``statistics`` module over those values.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from ssimcli.options import CompareOptions
from ssimcli.pipeline.pair import PairJob
from ssimcli.pipeline.resume import read_previous
from ssimcli.pipeline.runners import Task, run_local
from ssimcli.pipeline.summary import Tally

SCORE_KEYS = ("ssim", "cs", "l1", "ssim_l1")


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(image * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ref/ and cand/ trees: colour and grey PNG pairs, a PNG-vs-JPEG pair, one truncated PNG
    candidate, one reference without candidate and one candidate without reference."""
    from conftest import photo_like

    root = tmp_path_factory.mktemp("batch")
    ref, cand = root / "ref", root / "cand"
    for folder in (ref / "nested" / "deep", cand / "nested" / "deep"):
        folder.mkdir(parents=True)
    rng = np.random.default_rng(7)

    def noisy(image: np.ndarray, amount: float) -> np.ndarray:
        return np.clip(image + rng.normal(0, amount, image.shape), 0, 1)

    colour = photo_like(96, 128, 3, seed=1)
    iio.imwrite(ref / "colour.png", to_uint8(colour))
    iio.imwrite(cand / "colour.png", to_uint8(noisy(colour, 0.05)))
    grey = photo_like(80, 72, 1, seed=2)
    iio.imwrite(ref / "nested" / "grey.png", to_uint8(grey))
    iio.imwrite(cand / "nested" / "grey.png", to_uint8(noisy(grey, 0.02)))
    deep = photo_like(64, 64, 3, seed=3)
    iio.imwrite(ref / "nested" / "deep" / "photo.png", to_uint8(deep))
    # Same stem, JPEG extension: paired without options (the one candidate with that stem).
    iio.imwrite(cand / "nested" / "deep" / "photo.jpg", to_uint8(deep), quality=40)
    broken = photo_like(64, 80, 3, seed=4)
    iio.imwrite(ref / "broken.png", to_uint8(broken))
    iio.imwrite(cand / "broken.png", to_uint8(broken))
    data = (cand / "broken.png").read_bytes()
    (cand / "broken.png").write_bytes(data[: len(data) // 2])
    iio.imwrite(ref / "only_ref.png", to_uint8(photo_like(32, 32, 3, seed=5)))
    iio.imwrite(cand / "only_cand.png", to_uint8(photo_like(32, 32, 3, seed=6)))
    return {"root": root, "ref": ref, "cand": cand}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, dataset: dict[str, Path]) -> dict[str, Path]:
    """Three good pairs only (no broken, missing or extra file): exit codes 0 and 1."""
    root = tmp_path_factory.mktemp("clean")
    for side in ("ref", "cand"):
        for name in ("colour.png", "nested/grey.png"):
            target = root / side / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((dataset[side] / name).read_bytes())
    (root / "ref" / "second.png").write_bytes((dataset["ref"] / "colour.png").read_bytes())
    (root / "cand" / "second.png").write_bytes((dataset["ref"] / "colour.png").read_bytes())
    return {"root": root, "ref": root / "ref", "cand": root / "cand"}


@pytest.fixture(scope="module")
def json_run(dataset: dict[str, Path]) -> tuple[int, dict, str]:
    import subprocess
    import sys

    from conftest import _cli_command

    proc = subprocess.run(
        [*_cli_command(), "batch", "ref", "cand", "--format", "json", "--jobs", "2"],
        capture_output=True, text=True, cwd=dataset["root"], stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.stdout, proc.stderr
    sys.stderr.write(proc.stderr)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_json_contract_errors_and_unmatched(json_run: tuple[int, dict, str]) -> None:
    code, payload, stderr = json_run
    # A truncated candidate: exit 2, reported in one line naming the file, others still scored.
    assert code == 2
    assert {"pairs", "missing", "extra", "summary"} <= set(payload)
    by_name = {entry["name"]: entry for entry in payload["pairs"]}
    assert set(by_name) == {"colour.png", "nested/grey.png", "nested/deep/photo.png",
                            "broken.png"}
    assert "broken.png" in by_name["broken.png"]["error"]
    assert all("error" not in e and all(k in e for k in SCORE_KEYS)
               for n, e in by_name.items() if n != "broken.png")
    assert payload["missing"] == ["only_ref.png"]
    assert payload["extra"] == ["only_cand.png"]
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "broken.png" in error_lines[0]
    assert "Traceback" not in stderr
    assert "only_ref.png" in stderr and "only_cand.png" in stderr


def test_values_equal_compare(json_run: tuple[int, dict, str], dataset: dict[str, Path],
                              run_cli) -> None:
    _, payload, _ = json_run
    for entry in payload["pairs"]:
        if "error" in entry:
            continue
        single = run_cli("compare", entry["reference"], entry["candidate"], "--format", "json",
                         cwd=dataset["root"])
        assert single.returncode == 0, single
        expected = json.loads(single.stdout)
        # Every key of compare's JSON, per-channel values included, is identical: same function.
        for key, value in expected.items():
            assert entry[key] == value, (entry["name"], key)


def test_summary_statistics(json_run: tuple[int, dict, str]) -> None:
    _, payload, _ = json_run
    scored = [e for e in payload["pairs"] if "error" not in e]
    for metric in SCORE_KEYS:
        values = [e[metric] for e in scored]
        got = payload["summary"][metric]
        assert got["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert got["median"] == pytest.approx(statistics.median(values), rel=1e-12)
        assert got["std"] == pytest.approx(statistics.pstdev(values), rel=1e-9, abs=1e-15)
        assert got["min"] == min(values) and got["max"] == max(values)
        # Worst first: lowest similarity, highest distance.
        worst_value = min(values) if metric in ("ssim", "cs") else max(values)
        assert got["worst"][0]["value"] == worst_value
        assert [w["name"] for w in got["worst"]] == [
            e["name"] for e in sorted(scored, key=lambda e: e[metric],
                                      reverse=metric not in ("ssim", "cs"))]


def test_csv_header_and_rows(json_run: tuple[int, dict, str], dataset: dict[str, Path],
                             run_cli) -> None:
    _, payload, _ = json_run
    out = dataset["root"] / "scores.csv"
    result = run_cli("batch", "ref", "cand", "--format", "csv", "--output", out, "--jobs", "1",
                     cwd=dataset["root"])
    assert result.returncode == 2, result
    assert result.stdout == ""
    text = out.read_text()
    assert text.startswith("name,ssim,cs,l1,ssim_l1,")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {e["name"] for e in payload["pairs"]}
    for entry in payload["pairs"]:
        row = rows[entry["name"]]
        if "error" in entry:
            assert row["error"] == entry["error"] and row["ssim"] == ""
        else:
            for key in SCORE_KEYS:
                assert float(row[key]) == entry[key]
            assert row["width"] == str(entry["width"])


def test_thresholds_set_exit_code(clean: dict[str, Path], run_cli) -> None:
    passing = run_cli("batch", clean["ref"], clean["cand"], "--min-ssim", "0", "--max-l1", "1",
                      "--format", "json")
    assert passing.returncode == 0, passing
    assert json.loads(passing.stdout)["passed"] is True
    # "second.png" is identical (SSIM exactly 1); the noisy pairs are below 1.
    failing = run_cli("batch", clean["ref"], clean["cand"], "--min-ssim", "1", "--format", "json")
    assert failing.returncode == 1, failing
    pairs = {e["name"]: e for e in json.loads(failing.stdout)["pairs"]}
    assert pairs["second.png"]["passed"] is True
    assert pairs["colour.png"]["passed"] is False
    assert "threshold failed: colour.png" in failing.stderr


def test_strict_makes_unmatched_an_error(clean: dict[str, Path], dataset: dict[str, Path],
                                         run_cli) -> None:
    assert run_cli("batch", clean["ref"], clean["cand"], "--strict",
                   "--format", "csv").returncode == 0
    result = run_cli("batch", dataset["ref"], dataset["cand"], "--strict")
    assert result.returncode == 2, result
    assert "only_ref.png" in result.stderr and "only_cand.png" in result.stderr
    assert "Traceback" not in result.stderr


def test_suffix_extension_and_glob(tmp_path: Path, photo, run_cli) -> None:
    ref, cand = tmp_path / "gt", tmp_path / "sr"
    (ref / "sub").mkdir(parents=True)
    (cand / "sub").mkdir(parents=True)
    for index, name in enumerate(("a", "sub/b")):
        image = to_uint8(photo(48, 48, 3, seed=index))
        iio.imwrite(ref / f"{name}.png", image)
        iio.imwrite(cand / f"{name}_SR.jpg", image, quality=70)
    result = run_cli("batch", ref, cand, "--suffix", "_SR", "--candidate-ext", "jpg",
                     "--format", "json", "--strict")
    assert result.returncode == 0, result
    pairs = json.loads(result.stdout)["pairs"]
    assert [(p["name"], Path(p["candidate"]).name) for p in pairs] == [
        ("a.png", "a_SR.jpg"), ("sub/b.png", "b_SR.jpg")]
    only = run_cli("batch", ref, cand, "--suffix", "_SR", "--glob", "sub/*", "--format", "json")
    payload = json.loads(only.stdout)
    assert [p["name"] for p in payload["pairs"]] == ["sub/b.png"]
    assert payload["missing"] == [] and payload["extra"] == []


def test_jsonl_streams_and_resumes(clean: dict[str, Path], tmp_path: Path, run_cli) -> None:
    out = tmp_path / "rows.jsonl"
    first = run_cli("batch", clean["ref"], clean["cand"], "--format", "jsonl", "--output", out)
    assert first.returncode == 0, first
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["name"] for r in rows) == ["colour.png", "nested/grey.png", "second.png"]
    # Simulate an interrupted run: one complete row, then half of the next line. The kept row
    # gets a marker value, so that we can see it was skipped rather than scored again.
    lines = out.read_text().splitlines(keepends=True)
    kept = json.loads(lines[0])
    kept["ssim"] = 0.25
    out.write_text(json.dumps(kept) + "\n" + lines[1][: len(lines[1]) // 2])
    again = run_cli("batch", clean["ref"], clean["cand"], "--format", "jsonl", "--output", out,
                    "--resume", "--min-ssim", "0.3")
    # The resumed (marked) row counts in the outcome: it fails the threshold.
    assert again.returncode == 1, again
    assert "resuming: 1 of 3" in again.stderr
    assert "3 of 3 pairs scored" in again.stderr
    # The summary on stderr covers the kept row too (its marker is the minimum).
    assert "ssim: mean" in again.stderr and "min 0.250000" in again.stderr
    resumed = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(resumed) == sorted(r["name"] for r in rows)
    assert resumed[kept["name"]]["ssim"] == 0.25
    original = {r["name"]: r for r in rows}
    for name, row in resumed.items():
        if name != kept["name"]:
            assert row["ssim"] == original[name]["ssim"]
    other = run_cli("batch", clean["ref"], clean["cand"], "--format", "jsonl", "--output", out,
                    "--resume", "--preset", "seed")
    assert other.returncode == 2 and "--resume" in other.stderr, other
    assert run_cli("batch", clean["ref"], clean["cand"], "--resume").returncode == 2


def test_maps_mirror_the_tree(clean: dict[str, Path], tmp_path: Path, run_cli) -> None:
    maps = tmp_path / "maps"
    result = run_cli("batch", clean["ref"], clean["cand"], "--maps", maps, "--format", "csv")
    assert result.returncode == 0, result
    for name in ("colour.png", "nested/grey.png", "second.png"):
        assert (maps / name / "ssim.png").is_file()
        raw = np.load(maps / name / "ssim.npy")
        assert raw.dtype == np.float32
    grey = np.load(maps / "nested" / "grey.png" / "ssim.npy")
    assert grey.shape == (80, 72)
    # The same maps as `compare --maps` writes for that pair.
    single = tmp_path / "single"
    assert run_cli("compare", clean["ref"] / "nested" / "grey.png",
                   clean["cand"] / "nested" / "grey.png", "--maps", single).returncode == 0
    for path in single.glob("*.npy"):
        assert np.array_equal(np.load(path), np.load(maps / "nested" / "grey.png" / path.name))
    assert len(list(single.glob("*.npy"))) == len(list((maps / "colour.png").glob("*.npy")))
    worst = tmp_path / "worst"
    result = run_cli("batch", clean["ref"], clean["cand"], "--maps", worst, "--maps-worst", "1",
                     "--format", "json")
    assert result.returncode == 0, result
    pairs = json.loads(result.stdout)["pairs"]
    lowest = min(pairs, key=lambda p: p["ssim"])["name"]
    written = sorted(p.parent.relative_to(worst).as_posix() for p in worst.rglob("ssim.png"))
    assert written == [lowest]
    inside = run_cli("batch", clean["ref"], clean["cand"], "--maps", clean["ref"] / "maps")
    assert inside.returncode == 2 and "--maps" in inside.stderr


def test_dask_local_cluster_identical(clean: dict[str, Path], run_cli) -> None:
    distributed = pytest.importorskip("distributed")
    baseline = run_cli("batch", clean["ref"], clean["cand"], "--format", "json", "--jobs", "1")
    assert baseline.returncode == 0, baseline
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        remote = run_cli("batch", clean["ref"], clean["cand"], "--format", "json",
                         "--scheduler", cluster.scheduler_address)
    assert remote.returncode == 0, remote
    assert json.loads(remote.stdout) == json.loads(baseline.stdout)
    local = run_cli("batch", clean["ref"], clean["cand"], "--format", "json",
                    "--scheduler", "local", "--jobs", "2")
    assert local.returncode == 0, local
    assert json.loads(local.stdout) == json.loads(baseline.stdout)


def test_dask_missing_is_one_line(clean: dict[str, Path], tmp_path: Path, run_cli) -> None:
    shadow = tmp_path / "shadow" / "distributed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('distributed is not installed')\n")
    result = run_cli("batch", clean["ref"], clean["cand"], "--scheduler", "local",
                     env={"PYTHONPATH": str(shadow.parent)})
    assert result.returncode == 2, result
    assert "pip install 'ssim-l1[dask]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tally_ranks_worst_first() -> None:
    tally = Tally(worst_n=2)
    for name, ssim, l1 in (("a", 0.9, 0.01), ("b", 0.5, 0.2), ("c", 0.7, 0.05)):
        tally.add({"name": name, "status": "ok", "ssim": ssim, "l1": l1})
    tally.add({"name": "d", "status": "error", "error": "d: broken"})
    summary = tally.summary()
    assert [w["name"] for w in summary["ssim"]["worst"]] == ["b", "c"]
    assert [w["name"] for w in summary["l1"]["worst"]] == ["b", "c"]
    assert summary["ssim"]["count"] == 3 and math.isclose(summary["ssim"]["median"], 0.7)
    assert tally.errors == {"d": "d: broken"}


def test_read_previous_drops_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("name,ssim,status\na.png,0.5,ok\nb.png,0.12")
    rows, header = read_previous(path, "csv")
    assert header == ["name", "ssim", "status"]
    assert rows == [{"name": "a.png", "ssim": 0.5, "status": "ok"}]


def test_progress_bar_only_on_a_terminal(clean: dict[str, Path], run_cli) -> None:
    import os
    import pty
    import subprocess

    from conftest import _cli_command

    quiet = run_cli("batch", clean["ref"], clean["cand"], "--format", "csv")
    assert "━" not in quiet.stderr and "ETA" not in quiet.stderr
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [*_cli_command(), "batch", str(clean["ref"]), str(clean["cand"]), "--format", "json",
             "--jobs", "1"],
            stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL, timeout=120,
            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: everything has been read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "3/3" in terminal and "ETA" in terminal
    # The bar never leaks into the data on stdout.
    assert len(json.loads(proc.stdout)["pairs"]) == 3


def test_interrupted_run_keeps_its_rows_and_resumes(tmp_path: Path, photo) -> None:
    import signal
    import subprocess
    import time

    from conftest import _cli_command

    ref, cand = tmp_path / "ref", tmp_path / "cand"
    ref.mkdir()
    cand.mkdir()
    base = to_uint8(photo(480, 640, 3, seed=11))
    for index in range(8):
        # Rolled copies: distinct pictures without paying for eight generated ones.
        image = np.roll(base, 37 * index, axis=1)
        iio.imwrite(ref / f"p{index}.png", image)
        iio.imwrite(cand / f"p{index}.png", np.roll(image, 1, axis=0))
    out = tmp_path / "rows.jsonl"
    command = [*_cli_command(), "batch", str(ref), str(cand), "--format", "jsonl",
               "--output", str(out), "--jobs", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 1:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.005)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = [json.loads(line) for line in out.read_text().splitlines()]
    assert 1 <= len(done) < 8
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(done)} of 8" in resumed.stderr
    names = [json.loads(line)["name"] for line in out.read_text().splitlines()]
    assert sorted(names) == [f"p{i}.png" for i in range(8)]


def _die(task: Task) -> dict:
    import os

    os._exit(3)  # what the OOM killer does to a worker: no exception, no cleanup


def test_a_pair_that_kills_its_worker_twice_is_an_error_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssimcli.pipeline.runners

    # The pool forks: workers inherit the patched module and so run `_die`.
    monkeypatch.setattr(ssimcli.pipeline.runners, "score_task", _die)
    tasks = [PairJob(f"p{i}.png", f"r/p{i}.png", f"c/p{i}.png", CompareOptions()) for i in range(20)]
    rows = list(run_local(tasks, 2))  # the run goes on: no exception ends it
    assert sorted(r["name"] for r in rows) == sorted(t.name for t in tasks)
    assert all(r["status"] == "error" and "killed, twice" in r["error"] for r in rows)


def test_candidate_name_pairs_a_div2k_layout(tmp_path: Path, photo, run_cli) -> None:
    ref, cand = tmp_path / "DIV2K_valid_HR", tmp_path / "results"
    ref.mkdir()
    cand.mkdir()
    for index in (801, 802):
        image = to_uint8(photo(40, 48, 3, seed=index))
        iio.imwrite(ref / f"0{index}.png", image)
        iio.imwrite(cand / f"0{index}x4_SR.png", image)
    result = run_cli("batch", ref, cand, "--candidate-name", "{stem}x4_SR{ext}", "--format",
                     "json", "--strict")
    assert result.returncode == 0, result
    pairs = json.loads(result.stdout)["pairs"]
    assert [(p["name"], Path(p["candidate"]).name) for p in pairs] == [
        ("0801.png", "0801x4_SR.png"), ("0802.png", "0802x4_SR.png")]
    assert all(p["ssim"] == 1.0 for p in pairs)
    # A pattern with '*' that two files fit: both named, exit 2, nothing scored or written.
    iio.imwrite(cand / "0801x4_SR_old.png", to_uint8(photo(40, 48, 3, seed=1)))
    out = tmp_path / "scores.csv"
    ambiguous = run_cli("batch", ref, cand, "--candidate-name", "{stem}x4_SR*{ext}",
                        "--format", "csv", "-o", out)
    assert ambiguous.returncode == 2, ambiguous
    assert "ambiguous: 0801.png: --candidate-name '{stem}x4_SR*{ext}' matches 2 files: " \
           "0801x4_SR.png, 0801x4_SR_old.png" in ambiguous.stderr
    assert "error: --candidate-name: 1 reference(s)" in ambiguous.stderr
    assert not out.exists()
    malformed = run_cli("batch", ref, cand, "--candidate-name", "{name}_SR.png")
    assert malformed.returncode == 2 and "--candidate-name must contain {stem}" in \
        malformed.stderr, malformed


def test_pairs_on_every_core_run_the_engine_on_one_thread_each(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """Issue 13: as many workers as cores, each pair on one engine thread (no oversubscription);
    one pair at a time may use every core; Dask workers are single-threaded."""
    import ssimcli.pipeline.runners
    from ssimcli.pipeline.pairing import Pair

    monkeypatch.setattr(ssimcli.pipeline.runners, "usable_cores", lambda: 4)
    assert ssimcli.pipeline.runners.pair_threads(1) is None
    assert [ssimcli.pipeline.runners.pair_threads(jobs) for jobs in (2, 4, 8)] == [2, 1, 1]
    assert ssimcli.pipeline.runners.pair_threads(2, "local") == 1
    pairs = [Pair("a.png", tmp_path / "r" / "a.png", tmp_path / "c" / "a.png")]
    task, = ssimcli.pipeline.runners.make_tasks(pairs, CompareOptions(), threads=1)
    assert task.threads == 1
