"""Interop with the real OpenSSL GOST engine, one key per algorithm/paramset OpenSSL offers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from verifier.crypto import generate_private_key, load_private_key, load_public_key, sign, verify

from .conftest import OPENSSL_KEYS

IDS = [f"{a}-{p}" for a, p, _ in OPENSSL_KEYS]


@pytest.mark.parametrize(("alg", "ps", "md"), OPENSSL_KEYS, ids=IDS)
def test_openssl_keys_and_signatures(
    openssl: Any, openssl_keys: dict[str, Path], tmp_path: Path, alg: str, ps: str, md: str
) -> None:
    key_path = openssl_keys[f"{alg}-{ps}"]
    pub_path = key_path.with_suffix(".pub.pem")
    priv = load_private_key(key_path.read_bytes())
    pub = load_public_key(pub_path.read_bytes())
    assert priv.public_key() == pub
    assert priv.algorithm.openssl_name == alg
    # Byte-exact re-encoding: what we write is what the engine writes.
    assert priv.to_pem() == key_path.read_bytes()
    assert pub.to_pem() == pub_path.read_bytes()

    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(3000))
    sig_path = tmp_path / "openssl.sig"
    openssl("dgst", "-engine", "gost", md, "-sign", str(key_path), "-out", str(sig_path), str(data))
    sig = sig_path.read_bytes()
    assert verify(pub, data.read_bytes(), sig)
    assert not verify(pub, data.read_bytes() + b"!", sig)

    ours = tmp_path / "ours.sig"
    ours.write_bytes(sign(priv, data.read_bytes()))
    out = openssl(
        "dgst", "-engine", "gost", md, "-verify", str(pub_path), "-signature", str(ours), str(data)
    )
    assert b"Verified OK" in out
    tampered = bytearray(ours.read_bytes())
    tampered[-1] ^= 0x40
    ours.write_bytes(bytes(tampered))
    out = openssl(
        "dgst",
        "-engine",
        "gost",
        md,
        "-verify",
        str(pub_path),
        "-signature",
        str(ours),
        str(data),
        check=False,
    )
    assert b"Verified OK" not in out


@pytest.mark.parametrize(("alg", "ps", "md"), OPENSSL_KEYS[::2], ids=IDS[::2])
def test_our_keys_load_in_openssl(openssl: Any, tmp_path: Path, alg: str, ps: str, md: str) -> None:
    priv = generate_private_key(alg, ps)
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(priv.to_pem())
    pub_pem = openssl("pkey", "-engine", "gost", "-in", str(key_path), "-pubout")
    assert load_public_key(pub_pem) == priv.public_key()
    assert pub_pem == priv.public_key().to_pem()
    text = openssl("pkey", "-engine", "gost", "-in", str(key_path), "-noout", "-text")
    assert b"Private key" in text or b"private key" in text.lower()
    # OpenSSL signs with our key and we verify.
    data = tmp_path / "d"
    data.write_bytes(b"payload")
    sig = tmp_path / "s"
    openssl("dgst", "-engine", "gost", md, "-sign", str(key_path), "-out", str(sig), str(data))
    assert verify(priv.public_key(), b"payload", sig.read_bytes())
