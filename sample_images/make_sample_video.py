"""Make small test videos deterministically with PyAV (FFmpeg's encoders, no ffmpeg binary).

Run from the repository root: ``python sample_images/make_sample_video.py`` regenerates the
bundled README pair ``clip_ref.mp4`` / ``clip_dist.mp4``; ``python sample_images/make_sample_video.py
DIR`` writes the whole test set into DIR. The tests build the set in a temporary folder through
`make_clip_set` (tests/video_fixtures.py).

The picture is synthetic, so nothing needs downloading: a slowly panning diagonal gradient,
a moving disc, a fixed checkerboard patch and seeded noise texture, in each plane (chroma with
its own pattern). The H.264 files use libx264 with fixed settings and one thread, so they are
reproducible with the same FFmpeg build; the lossless ones (FFV1, y4m, raw) are reproducible
everywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
Planes = tuple[np.ndarray, ...]

_LAYOUT = {"yuv420p": (1, 1, 8), "yuv422p": (1, 0, 8), "yuv444p": (0, 0, 8), "gray": (0, 0, 8),
           "yuv420p10le": (1, 1, 10), "yuv422p10le": (1, 0, 10), "yuv444p10le": (0, 0, 10),
           "gray10le": (0, 0, 10)}


def plane_shapes(pix_fmt: str, width: int, height: int) -> list[tuple[int, int]]:
    sx, sy, _ = _LAYOUT[pix_fmt]
    luma = (height, width)
    if pix_fmt.startswith("gray"):
        return [luma]
    chroma = (-(-height >> sy), -(-width >> sx))
    return [luma, chroma, chroma]


def pattern_frames(count: int, width: int, height: int, pix_fmt: str = "yuv420p",
                   seed: int = 0, start: int = 0) -> Iterator[Planes]:
    """`count` frames of the moving test pattern, frame numbers `start`, `start + 1`, ..."""
    bits = _LAYOUT[pix_fmt][2]
    top = (1 << bits) - 1
    rng = np.random.default_rng(seed)
    textures = [rng.normal(0.0, 1.0, shape) for shape in plane_shapes(pix_fmt, width, height)]
    for t in range(start, start + count):
        planes = []
        for p, (h, w) in enumerate(plane_shapes(pix_fmt, width, height)):
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
            sy, sx = yy * height / h, xx * width / w  # luma coordinates
            base = 0.5 + 0.35 * np.sin((sx + sy * (0.6 + 0.2 * p)) / (9.0 + 4 * p) + t * 0.15)
            cx, cy = (width * (0.2 + 0.6 * ((t * 3) % 97) / 97)), height * 0.5
            disc = ((sx - cx) ** 2 + (sy - cy) ** 2) < (min(width, height) * 0.18) ** 2
            base = np.where(disc, 0.85 - 0.5 * (p % 2), base)
            checker = ((sx // 6 + sy // 6) % 2 == 0) & (sx < width * 0.3) & (sy < height * 0.35)
            base = np.where(checker, 0.15 + 0.1 * p, base)
            value = base * top + textures[p] * (top / 64.0)
            planes.append(np.clip(np.rint(value), 0, top).astype(np.uint8 if bits == 8 else np.uint16))
        yield tuple(planes)


def to_av_frame(planes: Planes, pix_fmt: str, index: int) -> av.VideoFrame:
    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, pix_fmt)
    for dst_plane, src in zip(frame.planes, planes, strict=False):
        dst = np.frombuffer(memoryview(dst_plane), dtype=src.dtype,
                            count=(dst_plane.line_size // src.itemsize) * src.shape[0])
        dst.reshape(src.shape[0], -1)[:, : src.shape[1]] = src
    frame.pts = index
    frame.time_base = Fraction(1, 25)
    return frame


def write_video(path: Path, frames: Iterable[Planes], codec: str, pix_fmt: str, *,
                enc_pix_fmt: str | None = None, options: dict[str, str] | None = None,
                bit_rate: int | None = None) -> Path:
    """Encode planes with PyAV: `codec` (libx264, ffv1, libx265, rawvideo ...) into `path`."""
    frames = iter(frames)
    first = next(frames)
    h, w = first[0].shape
    container = av.open(str(path), mode="w")
    stream = container.add_stream(codec, rate=25)
    stream.width, stream.height = w, h
    stream.pix_fmt = enc_pix_fmt or pix_fmt
    stream.codec_context.time_base = Fraction(1, 25)
    stream.thread_count = 1
    if bit_rate:
        stream.bit_rate = bit_rate
    if options is None and codec == "ffv1":
        # Version 3 with slice CRCs: damage is detected (and every frame is a key frame).
        options = {"level": "3", "slicecrc": "1", "g": "1"}
    stream.options = dict(options or {})

    def frames_all() -> Iterator[Planes]:
        yield first
        yield from frames

    for index, planes in enumerate(frames_all()):
        frame = to_av_frame(planes, pix_fmt, index)
        if enc_pix_fmt and enc_pix_fmt != pix_fmt:
            frame = frame.reformat(format=enc_pix_fmt)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_raw(path: Path, frames: Iterable[Planes]) -> Path:
    """Headerless planar frames, plane after plane, little-endian samples."""
    with open(path, "wb") as f:
        for planes in frames:
            for plane in planes:
                f.write(plane.astype(plane.dtype.newbyteorder("<"), copy=False).tobytes())
    return path


def decode_planes(path: Path) -> Iterator[Planes]:
    """Frames of a file as decoded planes (PyAV's own buffers, visible width only)."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes = []
            dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.dtype("<u2")
            for plane in frame.planes:
                rows = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, -1)
                planes.append(np.ascontiguousarray(rows[:, : plane.width]))
            yield tuple(planes)


