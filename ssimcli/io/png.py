"""Fast PNG decoding for the common layouts: libdeflate inflate, then the native unfilter.

Why: decoding the two files is most of a 4K ``compare`` (libpng: ~0.165 s per 4K RGB file
here). libdeflate (imagecodecs; zlib-ng where a build lacks it) inflates the same stream in
~0.085 s (zlib-ng: 0.11 s) and undoing the row filters in `ssimcli.metrics._native` takes a
few milliseconds more, for the very same pixels.

Only what it can decode exactly is taken: 8- and 16-bit grey, grey+alpha, RGB and RGBA,
not interlaced, with no chunk that could change the pixels (``tRNS``, palettes, APNG frames,
unknown critical chunks). Everything else returns ``None`` and goes to libpng. The chunks
that are read have their CRCs checked and the stream its Adler-32, as libpng does: corrupt or
truncated data is a `CorruptPng`, never a partial image.

Two ways in. `decode` takes the file's bytes, for images of up to `FAST_MAX_BYTES` of
inflated data. `decode_file` reads a larger file in pieces, inflating and unfiltering rows as
they come, so that neither the file nor the inflated stream is ever held whole: a pair of
16384 x 16384 RGB files then needs little more than its pixels (libpng decodes from the whole
file's bytes, which for noisy pictures are as large as the pixels).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple, cast

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Inflated streams larger than this are read from the file in pieces (`decode_file`).
FAST_MAX_BYTES = 256 << 20
_PIECE = 1 << 20  # bytes read from the file at a time, and most inflated at once
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
# Ancillary chunks that libpng reports but does not apply to the samples it returns.
_IGNORED = {b"tEXt", b"zTXt", b"iTXt", b"pHYs", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
            b"sBIT", b"bKGD", b"eXIf", b"hIST", b"sPLT", b"oFFs", b"pCAL", b"sCAL", b"sTER",
            b"dSIG", b"cICP", b"mDCv", b"cLLi"}


class CorruptPng(ValueError):
    """The file is a PNG this module reads, but its data are truncated or corrupt."""


def _native() -> Any:
    from ssimcli.metrics.native import kernel

    return kernel()


def decode(data: bytes | memoryview) -> np.ndarray | None:
    """The pixels of PNG file contents as libpng returns them (``(H, W)`` grey, else
    ``(H, W, C)``; uint8 or native uint16), or ``None`` when the layout is left to libpng.

    Raises `CorruptPng` for bad CRCs, truncation, a bad zlib stream or filter byte.
    """
    native = _native()
    if native is None or bytes(memoryview(data)[:len(SIGNATURE)]) != SIGNATURE:
        return None
    header, stream = _read_chunks(data)
    if header is None:
        return None
    shape = _Geometry.of(header)
    expected = _inflated_bytes(header)
    _check_fillable(expected, len(stream))
    import imagecodecs

    # One buffer: inflated into, then unfiltered in place; the pixels are its first
    # height * rowbytes bytes (the filter bytes they displace are 1 byte per row).
    buffer = np.empty(expected, dtype=np.uint8)
    # libdeflate inflates a whole stream ~25% faster than zlib-ng and checks the Adler-32 too.
    inflate = imagecodecs.deflate_decode if imagecodecs.DEFLATE.available else imagecodecs.zlibng_decode
    try:
        size = len(inflate(cast(bytes, stream), out=buffer.data))
    except Exception:
        raise CorruptPng("bad zlib stream") from None
    if size != expected:
        raise CorruptPng("image data shorter than the header says")
    try:
        native.png_unfilter(buffer, None, shape.height, shape.rowbytes, shape.pixel_bytes)
    except ValueError:
        raise CorruptPng("bad row filter") from None
    pixels = buffer[:shape.height * shape.rowbytes].view(shape.dtype)
    return shape.finish(pixels.reshape(shape.height, shape.width, shape.channels))


def decode_file(handle: BinaryIO) -> np.ndarray | None:
    """`decode` of the PNG file open in ``handle`` (at its start), read piece by piece; for
    large images. ``None`` when the layout is left to libpng (the handle is then anywhere)."""
    import zlib

    native = _native()
    if native is None or handle.read(len(SIGNATURE)) != SIGNATURE:
        return None
    reader = _ChunkReader(handle)
    kind, body = reader.next_whole()
    if kind != b"IHDR" or len(body) != 13:
        raise CorruptPng("bad IHDR")
    header = _supported_header(memoryview(body))
    if header is None:
        return None
    shape = _Geometry.of(header)
    remaining = _remaining_bytes(handle)
    if remaining is not None:
        _check_fillable(_inflated_bytes(header), remaining)
    try:
        pixels = np.empty((shape.height, shape.width, shape.channels), dtype=shape.dtype)
    except MemoryError:  # a header no file of this kind can fill (the caller checks limits)
        raise CorruptPng(f"image of {shape.width}x{shape.height} pixels cannot be held") from None
    rows = _RowSink(native, pixels, shape.height, shape.rowbytes, shape.pixel_bytes)
    inflater = zlib.decompressobj()
    while True:
        kind, length = reader.next_header()
        if kind == b"IDAT":
            _inflate(reader.pieces(length), inflater, rows)
        elif kind == b"IEND":
            reader.skip(length, check=True)
            break
        elif kind in _IGNORED:
            reader.skip(length, check=False)
        else:
            return None  # tRNS, PLTE, APNG frames, anything unknown: libpng decides
    _inflate([], inflater, rows)
    if not inflater.eof or rows.done != shape.height or rows.pending:
        raise CorruptPng("image data shorter or longer than the header says")
    return shape.finish(pixels)


# Deflate codes at most 258 bytes in 2 bits: no stream inflates to more than 1032 times its size.
_MAX_INFLATE_RATIO = 1032


def _check_fillable(inflated: int, compressed: int) -> None:
    """`CorruptPng` where ``compressed`` bytes of image data cannot hold the ``inflated`` bytes
    the header says (a few-byte file claiming gigapixels), before anything is allocated."""
    if inflated > _MAX_INFLATE_RATIO * compressed + 1024:
        raise CorruptPng("image data too short for the size in the header")


def _remaining_bytes(handle: BinaryIO) -> int | None:
    """How many bytes ``handle`` holds after its position, or ``None`` (not seekable)."""
    try:
        here = handle.tell()
        end = handle.seek(0, 2)
        handle.seek(here)
    except (OSError, ValueError, AttributeError):
        return None
    return max(0, end - here)


def _inflate(pieces: Iterable[bytes], inflater: Any, rows: _RowSink) -> None:
    """Inflate ``pieces`` into ``rows``, at most `_PIECE` bytes at a time; no pieces: the end
    of the stream."""
    import zlib

    try:
        for piece in pieces:
            data = inflater.decompress(piece, _PIECE)
            while True:
                rows.add(data)
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, _PIECE)
        if not pieces:
            rows.add(inflater.flush())
    except zlib.error:
        raise CorruptPng("bad zlib stream") from None


class _ChunkReader:
    """The chunks of a PNG file, read in pieces of at most `_PIECE` bytes, CRCs checked for
    the critical ones."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle

    def _read(self, count: int) -> bytes:
        data = self.handle.read(count)
        if len(data) != count:
            raise CorruptPng("truncated")
        return data

    def next_header(self) -> tuple[bytes, int]:
        length, kind = struct.unpack(">I4s", self._read(8))
        self._kind = kind
        return kind, length

    def next_whole(self) -> tuple[bytes, bytes]:
        kind, length = self.next_header()
        if length > 1 << 20:
            raise CorruptPng("oversized chunk")
        body = self._read(length)
        self._check(kind, zlib_crc(kind + body))
        return kind, body

    def pieces(self, length: int) -> Iterator[bytes]:
        crc = zlib_crc(self._kind)
        while length:
            piece = self._read(min(length, _PIECE))
            crc = zlib_crc(piece, crc)
            length -= len(piece)
            yield piece
        self._check(self._kind, crc)

    def skip(self, length: int, check: bool) -> None:
        crc = zlib_crc(self._kind)
        while length:
            piece = self._read(min(length, _PIECE))
            crc = zlib_crc(piece, crc) if check else crc
            length -= len(piece)
        if check:
            self._check(self._kind, crc)
        else:
            self._read(4)

    def _check(self, kind: bytes, crc: int) -> None:
        (stored,) = struct.unpack(">I", self._read(4))
        if stored != crc:
            raise CorruptPng("bad CRC")


