"""Everything the tool shows or writes for people: terminal tables (Rich), the compare and batch
tables, paper tables, the check report, JUnit and GitHub annotations, the HTML review page.

Imports ``ssimcli.pipeline``, ``ssimcli.io``, the settings modules and the engine; never the CLI.
"""
