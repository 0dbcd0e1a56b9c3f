"""Several methods side by side: ``ssim-l1 batch GT/ A/ B/ C/`` and the paper tables.

Every expected number comes from runs on one candidate tree at a time (the behaviour the
several-tree run must reproduce exactly), or, for the tables, from the summaries by hand.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from ssimcli.reports.paper import latex_table, markdown_table, parse_metrics

METHODS = ("EDSR", "RCAN", "bicubic")
NAMES = ("a.png", "b.png", "nested/c.png")


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def methods_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gt/ and three method folders of 8-bit PNGs; each method a different amount of noise, so
    the best method differs per metric only by design (EDSR best everywhere)."""
    from conftest import photo_like

    root = tmp_path_factory.mktemp("methods")
    rng = np.random.default_rng(12)
    for index, name in enumerate(NAMES):
        truth = photo_like(56, 72, 3, seed=20 + index)
        (root / "gt" / name).parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(root / "gt" / name, np.round(truth * 255).astype(np.uint8))
        for level, method in enumerate(METHODS, 1):
            noisy = np.clip(truth + rng.normal(0, 0.015 * level, truth.shape), 0, 1)
            (root / method / name).parent.mkdir(parents=True, exist_ok=True)
            iio.imwrite(root / method / name, np.round(noisy * 255).astype(np.uint8))
    return root


