"""Build the optional native kernels (the strip kernel, ffmpeg's SSIM sums); everything else is
in pyproject.toml.

``optional=True``: where no C compiler is available the build goes on without it and the
engine uses its OpenCV path (same results to float32 rounding, slower). Release wheels are
built with ``SSIM_L1_REQUIRE_NATIVE=1`` (pyproject.toml, ``[tool.cibuildwheel]``): then a
kernel that does not compile fails the build instead of leaving a wheel without it.

The kernel is written with GCC vector extensions, which GCC and Clang compile for any target
(x86-64, AArch64, ...) but MSVC's ``cl.exe`` does not. On Windows it is therefore compiled with
``clang-cl`` (LLVM's MSVC-compatible driver; the LLVM installer or Visual Studio's "C++ Clang
tools" component), taken from ``SSIM_L1_CLANG_CL`` or found on PATH, and linked by MSVC's
``link.exe`` as usual.
"""

from __future__ import annotations

import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


REQUIRE_NATIVE = _env_flag("SSIM_L1_REQUIRE_NATIVE")

# No contraction: x*x + y*y must not become the asymmetric fma(x, x, y*y) (swapping the
# images must change no bit); no fast-math: divisions and NaNs behave as in NumPy.
GNU_ARGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-std=gnu11", "-Wno-psabi"]
# The same for clang-cl, through its pass-through to Clang's own options: its default
# (/fp:precise) lets Clang contract a*b + c inside the AVX2+FMA variant.
CLANG_CL_ARGS = ["/O2", "/clang:-ffp-contract=off", "/clang:-fno-math-errno"]


class BuildExt(build_ext):
    """``build_ext`` that compiles with clang-cl where setuptools would use MSVC's cl.exe."""

    def build_extension(self, ext: Extension) -> None:
        # Inside build_extension, so that any failure here (no Visual Studio, no clang-cl) is
        # one an optional extension survives.
        if self.compiler.compiler_type == "msvc":
            self._use_clang_cl(ext)
        super().build_extension(ext)

    def _use_clang_cl(self, ext: Extension) -> None:
        compiler = self.compiler
        if not compiler.initialized:
            compiler.initialize()
        clang_cl = (
            os.environ.get("SSIM_L1_CLANG_CL")
            or shutil.which("clang-cl")
            or shutil.which("clang-cl", path=getattr(compiler, "_paths", None))
        )
        if not clang_cl:
            raise CompileError(
                "the native kernel uses GCC vector extensions, which MSVC's cl.exe cannot compile: "
                "install LLVM (clang-cl) or name it in SSIM_L1_CLANG_CL"
            )
        compiler.cc = clang_cl
        # /GL (whole-program optimisation) is cl.exe's; clang-cl objects link without it.
        compiler.compile_options = [opt for opt in compiler.compile_options if opt != "/GL"]
        ext.extra_compile_args = list(CLANG_CL_ARGS)


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "ssimcli.metrics._native",
            sources=["ssimcli/metrics/_native.c"],
            depends=["ssimcli/metrics/_native_tile.h"],
            extra_compile_args=GNU_ARGS,
            optional=not REQUIRE_NATIVE,
        ),
        # ffmpeg's ssim/psnr filters reproduced (video --preset ffmpeg): plain C, no vector
        # extensions; without it the same sums run in NumPy, bit for bit, ~20x slower.
        Extension(
            "ssimcli.metrics._ffssim",
            sources=["ssimcli/metrics/_ffssim.c"],
            extra_compile_args=GNU_ARGS,
            optional=not REQUIRE_NATIVE,
        ),
    ],
)
