"""Two videos scored frame by frame: alignment, per-plane metrics, pooling, the worst frames.

`compare_videos` is the Python API and the engine of ``ssim-l1 video``: it returns a
`VideoComparison` whose `~VideoComparison.frames` yields one `FrameResult` per paired frame
as it is scored, and whose `~VideoComparison.summary` pools what was scored so far (it is
complete once `frames` is exhausted, and still valid after an interruption or a corrupt frame).

How the work is laid out: each video is decoded by its own thread (`_Reader`) into a small
bounded queue, so decoding both and scoring overlap and memory stays at a few frames per video;
the scoring thread runs the metric engine, whose own threads (``threads``) use the cores. Only
the planes of the K worst frames are kept (a heap), never the clip.

Why one module of this size: options, alignment, scoring and pooling are one pipeline whose
parts share the same few records; split, each part would be a page that only makes sense
beside the others.
"""

from __future__ import annotations

import heapq
import math
import queue
import threading
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ssimcli._version import __version__
from ssimcli.errors import SettingError, SizeMismatch, UsageError
from ssimcli.options import CompareOptions
from ssimcli.vocabulary import HIGHER_IS_BETTER

#: Plane names a video can have: Y'CbCr, or G, B, R (RGB video, as FFmpeg's gbrp).
PLANE_NAMES = ("y", "u", "v", "g", "b", "r")
#: The plane that pools the others, weighted by area, as ffmpeg's ``All``.
ALL = "all"
FFMPEG = "ffmpeg"
#: What each preset family scores per plane (``mse`` in the plane's own units).
ENGINE_METRICS = ("ssim", "cs", "l1", "ssim_l1", "psnr", "mse")
MS_METRICS = ("ms_ssim", "ms_ssim_l1")
FFMPEG_METRICS = ("ssim", "ssim_db", "psnr", "mse")
#: What the pooled summary gives each metric of each plane.
STATISTICS = ("mean", "harmonic_mean", "min", "p1", "p5", "max", "worst_frame")
#: Frames each video decodes ahead of the scorer.
QUEUE_FRAMES = 4
#: ``sync="auto"`` compares this many frames beyond the window.
SYNC_EXTRA = 10


@dataclass(frozen=True)
class VideoLimits:
    """CI limits: on the pooled mean of the ``all`` plane, and on every frame's ``all`` value.
    Inclusive: a value equal to its limit passes."""

    min_ssim: float | None = None
    min_frame_ssim: float | None = None
    min_psnr: float | None = None
    min_frame_psnr: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_ssim", "min_frame_ssim", "min_psnr", "min_frame_psnr"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise SettingError(name, "must be a finite number")


