# Types of the C extension ssimcli/metrics/_native.c (built by setup.py where a compiler is
# available; see the docstrings there).
from typing import Any

variant: str

def strip(
    x: Any, y: Any, dtype: int, row_base: int, buffer_rows: int, width: int, channels: int,
    taps: int, start: int, rows: int, weights: Any, centre: Any, row_src: Any, col_src: Any,
    divisor: float, c1: float, c2: float, scale: float, alpha: float, clip: bool,
    need_ssim: bool, mean_region: tuple[int, int, int, int], sums: Any, errors: Any,
    ssim: Any, cs: Any, l1: Any, ssim_l1: Any, ssim_index: Any, cs_index: Any, l1_index: Any,
    ssim_l1_index: Any, scales: tuple[float, float, float, float, float, float, float, float],
    peak: Any = None, /,
) -> None: ...
def png_unfilter(data: Any, pixels: Any, height: int, rowbytes: int, bpp: int,
                 first_row: int = 0, /) -> None: ...
def quantise(values: Any, pixels: int, channels: int, low: float, high: float, out: Any, /
             ) -> None: ...
def colour_rows(index: Any, height: int, width: int, lut: Any, rows: Any, offset: int,
                stride: int, depth: int, /) -> None: ...
def window_rows(ssim: Any, rows: int, width: int, channels: int, first_row: int, size: int,
                ring: Any, columns: Any, col_counts: Any, region: tuple[int, int, int, int],
                min_weight: float, best: Any, /) -> None: ...
