"""The reference online registry service (protocol v1, ``verifier.registry.protocol``).

``create_app(ServerConfig(...))`` builds the Starlette app, ``serve(config)`` runs it under
uvicorn, ``ThreadedServer`` runs it on a background thread (tests, demos); the CLI is
``oms-verifier registry serve`` (``verifier.registry.server.cli``). See docs/registry-service.md.
"""

from __future__ import annotations

from .app import create_app
from .config import ServerConfig
from .data import ServerSetupError
from .runner import ThreadedServer, serve

__all__ = ["ServerConfig", "ServerSetupError", "ThreadedServer", "create_app", "serve"]
