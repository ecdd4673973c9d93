from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from verifier.crypto import load_private_key, load_public_key
from verifier.crypto.cli import register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms-verifier")
    register(parser.add_subparsers(dest="command"))
    return parser


def run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_genkey_sign_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, pub = tmp_path / "k.pem", tmp_path / "p.pem"
    assert (
        run(
            "gost",
            "genkey",
            "--algorithm",
            "gost2012_256",
            "--paramset",
            "TCA",
            "--out",
            str(key),
            "--pubout",
            str(pub),
        )
        == 0
    )
    assert load_private_key(key.read_bytes()).public_key() == load_public_key(pub.read_bytes())
    data, sig = tmp_path / "d", tmp_path / "s"
    data.write_bytes(b"hello")
    assert run("gost", "sign", "--key", str(key), "--data", str(data), "--out", str(sig)) == 0
    assert (
        run("gost", "verify", "--pubkey", str(pub), "--data", str(data), "--signature", str(sig))
        == 0
    )
    data.write_bytes(b"hellO")
    assert (
        run("gost", "verify", "--pubkey", str(pub), "--data", str(data), "--signature", str(sig))
        == 1
    )
    assert (
        run(
            "gost",
            "verify",
            "--pubkey",
            str(pub),
            "--data",
            str(data),
            "--signature",
            str(sig),
            "--hash",
            "streebog512",
        )
        == 1
    )
    sig.write_bytes(b"\x01" * 10)
    assert (
        run("gost", "verify", "--pubkey", str(pub), "--data", str(data), "--signature", str(sig))
        == 2
    )
    assert "bad_signature_encoding" in capsys.readouterr().err
    assert (
        run(
            "gost",
            "verify",
            "--pubkey",
            str(tmp_path / "missing"),
            "--data",
            str(data),
            "--signature",
            str(sig),
        )
        == 2
    )
    assert (
        run(
            "gost",
            "genkey",
            "--algorithm",
            "gost2012_512",
            "--paramset",
            "XA",
            "--out",
            str(tmp_path / "x.pem"),
        )
        == 2
    )


def test_cli_against_openssl(openssl: Any, tmp_path: Path) -> None:
    key, pub, data = tmp_path / "k.pem", tmp_path / "p.pem", tmp_path / "d"
    data.write_bytes(b"policy bytes" * 100)
    openssl(
        "genpkey",
        "-engine",
        "gost",
        "-algorithm",
        "gost2001",
        "-pkeyopt",
        "paramset:XA",
        "-out",
        str(key),
    )
    openssl("pkey", "-engine", "gost", "-in", str(key), "-pubout", "-out", str(pub))
    osig = tmp_path / "o.sig"
    openssl(
        "dgst", "-engine", "gost", "-md_gost94", "-sign", str(key), "-out", str(osig), str(data)
    )
    assert (
        run("gost", "verify", "--pubkey", str(pub), "--data", str(data), "--signature", str(osig))
        == 0
    )
    ours = tmp_path / "ours.sig"
    assert run("gost", "sign", "--key", str(key), "--data", str(data), "--out", str(ours)) == 0
    out = openssl(
        "dgst",
        "-engine",
        "gost",
        "-md_gost94",
        "-verify",
        str(pub),
        "-signature",
        str(ours),
        str(data),
    )
    assert b"Verified OK" in out
    # Our genkey output works with openssl, including 512-bit keys and an explicit hash.
    k512 = tmp_path / "k512.pem"
    assert (
        run("gost", "genkey", "--algorithm", "gost2012_512", "--paramset", "B", "--out", str(k512))
        == 0
    )
    p512 = tmp_path / "p512.pem"
    openssl("pkey", "-engine", "gost", "-in", str(k512), "-pubout", "-out", str(p512))
    s512 = tmp_path / "s512"
    assert (
        run(
            "gost",
            "sign",
            "--key",
            str(k512),
            "--data",
            str(data),
            "--out",
            str(s512),
            "--hash",
            "streebog512",
        )
        == 0
    )
    out = openssl(
        "dgst",
        "-engine",
        "gost",
        "-md_gost12_512",
        "-verify",
        str(p512),
        "-signature",
        str(s512),
        str(data),
    )
    assert b"Verified OK" in out
