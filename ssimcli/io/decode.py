"""Reading images and bringing them to normalised float arrays. Every failure is an `InputError`.

PNG goes through imagecodecs (libpng), which keeps all 16 bits of 16-bit RGB(A) files that
Pillow would reduce to 8; TIFF through tifffile; JPEG, BMP, WebP, GIF and the rest through
Pillow, whose colour models are converted to grey or RGB (+ alpha) by name or refused by name
(a CMYK JPEG read as RGB + alpha scored 0.41 against its own RGB rendering); ``.npy`` through
NumPy. Before any of them runs, `ssimcli.io.probe` checks the file type and the header's size.

Why one long module: decoding and preparation share the `LoadedImage` type and its
invariants (native dtype, divisor, alpha); header checks are in `probe.py`.
"""

from __future__ import annotations

import io as _io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from ssimcli.errors import InputError, SettingError
from ssimcli.io.probe import PNG_MAGIC, check_input_file, check_limits, not_readable, probe_stream, unbounded_pillow


@dataclass
class LoadedImage:
    """A decoded image, kept in its native dtype: ``values / data_range`` lies in [0, 1].

    ``values`` is ``(H, W, C)`` as decoded (uint8, uint16, float...), so a 30000 x 30000 8-bit
    pair costs its bytes, not four times them; the engine converts it to float strip by strip.
    ``has_alpha`` marks the last channel as alpha.
    """

    path: str
    values: np.ndarray = field(repr=False)
    has_alpha: bool
    source_dtype: str
    data_range: float

    @property
    def pixels(self) -> np.ndarray:
        """``(H, W, C)`` float32 in [0, 1] (a new array on every access: full-size, use sparingly)."""
        if self.values.dtype == np.float32 and self.data_range == 1.0:
            return self.values
        return normalised(self.values, self.data_range, np.float32)

    @property
    def height(self) -> int:
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    @property
    def colour_channels(self) -> int:
        return self.values.shape[2] - int(self.has_alpha)


def normalised(values: np.ndarray, divisor: float, dtype: Any) -> np.ndarray:
    """``values / divisor`` as ``dtype``, computed in ``dtype`` (the single place it is done).

    Division, not multiplication by 1/divisor: v/255 and 257v/65535 then round to the same
    float32, so 8-bit and 16-bit files of one picture give the same numbers.
    """
    out = np.empty(values.shape, dtype=dtype)
    np.divide(values, dtype(divisor), out=out, dtype=dtype, casting="unsafe")
    return out


