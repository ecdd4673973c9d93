"""The OpenSSL GOST engine signature backend gives exactly the pure-Python answers (issue 17.3).

The engine (Debian ``libengine-gost-openssl``) must be installed: a missing engine fails here.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.crypto import (
    Algorithm,
    PrivateKey,
    PublicKey,
    SignatureEncodingError,
    _gost_kat,
    _openssl_sig,
    generate_private_key,
    hashes,
    load_certificate,
    load_public_key,
)
from verifier.crypto.hazmat import ec
from verifier.crypto.hazmat.curves import CURVES_BY_OID
from verifier.crypto.keys import default_digest_param, paramset_oid_for
from verifier.crypto.signatures import (
    backend,
    backend_for,
    encode_signature,
    sign,
    sign_digest,
    verify,
    verify_digest,
)
from verifier.errors import CryptoError

from .conftest import DATA, OPENSSL_KEYS

ROOT = Path(__file__).resolve().parents[2]
PARAMS = [(alg, ps) for alg, ps, _ in OPENSSL_KEYS]
IDS = [f"{a}-{p}" for a, p in PARAMS]


def _engine() -> _openssl_sig.EngineBackend:
    eng, why = _openssl_sig._get()
    assert eng is not None, why.reason
    return eng


def test_engine_backend_is_active() -> None:
    assert backend() == _openssl_sig.Backend(
        "openssl-engine", "OpenSSL GOST engine passed the RFC 7091 known-answer test"
    )


@pytest.mark.parametrize(("alg", "ps"), PARAMS, ids=IDS)
def test_every_interop_paramset_runs_in_the_engine(alg: str, ps: str) -> None:
    algorithm = Algorithm.from_name(alg)
    got = _openssl_sig.backend_for(algorithm, paramset_oid_for(algorithm, ps))
    assert got.name == "openssl-engine", got.reason


def _kat_number(label: bytes, q: int) -> int:
    return int.from_bytes(hashes.digest("streebog512", label), "big") % (q - 1) + 1


@pytest.mark.parametrize(
    "vec", _gost_kat.PARAMSETS, ids=lambda v: f"{v.algorithm_oid}-{v.paramset_oid}"
)
def test_paramset_kat_vectors_are_what_python_computes(vec: _gost_kat.KatVector) -> None:
    """The stored answers are re-derived here, so a wrong vector cannot hide an engine fault."""
    alg = Algorithm(vec.algorithm_oid)
    curve = CURVES_BY_OID[vec.paramset_oid]
    tag = f"{vec.algorithm_oid} {vec.paramset_oid}".encode()
    d = _kat_number(b"oms-verifier KAT d " + tag, curve.q)
    k = _kat_number(b"oms-verifier KAT k " + tag, curve.q)
    digest = hashes.digest(
        "streebog256" if curve.size == 32 else "streebog512", b"oms-verifier KAT message " + tag
    )
    assert int(vec.d, 16) == d
    assert vec.digest == digest.hex()
    priv = PrivateKey(alg, vec.paramset_oid, d, default_digest_param(alg, vec.paramset_oid))
    assert priv.public_key().to_der().hex() == vec.spki
    r, s = ec.sign_e(curve, d, int.from_bytes(digest, "little"), k=k)
    assert encode_signature(r, s, curve.size).hex() == vec.signature


def test_rfc_kat_vectors_match_the_stored_rfc_examples(vectors: dict[str, Any]) -> None:
    assert len(_gost_kat.RFC) == len(vectors["signatures"]) == 2
    for vec, v in zip(_gost_kat.RFC, vectors["signatures"], strict=True):
        pub = load_public_key(bytes.fromhex(vec.spki))
        assert pub.paramset_oid == v["curve_oid"]
        assert (pub.x, pub.y) == (int(v["qx"], 16), int(v["qy"], 16))
        assert int(vec.d, 16) == int(v["d"], 16)
        size = pub.curve.size
        assert bytes.fromhex(vec.digest) == int(v["e"], 16).to_bytes(size, "little")
        assert vec.signature == v["s"] + v["r"]
        for pure in (False, True):
            assert verify_digest(
                pub, bytes.fromhex(vec.digest), bytes.fromhex(vec.signature), pure=pure
            )


def test_a_failing_kat_means_python_with_the_reason() -> None:
    good = _gost_kat.RFC[0]
    bad_sig = good._replace(signature=good.signature[:-2] + "00")
    eng, why = _openssl_sig._load((bad_sig,))
    assert eng is None
    assert why == _openssl_sig.Backend(
        "python", "RFC 7091 known-answer test failed: engine rejects the known signature"
    )
    # A key whose private scalar does not match: verification passes, own signing does not.
    wrong_d = good._replace(d=format(int(good.d, 16) + 1, "x"))
    eng, why = _openssl_sig._load((wrong_d,))
    assert eng is None and why.reason.endswith("engine's own signature does not verify")
    real = _engine()
    assert real.check_vector(good._replace(spki="3000"), sign=False) == (
        "engine does not load the public key"
    )
    assert real._check_paramset("1.2.643.2.2.19", "1.2.643.2.2.99") == _openssl_sig.Backend(
        "python", "no known-answer vector for this parameter set"
    )


def _run(code: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
    )
    return proc.stdout.strip()


_FALLBACK_PROBE = """
from verifier.crypto import generate_private_key
from verifier.crypto.signatures import backend, backend_for, sign, verify
k = generate_private_key("gost2012_256", "A")
s = sign(k, b"m")
p = k.public_key()
print(backend().name, "|", backend().reason, "|", backend_for(k).name, verify(p, b"m", s),
      verify(p, b"n", s))
