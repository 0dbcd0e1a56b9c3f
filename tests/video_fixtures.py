"""Video test clips and FFmpeg's own filters as the oracle, for every video test module.

Use in a test module with ``from video_fixtures import video_clips  # noqa: F401`` (a
session-scoped fixture: the clips are built once per run into a temporary folder by
sample_images/make_sample_video.py, about two seconds), then ``def test_x(video_clips): ...``,
where ``video_clips`` maps names (see `make_clip_set`) to paths. `RAW_ARGS` holds the size and
pixel format of each raw clip.

`ffmpeg_stats` runs the real ``ssim`` / ``psnr`` filter on two files and returns its stats
file, one dict per frame: through the ``ffmpeg`` binary when one is installed (its own demuxers
and decoders read the files), else through PyAV's libavfilter (a filter graph fed with PyAV's
decoded frames).
"""

from __future__ import annotations

import gc
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 160, 96


def _load_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_video", ROOT / "sample_images" / "make_sample_video.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_sample_video", module)
    spec.loader.exec_module(module)
    return module


maker = _load_maker()

#: (size, pix_fmt) of the raw clips in the set.
RAW_ARGS: dict[str, tuple[tuple[int, int], str]] = {
    "ref_yuv": ((WIDTH, HEIGHT), "yuv420p"), "dist_yuv": ((WIDTH, HEIGHT), "yuv420p"),
    "ref10_yuv": ((WIDTH, HEIGHT), "yuv420p10le"), "dist10_yuv": ((WIDTH, HEIGHT), "yuv420p10le"),
    "ref444_yuv": ((WIDTH, HEIGHT), "yuv444p"), "dist444_yuv": ((WIDTH, HEIGHT), "yuv444p"),
    "ref_gray10_yuv": ((WIDTH, HEIGHT), "gray10le"), "dist_gray10_yuv": ((WIDTH, HEIGHT), "gray10le"),
}


@pytest.fixture(scope="session")
def video_clips() -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="ssim-l1-video-") as tmp:
        yield maker.make_clip_set(Path(tmp), frames=24, width=WIDTH, height=HEIGHT)


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None


def parse_stats(text: str) -> list[dict[str, str]]:
    """``n:1 Y:0.98 ... All:0.97 (15.2)`` lines -> one dict per frame (the dB under ``dB``)."""
    frames = []
    for line in text.splitlines():
        if not line.startswith("n:"):
            continue
        fields: dict[str, str] = {}
        for token in line.split():
            if token.startswith("(") and token.endswith(")"):
                fields["dB"] = token[1:-1]
            elif ":" in token:
                key, value = token.split(":", 1)
                fields[key] = value
        frames.append(fields)
    return frames


def _input_args(path: Path, raw: tuple[tuple[int, int], str] | None) -> list[str]:
    if raw is None:
        return ["-i", str(path)]
    (w, h), fmt = raw
    return ["-f", "rawvideo", "-pix_fmt", fmt, "-s", f"{w}x{h}", "-i", str(path)]


def ffmpeg_stats(reference: Path, distorted: Path, flt: str, *, ref_raw: Any = None, dist_raw: Any = None,
                 use_binary: bool | None = None, threads: int | None = None) -> list[dict[str, str]]:
    """The stats file of ffmpeg's `flt` ("ssim" or "psnr") comparing the two files, frame by frame.

    ``threads``: libavfilter's thread count (``-filter_complex_threads``; None: its default).
    """
    with tempfile.TemporaryDirectory(prefix="ssim-l1-ffstats-") as tmp:
        stats = Path(tmp) / "stats.log"
        if use_binary is None:
            use_binary = have_ffmpeg()
        if use_binary:
            cmd = ["ffmpeg", "-nostdin", "-v", "error",
                   *(["-filter_complex_threads", str(threads)] if threads else []), *_input_args(distorted, dist_raw),
                   *_input_args(reference, ref_raw), "-lavfi", f"[0:v][1:v]{flt}=stats_file={stats}",
                   "-f", "null", "-"]
            subprocess.run(cmd, check=True, capture_output=True)
        else:
            _pyav_filter(distorted, reference, f"stats_file={stats}", flt, dist_raw, ref_raw, threads)
            gc.collect()  # the graph's filters close the stats file when they are freed
        return parse_stats(stats.read_text())


def _frames(path: Path, raw: Any) -> Iterator[Any]:
    import av

    if raw is None:
        with av.open(str(path)) as container:
            yield from container.decode(video=0)
        return
    (w, h), fmt = raw
    shapes = maker.plane_shapes(fmt, w, h)
    dtype = np.uint8 if "10" not in fmt else np.dtype("<u2")
    data = np.fromfile(path, dtype=dtype)
    per = sum(a * b for a, b in shapes)
    for i in range(data.size // per):
        chunk = data[i * per:(i + 1) * per]
        planes, at = [], 0
        for a, b in shapes:
            planes.append(chunk[at:at + a * b].reshape(a, b))
            at += a * b
        yield maker.to_av_frame(tuple(planes), fmt, i)


def _pyav_filter(main: Path, ref: Path, args: str, flt: str, main_raw: Any, ref_raw: Any,
                 threads: int | None) -> None:
    import av

    mains, refs = _frames(main, main_raw), _frames(ref, ref_raw)
    first_main, first_ref = next(mains), next(refs)
    graph = av.filter.Graph()
    if threads:
        graph.threads = threads
    tb = Fraction(1, 25)
    src0 = graph.add_buffer(width=first_main.width, height=first_main.height, format=first_main.format.name,
                            time_base=tb)
    src1 = graph.add_buffer(width=first_ref.width, height=first_ref.height, format=first_ref.format.name,
                            time_base=tb)
    node = graph.add(flt, args)
    sink = graph.add("buffersink")
    src0.link_to(node, 0, 0)
    src1.link_to(node, 0, 1)
    node.link_to(sink)
    graph.configure()

    def pairs() -> Iterator[tuple[Any, Any]]:
        yield first_main, first_ref
        yield from zip(mains, refs, strict=False)

    for i, (a, b) in enumerate(pairs()):
        a.pts = b.pts = i
        a.time_base = b.time_base = tb
        src0.push(a)
        src1.push(b)
        _drain(sink)
    src0.push(None)
    src1.push(None)
    _drain(sink)


def _drain(sink: Any) -> None:
    import av

    while True:
        try:
            sink.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
