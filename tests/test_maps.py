"""Per-pixel maps on disk: which files ``--maps`` writes (``--maps-format``, ``--map-names``),
and what is in them.

Every map is checked against an independent source: the raw ``.npy`` against the maps the
Python API returns for the same files (its own code path: whole arrays, no files), the
heatmap PNG, decoded by imageio (libpng through Pillow), against the documented colouring
recomputed here in float64 with the viridis end colours that matplotlib publishes
(``#440154`` and ``#fde725``).
"""

from __future__ import annotations

import os
import threading

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import photo_like

import ssimcli
from ssimcli.io.heatmap import SCALES, render_heatmap
from ssimcli.metrics import compute, params_for

MAPS = ("ssim", "cs", "l1", "ssim_l1")
TITLE_BAND = 28  # rows above the picture in a heatmap (README: Maps and heatmaps)


def save_png(path, values):
    iio.imwrite(path, np.round(np.asarray(values) * 255).astype(np.uint8))
    return path


@pytest.fixture
def pair(tmp_path):
    # Tall enough for several strips of the engine, so maps arrive in pieces.
    ref = photo_like(300, 212, 3, seed=11)
    cand = np.clip(ref + np.random.default_rng(12).normal(0, 0.06, ref.shape), 0, 1)
    return save_png(tmp_path / "ref.png", ref), save_png(tmp_path / "cand.png", cand)


def api_maps(ref, cand, **settings):
    return ssimcli.compare(ref, cand, return_maps=True, **settings).maps


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_default_writes_every_map_as_npy_and_png(run_cli, pair, tmp_path):
    out = tmp_path / "maps"
    result = run_cli("compare", *pair, "--maps", out)
    assert result.returncode == 0, result
    assert files(out) == sorted(f"{n}.{k}" for n in MAPS for k in ("npy", "png"))
    expected = api_maps(*pair)
    for name in MAPS:
        raw = np.load(out / f"{name}.npy")
        assert raw.dtype == np.float32 and raw.shape == (300, 212, 3)
        assert np.array_equal(raw, expected[name]), name
        heat = iio.imread(out / f"{name}.png")
        assert np.array_equal(heat, render_heatmap(expected[name], name)), name


def test_heatmap_colours_follow_the_documented_scale(run_cli, pair, tmp_path):
    out = tmp_path / "maps"
    assert run_cli("compare", *pair, "--maps", out, "--maps-format", "png").returncode == 0
    from cmap import Colormap

    lut = np.round(np.asarray(Colormap("viridis").lut(256))[:, :3] * 255).astype(np.uint8)
    # The ends of matplotlib's published viridis table.
    assert tuple(lut[0]) == (0x44, 0x01, 0x54) and tuple(lut[255]) == (0xFD, 0xE7, 0x25)
    expected = api_maps(*pair)
    for name in MAPS:
        low, high = SCALES[name]
        values = expected[name].astype(np.float64).mean(axis=2)
        index = np.floor(np.clip((values - low) * 255 / (high - low), 0, 255)).astype(int)
        body = iio.imread(out / f"{name}.png")[TITLE_BAND:TITLE_BAND + 300, :212]
        exact = (body == lut[index]).all(axis=-1)
        # float32 channel means may land on the other side of a level boundary: then the
        # next level's colour, and rarely.
        near = (body == lut[np.clip(index + 1, 0, 255)]).all(-1) | (
            body == lut[np.clip(index - 1, 0, 255)]).all(-1)
        assert (exact | near).all(), name
        assert (~exact).mean() < 1e-3, name


@pytest.mark.parametrize(("args", "written"), [
    (("--maps-format", "npy"), [f"{n}.npy" for n in MAPS]),
    (("--maps-format", "png"), [f"{n}.png" for n in MAPS]),
    (("--maps-format", "both"), [f"{n}.{k}" for n in MAPS for k in ("npy", "png")]),
    (("--map-names", "ssim,l1"), ["l1.npy", "l1.png", "ssim.npy", "ssim.png"]),
    (("--map-names", " cs ", "--maps-format", "png"), ["cs.png"]),
])
def test_only_the_asked_files_appear(run_cli, pair, tmp_path, args, written):
    out = tmp_path / "maps"
    result = run_cli("compare", *pair, "--maps", out, *args)
    assert result.returncode == 0, result
    assert files(out) == sorted(written)
    expected = api_maps(*pair)
    for path in out.glob("*.npy"):
        assert np.array_equal(np.load(path), expected[path.stem])


