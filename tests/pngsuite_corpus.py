"""A PngSuite-like corpus of PNG files, made here (no PyPI package ships the PngSuite).

Willem van Schaik's PngSuite names each file by what it tests; this module writes files of the
same kinds, from its own small encoder (written from the PNG specification, RFC 2083 / ISO
15948; it shares no code with ``ssimcli.io.png``, which only decodes):

* valid files: every colour type at every bit depth it allows (grey 1/2/4/8/16, RGB 8/16,
  palette 1/2/4/8, grey+alpha 8/16, RGBA 8/16), plain and Adam7-interlaced, at odd sizes
  from 1x1 up, with each row filter (0-4) alone and mixed, the image data split over many
  IDAT chunks, ancillary chunks before and after it, ``tRNS`` transparency, and zlib levels
  0 and 9 (`valid_files`);
* corrupt files, PngSuite's ``x*`` set (bad signature bytes, added CR/LF, bad IHDR and IDAT
  CRCs, colour types 1 and 9, bit depths 0, 3 and 99, no IDAT) and more: truncated at many
  points, zero or huge dimensions, a bad filter byte, a bad zlib stream, image data short or
  long, IHDR not first, no IEND (`corrupt_files`).

Each valid file comes with the pixels it encodes, as the PNG specification defines them (the
samples at their bit depth, palette indexes resolved to their colours).
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
LETTER = {0: "g", 2: "c", 3: "p", 4: "a", 6: "a"}
# Adam7: (first row, first column, row step, column step) of each pass.
ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
         (1, 0, 2, 1))


@dataclass(frozen=True)
class PngCase:
    """One file of the corpus: its name, its bytes and, for a valid file, what it holds."""

    name: str
    data: bytes
    samples: np.ndarray | None = None  # (H, W, C) at the file's bit depth (palette: indexes)
    colour: int = 0
    depth: int = 8
    palette: np.ndarray | None = None  # (N, 3) uint8
    transparent: tuple[int, ...] | None = None  # tRNS: a grey/RGB key, or palette alphas
    interlaced: bool = False

    @property
    def height(self) -> int:
        assert self.samples is not None
        return int(self.samples.shape[0])

    @property
    def width(self) -> int:
        assert self.samples is not None
        return int(self.samples.shape[1])


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(width: int, height: int, depth: int, colour: int, interlace: int = 0,
         compression: int = 0, filtering: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, compression,
                                      filtering, interlace))


def pack_row(row: np.ndarray, depth: int) -> bytes:
    """One row of samples ``(W, C)`` as PNG stores them: big-endian, sub-byte depths packed
    from the most significant bit, the last byte padded with zeros."""
    flat = row.reshape(-1).astype(np.uint32)
    if depth == 16:
        return flat.astype(">u2").tobytes()
    if depth == 8:
        return flat.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-flat.size // per_byte) * per_byte, dtype=np.uint32)
    padded[:flat.size] = flat
    groups = padded.reshape(-1, per_byte)
    shifts = np.array([8 - depth * (k + 1) for k in range(per_byte)], dtype=np.uint32)
    return (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(raw: bytes, prior: bytes, kind: int, bpp: int) -> bytes:
    """The filtered bytes of one row (RFC 2083, 6.3), with the filter type byte in front."""
    out = bytearray([kind])
    for i, value in enumerate(raw):
        left = raw[i - bpp] if i >= bpp else 0
        up = prior[i] if prior else 0
        corner = prior[i - bpp] if prior and i >= bpp else 0
        predictor = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
        out.append((value - predictor) & 0xFF)
    return bytes(out)


def scanlines(samples: np.ndarray, depth: int, filters: list[int] | int) -> bytes:
    """The filtered rows of one (sub)image; ``filters`` is a type, or one per row (cycled)."""
    bpp = max(1, samples.shape[2] * depth // 8)
    prior = b""
    out = bytearray()
    for index, row in enumerate(samples):
        raw = pack_row(row, depth)
        kind = filters if isinstance(filters, int) else filters[index % len(filters)]
        out += filter_row(raw, prior, kind, bpp)
        prior = raw
    return bytes(out)


def image_data(samples: np.ndarray, depth: int, interlaced: bool, filters: list[int] | int
               ) -> bytes:
    """The uncompressed image data: every row, or every Adam7 pass that has pixels."""
    if not interlaced:
        return scanlines(samples, depth, filters)
    out = b""
    for row0, col0, row_step, col_step in ADAM7:
        sub = samples[row0::row_step, col0::col_step]
        if sub.shape[0] and sub.shape[1]:
            out += scanlines(sub, depth, filters)
    return out


def encode(samples: np.ndarray, colour: int, depth: int, *, interlaced: bool = False,
           filters: list[int] | int = 0, level: int = 6, palette: np.ndarray | None = None,
           transparent: tuple[int, ...] | None = None, idat_pieces: int = 1,
           before: tuple[bytes, ...] = (), after: tuple[bytes, ...] = ()) -> bytes:
    """A PNG file of ``samples`` ``(H, W, C)``; ``before``/``after``: chunks around the data."""
    height, width = samples.shape[:2]
    parts = [SIGNATURE, ihdr(width, height, depth, colour, int(interlaced)), *before]
    if palette is not None:
        parts.append(chunk(b"PLTE", palette.astype(np.uint8).tobytes()))
    if transparent is not None:
        if colour == 3:
            parts.append(chunk(b"tRNS", bytes(transparent)))
        else:
            parts.append(chunk(b"tRNS", struct.pack(f">{len(transparent)}H", *transparent)))
    stream = zlib.compress(image_data(samples, depth, interlaced, filters), level)
    step = max(1, -(-len(stream) // idat_pieces))
    parts += [chunk(b"IDAT", stream[k:k + step]) for k in range(0, len(stream), step)]
    parts += [*after, chunk(b"IEND", b"")]
    return b"".join(parts)


def _picture(height: int, width: int, channels: int, depth: int, seed: int) -> np.ndarray:
    """Gradients, edges and noise at ``depth`` bits, so that every filter has work to do."""
    rng = np.random.default_rng(seed)
    top = (1 << depth) - 1
    rows = np.linspace(0, 1, height)[:, None, None]
    cols = np.linspace(0, 1, width)[None, :, None]
    phase = np.arange(channels)[None, None, :] / max(channels, 1)
    smooth = (rows * (1 - phase) + cols * phase) % 1.0
    noise = rng.random((height, width, channels))
    mixed = np.where(rng.random((height, width, 1)) < 0.3, noise, smooth)
    return np.round(mixed * top).astype(np.uint16 if depth == 16 else np.uint8)


def _palette(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, 3)).astype(np.uint8)


def valid_files() -> Iterator[PngCase]:
    """The valid files, PngSuite's ``b*``, ``s*``, ``f*``, ``o*``, ``t*``, ``z*``, ``c*`` kinds."""
    seeds = itertools.count(1)
    for kinds in (_basic, _sizes, _filters, _layouts, _transparency):
        yield from kinds(seeds)


