"""Fuzz target for the metric engine and its native kernel: ``python fuzz/fuzz_kernel.py``.

Two kinds of input, chosen by the first byte:

* **scores**: a small random pair (1-48 pixels a side, 1-4 channels, uint8, uint16, float32
  or float64, values inside [0, L] or far outside it), a random preset, window and engine
  (native kernel or OpenCV), scored by ``ssimcli.metrics.compute``. Finite input must give
  finite scores (or `ValuesOutOfRange`, only where the images span more than 1e5 data
  ranges), within the accuracy contract of the float64 reference path (2e-5 on the means of
  images of 24 pixels a side and windows of 7 or more; 1e-3 otherwise) for inputs within 1000
  data ranges, the same bits when the images are swapped, and exactly 1
  for an image against itself;
* **calls**: the kernel's entry points (``strip``, ``png_unfilter``, ``quantise``,
  ``colour_rows``, ``window_rows``) called straight, with fuzzed geometry and buffers too
  small, too large, read-only or of the wrong kind. Each must return or raise ValueError,
  TypeError, OverflowError, MemoryError or BufferError: under the AddressSanitizer (docs/fuzzing.md) any read or
  write outside a buffer is a finding.

Arguments go to libFuzzer; with no corpus folder, ``build/fuzz/kernel`` is used.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import atheris
import numpy as np  # imported before, so that only ssimcli is instrumented
import scipy.ndimage  # noqa: F401  (the reference path's filter)

with atheris.instrument_imports(include=["ssimcli"]):
    from ssimcli.metrics import compute, fast, params_for
    from ssimcli.metrics.params import ms_ssim_min_size

CORPUS = Path(__file__).resolve().parent.parent / "build" / "fuzz" / "kernel"
PRESETS = ("standard", "seed", "matlab", "skimage-default")
DTYPES: tuple[Any, ...] = (np.uint8, np.uint16, np.float32, np.float64)
ALLOWED = (ValueError, TypeError, OverflowError, MemoryError, BufferError)
os.environ.setdefault("SSIM_L1_THREADS", "1")


def _values(fdp: atheris.FuzzedDataProvider, shape: tuple[int, ...], dtype: Any,
            scale: float, offset: float) -> np.ndarray:
    count = int(np.prod(shape))
    raw = np.frombuffer(fdp.ConsumeBytes(count).ljust(count, b"\0"), dtype=np.uint8)
    if np.dtype(dtype).kind == "u":
        top = np.iinfo(dtype).max
        return (raw.astype(np.float64) / 255 * top).astype(dtype).reshape(shape)
    return (raw.astype(np.float64) / 255 * scale + offset).astype(dtype).reshape(shape)


def score_pair(fdp: atheris.FuzzedDataProvider) -> None:
    height, width = fdp.ConsumeIntInRange(1, 48), fdp.ConsumeIntInRange(1, 48)
    channels = fdp.ConsumeIntInRange(1, 4)
    dtype = DTYPES[fdp.ConsumeIntInRange(0, 3)]
    preset = PRESETS[fdp.ConsumeIntInRange(0, 3)]
    window = (1, 3, 5, 7, 11)[fdp.ConsumeIntInRange(0, 4)]
    scale = (1.0, 1.0, 1.2, 10.0, 1000.0, 1e6)[fdp.ConsumeIntInRange(0, 5)]
    offset = (0.0, 0.0, -0.1, 100.0, -1000.0, 1e4)[fdp.ConsumeIntInRange(0, 5)]
    os.environ["SSIM_L1_NATIVE"] = "1" if fdp.ConsumeBool() else "0"
    strip_rows = fdp.ConsumeIntInRange(1, 40)
    shape = (height, width, channels)
    x = _values(fdp, shape, dtype, scale, offset)
    y = _values(fdp, shape, dtype, scale, offset)
    divisor = float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0
    params = params_for(preset, window=window)
    if preset == "skimage-default" and window == 1:
        params = params_for(preset, window=3)
    ms = min(height, width) >= ms_ssim_min_size(params)
    spread = max(float(np.ptp(x)), float(np.ptp(y)), abs(float(x.max()) - float(y.min())),
                 abs(float(y.max()) - float(x.min()))) / divisor
    try:
        got = compute(x, y, params, divisor=divisor, strip_rows=strip_rows, ms_ssim=ms)
        swapped = compute(y, x, params, divisor=divisor, strip_rows=strip_rows)
        same = compute(x, x, params, divisor=divisor, strip_rows=strip_rows)
    except fast.ValuesOutOfRange:
        if spread < 1e5:
            raise
        return
    scores: list[float | None] = [got.ssim, got.cs, got.l1, got.ssim_l1]
    if ms:
        scores += [got.ms_ssim, got.ms_ssim_l1]
    if not all(math.isfinite(v) for v in scores if v is not None):
        raise AssertionError(f"non-finite scores {scores} for finite input")
    if swapped.per_channel["ssim"] != got.per_channel["ssim"]:
        raise AssertionError("swapping the images changed the scores")
    if same.per_channel["ssim"] != [1.0] * channels:
        raise AssertionError(f"an image against itself: {same.per_channel['ssim']}")
    if spread <= 1000:
        oracle = compute(x.astype(np.float64) / divisor, y.astype(np.float64) / divisor,
                         params.replace(precision="float64"), method="reference")
        # The contract's 2e-5 on means; where the window has shrunk below 7 pixels (or the
        # image is under 24 a side) a mean is a few pixels, each within float32's rounding of
        # E[x'^2] - E[x']^2 against C2 (up to ~1e-4 a pixel, as before the engine centred
        # images on their own levels).
        normal = got.window.size >= 7 and min(height, width) >= 24
        tolerance = 2e-5 if normal else 1e-3
        for name in ("ssim", "cs", "l1"):
            for a, b in zip(got.per_channel[name], oracle.per_channel[name], strict=True):
                if not abs(a - b) <= tolerance * max(1.0, abs(b)):
                    raise AssertionError(f"{name}: {a} vs float64 {b}")


def _buffer(fdp: atheris.FuzzedDataProvider, dtype: Any, near: int) -> Any:
    """A buffer of about ``near`` items (maybe a few short or long), or something else."""
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return None
    if kind == 1:
        return b"\0" * fdp.ConsumeIntInRange(0, 64)
    count = max(0, near + fdp.ConsumeIntInRange(-3, 3) if kind < 8 else fdp.ConsumeIntInRange(0, 4096))
    return np.zeros(min(count, 1 << 20), dtype=dtype)


def _geometry(fdp: atheris.FuzzedDataProvider) -> int:
    return fdp.ConsumeIntInRange(-3, 70) if fdp.ConsumeIntInRange(0, 15) else fdp.ConsumeInt(4)


def call_kernel(fdp: atheris.FuzzedDataProvider) -> None:
    kernel = fast._NATIVE_KERNEL
    if kernel is None:
        return
    entry = fdp.ConsumeIntInRange(0, 4)
    try:
        if entry == 0:
            _strip(fdp, kernel)
        elif entry == 1:
            height, rowbytes = _geometry(fdp), _geometry(fdp)
            bpp = (1, 2, 3, 4, 6, 8, 5, 0)[fdp.ConsumeIntInRange(0, 7)]
            first = fdp.ConsumeIntInRange(0, 3)
            data = np.frombuffer(fdp.ConsumeBytes(max(0, height * (rowbytes + 1) + 2)),
                                 dtype=np.uint8).copy()
            pixels = None if fdp.ConsumeBool() else _buffer(fdp, np.uint8,
                                                            (first + height) * rowbytes)
            kernel.png_unfilter(data, pixels, height, rowbytes, bpp, first)
        elif entry == 2:
            pixels, channels = _geometry(fdp), _geometry(fdp)
            values = _buffer(fdp, np.float32, pixels * channels)
            out = _buffer(fdp, np.uint8, pixels)
            kernel.quantise(values, pixels, channels, fdp.ConsumeFloat(), fdp.ConsumeFloat(),
                            out)
        elif entry == 3:
            height, width, depth = _geometry(fdp), _geometry(fdp), (1, 3, 2)[fdp.ConsumeIntInRange(0, 2)]
            offset, stride = _geometry(fdp), _geometry(fdp)
            index = np.frombuffer(fdp.ConsumeBytes(max(0, height * width)), np.uint8).copy()
            lut = _buffer(fdp, np.uint8, 256 * depth)
            rows = _buffer(fdp, np.uint8, offset + max(0, height - 1) * stride + depth * width)
            kernel.colour_rows(index, height, width, lut, rows, offset, stride, depth)
        else:
            rows, width, channels = _geometry(fdp), _geometry(fdp), _geometry(fdp)
            first, size = _geometry(fdp), _geometry(fdp)
            kernel.window_rows(
                _buffer(fdp, np.float32, rows * width * channels), rows, width, channels,
                first, size, _buffer(fdp, np.float64, size * width),
                _buffer(fdp, np.float64, width), _buffer(fdp, np.float64, width - size + 1),
                tuple(_geometry(fdp) for _ in range(4)), fdp.ConsumeFloat(),
                _buffer(fdp, np.float64, 4))
    except ALLOWED:
        pass


def _strip(fdp: atheris.FuzzedDataProvider, kernel: Any) -> None:
    dtype_code = fdp.ConsumeIntInRange(-1, 4)
    row_base, buffer_rows = _geometry(fdp), _geometry(fdp)
    width, channels, taps = _geometry(fdp), _geometry(fdp), _geometry(fdp)
    start, rows = _geometry(fdp), _geometry(fdp)
    item = (np.uint8, np.uint16, np.float32, np.float64)[dtype_code % 4]
    image = max(0, buffer_rows) * max(0, width) * max(0, channels)
    radius = max(0, taps) // 2
    x = _buffer(fdp, item, image)
    y = x if fdp.ConsumeBool() else _buffer(fdp, item, image)
    row_src = np.array([fdp.ConsumeIntInRange(-2, 80) for _ in
                        range(max(0, min(rows + 2 * radius, 300)))], dtype=np.int64)
    col_src = np.array([fdp.ConsumeIntInRange(-2, 80) for _ in
                        range(max(0, min(width + 2 * radius, 300)))], dtype=np.int64)
    maps = max(0, rows) * max(0, width) * max(0, channels)
    kernel.strip(
        x, y, dtype_code, row_base, buffer_rows, width, channels, taps, start, rows,
        _buffer(fdp, np.float32, taps), _buffer(fdp, np.float32, 2 * max(0, channels)),
        row_src, col_src, fdp.ConsumeFloat(), 1e-4, 9e-4, 1.0, 0.84, fdp.ConsumeBool(),
        fdp.ConsumeBool(), tuple(_geometry(fdp) for _ in range(4)),
        _buffer(fdp, np.float64, 3 * max(0, channels)), _buffer(fdp, np.float64, channels),
        *[_buffer(fdp, np.float32, maps) for _ in range(4)],
        *[_buffer(fdp, np.uint8, max(0, rows) * max(0, width)) for _ in range(4)],
        tuple(fdp.ConsumeFloat() for _ in range(8)), _buffer(fdp, np.float64, 1))


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 3):
        score_pair(fdp)
    else:
        call_kernel(fdp)


def main() -> None:
    args = list(sys.argv)
    if not any(os.path.isdir(arg) for arg in args[1:]):
        CORPUS.mkdir(parents=True, exist_ok=True)
        args.append(str(CORPUS))
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
