"""GOST R 34.10-2001/2012 signatures on bytes, in the OpenSSL/Linux wire format.

Conventions (checked against OpenSSL's GOST engine in tests/crypto):
  * the digest is read as a little-endian integer e, reduced mod q, and e = 1 if that is 0;
  * the signature is s||r, each big-endian and as long as the curve's coordinates
    (64 bytes for 256-bit keys, 128 for 512-bit keys).

Nonces are fresh random values from ``secrets`` for each signature (not RFC 6979): the
system CSPRNG is trusted anyway for key generation, and random nonces match what OpenSSL does.

Backends: when OpenSSL's GOST engine is present and passes its known-answer tests
(``_openssl_sig``), the curve arithmetic runs there in C (about 10x faster); otherwise, per
parameter set, in pure Python.  Every length/range check happens here first, so both backends
raise the same typed errors and give the same True/False; ``backend()`` says which one answers
and why.  ``pure=True`` forces the Python curve arithmetic (tests, benchmarks); hashing
keeps its own backend choice (``hashes``).
"""

from __future__ import annotations

from verifier.errors import CryptoError

from . import _openssl_sig, hashes
from ._openssl_sig import Backend
from .errors import SignatureEncodingError
from .hazmat import ec
from .keys import PrivateKey, PublicKey

__all__ = [
    "Backend",
    "backend",
    "backend_for",
    "decode_signature",
    "encode_signature",
    "sign",
    "sign_digest",
    "verify",
    "verify_digest",
]

_DIGEST_SIZES = (32, 64)


def encode_signature(r: int, s: int, size: int) -> bytes:
    """(r, s) -> s||r big-endian, ``size`` bytes each."""
    return s.to_bytes(size, "big") + r.to_bytes(size, "big")


def decode_signature(signature: bytes, size: int) -> tuple[int, int]:
    """s||r -> (r, s); raises SignatureEncodingError on a wrong length (range is not checked)."""
    if len(signature) != 2 * size:
        raise SignatureEncodingError(
            f"signature must be {2 * size} bytes for this key, got {len(signature)}"
        )
    return int.from_bytes(signature[size:], "big"), int.from_bytes(signature[:size], "big")


def _digest_int(digest: bytes) -> int:
    if len(digest) not in _DIGEST_SIZES:
        raise CryptoError(f"digest must be 32 or 64 bytes, got {len(digest)}", code="bad_digest")
    return int.from_bytes(digest, "little")


def backend() -> Backend:
    """``Backend("openssl-engine" | "python", reason)`` for the process (engine + RFC KAT)."""
    return _openssl_sig.backend()


def backend_for(public_key: PublicKey | PrivateKey) -> Backend:
    """Which backend answers for this key's algorithm and parameter set, and why."""
    return _openssl_sig.backend_for(public_key.algorithm, public_key.paramset_oid)


def verify_digest(
    public_key: PublicKey, digest: bytes, signature: bytes, *, pure: bool = False
) -> bool:
    """True iff ``signature`` is valid for ``digest``; False for any mismatch or r/s out of range.

    Raises SignatureEncodingError only when the signature length cannot belong to this key,
    CryptoError(bad_digest) for a digest that is not 32 or 64 bytes.
    """
    signature = bytes(signature)
    digest = bytes(digest)
    r, s = decode_signature(signature, public_key.curve.size)
    e = _digest_int(digest)
    q = public_key.curve.q
    if not (0 < r < q and 0 < s < q):
        return False
    if not pure:
        engine = _openssl_sig.engine_for(public_key.algorithm, public_key.paramset_oid)
        if engine is not None:
            answer = engine.verify(public_key, digest, signature)
            if answer is not None:
                return answer
    return ec.verify_e(public_key.curve, public_key.x, public_key.y, e, r, s)


def verify(
    public_key: PublicKey,
    data: bytes,
    signature: bytes,
    *,
    hash_name: str | None = None,
    prehashed: bool = False,
    pure: bool = False,
) -> bool:
    """Verify a signature over ``data`` (hashed with the key's default hash unless given).

    With ``prehashed=True`` ``data`` is the digest itself.
    """
    if prehashed:
        return verify_digest(public_key, data, signature, pure=pure)
    digest = hashes.digest(hash_name or public_key.default_hash, data)
    return verify_digest(public_key, digest, signature, pure=pure)


def sign_digest(private_key: PrivateKey, digest: bytes, *, pure: bool = False) -> bytes:
    """Signature s||r over an already computed digest."""
    digest = bytes(digest)
    e = _digest_int(digest)
    if not pure:
        engine = _openssl_sig.engine_for(private_key.algorithm, private_key.paramset_oid)
        if engine is not None:
            signature = engine.sign(private_key, digest)
            if signature is not None:
                return signature
    r, s = ec.sign_e(private_key.curve, private_key.d, e)
    return encode_signature(r, s, private_key.curve.size)


def sign(
    private_key: PrivateKey, data: bytes, *, hash_name: str | None = None, pure: bool = False
) -> bytes:
    """Hash ``data`` (key's default hash unless given) and sign; output OpenSSL verifies."""
    digest = hashes.digest(hash_name or private_key.algorithm.default_hash, data)
    return sign_digest(private_key, digest, pure=pure)
