"""Map files: the float maps as .npy and heatmap PNGs, written by threads as the kernel makes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssimcli.metrics.fast import MapSink
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ssimcli.io.guard import guard_not_input
from ssimcli.options import MapRequest


def write_maps(
    maps: dict[str, np.ndarray], directory: str | Path, inputs: Iterable[str | Path] = (),
    request: MapRequest | None = None,
) -> list[Path]:
    """``<name>.npy`` (raw float32, H x W or H x W x C) and ``<name>.png`` (heatmap) for each
    map of ``request`` (default: every map, both files); returns the paths written."""
    with MapWriter(directory, request, inputs) as writer:
        return writer.write(maps)


class MapWriter:
    """Writes the maps of one pair into ``directory``, as ``request`` says.

    The maps are written as the engine makes them, never held whole: `sink_for` (given to
    `ssimcli.pipeline.score.compare_loaded` as ``map_sink_for``) opens each ``.npy`` file as a temporary
    `ssimcli.io.output.PositionalFile`, writes its header, and returns a sink that receives each
    strip of rows from the engine's threads while it is in cache: the raw rows go straight
    into the file at their offset (no copy of a whole map is ever made, and the kernel writes
    them out while the rest is computed), and each heatmap keeps only its colour index, one
    byte per pixel. `write` then colours and encodes the heatmaps and renames every file into
    place. Where no sink applies (another device; a FIFO among the targets) `write` takes the
    whole maps instead. Leaving the ``with`` block without `write` (the pair failed) removes
    the temporary files, and the folders made for them when left empty.

    Heatmaps are encoded on ``threads`` threads (default: as many as the engine may use; one
    in a batch worker, whose siblings use the other cores): NumPy, the deflate encoder and
    file writes release the GIL.
    """

    def __init__(self, directory: str | Path, request: MapRequest | None = None,
                 inputs: Iterable[str | Path] = (), *, threads: int | None = None) -> None:
        from ssimcli.options import MapRequest

        self.threads = threads
        self.directory = Path(directory)
        self.request = request or MapRequest()
        self.inputs = list(inputs)
        self._files: dict[str, Any] = {}  # name -> PositionalFile of its .npy
        self._index: dict[str, np.ndarray] = {}  # name -> (H, W) colour index of its heatmap
        self._indexed = False  # the engine fills self._index itself
        self._offset = 0  # of row 0 in each .npy file
        self._row_bytes = 0
        self._made: list[Path] = []

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def targets(self) -> list[Path]:
        """Every file this writer will write (refused when one is an input)."""
        paths = [self.directory / f"{name}.{kind}" for kind in ("npy", "png")
                 if kind in self.request.formats for name in self.request.names]
        for path in paths:
            guard_not_input(path, self.inputs)
        return paths

    def sink_for(self, shape: tuple[int, ...], dtype: np.dtype) -> MapSink | None:
        """Open the files for maps of this ``(H, W, C)`` shape; the sink that fills them, or
        ``None`` when a target cannot be written out of order (a FIFO, a device)."""
        from ssimcli.io.heatmap import SCALES
        from ssimcli.io.output import PositionalFile, can_place

        if not all(can_place(path) for path in self.targets()):
            return None
        height, width, channels = shape
        self._note_folders()
        header = npy_header((height, width) if channels == 1 else (height, width, channels))
        self._offset, self._row_bytes = len(header), width * channels * 4
        for name in self.request.names:
            if "npy" in self.request.formats:
                self._files[name] = PositionalFile(self.directory / f"{name}.npy")
                self._files[name].write_at(0, header)
            if "png" in self.request.formats and name in SCALES:
                self._index[name] = np.empty((height, width), dtype=np.uint8)
        return self

    # The sink protocol (ssimcli.metrics.fast.MapSink): the engine calls the writer itself.

    @property
    def float_maps(self) -> tuple[str, ...]:
        """The maps the sink needs as floats: those written as ``.npy``, and all of them when
        the engine leaves the heatmaps' colour index to the sink."""
        return tuple(self._files) if self._indexed else tuple(self._files) + tuple(
            name for name in self._index if name not in self._files)

    @property
    def heatmap_indexes(self) -> dict[str, tuple[np.ndarray, float, float]]:
        from ssimcli.io.heatmap import SCALES

        return {name: (index, *SCALES[name]) for name, index in self._index.items()}

    def engine_fills_indexes(self) -> None:
        self._indexed = True

    def __call__(self, start: int, maps: dict[str, np.ndarray]) -> None:
        """One strip of rows ``start:start + n`` (called from the engine's threads)."""
        from ssimcli.io.heatmap import SCALES, quantise

        for name, file in self._files.items():
            rows = np.ascontiguousarray(maps[name], dtype="<f4")
            file.write_at(self._offset + start * self._row_bytes, rows)
        if self._indexed:
            return
        for name, index in self._index.items():
            block = maps[name]
            quantise(block, *SCALES[name], out=index[start:start + block.shape[0]])

    def write(self, maps: dict[str, np.ndarray] | None) -> list[Path]:
        """Write what the sink has not (heatmaps; every file when there was no sink) and put
        every file in place; returns their paths."""
        tasks: list[tuple[Path, Callable[[], list[Any]]]] = []
        for path in self.targets():
            name, kind = path.stem, path.suffix[1:]
            make = self._maker(name, kind, maps)
            if make is not None:
                tasks.append((path, make))
        _run(tasks, self.threads)
        for file in self._files.values():
            file.commit()
        written = {path for path, _ in tasks} | {f.path for f in self._files.values()}
        return [path for path in self.targets() if path in written]

    def _maker(self, name: str, kind: str, maps: dict[str, np.ndarray] | None
               ) -> Callable[[], list[Any]] | None:
        if kind == "npy" and name in self._files:
            return None  # written by the sink
        if kind == "png" and name in self._index:
            from ssimcli.io.heatmap import SCALES, heatmap_rows_of_index, png_from_rows

            index = self._index[name]
            return lambda: png_from_rows(heatmap_rows_of_index(index, name, SCALES[name]))
        if maps is None or name not in maps:
            return None
        return _map_file(maps[name], name, kind)

    def close(self) -> None:
        """Remove what was not committed (the pair failed): temporary files, new folders."""
        leftovers = [file for file in self._files.values() if not file.committed]
        for file in leftovers:
            file.discard()
        self._files.clear()
        self._index.clear()
        if leftovers:
            for folder in reversed(self._made):
                try:
                    folder.rmdir()
                except OSError:
                    break

    def _note_folders(self) -> None:
        """The folders that do not exist yet (outermost first), to remove them on failure."""
        folder = self.directory
        missing = []
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        self._made = missing[::-1]