"""


def test_fallback_when_disabled_or_engine_missing() -> None:
    assert _run(_FALLBACK_PROBE, OMS_GOST_BACKEND="python") == (
        "python | disabled by OMS_GOST_BACKEND=python | python True False"
    )
    assert _run(_FALLBACK_PROBE, OPENSSL_ENGINES="/nonexistent-engines") == (
        "python | OpenSSL GOST engine not found (Debian package libengine-gost-openssl)"
        " | python True False"
    )


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]


@pytest.mark.parametrize(("alg", "ps"), PARAMS, ids=IDS)
def test_both_backends_agree_on_random_keys(alg: str, ps: str) -> None:
    eng = _engine()
    for _ in range(3):
        priv = generate_private_key(alg, ps)
        pub = priv.public_key()
        size = pub.curve.size
        other = generate_private_key(alg, ps).public_key()
        for dlen in (size, 96 - size):  # the key's own digest size and the other one
            digest = os.urandom(dlen)
            by_engine = eng.sign(priv, digest)
            assert by_engine is not None and len(by_engine) == 2 * size
            by_python = sign_digest(priv, digest, pure=True)
            for sig in (by_engine, by_python, sign_digest(priv, digest)):
                assert eng.verify(pub, digest, sig) is True
                assert verify_digest(pub, digest, sig) is True
                assert verify_digest(pub, digest, sig, pure=True) is True
                bad = [
                    (pub, digest, _flip(sig, 3)),
                    (pub, digest, _flip(sig, 2 * size - 1)),
                    (pub, _flip(digest, 0), sig),
                    (other, digest, sig),
                ]
                for key, dg, sg in bad:
                    assert eng.verify(key, dg, sg) is False
                    assert verify_digest(key, dg, sg) is False
                    assert verify_digest(key, dg, sg, pure=True) is False
        message = os.urandom(200)
        for sig in (sign(priv, message), sign(priv, message, pure=True)):
            assert verify(pub, message, sig) and verify(pub, message, sig, pure=True)
            assert not verify(pub, message + b"!", sig)
            assert not verify(pub, message + b"!", sig, pure=True)


@pytest.mark.parametrize(
    ("alg", "ps"), [("gost2001", "A"), ("gost2012_256", "TCA"), ("gost2012_512", "C")]
)
def test_edge_signatures_and_errors_are_identical(alg: str, ps: str) -> None:
    priv = generate_private_key(alg, ps)
    pub = priv.public_key()
    size, q = pub.curve.size, pub.curve.q
    digest = os.urandom(size)
    sig = sign_digest(priv, digest)
    r = int.from_bytes(sig[size:], "big")
    s = int.from_bytes(sig[:size], "big")
    edge = [
        bytes(2 * size),
        b"\xff" * (2 * size),
        encode_signature(r, q, size),
        encode_signature(q, s, size),
        encode_signature(r, s + q, size) if s + q < 256**size else bytes(2 * size),
        encode_signature(r + q, s, size) if r + q < 256**size else bytes(2 * size),
        encode_signature(r, 0, size),
        encode_signature(0, s, size),
    ]
    for bad in edge:
        assert verify_digest(pub, digest, bad) is False
        assert verify_digest(pub, digest, bad, pure=True) is False
    # e = 0 and e = q both become 1, in both backends.
    zero = bytes(size)
    for signed in (
        sign_digest(priv, q.to_bytes(size, "little")),
        sign_digest(priv, zero, pure=True),
    ):
        for pure in (False, True):
            assert verify_digest(pub, zero, signed, pure=pure)
            assert verify_digest(pub, (1).to_bytes(size, "little"), signed, pure=pure)
    for pure in (False, True):
        for bad_len in (b"", sig[:-1], sig + b"\0", sig * 2):
            with pytest.raises(SignatureEncodingError) as exc:
                verify_digest(pub, digest, bad_len, pure=pure)
            assert exc.value.code == "bad_signature_encoding"
        for bad_digest in (b"", digest[:-1], digest * 3):
            with pytest.raises(CryptoError) as exc2:
                verify_digest(pub, bad_digest, sig, pure=pure)
            assert exc2.value.code == "bad_digest"
            with pytest.raises(CryptoError) as exc3:
                sign_digest(priv, bad_digest, pure=pure)
            assert exc3.value.code == "bad_digest"


_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_FUZZ_KEY = generate_private_key("gost2012_256", "B")


@_FUZZ
@given(sig=st.binary(min_size=0, max_size=70), digest=st.binary(min_size=30, max_size=66))
def test_garbage_signatures_same_answer_or_same_error(sig: bytes, digest: bytes) -> None:
    pub = _FUZZ_KEY.public_key()

    def outcome(pure: bool) -> object:
        try:
            return verify_digest(pub, digest, sig, pure=pure)
        except CryptoError as exc:
            return type(exc), exc.code

    assert outcome(False) == outcome(True)


def test_stored_certificates_verify_the_same_in_both_backends() -> None:
    certs = {
        name: load_certificate((DATA / "cryptopro" / name).read_bytes())
        for name in ("root-2012-256.pem", "sub-2012-512.pem", "leaf-2012-256.pem")
    }
    goznak = load_certificate(
        (ROOT.parent / "shared/testdata/trust/goznak-cvp-root.pem").read_bytes()
    )
    pairs = [
        (certs["root-2012-256.pem"], certs["root-2012-256.pem"], "streebog256"),
        (certs["sub-2012-512.pem"], certs["root-2012-256.pem"], "streebog256"),
        (certs["leaf-2012-256.pem"], certs["sub-2012-512.pem"], "streebog512"),
        (goznak, goznak, "gost94"),
    ]
    assert goznak.public_key.algorithm is Algorithm.GOST2001
    for cert, issuer, hash_name in pairs:
        key = issuer.public_key
        assert backend_for(key).name == "openssl-engine"
        for pure in (False, True):
            assert verify(key, cert.tbs_der, cert.signature, hash_name=hash_name, pure=pure)
            assert not verify(
                key, cert.tbs_der + b"\0", cert.signature, hash_name=hash_name, pure=pure
            )
        assert cert.is_signed_by(key)


def test_key_cache_is_bounded_thread_safe_and_frees_every_key() -> None:
    eng, why = _openssl_sig._load(public_cache=3, private_cache=2)
    assert eng is not None, why.reason
    loaded: list[int] = []
    freed: list[int] = []
    real_free = eng._api.pkey_free

    def counting_free(ptr: int) -> None:
        freed.append(ptr)
        real_free(ptr)

    eng._api.pkey_free = counting_free
    real_d2i_pub, real_d2i_priv = eng._api.d2i_pubkey, eng._api.d2i_private

    def counting(loader: Any) -> Any:
        def load(*args: Any) -> Any:
            ptr = loader(*args)
            loaded.append(ptr)
            return ptr

        return load

    eng._api.d2i_pubkey = counting(real_d2i_pub)
    eng._api.d2i_private = counting(real_d2i_priv)
    keys = [generate_private_key("gost2012_256", ps) for ps in ("A", "B", "C", "TCA", "XA", "TCD")]
    digest = os.urandom(32)
    sigs = [sign_digest(k, digest, pure=True) for k in keys]
    jobs = [(i, j) for i in range(len(keys)) for j in range(len(keys))] * 6

    def check(job: tuple[int, int]) -> bool:
        i, j = job
        got = eng.verify(keys[i].public_key(), digest, sigs[j])
        mine = eng.sign(keys[i], digest)
        assert mine is not None and eng.verify(keys[i].public_key(), digest, mine) is True
        return got is (i == j)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(check, jobs))
    assert len(eng._public) <= 3 and len(eng._private) <= 2
    assert len(loaded) > len(keys)  # evictions happened and keys were loaded again
    eng._public.clear()
    eng._private.clear()
    gc.collect()
    assert sorted(freed) == sorted(loaded)


def test_module_functions_under_a_thread_pool() -> None:
    keys = [generate_private_key("gost2012_512", "A"), generate_private_key("gost2001", "XB")]
    cases: list[tuple[PublicKey, bytes, bytes, bool]] = []
    for priv in keys:
        for n in range(6):
            msg = os.urandom(50)
            sig = sign(priv, msg)
            cases.append((priv.public_key(), msg, sig, True))
            cases.append((priv.public_key(), msg, _flip(sig, n), False))
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda c: verify(c[0], c[1], c[2]) is c[3], cases * 5))
    assert all(got)
