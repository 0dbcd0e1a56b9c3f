"""How pairs become results: pairing two trees, preparing a pair, scoring it, batch and method
runs on local processes or Dask, the check rules, resume.

Imports ``ssimcli.io``, the settings modules and the engine; never a report or the CLI.
"""
