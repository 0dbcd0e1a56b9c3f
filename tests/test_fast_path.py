"""The fast CPU path (strips, native or OpenCV filtering, threads) against the SciPy reference
path.

Tolerances: in float32 the two paths differ only by the filter's rounding (a few ulps of values
up to ~0.5, which the SSIM/CS divisions by C1 or C2 amplify to ~1e-5 at worst) and by the order
of the float64 sums; in float64 they agree to round-off. The accuracy contract itself (float32
against float64) is checked separately on adversarial images.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from ssimcli.metrics import compute, cpu_backend, ms_ssim, params_for
from ssimcli.metrics.core import pad_planes, reference_filter
from ssimcli.metrics.fast import banded_filter
from ssimcli.metrics.params import window_weights

PRESETS = ("standard", "seed", "matlab", "skimage-default")


@pytest.fixture(autouse=True, params=["native", "opencv"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both strip engines: the fused native kernel (where built) and
    the OpenCV one it falls back to (``SSIM_L1_NATIVE=0``)."""
    from ssimcli.metrics import fast

    monkeypatch.setenv("SSIM_L1_NATIVE", "1" if request.param == "native" else "0")
    if request.param == "native" and not fast.native_available():
        pytest.skip("the native kernel is not built here")
    return str(request.param)
MAP_ATOL = {"float32": 5e-5, "float64": 1e-11}
MEAN_ATOL = {"float32": 1e-6, "float64": 1e-12}


def photo_pair(height: int, width: int, channels: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A smooth, textured reference and a noisy, shifted candidate, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    base = rng.random((height // 4 + 2, width // 4 + 2, channels))
    smooth = np.kron(base, np.ones((4, 4, 1)))[:height, :width]
    ref = np.clip(0.7 * smooth + 0.3 * rng.random((height, width, channels)), 0, 1)
    cand = np.clip(ref + rng.normal(0, 0.05, ref.shape) + 0.02, 0, 1)
    if channels == 1:
        return ref[:, :, 0].astype(np.float32), cand[:, :, 0].astype(np.float32)
    return ref.astype(np.float32), cand.astype(np.float32)


def assert_same(fast, ref, precision: str, maps: bool = True) -> None:
    # A mean over a handful of pixels carries their full float32 rounding; over thousands it
    # averages out.
    pixels = ref.maps["ssim"].shape[0] * ref.maps["ssim"].shape[1] if maps else 10**6
    atol = MEAN_ATOL[precision] * (1 if pixels >= 1000 or precision == "float64" else 20)
    for name, values in ref.per_channel.items():
        np.testing.assert_allclose(fast.per_channel[name], values, rtol=0, atol=atol,
                                   err_msg=name)
    if maps:
        assert fast.maps is not None
        for name, value in ref.maps.items():
            assert fast.maps[name].shape == value.shape
            np.testing.assert_allclose(fast.maps[name], value, rtol=0,
                                       atol=MAP_ATOL[precision], err_msg=name)
    assert fast.window == ref.window


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 5), (16, 9), (17, 18)])
def test_banded_filter_equals_reference_filter(precision: str, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    dtype = np.float32 if precision == "float32" else np.float64
    window = min(11, *size) | 1 if min(size) % 2 else min(11, *size) - 1
    weights = window_weights(window, 1.5 * window / 11)
    planes = pad_planes(rng.random((3, 2, *size)).astype(dtype), window // 2, "reflect", np)
    backend = cpu_backend()
    expected = reference_filter(planes, weights, backend)
    got = banded_filter(planes, weights, backend)
    assert got.shape == expected.shape == (3, 2, *size)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-7 if precision == "float32" else 1e-15)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (3, 5, 1), (5, 3, 3), (9, 10, 3), (1, 40, 1), (47, 61, 3), (70, 33, 4), (35, 99, 2)],
)
def test_fast_equals_reference(preset: str, precision: str, shape: tuple[int, int, int]) -> None:
    ref_img, cand_img = photo_pair(*shape, seed=sum(shape))
    params = params_for(preset, precision=precision)
    ref = compute(ref_img, cand_img, params, return_maps=True, method="reference")
    # Strips of 8 rows: several strips and a partial last one on all but the tiniest images.
    fast = compute(ref_img, cand_img, params, return_maps=True, method="fast", strip_rows=8,
                   threads=2)
    assert_same(fast, ref, precision)


@pytest.mark.parametrize("strip_rows", [8, 16, 24, 32, 200])
def test_strip_boundaries_do_not_show(strip_rows: int) -> None:
    """Any strip height gives the reference maps; 130 rows leave a partial last strip."""
    ref_img, cand_img = photo_pair(130, 75, 3, seed=5)
    for preset in ("standard", "seed"):
        params = params_for(preset)
        ref = compute(ref_img, cand_img, params, return_maps=True, method="reference")
        fast = compute(ref_img, cand_img, params, return_maps=True, strip_rows=strip_rows,
                       threads=3)
        assert_same(fast, ref, "float32")


