"""Loading real files through real codecs: bit depths, alpha, palettes, formats, ranges."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo_like
from PIL import Image

from ssimcli.errors import InputError, PairError
from ssimcli.io.decode import load_image
from ssimcli.pipeline.prepare import prepare_pair


def write_png16(path, array):
    import imagecodecs

    path.write_bytes(imagecodecs.png_encode(array))


def test_16bit_rgb_png_keeps_its_low_bytes(tmp_path):
    rng = np.random.default_rng(0)
    high = rng.integers(0, 256, (20, 30, 3), dtype=np.uint16) << 8
    low = rng.integers(0, 256, (20, 30, 3), dtype=np.uint16)
    write_png16(tmp_path / "a.png", high | low)
    write_png16(tmp_path / "b.png", high)
    a = load_image(tmp_path / "a.png")
    b = load_image(tmp_path / "b.png")
    assert a.source_dtype == "uint16" and a.data_range == 65535
    np.testing.assert_array_equal(a.pixels, ((high | low) / np.float32(65535)).astype(np.float32))
    assert not np.array_equal(a.pixels, b.pixels)  # Pillow would have dropped the low bytes


def test_8bit_and_16bit_of_the_same_picture_load_identically(tmp_path):
    picture8 = np.round(photo_like(16, 24, 3) * 255).astype(np.uint8)
    Image.fromarray(picture8).save(tmp_path / "p8.png")
    write_png16(tmp_path / "p16.png", picture8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(load_image(tmp_path / "p8.png").pixels,
                                  load_image(tmp_path / "p16.png").pixels)


@pytest.mark.parametrize("mode,channels,alpha", [
    ("L", 1, False), ("LA", 2, True), ("RGB", 3, False), ("RGBA", 4, True), ("P", 3, False),
    ("I;16", 1, False),
])
def test_png_modes(tmp_path, mode, channels, alpha):
    rgb = np.round(photo_like(12, 10, 3) * 255).astype(np.uint8)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray((photo_like(12, 10, 1) * 65535).astype(np.uint16))
    else:
        image = image.convert(mode)
    image.save(tmp_path / "x.png")
    loaded = load_image(tmp_path / "x.png")
    assert loaded.pixels.shape == (12, 10, channels)
    assert loaded.has_alpha is alpha
    assert loaded.pixels.dtype == np.float32
    assert 0 <= loaded.pixels.min() and loaded.pixels.max() <= 1


def test_palette_with_transparency_expands_to_rgba(tmp_path):
    image = Image.fromarray(np.round(photo_like(8, 8, 3) * 255).astype(np.uint8)).convert("P")
    image.save(tmp_path / "p.png", transparency=0)
    assert load_image(tmp_path / "p.png").pixels.shape[2] == 4


@pytest.mark.parametrize("suffix,kwargs", [
    (".jpg", {"quality": 95}), (".bmp", {}), (".tif", {}),
])
def test_other_8bit_formats(tmp_path, suffix, kwargs):
    import imageio.v3 as iio

    rgb = np.round(photo_like(20, 16, 3) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / f"x{suffix}", rgb, **kwargs)
    loaded = load_image(tmp_path / f"x{suffix}")
    assert loaded.pixels.shape == (20, 16, 3)
    if suffix != ".jpg":
        np.testing.assert_array_equal(loaded.pixels, rgb / np.float32(255))


def test_webp_where_the_codec_exists(tmp_path):
    from PIL import features

    if not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    rgb = np.round(photo_like(20, 16, 3) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.webp", lossless=True)
    np.testing.assert_array_equal(load_image(tmp_path / "x.webp").pixels, rgb / np.float32(255))


@pytest.mark.parametrize("dtype,scale", [(np.uint16, 65535), (np.float32, 1.0)])
def test_tiff_16bit_and_float(tmp_path, dtype, scale):
    import tifffile

    values = photo_like(10, 12, 3)
    tifffile.imwrite(tmp_path / "x.tif", (values * scale).astype(dtype), photometric="rgb")
    loaded = load_image(tmp_path / "x.tif")
    np.testing.assert_allclose(loaded.pixels, (values * scale).astype(dtype) / np.float32(scale),
                               rtol=0, atol=1e-7)


def test_npy_grey_and_colour_and_data_range(tmp_path):
    np.save(tmp_path / "g.npy", photo_like(8, 9, 1).astype(np.float32))
    np.save(tmp_path / "c.npy", photo_like(8, 9, 3))
    np.save(tmp_path / "r.npy", photo_like(8, 9, 3) * 255)
    assert load_image(tmp_path / "g.npy").pixels.shape == (8, 9, 1)
    assert load_image(tmp_path / "c.npy").pixels.shape == (8, 9, 3)
    with pytest.raises(InputError, match="outside"):
        load_image(tmp_path / "r.npy")
    assert load_image(tmp_path / "r.npy", data_range=255).pixels.max() <= 1


@pytest.mark.parametrize("bad,message", [(np.nan, "NaN"), (np.inf, "infinite"), (-0.5, "outside"),
                                         (1.5, "outside")])
def test_npy_bad_values_name_the_file(tmp_path, bad, message):
    array = photo_like(8, 9, 1)
    array[3, 3] = bad
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InputError, match=message) as info:
        load_image(tmp_path / "bad.npy")
    assert "bad.npy" in str(info.value)


def _rgba(alpha_value):
    rgba = np.empty((12, 14, 4), dtype=np.float32)
    rgba[:, :, :3] = photo_like(12, 14, 3)
    rgba[:, :, 3] = alpha_value
    return rgba


def _loaded(pixels, has_alpha=True):
    from ssimcli.io.decode import LoadedImage

    return LoadedImage("mem", pixels, has_alpha, "float32", 1.0)


def test_fully_opaque_alpha_is_dropped():
    x, y, names = prepare_pair(_loaded(_rgba(1.0)), _loaded(_rgba(1.0)))
    assert x.shape[2] == 3 and names == ["R", "G", "B"]


def test_transparency_policies():
    ref = _rgba(1.0)
    cand = _rgba(1.0)
    cand[:, 7:, 3] = 0.0  # right half transparent in the candidate
    x, y, _ = prepare_pair(_loaded(ref), _loaded(cand), transparency="composite")
    assert np.allclose(y[:, 7:], 1.0)  # white background shows through
    x, y, names = prepare_pair(_loaded(ref), _loaded(cand), transparency="channel")
    assert names == ["R", "G", "B", "A"] and y.shape[2] == 4
    x, y, _ = prepare_pair(_loaded(ref), _loaded(cand), transparency="ignore")
    np.testing.assert_array_equal(x, y)
    x, y, _ = prepare_pair(_loaded(ref), _loaded(cand), transparency="composite",
                           background="black")
    assert np.allclose(y[:, 7:], 0.0)


def test_luma_makes_grey_and_colour_comparable():
    grey = _loaded(photo_like(12, 14, 1)[:, :, None], has_alpha=False)
    colour = _loaded(photo_like(12, 14, 3), has_alpha=False)
    with pytest.raises(PairError, match="luma"):
        prepare_pair(grey, colour)
    x, y, names = prepare_pair(grey, colour, color="luma")
    assert names == ["Y"] and x.shape == y.shape == (12, 14, 1)
    expected = colour.pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(y[:, :, 0], expected, atol=1e-6)


def test_grey_with_alpha_composites_on_the_grey_of_the_background():
    grey = np.empty((6, 7, 2), dtype=np.float32)
    grey[:, :, 0] = 0.4
    grey[:, :, 1] = 0.25
    x, _, names = prepare_pair(_loaded(grey), _loaded(grey), background="#ff0000")
    # Pure red's BT.601 luma is 0.299: 0.4 * 0.25 + 0.299 * 0.75.
    np.testing.assert_allclose(x[:, :, 0], 0.4 * 0.25 + 0.299 * 0.75, atol=1e-6)
    assert names == ["L"]
