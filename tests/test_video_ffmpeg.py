"""``--preset ffmpeg`` is exact: ssimcli.metrics.ffmpeg on the planes io/video decodes prints
what FFmpeg's own ``ssim`` and ``psnr`` filters print, frame by frame and plane by plane.

Expected numbers come from FFmpeg itself: its stats files (``stats_file=``), written by the
``ffmpeg`` binary when one is installed (``apt-get install ffmpeg``; its own demuxers and
decoders read the files) and always by PyAV's libavfilter (a filter graph fed with PyAV's
decoded frames). They are compared as text, at the decimals ffmpeg prints (six for SSIM, two
for PSNR and MSE). The default (Gaussian) SSIM per plane is checked against scikit-image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from video_fixtures import RAW_ARGS, ffmpeg_stats, have_ffmpeg, video_clips  # noqa: F401

from ssimcli.io.video import open_video
from ssimcli.metrics.ffmpeg import area_weighted, mse_plane, psnr_average_max, psnr_db, ssim_db, ssim_plane

PAIRS = [
    ("ref_ffv1", "dist_h264"),      # 8-bit 4:2:0, H.264 against lossless FFV1
    ("ref_h264", "dist_h264"),      # both H.264
    ("ref_y4m", "dist_y4m"),        # y4m
    ("ref_yuv", "dist_yuv"),        # raw yuv420p
    ("ref444_yuv", "dist444_yuv"),  # raw yuv444p
    ("ref10_ffv1", "dist10_ffv1"),  # 10-bit 4:2:0 FFV1 (the 16-bit path)
    ("ref10_yuv", "dist10_yuv"),    # raw yuv420p10le
    ("ref10_ffv1", "dist10_hevc"),  # 10-bit HEVC, when libx265 is in PyAV's build
    ("ref_gray10_yuv", "dist_gray10_yuv"),  # one 10-bit plane
    ("ref_ffv1", "identical_ffv1"),  # identical: SSIM 1, dB inf, PSNR inf
]
BACKENDS = ["binary", "pyav"]


def _open(clips: dict[str, Path], name: str):  # noqa: ANN202 - a VideoSource
    raw = RAW_ARGS.get(name)
    return open_video(clips[name], size=raw[0] if raw else None, pix_fmt=raw[1] if raw else None)


def _ours(clips: dict[str, Path], ref: str, dist: str) -> list[dict[str, str]]:
    """Our stats lines, printed with ffmpeg's printf formats."""
    rows = []
    with _open(clips, ref) as a, _open(clips, dist) as b:
        info = a.info
        areas = info.plane_areas
        names = [n.upper() for n in info.planes]
        avg_max = psnr_average_max([info.max_value] * len(areas), areas)
        for fa, fb in zip(a, b, strict=False):
            ssim = [ssim_plane(x, y, info.max_value) for x, y in zip(fa.planes, fb.planes, strict=True)]
            mse = [mse_plane(x, y) for x, y in zip(fa.planes, fb.planes, strict=True)]
            total = area_weighted(ssim, areas)
            mse_avg = area_weighted(mse, areas)
            row = {n: f"{v:f}" for n, v in zip(names, ssim, strict=True)}
            row.update({"All": f"{total:f}", "dB": f"{ssim_db(total):f}", "mse_avg": f"{mse_avg:0.2f}",
                        "psnr_avg": f"{psnr_db(mse_avg, avg_max):0.2f}"})
            for n, m in zip(names, mse, strict=True):
                row[f"mse_{n.lower()}"] = f"{m:0.2f}"
                row[f"psnr_{n.lower()}"] = f"{psnr_db(m, info.max_value):0.2f}"
            rows.append(row)
    return rows


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("ref", "dist"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_ssim_and_psnr_match_ffmpeg_stats(video_clips, ref, dist, backend):  # noqa: F811
    if dist not in video_clips:
        pytest.skip(f"{dist}: encoder not in this FFmpeg build")
    if backend == "binary" and not have_ffmpeg():
        pytest.skip("no ffmpeg binary (apt-get install ffmpeg)")
    kw = {"ref_raw": RAW_ARGS.get(ref), "dist_raw": RAW_ARGS.get(dist), "use_binary": backend == "binary"}
    ssim = ffmpeg_stats(video_clips[ref], video_clips[dist], "ssim", **kw)
    psnr = ffmpeg_stats(video_clips[ref], video_clips[dist], "psnr", **kw)
    ours = _ours(video_clips, ref, dist)
    assert len(ours) == len(ssim) == len(psnr) == 24
    for n, (mine, s, p) in enumerate(zip(ours, ssim, psnr, strict=True)):
        expected = {k: v for k, v in {**s, **p}.items() if k != "n"}
        assert {k: mine[k] for k in expected} == expected, f"frame {n + 1}"


def test_identical_prints_inf(video_clips):  # noqa: F811
    rows = _ours(video_clips, "ref_ffv1", "identical_ffv1")
    assert rows[0]["All"] == "1.000000" and rows[0]["dB"] == "inf"
    assert rows[0]["psnr_avg"] == "inf" and rows[0]["mse_avg"] == "0.00"


def test_ffmpeg_constants_transcribed():
    # vf_ssim.c's x86 assembly spells out the 8-bit constants: ssim_c1 = 416, ssim_c2 = 235963.
    from ssimcli.metrics.ffmpeg import ssim_constants

    assert ssim_constants(255) == (416, 235963)
    # (int)(.01*.01*1023*1023*64 + .5) = (int)(6698.3...) and .03*.03*...*63 in double.
    assert ssim_constants(1023) == (int(.0001 * 1023 * 1023 * 64 + .5), int(.0009 * 1023 * 1023 * 64 * 63 + .5))


def test_ssim_db_and_psnr_edges():
    assert ssim_db(1.0) == math.inf and psnr_db(0.0, 255) == math.inf
    assert ssim_db(0.9) == pytest.approx(10.0)
    assert psnr_db(1.0, 255) == pytest.approx(20 * math.log10(255))


def test_tiny_plane_is_nan():
    a = np.zeros((7, 40), np.uint8)
    assert math.isnan(ssim_plane(a, a, 255))


@pytest.mark.parametrize(("ref", "dist", "bits"), [("ref_ffv1", "dist_h264", 8), ("ref10_yuv", "dist10_yuv", 10)])
def test_default_gaussian_ssim_per_plane_matches_scikit_image(video_clips, ref, dist, bits):  # noqa: F811
    """The standard preset's SSIM of each decoded plane is scikit-image's, to 1e-5."""
    from skimage.metrics import structural_similarity

    from ssimcli.metrics import compute
    from ssimcli.metrics.params import params_for

    data_range = 2 ** bits - 1
    params = params_for("standard")
    with _open(video_clips, ref) as a, _open(video_clips, dist) as b:
        for index, (fa, fb) in enumerate(zip(a, b, strict=False)):
            if index % 8:
                continue
            for x, y in zip(fa.planes, fb.planes, strict=True):
                expected = structural_similarity(x.astype(np.float64), y.astype(np.float64), gaussian_weights=True,
                                                 sigma=1.5, use_sample_covariance=False, data_range=data_range)
                # As pipeline/video.py calls it: native integers, divided by the peak inside.
                got = compute(x, y, params, data_range=1.0, divisor=float(data_range))
                assert got.ssim == pytest.approx(expected, abs=1e-5)
