from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.crypto import (
    Algorithm,
    PrivateKey,
    PublicKey,
    SignatureEncodingError,
    generate_private_key,
    sign,
    sign_digest,
    verify,
    verify_digest,
)
from verifier.crypto.hazmat import ec
from verifier.crypto.hazmat.curves import ALL_CURVES, CURVES_BY_OID
from verifier.crypto.signatures import encode_signature
from verifier.errors import CryptoError


@pytest.mark.parametrize("curve", ALL_CURVES, ids=lambda c: c.name)
def test_curve_parameters_are_consistent(curve: Any) -> None:
    assert ec.is_on_curve(curve, curve.gx, curve.gy)
    assert ec.mul_public(curve, curve.q, curve.gx, curve.gy)[2] == 0
    assert curve.q.bit_length() <= curve.bits


def test_rfc_signature_examples(vectors: dict[str, Any]) -> None:
    for v in vectors["signatures"]:
        curve = CURVES_BY_OID[v["curve_oid"]]

        def h(key: str, v: dict[str, str] = v) -> int:
            return int(v[key], 16)

        assert ec.public_point(curve, h("d")) == (h("qx"), h("qy"))
        assert ec.sign_e(curve, h("d"), h("e"), k=h("k")) == (h("r"), h("s"))
        assert ec.verify_e(curve, h("qx"), h("qy"), h("e"), h("r"), h("s"))
        assert not ec.verify_e(curve, h("qx"), h("qy"), h("e") + 1, h("r"), h("s"))


def test_rfc_example_through_byte_api(vectors: dict[str, Any]) -> None:
    v = vectors["signatures"][0]
    # The byte API reads the digest little-endian, so feed e's little-endian bytes.
    key = PublicKey(Algorithm.GOST2001, v["curve_oid"], int(v["qx"], 16), int(v["qy"], 16))
    digest = int(v["e"], 16).to_bytes(32, "little")
    sig = encode_signature(int(v["r"], 16), int(v["s"], 16), 32)
    assert verify_digest(key, digest, sig)
    assert sig.hex() == v["s"] + v["r"]


def _keypair(alg: str, ps: str) -> tuple[PrivateKey, PublicKey]:
    priv = generate_private_key(alg, ps)
    return priv, priv.public_key()


@pytest.mark.parametrize(
    ("alg", "ps"),
    [("gost2001", "A"), ("gost2012_256", "TCA"), ("gost2012_256", "B"), ("gost2012_512", "C")],
)
def test_sign_verify_and_failures(alg: str, ps: str) -> None:
    priv, pub = _keypair(alg, ps)
    data = os.urandom(100)
    sig = sign(priv, data)
    assert len(sig) == 2 * pub.curve.size
    assert verify(pub, data, sig)
    assert not verify(pub, data + b"x", sig)
    tampered = bytearray(sig)
    tampered[5] ^= 1
    assert not verify(pub, data, bytes(tampered))
    _, other = _keypair(alg, ps)
    assert not verify(other, data, sig)
    size = pub.curve.size
    q = pub.curve.q
    r = int.from_bytes(sig[size:], "big")
    s = int.from_bytes(sig[:size], "big")
    for bad_r, bad_s in ((0, s), (r, 0), (q, s), (r, q), (r + q, s)):
        if bad_r < 256**size and bad_s < 256**size:
            assert not verify(pub, data, encode_signature(bad_r, bad_s, size))
    with pytest.raises(SignatureEncodingError) as exc:
        verify(pub, data, sig[:-1])
    assert exc.value.code == "bad_signature_encoding"
    with pytest.raises(SignatureEncodingError):
        verify(pub, data, b"")


def test_digest_api_and_hash_choice() -> None:
    priv, pub = _keypair("gost2012_256", "A")
    digest = os.urandom(32)
    assert verify_digest(pub, digest, sign_digest(priv, digest))
    assert verify(pub, digest, sign_digest(priv, digest), prehashed=True)
    sig = sign(priv, b"abc", hash_name="gost94")
    assert verify(pub, b"abc", sig, hash_name="gost94")
    assert not verify(pub, b"abc", sig)  # default hash is Streebog-256 for 2012 keys
    with pytest.raises(CryptoError) as exc:
        verify_digest(pub, b"short", sig)
    assert exc.value.code == "bad_digest"


def test_zero_digest_maps_to_e_equals_one() -> None:
    priv, pub = _keypair("gost2001", "A")
    q = pub.curve.q
    zero_mod_q = q.to_bytes(32, "little")
    sig = sign_digest(priv, zero_mod_q)
    assert verify_digest(pub, bytes(32), sig)  # e = 0 and e = q both become 1
    assert verify_digest(pub, (1).to_bytes(32, "little"), sig)


_FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(data=st.binary(max_size=200), ps=st.sampled_from(["A", "XB", "TCA"]))
def test_property_roundtrip_256(data: bytes, ps: str) -> None:
    priv, pub = _keypair("gost2012_256", ps)
    sig = sign(priv, data)
    assert verify(pub, data, sig)
    assert not verify(pub, data + b"\0", sig)


@_FAST
@given(data=st.binary(max_size=200), flip=st.integers(min_value=0, max_value=1023))
def test_property_roundtrip_512_and_bitflip(data: bytes, flip: int) -> None:
    priv, pub = _keypair("gost2012_512", "A")
    sig = bytearray(sign(priv, data))
    assert verify(pub, data, bytes(sig))
    sig[flip // 8] ^= 1 << (flip % 8)
    assert not verify(pub, data, bytes(sig))
