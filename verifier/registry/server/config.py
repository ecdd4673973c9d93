"""Settings of the reference registry service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

StoreKind = Literal["sqlite", "postgresql"]
DEFAULT_PORT = 8470
SEARCH_BODY_LIMIT = 16 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``create_app``/``serve`` need; the CLI builds one from its arguments.

    ``tokens`` are the accepted Bearer tokens; with none, ``create_app`` refuses unless
    ``insecure_no_auth``. ``state_dir`` is where the SQLite store is built (a fresh temporary
    directory inside it, removed at shutdown; the system temp dir when None).
    ``public_national`` serves the national files (signed parts, deltas, manifest) without a
    token, so a CDN or any shared cache can front them; every other route keeps its token.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tokens: tuple[str, ...] = ()
    insecure_no_auth: bool = False
    public_national: bool = False  # /v1/national/NAME without a token (a CDN in front)
    store: StoreKind = "sqlite"
    dsn: str | None = None
    state_dir: Path | None = None
    faults: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    max_body: int = SEARCH_BODY_LIMIT
    pg_pool_size: int = 8
    log_level: str = "info"