@pytest.fixture(scope="module")
def single_runs(methods_tree: Path) -> dict[str, dict]:
    """The json document of each method scored on its own (the expected values)."""
    import subprocess

    from conftest import _cli_command

    out = {}
    for method in METHODS:
        proc = subprocess.run([*_cli_command(), "batch", "gt", method, "--format", "json",
                               "--jobs", "1"], capture_output=True, text=True,
                              cwd=methods_tree, stdin=subprocess.DEVNULL, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out[method] = _strict(proc.stdout)
    return out


def test_json_carries_each_single_runs_document(methods_tree: Path, single_runs: dict,
                                                run_cli) -> None:
    result = run_cli("batch", "gt", *METHODS, "--format", "json", "--jobs", "2",
                     cwd=methods_tree)
    assert result.returncode == 0, result
    payload = _strict(result.stdout)
    assert [m["method"] for m in payload["methods"]] == list(METHODS)
    for entry in payload["methods"]:
        single = single_runs[entry["method"]]
        assert entry["candidate"] == entry["method"]
        for key in ("pairs", "missing", "extra", "summary", "counts"):
            assert entry[key] == single[key], key


def test_markdown_and_latex_carry_the_single_means(methods_tree: Path, single_runs: dict,
                                                   run_cli) -> None:
    markdown = run_cli("batch", "gt", *METHODS, "--format", "markdown", "--metrics",
                       "l1,ssim,cs", "--decimals", "5", cwd=methods_tree)
    assert markdown.returncode == 0, markdown
    lines = markdown.stdout.splitlines()
    assert lines[0] == "| Method | L1 (Gauss) | SSIM | CS |"
    assert lines[1] == "|:--|--:|--:|--:|"
    for line, method in zip(lines[2:], METHODS, strict=True):
        summary = single_runs[method]["summary"]
        cells = [f"{summary[m]['mean']:.5f}" for m in ("l1", "ssim", "cs")]
        if method == "EDSR":  # the least noise: best in every column, lowest L1 included
            cells = [f"**{c}**" for c in cells]
        assert line == f"| {method} | " + " | ".join(cells) + " |"

    latex = run_cli("batch", "gt", *METHODS, "--format", "latex", "--metrics", "ssim",
                    cwd=methods_tree)
    assert latex.returncode == 0, latex
    rows = latex.stdout.splitlines()
    assert rows[0] == r"\begin{tabular}{lr}" and rows[-1] == r"\end{tabular}"
    assert r"Method & SSIM \\" in rows
    means = {m: f"{single_runs[m]['summary']['ssim']['mean']:.4f}" for m in METHODS}
    assert rf"EDSR & \textbf{{{means['EDSR']}}} \\" in rows
    assert rf"RCAN & {means['RCAN']} \\" in rows
    assert rf"bicubic & {means['bicubic']} \\" in rows


def test_csv_leads_with_the_method(methods_tree: Path, single_runs: dict, run_cli) -> None:
    result = run_cli("batch", "gt", *METHODS, "--format", "csv", "--jobs", "2",
                     cwd=methods_tree)
    assert result.returncode == 0, result
    assert result.stdout.startswith("method,name,ssim,cs,l1,ssim_l1,")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted((r["method"], r["name"]) for r in rows) == sorted(
        (m, n) for m in METHODS for n in NAMES)
    for method in METHODS:
        single = {p["name"]: p for p in single_runs[method]["pairs"]}
        mine = [r for r in rows if r["method"] == method]
        for row in mine:
            for key in ("ssim", "cs", "l1", "ssim_l1"):
                assert float(row[key]) == single[row["name"]][key]
        for key in ("ssim", "l1"):
            mean = float(np.mean([float(r[key]) for r in mine]))
            assert mean == pytest.approx(single_runs[method]["summary"][key]["mean"],
                                         rel=1e-15)


def test_one_method_paper_table_and_table_of_methods(methods_tree: Path, single_runs: dict,
                                                     run_cli) -> None:
    one = run_cli("batch", "gt", "RCAN", "--format", "markdown", "--metrics", "ssim",
                  cwd=methods_tree)
    assert one.returncode == 0, one
    mean = single_runs["RCAN"]["summary"]["ssim"]["mean"]
    assert one.stdout.splitlines()[2] == f"| RCAN | **{mean:.4f}** |"
    table = run_cli("batch", "gt", *METHODS, cwd=methods_tree)
    assert table.returncode == 0, table
    for method in METHODS:
        line = next(text for text in table.stdout.splitlines() if f" {method} " in text)
        assert f"{single_runs[method]['summary']['ssim']['mean']:.6f}" in line
        assert " 3 " in line  # pairs
    # --metrics shapes only the tables of means: with one tree and the usual table, refused.
    refused = run_cli("batch", "gt", "RCAN", "--metrics", "ssim", cwd=methods_tree)
    assert refused.returncode == 2 and "--metrics" in refused.stderr, refused
    unknown = run_cli("batch", "gt", *METHODS, "--format", "markdown", "--metrics", "ssim,lpips",
                      cwd=methods_tree)
    assert unknown.returncode == 2 and "--metrics" in unknown.stderr, unknown


def test_resume_keys_rows_by_method_and_name(methods_tree: Path, tmp_path: Path,
                                             single_runs: dict, run_cli) -> None:
    out = tmp_path / "rows.jsonl"
    first = run_cli("batch", "gt", *METHODS, "--format", "jsonl", "-o", out, cwd=methods_tree)
    assert first.returncode == 0, first
    lines = out.read_text().splitlines(keepends=True)
    assert len(lines) == len(METHODS) * len(NAMES)
    # The same pair name in two methods: both rows are kept, each marked, and not rescored.
    kept = [json.loads(line) for line in lines if json.loads(line)["name"] == "a.png"][:2]
    for row in kept:
        row["ssim"] = 0.5
    out.write_text("".join(json.dumps(r) + "\n" for r in kept) + lines[-1][:20])
    again = run_cli("batch", "gt", *METHODS, "--format", "jsonl", "-o", out, "--resume",
                    cwd=methods_tree)
    assert again.returncode == 0, again
    assert f"resuming: 2 of {len(METHODS) * len(NAMES)}" in again.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["method"], r["name"]) for r in rows) == sorted(
        (m, n) for m in METHODS for n in NAMES)
    marked = {(r["method"], r["name"]) for r in rows if r["ssim"] == 0.5}
    assert marked == {(r["method"], r["name"]) for r in kept}
    for row in rows:
        if (row["method"], row["name"]) not in marked:
            single = {p["name"]: p for p in single_runs[row["method"]]["pairs"]}
            assert row["ssim"] == single[row["name"]]["ssim"]
    # A file written by a run on one tree has no method column: refused, not mixed.
    lone = tmp_path / "lone.csv"
    assert run_cli("batch", "gt", "EDSR", "--format", "csv", "-o", lone,
                   cwd=methods_tree).returncode == 0
    mixed = run_cli("batch", "gt", *METHODS, "--format", "csv", "-o", lone, "--resume",
                    cwd=methods_tree)
    assert mixed.returncode == 2 and "method" in mixed.stderr, mixed