@pytest.mark.parametrize(("args", "words"), [
    (("--map-names", "ms_ssim"), ["--map-names", "ms_ssim", "MS-SSIM has no per-pixel map"]),
    (("--map-names", "ssim,psnr"), ["--map-names", "psnr"]),
    (("--map-names", "ssim,ssim"), ["--map-names", "twice"]),
    (("--map-names", ","), ["--map-names"]),
])
def test_bad_map_names_exit_2_with_one_line(run_cli, pair, tmp_path, args, words):
    result = run_cli("compare", *pair, "--maps", tmp_path / "maps", *args)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "maps").exists()


@pytest.mark.parametrize("option", [("--maps-format", "png"), ("--map-names", "ssim")])
def test_map_options_need_maps(run_cli, pair, option):
    result = run_cli("compare", *pair, *option)
    assert result.returncode == 2 and f"{option[0]} needs --maps" in result.stderr, result
    batch = run_cli("batch", pair[0].parent, pair[0].parent, *option)
    assert batch.returncode == 2 and f"{option[0]} needs --maps" in batch.stderr, batch


def test_grey_and_float64_maps(run_cli, tmp_path):
    ref = save_png(tmp_path / "g1.png", photo_like(90, 70, 1, seed=3))
    cand = save_png(tmp_path / "g2.png", photo_like(90, 70, 1, seed=4))
    out = tmp_path / "grey"
    assert run_cli("compare", ref, cand, "--maps", out).returncode == 0
    expected = api_maps(ref, cand)
    for name in MAPS:
        raw = np.load(out / f"{name}.npy")
        assert raw.shape == (90, 70) and np.array_equal(raw, expected[name][:, :, 0])
    wide = tmp_path / "f64"
    result = run_cli("compare", ref, cand, "--maps", wide, "--precision", "float64")
    assert result.returncode == 0, result
    exact = api_maps(ref, cand, precision="float64")
    for name in MAPS:
        raw = np.load(wide / f"{name}.npy")
        assert raw.dtype == np.float32  # the documented file format, whatever the precision
        assert np.array_equal(raw, exact[name][:, :, 0].astype(np.float32))
        assert np.array_equal(iio.imread(wide / f"{name}.png"),
                              render_heatmap(exact[name], name))


def test_a_pair_that_fails_leaves_no_files(run_cli, tmp_path):
    # Too small for MS-SSIM's five scales: scored at scale 0 (maps under way), then refused.
    ref = save_png(tmp_path / "a.png", photo_like(60, 60, 3, seed=1))
    cand = save_png(tmp_path / "b.png", photo_like(60, 60, 3, seed=2))
    out = tmp_path / "deep" / "maps"
    result = run_cli("compare", ref, cand, "--ms-ssim", "--maps", out)
    assert result.returncode == 2, result
    assert not (tmp_path / "deep").exists()
    assert files(tmp_path) == ["a.png", "b.png"]


def test_ms_ssim_keeps_the_four_maps(run_cli, pair, tmp_path):
    out = tmp_path / "maps"
    assert run_cli("compare", *pair, "--ms-ssim", "--maps", out).returncode == 0
    assert files(out) == sorted(f"{n}.{k}" for n in MAPS for k in ("npy", "png"))
    expected = api_maps(*pair)
    assert np.array_equal(np.load(out / "ssim.npy"), expected["ssim"])


