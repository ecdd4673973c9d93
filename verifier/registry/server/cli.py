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
    p.add_argument(
        "--public-national",
        action="store_true",
        help="serve /v1/national/* (signed parts, deltas, manifest) without a token, for a CDN",
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


def add_export_parser(
    registry_subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """``registry export-national``: national parts or deltas from the registry's tables."""
    p = registry_subparsers.add_parser(
        "export-national",
        help="write signed national parts (or deltas since an export) from the register tables",
    )
    p.add_argument("--data", required=True, help="register directory (its key signs the files)")
    p.add_argument(
        "--out", help="output directory (default: DATA/national, what /v1/national serves)"
    )
    p.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--dsn", help="PostgreSQL connection string (--store postgresql)")
    p.add_argument(
        "--since-sequence",
        type=int,
        help="write per-region deltas of the records changed since that export (PostgreSQL)",
    )
    p.add_argument("--valid-hours", type=float, default=72.0)
    p.add_argument("--region", action="append", default=None, help="only this region (repeatable)")
    p.set_defaults(func=cmd_registry_export_national)


def cmd_registry_export_national(args: argparse.Namespace) -> int:
    import json
    import shutil
    import tempfile

    from .data import build_snapshot_store, load_registry_data
    from .national_export import (
        ExportResult,
        PostgresSource,
        RegisterSource,
        SqliteSource,
        export_national,
        name_key_id_for,
    )

    try:
        data_dir = Path(args.data)
        data = load_registry_data(data_dir)
        out = Path(args.out) if args.out else data_dir / "national"
        nk = name_key_id_for(data_dir)

        def run(src: RegisterSource) -> ExportResult:
            return export_national(
                src,
                out,
                data.signing_key,
                nk,
                since=args.since_sequence,
                valid_hours=args.valid_hours,
                regions=args.region,
            )

        if args.store == "postgresql":
            if not args.dsn:
                raise ServerSetupError("--store postgresql needs --dsn", code="bad_argument")
            with PostgresSource.open(args.dsn) as pg:
                result = run(pg)
        else:
            work = Path(tempfile.mkdtemp(prefix="oms-export-"))  # 0700: the store holds hashes
            try:
                store = build_snapshot_store(data, work / "register.sqlite")
                seq = store.info().sequence or 0
                store.close()
                src = SqliteSource(work / "register.sqlite", seq)
                try:
                    result = run(src)
                finally:
                    src.close()
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except OmsError as exc:
        print(f"oms-verifier: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    print(
        json.dumps(
            {
                "sequence": result.sequence,
                "out": str(result.out_dir),
                "files": [f.to_json() for f in result.files],
            }
        )
    )
    return EXIT_OK


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
        public_national=args.public_national,
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