def _run(tasks: list[tuple[Path, Callable[[], list[Any]]]], threads: int | None = None) -> None:
    threads = min(len(tasks), _writer_threads() if threads is None else threads)
    if threads <= 1:
        for path, make in tasks:
            _write_map_file(path, make)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(_write_map_file, path, make) for path, make in tasks]:
            future.result()


def _writer_threads() -> int:
    from ssimcli.metrics.fast import default_threads

    return default_threads()


def _map_file(map_: np.ndarray, name: str, kind: str) -> Callable[[], list[Any]]:
    """A function that returns the buffers of one map file (made on the writing thread)."""
    raw = map_[:, :, 0] if map_.ndim == 3 and map_.shape[2] == 1 else map_
    if kind == "npy":
        return lambda: npy_buffers(raw)
    from ssimcli.io.heatmap import heatmap_png

    return lambda: heatmap_png(raw, name)


def _write_map_file(path: Path, make: Callable[[], list[Any]]) -> None:
    from ssimcli.io.output import write_buffers

    write_buffers(path, make())


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` (version 1.0) header of a C-ordered little-endian float32 array, as
    `numpy.save` writes it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": tuple(int(n) for n in shape)})
    return header.getvalue()


def npy_buffers(array: np.ndarray) -> list[Any]:
    """A ``.npy`` file of ``array`` as float32, as buffers: the header, then the array's own
    memory (no copy when it already is C-contiguous float32)."""
    array = np.ascontiguousarray(array, dtype="<f4")
    return [npy_header(array.shape), array.reshape(-1).data.cast("B")]


def maps_folder(maps_dir: str | Path, name: str) -> Path:
    """Where the maps of pair ``name`` go: ``DIR/<name>/`` (``DIR/nested/a.png/ssim.png``).

    The folder keeps the reference's full file name, so ``a.png`` and ``a.jpg`` in one folder
    never share maps.
    """
    return Path(maps_dir, *name.split("/"))