def noisy(frames: Iterable[Planes], bits: int, seed: int, sigma: float) -> Iterator[Planes]:
    """A lossless 'distorted' version: seeded Gaussian noise and a 1-pixel shift of chroma."""
    rng = np.random.default_rng(seed)
    top = (1 << bits) - 1
    for planes in frames:
        out = []
        for p, plane in enumerate(planes):
            moved = np.roll(plane, 1, axis=1) if p else plane
            value = moved.astype(np.float64) + rng.normal(0.0, sigma * top / 255.0, plane.shape)
            out.append(np.clip(np.rint(value), 0, top).astype(plane.dtype))
        yield tuple(out)


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - any failure means "not in this build"
        return False
    return True


def make_clip_set(directory: Path, *, frames: int = 24, width: int = 160, height: int = 96) -> dict[str, Path]:
    """Write the test set into `directory`; returns name -> path.

    Names: ``ref_ffv1`` / ``dist_h264`` (8-bit 4:2:0 reference and low-bitrate H.264),
    ``ref_h264`` (near-lossless H.264), ``dist_ffv1`` (lossless copy of the decoded H.264),
    ``ref_y4m`` / ``dist_y4m``, ``ref_yuv`` / ``dist_yuv`` (raw yuv420p), ``ref10_ffv1`` /
    ``dist10_ffv1`` (yuv420p10le FFV1), ``ref10_yuv`` / ``dist10_yuv`` (raw yuv420p10le),
    ``dist10_hevc`` (libx265 10-bit, when the build has it), ``dist_vp9`` (libvpx, WebM, against
    ``ref_ffv1``), ``ref422_10_ffv1`` / ``dist422_10_prores`` (yuv422p10le, ProRes 422 Proxy),
    ``ref444_yuv`` / ``dist444_yuv``,
    ``ref_gray_yuv`` / ``dist_gray_yuv``, ``offset2_ffv1`` (two extra frames first, then the
    reference), ``small_h264`` (the distorted clip at another size), ``identical_ffv1`` (the
    reference again).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    ref8 = list(pattern_frames(frames, width, height, "yuv420p", seed=1))
    out["ref_ffv1"] = write_video(d / "ref_ffv1.mkv", ref8, "ffv1", "yuv420p")
    out["identical_ffv1"] = write_video(d / "identical_ffv1.mkv", ref8, "ffv1", "yuv420p")
    x264 = {"preset": "medium", "tune": "psnr", "threads": "1"}
    out["dist_h264"] = write_video(d / "dist_h264.mp4", ref8, "libx264", "yuv420p",
                                   options={**x264, "crf": "38"})
    out["ref_h264"] = write_video(d / "ref_h264.mp4", ref8, "libx264", "yuv420p", options={**x264, "crf": "12"})
    dist8 = list(decode_planes(out["dist_h264"]))
    out["dist_ffv1"] = write_video(d / "dist_ffv1.mkv", dist8, "ffv1", "yuv420p")
    out["ref_y4m"] = write_video(d / "ref.y4m", ref8, "rawvideo", "yuv420p")
    out["dist_y4m"] = write_video(d / "dist.y4m", dist8, "rawvideo", "yuv420p")
    out["ref_yuv"] = write_raw(d / "ref.yuv", ref8)
    out["dist_yuv"] = write_raw(d / "dist.yuv", dist8)
    ref10 = list(pattern_frames(frames, width, height, "yuv420p10le", seed=2))
    dist10 = list(noisy(ref10, 10, seed=3, sigma=6.0))
    out["ref10_ffv1"] = write_video(d / "ref10_ffv1.mkv", ref10, "ffv1", "yuv420p10le")
    out["dist10_ffv1"] = write_video(d / "dist10_ffv1.mkv", dist10, "ffv1", "yuv420p10le")
    out["ref10_yuv"] = write_raw(d / "ref10.yuv", ref10)
    out["dist10_yuv"] = write_raw(d / "dist10.yuv", dist10)
    if has_encoder("libx265"):
        out["dist10_hevc"] = write_video(d / "dist10_hevc.mkv", ref10, "libx265", "yuv420p10le",
                                         options={"crf": "34", "preset": "fast",
                                                  "x265-params": "log-level=error:pools=1:frame-threads=1"})
    if has_encoder("libvpx-vp9"):
        out["dist_vp9"] = write_video(d / "dist_vp9.webm", ref8, "libvpx-vp9", "yuv420p",
                                      options={"crf": "40", "b:v": "0", "cpu-used": "8", "deadline": "realtime",
                                               "threads": "1"})
    ref422 = list(pattern_frames(frames, width, height, "yuv422p10le", seed=12))
    out["ref422_10_ffv1"] = write_video(d / "ref422_10_ffv1.mkv", ref422, "ffv1", "yuv422p10le")
    if has_encoder("prores_ks"):
        out["dist422_10_prores"] = write_video(d / "dist422_10_prores.mov", ref422, "prores_ks", "yuv422p10le",
                                               options={"profile": "0"})
    ref444 = list(pattern_frames(frames, width, height, "yuv444p", seed=4))
    out["ref444_yuv"] = write_raw(d / "ref444.yuv", ref444)
    out["dist444_yuv"] = write_raw(d / "dist444.yuv", noisy(ref444, 8, seed=5, sigma=5.0))
    gray = list(pattern_frames(frames, width, height, "gray10le", seed=6))
    out["ref_gray10_yuv"] = write_raw(d / "ref_gray10.yuv", gray)
    out["dist_gray10_yuv"] = write_raw(d / "dist_gray10.yuv", noisy(gray, 10, seed=7, sigma=4.0))
    lead = list(pattern_frames(2, width, height, "yuv420p", seed=8, start=500))
    out["offset2_ffv1"] = write_video(d / "offset2_ffv1.mkv", lead + ref8, "ffv1", "yuv420p")
    small = [tuple(p[::2, ::2].copy() for p in planes) for planes in dist8]
    out["small_h264"] = write_video(d / "small_h264.mp4", small, "libx264", "yuv420p", options={**x264, "crf": "20"})
    return out


def make_readme_pair(directory: Path = HERE) -> tuple[Path, Path]:
    """The bundled pair: 64 frames of 160x96 H.264, near-lossless reference and a low-bitrate copy."""
    ref = list(pattern_frames(64, 160, 96, "yuv420p", seed=1))
    x264 = {"preset": "medium", "threads": "1"}
    a = write_video(directory / "clip_ref.mp4", ref, "libx264", "yuv420p", options={**x264, "crf": "14"})
    b = write_video(directory / "clip_dist.mp4", ref, "libx264", "yuv420p", options={**x264, "crf": "36"})
    return a, b


if __name__ == "__main__":
    if len(sys.argv) > 1:
        for name, path in make_clip_set(Path(sys.argv[1])).items():
            print(f"{name}\t{path}")
    else:
        for path in make_readme_pair():
            print(path, path.stat().st_size)
