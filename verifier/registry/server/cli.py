"""``oms-verifier registry serve``: run the reference registry service on a data directory."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from verifier.errors import OmsError

from .config import DEFAULT_PORT, ServerConfig
from .data import ServerSetupError
from .runner import read_tokens_file, serve

TOKENS_ENV = "OMS_REGISTRY_TOKENS"
EXIT_OK, EXIT_USAGE = 0, 2


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="register directory (registry generate --out)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--token",
        action="append",
        default=[],
        help=f"accepted Bearer token (repeatable; also env {TOKENS_ENV}, comma-separated)",
    )
    p.add_argument("--token-file", help="file with accepted tokens, one a line")
    p.add_argument(
        "--insecure-no-auth", action="store_true", help="serve without any token (tests only)"
    )
    p.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--dsn", help="PostgreSQL connection string for --store postgresql")
    p.add_argument(
        "--faults", action="store_true", help="enable fault injection at /_faults (tests only)"
    )
    p.add_argument("--tls-cert", help="PEM server certificate (chain)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--tls-client-ca", help="PEM CA: require client certificates it issued")
    p.add_argument("--work-dir", help="where the SQLite store is built (default: a temp dir)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def add_serve_parser(
    registry_subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``serve`` to the ``oms-verifier registry`` sub-command group."""
    p = registry_subparsers.add_parser(
        "serve", help="run the reference online registry service (protocol v1)"
    )
    _add_arguments(p)
    p.set_defaults(func=cmd_registry_serve)


def config_from_args(
    args: argparse.Namespace, environ: dict[str, str] | None = None
) -> ServerConfig:
    env = os.environ if environ is None else environ
    tokens = [t for t in args.token if t]
    tokens += [t.strip() for t in env.get(TOKENS_ENV, "").split(",") if t.strip()]
    if args.token_file:
        try:
            tokens += read_tokens_file(Path(args.token_file))
        except OSError as exc:
            raise ServerSetupError(
                f"cannot read {args.token_file}: {exc.strerror}", code="bad_argument"
            ) from exc
    return ServerConfig(
        data_dir=Path(args.data),
        host=args.host,
        port=args.port,
        tokens=tuple(dict.fromkeys(tokens)),
        insecure_no_auth=args.insecure_no_auth,
        store=args.store,
        dsn=args.dsn or None,
        state_dir=Path(args.work_dir) if args.work_dir else None,
        faults=args.faults,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        tls_client_ca=Path(args.tls_client_ca) if args.tls_client_ca else None,
        log_level=args.log_level,
    )


def cmd_registry_serve(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        if not config.tokens and not config.insecure_no_auth:
            raise ServerSetupError(
                f"no token configured: give --token, --token-file or {TOKENS_ENV},"
                " or --insecure-no-auth",
                code="no_auth",
            )
        serve(config)
    except OmsError as exc:
        print(f"oms-verifier: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m verifier.registry.server``: the same options, without the daemon config."""
    p = argparse.ArgumentParser(prog="python -m verifier.registry.server", description=__doc__)
    _add_arguments(p)
    return cmd_registry_serve(p.parse_args(argv))
