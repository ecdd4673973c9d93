"""``gost`` CLI subcommands: verify, sign, genkey (files interoperate with openssl -engine gost).

Exit codes: 0 valid / done, 1 signature invalid, 2 unusable input (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verifier.errors import CryptoError

from .keys import Algorithm, generate_private_key, load_private_key, load_public_key
from .signatures import sign, verify

_HASHES = ("gost94", "streebog256", "streebog512")


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CryptoError(f"cannot read {what} {path}: {exc.strerror}", code="bad_input") from exc


def _write(path: str, data: bytes, private: bool = False) -> None:
    try:
        target = Path(path)
        target.write_bytes(data)
        if private:
            target.chmod(0o600)
    except OSError as exc:
        raise CryptoError(f"cannot write {path}: {exc.strerror}", code="bad_input") from exc


def _fail(exc: CryptoError) -> int:
    print(f"gost: {exc.code}: {exc.message}", file=sys.stderr)
    return 2


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a detached signature (``openssl dgst -sign`` format)."""
    try:
        key = load_public_key(_read(args.pubkey, "public key"))
        data = _read(args.data, "data")
        signature = _read(args.signature, "signature")
        ok = verify(key, data, signature, hash_name=args.hash)
    except CryptoError as exc:
        return _fail(exc)
    print("Verified OK" if ok else "Verification failure")
    return 0 if ok else 1


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign a file; the output verifies with ``openssl dgst -engine gost -verify``."""
    try:
        key = load_private_key(_read(args.key, "private key"))
        signature = sign(key, _read(args.data, "data"), hash_name=args.hash)
        _write(args.out, signature)
    except CryptoError as exc:
        return _fail(exc)
    return 0


def cmd_genkey(args: argparse.Namespace) -> int:
    """Generate a key pair in the PEM layout OpenSSL's GOST engine uses."""
    try:
        key = generate_private_key(Algorithm.from_name(args.algorithm), args.paramset)
        _write(args.out, key.to_pem(), private=True)
        if args.pubout:
            _write(args.pubout, key.public_key().to_pem())
    except CryptoError as exc:
        return _fail(exc)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``gost`` command group to a parent parser's subparsers."""
    gost = subparsers.add_parser("gost", help="GOST R 34.10/34.11 keys and signatures")
    sub = gost.add_subparsers(dest="gost_command", required=True)

    p = sub.add_parser("verify", help="verify a detached GOST signature")
    p.add_argument("--pubkey", required=True, help="public key PEM/DER (openssl pkey -pubout)")
    p.add_argument("--data", required=True, help="signed file")
    p.add_argument("--signature", required=True, help="raw signature file (s||r)")
    p.add_argument("--hash", choices=_HASHES, default=None, help="default: from the key")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("sign", help="sign a file")
    p.add_argument("--key", required=True, help="private key PEM/DER")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--hash", choices=_HASHES, default=None, help="default: from the key")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("genkey", help="generate a private key")
    p.add_argument("--algorithm", required=True, choices=[a.openssl_name for a in Algorithm])
    p.add_argument("--paramset", default="A", help="A B C XA XB TCA TCB TCC TCD (512: A B C)")
    p.add_argument("--out", required=True)
    p.add_argument("--pubout", default=None)
    p.set_defaults(func=cmd_genkey)