def _basic(seeds: Iterator[int]) -> Iterator[PngCase]:
    for colour, depths in DEPTHS.items():
        for depth in depths:
            for interlaced in (False, True):
                name = f"bas{'i' if interlaced else 'n'}{colour}{LETTER[colour]}{depth:02d}"
                yield _case(name, 32, 32, colour, depth, next(seeds), interlaced=interlaced)


def _sizes(seeds: Iterator[int]) -> Iterator[PngCase]:
    for size in (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 33, 40):  # odd sizes, Adam7's empty passes
        for interlaced in (False, True):
            for colour, depth in ((0, 1), (3, 4), (2, 8), (6, 16)):
                name = f"s{size:02d}{'i' if interlaced else 'n'}{colour}{LETTER[colour]}{depth:02d}"
                yield _case(name, size, size + 2 * (size % 3), colour, depth, next(seeds),
                            interlaced=interlaced)


def _filters(seeds: Iterator[int]) -> Iterator[PngCase]:
    for colour, depth in ((0, 8), (2, 8), (4, 16), (3, 8), (0, 4), (6, 8)):
        tail = f"{colour}{LETTER[colour]}{depth:02d}"
        for kind in range(5):
            yield _case(f"f{kind:02d}n{tail}", 31, 29, colour, depth, next(seeds), filters=kind)
        yield _case(f"f99n{tail}", 31, 29, colour, depth, next(seeds),
                    filters=[0, 1, 2, 3, 4, 4, 3, 2, 1])
        yield _case(f"f99i{tail}", 31, 29, colour, depth, next(seeds),
                    filters=[4, 3, 2, 1, 0], interlaced=True)


