"""The native parts (ssimcli/metrics/_native.c): the fused strip kernel and PNG unfiltering.

The kernel is checked against the float64 reference path (the oracle of the accuracy contract:
float32 maps within 5e-4, means within 2e-5) on the shapes that stress its tiling (widths
around the 160-pixel column tile, one-pixel images, every padding), and for the invariants
the OpenCV path also keeps. The PNG reader must return exactly what libpng returns, on files
from three different encoders, and refuse corrupt files as libpng does. The rest of the
engine's tests (tests/test_fast_path.py) run on both engines.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from ssimcli.io import png as pngread
from ssimcli.metrics import compute, fast, params_for

pytestmark = pytest.mark.skipif(fast._NATIVE_KERNEL is None, reason="native kernel not built")

PRESETS = ("standard", "seed", "matlab", "skimage-default")


@pytest.fixture(autouse=True)
def native_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSIM_L1_NATIVE", "1")


def textured_pair(height: int, width: int, channels: int, seed: int = 0,
                  dtype: type = np.uint8) -> tuple[np.ndarray, np.ndarray]:
    """Integer images with flat areas, edges and noise (8- or 16-bit)."""
    rng = np.random.default_rng(seed)
    top = float(np.iinfo(dtype).max)
    base = rng.random((height // 5 + 2, width // 5 + 2, channels))
    smooth = np.kron(base, np.ones((5, 5, 1)))[:height, :width]
    ref = np.clip(0.8 * smooth + 0.2 * rng.random((height, width, channels)), 0, 1)
    ref[: height // 3, : width // 3] = 1.0  # a white page corner
    cand = np.clip(ref + rng.normal(0, 0.04, ref.shape), 0, 1)
    return (np.round(ref * top).astype(dtype), np.round(cand * top).astype(dtype))


def reference(x: np.ndarray, y: np.ndarray, preset: str, divisor: float) -> object:
    params = params_for(preset, precision="float64")
    return compute(x.astype(np.float64) / divisor, y.astype(np.float64) / divisor, params,
                   return_maps=True, method="reference")


def assert_within_contract(got: object, oracle: object) -> None:
    for name, values in oracle.per_channel.items():  # type: ignore[attr-defined]
        np.testing.assert_allclose(got.per_channel[name], values, rtol=0, atol=2e-5,  # type: ignore[attr-defined]
                                   err_msg=name)
    for name, value in oracle.maps.items():  # type: ignore[attr-defined]
        np.testing.assert_allclose(got.maps[name], value, rtol=0, atol=5e-4, err_msg=name)  # type: ignore[attr-defined]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 3), (12, 159, 3), (21, 160, 1),
                                   (13, 161, 4), (40, 333, 3), (75, 47, 2)])
def test_kernel_keeps_the_accuracy_contract(preset: str, shape: tuple[int, int, int]) -> None:
    x, y = textured_pair(*shape, seed=sum(shape))
    got = compute(x, y, params_for(preset), return_maps=True, divisor=255.0, strip_rows=8,
                  threads=2)
    assert_within_contract(got, reference(x, y, preset, 255.0))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_kernel_reads_other_dtypes_as_they_are(dtype: type) -> None:
    x16, y16 = textured_pair(50, 170, 3, seed=3, dtype=np.uint16)
    if dtype is np.uint16:
        x, y, divisor = x16, y16, 65535.0
    else:
        x, y, divisor = (x16 / 65535).astype(dtype), (y16 / 65535).astype(dtype), 1.0
    got = compute(x, y, return_maps=True, divisor=divisor)
    assert_within_contract(got, reference(x, y, "standard", divisor))


def test_strided_and_mixed_inputs_give_the_contiguous_result() -> None:
    x, y = textured_pair(60, 200, 3, seed=4)
    base = compute(x, y, return_maps=True, divisor=255.0)
    strided = compute(np.asfortranarray(x), y[:, ::-1][:, ::-1], return_maps=True, divisor=255.0)
    assert strided.per_channel == base.per_channel
    mixed = compute(x, y.astype(np.uint16), return_maps=True, divisor=255.0)
    assert mixed.per_channel == base.per_channel


def test_identical_images_give_exactly_one_and_swapping_changes_no_bit() -> None:
    x, y = textured_pair(70, 190, 3, seed=5)
    for preset in PRESETS:
        params = params_for(preset)
        same = compute(x, x, params, return_maps=True, divisor=255.0)
        assert same.per_channel["ssim"] == [1.0, 1.0, 1.0]
        assert same.per_channel["cs"] == [1.0, 1.0, 1.0]
        assert np.all(same.maps["ssim"] == 1.0)
        one = compute(x, y, params, return_maps=True, divisor=255.0)
        other = compute(y, x, params, return_maps=True, divisor=255.0)
        assert one.per_channel == other.per_channel
        for name in one.maps:
            assert np.array_equal(one.maps[name], other.maps[name]), (preset, name)


def test_native_and_opencv_engines_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = textured_pair(96, 330, 3, seed=6)
    native = compute(x, y, return_maps=True, divisor=255.0, local_window=32)
    monkeypatch.setenv("SSIM_L1_NATIVE", "0")
    opencv = compute(x, y, return_maps=True, divisor=255.0, local_window=32)
    # Both are float32 (each ~5e-5 from float64 on this pair's flat corner, where the
    # stabilising constants meet a near-zero variance); they differ by their rounding only.
    for name, values in opencv.per_channel.items():
        np.testing.assert_allclose(native.per_channel[name], values, rtol=0, atol=2e-6)
    for name, value in opencv.maps.items():
        np.testing.assert_allclose(native.maps[name], value, rtol=0, atol=2e-4)
    assert native.local is not None and opencv.local is not None
    assert native.local.value == pytest.approx(opencv.local.value, abs=1e-5)
    assert (native.local.x, native.local.y) == (opencv.local.x, opencv.local.y)


def test_psnr_sums_are_exact_for_integers() -> None:
    x, y = textured_pair(33, 171, 3, seed=7)
    got = compute(x, y, divisor=255.0)
    diff = x.astype(np.float64) - y.astype(np.float64)
    mse = (diff**2).mean(axis=(0, 1)) / 255.0**2
    np.testing.assert_allclose(got.per_channel["psnr"], 10 * np.log10(1 / mse), rtol=1e-12)


def test_the_kernel_refuses_buffers_too_small_for_its_arguments() -> None:
    kernel = fast._NATIVE_KERNEL
    x = np.zeros((4, 4, 1), np.uint8)
    weights = np.ones(3, np.float32) / 3
    rows = np.array([0, 0, 1, 2, 3, 3], np.int64)
    cols = np.array([0, 0, 1, 2, 3, 3], np.int64)
    sums = np.zeros((3, 1))
    args = [x, x, 0, 0, 4, 4, 1, 3, 0, 4, weights, np.zeros(1, np.float32), rows, cols, 1.0,
            1e-4, 9e-4, 1.0, 0.84, False, True, (0, 4, 0, 4), sums, None, None, None, None, None,
            None, None, None, None, (0.0, 1.0) * 4]
    kernel.strip(*args)
    assert sums[0, 0] == pytest.approx(4.0 * 4.0)  # identical images: SSIM 1 on 16 pixels
    for index, bad in [(0, np.zeros(8, np.uint8)), (12, rows[:3]), (13, np.array([0, 9, 1, 2, 3, 3])),
                       (22, np.zeros(2)), (24, np.zeros(3, np.float32)),
                       (28, np.zeros(3, np.uint8))]:
        wrong = list(args)
        wrong[index] = bad
        with pytest.raises(ValueError):
            kernel.strip(*wrong)


def test_disabling_the_kernel_uses_the_opencv_engine() -> None:
    code = ("import numpy as np, sys\nfrom ssimcli.metrics import compute, fast\n"
            "a = np.zeros((40, 40), np.uint8)\ncompute(a, a, divisor=255.0)\n"
            "print(fast.native_available(), 'cv2' in sys.modules)\n")
    import os

    for setting, expected in (("0", "False True"), ("1", "True False")):
        env = {**os.environ, "SSIM_L1_NATIVE": setting}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True)
        assert out.stdout.strip() == expected


# ---- PNG ------------------------------------------------------------------------------------


def pillow_png(array: np.ndarray, **options: object) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", **options)
    return buffer.getvalue()


def opencv_png(array: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with one more chunk after IHDR (a correct CRC)."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:33] + chunk + data[33:]


def png_cases() -> dict[str, bytes]:
    import imagecodecs

    rng = np.random.default_rng(8)
    noise = (rng.random((37, 101, 4)) * 255).astype(np.uint8)
    ramp = np.cumsum(rng.integers(0, 3, (37, 101, 4)), axis=1).astype(np.uint8)
    cases: dict[str, bytes] = {}
    for label, image in (("noise", noise), ("ramp", ramp)):
        for mode, channels in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
            array = np.ascontiguousarray(image[:, :, 0] if channels == 1 else image[:, :, :channels])
            for level in (0, 1, 9):  # Pillow picks filters per level: none, sub/up, adaptive
                cases[f"pillow-{label}-{mode}-{level}"] = pillow_png(array, compress_level=level)
            cases[f"pillow-{label}-{mode}-optimize"] = pillow_png(array, optimize=True)
            cases[f"imagecodecs-{label}-{mode}"] = imagecodecs.png_encode(array, level=6)
            if channels != 2:
                cases[f"opencv-{label}-{mode}"] = opencv_png(array)
    wide = (rng.random((23, 41, 3)) * 65535).astype(np.uint16)
    cases["opencv-16-rgb"] = opencv_png(wide)
    cases["imagecodecs-16-rgba"] = imagecodecs.png_encode(
        (rng.random((9, 31, 4)) * 65535).astype(np.uint16))
    cases["opencv-16-grey"] = opencv_png(np.cumsum(rng.integers(0, 900, (19, 47)), axis=1)
                                         .astype(np.uint16))
    plain = pillow_png(noise[:, :, :3])
    cases["with-gAMA"] = with_chunk(plain, b"gAMA", struct.pack(">I", 45455))
    cases["with-sBIT"] = with_chunk(plain, b"sBIT", bytes([5, 6, 5]))
    cases["with-text"] = with_chunk(plain, b"tEXt", b"Comment\x00made by a test")
    return cases


@pytest.mark.parametrize("name", sorted(png_cases()))
def test_png_reader_returns_what_libpng_returns(name: str) -> None:
    import imagecodecs

    data = png_cases()[name]
    expected = imagecodecs.png_decode(data)
    got = pngread.decode(data)
    assert got is not None, "this layout should be read by the fast reader"
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_png_reader_leaves_other_layouts_to_libpng() -> None:
    from PIL import Image

    rng = np.random.default_rng(9)
    rgb = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    palette = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(palette, "PNG")
    bilevel = io.BytesIO()
    Image.fromarray(rgb[:, :, 0] > 128).save(bilevel, "PNG")
    interlaced = io.BytesIO()
    Image.fromarray(rgb).save(interlaced, "PNG", interlace=1)
    cases = {"tRNS": pillow_png(rgb, transparency=(1, 2, 3)), "palette": palette.getvalue(),
             "1-bit": bilevel.getvalue(), "unknown-critical": with_chunk(pillow_png(rgb), b"ZZZZ", b"")}
    if interlaced.getvalue()[28] == 1:  # Pillow wrote it interlaced
        cases["interlaced"] = interlaced.getvalue()
    for name, data in cases.items():
        assert pngread.decode(data) is None, name


def test_png_reader_refuses_corrupt_files() -> None:
    rng = np.random.default_rng(10)
    data = pillow_png((rng.random((40, 50, 3)) * 255).astype(np.uint8), compress_level=1)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    # A valid stream whose first row has filter type 7: the CRC is right, the filter is not.
    clean = zlib.decompress(_idat(data))
    raw = bytearray(clean)
    raw[0] = 7
    bad_filter = _replace_idat(data, zlib.compress(bytes(raw)))
    short_stream = _replace_idat(data, zlib.compress(bytes(raw[:-50])))
    long_stream = _replace_idat(data, zlib.compress(clean + bytes(151)))
    # Right CRC over a stream whose own Adler-32 is wrong: only the inflater can tell.
    stream = bytearray(zlib.compress(clean))
    stream[-1] ^= 0x01
    bad_adler = _replace_idat(data, bytes(stream))
    for label, broken in {"flipped byte": bytes(flipped), "truncated": data[: len(data) // 2],
                          "no IEND": data[:-12], "header only": data[:33],
                          "bad filter": bad_filter, "short stream": short_stream,
                          "long stream": long_stream, "bad Adler-32": bad_adler}.items():
        with pytest.raises(pngread.CorruptPng):
            pngread.decode(broken)
            pytest.fail(label)


def _idat(data: bytes) -> bytes:
    pos, parts = 8, []
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    return b"".join(parts)


def _replace_idat(data: bytes, stream: bytes) -> bytes:
    chunk = struct.pack(">I", len(stream)) + b"IDAT" + stream
    chunk += struct.pack(">I", zlib.crc32(b"IDAT" + stream))
    iend = data[-12:]
    return data[:33] + chunk + iend


def test_a_corrupt_png_is_one_line_and_exit_2(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    rng = np.random.default_rng(11)
    good = pillow_png((rng.random((40, 50, 3)) * 255).astype(np.uint8))
    (folder / "a.png").write_bytes(good)
    broken = bytearray(good)
    broken[len(good) // 2] ^= 0xFF
    (folder / "b.png").write_bytes(bytes(broken))
    out = subprocess.run([sys.executable, "-m", "ssimcli", "compare", str(folder / "a.png"),
                          str(folder / "b.png")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: {folder / 'b.png'}: not a valid PNG (truncated or corrupt data)"]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_native_heatmap_index_equals_numpy(channels: int) -> None:
    from ssimcli.io import heatmap

    rng = np.random.default_rng(12)
    values = rng.normal(0.5, 0.6, (37, 203, channels)).astype(np.float32)
    values[0, :5, 0] = [np.nan, np.inf, -np.inf, 0.0, 1.0]
    values[1, 0, 0] = np.nextafter(np.float32(0.5), np.float32(1))
    for low, high in ((0.0, 1.0), (-1.0, 1.0), (0.0, 0.25)):
        expected = np.empty(values.shape[:2], np.uint8)
        work = np.empty(values.shape[:2], np.float32)
        heatmap._quantise(values, low, high, work, expected)  # NumPy, block of all rows
        got = heatmap.quantise(values, low, high)
        assert np.array_equal(got, expected), (low, high)


def test_native_heatmap_colours_equal_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from ssimcli.io import heatmap

    rng = np.random.default_rng(13)
    index = rng.integers(0, 256, (41, 77), dtype=np.uint8)
    native = heatmap.heatmap_rows_of_index(index, "ssim", heatmap.SCALES["ssim"])
    monkeypatch.setattr(heatmap, "_native_colour", lambda: None)
    assert np.array_equal(native, heatmap.heatmap_rows_of_index(index, "ssim",
                                                                heatmap.SCALES["ssim"]))
    lut = heatmap._lut(heatmap.COLORMAP)
    rgb = heatmap._palette().colours[native[heatmap._TITLE_BAND:heatmap._TITLE_BAND + 41, 1:78]]
    assert np.array_equal(rgb, lut[index])  # the documented colour of every level
    rows = np.zeros((5, 40), np.uint8)
    fast._NATIVE_KERNEL.colour_rows(index[:5, :10].copy(), 5, 10, lut, rows, 3, 40, 3)
    assert np.array_equal(rows[:, 3:33].reshape(5, 10, 3), lut[index[:5, :10]])


def test_png_reader_leaves_large_images_to_libpng(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above FAST_MAX_BYTES libpng's row-by-row decoding holds less: decided from the IHDR."""
    data = pillow_png(np.zeros((40, 50, 3), np.uint8))
    assert pngread.decode(data) is not None
    monkeypatch.setattr(pngread, "FAST_MAX_BYTES", 40 * (1 + 50 * 3) - 1)
    assert pngread.decode(data) is None


