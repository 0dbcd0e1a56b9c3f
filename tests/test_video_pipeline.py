"""`ssimcli.pipeline.video.compare_videos`, the Python API of video comparison.

Expected numbers come from elsewhere: scikit-image's ``structural_similarity`` on the same
planes (Gaussian window, sigma 1.5, population covariance: the ``standard`` preset, which
averages over the same valid region), NumPy's own mean / percentile / harmonic mean for the
pooled statistics, and identity (SSIM exactly 1, PSNR inf). Frames are given as arrays here,
so these tests need no codec; `tests/test_video_cli.py` runs the command on real clips.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity
from video_fixtures import maker, video_clips  # noqa: F401

import ssimcli
from ssimcli.errors import SettingError, SizeMismatch, UsageError
from ssimcli.pipeline.video import VideoLimits, VideoOptions, best_offset, compare_videos

W, H = 96, 64


def clip(count: int, seed: int = 1, start: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Frames of the makers' moving pattern, 8-bit 4:2:0, as (Y, U, V) arrays."""
    return list(maker.pattern_frames(count, W, H, "yuv420p", seed=seed, start=start))


def degrade(frames: list[tuple[np.ndarray, ...]], which: dict[int, float], seed: int = 9
            ) -> list[tuple[np.ndarray, ...]]:
    """Gaussian noise of the given sigma (8-bit levels) on the chosen frames, light noise elsewhere."""
    rng = np.random.default_rng(seed)
    out = []
    for i, planes in enumerate(frames):
        sigma = which.get(i, 2.0)
        out.append(tuple(np.clip(np.rint(p + rng.normal(0, sigma, p.shape)), 0, 255).astype(np.uint8)
                         for p in planes))
    return out


def skimage_ssim(x: np.ndarray, y: np.ndarray, peak: float = 255.0) -> float:
    return float(structural_similarity(x.astype(np.float64), y.astype(np.float64), gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False, data_range=peak))


def test_identical_frames_score_exactly_one_and_psnr_inf():
    frames = clip(4)
    run = compare_videos(frames, frames)
    results = list(run.frames())
    assert [r.index for r in results] == [0, 1, 2, 3]
    for result in results:
        for plane in ("y", "u", "v", "all"):
            assert result.scores[plane]["ssim"] == 1.0
            assert math.isinf(result.scores[plane]["psnr"])
            assert result.scores[plane]["mse"] == 0.0
    summary = run.summary
    assert summary["complete"] and summary["frames_scored"] == 4
    assert summary["planes"]["all"]["ssim"]["mean"] == 1.0


def test_per_plane_ssim_matches_scikit_image_and_all_is_area_weighted():
    ref = clip(3)
    dist = degrade(ref, {1: 12.0})
    results = list(compare_videos(ref, dist).frames())
    for result, r, d in zip(results, ref, dist, strict=True):
        expected = [skimage_ssim(a, b) for a, b in zip(r, d, strict=True)]
        for plane, value in zip(("y", "u", "v"), expected, strict=True):
            # float32 engine against scikit-image's float64 (as tests/test_video_ffmpeg.py)
            assert result.scores[plane]["ssim"] == pytest.approx(value, abs=1e-5)
        areas = [p.size for p in r]
        weighted = sum(v * a for v, a in zip(expected, areas, strict=True)) / sum(areas)
        assert result.scores["all"]["ssim"] == pytest.approx(weighted, abs=1e-5)
        mse_y = float(np.mean((r[0].astype(np.float64) - d[0]) ** 2))
        assert result.scores["y"]["mse"] == pytest.approx(mse_y, rel=1e-4)
        assert result.scores["y"]["psnr"] == pytest.approx(10 * math.log10(255**2 / mse_y), abs=1e-4)


