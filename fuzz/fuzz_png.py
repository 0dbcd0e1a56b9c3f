"""Fuzz target for the PNG reader (``ssimcli.io.png``): ``python fuzz/fuzz_png.py [CORPUS...]``.

Each input is read three ways: as the bytes of a file; as the same file with every chunk's
CRC made right (so that mutations get past the CRC checks, into the inflater and the
unfilter); and as a header plus raw scanlines (filter bytes and samples) that the target
compresses itself, so that any filter byte and geometry reaches the native unfilter. Both
ways into the reader (`decode`, from the bytes, and `decode_file`, from a stream read in
pieces) must either hand the file on (``None``), raise `CorruptPng`, or return the pixels of
the header's shape and dtype; where both return pixels, they must be the same. Anything else
(another exception, a crash, an out-of-bounds access the AddressSanitizer sees in the native
unfilter) is a finding.

With no corpus folder given, ``build/fuzz/png`` (git-ignored; libFuzzer adds what it finds
there) is seeded with the PngSuite-like corpus of ``tests/pngsuite_corpus.py`` (valid and
corrupt files) and used. Other arguments go to
libFuzzer (``-max_total_time=300``, ``-max_len=65536``, ...); ``fuzz/png.dict`` (chunk
types, the signature) is used unless another ``-dict=`` is given. See docs/fuzzing.md.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from pathlib import Path

import atheris
import imagecodecs  # noqa: F401  (imported before, so that only ssimcli is instrumented)
import numpy as np

HERE = Path(__file__).resolve().parent
SEEDS = HERE.parent / "build" / "fuzz" / "png"

with atheris.instrument_imports(include=["ssimcli"]):
    from ssimcli.io import png

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def expected_shape(data: bytes) -> tuple[tuple[int, ...], np.dtype] | None:
    """The pixels' shape and dtype that the IHDR (the first chunk) announces."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = CHANNELS.get(colour)
    if channels is None or depth not in (8, 16):
        return None
    shape = (height, width) if channels == 1 else (height, width, channels)
    return shape, np.dtype(np.uint16 if depth == 16 else np.uint8)


def check(result: np.ndarray | None, data: bytes, how: str) -> None:
    if result is None:
        return
    announced = expected_shape(data)
    if announced is None:
        raise AssertionError(f"{how}: pixels from a header the reader does not take")
    shape, dtype = announced
    if result.shape != shape or result.dtype != dtype:
        raise AssertionError(f"{how}: {result.shape} {result.dtype}, header says {shape} {dtype}")


def with_crcs_fixed(data: bytes) -> bytes:
    """``data`` with the CRC of every whole chunk after the signature recomputed."""
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        if pos + 12 + length > len(data):
            break
        body = data[pos + 4:pos + 8 + length]
        out += data[pos:pos + 8 + length] + struct.pack(">I", zlib.crc32(body))
        pos += 12 + length
    return bytes(out + data[pos:])


def from_scanlines(data: bytes) -> bytes:
    """A PNG whose IHDR takes its size and layout from the first bytes of ``data`` and whose
    image data is the rest, compressed here (split over up to four IDAT chunks)."""
    if len(data) < 4:
        return b""
    width, height = data[0] % 64 + 1, data[1] % 64 + 1
    depth = (8, 16)[data[2] & 1]
    colour = (0, 2, 4, 6)[(data[2] >> 1) & 3]
    pieces = (data[2] >> 3) % 4 + 1
    raw = data[3:]
    if data[2] & 0x80:  # the size the header says, filter bytes kept in range
        rowbytes = width * CHANNELS[colour] * depth // 8
        raw = (raw * (1 + height * (rowbytes + 1) // max(1, len(raw))))[:height * (rowbytes + 1)]
        raw = bytes(b % 5 if k % (rowbytes + 1) == 0 else b for k, b in enumerate(raw))
    stream = zlib.compress(raw, 1)
    step = max(1, -(-len(stream) // pieces))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    idats = b"".join(chunk(b"IDAT", stream[k:k + step]) for k in range(0, len(stream), step))
    return b"\x89PNG\r\n\x1a\n" + header + idats + chunk(b"IEND", b"")


def one_input(data: bytes) -> None:
    for variant in (data, with_crcs_fixed(data), from_scanlines(data)):
        read_both_ways(variant)


def read_both_ways(data: bytes) -> None:
    results = []
    for how, decode in (("decode", png.decode),
                        ("decode_file", lambda d: png.decode_file(io.BytesIO(d)))):
        try:
            result = decode(data)
        except png.CorruptPng:
            result = None
        check(result, data, how)
        results.append(result)
    if results[0] is not None and results[1] is not None:
        if not np.array_equal(results[0], results[1]):
            raise AssertionError("decode and decode_file disagree")


def make_seeds() -> Path:
    """The PngSuite-like corpus as seed files (made once)."""
    if not SEEDS.is_dir() or not any(SEEDS.iterdir()):
        sys.path.insert(0, str(HERE.parent / "tests"))
        from pngsuite_corpus import write_corpus

        write_corpus(str(SEEDS))
    return SEEDS


def main() -> None:
    args = list(sys.argv)
    if not any(arg.startswith("-dict=") for arg in args[1:]):
        args.append(f"-dict={HERE / 'png.dict'}")
    if not any(os.path.isdir(arg) for arg in args[1:]):
        args.append(str(make_seeds()))
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