def test_dask_local_cluster_gives_the_same_methods(methods_tree: Path, run_cli) -> None:
    pytest.importorskip("distributed")
    local = run_cli("batch", "gt", *METHODS, "--format", "json", "--jobs", "1",
                    cwd=methods_tree)
    dask = run_cli("batch", "gt", *METHODS, "--format", "json", "--scheduler", "local",
                   "--jobs", "2", cwd=methods_tree)
    assert local.returncode == 0 and dask.returncode == 0, dask
    assert _strict(dask.stdout) == _strict(local.stdout)


def test_a_reference_is_decoded_once_for_all_methods(methods_tree: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import ssimcli.io.decode
    from ssimcli.options import CompareOptions
    from ssimcli.pipeline.methods import Method, make_jobs, score_methods
    from ssimcli.pipeline.pairing import pair_directories

    decoded: list[str] = []
    real = ssimcli.io.decode.load_image

    def counting(path, data_range=None):  # the real decoder, counted
        decoded.append(Path(path).parent.name + "/" + Path(path).name)
        return real(path, data_range)

    monkeypatch.setattr(ssimcli.io.decode, "load_image", counting)
    methods = [Method(m, str(methods_tree / m), pair_directories(methods_tree / "gt",
                                                                 methods_tree / m))
               for m in METHODS]
    jobs = make_jobs(methods, CompareOptions(), None, done=set())
    assert [job.name for job in jobs] == list(NAMES)
    bundle = score_methods(jobs[0])
    assert decoded.count("gt/a.png") == 1
    assert sorted(decoded) == sorted(["gt/a.png", *(f"{m}/a.png" for m in METHODS)])
    assert [row["method"] for row in bundle["method_rows"]] == list(METHODS)
    assert all(row["status"] == "ok" for row in bundle["method_rows"])


def test_a_bad_candidate_fails_only_its_method(methods_tree: Path, tmp_path: Path,
                                               run_cli) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(methods_tree / "RCAN", broken)
    data = (broken / "b.png").read_bytes()
    (broken / "b.png").write_bytes(data[: len(data) // 3])
    result = run_cli("batch", methods_tree / "gt", methods_tree / "EDSR", broken,
                     "--format", "json")
    assert result.returncode == 2, result
    assert "error: broken: " in result.stderr and "b.png" in result.stderr
    payload = _strict(result.stdout)
    counts = {m["method"]: m["counts"] for m in payload["methods"]}
    assert counts["EDSR"]["errors"] == 0 and counts["broken"]["errors"] == 1
    assert counts["broken"]["scored"] == len(NAMES) - 1


def test_same_folder_names_and_repeated_trees(methods_tree: Path, tmp_path: Path,
                                              run_cli) -> None:
    import shutil

    for parent in ("x", "y"):
        shutil.copytree(methods_tree / "EDSR", tmp_path / parent / "out")
    result = run_cli("batch", methods_tree / "gt", "x/out", "y/out", "--format", "json",
                     cwd=tmp_path)
    assert result.returncode == 0, result
    assert [m["method"] for m in _strict(result.stdout)["methods"]] == ["x/out", "y/out"]
    twice = run_cli("batch", methods_tree / "gt", "x/out", "x/out/", cwd=tmp_path)
    assert twice.returncode == 2 and "given twice" in twice.stderr, twice


SUMMARIES = [
    ("A", {"ssim": {"mean": 0.91234}, "psnr": {"mean": 30.126}, "l1": {"mean": 0.02}}),
    ("B_x4", {"ssim": {"mean": 0.91231}, "psnr": {"mean": math.inf}, "l1": {"mean": 0.01}}),
    ("C", {"ssim": {"mean": 0.8}, "l1": {"mean": 0.03}}),
]


def test_markdown_bold_is_judged_on_printed_values() -> None:
    text = markdown_table(SUMMARIES, ["ssim", "psnr", "l1"])
    assert text.splitlines() == [
        "| Method | SSIM | PSNR (dB) | L1 (Gauss) |",
        "|:--|--:|--:|--:|",
        # 0.91234 and 0.91231 both print 0.9123: both bold. Lower L1 is better.
        "| A | **0.9123** | 30.13 | 0.0200 |",
        "| B_x4 | **0.9123** | **inf** | **0.0100** |",
        "| C | 0.8000 | — | 0.0300 |",
    ]
    assert markdown_table(SUMMARIES, ["ssim"], decimals=5).splitlines()[2] == \
        "| A | **0.91234** |"


def test_latex_escapes_names_and_writes_infinity() -> None:
    text = latex_table(SUMMARIES[:2], ["psnr"])
    assert r"B\_x4 & \textbf{$\infty$} \\" in text.splitlines()
    assert r"Method & PSNR (dB) \\" in text.splitlines()


def test_parse_metrics() -> None:
    from ssimcli.errors import SettingError

    assert parse_metrics("SSIM, psnr") == ["ssim", "psnr"]
    assert parse_metrics(None) is None
    for bad in ("ssim,ssim", "lpips", ","):
        with pytest.raises(SettingError, match="metrics"):
            parse_metrics(bad)


def test_candidate_name_across_method_trees(methods_tree: Path, tmp_path: Path,
                                            run_cli) -> None:
    """Set5-style outputs (baby_EDSR_x4.png): one pattern for every tree, '*' for the tag."""
    import shutil

    for method in ("EDSR", "RCAN"):
        for name in NAMES:
            stem, ext = name.rsplit(".", 1)
            target = tmp_path / method / f"{stem}_{method}_x4.{ext}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(methods_tree / method / name, target)
    tagged = run_cli("batch", methods_tree / "gt", "EDSR", "RCAN", "--candidate-name",
                     "{stem}_*_x4{ext}", "--format", "json", cwd=tmp_path)
    plain = run_cli("batch", "gt", "EDSR", "RCAN", "--format", "json", cwd=methods_tree)
    assert tagged.returncode == 0 and plain.returncode == 0, tagged
    for mine, expected in zip(_strict(tagged.stdout)["methods"],
                              _strict(plain.stdout)["methods"], strict=True):
        assert mine["summary"] == expected["summary"]
        assert mine["missing"] == [] and mine["extra"] == []
    # A second file that fits the pattern: named on stderr, exit 2 before anything is scored.
    shutil.copy(tmp_path / "RCAN" / "a_RCAN_x4.png", tmp_path / "RCAN" / "a_old_x4.png")
    ambiguous = run_cli("batch", methods_tree / "gt", "EDSR", "RCAN", "--candidate-name",
                        "{stem}_*_x4{ext}", "--format", "json", cwd=tmp_path)
    assert ambiguous.returncode == 2, ambiguous
    assert ambiguous.stdout == ""
    assert "ambiguous: a.png: --candidate-name '{stem}_*_x4{ext}' matches 2 files" in \
        ambiguous.stderr
    assert "a_old_x4.png" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    both = run_cli("batch", methods_tree / "gt", "EDSR", "--candidate-name", "{stem}{ext}",
                   "--suffix", "_x4", cwd=tmp_path)
    assert both.returncode == 2 and "--candidate-name cannot be combined" in both.stderr, both


def test_maps_of_several_methods_go_to_one_folder_each(methods_tree: Path, tmp_path: Path,
                                                       run_cli) -> None:
    maps = tmp_path / "maps"
    result = run_cli("batch", "gt", "EDSR", "RCAN", "--maps", maps, "--format", "csv",
                     cwd=methods_tree)
    assert result.returncode == 0, result
    written = sorted(p.parent.relative_to(maps).as_posix() for p in maps.rglob("ssim.npy"))
    assert written == sorted(f"{m}/{n}" for m in ("EDSR", "RCAN") for n in NAMES)
    single = tmp_path / "single"
    assert run_cli("compare", "gt/b.png", "RCAN/b.png", "--maps", single,
                   cwd=methods_tree).returncode == 0
    assert np.array_equal(np.load(single / "ssim.npy"), np.load(maps / "RCAN/b.png/ssim.npy"))
    worst = tmp_path / "worst"
    result = run_cli("batch", "gt", "EDSR", "RCAN", "--maps", worst, "--maps-worst", "1",
                     "--format", "json", cwd=methods_tree)
    assert result.returncode == 0, result
    for entry in _strict(result.stdout)["methods"]:
        lowest = min(entry["pairs"], key=lambda p: p["ssim"])["name"]
        found = sorted(p.parent.relative_to(worst / entry["method"]).as_posix()
                       for p in (worst / entry["method"]).rglob("ssim.npy"))
        assert found == [lowest]