def read_raw(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Decode a file to its native array (no normalisation); `InputError` on any failure.

    The file is checked to be a regular file before it is opened, and its header against the
    pixel and memory limits (`ssimcli.io.probe`) before any pixel is decoded.
    """
    path = Path(path)
    info = check_input_file(path)
    if info.st_size == 0:
        raise InputError(path, "empty file, not an image")
    try:
        with open(path, "rb") as handle:
            head = handle.read(33)
            handle.seek(0)
            data: bytes | memoryview
            if head.startswith(PNG_MAGIC):
                streamed = _stream_large_png(path, head, handle, max_pixels)
                if streamed is not None:
                    return streamed
                data = _read_into_array(handle, info.st_size)
            else:
                data = handle.read()
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    if len(data) == 0:
        raise InputError(path, "empty file, not an image")
    # A PNG's header is in its first 33 bytes: no copy of the whole file for the probe.
    header = probe_stream(path, _io.BytesIO(data if isinstance(data, bytes) else data[:64].tobytes()))
    check_limits(header, max_pixels)
    if header.format == "PNG":
        return _decode_png(path, data)
    data = bytes(data)  # no copy: only PNGs are read into a memoryview
    if header.format == "NPY":
        return _read_npy(path, data)
    if header.format == "TIFF":
        return _decode_tiff(path, data)
    return _decode_with_pillow(path, data)


def _read_into_array(handle: Any, size: int) -> memoryview:
    """The file, in a NumPy buffer: NumPy asks the kernel for huge pages for large arrays, so
    reading a 4K PNG takes tens of page faults instead of thousands (a third of a 4K
    ``compare``'s system time went to faulting in ``bytes`` buffers). ``size`` is what the file
    measured; one that has changed since is read as it is now."""
    buffer = np.empty(size, dtype=np.uint8)
    filled = 0
    while filled < size:
        count = handle.readinto(buffer.data[filled:])
        if not count:  # shorter now
            return buffer.data[:filled]
        filled += count
    more = handle.read()  # longer now: rare, so a copy is fine
    return np.concatenate([buffer, np.frombuffer(more, np.uint8)]).data if more else buffer.data


def _stream_large_png(path: Path, head: bytes, handle: Any, max_pixels: int | None,
                      ) -> np.ndarray | None:
    """A large PNG decoded from ``handle`` (at its start) in pieces (`pngread.decode_file`):
    its header (in ``head``, the first 33 bytes) is checked against the limits first; ``None``
    when it is small enough to read whole."""
    from ssimcli.io import png as pngread

    header = probe_stream(path, _io.BytesIO(head))
    if header.nbytes <= pngread.FAST_MAX_BYTES:
        return None
    check_limits(header, max_pixels)
    try:
        return pngread.decode_file(handle)
    except pngread.CorruptPng:
        raise InputError(path, "not a valid PNG (truncated or corrupt data)") from None


def _read_npy(path: Path, data: bytes) -> np.ndarray:
    try:
        array = np.load(_io.BytesIO(data), allow_pickle=False)
    except Exception:
        raise InputError(path, "not a valid .npy file (truncated or corrupt data)") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "uifb":
        raise InputError(path, f"unsupported .npy dtype {getattr(array, 'dtype', '?')}")
    return array


def _decode_png(path: Path, data: bytes | memoryview) -> np.ndarray:
    import imagecodecs

    from ssimcli.io import png as pngread

    try:
        pixels = pngread.decode(data)  # the common layouts, faster (None: not this one)
        return pixels if pixels is not None else imagecodecs.png_decode(cast(bytes, data))
    except Exception:
        # libpng's own text can carry uninitialised bytes: one fixed message per failure kind.
        raise InputError(path, "not a valid PNG (truncated or corrupt data)") from None


# TIFF photometric interpretations read as they are stored (tifffile's numbers).
_TIFF_DIRECT = {0: "min-is-white", 1: "min-is-black", 2: "RGB", 3: "palette"}


def _decode_tiff(path: Path, data: bytes) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(_io.BytesIO(data)) as tif:
            page: Any = tif.pages[0]
            photometric = int(page.photometric)
            if photometric not in _TIFF_DIRECT:
                name = getattr(page.photometric, "name", str(photometric))
                raise InputError(path, f"unsupported TIFF colour model {name} "
                                       "(convert it to RGB or grey)")
            array = tif.asarray()
            colormap = page.colormap if photometric == 3 else None
    except InputError:
        raise
    except Exception:
        raise InputError(path, "not a valid TIFF (truncated or corrupt data)") from None
    if photometric == 0:
        return _invert_min_is_white(path, array)
    if colormap is not None:
        # Palette indices -> their RGB colours (tifffile returns the bare indices).
        return np.moveaxis(_colormap_samples(np.asarray(colormap))[:, array], 0, -1)
    return array


def _colormap_samples(colormap: np.ndarray) -> np.ndarray:
    """A TIFF colour map is 16-bit by the standard, but writers store 8-bit palettes as v*257
    or v<<8 (Pillow): those are read as the 8-bit values they are, as libtiff and Pillow do."""
    values = colormap.astype(np.uint16)
    if (values % 257 == 0).all() or (values & 0xFF == 0).all():
        return (values >> 8).astype(np.uint8)
    return values


def _invert_min_is_white(path: Path, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind != "u":
        raise InputError(path, "unsupported TIFF: min-is-white with non-integer samples")
    return np.iinfo(array.dtype).max - array


# Pillow modes converted on reading, to the grey/RGB (+ alpha) that the rest of the tool knows.
# CMYK covers YCCK and Adobe-inverted CMYK JPEGs: Pillow's decoder undoes both before this.
_PILLOW_CONVERT = {"1": "L", "CMYK": "RGB", "YCbCr": "RGB", "HSV": "RGB", "RGBX": "RGB",
                   "RGBa": "RGBA", "La": "LA", "PA": "RGBA"}
_PILLOW_DIRECT = ("L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "F")


def _decode_with_pillow(path: Path, data: bytes) -> np.ndarray:
    try:
        image = unbounded_pillow().open(_io.BytesIO(data))
    except Exception:
        raise not_readable(path, data[:16]) from None
    kind = image.format or "image"
    try:
        image.seek(0)
        image.load()
    except Exception:
        # Decoder texts vary (and may hold stray bytes): one fixed message per kind.
        raise InputError(path, f"not a valid {kind} (truncated or corrupt data)") from None
    return _pillow_array(path, image, kind)


def _pillow_array(path: Path, image: Any, kind: str) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        mode_to = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(mode_to)
    elif mode in _PILLOW_CONVERT:
        image = image.convert(_PILLOW_CONVERT[mode])
    elif mode not in _PILLOW_DIRECT:
        raise InputError(path, f"unsupported colour model {mode} in a {kind} file "
                               "(convert it to RGB or grey)")
    array = np.asarray(image)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def load_image(path: str | Path, data_range: float | None = None,
               max_pixels: int | None = None) -> LoadedImage:
    """Read ``path``: its native ``(H, W, C)`` values and the divisor that brings them to [0, 1].

    Integer images divide by their dtype's maximum (255, 65535), so an 8-bit and a 16-bit file of
    the same picture load the same; float images must already lie in ``[0, data_range]``
    (``data_range`` defaults to 1). A given ``data_range`` overrides the divisor for every dtype.
    An image over ``max_pixels`` (default `ssimcli.io.probe.DEFAULT_MAX_PIXELS`) or over the memory
    available is refused from its header, before it is decoded.
    """
    raw = read_raw(path, max_pixels)
    return normalise(raw, path, data_range)


def normalise(raw: np.ndarray, path: str | Path, data_range: float | None = None) -> LoadedImage:
    """Bring a decoded array to a `LoadedImage`; checks shape, finiteness and range.

    The values stay as decoded (no float copy); ``data_range`` records the divisor.
    """
    if data_range is not None and not (math.isfinite(data_range) and data_range > 0):
        raise SettingError("data_range", f"must be a positive number, got {data_range}")
    array = raw
    if array.ndim == 3 and array.shape[0] in (1,) and array.shape[2] not in (1, 2, 3, 4):
        array = array[0]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InputError(path, f"unsupported image shape {raw.shape} (need H x W or H x W x 1-4)")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise InputError(path, f"empty image of shape {raw.shape}")
    if array.dtype.kind == "b":  # False/True as 0/1
        array = array.astype(np.uint8)
        divisor = 1.0 if data_range is None else float(data_range)
    else:
        divisor = _divisor(array, path, data_range)
    if array.dtype.kind == "f" or data_range is not None:
        _check_range(array, path, divisor)
    channels = array.shape[2]
    return LoadedImage(str(path), array, channels in (2, 4), str(raw.dtype), divisor)


def _divisor(array: np.ndarray, path: str | Path, data_range: float | None) -> float:
    """What brings the values to [0, 1]: the dtype's maximum for integers, else 1 (or the
    given data range)."""
    kind = array.dtype.kind
    if kind not in "uif":
        raise InputError(path, f"unsupported pixel type {array.dtype}")
    if kind == "i" and array.min() < 0:
        raise InputError(path, "negative pixel values in a signed integer image")
    if data_range is not None:
        return float(data_range)
    if kind == "f":
        return 1.0
    return float(np.iinfo(array.dtype).max)


def _check_range(array: np.ndarray, path: str | Path, divisor: float) -> None:
    if not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "infinite"
        raise InputError(path, f"contains {bad} values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > divisor:
        raise InputError(
            path,
            f"values outside [0, {divisor:g}] (min {low:.6g}, max {high:.6g}); "
            "pass --data-range to set the range",
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingError(name.lstrip("-"), f"must be one of {', '.join(choices)}; got {value!r}")