@pytest.mark.parametrize("name", sorted(png_cases()))
def test_png_read_in_pieces_returns_what_libpng_returns(name: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import imagecodecs

    monkeypatch.setattr(pngread, "_PIECE", 97)  # pieces that split rows, chunks and headers
    data = png_cases()[name]
    got = pngread.decode_file(io.BytesIO(data))
    expected = imagecodecs.png_decode(data)
    assert got is not None
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_a_large_png_is_read_in_pieces_through_the_loader(tmp_path: object,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from ssimcli.io import decode as image_io

    rng = np.random.default_rng(14)
    image = (rng.random((300, 200, 3)) * 255).astype(np.uint8)
    path = Path(str(tmp_path)) / "big.png"
    path.write_bytes(pillow_png(image))
    calls: list[int] = []
    original = pngread.decode_file
    monkeypatch.setattr(pngread, "decode_file", lambda h: calls.append(1) or original(h))
    monkeypatch.setattr(pngread, "FAST_MAX_BYTES", 1000)
    assert np.array_equal(image_io.read_raw(path), image)
    assert calls == [1]
    broken = bytearray(path.read_bytes())
    broken[len(broken) // 2] ^= 0xFF
    path.write_bytes(bytes(broken))
    with pytest.raises(Exception, match="not a valid PNG"):
        image_io.read_raw(path)


def test_png_read_in_pieces_refuses_corrupt_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pngread, "_PIECE", 1000)
    rng = np.random.default_rng(15)
    data = pillow_png((rng.random((40, 50, 3)) * 255).astype(np.uint8), compress_level=1)
    raw = bytearray(zlib.decompress(_idat(data)))
    raw[0] = 7
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    longer = _replace_idat(data, zlib.compress(bytes(zlib.decompress(_idat(data))) + b"\0" * 151))
    cases = {"flipped byte": bytes(flipped), "truncated": data[: len(data) // 2],
             "no IEND": data[:-12], "bad filter": _replace_idat(data, zlib.compress(bytes(raw))),
             "short stream": _replace_idat(data, zlib.compress(bytes(raw[:-50]))),
             "long stream": longer}
    for label, broken in cases.items():
        with pytest.raises(pngread.CorruptPng):
            pngread.decode_file(io.BytesIO(broken))
            pytest.fail(label)