def zlib_crc(data: bytes, start: int = 0) -> int:
    import zlib

    return zlib.crc32(data, start)


class _RowSink:
    """Inflated bytes in, unfiltered rows out into ``pixels``, as soon as rows are whole."""

    def __init__(self, native: Any, pixels: np.ndarray, height: int, rowbytes: int,
                 pixel_bytes: int):
        self.native, self.pixels = native, pixels
        self.height, self.rowbytes, self.pixel_bytes = height, rowbytes, pixel_bytes
        self.pending = bytearray()
        self.done = 0

    def add(self, data: bytes) -> None:
        self.pending += data
        stride = self.rowbytes + 1
        count = min(len(self.pending) // stride, self.height - self.done)
        if count <= 0:
            if len(self.pending) >= stride:  # every row is done: data past the image
                raise CorruptPng("image data longer than the header says")
            return
        try:
            with memoryview(self.pending) as view:  # released before the bytearray shrinks
                self.native.png_unfilter(view[:count * stride], self.pixels, count,
                                         self.rowbytes, self.pixel_bytes, self.done)
        except ValueError:
            raise CorruptPng("bad row filter") from None
        self.done += count
        del self.pending[:count * stride]


class _Geometry(NamedTuple):
    """Sizes of a decodable PNG, from its IHDR."""

    width: int
    height: int
    channels: int
    depth: int
    pixel_bytes: int
    rowbytes: int
    dtype: np.dtype

    @classmethod
    def of(cls, header: tuple[int, int, int, int]) -> _Geometry:
        width, height, depth, colour = header
        channels = _CHANNELS[colour]
        pixel_bytes = channels * depth // 8
        dtype = np.dtype(np.uint8) if depth == 8 else np.dtype(">u2")
        return cls(width, height, channels, depth, pixel_bytes, width * pixel_bytes, dtype)

    def finish(self, pixels: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` unfiltered samples as libpng returns them: native uint16, and a grey
        image without its channel axis."""
        if self.depth == 16:
            pixels = _native_order(pixels)
        return pixels[:, :, 0] if self.channels == 1 else pixels


def _native_order(pixels: np.ndarray) -> np.ndarray:
    """Big-endian 16-bit samples (PNG's order) as native uint16, in place where possible."""
    if sys.byteorder == "little":
        pixels.byteswap(inplace=True)
        return pixels.view(np.uint16)
    return pixels.astype(np.uint16)


def _read_chunks(data: bytes | memoryview) -> tuple[tuple[int, int, int, int] | None, memoryview]:
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
                return None, memoryview(b"")  # before any image data is gathered
        elif header is None:
            raise CorruptPng("IHDR is not the first chunk")
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            break
        elif kind not in _IGNORED:
            return None, memoryview(b"")  # tRNS, PLTE, APNG frames, anything unknown: libpng decides
    if not parts:
        raise CorruptPng("no image data")
    if len(parts) == 1:
        return header, parts[0]  # a view into the file's bytes: no copy
    # Joined in a NumPy buffer (huge pages: a few faults, not one per 4 KiB of stream).
    stream = np.empty(sum(len(part) for part in parts), dtype=np.uint8)
    joined, pos = stream.data, 0
    for part in parts:
        joined[pos:pos + len(part)] = part
        pos += len(part)
    return header, joined


def _chunks(data: bytes | memoryview) -> Iterator[tuple[bytes, memoryview]]:
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
