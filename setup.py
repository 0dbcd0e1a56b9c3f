"""Build the optional native strip kernel; everything else is in pyproject.toml.

``optional=True``: where no C compiler is available the build goes on without it and the
engine uses its OpenCV path (same results to float32 rounding, slower).
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    compile_args: list[str] = ["/O2", "/fp:precise"]
else:
    # No contraction: x*x + y*y must not become the asymmetric fma(x, x, y*y) (swapping the
    # images must change no bit); no fast-math: divisions and NaNs behave as in NumPy.
    compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-std=gnu11", "-Wno-psabi"]

setup(
    ext_modules=[
        Extension(
            "ssimcli.metrics._native",
            sources=["ssimcli/metrics/_native.c"],
            depends=["ssimcli/metrics/_native_tile.h"],
            extra_compile_args=compile_args,
            optional=True,
        )
    ]
)
