"""The table of README "Use in CI": every case of issue 11 scored by each candidate rule.

    python benchmarks/verdict_cases.py

For each case (tests/ui_screens.py: real 1280x720 screenshots rendered with Pillow) it prints
mean SSIM, the worst 32x32 local SSIM, the clearly changed pixels at pixelmatch's threshold 0.1
and Playwright's 0.2, and the verdict of `ssim-l1 check` with default settings.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ui_screens import CASES, write_case  # noqa: E402

from ssimcli.metrics.pixeldiff import changed_pixels  # noqa: E402
from ssimcli.metrics.windows import map_weights, worst_window  # noqa: E402
from ssimcli.options import CompareOptions  # noqa: E402
from ssimcli.pipeline.check import check_pair, resolve_rules  # noqa: E402
from ssimcli.pipeline.prepare import prepare_pair  # noqa: E402
from ssimcli.pipeline.score import compare_loaded, load_pair  # noqa: E402


def main() -> None:
    options = CompareOptions.build()
    print("| case | expected | SSIM | local SSIM (32 px) | changed px (0.1) | changed px (0.2) | default verdict |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            name = write_case(case, Path(tmp) / "base", Path(tmp) / "cand")
            ref, cand = load_pair(Path(tmp) / "base" / name, Path(tmp) / "cand" / name)
            result = compare_loaded(ref, cand, options, return_maps=True)
            window = result.metrics.window
            weights = map_weights(None, result.height, result.width, window.size, 0)
            local = worst_window(result.maps["ssim"], weights, 32)
            x, y, _ = prepare_pair(ref, cand)
            strict, playwright = changed_pixels(x, y, 0.1), changed_pixels(x, y, 0.2)
            item = check_pair(name, Path(tmp) / "base" / name, Path(tmp) / "cand" / name, options,
                              resolve_rules(name, {}))
            print(f"| {case.what} | {case.expect} | {result.scores()['ssim']:.4f} | {local.value:.4f} | "
                  f"{strict.count:.0f} | {playwright.count:.0f} | {item.status} |")


if __name__ == "__main__":
    main()
