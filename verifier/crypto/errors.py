"""Typed errors of the GOST layer; each has a stable ``code`` (see verifier.errors)."""

from __future__ import annotations

from verifier.errors import CryptoError

__all__ = [
    "CertificateError",
    "ChainError",
    "CryptoError",
    "InvalidKeyError",
    "SignatureEncodingError",
    "UnsupportedAlgorithmError",
]


class InvalidKeyError(CryptoError):
    """A key that cannot be parsed, is off the curve, out of range or of unknown parameters."""

    code = "bad_key"


class SignatureEncodingError(CryptoError):
    """Signature bytes of the wrong length for the key (not raised for a mere mismatch)."""

    code = "bad_signature_encoding"


class UnsupportedAlgorithmError(CryptoError):
    """An algorithm, hash or parameter-set OID this layer does not implement."""

    code = "unsupported_algorithm"


class CertificateError(CryptoError):
    """A certificate that does not parse as a GOST X.509 certificate."""

    code = "bad_certificate"


class ChainError(CryptoError):
    """Chain validation failed; ``code`` says why.

    Codes: ``chain_invalid`` (generic), ``cert_expired``, ``cert_not_yet_valid``,
    ``cert_signature_invalid``, ``issuer_not_found``, ``untrusted_root``, ``not_a_ca``,
    ``path_length_exceeded``, ``key_usage_missing``.
    """

    code = "chain_invalid"