def _layouts(seeds: Iterator[int]) -> Iterator[PngCase]:
    """Image data split over many IDAT chunks, zlib levels, ancillary chunks around it."""
    for pieces in (2, 4, 9, 100):
        for colour, depth in ((0, 16), (2, 8), (6, 8)):
            yield _case(f"oi{pieces}n{colour}{LETTER[colour]}{depth:02d}", 32, 32, colour,
                        depth, next(seeds), idat_pieces=pieces)
    for level in (0, 9):
        yield _case(f"z{level:02d}n2c08", 32, 32, 2, 8, next(seeds), level=level)
    text = chunk(b"tEXt", b"Title\x00PngSuite-like")
    gamma = chunk(b"gAMA", struct.pack(">I", 45455))
    phys = chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    time = chunk(b"tIME", struct.pack(">HBBBBB", 2000, 1, 2, 3, 4, 5))
    for colour, depth in ((0, 8), (2, 16), (6, 8)):
        yield _case(f"ccwn{colour}{LETTER[colour]}{depth:02d}", 32, 32, colour, depth,
                    next(seeds), before=(gamma, phys, text), after=(time, text))


def _transparency(seeds: Iterator[int]) -> Iterator[PngCase]:
    """A grey or RGB key colour, palette alphas (PngSuite's t*)."""
    for colour, depth, key in ((0, 4, (3,)), (0, 8, (128,)), (0, 16, (1000,)),
                               (2, 8, (255, 0, 0)), (2, 16, (0, 65535, 0)), (3, 8, None),
                               (3, 2, None)):
        for interlaced in (False, True):
            name = f"tbb{'i' if interlaced else 'n'}{colour}{LETTER[colour]}{depth:02d}"
            yield _case(name, 32, 32, colour, depth, next(seeds), interlaced=interlaced,
                        transparent=key if key is not None else ())


def _case(name: str, height: int, width: int, colour: int, depth: int, seed: int,
          transparent: tuple[int, ...] | None = None, **options: object) -> PngCase:
    palette = None
    if colour == 3:
        entries = 1 << depth
        palette = _palette(entries, seed)
        samples = _picture(height, width, 1, depth, seed)
        if transparent == ():  # palette alphas: one per entry, the last ones opaque
            transparent = tuple(int(v) for v in np.linspace(0, 255, max(1, entries - 1)))
    else:
        samples = _picture(height, width, CHANNELS[colour], depth, seed)
        if transparent is not None and len(transparent) == 1 and height * width > 1:
            samples[0, 0, 0] = transparent[0]  # at least one pixel has the key colour
        elif transparent is not None and height * width > 1:
            samples[0, 0] = transparent
    data = encode(samples, colour, depth, palette=palette, transparent=transparent,
                  **options)  # type: ignore[arg-type]
    return PngCase(name, data, samples, colour, depth, palette, transparent,
                   bool(options.get("interlaced", False)))


def with_chunk_crc_broken(data: bytes, kind: bytes) -> bytes:
    """``data`` with the CRC of the first ``kind`` chunk flipped."""
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        if data[pos + 4:pos + 8] == kind:
            end = pos + 12 + length
            return data[:end - 4] + bytes(b ^ 0xFF for b in data[end - 4:end]) + data[end:]
        pos += 12 + length
    raise ValueError(f"no {kind!r} chunk")


def without_chunks(data: bytes, kind: bytes) -> bytes:
    out, pos = bytearray(data[:len(SIGNATURE)]), len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        if data[pos + 4:pos + 8] != kind:
            out += data[pos:pos + 12 + length]
        pos += 12 + length
    return bytes(out)