def test_pooled_statistics_are_numpy_s():
    ref = clip(12)
    dist = degrade(ref, {3: 20.0, 7: 9.0})
    run = compare_videos(ref, dist, planes="y")
    values = [skimage_ssim(r[0], d[0]) for r, d in zip(ref, dist, strict=True)]
    run.run()
    stats = run.summary["planes"]["y"]["ssim"]
    array = np.array(values)
    assert stats["mean"] == pytest.approx(array.mean(), abs=1e-5)
    assert stats["harmonic_mean"] == pytest.approx(len(array) / np.sum(1 / array), abs=1e-5)
    assert stats["min"] == pytest.approx(array.min(), abs=1e-5)
    assert stats["max"] == pytest.approx(array.max(), abs=1e-5)
    assert stats["p1"] == pytest.approx(np.percentile(array, 1), abs=1e-5)
    assert stats["p5"] == pytest.approx(np.percentile(array, 5), abs=1e-5)
    assert stats["worst_frame"] == int(np.argmin(array)) == 3
    assert run.summary["plane_names"] == ["y", "all"]


def test_the_two_heavily_degraded_frames_are_the_worst_two():
    ref = clip(14)
    dist = degrade(ref, {5: 40.0, 9: 25.0})
    run = compare_videos(ref, dist, worst=2)
    run.run()
    assert [w["frame"] for w in run.summary["worst_frames"]] == [5, 9]
    # by a distance, the worst is the largest
    run = compare_videos(ref, dist, worst=2, worst_by="l1")
    run.run()
    assert [w["frame"] for w in run.summary["worst_frames"]] == [5, 9]


def test_the_heap_keeps_only_k_frames_planes():
    ref = clip(10)
    dist = degrade(ref, {2: 30.0, 6: 30.5})
    run = compare_videos(ref, dist, worst=2, keep_worst=True)
    run.run()
    kept = run.worst_frames()
    assert len(run._heap) == 2 and {w.result.index for w in kept} == {2, 6}
    assert all(w.reference is not None for w in kept)
    maps = run.worst_maps(kept[0])
    assert maps["ssim"].shape == (H, W) and maps["l1"].shape == (H, W)


@pytest.mark.parametrize("k", [1, 3])
def test_offset_skips_leading_distorted_frames(k):
    ref = clip(8)
    dist = clip(k, seed=5, start=300) + ref
    run = compare_videos(ref, dist, offset=k)
    results = list(run.frames())
    assert len(results) == 8 and all(r.scores["all"]["ssim"] == 1.0 for r in results)
    assert results[0].distorted_index == k and results[0].reference_index == 0
    # negative: of the reference
    run = compare_videos(dist, ref, offset=-k)
    assert all(r.scores["all"]["ssim"] == 1.0 for r in run.frames())
    assert run.summary["offset"] == -k


@pytest.mark.parametrize("k", [0, 2, 4, -3])
def test_sync_auto_finds_the_offset(k):
    ref = clip(30)
    lead = clip(abs(k), seed=5, start=400)
    dist = lead + ref if k >= 0 else ref[abs(k):]
    run = compare_videos(ref, dist, sync=True, sync_window=6)
    results = list(run.frames())
    assert run.summary["offset"] == k and run.summary["sync"]["offset"] == k
    assert all(r.scores["all"]["ssim"] == 1.0 for r in results)


def test_best_offset_prefers_the_smallest_shift_on_a_tie():
    still = [np.zeros((4, 4), np.float32)] * 6
    assert best_offset(still, still, 3)[0] == 0


def test_frame_counts_that_differ_give_one_warning_naming_both():
    ref = clip(10)
    run = compare_videos(ref, ref[:7])
    assert len(list(run.frames())) == 7
    warnings = run.summary["warnings"]
    assert len(warnings) == 1 and "10" in warnings[0] and "7" in warnings[0]


def test_frames_and_every_select_paired_indices():
    ref = clip(12)
    run = compare_videos(ref, ref, frames="3:10", every=3)
    assert [r.index for r in run.frames()] == [3, 6, 9]
    run = compare_videos(ref, ref, frames=":2")
    assert [r.index for r in run.frames()] == [0, 1]
    run = compare_videos(ref, ref, frames="10:")
    assert [r.index for r in run.frames()] == [10, 11]
    assert run.summary["warnings"] == []


