"""Fast PNG decoding for the common layouts: zlib-ng inflate, then the native unfilter.

Why: decoding the two files is most of a 4K ``compare`` (libpng: ~0.16 s per 4K RGB file
here). zlib-ng (imagecodecs) inflates the same stream in ~0.10 s and undoing the row filters
in `ssimcli.metrics._native` takes a few milliseconds more, for the very same pixels.

Only what it can decode exactly is taken: 8- and 16-bit grey, grey+alpha, RGB and RGBA,
not interlaced, with no chunk that could change the pixels (``tRNS``, palettes, APNG frames,
unknown critical chunks). Everything else, and every image of more than `FAST_MAX_BYTES`
(libpng streams rows and never holds the inflated stream whole), returns ``None`` and goes to
libpng. The chunks that are read have their CRCs checked and the stream its Adler-32, as
libpng does: corrupt or truncated data is a `CorruptPng`, never a partial image.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Inflated streams larger than this are left to libpng (its row-by-row decoding holds less).
FAST_MAX_BYTES = 256 << 20
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
# Ancillary chunks that libpng reports but does not apply to the samples it returns.
_IGNORED = {b"tEXt", b"zTXt", b"iTXt", b"pHYs", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
            b"sBIT", b"bKGD", b"eXIf", b"hIST", b"sPLT", b"oFFs", b"pCAL", b"sCAL", b"sTER",
            b"dSIG", b"cICP", b"mDCv", b"cLLi"}


class CorruptPng(ValueError):
    """The file is a PNG this module reads, but its data are truncated or corrupt."""


def _native() -> Any:
    try:
        from .metrics import _native
    except ImportError:  # pragma: no cover - built without a C compiler
        return None
    return _native


def decode(data: bytes) -> np.ndarray | None:
    """The pixels of PNG file contents as libpng returns them (``(H, W)`` grey, else
    ``(H, W, C)``; uint8 or native uint16), or ``None`` when the layout is left to libpng.

    Raises `CorruptPng` for bad CRCs, truncation, a bad zlib stream or filter byte.
    """
    native = _native()
    if native is None or not data.startswith(SIGNATURE):
        return None
    header, stream = _read_chunks(data)
    if header is None:
        return None
    width, height, depth, colour = header
    channels = _CHANNELS[colour]
    pixel_bytes = channels * depth // 8
    rowbytes = width * pixel_bytes
    expected = _inflated_bytes(header)
    import imagecodecs

    # One buffer: inflated into, then unfiltered in place; the pixels are its first
    # height * rowbytes bytes (the filter bytes they displace are 1 byte per row).
    buffer = np.empty(expected, dtype=np.uint8)
    try:
        size = len(imagecodecs.zlibng_decode(stream, out=buffer.data))
    except Exception:
        raise CorruptPng("bad zlib stream") from None
    if size != expected:
        raise CorruptPng("image data shorter than the header says")
    try:
        native.png_unfilter(buffer, None, height, rowbytes, pixel_bytes)
    except ValueError:
        raise CorruptPng("bad row filter") from None
    dtype = np.dtype(np.uint8) if depth == 8 else np.dtype(">u2")
    pixels = buffer[:height * rowbytes].view(dtype).reshape(height, width, channels)
    if depth == 16:
        pixels = _native_order(pixels)
    return pixels[:, :, 0] if channels == 1 else pixels


def _native_order(pixels: np.ndarray) -> np.ndarray:
    """Big-endian 16-bit samples (PNG's order) as native uint16, in place where possible."""
    if sys.byteorder == "little":
        pixels.byteswap(inplace=True)
        return pixels.view(np.uint16)
    return pixels.astype(np.uint16)


def _read_chunks(data: bytes) -> tuple[tuple[int, int, int, int] | None, bytes]:
    """The IHDR fields ``(width, height, depth, colour)`` and the joined IDAT data; the header
    is ``None`` when this module does not decode the file."""
    header: tuple[int, int, int, int] | None = None
    parts: list[memoryview] = []
    for index, (kind, body) in enumerate(_chunks(data)):
        if kind == b"IHDR":
            if index or len(body) != 13:
                raise CorruptPng("bad IHDR")
            header = _supported_header(body)
            if header is None or _inflated_bytes(header) > FAST_MAX_BYTES:
                return None, b""  # before any image data is gathered
        elif header is None:
            raise CorruptPng("IHDR is not the first chunk")
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            break
        elif kind not in _IGNORED:
            return None, b""  # tRNS, PLTE, APNG frames, anything unknown: libpng decides
    if not parts:
        raise CorruptPng("no image data")
    return header, parts[0].tobytes() if len(parts) == 1 else b"".join(parts)


def _chunks(data: bytes) -> Iterator[tuple[bytes, memoryview]]:
    """Each chunk's type and data, up to IEND; the CRCs of critical chunks are checked."""
    import imagecodecs

    view = memoryview(data)
    pos, size = len(SIGNATURE), len(data)
    while True:
        if pos + 12 > size:
            raise CorruptPng("truncated")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > size:
            raise CorruptPng("truncated")
        if kind in (b"IHDR", b"IDAT", b"IEND"):
            (crc,) = struct.unpack_from(">I", data, end - 4)
            # Any buffer works (the stubs say bytes): no copy of the chunk.
            if imagecodecs.zlibng_crc32(cast(bytes, view[pos + 4:end - 4])) != crc:
                raise CorruptPng("bad CRC")
        yield kind, view[pos + 8:end - 4]
        if kind == b"IEND":
            return
        pos = end


def _inflated_bytes(header: tuple[int, int, int, int]) -> int:
    """The size of the inflated stream: a filter byte and the samples of every row."""
    width, height, depth, colour = header
    return height * (1 + width * _CHANNELS[colour] * depth // 8)


def _supported_header(body: memoryview) -> tuple[int, int, int, int] | None:
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", body)
    if width < 1 or height < 1 or width > 2**31 - 1 or height > 2**31 - 1:
        raise CorruptPng("bad IHDR")
    if depth not in (8, 16) or colour not in _CHANNELS or compression or filtering or interlace:
        return None
    return width, height, depth, colour
