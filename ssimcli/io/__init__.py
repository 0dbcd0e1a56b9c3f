"""Files in and out: decoding images (and videos), the PNG reader, probing headers and pixel
limits, safe output files, map and heatmap files, row encoders and sinks. Every failure is a
typed error naming the path.

Imports only the settings modules (``ssimcli.options``, ``ssimcli.config``, ``ssimcli.errors``,
``ssimcli.vocabulary``, ``ssimcli.console``) and the engine, ``ssimcli.metrics``.
"""
