"""The PNG reader on a PngSuite-like corpus: every valid file as Pillow decodes it, every
corrupt one a clean error.

No PyPI package ships the PngSuite (pypng's source carries 28 of its files, none of the
corrupt ones), so `pngsuite_corpus` makes files of the same kinds with its own encoder: every
colour type and bit depth, interlaced or not, odd sizes, each row filter, split image data,
ancillary chunks, transparency, and PngSuite's ``x*`` damage plus truncations, bad zlib data,
bad filter bytes, zero and huge sizes.

The contract (``ssimcli.io.png``): the reader decodes 8- and 16-bit grey, grey+alpha, RGB
and RGBA, not interlaced and without ``tRNS``, to the samples libpng returns ((H, W) for grey,
native uint16 for 16-bit); any other layout it hands back (``None``) and ``ssimcli.io.decode``
gives it to libpng (imagecodecs). Corrupt data is a `CorruptPng` from the reader, and an
`InputError` naming the file from the decoder, never another exception.

The oracle is Pillow: 8-bit samples as they are, 16-bit grey as ``I;16``, 16-bit colour as
its high bytes (Pillow keeps 8 bits of those), palettes and low bit depths expanded to 8-bit
(libpng scales 1/2/4-bit grey to 0-255 as Pillow does), ``tRNS`` keys as alpha.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pngsuite_corpus import PngCase, corrupt_files, valid_files

from ssimcli.errors import InputError
from ssimcli.io import png
from ssimcli.io.decode import read_raw

pytestmark = pytest.mark.filterwarnings("ignore:Palette images with Transparency:UserWarning")


@functools.lru_cache(maxsize=1)
def _valid() -> dict[str, PngCase]:
    return {case.name: case for case in valid_files()}


@functools.lru_cache(maxsize=1)
def _corrupt() -> dict[str, PngCase]:
    return {case.name: case for case in corrupt_files()}


def _reader_layout(case: PngCase) -> bool:
    return (case.colour in (0, 2, 4, 6) and case.depth in (8, 16) and not case.interlaced
            and case.transparent is None)


OWN = [name for name, case in _valid().items() if _reader_layout(case)]
HANDED_ON = [name for name, case in _valid().items() if not _reader_layout(case)]


def _pillow(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _intended(case: PngCase) -> np.ndarray:
    """What the file encodes, ``(H, W, C)``: its samples, palette indexes resolved."""
    assert case.samples is not None
    if case.palette is not None:
        return case.palette[case.samples[..., 0]]
    return case.samples


def test_the_corpus_covers_what_pngsuite_does() -> None:
    kinds = {(case.colour, case.depth, case.interlaced) for case in _valid().values()}
    for colour, depths in {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16),
                           6: (8, 16)}.items():
        for depth in depths:
            assert {(colour, depth, False), (colour, depth, True)} <= kinds
    names = set(_corrupt())
    assert {"xs1n0g01", "xs2n0g01", "xs4n0g01", "xs7n0g01", "xcrn0g04", "xlfn0g04", "xhdn0g08",
            "xc1n0g08", "xc9n2c08", "xd0n2c08", "xd3n2c08", "xd9n2c08", "xdtn0g01",
            "xcsn0g01"} <= names
    assert len(OWN) > 50 and len(HANDED_ON) > 50


@pytest.mark.parametrize("name", OWN)
def test_the_reader_decodes_its_layouts_as_pillow_does(name: str) -> None:
    case = _valid()[name]
    got = png.decode(case.data)
    assert got is not None, "a layout the reader takes must not be handed on"
    streamed = png.decode_file(io.BytesIO(case.data))
    assert streamed is not None
    np.testing.assert_array_equal(streamed, got)
    assert got.dtype == (np.uint16 if case.depth == 16 else np.uint8)
    samples = got[:, :, None] if got.ndim == 2 else got
    assert got.ndim == (2 if case.colour == 0 else 3)
    np.testing.assert_array_equal(samples, _intended(case))
    image = _pillow(case.data)
    pillow = np.asarray(image)
    if case.depth == 8 or case.colour == 0:  # 8-bit, and 16-bit grey (Pillow's I;16)
        np.testing.assert_array_equal(got, pillow)
    elif case.colour == 4:  # 16-bit grey+alpha: Pillow's 8-bit RGBA, L L L A
        np.testing.assert_array_equal(samples[..., 0] >> 8, pillow[..., 0])
        np.testing.assert_array_equal(samples[..., 1] >> 8, pillow[..., 3])
    else:  # 16-bit RGB(A): Pillow keeps the high bytes
        np.testing.assert_array_equal(samples >> 8, pillow)


def _pillow_samples(case: PngCase) -> np.ndarray:
    """Pillow's decoding as libpng (imagecodecs) expands it: ``(H, W, C)``, alpha from tRNS."""
    image = _pillow(case.data)
    if image.mode == "P":
        return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))
    if image.mode == "1":
        values = np.asarray(image.convert("L"))[:, :, None]
    else:
        values = np.asarray(image)
        values = values[:, :, None] if values.ndim == 2 else values
    if case.depth == 16 and values.dtype == np.uint8:  # Pillow's high bytes vs libpng's 16 bits
        raise AssertionError("compare 16-bit colour with _high_bytes")
    key = image.info.get("transparency")
    if key is None:
        return values
    key = np.atleast_1d(np.asarray(key)).astype(values.dtype)
    if case.depth < 8:  # Pillow reports the key at the file's depth; its samples are scaled
        key = key * (255 // ((1 << case.depth) - 1))
    top = np.iinfo(values.dtype).max
    alpha = np.where(np.all(values == key, axis=2), 0, top).astype(values.dtype)
    return np.concatenate([values, alpha[:, :, None]], axis=2)


@pytest.mark.parametrize("name", HANDED_ON)
def test_other_layouts_go_to_libpng_and_decode_as_pillow_does(name: str, tmp_path: Path
                                                              ) -> None:
    case = _valid()[name]
    assert png.decode(case.data) is None
    assert png.decode_file(io.BytesIO(case.data)) is None
    path = tmp_path / f"{name}.png"
    path.write_bytes(case.data)
    got = read_raw(path)
    samples = got[:, :, None] if got.ndim == 2 else got
    if case.depth == 16 and case.colour in (2, 4, 6):  # Pillow: the high bytes, 8-bit
        image = _pillow(case.data)
        pillow = np.asarray(image)
        colour = samples[..., :3] if case.colour == 2 else samples
        if case.colour == 4:
            colour = samples[..., [0, 0, 0, 1]]
        np.testing.assert_array_equal(colour >> 8, pillow[..., :colour.shape[2]])
        if case.transparent is not None:  # the key, 16-bit, against libpng's alpha
            key = np.asarray(case.transparent, dtype=np.uint16)
            alpha = np.where(np.all(samples[..., :3] == key, axis=2), 0, 65535)
            np.testing.assert_array_equal(samples[..., 3], alpha)
        return
    np.testing.assert_array_equal(samples, _pillow_samples(case))
    if case.depth >= 8 and case.colour != 3:  # and the very samples written
        np.testing.assert_array_equal(samples[..., :_intended(case).shape[2]], _intended(case))


def test_the_encoder_writes_what_pillow_reads() -> None:
    # The corpus is only as good as its encoder: Pillow must read each file as intended.
    for case in _valid().values():
        image = _pillow(case.data)
        expected = _intended(case)
        if image.mode == "P":
            got = np.asarray(image.convert("RGB"))
        elif image.mode == "1":
            got = np.asarray(image)[:, :, None].astype(np.uint8)
        else:
            got = np.asarray(image)
            got = got[:, :, None] if got.ndim == 2 else got
        if case.depth < 8 and case.colour == 0:
            expected = expected * (1 if image.mode == "1" else 255 // ((1 << case.depth) - 1))
        elif case.depth == 16 and got.dtype == np.uint8:
            expected = expected >> 8
            if case.colour == 4:
                expected = expected[..., [0, 0, 0, 1]]
        np.testing.assert_array_equal(got, expected, err_msg=case.name)


@pytest.mark.parametrize("name", list(_corrupt()))
def test_every_corrupt_file_is_a_clean_error(name: str, tmp_path: Path) -> None:
    case = _corrupt()[name]
    for decode in (png.decode, lambda data: png.decode_file(io.BytesIO(data))):
        try:
            result = decode(case.data)
        except png.CorruptPng:
            continue
        assert result is None, "corrupt data decoded to an image"
    path = tmp_path / f"{name}.png"
    path.write_bytes(case.data)
    with pytest.raises(InputError) as info:
        read_raw(path)
    assert info.value.path == str(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["xbmbn6a08", "xbmbn0g08", "xhuge0g08", "xwide0g08"])
def test_a_small_file_claiming_a_huge_image_allocates_nothing(name: str) -> None:
    # Deflate inflates at most 1032 times: a few kilobytes cannot fill 256 MB, and the reader
    # says so before it allocates the pixels (it used to allocate them, then find the data
    # short).
    import tracemalloc

    data = _corrupt()[name].data
    tracemalloc.start()
    try:
        for decode in (png.decode, lambda data: png.decode_file(io.BytesIO(data))):
            try:
                assert decode(data) is None
            except png.CorruptPng:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