def test_a_fifo_target_gets_the_same_bytes(run_cli, pair, tmp_path):
    # A FIFO cannot be written out of order: the whole map is written in one stream instead.
    out = tmp_path / "maps"
    out.mkdir()
    fifo = out / "ssim.npy"
    os.mkfifo(fifo)
    received = bytearray()

    def read() -> None:
        with open(fifo, "rb") as handle:
            received.extend(handle.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = run_cli("compare", *pair, "--maps", out, "--map-names", "ssim",
                         "--maps-format", "npy", timeout=120)
    finally:
        if reader.is_alive():  # the run failed before opening the FIFO: unblock the reader
            with open(fifo, "wb"):
                pass
        reader.join()
    assert result.returncode == 0, result
    assert fifo.is_fifo()
    plain = tmp_path / "plain"
    assert run_cli("compare", *pair, "--maps", plain, "--map-names", "ssim",
                   "--maps-format", "npy").returncode == 0
    assert bytes(received) == (plain / "ssim.npy").read_bytes()


def test_batch_writes_the_asked_maps_per_pair(run_cli, tmp_path):
    ref_dir, cand_dir = tmp_path / "ref", tmp_path / "cand"
    for folder in (ref_dir, cand_dir / "sub", ref_dir / "sub", cand_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(("a.png", "sub/b.png")):
        image = photo_like(70, 90, 3, seed=20 + index)
        save_png(ref_dir / name, image)
        save_png(cand_dir / name, np.clip(image * 0.9 + 0.05, 0, 1))
    out = tmp_path / "maps"
    result = run_cli("batch", ref_dir, cand_dir, "--maps", out, "--map-names", "l1",
                     "--maps-format", "npy", "--format", "csv", "--jobs", "2")
    assert result.returncode == 0, result
    for name in ("a.png", "sub/b.png"):
        assert files(out / name) == ["l1.npy"]
        expected = api_maps(ref_dir / name, cand_dir / name)["l1"]
        assert np.array_equal(np.load(out / name / "l1.npy"), expected)


def test_compute_hands_over_every_strip_once():
    """The engine's map sink, assembled, is exactly the maps it returns (threads, strips)."""
    rng = np.random.default_rng(5)
    x = rng.random((203, 331, 3), dtype=np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape).astype(np.float32), 0, 1)
    params = params_for("standard")
    whole = compute(x, y, params, return_maps=True, strip_rows=16, threads=2).maps
    for method in ("fast", "reference"):
        got = {name: np.full(x.shape, np.nan, dtype=np.float32) for name in MAPS}
        seen: list[int] = []
        lock = threading.Lock()

        def sink(start: int, maps: dict, got=got, seen=seen, lock=lock) -> None:
            with lock:
                seen.append(start)
                for name in MAPS:
                    got[name][start:start + maps[name].shape[0]] = maps[name]

        result = compute(x, y, params, method=method, map_sink=sink, strip_rows=16, threads=2)
        assert result.maps is None
        assert sorted(seen) == (list(range(0, 203, 16)) if method == "fast" else [0])
        for name in MAPS:
            tolerance = 0 if method == "fast" else 5e-4
            assert np.abs(got[name] - whole[name]).max() <= tolerance, (method, name)


def test_positional_file_is_atomic(tmp_path):
    from ssimcli.errors import OutputError
    from ssimcli.io.output import PositionalFile

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    file = PositionalFile(target)
    file.write_at(4, b"5678")
    file.write_at(0, memoryview(b"1234"))
    assert target.read_bytes() == b"old"  # nothing in place before the commit
    file.commit()
    assert target.read_bytes() == b"12345678"
    assert files(tmp_path) == ["out.bin"]
    dropped = PositionalFile(tmp_path / "new.bin")
    dropped.write_at(0, b"x")
    dropped.discard()
    assert files(tmp_path) == ["out.bin"]
    with pytest.raises(OutputError, match="new.bin"):
        dropped.write_at(0, b"y")


def test_several_methods_write_the_asked_maps(run_cli, tmp_path):
    ref_dir = tmp_path / "gt"
    ref_dir.mkdir()
    image = photo_like(64, 80, 3, seed=30)
    save_png(ref_dir / "a.png", image)
    for method, shift in (("EDSR", 0.02), ("RCAN", 0.05)):
        (tmp_path / method).mkdir()
        save_png(tmp_path / method / "a.png", np.clip(image + shift, 0, 1))
    out = tmp_path / "maps"
    result = run_cli("batch", ref_dir, tmp_path / "EDSR", tmp_path / "RCAN", "--maps", out,
                     "--map-names", "cs", "--maps-format", "png", "--format", "json")
    assert result.returncode == 0, result
    for method in ("EDSR", "RCAN"):
        assert files(out / method / "a.png") == ["cs.png"]
        expected = api_maps(ref_dir / "a.png", tmp_path / method / "a.png")["cs"]
        assert np.array_equal(iio.imread(out / method / "a.png" / "cs.png"),
                              render_heatmap(expected, "cs"))


def test_the_built_in_viridis_table_is_cmaps() -> None:
    from ssimcli.io.heatmap import _lut, _lut_from_cmap

    assert np.array_equal(_lut("viridis"), _lut_from_cmap("viridis"))


def test_heatmaps_are_palette_pngs_whose_margins_use_repeated_entries(run_cli, pair, tmp_path):
    """The palette is the colour table; the two entries that repeat the one before them carry
    white and black instead, so every level keeps its documented colour."""
    from PIL import Image

    from ssimcli.io.heatmap import _lut, _palette

    out = tmp_path / "maps"
    assert run_cli("compare", *pair, "--maps", out, "--map-names", "ssim").returncode == 0
    with Image.open(out / "ssim.png") as image:
        assert image.mode == "P"
        palette = np.asarray(image.getpalette()[:768], np.uint8).reshape(256, 3)
    lut, chosen = _lut(), _palette()
    for slot in (chosen.white, chosen.black):
        assert (lut[slot] == lut[slot - 1]).all()
    assert tuple(palette[chosen.white]) == (255, 255, 255)
    assert tuple(palette[chosen.black]) == (0, 0, 0)
    others = np.setdiff1d(np.arange(256), [chosen.white, chosen.black])
    assert np.array_equal(palette[others], lut[others])