@dataclass(frozen=True)
class VideoOptions:
    """Everything that decides which frames are paired and how they are scored."""

    compare: CompareOptions = field(default_factory=CompareOptions)
    ffmpeg: bool = False  # the ffmpeg preset: ffmpeg's own SSIM and PSNR
    planes: tuple[str, ...] | None = None  # None: every plane of the video
    offset: int = 0
    sync: bool = False
    sync_window: int = 15
    scale_to_ref: bool = False
    scaler: str = "bicubic"
    start: int = 0
    stop: int | None = None
    every: int = 1
    worst: int = 5
    worst_by: str = "ssim"
    keep_worst: bool = False  # keep the worst frames' planes (for pictures)
    limits: VideoLimits = field(default_factory=VideoLimits)
    threads: int | None = None
    size: tuple[int, int] | None = None  # raw input: width, height
    pix_fmt: str | None = None  # raw input

    def __post_init__(self) -> None:
        if self.planes is not None:
            if not self.planes or not set(self.planes) <= set(PLANE_NAMES):
                raise SettingError("planes", f"must name y, u, v or all; got {','.join(self.planes)}")
        for name, low in (("sync_window", 0), ("start", 0), ("every", 1), ("worst", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SettingError(name, f"must be a whole number >= {low}, got {value!r}")
        if self.stop is not None and self.stop < 0:
            raise SettingError("frames", "takes indices >= 0 (A:B, either may be empty)")
        if self.sync and self.offset:
            raise SettingError("offset", "and automatic sync exclude each other")
        if self.ffmpeg and self.compare.ms_ssim:
            raise SettingError("ms_ssim", "is not part of the ffmpeg preset (SSIM and PSNR only)")
        if self.worst_by not in self.metrics:
            raise SettingError("worst_by", f"must be one of {', '.join(self.metrics)}; "
                                           f"got {self.worst_by!r}")

    @property
    def metrics(self) -> tuple[str, ...]:
        if self.ffmpeg:
            return FFMPEG_METRICS
        return ENGINE_METRICS + (MS_METRICS if self.compare.ms_ssim else ())

    @property
    def preset(self) -> str:
        return FFMPEG if self.ffmpeg else self.compare.preset

    @classmethod
    def build(cls, preset: str = "standard", *, planes: str | Iterable[str] | None = None,
              frames: str | None = None, **settings: Any) -> VideoOptions:
        """From keyword settings: those of `CompareOptions.build` (``window``, ``sigma``,
        ``data_range``, ``ms_ssim`` ...) and the fields of this class; ``preset="ffmpeg"``
        scores ffmpeg's own SSIM and PSNR; ``planes`` may be ``"y,u"`` or ``"all"``;
        ``frames="A:B"`` is ``start``/``stop``."""
        video_fields = {k: settings.pop(k) for k in list(settings) if k in cls.__dataclass_fields__}
        if preset == FFMPEG:
            fixed = [k for k, v in settings.items() if v not in (None, False)
                     and k in ("window", "sigma", "k1", "k2", "alpha", "padding", "precision")]
            if fixed:
                raise SettingError(fixed[0], "is fixed by the ffmpeg preset (8x8 blocks, as "
                                             "libavfilter's ssim filter)")
            if settings.get("ms_ssim"):
                raise SettingError("ms_ssim", "is not part of the ffmpeg preset (SSIM and PSNR only)")
        compare = CompareOptions.build("standard" if preset == FFMPEG else preset, **settings)
        if frames is not None:
            video_fields["start"], video_fields["stop"] = parse_frames(frames)
        return cls(compare=compare, ffmpeg=preset == FFMPEG, planes=parse_planes(planes),
                   **video_fields)


def parse_planes(planes: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """``"all"`` or ``None`` -> None (every plane); ``"y"``, ``"y,u,v"`` -> a tuple."""
    if planes is None:
        return None
    parts = [p.strip().lower() for p in (planes.split(",") if isinstance(planes, str) else planes)]
    parts = [p for p in parts if p]
    if parts == [ALL]:
        return None
    if not parts or not set(parts) <= set(PLANE_NAMES) or len(set(parts)) != len(parts):
        raise SettingError("planes", f"must be all, or planes among y, u, v (g, b, r for RGB "
                                     f"video); got {planes!r}")
    return tuple(parts)


def parse_frames(text: str) -> tuple[int, int | None]:
    """``"A:B"`` (A inclusive, B exclusive, either empty) -> (start, stop)."""
    head, sep, tail = text.partition(":")
    try:
        start = int(head) if head.strip() else 0
        stop = int(tail) if tail.strip() else None
    except ValueError:
        start, stop = -1, None
    if not sep or start < 0 or (stop is not None and stop < 0):
        raise SettingError("frames", f"must be A:B with whole numbers >= 0 (either may be "
                                     f"empty); got {text!r}")
    return start, stop


# --------------------------------------------------------------------------- records


@dataclass
class FrameResult:
    """The scores of one pair of frames.

    ``index`` counts the pairs from 0 (after the offset); ``reference_index`` and
    ``distorted_index`` are each frame's own position in its video. ``scores[plane][metric]``
    for each scored plane and ``"all"``.
    """

    index: int
    reference_index: int
    distorted_index: int
    pts: float | None
    scores: dict[str, dict[str, float | None]]

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.index, "reference_frame": self.reference_index,
                "distorted_frame": self.distorted_index, "pts": self.pts,
                "planes": {plane: dict(values) for plane, values in self.scores.items()}}


@dataclass
class WorstFrame:
    """One of the K worst frames: its result, and its planes when they were kept."""

    result: FrameResult
    value: float
    reference: Any = None  # the reference VideoFrame (or None)
    distorted: Any = None


@dataclass
class FrameSource:
    """What `compare_videos` knows of one input before decoding it."""

    name: str
    width: int
    height: int
    planes: tuple[str, ...]
    plane_sizes: tuple[tuple[int, int], ...]
    max_value: float
    info: Any = None  # the io.video VideoInfo for files
    frames_decoded: int = 0
    ended: bool = False

    def describe(self) -> dict[str, Any]:
        info = self.info
        return {"path": self.name, "width": self.width, "height": self.height,
                "pix_fmt": getattr(info, "pix_fmt", None), "bit_depth": getattr(info, "bit_depth", None),
                "codec": getattr(info, "codec", None), "fps": getattr(info, "fps", None),
                "frame_count": getattr(info, "frame_count", None),
                "frames_decoded": self.frames_decoded}


# --------------------------------------------------------------------------- decoding


class _End:
    pass


_END = _End()


class _Reader(threading.Thread):
    """Decodes one video into a bounded queue; an exception is passed on as an item."""

    def __init__(self, frames: Iterable[Any]) -> None:
        super().__init__(daemon=True, name="ssim-l1-decode")
        self.frames = frames
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_FRAMES)
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for frame in self.frames:
                if not self._put(frame):
                    return
        except BaseException as exc:  # handed to the scoring thread, which raises it
            self._put(exc)
            return
        self._put(_END)

    def _put(self, item: Any) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        self.stopping.set()


class _Stream:
    """Frames of one input in order, with a push-back buffer (sync looks ahead)."""

    def __init__(self, source: FrameSource, frames: Iterable[Any]) -> None:
        self.source = source
        self.reader = _Reader(frames)
        self.ahead: deque[Any] = deque()
        self.reader.start()

    def next(self) -> Any | None:
        if self.ahead:
            return self.ahead.popleft()
        return self._pull()

    def _pull(self) -> Any | None:
        if self.source.ended:
            return None
        while True:
            try:
                item = self.reader.queue.get(timeout=0.1)
                break
            except queue.Empty:
                continue
        if item is _END:
            self.source.ended = True
            return None
        if isinstance(item, BaseException):
            self.source.ended = True
            raise item
        self.source.frames_decoded += 1
        return item

    def peek(self, count: int) -> list[Any]:
        """The next ``count`` frames (fewer at the end), left to be read again."""
        while len(self.ahead) < count:
            item = self._pull()
            if item is None:
                break
            self.ahead.append(item)
        return list(self.ahead)[:count]

    def drain(self) -> None:
        """Count the frames left (decoded, not scored)."""
        self.ahead.clear()
        while self.next() is not None:
            pass

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the decoding thread and wait for it; False if it is still inside the decoder."""
        self.reader.stop()
        if self.reader.is_alive() and self.reader is not threading.current_thread():
            self.reader.join(timeout)
        return not self.reader.is_alive()


# --------------------------------------------------------------------------- inputs


def _frame_planes(item: Any) -> tuple[np.ndarray, ...]:
    planes = getattr(item, "planes", None)
    if planes is not None:
        return tuple(planes)
    if isinstance(item, np.ndarray):
        return (item,)
    return tuple(np.asarray(p) for p in item)


def _open(path: str | Path, options: VideoOptions, raw: bool) -> tuple[FrameSource, Any]:
    from ssimcli.io.video import open_video

    video = open_video(path, size=options.size if raw else None, pix_fmt=options.pix_fmt,
                       threads=None)
    info = video.info
    return (FrameSource(str(path), info.width, info.height, tuple(info.planes),
                        tuple(info.plane_sizes), float(info.max_value), info), video)


def _from_iterable(name: str, frames: Iterable[Any]) -> tuple[FrameSource, Iterable[Any]]:
    """An iterable of frames or arrays: its first item tells the geometry."""
    iterator = iter(frames)
    try:
        first = next(iterator)
    except StopIteration:
        raise UsageError(f"{name}: no frames") from None
    planes = _frame_planes(first)
    dtype = planes[0].dtype
    max_value = float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
    names = ("y", "u", "v")[:len(planes)] if len(planes) in (1, 3) else ()
    if not names:
        raise UsageError(f"{name}: a frame has {len(planes)} planes; expected 1 (Y) or 3 (Y, U, V)")
    height, width = planes[0].shape[:2]
    sizes = tuple((int(p.shape[0]), int(p.shape[1])) for p in planes)

    def chained() -> Iterator[Any]:
        yield first
        yield from iterator

    return FrameSource(name, int(width), int(height), names, sizes, max_value), chained()


def _raw_inputs(reference: Any, distorted: Any) -> tuple[bool, bool]:
    """Which inputs a frame size applies to: files named as raw video (``.yuv`` ...); when
    neither is, both (a size then reads any file as raw)."""
    from ssimcli.io.video import RAW_SUFFIXES

    named = [isinstance(item, (str, Path)) and Path(item).suffix.lower() in RAW_SUFFIXES
             for item in (reference, distorted)]
    return (True, True) if not any(named) else (named[0], named[1])


def _source(item: Any, name: str, options: VideoOptions, raw: bool = True
            ) -> tuple[FrameSource, Iterable[Any], Any]:
    if isinstance(item, (str, Path)):
        source, video = _open(item, options, raw)
        return source, video, video
    if hasattr(item, "info") and hasattr(item, "__iter__"):  # an open VideoSource
        info = item.info
        return (FrameSource(str(getattr(info, "path", name)), info.width, info.height,
                            tuple(info.planes), tuple(info.plane_sizes), float(info.max_value),
                            info), item, None)
    source, frames = _from_iterable(name, item)
    return source, frames, None


# --------------------------------------------------------------------------- scoring


def _area_mean(values: list[float | None], areas: list[int], exact_ffmpeg: bool) -> float | None:
    """The planes' values weighted by area (None if one is None): ffmpeg's own sum of
    ``area / total * value`` for its preset (bit for bit its ``All``), else ``sum(v * a) / sum(a)``,
    which keeps identical planes at exactly 1."""
    if any(v is None for v in values):
        return None
    known = [float(v) for v in values if v is not None]
    if exact_ffmpeg:
        from ssimcli.metrics.ffmpeg import area_weighted

        return area_weighted(known, areas)
    return math.fsum(v * a for v, a in zip(known, areas, strict=True)) / sum(areas)


def _psnr(mse: float, peak: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


class Scorer:
    """Scores the planes of one frame pair (the engine, or ffmpeg's SSIM and PSNR)."""

    def __init__(self, options: VideoOptions, planes: tuple[str, ...], indices: tuple[int, ...],
                 sizes: tuple[tuple[int, int], ...], peak: float) -> None:
        from ssimcli.metrics.params import ms_ssim_min_size

        self.options = options
        self.planes = planes
        self.indices = indices
        self.areas = [sizes[i][0] * sizes[i][1] for i in indices]
        self.peak = float(options.compare.data_range or peak)
        smallest = ms_ssim_min_size(options.compare.params)
        self.ms_planes = {p for p, i in zip(planes, indices, strict=True)
                          if options.compare.ms_ssim and min(sizes[i]) >= smallest}
        self.vf_ssim = _x86_vf_ssim(sizes, self.peak) if options.ffmpeg else None
        self._frame_ssim: list[float] = []

    def score(self, reference: tuple[np.ndarray, ...], distorted: tuple[np.ndarray, ...]
              ) -> dict[str, dict[str, float | None]]:
        if self.vf_ssim is not None:  # every plane, frame after frame, as the x86 filter does
            self._frame_ssim = self.vf_ssim.frame(reference, distorted, int(self.peak))
        scores = {plane: (self._ffmpeg if self.options.ffmpeg else self._engine)(
            plane, reference[i], distorted[i]) for plane, i in zip(self.planes, self.indices,
                                                                   strict=True)}
        pooled: dict[str, float | None] = {}
        for metric in self.options.metrics:
            if metric not in ("psnr", "ssim_db"):
                pooled[metric] = _area_mean([scores[p].get(metric) for p in self.planes], self.areas,
                                            self.options.ffmpeg)
        pooled["psnr"] = _psnr(pooled["mse"] or 0.0, self.peak)  # from the pooled MSE, as ffmpeg
        if self.options.ffmpeg:
            from ssimcli.metrics.ffmpeg import ssim_db

            pooled["ssim_db"] = ssim_db(pooled["ssim"])  # type: ignore[arg-type]
        scores[ALL] = {m: pooled.get(m) for m in self.options.metrics}
        return scores

    def _ffmpeg(self, plane: str, x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
        from ssimcli.metrics import ffmpeg

        peak = int(self.peak)
        if self.vf_ssim is not None:
            ssim = self._frame_ssim[self.indices[self.planes.index(plane)]]
        else:
            ssim = ffmpeg.ssim_plane(x, y, peak)
        mse = ffmpeg.mse_plane(x, y)
        return {"ssim": ssim, "ssim_db": ffmpeg.ssim_db(ssim), "psnr": ffmpeg.psnr_db(mse, peak),
                "mse": mse}

    def _engine(self, plane: str, x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
        from ssimcli.metrics import compute

        result = compute(x, y, self.options.compare.params, data_range=1.0, divisor=self.peak,
                         ms_ssim=plane in self.ms_planes, threads=self.options.threads)
        values: dict[str, float | None] = dict(result.scores())
        psnr = values["psnr"]
        values["mse"] = 0.0 if psnr is None or math.isinf(psnr) else \
            self.peak * self.peak * 10.0 ** (-psnr / 10.0)
        for metric in MS_METRICS:
            values.setdefault(metric, None)
        return {m: (None if values.get(m) is None else float(values[m]))  # type: ignore[arg-type]
                for m in self.options.metrics}

    def maps(self, reference: np.ndarray, distorted: np.ndarray) -> dict[str, np.ndarray]:
        """The Y plane's SSIM and L1 maps, ``(H, W)`` float32 (the engine's, whatever the preset:
        ffmpeg's filter has no per-pixel map)."""
        from ssimcli.metrics import compute

        result = compute(reference, distorted, self.options.compare.params, data_range=1.0,
                         divisor=self.peak, return_maps=True, threads=self.options.threads)
        assert result.maps is not None
        return {name: np.asarray(result.maps[name])[..., 0] for name in ("ssim", "l1")}


def _x86_vf_ssim(sizes: tuple[tuple[int, int], ...], peak: float) -> Any:
    """`VfSsim` where ffmpeg's x86 build prints other values than its C code (8-bit planes with
    rows of 4k + 1 windows), at the filter's default thread count for this machine; else None
    (`ssim_plane` per plane is then the same)."""
    import os

    from ssimcli.metrics.ffmpeg import VfSsim, ffmpeg_default_threads

    if not VfSsim.quirk_applies(sizes, 8 if peak <= 255 else 16):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return VfSsim(threads=ffmpeg_default_threads(cpus))


def best_offset(reference: list[np.ndarray], distorted: list[np.ndarray], window: int
                ) -> tuple[int, dict[int, float]]:
    """The offset d in [-window, window] whose pairs (reference i, distorted i + d) of
    thumbnails differ least (mean squared error); ties go to the smallest |d|, then d > 0."""
    errors: dict[int, float] = {}
    for d in sorted(range(-window, window + 1), key=lambda k: (abs(k), -k)):
        pairs = [(reference[i], distorted[i + d]) for i in range(len(reference))
                 if 0 <= i + d < len(distorted)]
        if pairs:
            errors[d] = float(np.mean([np.mean((a - b) ** 2) for a, b in pairs]))
    if not errors:
        return 0, errors
    best = min(errors, key=lambda k: (errors[k], abs(k), -k))
    return best, errors


# --------------------------------------------------------------------------- pooling


def pooled_statistics(values: list[float | None], indices: list[int], metric: str,
                      peak: float | None = None, mses: list[float] | None = None
                      ) -> dict[str, Any]:
    """mean, harmonic mean (only when every value is > 0), min, 1st and 5th percentile
    (linear), max and the index of the worst frame. PSNR's mean is that of the mean MSE
    (``peak`` and ``mses`` given), as ffmpeg's summary."""
    kept = [(v, i) for v, i in zip(values, indices, strict=True) if v is not None]
    if not kept:
        return dict.fromkeys(STATISTICS)
    array = np.array([v for v, _ in kept], dtype=np.float64)
    higher = HIGHER_IS_BETTER.get(metric, metric != "mse")
    worst = min(kept, key=lambda p: (p[0] if higher else -p[0], p[1]))[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p5 = (float(np.nan_to_num(np.percentile(array, q), nan=math.inf)) for q in (1, 5))
        mean = float(np.mean(array))
        if mses is not None and peak is not None:
            mean = _psnr(float(np.mean(mses)), peak)
        harmonic = float(len(array) / np.sum(1.0 / array)) if np.all(array > 0) else None
    return {"mean": mean, "harmonic_mean": harmonic, "min": float(array.min()), "p1": p1,
            "p5": p5, "max": float(array.max()), "worst_frame": worst}


class VideoComparison:
    """Two videos being compared: iterate `frames`, then read `summary`.

    >>> run = compare_videos("ref.mp4", "out.mp4", preset="ffmpeg")  # doctest: +SKIP
    >>> for frame in run.frames():  # doctest: +SKIP
    ...     print(frame.index, frame.scores["all"]["ssim"])
    >>> run.summary["planes"]["all"]["ssim"]["mean"]  # doctest: +SKIP

    `frames` raises what stopped the decoding (a corrupt frame: ``VideoFrameError`` with its
    index; Ctrl-C: ``KeyboardInterrupt``) after the frames before it; `summary` then says so
    (``complete`` false, ``error`` or ``interrupted``) and pools the frames scored.
    """

    def __init__(self, reference: Any, distorted: Any, options: VideoOptions) -> None:
        self.options = options
        self._handles: list[Any] = []
        self._streams: list[_Stream] = []
        try:
            self._start(reference, distorted, options)
        except BaseException:
            self.close()  # a decoder left to the garbage collector can hang the interpreter's exit
            raise

    def _start(self, reference: Any, distorted: Any, options: VideoOptions) -> None:
        raw = _raw_inputs(reference, distorted) if options.size else (True, True)
        self.reference, ref_frames, handle = _source(reference, "reference", options, raw[0])
        self._handles.append(handle)
        self.distorted, dist_frames, handle = _source(distorted, "distorted", options, raw[1])
        self._handles.append(handle)
        self._check_geometry()
        wanted = options.planes or self.reference.planes
        missing = [p for p in wanted if p not in self.reference.planes]
        if missing:
            raise SettingError("planes", f"names {','.join(missing)}, which "
                                         f"{self.reference.name} does not have (it has "
                                         f"{','.join(self.reference.planes)})")
        self.planes = tuple(p for p in self.reference.planes if p in wanted)
        indices = tuple(self.reference.planes.index(p) for p in self.planes)
        self.scorer = Scorer(options, self.planes, indices, self.reference.plane_sizes,
                             self.reference.max_value)
        # Each plane's and metric's per-frame values, 8 bytes each (NaN: none), and the frames'
        # indices: what pooling needs, without keeping a record per frame.
        self._values: dict[tuple[str, str], array[float]] = {
            (plane, metric): array("d") for plane in (*self.planes, ALL) for metric in options.metrics}
        self.indices: array[int] = array("q")
        self._heap: list[tuple[float, int, WorstFrame]] = []
        self.offset = options.offset
        self.sync: dict[str, Any] | None = None
        self.interrupted = False
        self.error: dict[str, Any] | None = None
        self.stopped_early = False
        self.warnings: list[str] = []
        self._done = False
        self._ref_stream = _Stream(self.reference, ref_frames)
        self._streams.append(self._ref_stream)
        self._dist_stream = _Stream(self.distorted, dist_frames)
        self._streams.append(self._dist_stream)

    def _check_geometry(self) -> None:
        ref, dist = self.reference, self.distorted
        if (ref.width, ref.height) != (dist.width, dist.height) and not self.options.scale_to_ref:
            raise SizeMismatch(ref.name, dist.name, (ref.width, ref.height), (dist.width, dist.height))
        if ref.planes != dist.planes or ref.max_value != dist.max_value:
            what = lambda s: f"{getattr(s.info, 'pix_fmt', None) or ','.join(s.planes)}"  # noqa: E731
            raise UsageError(f"{dist.name}: pixel format {what(dist)} (planes "
                             f"{','.join(dist.planes)}, peak {dist.max_value:g}) differs from the "
                             f"reference's {what(ref)} (planes {','.join(ref.planes)}, peak "
                             f"{ref.max_value:g}) ({ref.name})")

    # ----------------------------------------------------------------- the frames

    def expected_pairs(self) -> int | None:
        """How many pairs will be scored, when both videos say their frame count."""
        counts = [getattr(s.info, "frame_count", None) for s in (self.reference, self.distorted)]
        if None in counts or (self.options.sync and self.sync is None):
            return None  # (with sync: known once the offset is chosen)
        pairs = min(counts[0] - max(0, -self.offset), counts[1] - max(0, self.offset))  # type: ignore[operator]
        stop = pairs if self.options.stop is None else min(pairs, self.options.stop)
        return max(0, len(range(self.options.start, stop, self.options.every)))

    def frames(self) -> Iterator[FrameResult]:
        """Score the pairs, one `FrameResult` each as it is done."""
        try:
            yield from self._frames()
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        except Exception as exc:
            if _is_frame_error(exc):
                self.error = {"frame": getattr(exc, "index", None), "message": str(exc)}
            raise
        finally:
            self.close()

    def _frames(self) -> Iterator[FrameResult]:
        self._align()
        skip_ref, skip_dist = max(0, -self.offset), max(0, self.offset)
        for _ in range(skip_ref):
            self._ref_stream.next()
        for _ in range(skip_dist):
            self._dist_stream.next()
        pair = 0
        opts = self.options
        while opts.stop is None or pair < opts.stop:
            ref, dist = self._ref_stream.next(), self._dist_stream.next()
            if ref is None or dist is None:
                self._count_mismatch(ref is None, dist is None, pair)
                break
            if pair >= opts.start and (pair - opts.start) % opts.every == 0:
                yield self._score(pair, skip_ref + pair, skip_dist + pair, ref, dist)
            pair += 1
        else:
            self.stopped_early = True
        self._done = True

    def _align(self) -> None:
        if not self.options.sync:
            return
        from ssimcli.io.video import luma_thumbnail

        count = self.options.sync_window + SYNC_EXTRA
        thumbs = []
        for stream in (self._ref_stream, self._dist_stream):
            frames = stream.peek(count)
            info = stream.source.info
            thumbs.append([np.asarray(luma_thumbnail(f, info), dtype=np.float32) if info is not None
                           else _thumbnail(_frame_planes(f)[0], stream.source.max_value)
                           for f in frames])
        self.offset, errors = best_offset(thumbs[0], thumbs[1], self.options.sync_window)
        self.sync = {"mode": "auto", "window": self.options.sync_window, "frames": count,
                     "offset": self.offset, "mse": errors.get(self.offset)}

    def _count_mismatch(self, ref_ended: bool, dist_ended: bool, pairs: int) -> None:
        for ended, stream in ((ref_ended, self._ref_stream), (dist_ended, self._dist_stream)):
            if not ended:
                stream.drain()
        left_ref = self.reference.frames_decoded - max(0, -self.offset)
        left_dist = self.distorted.frames_decoded - max(0, self.offset)
        if left_ref != left_dist:
            shift = f" (offset {self.offset})" if self.offset else ""
            self.warnings.append(
                f"frame counts differ: reference has {self.reference.frames_decoded} frames, "
                f"distorted has {self.distorted.frames_decoded}{shift}; scored the {pairs} "
                "pairs they have in common")

    def _score(self, pair: int, ref_index: int, dist_index: int, ref: Any, dist: Any) -> FrameResult:
        if self.options.scale_to_ref and (self.distorted.width, self.distorted.height) != (
                self.reference.width, self.reference.height):
            from ssimcli.io.video import scale_frame

            dist = scale_frame(dist, self.distorted.info, self.reference.width,
                               self.reference.height, self.options.scaler)
        scores = self.scorer.score(_frame_planes(ref), _frame_planes(dist))
        result = FrameResult(pair, ref_index, dist_index, getattr(ref, "pts", None), scores)
        for (plane, metric), values in self._values.items():
            value = scores[plane].get(metric)
            values.append(math.nan if value is None else value)
        self.indices.append(pair)
        self._keep_if_worst(result, ref, dist)
        return result

    def _keep_if_worst(self, result: FrameResult, ref: Any, dist: Any) -> None:
        if self.options.worst == 0:
            return
        metric = self.options.worst_by
        value = result.scores[ALL].get(metric)
        if value is None:
            return
        badness = -value if HIGHER_IS_BETTER.get(metric, True) else value
        keep = self.options.keep_worst
        entry = (badness, -result.index, WorstFrame(result, value, ref if keep else None,
                                                    dist if keep else None))
        if len(self._heap) < self.options.worst:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def worst_frames(self) -> list[WorstFrame]:
        """The K worst frames scored, worst first (ties: the earlier frame)."""
        return [entry[2] for entry in sorted(self._heap, key=lambda e: (-e[0], -e[1]))]

    def worst_maps(self, worst: WorstFrame) -> dict[str, np.ndarray]:
        """SSIM and L1 maps of a kept worst frame's Y plane."""
        ref, dist = worst.reference, worst.distorted
        if ref is None or dist is None:
            raise UsageError("the worst frames' planes were not kept (keep_worst=True keeps them)")
        if (self.distorted.width, self.distorted.height) != (self.reference.width, self.reference.height):
            from ssimcli.io.video import scale_frame

            dist = scale_frame(dist, self.distorted.info, self.reference.width,
                               self.reference.height, self.options.scaler)
            worst.distorted = dist
        return self.scorer.maps(_frame_planes(ref)[0], _frame_planes(dist)[0])

    def close(self) -> None:
        """Stop the decoder threads, then close the videos this comparison opened (a video
        is closed only once its thread has left the decoder)."""
        stopped = all([stream.close() for stream in self._streams])
        if not stopped:
            return  # a decoder still busy: closing its file under it would crash
        for handle in self._handles:
            closer = getattr(handle, "close", None)
            if closer is not None:
                closer()
        self._handles = []

    def __enter__(self) -> VideoComparison:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self) -> dict[str, Any]:
        """Score every pair; returns `summary`."""
        for _ in self.frames():
            pass
        return self.summary

    # ----------------------------------------------------------------- the summary

    def values(self, plane: str, metric: str) -> list[float | None]:
        """One metric of one plane for every frame scored, in order (None where it has none)."""
        return [None if math.isnan(v) else v for v in self._values[(plane, metric)]]

    @property
    def summary(self) -> dict[str, Any]:
        """The pooled result of the frames scored so far (the JSON ``summary``)."""
        planes = (*self.planes, ALL)
        stats: dict[str, dict[str, Any]] = {}
        for plane in planes:
            stats[plane] = {}
            for metric in self.options.metrics:
                values = self.values(plane, metric)
                mses = None
                if metric == "psnr":
                    mses = [v or 0.0 for v in self.values(plane, "mse")]
                stats[plane][metric] = pooled_statistics(values, list(self.indices), metric,
                                                         self.scorer.peak, mses)
        checks, failing = self.checks(stats)
        warnings = list(self.warnings)
        if self._done and not self.indices:
            warnings.append("no pair of frames was scored: the frames selected (and the "
                            "offset) lie beyond the end of the videos")
        return {
            "reference": self.reference.describe(),
            "distorted": self.distorted.describe(),
            "frames_scored": len(self.indices),
            "complete": self._done and not self.interrupted and self.error is None,
            "interrupted": self.interrupted,
            "error": self.error,
            "warnings": warnings,
            "offset": self.offset,
            "sync": self.sync,
            "scaled": ({"width": self.reference.width, "height": self.reference.height,
                        "scaler": self.options.scaler}
                       if (self.distorted.width, self.distorted.height)
                       != (self.reference.width, self.reference.height) else None),
            "selection": {"start": self.options.start, "stop": self.options.stop,
                          "every": self.options.every},
            "plane_names": list(planes),
            "metrics": list(self.options.metrics),
            "preset": self.options.preset,
            "parameters": self._parameters(),
            "data_range": self.scorer.peak,
            "planes": stats,
            "worst_by": self.options.worst_by,
            "worst_frames": [{"frame": w.result.index, "value": w.value}
                             for w in self.worst_frames()],
            "thresholds": checks,
            "failing_frames": failing,
            "passed": all(c["passed"] for c in checks),
            "version": __version__,
        }

    def _parameters(self) -> dict[str, Any] | None:
        if self.options.ffmpeg:
            return None
        p = self.options.compare.params
        return {"window": p.window, "sigma": p.sigma, "k1": p.k1, "k2": p.k2, "alpha": p.alpha,
                "padding": p.padding, "mean_over": p.mean_over, "window_kind": p.window_kind,
                "precision": p.precision, "ms_ssim": self.options.compare.ms_ssim}

    def checks(self, stats: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
        """The CI limits, each ``{"rule", "metric", "scope", "kind", "limit", "value",
        "margin", "passed", "frame"}``, and the failing frames of each per-frame rule."""
        limits = self.options.limits
        checks: list[dict[str, Any]] = []
        failing: dict[str, list[int]] = {}
        for rule, metric, scope in (("min_ssim", "ssim", "mean"), ("min_psnr", "psnr", "mean"),
                                    ("min_frame_ssim", "ssim", "frame"),
                                    ("min_frame_psnr", "psnr", "frame")):
            limit = getattr(limits, rule)
            if limit is None:
                continue
            frame = None
            if scope == "mean":
                value = stats[ALL][metric]["mean"]
            else:
                pairs = [(v, i) for v, i in zip(self.values(ALL, metric), self.indices, strict=True)
                         if v is not None]
                failing[rule] = [i for v, i in pairs if v is not None and v < limit]
                worst = min(pairs, key=lambda p: (p[0], p[1]), default=(None, None))
                value, frame = worst
            margin = None if value is None else value - limit
            checks.append({"rule": rule, "metric": metric, "scope": scope, "kind": "min",
                           "limit": limit, "value": value, "margin": margin, "frame": frame,
                           "passed": margin is not None and margin >= 0})
        return checks, failing


def _is_frame_error(exc: BaseException) -> bool:
    try:
        from ssimcli.io.video import VideoFrameError
    except ImportError:  # pragma: no cover - frames given as arrays, without PyAV
        return False
    return isinstance(exc, VideoFrameError)


def _thumbnail(plane: np.ndarray, peak: float, size: int = 64) -> np.ndarray:
    """A block-mean thumbnail in [0, 1] (frames given as arrays, without VideoInfo)."""
    step = max(1, min(plane.shape[0], plane.shape[1]) // size)
    h, w = plane.shape[0] // step * step, plane.shape[1] // step * step
    blocks = plane[:h, :w].astype(np.float32).reshape(h // step, step, w // step, step)
    return blocks.mean(axis=(1, 3)) / np.float32(peak)


def compare_videos(reference: Any, distorted: Any, options: VideoOptions | None = None,
                   **settings: Any) -> VideoComparison:
    """Compare two videos frame by frame.

    Parameters
    ----------
    reference, distorted : path, VideoSource, or iterable of frames
        Video files (anything PyAV opens; raw ``.yuv`` with ``size`` and ``pix_fmt``), open
        ``ssimcli.io.video.VideoSource`` objects, or iterables of frames: a ``VideoFrame``, a
        2-D array (Y only) or a sequence of three 2-D arrays (Y, U, V), integers at their
        dtype's full range unless ``data_range`` says otherwise.
    options : VideoOptions, optional
        Built from ``settings`` when not given (`VideoOptions.build`): ``preset`` (an image
        preset, or ``"ffmpeg"``), ``planes``, ``offset``, ``sync``, ``sync_window``,
        ``scale_to_ref``, ``scaler``, ``frames`` (``"A:B"``), ``every``, ``worst``,
        ``worst_by``, ``keep_worst``, ``limits`` (`VideoLimits`), ``threads``, and the
        metric settings of `ssimcli.options.CompareOptions.build`.

    Returns
    -------
    VideoComparison
        Iterate ``.frames()`` for the per-frame `FrameResult` objects; ``.summary`` is the
        pooled result (``.run()`` does both).
    """
    if options is None:
        options = VideoOptions.build(**settings)
    elif settings:
        options = replace(options, **settings)
    return VideoComparison(reference, distorted, options)
