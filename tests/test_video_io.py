"""io/video.py: what it decodes, and every way an input can be bad.

Expected planes come from the generator's own arrays (lossless FFV1, y4m and raw files hold
them exactly) and from PyAV's ``to_ndarray`` (the decoder's buffers in its own layout); bad
inputs are made by writing, cutting or overwriting real files.
"""

from __future__ import annotations

import gc
import os
import shutil
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
from video_fixtures import HEIGHT, RAW_ARGS, WIDTH, maker, video_clips  # noqa: F401

from ssimcli.errors import InputError, UsageError
from ssimcli.io.video import (
    RAW_PIX_FMTS,
    SCALERS,
    VideoFrameError,
    luma_thumbnail,
    open_video,
    scale_frame,
    scaled_info,
    to_rgb,
)

FRAMES = 24


def _read_all(path: Path, **kw):  # noqa: ANN202
    with open_video(path, **kw) as source:
        return source.info, list(source)


@pytest.mark.parametrize("name", ["ref_ffv1", "ref_y4m", "ref_yuv"])
def test_lossless_8bit_decodes_to_the_generated_planes(video_clips, name):  # noqa: F811
    raw = RAW_ARGS.get(name)
    info, frames = _read_all(video_clips[name], size=raw[0] if raw else None)
    expected = list(maker.pattern_frames(FRAMES, WIDTH, HEIGHT, "yuv420p", seed=1))
    assert (info.width, info.height, info.pix_fmt, info.bit_depth, info.max_value) == (WIDTH, HEIGHT, "yuv420p",
                                                                                        8, 255)
    assert info.planes == ("y", "u", "v")
    assert info.plane_sizes == ((HEIGHT, WIDTH), (HEIGHT // 2, WIDTH // 2), (HEIGHT // 2, WIDTH // 2))
    assert len(frames) == FRAMES and [f.index for f in frames] == list(range(FRAMES))
    for frame, planes in zip(frames, expected, strict=True):
        for got, want in zip(frame.planes, planes, strict=True):
            assert got.dtype == np.uint8 and got.flags.c_contiguous
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["ref10_ffv1", "ref10_yuv"])
def test_10bit_keeps_native_values(video_clips, name):  # noqa: F811
    raw = RAW_ARGS.get(name)
    info, frames = _read_all(video_clips[name], size=raw[0] if raw else None, pix_fmt=raw[1] if raw else None)
    assert (info.pix_fmt, info.bit_depth, info.max_value) == ("yuv420p10le", 10, 1023)
    expected = list(maker.pattern_frames(FRAMES, WIDTH, HEIGHT, "yuv420p10le", seed=2))
    assert max(int(p.max()) for p in expected[0]) > 255  # really 10-bit content
    for frame, planes in zip(frames, expected, strict=True):
        for got, want in zip(frame.planes, planes, strict=True):
            assert got.dtype == np.uint16
            np.testing.assert_array_equal(got, want)


def test_h264_planes_equal_pyavs_own_to_ndarray(video_clips):  # noqa: F811
    path = video_clips["dist_h264"]
    info, frames = _read_all(path)
    assert info.codec == "h264" and info.frame_count == FRAMES and info.fps == pytest.approx(25.0)
    with av.open(str(path)) as container:
        for frame, decoded in zip(frames, container.decode(video=0), strict=True):
            stacked = decoded.to_ndarray()  # yuv420p: Y rows, then U and V rows, each (H/4, W)
            h = HEIGHT
            np.testing.assert_array_equal(frame.planes[0], stacked[:h])
            np.testing.assert_array_equal(frame.planes[1].reshape(-1), stacked[h:h + h // 4].reshape(-1))
            np.testing.assert_array_equal(frame.planes[2].reshape(-1), stacked[h + h // 4:].reshape(-1))
    assert frames[1].pts == pytest.approx(0.04)


def test_444_and_gray_raw(video_clips):  # noqa: F811
    info, frames = _read_all(video_clips["ref444_yuv"], size=(WIDTH, HEIGHT), pix_fmt="yuv444p")
    assert info.plane_sizes == ((HEIGHT, WIDTH),) * 3 and len(frames) == FRAMES
    info, frames = _read_all(video_clips["ref_gray10_yuv"], size=(WIDTH, HEIGHT), pix_fmt="gray10le")
    assert info.planes == ("y",) and info.bit_depth == 10 and frames[0].planes[0].dtype == np.uint16


def test_every_raw_format_round_trips(tmp_path):
    for fmt in RAW_PIX_FMTS:
        if fmt.startswith(("gray", "yuv")) and fmt[:-2].endswith(("12", "16")):
            continue  # same code path as the 10-bit ones
        layout = fmt if fmt in maker._LAYOUT else None
        if layout is None:
            continue
        planes = next(maker.pattern_frames(1, 34, 22, fmt, seed=3))
        path = maker.write_raw(tmp_path / f"{fmt}.yuv", [planes, planes])
        info, frames = _read_all(path, size=(34, 22), pix_fmt=fmt)
        assert len(frames) == 2 and info.pix_fmt == fmt
        for got, want in zip(frames[1].planes, planes, strict=True):
            np.testing.assert_array_equal(got, want)


def test_odd_sizes_round_chroma_up(tmp_path):
    planes = next(maker.pattern_frames(1, 33, 21, "yuv420p", seed=3))
    path = maker.write_raw(tmp_path / "odd.yuv", [planes])
    info, _ = _read_all(path, size=(33, 21))
    assert info.plane_sizes == ((21, 33), (11, 17), (11, 17))


# ---- bad inputs: one InputError naming the file ------------------------------------------


def _assert_input_error(path: Path, fragment: str, **kw) -> InputError:
    with pytest.raises(InputError) as info:
        with open_video(path, **kw) as source:
            for _ in source:
                pass
    message = str(info.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message
    return info.value


def test_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("hello\n" * 50)
    _assert_input_error(path, "not a video FFmpeg can read")


def test_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    _assert_input_error(empty, "not a video")
    _assert_input_error(tmp_path / "missing.mp4", "no such file")
    _assert_input_error(tmp_path / "missing.yuv", "no such file", size=(16, 16))


def test_truncated_mp4_is_refused_at_open(video_clips, tmp_path):  # noqa: F811
    data = video_clips["dist_h264"].read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    _assert_input_error(path, "not a video")


def test_truncated_mkv_raises_after_its_frames(video_clips, tmp_path):  # noqa: F811
    src = video_clips["ref_ffv1"]
    with av.open(str(src)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = packets[12]
    path = tmp_path / "cut.mkv"
    path.write_bytes(src.read_bytes()[: pos + size // 2])
    seen = []
    with pytest.raises(VideoFrameError) as info:
        with open_video(path) as source:
            seen.extend(frame.index for frame in source)
    assert info.value.index == 12 and seen == list(range(12))
    assert "truncated" in str(info.value) and str(info.value).startswith(f"{path}: ")


def test_no_video_stream(tmp_path):
    path = tmp_path / "audio.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    _assert_input_error(path, "no video stream")


def test_raw_length_must_be_whole_frames(video_clips, tmp_path):  # noqa: F811
    path = tmp_path / "short.yuv"
    path.write_bytes(video_clips["ref_yuv"].read_bytes()[:-100])
    error = _assert_input_error(path, "not a whole number", size=(WIDTH, HEIGHT))
    assert "23 whole" in error.problem and "--size" in error.problem
    # The whole file at a wrong size.
    _assert_input_error(video_clips["ref_yuv"], "not a whole number", size=(WIDTH + 2, HEIGHT))


def test_raw_needs_a_size(video_clips):  # noqa: F811
    _assert_input_error(video_clips["ref_yuv"], "--size")


def test_unknown_pixel_format(video_clips):  # noqa: F811
    with pytest.raises(UsageError, match="unknown pixel format 'yuv999p'"):
        open_video(video_clips["ref_yuv"], size=(WIDTH, HEIGHT), pix_fmt="yuv999p")


def test_control_characters_in_ffmpeg_messages_are_not_passed_on(tmp_path):
    path = tmp_path / "bad\x1b[31m.mp4"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError) as info:
        open_video(path)
    assert "\x1b" not in info.value.problem


# ---- a damaged frame in the middle --------------------------------------------------------


@pytest.mark.parametrize("threads", [1, None])
def test_damaged_middle_frame(video_clips, tmp_path, threads):  # noqa: F811
    src = video_clips["ref_ffv1"]
    with av.open(str(src)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    path = tmp_path / "damaged.mkv"
    shutil.copy(src, path)
    pos, size = packets[10]
    with open(path, "r+b") as f:
        f.seek(pos + size // 2)
        f.write(bytes(range(7, 71)))
    seen = []
    with pytest.raises(VideoFrameError) as info:
        with open_video(path, threads=threads) as source:
            seen.extend(frame.index for frame in source)
    index = info.value.index
    # One decoder thread: exactly the damaged frame; frame threads report it up to two early.
    assert index == 10 if threads == 1 else 8 <= index <= 10
    assert seen == list(range(index)) and isinstance(info.value, InputError)
    assert str(info.value).startswith(f"{path}: frame {index}: damaged")
    # strict=False: every frame, as the decoder concealed it.
    with open_video(path, threads=threads, strict=False) as source:
        assert sum(1 for _ in source) == FRAMES


# ---- streaming ----------------------------------------------------------------------------


def test_streaming_memory_does_not_grow_with_length(tmp_path):
    """Python-side peak (tracemalloc) and RSS growth are the same for 40 and 400 frames."""
    path = maker.write_video(tmp_path / "long.mkv", maker.pattern_frames(400, 96, 64, "yuv420p", seed=9), "ffv1",
                             "yuv420p")

    def run(limit: int) -> tuple[int, int]:
        gc.collect()
        tracemalloc.start()
        rss0 = _rss()
        with open_video(path) as source:
            for frame in source:
                if frame.index + 1 >= limit:
                    break
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak, _rss() - rss0

    run(40)  # warm up the decoder's pools
    short_peak, _ = run(40)
    long_peak, long_growth = run(400)
    assert long_peak < short_peak * 1.5 + 64_000
    assert long_growth < 8 * 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize("scaler", SCALERS)
def test_scale_frame_sizes_and_identity(video_clips, scaler):  # noqa: F811
    info, frames = _read_all(video_clips["ref_ffv1"])
    out = scale_frame(frames[0], info, 80, 48, scaler)
    assert [p.shape for p in out.planes] == [(48, 80), (24, 40), (24, 40)]
    assert scaled_info(info, 80, 48).plane_sizes == ((48, 80), (24, 40), (24, 40))
    assert scale_frame(frames[0], info, WIDTH, HEIGHT, scaler) is frames[0]
    flat = type(frames[0])(0, None, tuple(np.full_like(p, 100) for p in frames[0].planes))
    assert all(int(np.abs(p.astype(int) - 100).max()) <= 1 for p in scale_frame(flat, info, 80, 48, scaler).planes)


def test_scale_10bit_keeps_dtype(video_clips):  # noqa: F811
    info, frames = _read_all(video_clips["ref10_ffv1"])
    out = scale_frame(frames[0], info, 80, 48)
    assert out.planes[0].dtype == np.uint16 and int(out.planes[0].max()) > 255


def test_unknown_scaler(video_clips):  # noqa: F811
    info, frames = _read_all(video_clips["ref_ffv1"])
    with pytest.raises(UsageError, match="unknown scaler"):
        scale_frame(frames[0], info, 80, 48, "magic")


def test_to_rgb_and_thumbnail(video_clips):  # noqa: F811
    info, frames = _read_all(video_clips["ref_ffv1"])
    rgb = to_rgb(frames[0], info)
    assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
    # Limited-range BT.601: Y 16 is black, 235 white (neutral chroma 128).
    grey = type(frames[0])(0, None, (np.full((HEIGHT, WIDTH), 235, np.uint8),
                                     np.full((HEIGHT // 2, WIDTH // 2), 128, np.uint8),
                                     np.full((HEIGHT // 2, WIDTH // 2), 128, np.uint8)))
    assert int(to_rgb(grey, info).min()) >= 253
    thumb = luma_thumbnail(frames[0], info)
    assert thumb.shape == (64, 64) and thumb.dtype == np.float32 and 0 <= thumb.min() <= thumb.max() <= 1
    assert thumb.mean() == pytest.approx(frames[0].planes[0].mean() / 255, abs=0.02)


# ---- layouts that are not planar, and full range -----------------------------------------


def test_nv12_is_read_as_yuv420p_with_the_same_values(tmp_path):
    planes = list(maker.pattern_frames(3, 64, 48, "yuv420p", seed=5))
    path = maker.write_video(tmp_path / "nv12.nut", planes, "rawvideo", "yuv420p", enc_pix_fmt="nv12")
    info, frames = _read_all(path)
    assert (info.pix_fmt, info.source_pix_fmt) == ("yuv420p", "nv12")
    for frame, want in zip(frames, planes, strict=True):
        for got, plane in zip(frame.planes, want, strict=True):
            np.testing.assert_array_equal(got, plane)


def test_packed_rgb_is_read_as_gbrp(tmp_path):
    rng = np.random.default_rng(4)
    rgb = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    path = tmp_path / "rgb.nut"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for i, image in enumerate(rgb):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info, frames = _read_all(path)
    assert info.pix_fmt == "gbrp" and info.planes == ("g", "b", "r")
    g, b, r = frames[1].planes
    np.testing.assert_array_equal(np.stack([r, g, b], axis=-1), rgb[1])
    np.testing.assert_array_equal(to_rgb(frames[1], info), rgb[1])


def test_full_range_yuvj_keeps_its_values(tmp_path):
    """MJPEG decodes to full-range yuvj420p: its planes are scored as they are, as yuv420p."""
    planes = list(maker.pattern_frames(2, 64, 48, "yuv420p", seed=6))
    path = maker.write_video(tmp_path / "full.mkv", planes, "mjpeg", "yuv420p", enc_pix_fmt="yuvj420p",
                             options={"q:v": "2"})
    info, frames = _read_all(path)
    assert (info.pix_fmt, info.color_range, info.source_pix_fmt) == ("yuv420p", "pc", "yuvj420p")
    with av.open(str(path)) as container:
        decoded = next(container.decode(video=0))
        assert decoded.format.name == "yuvj420p"
        stacked = decoded.to_ndarray()
    np.testing.assert_array_equal(frames[0].planes[0], stacked[:48])
