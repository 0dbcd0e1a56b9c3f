"""The ``ssim-l1`` command line (Click): parse the options, call the pipeline, hand the result to
a report. The top layer: it may import every layer below it, and nothing imports it.

`cli` is the Click group and `main` the console-script entry point (``ssimcli.cli:main``).
"""

from ssimcli.cli.main import cli, main

__all__ = ["cli", "main"]
