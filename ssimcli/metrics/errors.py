"""The engine's own errors: plain `ValueError` subclasses, so that the engine needs nothing of the
tool. The tool's `ssimcli.errors.UsageError` extends `ParameterError`, and the command line turns
either into one line and exit code 2."""

from __future__ import annotations


class ParameterError(ValueError):
    """A parameter value the engine cannot use (window, sigma, K1/K2, alpha, preset, device...)."""


class ValuesOutOfRange(ValueError):
    """Values so far outside the data range that not even float64 keeps SSIM's variances (is the
    data range right?); a `PairError` naming the files on the command line."""


class ImageTooSmallError(ValueError):
    """Images too small for what was asked (MS-SSIM's five scales); a plain `ValueError` to library
    users, a `PairError` naming the files on the command line."""
