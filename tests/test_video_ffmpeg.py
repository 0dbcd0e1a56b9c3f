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
import platform
from pathlib import Path

import numpy as np
import pytest
from video_fixtures import RAW_ARGS, ffmpeg_stats, have_ffmpeg, maker, video_clips  # noqa: F401

from ssimcli.io.video import open_video
from ssimcli.metrics import ffmpeg as ff
from ssimcli.metrics.ffmpeg import VfSsim, area_weighted, mse_plane, psnr_average_max, psnr_db, ssim_db, ssim_plane

PAIRS = [
    ("ref_ffv1", "dist_h264"),      # 8-bit 4:2:0, H.264 against lossless FFV1
    ("ref_h264", "dist_h264"),      # both H.264
    ("ref_y4m", "dist_y4m"),        # y4m
    ("ref_yuv", "dist_yuv"),        # raw yuv420p
    ("ref444_yuv", "dist444_yuv"),  # raw yuv444p
    ("ref10_ffv1", "dist10_ffv1"),  # 10-bit 4:2:0 FFV1 (the 16-bit path)
    ("ref10_yuv", "dist10_yuv"),    # raw yuv420p10le
    ("ref10_ffv1", "dist10_hevc"),  # 10-bit HEVC, when libx265 is in PyAV's build
    ("ref_ffv1", "dist_vp9"),       # VP9 in WebM
    ("ref422_10_ffv1", "dist422_10_prores"),  # 10-bit 4:2:2 ProRes in MOV
    ("ref_gray10_yuv", "dist_gray10_yuv"),  # one 10-bit plane
    ("ref_ffv1", "identical_ffv1"),  # identical: SSIM 1, dB inf, PSNR inf
]
BACKENDS = ["binary", "pyav"]
ENGINES = ["native", "numpy"]


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    """Each exactness test runs on the compiled sums and on the NumPy ones."""
    if request.param == "native" and ff._native is None:
        pytest.skip("the compiled _ffssim module is not built")
    monkeypatch.setattr(ff, "_FORCE_NUMPY", request.param == "numpy")
    return request.param


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
def test_ssim_and_psnr_match_ffmpeg_stats(video_clips, ref, dist, backend, engine):  # noqa: F811
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


# Plane widths whose rows have 4k + 1 windows: 176 (chroma 88: 21 windows), 168 (luma: 41),
# 720 (chroma 360: 89). There ffmpeg's x86 build prints values that depend on its thread count.
QUIRK_SIZES = [(176, 144), (168, 96), (720, 64), (170, 98)]


@pytest.fixture(scope="module")
def quirk_clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("quirk")
    out = {}
    for w, h in QUIRK_SIZES:
        ref = list(maker.pattern_frames(6, w, h, "yuv420p", seed=w))
        out[(w, h)] = (maker.write_raw(d / f"ref{w}x{h}.yuv", ref),
                       maker.write_raw(d / f"dist{w}x{h}.yuv", maker.noisy(ref, 8, seed=h, sigma=9.0)))
    return out


@pytest.mark.skipif(not have_ffmpeg(), reason="no ffmpeg binary (apt-get install ffmpeg)")
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the stale-window rows are x86 assembly's; other builds run the C code")
@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("size", QUIRK_SIZES, ids=[f"{w}x{h}" for w, h in QUIRK_SIZES])
def test_vfssim_reproduces_the_x86_build_at_any_thread_count(quirk_clips, size, threads, engine):
    ref, dist = quirk_clips[size]
    raw = (size, "yuv420p")
    expected = ffmpeg_stats(ref, dist, "ssim", ref_raw=raw, dist_raw=raw, use_binary=True, threads=threads)
    state = VfSsim(threads=threads)
    with open_video(ref, size=size) as a, open_video(dist, size=size) as b:
        for n, (fa, fb) in enumerate(zip(a, b, strict=True)):
            values = state.frame(fa.planes, fb.planes, 255)
            got = {k: f"{v:f}" for k, v in zip("YUV", values, strict=True)}
            assert got == {k: expected[n][k] for k in "YUV"}, f"frame {n + 1}"
    assert state.exact


def test_quirk_applies_to_the_widths_it_should():
    assert VfSsim.quirk_applies([(144, 176), (72, 88), (72, 88)], 8)  # chroma 88: 22 blocks
    assert VfSsim.quirk_applies([(96, 168), (48, 84), (48, 84)], 8)  # luma 168: 42 blocks
    assert not VfSsim.quirk_applies([(1080, 1920), (540, 960), (540, 960)], 8)
    assert not VfSsim.quirk_applies([(144, 176), (72, 88), (72, 88)], 10)  # the C path


def test_vfssim_without_x86_is_the_c_code(video_clips):  # noqa: F811
    state = VfSsim(threads=3, x86=False)
    with _open(video_clips, "ref_yuv") as a, _open(video_clips, "dist_yuv") as b:
        for fa, fb in zip(a, b, strict=True):
            assert state.frame(fa.planes, fb.planes, 255) == [ssim_plane(x, y, 255)
                                                              for x, y in zip(fa.planes, fb.planes, strict=True)]


def test_default_thread_count_is_libavfilters():
    # libavfilter/pthread.c: "use number of cores + 1 as thread count if there is more than one".
    assert [ff.ffmpeg_default_threads(n) for n in (1, 2, 8)] == [1, 3, 9]


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


@pytest.mark.skipif(ff._native is None, reason="the compiled _ffssim module is not built")
@pytest.mark.parametrize("max_value", [255, 1023, 4095, 65535])
def test_compiled_and_numpy_sums_are_bit_identical(monkeypatch, max_value):
    """Random planes of odd sizes, extreme values included, views with row padding."""
    rng = np.random.default_rng(max_value)
    dtype = np.uint8 if max_value == 255 else np.uint16
    for h, w in [(8, 8), (11, 13), (37, 90), (64, 171)]:
        a = rng.integers(0, max_value + 1, (h, w + 3)).astype(dtype)[:, :w]  # rows padded
        b = np.clip(a.astype(np.int64) + rng.integers(-40, 41, (h, w)), 0, max_value).astype(dtype)
        a[:2] = max_value
        b[:1] = 0
        for drop_last in (False, True):
            native = ff.row_sums(a, b, max_value, drop_last=drop_last)
            monkeypatch.setattr(ff, "_FORCE_NUMPY", True)
            numpy_ = ff.row_sums(a, b, max_value, drop_last=drop_last)
            mse = mse_plane(a, b)
            monkeypatch.setattr(ff, "_FORCE_NUMPY", False)
            assert native.tobytes() == numpy_.tobytes()
            assert mse_plane(a, b) == mse


def test_bad_planes_are_value_errors():
    a = np.zeros((16, 16), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        ssim_plane(a, np.zeros((16, 8), np.uint8), 255)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        ssim_plane(a, a.astype(np.uint16), 255)
    with pytest.raises(ValueError, match="max_value 255"):
        ssim_plane(a, a, 1023)
