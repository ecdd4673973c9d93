from __future__ import annotations

import pytest

from verifier.crypto import (
    Algorithm,
    InvalidKeyError,
    PublicKey,
    UnsupportedAlgorithmError,
    generate_private_key,
    load_private_key,
    load_public_key,
)
from verifier.crypto.hazmat.curves import TC26_256_A
from verifier.errors import CryptoError


@pytest.mark.parametrize(
    ("alg", "ps"), [("gost2001", "A"), ("gost2012_256", "TCA"), ("gost2012_512", "B")]
)
def test_roundtrip_pem_der(alg: str, ps: str) -> None:
    priv = generate_private_key(alg, ps)
    assert load_private_key(priv.to_pem()) == priv
    assert load_private_key(priv.to_der()) == priv
    pub = priv.public_key()
    assert load_public_key(pub.to_pem()) == pub
    assert load_public_key(pub.to_der().hex() and pub.to_der()) == pub
    assert len(pub.key_id()) == 32
    assert "d=" not in repr(priv)


def test_algorithm_metadata() -> None:
    pub = generate_private_key("gost2012_512", "C").public_key()
    assert pub.algorithm is Algorithm.GOST2012_512
    assert pub.paramset_oid == "1.2.643.7.1.2.1.2.3"
    assert pub.default_hash == "streebog512"
    assert Algorithm.from_name("gost2001").default_hash == "gost94"
    with pytest.raises(UnsupportedAlgorithmError):
        generate_private_key("gost2012_512", "TCA")
    with pytest.raises(UnsupportedAlgorithmError):
        Algorithm.from_name("rsa")


def test_point_validation() -> None:
    pub = generate_private_key("gost2012_256", "A").public_key()
    with pytest.raises(InvalidKeyError) as exc:
        PublicKey(pub.algorithm, pub.paramset_oid, pub.x, pub.y + 1)
    assert exc.value.code == "bad_key"
    with pytest.raises(InvalidKeyError):
        PublicKey(pub.algorithm, pub.paramset_oid, 0, 0)
    with pytest.raises(InvalidKeyError):
        PublicKey(pub.algorithm, pub.paramset_oid, pub.x, pub.y + pub.curve.p)
    with pytest.raises(InvalidKeyError):
        PublicKey.from_point_bytes(pub.algorithm, pub.paramset_oid, pub.point_bytes()[:-1])
    # A point of order 2 on the cofactor-4 tc26 256 A curve (y = 0) is on the curve but must
    # be rejected as not in the prime-order subgroup, if such a point exists.
    c = TC26_256_A
    for x in range(1, 2000):
        rhs = (x * x * x + c.a * x + c.b) % c.p
        if rhs == 0:
            with pytest.raises(InvalidKeyError):
                PublicKey(Algorithm.GOST2012_256, c.oid, x, 0)
            break


def test_wrong_curve_size_for_algorithm() -> None:
    pub = generate_private_key("gost2012_256", "A").public_key()
    with pytest.raises(InvalidKeyError):
        PublicKey(Algorithm.GOST2012_512, pub.paramset_oid, pub.x, pub.y)


def test_malformed_inputs_raise_typed_errors() -> None:
    priv = generate_private_key("gost2012_256", "A")
    der = priv.public_key().to_der()
    pder = priv.to_der()
    bad_inputs = [
        b"",
        b"\x30",
        der[:-1],
        der[:10],
        der + b"\x00",
        b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        bytes(range(256)),
    ]
    for blob in bad_inputs:
        with pytest.raises(CryptoError):
            load_public_key(blob)
    for blob in [b"", pder[:-3], pder + b"\x00", pder[:20], der]:
        with pytest.raises(CryptoError):
            load_private_key(blob)
    # Every truncation must fail cleanly, never with an untyped exception.
    for n in range(len(der)):
        with pytest.raises(CryptoError):
            load_public_key(der[:n])
    # Unknown parameter set OID.
    patched = der.replace(bytes.fromhex("2a850302022301"), bytes.fromhex("2a850302022309"))
    with pytest.raises(UnsupportedAlgorithmError):
        load_public_key(patched)


def test_private_key_out_of_range() -> None:
    priv = generate_private_key("gost2001", "A")
    with pytest.raises(InvalidKeyError):
        type(priv)(priv.algorithm, priv.paramset_oid, 0)
    with pytest.raises(InvalidKeyError):
        type(priv)(priv.algorithm, priv.paramset_oid, priv.curve.q)
