"""oms-verifier: is this OMS policy genuine and in force?"""

from __future__ import annotations

import importlib.metadata

DISTRIBUTION = "oms-verifier"


def _version() -> str:
    """The installed distribution's version (pyproject.toml, the ``.deb``): the one source for
    ``--version``, ``/v1/status`` and the metrics' build info, so they can never disagree."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # a bare source tree, never installed
        return "0+unknown"


__version__ = _version()
