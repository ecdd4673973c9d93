"""GOST cryptography for the OMS verifier: hashes, signatures, keys, certificates.

Public API (everything else lives in ``verifier.crypto.hazmat`` and is not for general use):

Hashes (``verifier.crypto.hashes``)
    ``new_hash(name, data=b"")`` -> hashlib-like object (update/digest/hexdigest/copy);
    ``hash_digest(name, data) -> bytes``; ``hash_backend(name) -> "openssl-gostprov" | "python"``.
    Names: ``streebog256``, ``streebog512``, ``gost94`` (CryptoPro params), ``gost94-test``.

Keys (``verifier.crypto.keys``)
    ``load_public_key(pem_or_der) -> PublicKey``; ``load_private_key(pem_or_der) -> PrivateKey``;
    ``generate_private_key(algorithm, paramset="A") -> PrivateKey``.
    ``PublicKey`` (frozen dataclass): ``algorithm`` (``Algorithm.GOST2001`` /
    ``GOST2012_256`` / ``GOST2012_512``), ``paramset_oid``, ``curve``, ``x``, ``y``,
    ``to_der()``/``to_pem()`` (OpenSSL-compatible SubjectPublicKeyInfo) and ``key_id()``:
    hex of the first 16 bytes of Streebog-256 over the DER SubjectPublicKeyInfo.

Signatures (``verifier.crypto.signatures``; wire format s||r big-endian, digest read as a
little-endian integer, exactly like ``openssl dgst -engine gost``)
    ``verify(public_key, data, signature, *, hash_name=None, prehashed=False) -> bool``:
    False for any invalid signature (incl. r or s out of range); raises
    ``SignatureEncodingError`` only for a signature length that cannot fit the key.
    ``verify_digest(public_key, digest, signature) -> bool``;
    ``sign(private_key, data, *, hash_name=None) -> bytes``; ``sign_digest(private_key, digest)``.
    The default hash follows the key: gost94 for 2001 keys, Streebog-256/512 for 2012 keys.

Certificates (``verifier.crypto.x509``)
    ``load_certificate(pem_or_der) -> Certificate``; ``load_certificates(pem_bundle)``;
    ``validate_chain(leaf, intermediates, roots, at_time=None) -> list[Certificate]`` (the path
    leaf..root, or ``ChainError`` whose ``code`` says why); ``build_certificate(...)``.
    Parses and certificate-signature checks are memoised by exact bytes (bounded);
    ``x509.clear_caches()`` empties them. Dates, CA flags and trust are checked every call.

Errors (all ``verifier.errors.CryptoError`` subclasses, stable ``code``):
    ``InvalidKeyError`` (bad_key), ``SignatureEncodingError`` (bad_signature_encoding),
    ``CertificateError`` (bad_certificate), ``ChainError`` (chain_invalid, cert_expired,
    cert_not_yet_valid, cert_signature_invalid, issuer_not_found, untrusted_root, not_a_ca,
    path_length_exceeded, key_usage_missing, unhandled_critical_extension),
    ``UnsupportedAlgorithmError`` (unsupported_algorithm).
"""

from __future__ import annotations

from .errors import (
    CertificateError,
    ChainError,
    InvalidKeyError,
    SignatureEncodingError,
    UnsupportedAlgorithmError,
)
from .hashes import HashObject, hash_backend
from .hashes import digest as hash_digest
from .hashes import new as new_hash
from .keys import (
    Algorithm,
    PrivateKey,
    PublicKey,
    generate_private_key,
    load_private_key,
    load_public_key,
)
from .signatures import sign, sign_digest, verify, verify_digest
from .x509 import (
    Certificate,
    build_certificate,
    load_certificate,
    load_certificates,
    validate_chain,
)

__all__ = [
    "Algorithm",
    "Certificate",
    "CertificateError",
    "ChainError",
    "HashObject",
    "InvalidKeyError",
    "PrivateKey",
    "PublicKey",
    "SignatureEncodingError",
    "UnsupportedAlgorithmError",
    "build_certificate",
    "generate_private_key",
    "hash_backend",
    "hash_digest",
    "load_certificate",
    "load_certificates",
    "load_private_key",
    "load_public_key",
    "new_hash",
    "sign",
    "sign_digest",
    "validate_chain",
    "verify",
    "verify_digest",
]
