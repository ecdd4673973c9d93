"""The dev kit: the demo, the synthetic register generators, the card emulator and the test
encoders of the scanner protocols, with the signing helpers they need.

It may use anything in the product; nothing in the product imports it except the CLI's
``demo`` / ``serve --demo`` / ``registry generate`` entry points (an import-linter contract in
pyproject.toml). It ships with the package because ``serve --demo`` is the newcomer's first
command, but no production code path reaches it.
"""