def _raw_png(header: bytes, raw_rows: bytes, level: int = 6) -> bytes:
    return SIGNATURE + header + chunk(b"IDAT", zlib.compress(raw_rows, level)) + chunk(b"IEND", b"")


def corrupt_files() -> Iterator[PngCase]:
    """PngSuite's ``x*`` files, made the same way, and further damage of the same kinds."""
    grey1 = encode(_picture(32, 32, 1, 1, 1), 0, 1)
    grey4 = encode(_picture(32, 32, 1, 4, 2), 0, 4)
    grey8 = encode(_picture(32, 32, 1, 8, 3), 0, 8)
    rgb8 = encode(_picture(32, 32, 3, 8, 4), 2, 8, filters=[0, 1, 2, 3, 4])
    rgba16 = encode(_picture(24, 20, 4, 16, 5), 6, 16, filters=[4, 1])
    sig = len(SIGNATURE)
    yield PngCase("xs1n0g01", bytes([grey1[0] & 0x7F]) + grey1[1:])  # high bit of byte 1 reset
    yield PngCase("xs2n0g01", grey1[:1] + b"Q" + grey1[2:])  # byte 2 a 'Q'
    yield PngCase("xs4n0g01", grey1[:3] + b"g" + grey1[4:])  # byte 4 lowercase
    yield PngCase("xs7n0g01", grey1[:6] + b" " + grey1[7:])  # 7th byte a space, not ^Z
    yield PngCase("xcrn0g04", grey4.replace(b"\n", b"\r\n"))  # added CR bytes
    yield PngCase("xlfn0g04", grey4.replace(b"\r\n", b"\n"))  # CR-LF made LF (PngSuite: added LF)
    yield PngCase("xhdn0g08", with_chunk_crc_broken(grey8, b"IHDR"))  # IHDR checksum
    yield PngCase("xcsn0g01", with_chunk_crc_broken(grey1, b"IDAT"))  # IDAT checksum
    yield PngCase("xc1n0g08", _raw_png(ihdr(32, 32, 8, 1), b"\x00" * 33 * 32))  # colour type 1
    yield PngCase("xc9n2c08", _raw_png(ihdr(32, 32, 8, 9), b"\x00" * 97 * 32))  # colour type 9
    yield PngCase("xd0n2c08", _raw_png(ihdr(32, 32, 0, 2), b"\x00" * 97 * 32))  # bit depth 0
    yield PngCase("xd3n2c08", _raw_png(ihdr(32, 32, 3, 2), b"\x00" * 97 * 32))  # bit depth 3
    yield PngCase("xd9n2c08", _raw_png(ihdr(32, 32, 99, 2), b"\x00" * 97 * 32))  # bit depth 99
    yield PngCase("xdtn0g01", without_chunks(grey1, b"IDAT"))  # missing IDAT
    # Beyond PngSuite: other depth/colour pairs the specification forbids.
    yield PngCase("xd16n3p16", _raw_png(ihdr(8, 8, 16, 3), b"\x00" * 17 * 8))
    yield PngCase("xd4n2c04", _raw_png(ihdr(8, 8, 4, 2), b"\x00" * 13 * 8))
    yield PngCase("xd2n6a02", _raw_png(ihdr(8, 8, 2, 6), b"\x00" * 9 * 8))
    yield PngCase("xcmn0g08", _raw_png(ihdr(8, 8, 8, 0, compression=1), b"\x00" * 9 * 8))
    yield PngCase("xfmn0g08", _raw_png(ihdr(8, 8, 8, 0, filtering=1), b"\x00" * 9 * 8))
    yield PngCase("xiln0g08", _raw_png(ihdr(8, 8, 8, 0, interlace=2), b"\x00" * 9 * 8))
    for name, (width, height) in {"xz0w0g08": (0, 8), "xz0h0g08": (8, 0),
                                  "xhuge0g08": (2**31 - 1, 2**31 - 1), "xbigw0g08": (2**31, 1),
                                  "xwide0g08": (1 << 30, 1 << 30)}.items():
        yield PngCase(name, _raw_png(ihdr(width, height, 8, 0), b"\x00" * 9))
    # Bombs: a few bytes of image data under a header of 256 MB (the reader's in-memory limit)
    # and of 400 MB (read in pieces).
    yield PngCase("xbmbn6a08", _raw_png(ihdr(8000, 8000, 8, 6), b"\x00" * 4096, level=9))
    yield PngCase("xbmbn0g08", _raw_png(ihdr(20000, 20000, 8, 0), b"\x00" * 4096, level=9))
    for name, good in (("g08", grey8), ("c08", rgb8), ("a16", rgba16)):
        stream_at = good.index(b"IDAT") + 4
        for cut in sorted({sig, sig + 5, sig + 12, sig + 20, sig + 25, stream_at,
                           stream_at + 7, len(good) // 2, len(good) - 13, len(good) - 12,
                           len(good) - 1}):
            yield PngCase(f"xtr{cut:04d}n{name}", good[:cut])  # truncated
        flipped = bytearray(good)
        flipped[stream_at + 2] ^= 0x55  # the zlib header: a bad stream
        yield PngCase(f"xzbn{name}", _fix_crcs(bytes(flipped)))
        flipped = bytearray(good)
        flipped[stream_at + len(good[stream_at:]) // 3] ^= 0x01  # deflate data
        yield PngCase(f"xzdn{name}", _fix_crcs(bytes(flipped)))
    yield PngCase("xfbn0g08", _raw_png(ihdr(8, 8, 8, 0), (b"\x05" + b"\x00" * 8) * 8))
    yield PngCase("xffn2c08", _raw_png(ihdr(8, 8, 8, 2), (b"\xff" + b"\x10" * 24) * 8))
    yield PngCase("xfb3n2c08", _raw_png(ihdr(8, 8, 8, 2), (b"\x00" + b"\x10" * 24) * 7
                                        + b"\x07" + b"\x10" * 24))
    yield PngCase("xshn0g08", _raw_png(ihdr(8, 8, 8, 0), b"\x00" * 9 * 7))  # one row short
    yield PngCase("xlon0g08", _raw_png(ihdr(8, 8, 8, 0), b"\x00" * 9 * 9))  # one row long
    yield PngCase("xhfn0g08", _raw_png(ihdr(8, 8, 8, 0), b"\x00" * (9 * 8 - 4)))  # half a row
    yield PngCase("xsh16n6a16", _raw_png(ihdr(8, 8, 16, 6), b"\x00" * 65 * 8 + b"\x00"))
    ends = grey8.index(b"IEND") - 4
    yield PngCase("xnen0g08", grey8[:ends])  # no IEND
    first = sig + 25
    yield PngCase("xihn0g08", SIGNATURE + chunk(b"tEXt", b"a\x00b") + grey8[sig:])
    yield PngCase("xi2n0g08", grey8[:first] + grey8[sig:first] + grey8[first:])  # IHDR twice
    yield PngCase("xihsn0g08", SIGNATURE + chunk(b"IHDR", grey8[sig + 8:sig + 20])
                  + grey8[first:])  # IHDR of 12 bytes
    yield PngCase("xlenn0g08", grey8[:first] + struct.pack(">I", 0xFFFFFFF0) + grey8[first + 4:])
    yield PngCase("xsig", SIGNATURE)
    yield PngCase("xempty", b"")


def _fix_crcs(data: bytes) -> bytes:
    """``data`` with every chunk's CRC recomputed (damage that only the inflater can see)."""
    out, pos = bytearray(data[:len(SIGNATURE)]), len(SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        out += chunk(kind, body)
        pos += 12 + length
    return bytes(out)


def write_corpus(folder: str) -> list[str]:
    """Every file of the corpus into ``folder`` (``NAME.png``); their paths."""
    from pathlib import Path

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in (*valid_files(), *corrupt_files()):
        path = root / f"{case.name}.png"
        path.write_bytes(case.data)
        paths.append(str(path))
    return paths
