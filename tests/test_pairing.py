"""Pairing of directory trees: pure file-system rules, checked on real (empty) files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssimcli.errors import InputError, UsageError
from ssimcli.pipeline.pairing import pair_directories


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    ref, cand = tmp_path / "ref", tmp_path / "cand"
    touch(ref, "a.png", "b.png", "nested/deep/c.png", "only_ref.png", "notes.txt", ".hidden.png",
          ".git/x.png")
    touch(cand, "a.png", "b.png", "nested/deep/c.png", "only_cand.png", "readme.md")
    return ref, cand


def test_pairs_by_relative_path_recursively(trees: tuple[Path, Path]) -> None:
    ref, cand = trees
    pairing = pair_directories(ref, cand)
    assert [p.name for p in pairing.pairs] == ["a.png", "b.png", "nested/deep/c.png"]
    nested = pairing.pairs[2]
    assert nested.reference == ref / "nested" / "deep" / "c.png"
    assert nested.candidate == cand / "nested" / "deep" / "c.png"
    # Non-images and hidden files are not files to score, so not reported either.
    assert pairing.missing == ["only_ref.png"]
    assert pairing.extra == ["only_cand.png"]
    assert not pairing.complete


def test_suffix_and_candidate_extension(tmp_path: Path) -> None:
    ref, cand = tmp_path / "gt", tmp_path / "sr"
    touch(ref, "a.png", "sub/b.png")
    touch(cand, "a_SR.jpg", "sub/b_SR.jpg", "sub/b.jpg")
    pairing = pair_directories(ref, cand, suffix="_SR", candidate_ext="JPG")
    assert [(p.name, p.candidate.name) for p in pairing.pairs] == [
        ("a.png", "a_SR.jpg"), ("sub/b.png", "b_SR.jpg")]
    assert pairing.missing == []
    assert pairing.extra == ["sub/b.jpg"]


def test_other_extension_found_without_options_when_unambiguous(tmp_path: Path) -> None:
    ref, cand = tmp_path / "r", tmp_path / "c"
    touch(ref, "a.png", "b.png", "b.tif")
    touch(cand, "a.jpg", "b.tif", "b.webp")
    pairing = pair_directories(ref, cand)
    got = {p.name: p.candidate.name for p in pairing.pairs}
    # b.tif takes its exact match first; b.png then has one candidate left (b.webp).
    assert got == {"a.png": "a.jpg", "b.tif": "b.tif", "b.png": "b.webp"}
    assert pairing.extra == []


def test_ambiguous_other_extension_is_missing(tmp_path: Path) -> None:
    ref, cand = tmp_path / "r", tmp_path / "c"
    touch(ref, "a.png")
    touch(cand, "a.jpg", "a.webp")
    pairing = pair_directories(ref, cand)
    assert pairing.pairs == []
    assert pairing.missing == ["a.png"]
    assert pairing.extra == ["a.jpg", "a.webp"]


def test_glob_selects_both_sides(trees: tuple[Path, Path]) -> None:
    ref, cand = trees
    pairing = pair_directories(ref, cand, glob="nested/*")
    assert [p.name for p in pairing.pairs] == ["nested/deep/c.png"]
    assert pairing.missing == [] and pairing.extra == []
    by_name = pair_directories(ref, cand, glob="only_*")
    assert by_name.missing == ["only_ref.png"] and by_name.extra == ["only_cand.png"]


def test_nested_candidate_directory_is_not_a_reference(tmp_path: Path) -> None:
    ref = tmp_path / "r"
    touch(ref, "a.png", "out/a.png")
    pairing = pair_directories(ref, ref / "out")
    assert [p.name for p in pairing.pairs] == ["a.png"]
    assert pairing.missing == [] and pairing.extra == []


def test_bad_arguments(tmp_path: Path) -> None:
    touch(tmp_path, "file.png")
    with pytest.raises(InputError, match="no such reference directory"):
        pair_directories(tmp_path / "nope", tmp_path)
    with pytest.raises(InputError, match="must be a directory"):
        pair_directories(tmp_path, tmp_path / "file.png")
    # The library names its parameters; the command line names the flags (test_cli_errors).
    with pytest.raises(UsageError, match="^candidate_ext must be an image extension"):
        pair_directories(tmp_path, tmp_path, candidate_ext="txt")
    with pytest.raises(UsageError, match="^suffix must not contain"):
        pair_directories(tmp_path, tmp_path, suffix="a/b")


def test_glob_leaves_other_files_out_of_extra(tmp_path: Path) -> None:
    ref, cand = tmp_path / "r", tmp_path / "c"
    touch(ref, "a.png", "notes.jpg")
    touch(cand, "a.png", "notes.jpg", "b.png")
    pairing = pair_directories(ref, cand, glob="*.png")
    assert [p.name for p in pairing.pairs] == ["a.png"]
    assert pairing.missing == [] and pairing.extra == ["b.png"]
    # With --candidate-ext the candidates' own extension is not held against the glob.
    touch(cand, "a_SR.jpg", "z_SR.jpg")
    sr = pair_directories(ref, cand, glob="*.png", suffix="_SR", candidate_ext="jpg")
    assert [(p.name, p.candidate.name) for p in sr.pairs] == [("a.png", "a_SR.jpg")]
    # Files without the suffix are not candidates of anything, so they are extra too.
    assert sr.extra == ["a.png", "b.png", "notes.jpg", "z_SR.jpg"]


# --- --candidate-name patterns (SR dataset layouts) -------------------------------------------

def test_candidate_name_pairs_div2k_and_set5_layouts(tmp_path: Path) -> None:
    ref, cand = tmp_path / "gt", tmp_path / "sr"
    touch(ref, "0801.png", "0802.png", "sub/baby.png")
    touch(cand, "0801x4_SR.png", "0802x4_SR.PNG", "sub/babyx4_SR.png", "0801x2_SR.png")
    pairing = pair_directories(ref, cand, candidate_name="{stem}x4_SR{ext}")
    assert [(p.name, p.candidate.relative_to(cand).as_posix()) for p in pairing.pairs] == [
        ("0801.png", "0801x4_SR.png"), ("0802.png", "0802x4_SR.PNG"),
        ("sub/baby.png", "sub/babyx4_SR.png")]
    assert pairing.missing == [] and pairing.ambiguous == []
    assert pairing.extra == ["0801x2_SR.png"]

    set5, edsr = tmp_path / "Set5", tmp_path / "EDSR"
    touch(set5, "baby.png", "bird.png")
    touch(edsr, "baby_EDSR_x4.png", "bird_EDSR_x4.png")
    pairing = pair_directories(set5, edsr, candidate_name="{stem}_*_x4.png")
    assert [(p.name, p.candidate.name) for p in pairing.pairs] == [
        ("baby.png", "baby_EDSR_x4.png"), ("bird.png", "bird_EDSR_x4.png")]
    assert pairing.complete


def test_candidate_name_reports_ambiguity_instead_of_guessing(tmp_path: Path) -> None:
    ref, cand = tmp_path / "gt", tmp_path / "sr"
    # Two files fit baby's pattern; one file fits both a's and ab's ('*' can eat "b_x").
    touch(ref, "baby.png", "a.png", "ab.png", "clear.png")
    touch(cand, "baby_EDSR_x4.png", "baby_RCAN_x4.png", "ab_x4.png", "clear_x4.png")
    pairing = pair_directories(ref, cand, candidate_name="{stem}*_x4.png")
    assert [p.name for p in pairing.pairs] == ["clear.png"]
    assert pairing.missing == []
    assert len(pairing.ambiguous) == 3
    baby = next(line for line in pairing.ambiguous if line.startswith("baby.png"))
    assert "2 files" in baby and "baby_EDSR_x4.png" in baby and "baby_RCAN_x4.png" in baby
    shared = [line for line in pairing.ambiguous if "ab_x4.png" in line]
    assert len(shared) == 2 and all("2 references" in line for line in shared)
    assert not pairing.complete


def test_candidate_name_rules(tmp_path: Path) -> None:
    ref, cand = tmp_path / "gt", tmp_path / "sr"
    touch(ref, "a.png")
    touch(cand, "a_SR.png")
    # The pattern names the whole file: not with --suffix or --candidate-ext.
    with pytest.raises(UsageError, match="cannot be combined with suffix"):
        pair_directories(ref, cand, suffix="_SR", candidate_name="{stem}_SR{ext}")
    with pytest.raises(UsageError, match="cannot be combined with candidate_ext"):
        pair_directories(ref, cand, candidate_ext="png", candidate_name="{stem}_SR{ext}")
    for bad, why in (("_SR{ext}", "exactly once"), ("{stem}{stem}.png", "exactly once"),
                     ("{stem}_SR", "image extension"), ("x/{stem}.png", "not a path"),
                     ("{stem}_{scale}.png", "knows only"), ("*{stem}.png", "before")):
        with pytest.raises(UsageError, match=why) as caught:
            pair_directories(ref, cand, candidate_name=bad)
        assert caught.value.for_cli().startswith("--candidate-name")
    # The extension of {ext} is the reference's (any case); a literal one is taken as written.
    touch(cand, "a_SR.jpg")
    pairing = pair_directories(ref, cand, candidate_name="{stem}_SR.jpg")
    assert [p.candidate.name for p in pairing.pairs] == ["a_SR.jpg"]
    assert pairing.extra == ["a_SR.png"]


def test_candidate_name_extra_respects_the_glob(tmp_path: Path) -> None:
    ref, cand = tmp_path / "gt", tmp_path / "sr"
    touch(ref, "set5/a.png", "set14/b.png")
    touch(cand, "set5/a_x4.png", "set5/z_x4.png", "set14/b_x4.png", "set14/y_x4.png")
    pairing = pair_directories(ref, cand, glob="set5/*", candidate_name="{stem}_x4{ext}")
    assert [p.name for p in pairing.pairs] == ["set5/a.png"]
    assert pairing.extra == ["set5/z_x4.png"]
