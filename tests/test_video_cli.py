"""``ssim-l1 video`` run as a user runs it: the installed command on real clips, stdout and
stderr apart, exit codes.

Expected numbers come from elsewhere: FFmpeg's own ``ssim`` and ``psnr`` filters
(`video_fixtures.ffmpeg_stats`: their stats files, compared as text at the decimals ffmpeg
prints) and scikit-image's ``structural_similarity`` on planes decoded by PyAV directly
(`maker.decode_planes`), never our own output. Clips come from `tests/video_fixtures.py`
(``video_clips``) and, for the cases they lack, from the same maker here.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import _cli_command
from skimage.metrics import structural_similarity
from video_fixtures import RAW_ARGS, ffmpeg_stats, have_ffmpeg, maker, parse_stats, video_clips  # noqa: F401

W, H = 160, 96


def _json(result) -> dict:
    assert result.returncode in (0, 1), result
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def worst_pair(tmp_path_factory) -> tuple[Path, Path]:
    """Frames 5 and 9 of the distorted clip degraded heavily (strong noise), the rest lightly."""
    folder = tmp_path_factory.mktemp("worst")
    ref = list(maker.pattern_frames(14, W, H, "yuv420p", seed=1))
    rng = np.random.default_rng(4)
    dist = []
    for i, planes in enumerate(ref):
        sigma = {5: 45.0, 9: 30.0}.get(i, 2.0)
        dist.append(tuple(np.clip(np.rint(p + rng.normal(0, sigma, p.shape)), 0, 255).astype(np.uint8)
                          for p in planes))
    return (maker.write_video(folder / "ref.mkv", ref, "ffv1", "yuv420p"),
            maker.write_video(folder / "dist.mkv", dist, "ffv1", "yuv420p"))


# --------------------------------------------------------------------------- numbers


def test_stats_files_are_ffmpeg_s_own(run_cli, video_clips, tmp_path):  # noqa: F811
    ref, dist = video_clips["ref_ffv1"], video_clips["dist_h264"]
    ssim_file, psnr_file = tmp_path / "ssim.log", tmp_path / "psnr.log"
    result = run_cli("video", ref, dist, "--preset", "ffmpeg", "--stats-file", ssim_file,
                     "--psnr-stats-file", psnr_file, "--format", "json")
    assert result.returncode == 0, result
    ours_ssim = parse_stats(ssim_file.read_text())
    ours_psnr = parse_stats(psnr_file.read_text())
    assert ours_ssim == ffmpeg_stats(ref, dist, "ssim")
    assert ours_psnr == ffmpeg_stats(ref, dist, "psnr")
    assert len(ours_ssim) == 24
    # the format itself: what scripts parse
    first = ssim_file.read_text().splitlines()[0]
    assert first.startswith("n:1 Y:") and " U:" in first and " V:" in first and " All:" in first
    assert psnr_file.read_text().splitlines()[0].startswith("n:1 mse_avg:")


@pytest.mark.skipif(not have_ffmpeg(), reason="no ffmpeg binary (apt-get install ffmpeg)")
@pytest.mark.parametrize("size", [(176, 144), (720, 64)])
def test_stats_file_is_the_x86_build_s_where_its_rows_differ(run_cli, tmp_path, size):
    # Chroma 88 or 360 pixels wide: rows of 4k + 1 windows, where ffmpeg's x86 build prints
    # other values than its C code, depending on its default filter thread count.
    w, h = size
    ref = list(maker.pattern_frames(5, w, h, "yuv420p", seed=w))
    a = maker.write_raw(tmp_path / "ref.yuv", ref)
    b = maker.write_raw(tmp_path / "dist.yuv", maker.noisy(ref, 8, seed=h, sigma=9.0))
    result = run_cli("video", a, b, "--size", f"{w}x{h}", "--preset", "ffmpeg", "--stats-file",
                     tmp_path / "s.log", "--format", "json")
    assert result.returncode == 0, result
    raw = ((w, h), "yuv420p")
    assert parse_stats((tmp_path / "s.log").read_text()) == ffmpeg_stats(
        a, b, "ssim", ref_raw=raw, dist_raw=raw, use_binary=True)


def test_raw_input_scores_as_the_same_frames_in_a_container(run_cli, video_clips, tmp_path):  # noqa: F811
    (w, h), fmt = RAW_ARGS["ref_yuv"]
    raw = run_cli("video", video_clips["ref_yuv"], video_clips["dist_yuv"], "--size", f"{w}x{h}",
                  "--pix-fmt", fmt, "--preset", "ffmpeg", "--stats-file", tmp_path / "raw.log",
                  "--format", "json")
    assert raw.returncode == 0, raw
    expected = ffmpeg_stats(video_clips["ref_yuv"], video_clips["dist_yuv"], "ssim",
                            ref_raw=RAW_ARGS["ref_yuv"], dist_raw=RAW_ARGS["dist_yuv"])
    assert parse_stats((tmp_path / "raw.log").read_text()) == expected
    y4m = _json(run_cli("video", video_clips["ref_y4m"], video_clips["dist_y4m"], "--preset", "ffmpeg",
                        "--format", "json"))
    assert [f["planes"] for f in json.loads(raw.stdout)["frames"]] == [f["planes"] for f in y4m["frames"]]
    # one raw file beside a container: --size is the raw file's, the other is decoded
    mixed = _json(run_cli("video", video_clips["ref_y4m"], video_clips["dist_yuv"], "--size", f"{w}x{h}",
                          "--preset", "ffmpeg", "--format", "json"))
    assert [f["planes"] for f in mixed["frames"]] == [f["planes"] for f in y4m["frames"]]


def test_standard_preset_y_ssim_matches_scikit_image_on_decoded_planes(run_cli, video_clips):  # noqa: F811
    ref, dist = video_clips["ref_ffv1"], video_clips["dist_h264"]
    data = _json(run_cli("video", ref, dist, "--format", "json", "--frames", ":6"))
    pairs = zip(maker.decode_planes(ref), maker.decode_planes(dist), strict=False)
    for frame, (r, d) in zip(data["frames"], pairs, strict=False):
        for plane, a, b in zip(("y", "u", "v"), r, d, strict=True):
            expected = structural_similarity(a.astype(np.float64), b.astype(np.float64), gaussian_weights=True,
                                             sigma=1.5, use_sample_covariance=False, data_range=255)
            assert frame["planes"][plane]["ssim"] == pytest.approx(expected, abs=1e-5)
    assert len(data["frames"]) == 6


def test_json_csv_jsonl_and_stats_agree(run_cli, video_clips, tmp_path):  # noqa: F811
    ref, dist = video_clips["ref_ffv1"], video_clips["dist_h264"]
    common = ("video", ref, dist, "--frames", "2:20", "--every", "3")
    data = _json(run_cli(*common, "--format", "json", "--stats-file", tmp_path / "s.log",
                         "--psnr-stats-file", tmp_path / "p.log"))
    as_csv = run_cli(*common, "--format", "csv")
    assert as_csv.returncode == 0, as_csv
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    jsonl = run_cli(*common, "--format", "jsonl", "-o", tmp_path / "out.jsonl")
    assert jsonl.returncode == 0 and jsonl.stdout == "", jsonl
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    frames = data["frames"]
    assert [f["frame"] for f in frames] == [2, 5, 8, 11, 14, 17]
    assert [x["type"] for x in lines] == ["frame"] * 6 + ["summary"]
    assert [{k: v for k, v in x.items() if k != "type"} for x in lines[:-1]] == frames
    assert lines[-1]["frames_scored"] == data["summary"]["frames_scored"] == 6
    assert len(table) == 6 * 4
    for row in table:
        frame = next(f for f in frames if f["frame"] == int(row["frame"]))
        for metric in ("ssim", "cs", "l1", "ssim_l1", "psnr", "mse"):
            assert float(row[metric]) == frame["planes"][row["plane"]][metric]
    stats = parse_stats((tmp_path / "s.log").read_text())
    assert [int(s["n"]) for s in stats] == [f["frame"] + 1 for f in frames]
    for line, frame in zip(stats, frames, strict=True):
        assert float(line["Y"]) == pytest.approx(frame["planes"]["y"]["ssim"], abs=5e-7)
        assert float(line["All"]) == pytest.approx(frame["planes"]["all"]["ssim"], abs=5e-7)
    psnr = parse_stats((tmp_path / "p.log").read_text())
    for line, frame in zip(psnr, frames, strict=True):
        assert float(line["psnr_y"]) == pytest.approx(frame["planes"]["y"]["psnr"], abs=0.005)
        assert float(line["mse_avg"]) == pytest.approx(frame["planes"]["all"]["mse"], abs=0.005)
    summary = data["summary"]
    ssim_y = [f["planes"]["y"]["ssim"] for f in frames]
    assert summary["planes"]["y"]["ssim"]["mean"] == pytest.approx(np.mean(ssim_y), rel=1e-12)
    assert summary["planes"]["y"]["ssim"]["worst_frame"] == frames[int(np.argmin(ssim_y))]["frame"]


def test_table_names_each_plane_and_statistic(run_cli, video_clips):  # noqa: F811
    result = run_cli("video", video_clips["ref_ffv1"], video_clips["dist_h264"], "--planes", "y")
    assert result.returncode == 0, result
    for text in ("plane y", "all planes", "harmonic", "1 %", "5 %", "worst frame", "SSIM", "PSNR"):
        assert text in result.stdout
    assert "plane u" not in result.stdout
    ffmpeg = run_cli("video", video_clips["ref_ffv1"], video_clips["dist_h264"], "--preset", "ffmpeg")
    assert "CS" not in ffmpeg.stdout.split("preset ffmpeg:")[0] and "SSIM (dB)" in ffmpeg.stdout


# --------------------------------------------------------------------------- alignment


def test_offset_and_sync_auto(run_cli, video_clips):  # noqa: F811
    ref, shifted = video_clips["ref_ffv1"], video_clips["offset2_ffv1"]
    data = _json(run_cli("video", ref, shifted, "--offset", "2", "--format", "json"))
    assert all(f["planes"]["all"]["ssim"] == 1.0 for f in data["frames"]) and len(data["frames"]) == 24
    assert data["frames"][0]["distorted_frame"] == 2
    negative = _json(run_cli("video", shifted, ref, "--offset", "-2", "--format", "json"))
    assert all(f["planes"]["all"]["ssim"] == 1.0 for f in negative["frames"])
    synced = run_cli("video", ref, shifted, "--sync", "auto", "--format", "json")
    assert synced.returncode == 0, synced
    assert json.loads(synced.stdout)["summary"]["offset"] == 2
    assert json.loads(synced.stdout)["summary"]["sync"]["offset"] == 2
    assert "sync: chose offset 2" in synced.stderr


@pytest.mark.parametrize("k", [3, 5])
def test_sync_auto_finds_k_extra_leading_frames(run_cli, tmp_path, k):
    ref = list(maker.pattern_frames(30, W, H, "yuv420p", seed=1))
    lead = list(maker.pattern_frames(k, W, H, "yuv420p", seed=3, start=700))
    a = maker.write_video(tmp_path / "ref.mp4", ref, "libx264", "yuv420p", options={"crf": "16"})
    b = maker.write_video(tmp_path / "dist.mp4", lead + ref, "libx264", "yuv420p", options={"crf": "30"})
    data = _json(run_cli("video", a, b, "--sync", "auto", "--format", "json"))
    assert data["summary"]["offset"] == k


def test_frame_counts_that_differ_warn_once_naming_both(run_cli, video_clips):  # noqa: F811
    result = run_cli("video", video_clips["ref_ffv1"], video_clips["offset2_ffv1"], "--format", "json")
    assert result.returncode == 0, result
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "24" in warnings[0] and "26" in warnings[0]
    assert json.loads(result.stdout)["summary"]["frames_scored"] == 24


def test_sizes_that_differ_exit_2_unless_scaled(run_cli, video_clips):  # noqa: F811
    ref, small = video_clips["ref_ffv1"], video_clips["small_h264"]
    refused = run_cli("video", ref, small)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "160x96" in refused.stderr and "80x48" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    scaled = run_cli("video", ref, small, "--scale-to", "ref", "--scaler", "lanczos", "--format", "json")
    data = _json(scaled)
    assert data["summary"]["scaled"] == {"width": 160, "height": 96, "scaler": "lanczos"}
    assert 0.3 < data["summary"]["planes"]["y"]["ssim"]["mean"] < 1


# --------------------------------------------------------------------------- worst frames


def test_worst_frames_maps_plot_and_page_name_the_degraded_frames(run_cli, worst_pair, tmp_path):
    ref, dist = worst_pair
    maps, plot, page = tmp_path / "maps", tmp_path / "curves.svg", tmp_path / "review" / "page.html"
    result = run_cli("video", ref, dist, "--worst", "2", "--maps", maps, "--plot", plot,
                     "--html", page, "--plot", plot, "--format", "json")
    data = _json(result)
    assert [w["frame"] for w in data["summary"]["worst_frames"]] == [5, 9]
    names = sorted(p.name for p in maps.iterdir())
    assert names == sorted(f"frame_{i:06d}_{role}.png" for i in (5, 9)
                           for role in ("reference", "distorted", "ssim", "l1"))
    from PIL import Image

    with Image.open(maps / "frame_000005_distorted.png") as picture:
        assert picture.size == (W, H) and picture.mode == "RGB"
    svg = plot.read_text()
    assert "frame 5" in svg and "frame 9" in svg and "frame 3" not in svg
    text = page.read_text()
    assert 'id="frame-5"' in text and 'id="frame-9"' in text and "<svg" in text
    assert "Content-Security-Policy" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched: works offline
    pictures = sorted(p.name for p in (tmp_path / "review" / "page_files").iterdir())
    assert "frame_000009_ssim.png" in pictures and len(pictures) == 8


def test_png_plot(run_cli, worst_pair, tmp_path):
    result = run_cli("video", *worst_pair, "--plot", tmp_path / "p.png", "--format", "json")
    assert result.returncode == 0, result
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("video", *worst_pair, "--plot", tmp_path / "p.gif")
    assert bad.returncode == 2 and "--plot" in bad.stderr


# --------------------------------------------------------------------------- CI verdicts


def test_limits_exit_1_and_name_the_failing_frames(run_cli, worst_pair, tmp_path):
    ref, dist = worst_pair
    data = _json(run_cli("video", ref, dist, "--format", "json"))
    values = {f["frame"]: f["planes"]["all"]["ssim"] for f in data["frames"]}
    limit = (values[9] + min(v for i, v in values.items() if i not in (5, 9))) / 2
    failed = run_cli("video", ref, dist, "--min-frame-ssim", limit, "--junit", tmp_path / "j.xml",
                     "--github", "--format", "json")
    assert failed.returncode == 1, failed
    assert "failed on 2 frames: 5, 9" in failed.stderr
    assert "::error file=" in failed.stderr
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert root.get("failures") == "1"
    assert "frame 5" in root.find(".//failure").get("message")
    passing = run_cli("video", ref, dist, "--min-ssim", 0.1, "--min-frame-psnr", 5, "--min-psnr", 5)
    assert passing.returncode == 0, passing
    mean = run_cli("video", ref, dist, "--min-ssim", 0.9999)
    assert mean.returncode == 1 and "mean ssim" in mean.stderr


@pytest.mark.parametrize("args, needle", [
    (["--frames", "nine"], "--frames"),
    (["--planes", "q"], "--planes"),
    (["--preset", "ffmpeg", "--ms-ssim"], "--ms-ssim"),
    (["--sync", "auto", "--offset", "1"], "--offset"),
    (["--size", "12"], "--size"),
])
def test_bad_options_exit_2_in_one_line(run_cli, video_clips, args, needle):  # noqa: F811
    result = run_cli("video", video_clips["ref_ffv1"], video_clips["dist_h264"], *args)
    assert result.returncode == 2, result
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_missing_input_exit_2(run_cli, video_clips, tmp_path):  # noqa: F811
    result = run_cli("video", tmp_path / "nope.mp4", video_clips["dist_h264"])
    assert result.returncode == 2 and "nope.mp4" in result.stderr and "Traceback" not in result.stderr


def test_never_writes_over_an_input(run_cli, video_clips, tmp_path):  # noqa: F811
    ref = tmp_path / "ref.mkv"
    ref.write_bytes(video_clips["ref_ffv1"].read_bytes())
    before = ref.read_bytes()
    result = run_cli("video", ref, video_clips["dist_h264"], "--stats-file", ref)
    assert result.returncode == 2 and "input" in result.stderr
    assert ref.read_bytes() == before


# --------------------------------------------------------------------------- broken runs


@pytest.fixture(scope="module")
def corrupt_clip(tmp_path_factory) -> tuple[Path, Path]:
    """FFV1 with slice CRCs, the middle of frame 6's packet zeroed: the decoder refuses frame 6."""
    import av

    folder = tmp_path_factory.mktemp("corrupt")
    frames = list(maker.pattern_frames(12, W, H, "yuv420p", seed=1))
    ref = maker.write_video(folder / "ref.mkv", frames, "ffv1", "yuv420p")
    good = maker.write_video(folder / "good.mkv", frames, "ffv1", "yuv420p",
                             options={"level": "3", "slicecrc": "1", "g": "1"})
    with av.open(str(good)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(good.read_bytes())
    pos, size = packets[6]
    data[pos + 20:pos + size - 20] = bytes(size - 40)
    bad = folder / "bad.mkv"
    bad.write_bytes(bytes(data))
    return ref, bad


def test_a_corrupt_frame_keeps_what_was_scored_in_every_output(run_cli, corrupt_clip, tmp_path):
    ref, bad = corrupt_clip
    out = run_cli("video", ref, bad, "--format", "jsonl", "-o", tmp_path / "o.jsonl",
                  "--stats-file", tmp_path / "s.log", "--psnr-stats-file", tmp_path / "p.log")
    assert out.returncode == 2, out
    lines = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    frames, summary = lines[:-1], lines[-1]
    # The damaged frame is 6; with frame threads the decoder may notice it a few frames early
    # (ssimcli.io.video: as many as it has threads), never late: what was scored is every frame
    # before the one reported.
    bad_index = summary["error"]["frame"]
    assert 1 <= bad_index <= 6
    assert f"frame {bad_index}" in out.stderr and "Traceback" not in out.stderr
    assert [x["frame"] for x in frames] == list(range(bad_index))
    assert summary["type"] == "summary" and not summary["complete"]
    assert summary["frames_scored"] == bad_index
    assert len(parse_stats((tmp_path / "s.log").read_text())) == bad_index
    assert len(parse_stats((tmp_path / "p.log").read_text())) == bad_index
    as_json = run_cli("video", ref, bad, "--format", "json", "-o", tmp_path / "o.json")
    assert as_json.returncode == 2
    data = json.loads((tmp_path / "o.json").read_text())
    scored = data["summary"]["frames_scored"]
    assert 1 <= scored <= 6 and len(data["frames"]) == scored == data["summary"]["error"]["frame"]
    as_csv = run_cli("video", ref, bad, "--format", "csv")
    assert as_csv.returncode == 2
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert 4 <= len(rows) <= 6 * 4 and len(rows) % 4 == 0


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long enough that Ctrl-C lands mid-run: 640x360, 1500 frames (a few seconds to score)."""
    folder = tmp_path_factory.mktemp("long")
    if not maker.has_encoder("libx264"):
        pytest.skip("this PyAV build has no libx264 encoder")
    base = list(maker.pattern_frames(25, 640, 360, "yuv420p", seed=1))
    return maker.write_video(folder / "long.mkv", (base[i % 25] for i in range(1500)), "libx264",
                             "yuv420p", options={"preset": "ultrafast", "crf": "30"})


def test_ctrl_c_writes_the_frames_so_far_and_exits_130(long_clip, tmp_path):
    out = tmp_path / "partial.jsonl"
    env = {**os.environ, "SSIM_L1_THREADS": "1"}
    proc = subprocess.Popen([*_cli_command(), "video", long_clip, long_clip, "--ms-ssim",
                             "--format", "jsonl", "-o", out, "--stats-file", tmp_path / "s.log"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= 3:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    frames, summary = lines[:-1], lines[-1]
    assert summary["type"] == "summary" and summary["interrupted"] and not summary["complete"]
    assert summary["frames_scored"] == len(frames) >= 3
    assert [f["frame"] for f in frames] == list(range(len(frames)))
    assert len(parse_stats((tmp_path / "s.log").read_text())) == len(frames)


# --------------------------------------------------------------------------- the command itself


def test_help_lists_the_options_and_the_scalers_agree():
    from ssimcli.cli.video import SCALERS
    from ssimcli.io.video import SCALERS as DECODER_SCALERS

    assert SCALERS == DECODER_SCALERS
    result = subprocess.run([*_cli_command(), "video", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--offset", "--sync", "--scale-to", "--stats-file", "--psnr-stats-file", "--worst",
                   "--min-frame-ssim", "--junit", "--github", "--jobs", "--frames", "--every"):
        assert option in result.stdout
    listing = subprocess.run([*_cli_command(), "--help"], capture_output=True, text=True)
    assert "video" in listing.stdout


def test_sample_clips_compare(run_cli):
    root = Path(__file__).resolve().parent.parent / "sample_images"
    data = _json(run_cli("video", root / "clip_ref.mp4", root / "clip_dist.mp4", "--format", "json"))
    assert data["summary"]["frames_scored"] == 64
    assert 0.5 < data["summary"]["planes"]["all"]["ssim"]["mean"] < 1


if sys.platform == "win32":  # pragma: no cover - SIGINT to a child is POSIX-only here
    test_ctrl_c_writes_the_frames_so_far_and_exits_130 = pytest.mark.skip(
        reason="SIGINT delivery")(test_ctrl_c_writes_the_frames_so_far_and_exits_130)
