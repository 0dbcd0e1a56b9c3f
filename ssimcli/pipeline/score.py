"""One pair, decoded and scored: the result type of the API and the pair pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssimcli._version import __version__
from ssimcli.errors import ImageTooSmallError, PairError, UsageError
from ssimcli.io.decode import LoadedImage, load_image
from ssimcli.metrics import MetricResult, compute, resolve_backend
from ssimcli.metrics.backend import Backend
from ssimcli.metrics.errors import ValuesOutOfRange
from ssimcli.options import CompareOptions
from ssimcli.pipeline.prepare import prepare_images

#: ``(shape, dtype) -> sink or None``: how `compare_loaded` hands maps over as they are made.
MapSinkFactory = Callable[[tuple[int, ...], np.dtype], Callable[[int, dict[str, Any]], None] | None]


@dataclass
class PairResult:
    """The outcome of comparing one pair: scores, the settings in force, maps if asked for."""

    reference: str
    candidate: str
    width: int
    height: int
    channel_names: list[str]
    metrics: MetricResult
    options: CompareOptions
    data_range: float
    candidate_data_range: float
    device: str
    maps: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def scores(self) -> dict[str, float]:
        return self.metrics.scores()

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: scores, per-channel values, files, size and every parameter."""
        params = self.options.params
        window = self.metrics.window
        out: dict[str, Any] = {
            "reference": self.reference,
            "candidate": self.candidate,
            **{k: _round(v) for k, v in self.scores().items()},
            "per_channel": [
                {"channel": name, **{k: _round(v[i]) for k, v in self.metrics.per_channel.items()}}
                for i, name in enumerate(self.channel_names)
            ],
            "width": self.width,
            "height": self.height,
            "channels": len(self.channel_names),
            "preset": self.options.preset,
            "window": window.size,
            "window_requested": window.requested_size,
            "window_shrunk": window.shrunk,
            "sigma": window.sigma,
            "sigma_requested": params.sigma,
            "window_kind": params.window_kind,
            "k1": params.k1,
            "k2": params.k2,
            "alpha": params.alpha,
            "data_range": self.data_range,
            "candidate_data_range": self.candidate_data_range,
            "color": self.options.color,
            "crop": self.options.crop,
            "transparency": self.options.transparency,
            "padding": params.padding,
            "mean_over": params.mean_over,
            "clip": params.clip,
            "sample_covariance": params.sample_covariance,
            "precision": params.precision,
            "device": self.device,
            "version": __version__,
        }
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else float(value)


# Above this many bytes of files, the two are decoded one after the other: each decode holds
# the whole file beside its pixels, and two at once would double that transient.
_SERIAL_DECODE_BYTES = 256 << 20


def load_pair(
    reference: str | Path, candidate: str | Path, data_range: float | None = None,
    max_pixels: int | None = None, *, while_decoding: Callable[[], None] | None = None,
) -> tuple[LoadedImage, LoadedImage]:
    """Decode both files, concurrently (the codecs release the GIL) unless they are huge.

    Both headers are read first (`probe_pair`): special files, images over ``max_pixels`` or
    over the memory available, and a size mismatch are refused before any pixel is decoded.
    While the decoders run, this thread imports the metric engine (OpenCV, where the native
    kernel is not built), which would otherwise be imported, alone, after them, then calls
    ``while_decoding`` (the CLI imports what its output needs).
    """
    from concurrent.futures import ThreadPoolExecutor

    from ssimcli.io.probe import probe_pair

    probe_pair(reference, candidate, max_pixels)
    if _file_bytes(reference) + _file_bytes(candidate) > _SERIAL_DECODE_BYTES:
        if while_decoding is not None:
            while_decoding()
        return (load_image(reference, data_range, max_pixels),
                load_image(candidate, data_range, max_pixels))
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref_future = pool.submit(load_image, reference, data_range, max_pixels)
        cand_future = pool.submit(load_image, candidate, data_range, max_pixels)
        from ssimcli.metrics.fast import warm_up

        warm_up()
        if while_decoding is not None:
            while_decoding()
        ref = ref_future.result()
        cand = cand_future.result()
    return ref, cand


def _file_bytes(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:  # the loader says what is wrong with it
        return 0


def compare_loaded(
    reference: LoadedImage,
    candidate: LoadedImage,
    options: CompareOptions | None = None,
    *,
    return_maps: bool = False,
    backend: Backend | None = None,
    threads: int | None = None,
    map_sink_for: MapSinkFactory | None = None,
    local_window: int | None = None,
) -> PairResult:
    """Score two loaded images; ``threads`` bounds the engine's threads (default: all cores).

    ``local_window``: also find the worst square of that side (``result.metrics.local``).

    Width and height in the result are those of the compared region (after ``crop``).

    ``map_sink_for``: on the CPU, called with the maps' ``(H, W, C)`` shape and dtype once the
    pair is known to be comparable; the sink it returns (if any) receives the maps strip by
    strip as they are computed (`ssimcli.metrics.compute`'s ``map_sink``). Where no sink
    applies (another device), ``result.maps`` holds the whole maps instead, whatever
    ``return_maps`` says, so that the caller can write them from there.
    """
    options = options or CompareOptions()
    pair = prepare_images(
        reference, candidate, options.color, options.transparency, options.background,
        options.crop, options.params.precision,
    )
    backend = backend or resolve_backend(options.device)
    sink = None
    if map_sink_for is not None and backend.name == "cpu":
        image = pair.reference
        shape = (image.shape[0], image.shape[1], image.shape[2] if image.ndim == 3 else 1)
        sink = map_sink_for(shape, np.dtype(options.params.dtype))
    return_maps = return_maps or (map_sink_for is not None and sink is None)
    try:
        metrics = compute(
            backend.asarray(pair.reference), backend.asarray(pair.candidate), options.params,
            ms_ssim=options.ms_ssim, return_maps=return_maps, backend=backend,
            divisor=pair.divisor, threads=threads if backend.name == "cpu" else None,
            map_sink=sink, local_window=local_window,
        )
    except (ImageTooSmallError, ValuesOutOfRange) as exc:
        raise PairError(reference.path, candidate.path, str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    maps = None
    if return_maps and metrics.maps is not None:
        maps = {k: np.asarray(backend.to_numpy(v)) for k, v in metrics.maps.items()}
        metrics.maps = None
    return PairResult(
        reference=reference.path,
        candidate=candidate.path,
        width=int(pair.reference.shape[1]),
        height=int(pair.reference.shape[0]),
        channel_names=pair.channel_names,
        metrics=metrics,
        options=options,
        data_range=reference.data_range,
        candidate_data_range=candidate.data_range,
        device=backend.name,
        maps=maps,
    )
