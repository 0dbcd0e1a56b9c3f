"""Video decoding: frames as planes of native values, for per-plane scoring.

Two readers behind one `VideoSource`: raw planar files (``.yuv``, with a size and a pixel
format) read frame by frame with `numpy.fromfile`, and everything else through PyAV (FFmpeg's
demuxers and decoders). Frames are never colour-converted for scoring: each plane comes out as
the decoder wrote it, at its native bit depth (``uint8`` for 8-bit, ``uint16`` for 9-16-bit),
chroma at its own size. Layouts that are not planar (``nv12``, ``p010le``, ``rgb24`` ...) are
rearranged by swscale into the nearest planar format, which loses nothing: ``nv12`` ->
``yuv420p``, ``p010le`` -> ``yuv420p10le`` (the 10 bits moved down), packed RGB -> ``gbrp``.
Full-range ``yuvj*`` planes are read as they are and reported as the ``yuv*`` layout with
``color_range="pc"``. `VideoInfo.pix_fmt` is always the format actually scored, and
`VideoInfo.source_pix_fmt` the one the decoder produced.

Memory is constant in the length of a video: a source holds one decoded frame at a time.
One module (about 550 lines, over the house limit) because the two readers, the frame and error
types, the decoder-log capture and the scaling and viewing helpers share the plane reading and
the format tables; split it when a third reader comes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ssimcli.errors import InputError, UsageError

#: Raw (headerless) planar formats: name -> (chroma x shift, chroma y shift, bits, planes).
_RAW_LAYOUTS: dict[str, tuple[int, int, int, int]] = {
    "yuv420p": (1, 1, 8, 3), "yuv422p": (1, 0, 8, 3), "yuv444p": (0, 0, 8, 3), "gray": (0, 0, 8, 1),
    "yuv420p10le": (1, 1, 10, 3), "yuv422p10le": (1, 0, 10, 3), "yuv444p10le": (0, 0, 10, 3),
    "gray10le": (0, 0, 10, 1),
    "yuv420p12le": (1, 1, 12, 3), "yuv422p12le": (1, 0, 12, 3), "yuv444p12le": (0, 0, 12, 3),
    "gray12le": (0, 0, 12, 1),
    "yuv420p16le": (1, 1, 16, 3), "yuv422p16le": (1, 0, 16, 3), "yuv444p16le": (0, 0, 16, 3),
    "gray16le": (0, 0, 16, 1),
}
RAW_PIX_FMTS: tuple[str, ...] = tuple(_RAW_LAYOUTS)
#: File name endings read as raw video (a size is then required).
RAW_SUFFIXES: tuple[str, ...] = (".yuv", ".raw", ".gray")

#: Decoded formats read directly (planar, little-endian, no alpha) beyond the raw ones.
_DIRECT = set(RAW_PIX_FMTS) | {
    "yuv440p", "yuv411p", "yuv410p", "gbrp", "gbrp10le", "gbrp12le", "gbrp14le", "gbrp16le",
    "yuv420p9le", "yuv422p9le", "yuv444p9le", "yuv420p14le", "yuv422p14le", "yuv444p14le",
    "gray9le", "gray14le", "yuv440p10le", "yuv440p12le",
}
#: Decoded formats rearranged into a planar one without changing any value.
_NEAREST = {
    "nv12": "yuv420p", "nv21": "yuv420p", "nv16": "yuv422p", "nv24": "yuv444p", "nv42": "yuv444p",
    "p010le": "yuv420p10le", "p010be": "yuv420p10le", "p012le": "yuv420p12le", "p016le": "yuv420p16le",
    "p210le": "yuv422p10le", "p410le": "yuv444p10le", "p216le": "yuv422p16le", "p416le": "yuv444p16le",
    "yuyv422": "yuv422p", "uyvy422": "yuv422p", "y210le": "yuv422p10le",
    "rgb24": "gbrp", "bgr24": "gbrp", "rgba": "gbrp", "bgra": "gbrp", "argb": "gbrp", "abgr": "gbrp",
    "rgb0": "gbrp", "bgr0": "gbrp", "0rgb": "gbrp", "0bgr": "gbrp", "gbrap": "gbrp",
    "rgb48le": "gbrp16le", "rgba64le": "gbrp16le", "gbrap10le": "gbrp10le", "gbrap12le": "gbrp12le",
    "gbrap16le": "gbrp16le", "ya8": "gray", "gray16be": "gray16le", "pal8": "gbrp",
    "yuva420p": "yuv420p", "yuva422p": "yuv422p", "yuva444p": "yuv444p",
    "yuva420p10le": "yuv420p10le", "yuva422p10le": "yuv422p10le", "yuva444p10le": "yuv444p10le",
}
_FULL_RANGE_ALIASES = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p",
                       "yuvj440p": "yuv440p", "yuvj411p": "yuv411p"}

SCALERS: tuple[str, ...] = ("bicubic", "bilinear", "lanczos", "neighbor", "area")
_SWS_NAMES = {"bicubic": "BICUBIC", "bilinear": "BILINEAR", "lanczos": "LANCZOS", "neighbor": "POINT",
              "area": "AREA"}


@dataclass(frozen=True)
class VideoInfo:
    """What a video is: geometry, the pixel format scored, and what the container says."""

    path: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    planes: tuple[str, ...]
    plane_sizes: tuple[tuple[int, int], ...]
    frame_count: int | None
    fps: float | None
    codec: str
    #: "tv" (limited), "pc" (full) or "unknown", as the stream says.
    color_range: str = "unknown"
    #: The decoder's own pixel format, before any rearrangement (equal to pix_fmt when none).
    source_pix_fmt: str = ""

    @property
    def max_value(self) -> int:
        return int(2 ** self.bit_depth - 1)

    @property
    def plane_areas(self) -> tuple[int, ...]:
        return tuple(h * w for h, w in self.plane_sizes)


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: 0-based presentation index, time in seconds, and its planes."""

    index: int
    pts: float | None
    planes: tuple[np.ndarray, ...] = field(repr=False)