def test_threads_do_not_change_a_bit() -> None:
    ref_img, cand_img = photo_pair(600, 515, 3, seed=2)
    one = compute(ref_img, cand_img, return_maps=True, threads=1, strip_rows=16)
    two = compute(ref_img, cand_img, return_maps=True, threads=2, strip_rows=16)
    assert one.per_channel == two.per_channel
    for name in one.maps:
        assert np.array_equal(one.maps[name], two.maps[name])


@pytest.mark.parametrize("preset", PRESETS)
def test_means_without_maps_equal_means_with_maps(preset: str) -> None:
    ref_img, cand_img = photo_pair(90, 80, 3, seed=3)
    params = params_for(preset)
    with_maps = compute(ref_img, cand_img, params, return_maps=True, strip_rows=16)
    without = compute(ref_img, cand_img, params, strip_rows=16)
    assert without.maps is None
    for name, values in with_maps.per_channel.items():
        np.testing.assert_allclose(without.per_channel[name], values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("preset", PRESETS)
def test_ms_ssim_fast_equals_reference(preset: str, precision: str) -> None:
    # 171 x 163: odd sides at several scales, so the edge-repeating downsample is exercised.
    ref_img, cand_img = photo_pair(171, 163, 3, seed=4)
    params = params_for(preset, precision=precision)
    ref = compute(ref_img, cand_img, params, ms_ssim=True, method="reference")
    fast = compute(ref_img, cand_img, params, ms_ssim=True, strip_rows=16)
    atol = 3e-6 if precision == "float32" else 1e-12
    assert fast.ms_ssim == pytest.approx(ref.ms_ssim, abs=atol)
    assert fast.ms_ssim_l1 == pytest.approx(ref.ms_ssim_l1, abs=atol)
    np.testing.assert_allclose(fast.per_channel["ms_ssim"], ref.per_channel["ms_ssim"], atol=atol)
    alone = ms_ssim(ref_img, cand_img, params)
    assert alone == pytest.approx(ref.ms_ssim, abs=atol)
    assert ms_ssim(ref_img, cand_img, params, method="reference") == pytest.approx(ref.ms_ssim,
                                                                                   abs=1e-15)


def test_strided_and_float64_inputs_give_the_same_result() -> None:
    ref_img, cand_img = photo_pair(64, 70, 3, seed=6)
    base = compute(ref_img, cand_img, return_maps=True)
    flipped = compute(ref_img[:, ::-1][:, ::-1], np.asfortranarray(cand_img), return_maps=True)
    assert flipped.per_channel == base.per_channel
    wide = compute(ref_img.astype(np.float64), cand_img.astype(np.float64))
    assert wide.per_channel == base.per_channel


def adversarial_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    h, w = 176, 190  # large enough for MS-SSIM's five scales
    white = np.ones((h, w, 3))
    speckled = white.copy()
    speckled[rng.random((h, w)) < 0.02] -= 1 / 255  # a white page with a few 1-LSB changes
    faint = np.clip(white - rng.random((h, w, 3)) * 1e-3, 0, 1)
    halves = np.zeros((h, w, 3))
    halves[:, w // 2:] = 1
    shifted = np.roll(halves, 3, axis=1)
    black = np.zeros((h, w, 3))
    speck_black = black.copy()
    speck_black[rng.random((h, w)) < 0.02] = 1 / 255
    noise = rng.random((h, w, 3))
    gradient = np.broadcast_to(np.linspace(0, 1, w)[None, :, None], (h, w, 3))
    return {
        "white-page-1lsb": (white, speckled),
        "white-page-faint-noise": (white, faint),
        "black-white-halves-shifted": (halves, shifted),
        "black-white-halves-same": (halves, halves.copy()),
        "black-page-1lsb": (black, speck_black),
        "noise-vs-gradient": (noise, gradient),
        "uint8-photo": tuple(np.round(a * 255) / 255 for a in photo_pair(h, w, 3, seed=8)),
    }


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("case", sorted(adversarial_pairs()))
def test_float32_fast_path_meets_the_accuracy_contract(preset: str, case: str) -> None:
    """DESIGN.md: float32 maps within 5e-4 per pixel, means within 2e-5 of float64."""
    ref_img, cand_img = adversarial_pairs()[case]
    exact = compute(ref_img, cand_img, params_for(preset, precision="float64"),
                    return_maps=True, method="reference", ms_ssim=True)
    fast = compute(ref_img.astype(np.float32), cand_img.astype(np.float32), params_for(preset),
                   return_maps=True, strip_rows=16, ms_ssim=True)
    for name, values in exact.per_channel.items():
        np.testing.assert_allclose(fast.per_channel[name], values, rtol=0, atol=2e-5,
                                   err_msg=name)
    for name, value in exact.maps.items():
        np.testing.assert_allclose(fast.maps[name], value, rtol=0, atol=5e-4, err_msg=name)


def test_identical_images_score_exactly_one() -> None:
    ref_img, _ = photo_pair(77, 65, 3, seed=9)
    for preset in PRESETS:
        result = compute(ref_img, ref_img.copy(), params_for(preset), return_maps=True)
        assert result.ssim == 1.0 and result.cs == 1.0 and result.l1 == 0.0
        assert (result.maps["ssim"] == 1).all()


def test_memory_is_bounded_by_the_strip_not_the_image() -> None:
    """Without maps, the engine's own allocations do not grow with the image's height."""
    ref_img, cand_img = photo_pair(8192, 512, 1, seed=10)

    def peak(rows: int) -> int:
        compute(ref_img[:rows], cand_img[:rows], threads=2)  # warm: plans, kept buffers
        tracemalloc.start()
        try:
            compute(ref_img[:rows], cand_img[:rows], threads=2)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, tall = peak(1024), peak(8192)
    assert tall < 1.2 * short + 2**16, f"{short / 2**20:.1f} MiB -> {tall / 2**20:.1f} MiB"
    # The whole-image path would need over five padded planes of the image (16 MiB each).
    assert tall < ref_img.nbytes / 2, f"peak {tall / 2**20:.1f} MiB"


def test_method_selection() -> None:
    ref_img, cand_img = photo_pair(20, 20, 1)
    with pytest.raises(ValueError, match="method"):
        compute(ref_img, cand_img, method="fastest")
    with pytest.raises(ValueError, match="reference"):
        compute(ref_img, cand_img, method="fast", separable_filter=reference_filter)
    custom = compute(ref_img, cand_img, separable_filter=banded_filter)
    assert custom.ssim == pytest.approx(compute(ref_img, cand_img).ssim, abs=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        compute(ref_img, cand_img[:, :-1])


def test_cpu_scoring_imports_no_scipy() -> None:
    code = (
        "import sys, numpy as np\n"
        "from ssimcli.metrics import compute\n"
        "a = np.random.default_rng(0).random((170, 180, 3))\n"
        "compute(a, a[::-1].copy(), ms_ssim=True, return_maps=True)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_and_version_import_no_numerics() -> None:
    for flag in ("--help", "--version"):
        code = (
            "import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write(repr(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('numpy', 'scipy', 'imageio', 'imagecodecs', 'PIL', 'rich')))))\n"
            "from ssimcli.cli import main\n"
            f"main([{flag!r}])\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stderr.strip().endswith("[]"), out.stderr


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_scores_like_its_parent() -> None:
    """The kept thread pool and locks are rebuilt in a child (batch forks worker processes)."""
    import os

    ref_img, cand_img = photo_pair(600, 700, 3, seed=11)
    expected = compute(ref_img, cand_img).ssim
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os._exit(0 if compute(ref_img, cand_img).ssim == expected else 3)
        finally:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_integer_images_are_converted_by_strips_not_copied_whole() -> None:
    """An 8-bit pair is scored without a float copy of it: peak allocations stay below the
    bytes of one 8-bit image (a float32 copy of one would be four times that). Kept small in
    itself: later tests measure child processes, whose peak RSS starts from this one's."""
    rng = np.random.default_rng(12)
    x = rng.integers(0, 256, (6144, 1024, 3), dtype=np.uint8)
    y = x.copy()
    y[::7] ^= 5  # a change on every seventh row
    compute(x, y, divisor=255.0, threads=1)  # warm: plans, kept buffers
    tracemalloc.start()
    try:
        compute(x, y, divisor=255.0, threads=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes, f"peak {peak / 2**20:.1f} MiB for {x.nbytes / 2**20:.0f} MiB"


def test_integer_images_score_as_their_normalised_floats() -> None:
    rng = np.random.default_rng(13)
    x = rng.integers(0, 256, (300, 211, 3), dtype=np.uint8)
    y = np.clip(x.astype(np.int16) + rng.integers(-9, 10, x.shape, dtype=np.int16),
                0, 255).astype(np.uint8)
    expected = compute(x / np.float32(255), y / np.float32(255))
    result = compute(x, y, divisor=255.0)
    for name in ("ssim", "cs", "l1", "psnr"):
        np.testing.assert_allclose(result.per_channel[name], expected.per_channel[name],
                                   rtol=0, atol=1e-6)