def test_sizes_that_differ_are_refused_naming_both():
    small = [tuple(p[::2, ::2].copy() for p in planes) for planes in clip(2)]
    with pytest.raises(SizeMismatch) as caught:
        compare_videos(clip(2), small)
    assert "96x64" in str(caught.value) and "48x32" in str(caught.value)


def test_a_corrupt_frame_stops_after_the_frames_before_it():
    from ssimcli.io.video import VideoFrameError

    ref = clip(8)

    def broken():
        yield from ref[:5]
        raise VideoFrameError("dist.mkv", 5, "cannot decode (Invalid data)")

    run = compare_videos(ref, broken())
    seen = []
    with pytest.raises(VideoFrameError):
        for result in run.frames():
            seen.append(result.index)
    assert seen == [0, 1, 2, 3, 4]
    summary = run.summary
    assert summary["frames_scored"] == 5 and not summary["complete"]
    assert summary["error"]["frame"] == 5


def test_limits_on_the_mean_and_on_every_frame():
    ref = clip(6)
    dist = degrade(ref, {4: 30.0})
    values = [skimage_ssim(r[0], d[0]) for r, d in zip(ref, dist, strict=True)]
    limit = (values[4] + min(v for i, v in enumerate(values) if i != 4)) / 2
    run = compare_videos(ref, dist, planes="y", limits=VideoLimits(min_frame_ssim=limit, min_ssim=0.0))
    run.run()
    summary = run.summary
    assert not summary["passed"]
    assert summary["failing_frames"]["min_frame_ssim"] == [4]
    frame_check = [c for c in summary["thresholds"] if c["rule"] == "min_frame_ssim"][0]
    assert frame_check["frame"] == 4 and not frame_check["passed"]
    assert [c for c in summary["thresholds"] if c["rule"] == "min_ssim"][0]["passed"]


def test_ms_ssim_where_the_plane_is_large_enough():
    frames = list(maker.pattern_frames(2, 192, 176, "yuv420p", seed=1))
    run = compare_videos(frames, degrade(frames, {}), ms_ssim=True)
    result = next(iter(run.frames()))
    assert result.scores["y"]["ms_ssim"] is not None  # 176 >= 161 pixels: five scales
    assert result.scores["u"]["ms_ssim"] is None  # 88 pixels: too small
    assert result.scores["all"]["ms_ssim"] is None
    run.close()


def test_ffmpeg_preset_scores_ssim_and_psnr_only():
    frames = clip(2)
    run = compare_videos(frames, degrade(frames, {}), preset="ffmpeg")
    result = next(iter(run.frames()))
    assert set(result.scores["y"]) == {"ssim", "ssim_db", "psnr", "mse"}
    run.close()


@pytest.mark.parametrize("settings, option", [
    ({"preset": "ffmpeg", "ms_ssim": True}, "ms_ssim"),
    ({"preset": "ffmpeg", "window": 7}, "window"),
    ({"frames": "5"}, "frames"),
    ({"frames": "-2:"}, "frames"),
    ({"planes": "y,q"}, "planes"),
    ({"every": 0}, "every"),
    ({"sync": True, "offset": 2}, "offset"),
    ({"worst_by": "ms_ssim"}, "worst_by"),
])
def test_bad_settings_name_the_setting(settings, option):
    with pytest.raises(SettingError) as caught:
        VideoOptions.build(**settings)
    assert caught.value.setting == option


def test_a_plane_the_video_lacks_is_refused():
    gray = [planes[0] for planes in clip(2)]
    with pytest.raises(UsageError, match="u"):
        compare_videos(gray, gray, planes="y,u")


def test_compare_videos_is_the_public_api():
    assert ssimcli.compare_videos is compare_videos
    from ssimcli.api import compare_videos as from_api

    assert from_api is compare_videos
    assert "compare_videos" in ssimcli.__all__


def test_real_clip_sync_finds_the_two_extra_frames(video_clips):  # noqa: F811
    run = compare_videos(video_clips["ref_ffv1"], video_clips["offset2_ffv1"], sync=True)
    results = list(run.frames())
    assert run.summary["offset"] == 2
    assert len(results) == 24 and all(r.scores["all"]["ssim"] == 1.0 for r in results)
