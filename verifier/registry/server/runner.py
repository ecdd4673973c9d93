"""Running the service: ``serve`` (foreground, the CLI) and ``ThreadedServer`` (background)."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import ServerConfig
from .data import ServerSetupError


def _uvicorn_config(app: Starlette, config: ServerConfig, **extra: Any) -> uvicorn.Config:
    tls: dict[str, Any] = {}
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            raise ServerSetupError("TLS needs both --tls-cert and --tls-key", code="bad_argument")
        tls = {"ssl_certfile": str(config.tls_cert), "ssl_keyfile": str(config.tls_key)}
        if config.tls_client_ca:
            tls["ssl_ca_certs"] = str(config.tls_client_ca)
            tls["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    elif config.tls_client_ca:
        raise ServerSetupError(
            "--tls-client-ca needs --tls-cert and --tls-key", code="bad_argument"
        )
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=15,
        lifespan="on",
        **tls,
        **extra,
    )


def serve(config: ServerConfig) -> None:
    """Load the register, then serve until SIGINT/SIGTERM (on a socket bound like
    ThreadedServer's, so TCP_NODELAY applies; the URL goes to stderr, port 0 included)."""
    app = create_app(config)
    sock = _bind(config)
    scheme = "https" if config.tls_cert else "http"
    url = f"{scheme}://{config.host}:{sock.getsockname()[1]}"
    print(f"oms-verifier registry: serving on {url}", file=sys.stderr, flush=True)
    # No access log: request paths carry full ENPs, and logs never hold personal data.
    uvicorn.Server(_uvicorn_config(app, config, access_log=False)).run(sockets=[sock])


def _bind(config: ServerConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    return sock


class ThreadedServer:
    """The service on a background thread, on a socket bound before start (port 0 = any free).

    ``with ThreadedServer(create_app(cfg), cfg.replace(port=0)) as srv: httpx.get(srv.url …)``.
    """

    def __init__(self, app: Starlette, config: ServerConfig, *, access_log: bool = False) -> None:
        self._sock = _bind(config)
        self.port: int = self._sock.getsockname()[1]
        scheme = "https" if config.tls_cert else "http"
        self.url = f"{scheme}://{config.host}:{self.port}"
        self.server = uvicorn.Server(_uvicorn_config(app, config, access_log=access_log))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout: float = 20.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerSetupError("the registry service did not start", code="not_started")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def read_tokens_file(path: Path) -> tuple[str, ...]:
    """One token a line; blank lines and ``#`` comments ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(s for s in (ln.strip() for ln in lines) if s and not s.startswith("#"))
