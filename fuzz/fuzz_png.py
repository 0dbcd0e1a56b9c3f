"""Fuzz target for the PNG reader (``ssimcli.io.png``): ``python fuzz/fuzz_png.py [CORPUS...]``.

Each input is the bytes of a file. Both ways into the reader (`decode`, from the bytes, and
`decode_file`, from a stream read in pieces) must either hand the file on (``None``), raise
`CorruptPng`, or return the pixels of the header's shape and dtype; where both return
pixels, they must be the same. Anything else (another exception, a crash, an out-of-bounds
access the AddressSanitizer sees in the native unfilter) is a finding.

With no corpus folder given, ``build/fuzz/png`` (git-ignored; libFuzzer adds what it finds
there) is seeded with the PngSuite-like corpus of ``tests/pngsuite_corpus.py`` (valid and
corrupt files) and used. Other arguments go to
libFuzzer (``-max_total_time=300``, ``-max_len=65536``, ...). See docs/fuzzing.md.
"""

from __future__ import annotations

import io
import os
import struct
import sys
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


def one_input(data: bytes) -> None:
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
    if not any(os.path.isdir(arg) for arg in args[1:]):
        args.append(str(make_seeds()))
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