class VideoFrameError(InputError):
    """A frame that cannot be decoded; the frames before it have been yielded."""

    def __init__(self, path: str | Path, index: int, problem: str) -> None:
        self.index = index
        super().__init__(path, f"frame {index}: {problem}")


def _layout_of(vf: Any) -> tuple[str, int, tuple[str, ...], tuple[tuple[int, int], ...]]:
    """(name, bit depth, plane names, plane sizes) of a frame's PyAV `VideoFormat`."""
    name = vf.name
    comps = [c for c in vf.components if not c.is_alpha]
    bits = max(c.bits for c in comps)
    width, height = vf.width, vf.height
    if len(comps) == 1:
        return name, bits, ("y",), ((height, width),)
    cw, ch = vf.components[1].width, vf.components[1].height
    names = ("g", "b", "r") if vf.is_rgb else ("y", "u", "v")
    return name, bits, names, ((height, width), (ch, cw), (ch, cw))


def _raw_sizes(pix_fmt: str, width: int, height: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    sx, sy, bits, count = _RAW_LAYOUTS[pix_fmt]
    luma = (height, width)
    chroma = (-(-height >> sy), -(-width >> sx))
    return bits, (luma,) if count == 1 else (luma, chroma, chroma)


def _plane_array(plane: Any, width: int, height: int, dtype: np.dtype) -> np.ndarray:
    """The visible width x height samples of one PyAV plane, C-contiguous and read-only.

    Where the decoder's rows carry no padding (1920- or 960-sample rows, aligned already) the
    array is a view of its buffer (it keeps the frame alive; the decoder may still read it as a
    reference, so it is never written); else a copy of the visible part.
    """
    itemsize = dtype.itemsize
    buf = np.frombuffer(plane, dtype=dtype, count=(plane.line_size // itemsize) * height)
    rows = buf.reshape(height, plane.line_size // itemsize)
    out = rows if rows.shape[1] == width else np.ascontiguousarray(rows[:, :width])
    out.flags.writeable = False
    return out


def _dtype(bits: int) -> np.dtype:
    return np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")


def _color_range(frame_or_ctx: Any) -> str:
    value = int(getattr(frame_or_ctx, "color_range", 0) or 0)
    return {1: "tv", 2: "pc"}.get(value, "unknown")


class VideoSource:
    """An open video; iterate for its frames (once), use as a context manager to close it."""

    info: VideoInfo

    def __init__(self, info: VideoInfo) -> None:
        self.info = info

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[VideoFrame]:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class _RawSource(VideoSource):
    def __init__(self, path: str, width: int, height: int, pix_fmt: str, fps: float | None) -> None:
        bits, sizes = _raw_sizes(pix_fmt, width, height)
        self._dtype = _dtype(bits)
        self._counts = [h * w for h, w in sizes]
        frame_bytes = sum(self._counts) * self._dtype.itemsize
        try:
            length = os.path.getsize(path)
            self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
        if length == 0 or length % frame_bytes:
            self._file.close()
            whole = length // frame_bytes
            raise InputError(path, f"{length} bytes is not a whole number of {width}x{height} {pix_fmt} "
                             f"frames ({frame_bytes} bytes each; {whole} whole, {length - whole * frame_bytes} "
                             "left over): check --size and --pix-fmt")
        names = ("y",) if len(sizes) == 1 else ("y", "u", "v")
        super().__init__(VideoInfo(path, width, height, pix_fmt, bits, names, sizes, length // frame_bytes,
                                   fps, "rawvideo", "unknown", pix_fmt))

    def __iter__(self) -> Iterator[VideoFrame]:
        sizes = self.info.plane_sizes
        fps = self.info.fps
        self._file.seek(0)
        for index in range(self.info.frame_count or 0):
            planes = []
            for (h, w), count in zip(sizes, self._counts, strict=True):
                data = np.fromfile(self._file, dtype=self._dtype, count=count)
                if data.size != count:
                    raise VideoFrameError(self.info.path, index, "file ended inside the frame (it shrank)")
                planes.append(data.reshape(h, w))
            yield VideoFrame(index, index / fps if fps else None, tuple(planes))

    def close(self) -> None:
        self._file.close()


def _target_format(name: str, forced: str | None) -> tuple[str | None, str]:
    """(format to reformat to or None, the planar name scored) for a decoded format."""
    if forced is not None:
        return (None if forced == name else forced), forced
    if name in _FULL_RANGE_ALIASES:
        return None, _FULL_RANGE_ALIASES[name]
    if name in _DIRECT:
        return None, name
    if name in _NEAREST:
        return _NEAREST[name], _NEAREST[name]
    import av

    bits = max(c.bits for c in av.VideoFormat(name).components)
    fallback = "yuv444p" if bits <= 8 else "yuv444p10le" if bits <= 10 else "yuv444p12le" if bits <= 12 \
        else "yuv444p16le"
    return fallback, fallback


class _PyAVSource(VideoSource):
    def __init__(self, path: str, pix_fmt: str | None, threads: int | None, strict: bool = True) -> None:
        import av

        self._strict = strict
        self._closed = True  # until the error log is taken
        try:
            self._container = av.open(path, mode="r", metadata_errors="ignore")
        except av.error.FileNotFoundError:
            raise InputError(path, "no such file") from None
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"not a video FFmpeg can read ({_reason(exc)})") from None
        try:
            self._setup(path, pix_fmt, threads)
        except BaseException:
            if self._closed:  # failed before the error log was taken
                self._container.close()
            else:
                self.close()
            raise

    def _setup(self, path: str, pix_fmt: str | None, threads: int | None) -> None:
        if not self._container.streams.video:
            raise InputError(path, "no video stream in the file")
        stream = self._container.streams.video[0]
        self._stream = stream
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads or 0
        ctx.options = {"err_detect": "crccheck"}
        self._path = path
        self._expected = _expected_frames(self._container, stream)
        _ERRORS.start()
        self._closed = False
        self._frames = self._decode()
        self._first = self._next_frame(0)
        if self._first is None:
            raise InputError(path, "no frame could be decoded (empty or truncated file)")
        self._reformat, scored = _target_format(self._first.format.name, pix_fmt)
        probe = self._convert(self._first)
        name, bits, names, sizes = _layout_of(probe.format)
        rate = stream.average_rate or stream.guessed_rate
        self._time_base = float(stream.time_base) if stream.time_base else None
        full = self._first.format.name in _FULL_RANGE_ALIASES
        info = VideoInfo(path, self._first.width, self._first.height, scored, bits, names, sizes,
                         stream.frames or None, float(rate) if rate else None, ctx.name,
                         "pc" if full else _color_range(self._first), self._first.format.name)
        self._dtype = _dtype(bits)
        super().__init__(info)

    def _decode(self) -> Iterator[tuple[Any, str | None]]:
        """(frame, the decoder's error message or None), in presentation order.

        Decoders conceal damage (FFV1's slice CRC, H.264's lost macroblocks) and only say so in
        their log, so each packet is decoded with FFmpeg's error-level log captured; a message
        marks the first frame that packet's call returns (or the next one). With one decoder
        thread and an intra-only codec that is the damaged frame; with frame threads it can be a
        frame or two early (never late).
        """
        import av.logging

        pending: str | None = None
        codec = self._stream.codec_context.codec.name
        for packet in self._container.demux(self._stream):
            frames = packet.decode()
            errors = [m for level, m in _ERRORS.take(codec) if level <= av.logging.ERROR and self._strict]
            if errors and pending is None:
                pending = "; ".join(m for m in errors if m)[:200] or "decoder error"
            for frame in frames:
                yield frame, pending
                pending = None
        if pending is not None:
            yield None, pending

    def _next_frame(self, index: int) -> Any:
        import av

        try:
            frame, problem = next(self._frames, (None, None))
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoFrameError(self._path, index, f"cannot decode ({_reason(exc)})") from None
        if problem is not None:
            raise VideoFrameError(self._path, index, f"damaged ({_reason(problem)})")
        if frame is not None and frame.is_corrupt:
            raise VideoFrameError(self._path, index, "the decoder reports the frame as corrupt")
        if frame is None and self._expected is not None and index < self._expected[1]:
            raise VideoFrameError(self._path, index, f"the file ends after {index} frames, but its header "
                                  f"says {self._expected[0]} (truncated?)")
        return frame

    def _convert(self, frame: Any) -> Any:
        if self._reformat is None:
            return frame
        return frame.reformat(format=self._reformat)

    def __iter__(self) -> Iterator[VideoFrame]:
        index = 0
        frame, self._first = self._first, None
        sizes = self.info.plane_sizes
        first_shape = (self.info.width, self.info.height, self.info.source_pix_fmt)
        while frame is not None:
            if (frame.width, frame.height, frame.format.name) != first_shape:
                raise VideoFrameError(self._path, index, f"the frame changes to {frame.width}x{frame.height} "
                                      f"{frame.format.name} from {first_shape[0]}x{first_shape[1]} {first_shape[2]}")
            planar = self._convert(frame)
            planes = tuple(_plane_array(p, w, h, self._dtype) for p, (h, w) in zip(planar.planes, sizes, strict=False))
            pts = frame.pts * self._time_base if frame.pts is not None and self._time_base else None
            yield VideoFrame(index, pts, planes)
            index += 1
            frame = self._next_frame(index)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _ERRORS.closing()
        try:
            self._container.close()
        finally:
            _ERRORS.closed()


def _expected_frames(container: Any, stream: Any) -> tuple[int, int] | None:
    """(frames the header promises, fewest frames accepted as complete) for spotting truncated
    files; the slack (2% and two frames) is for edit lists and rounded durations. From the video
    stream's own count or duration only (a longer audio track must not count)."""
    count = stream.frames or 0
    rate = float(stream.average_rate) if stream.average_rate else 0.0
    if not count and rate:
        seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
            _tag_seconds(stream.metadata.get("DURATION"))
        if seconds is None and len(container.streams) == 1 and container.duration:
            seconds = container.duration / 1_000_000
        count = round(seconds * rate) if seconds else 0
    return (count, int(count * 0.98) - 2) if count > 4 else None


def _tag_seconds(text: str | None) -> float | None:
    """Matroska's DURATION tag (``HH:MM:SS.nnnnnnnnn``) in seconds."""
    try:
        hours, minutes, seconds = str(text).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def stop_log_capture() -> None:
    """Hand FFmpeg's log back to no callback, before the decoders are freed (`_ErrorLog` says
    why: a freed frame-threaded decoder would otherwise wait for the GIL held by its caller)."""
    import sys

    if "av.logging" in sys.modules:
        _ErrorLog.off()


class _ErrorLog:
    """FFmpeg's error-level messages, captured from every thread while a PyAV source is open,
    and sorted by the logging context's name (a decoder logs under its codec's name).

    Frame-threaded decoders log from their worker threads, between the calls that decode, so
    the capture stays open from the first source's opening to the last one's closing; each
    source takes its decoder's messages after each packet. Two open sources of one codec share
    a name: a message is then the first taker's (a damaged frame may be blamed on the other file
    only if both decode the same codec at once). Messages never reach stderr (``libav`` logs go
    to a NullHandler). PyAV's callback takes the GIL for each error message, and a decoder
    being freed (with the GIL held) waits for its threads: so the callback is off while a
    source closes, after the last one has closed, and at exit.
    """

    def __init__(self) -> None:
        self._logs: list[Any] | None = None
        self._by_name: dict[str, list[tuple[int, str]]] = {}
        self._capture: Any = None
        self._users = 0
        self._hooked = False

    def start(self) -> None:
        import av.logging

        self._users += 1
        self._on()
        if self._logs is not None:
            return
        import atexit
        import logging

        av.logging.set_skip_repeated(False)  # a repeated message is a second damaged frame
        libav = logging.getLogger("libav")
        libav.addHandler(logging.NullHandler())
        libav.propagate = False
        self._capture = av.logging.Capture(local=False)
        self._logs = self._capture.__enter__()
        if not self._hooked:
            atexit.register(self.off)
            self._hooked = True

    @staticmethod
    def _on() -> None:
        import av.logging

        level = av.logging.get_level()
        if level is None or level < av.logging.ERROR:  # quieter than errors (PANIC, FATAL)
            av.logging.set_level(av.logging.ERROR)

    @staticmethod
    def off() -> None:
        import av.logging

        av.logging.set_level(None)

    def closing(self) -> None:
        """Before a source's decoder is freed: no callback that would need the GIL."""
        self.off()

    def closed(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users:
            self._on()

    def take(self, name: str) -> list[tuple[int, str]]:
        logs = self._logs
        if logs is None:
            return []
        new = logs[:]
        del logs[:len(new)]
        for level, source, message in new:
            kept = self._by_name.setdefault(str(source), [])
            kept.append((int(level), str(message).strip()))
            del kept[:-50]  # nobody may be reading this name: keep the last few
        return self._by_name.pop(name, [])


_ERRORS = _ErrorLog()


def _reason(exc: BaseException | str) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def open_video(path: str | Path, *, size: tuple[int, int] | None = None, pix_fmt: str | None = None,
               threads: int | None = None, fps: float | None = None, strict: bool = True) -> VideoSource:
    """Open a video file for frame-by-frame reading.

    Parameters
    ----------
    path : str or Path
        A file FFmpeg can demux and decode, or raw planar video (``.yuv``; then `size` is required).
    size : (width, height), optional
        The frame size of raw video; giving it reads any file as raw.
    pix_fmt : str, optional
        Raw video's pixel format (one of `RAW_PIX_FMTS`, default ``yuv420p``); for other files, a
        planar format to convert the decoded frames into.
    threads : int, optional
        Decoder threads (``None``: FFmpeg's automatic choice).
    strict : bool
        A frame the decoder reports damage in (an error in its log: a failed slice CRC, lost
        macroblocks it concealed) is a `VideoFrameError`; ``False`` scores such frames as decoded
        (only a decoder that fails outright stops the source). Damage is reported at the frame
        the packet's decoding returned, exact with ``threads=1`` for intra-only codecs and up to
        a few frames early with frame threads.
    fps : float, optional
        Frame rate of raw video, for presentation times (raw files do not say).

    Raises
    ------
    InputError
        The file cannot be read as a video (named, with the reason).
    UsageError
        An unknown pixel format.
    """
    name = str(path)
    raw = size is not None or Path(name).suffix.lower() in RAW_SUFFIXES
    if pix_fmt is not None and pix_fmt not in _known_formats(raw):
        choices = ", ".join(RAW_PIX_FMTS)
        raise UsageError(f"unknown pixel format {pix_fmt!r}" + (f" for raw video; use one of: {choices}" if raw
                                                                 else ""))
    if raw:
        if size is None:
            raise InputError(name, "raw video needs its frame size (--size WxH) and pixel format (--pix-fmt)")
        width, height = size
        if width < 1 or height < 1:
            raise UsageError(f"frame size must be positive, not {width}x{height}")
        if not os.path.isfile(name):
            raise InputError(name, "no such file" if not os.path.exists(name) else "not a regular file")
        return _RawSource(name, width, height, pix_fmt or "yuv420p", fps)
    return _PyAVSource(name, pix_fmt, threads, strict)


def _known_formats(raw: bool) -> set[str]:
    return set(RAW_PIX_FMTS) if raw else set(RAW_PIX_FMTS) | _DIRECT


def _to_av_frame(frame: VideoFrame, info: VideoInfo) -> Any:
    import av

    out = av.VideoFrame(info.width, info.height, info.pix_fmt)
    for plane, data in zip(out.planes, frame.planes, strict=False):
        h, w = data.shape
        dst = np.frombuffer(memoryview(plane), dtype=data.dtype, count=(plane.line_size // data.itemsize) * h)
        dst.reshape(h, -1)[:, :w] = data
    if info.color_range == "pc":
        out.color_range = 2
    return out


def scale_frame(frame: VideoFrame, info: VideoInfo, width: int, height: int,
                scaler: str = "bicubic") -> VideoFrame:
    """The frame resized by FFmpeg's swscale (each plane to its size at the new frame size)."""
    if scaler not in SCALERS:
        raise UsageError(f"unknown scaler {scaler!r}; use one of: {', '.join(SCALERS)}")
    if (width, height) == (info.width, info.height):
        return frame
    from av.video.reformatter import Interpolation

    src = _to_av_frame(frame, info)
    flags = Interpolation[_SWS_NAMES[scaler]] | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP
    out = src.reformat(width=width, height=height, interpolation=flags)
    _, _, _, sizes = _layout_of(out.format)
    dtype = frame.planes[0].dtype
    planes = tuple(_plane_array(p, w, h, dtype) for p, (h, w) in zip(out.planes, sizes, strict=False))
    return VideoFrame(frame.index, frame.pts, planes)


def scaled_info(info: VideoInfo, width: int, height: int) -> VideoInfo:
    """`info` for frames scaled to width x height by `scale_frame`."""
    import av

    _, _, _, sizes = _layout_of(av.VideoFrame(width, height, info.pix_fmt).format)
    return VideoInfo(info.path, width, height, info.pix_fmt, info.bit_depth, info.planes, sizes,
                     info.frame_count, info.fps, info.codec, info.color_range, info.source_pix_fmt)


def to_rgb(frame: VideoFrame, info: VideoInfo) -> np.ndarray:
    """An H x W x 3 ``uint8`` picture of the frame, for viewing only (never scored).

    YUV is converted with BT.709 for frames 720 lines or taller, else BT.601; limited range
    unless the stream says full.
    """
    if info.planes == ("y",):
        y = frame.planes[0]
        y8 = (y >> (info.bit_depth - 8)).astype(np.uint8) if info.bit_depth > 8 else y
        return np.repeat(y8[:, :, None], 3, axis=2)
    src = _to_av_frame(frame, info)
    if info.planes == ("g", "b", "r"):
        return np.asarray(src.reformat(format="rgb24").to_ndarray())
    space = "ITU709" if info.height >= 720 else "ITU601"
    rng = "JPEG" if info.color_range == "pc" else "MPEG"
    rgb = src.reformat(format="rgb24", src_colorspace=space, src_color_range=rng, dst_color_range="JPEG")
    return np.ascontiguousarray(rgb.to_ndarray())


def luma_thumbnail(frame: VideoFrame, info: VideoInfo, size: int = 64) -> np.ndarray:
    """The first plane averaged down to size x size cells, float32 in [0, 1] (for alignment)."""
    y = frame.planes[0]
    h, w = y.shape
    rows = np.linspace(0, h, min(size, h) + 1).astype(np.intp)[:-1]
    cols = np.linspace(0, w, min(size, w) + 1).astype(np.intp)[:-1]
    sums = np.add.reduceat(np.add.reduceat(y.astype(np.float64), rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    return (sums / counts / info.max_value).astype(np.float32)


def frame_duration(info: VideoInfo) -> float | None:
    """Seconds per frame, when the rate is known."""
    return 1.0 / info.fps if info.fps and math.isfinite(info.fps) and info.fps > 0 else None
