"""X.509 certificates with GOST keys: parsing, signature checks, chain validation, a builder.

asn1crypto's ``x509.Certificate`` raises on GOST SubjectPublicKeyInfo OIDs, so the outer
structures are re-declared here with the key info kept as raw DER (parsed by
``verifier.crypto.keys``) while Name, Validity and Extensions reuse asn1crypto's types.

Certificate signatures: signatureValue holds the same s||r bytes as ``openssl dgst -sign``;
signature algorithms 1.2.643.2.2.3 (34.11-94 + 34.10-2001), 1.2.643.7.1.1.3.2 / .3.3
(Streebog-256/512 + 34.10-2012).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from asn1crypto import core
from asn1crypto import x509 as ax509
from cachetools import LRUCache

from . import hashes
from .asn1 import ASN1_ERRORS, AlgorithmIdentifier
from .errors import CertificateError, ChainError, CryptoError, UnsupportedAlgorithmError
from .keys import Algorithm, PrivateKey, PublicKey, load_public_key, pem_blocks
from .signatures import sign, verify

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "Certificate",
    "build_certificate",
    "load_certificate",
    "load_certificates",
    "validate_chain",
]

# signatureAlgorithm OID -> (hash name, key algorithms allowed to sign with it)
SIGNATURE_ALGORITHMS: Final[dict[str, tuple[str, frozenset[Algorithm]]]] = {
    "1.2.643.2.2.3": (hashes.GOST94, frozenset({Algorithm.GOST2001, Algorithm.GOST2012_256})),
    "1.2.643.7.1.1.3.2": (hashes.STREEBOG256, frozenset({Algorithm.GOST2012_256})),
    "1.2.643.7.1.1.3.3": (hashes.STREEBOG512, frozenset({Algorithm.GOST2012_512})),
}
# Extensions the chain check reads (the only ones parsed) and the other ones it accepts as
# critical because they only describe the key or point somewhere and restrict nothing it relies
# on. Constraints it does not enforce (name/policy constraints, policy mappings, inhibitAnyPolicy)
# are refused when critical, like any other unknown critical extension (RFC 5280 §4.2).
_BASIC_CONSTRAINTS: Final = "2.5.29.19"
_KEY_USAGE: Final = "2.5.29.15"
_ACCEPTED_CRITICAL: Final = frozenset(
    {
        _BASIC_CONSTRAINTS,
        _KEY_USAGE,
        "2.5.29.14",  # subjectKeyIdentifier
        "2.5.29.35",  # authorityKeyIdentifier
        "2.5.29.37",  # extendedKeyUsage
        "2.5.29.32",  # certificatePolicies
        "2.5.29.17",  # subjectAltName
        "2.5.29.18",  # issuerAltName
        "2.5.29.31",  # cRLDistributionPoints
        "1.3.6.1.5.5.7.1.1",  # authorityInfoAccess
    }
)
# A card or trust-list certificate is a few KiB; anything far larger is hostile.
MAX_CERTIFICATE_BYTES: Final = 64 * 1024

# Memo caches (issue 17.3: a card verdict re-reads the same insurer certificate and re-checks
# the same two certificate signatures on every card). Both hold only facts that depend on
# nothing but their key's exact bytes, so no trust, revocation or time decision is ever cached:
# - a parsed certificate, keyed by its exact DER (parsing is a pure function of the bytes);
# - "certificate C's signature verifies under key K", keyed by (C's DER, K) (pure math).
# Validity periods, CA flags, key usage, root membership and key state are re-checked on every
# call. Only certificates up to PARSE_CACHE_MAX_DER bytes are kept, so hostile input cannot
# fill memory: at most PARSE_CACHE_SIZE * (a few x 8 KiB) and SIGNED_BY_CACHE_SIZE entries.
PARSE_CACHE_SIZE: Final = 256
PARSE_CACHE_MAX_DER: Final = 8 * 1024
SIGNED_BY_CACHE_SIZE: Final = 1024
_cache_lock = threading.Lock()
_parsed: LRUCache[bytes, Certificate] = LRUCache(PARSE_CACHE_SIZE)
_signed_by: LRUCache[tuple[bytes, PublicKey], bool] = LRUCache(SIGNED_BY_CACHE_SIZE)


def clear_caches() -> None:
    """Forget memoised parses and signature checks (tests, benchmarks' first-use figures)."""
    with _cache_lock:
        _parsed.clear()
        _signed_by.clear()


class _Extension(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """An extension with its value kept as octets: only the ones we need get parsed.

    asn1crypto's own ``Extension`` parses every value by OID on ``.native`` and refuses real
    CryptoPro CA certificates (UTF8String where it expects a BMPString in 1.3.6.1.4.1.311.20.2).
    """

    _fields = [  # noqa: RUF012
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class _Extensions(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _Extension


class _RawAttribute(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("type", core.ObjectIdentifier),
        ("value", core.Any),
    ]


class _RawRdn(core.SetOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _RawAttribute


class _RawName(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _RawRdn


class _TBSCertificate(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("version", ax509.Version, {"explicit": 0, "default": "v1"}),
        ("serial_number", core.Integer),
        ("signature", AlgorithmIdentifier),
        ("issuer", ax509.Name),
        ("validity", ax509.Validity),
        ("subject", ax509.Name),
        ("subject_public_key_info", core.Any),
        ("issuer_unique_id", core.OctetBitString, {"implicit": 1, "optional": True}),
        ("subject_unique_id", core.OctetBitString, {"implicit": 2, "optional": True}),
        ("extensions", _Extensions, {"explicit": 3, "optional": True}),
    ]


class _Certificate(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("tbs_certificate", _TBSCertificate),
        ("signature_algorithm", AlgorithmIdentifier),
        ("signature_value", core.OctetBitString),
    ]


@dataclass(frozen=True, eq=False)
class Certificate:
    """A parsed GOST certificate; ``der`` is the exact input encoding."""

    der: bytes
    tbs_der: bytes
    serial_number: int
    subject: str
    issuer: str
    subject_der: bytes
    issuer_der: bytes
    not_before: datetime
    not_after: datetime
    public_key: PublicKey
    signature_algorithm_oid: str
    signature: bytes
    is_ca: bool
    path_length: int | None
    key_usage: frozenset[str] | None
    unknown_critical_extensions: tuple[str, ...]
    extension_oids: tuple[str, ...] = ()  # every extension present, dotted, in order

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)

    @property
    def is_self_issued(self) -> bool:
        return self.subject_der == self.issuer_der

    def fingerprint(self) -> str:
        """Hex Streebog-256 of the DER encoding."""
        return hashes.digest(hashes.STREEBOG256, self.der).hex()

    def is_signed_by(self, issuer_key: PublicKey) -> bool:
        """True iff ``issuer_key`` produced this certificate's signature (False on any mismatch)."""
        spec = SIGNATURE_ALGORITHMS.get(self.signature_algorithm_oid)
        if spec is None:
            raise UnsupportedAlgorithmError(
                f"unsupported certificate signature algorithm {self.signature_algorithm_oid}"
            )
        hash_name, algorithms = spec
        if issuer_key.algorithm not in algorithms:
            return False
        if len(self.signature) != 2 * issuer_key.curve.size:
            return False
        # self.der fixes tbs_der, the signature and its algorithm; the key is compared by value
        memo_key = (self.der, issuer_key)
        with _cache_lock:
            known = _signed_by.get(memo_key)
        if known is not None:
            return known
        ok = verify(issuer_key, self.tbs_der, self.signature, hash_name=hash_name)
        if len(self.der) <= PARSE_CACHE_MAX_DER:
            with _cache_lock:
                _signed_by[memo_key] = ok
        return ok

    def to_pem(self) -> bytes:
        from .keys import to_pem

        return to_pem("CERTIFICATE", self.der)


def _as_utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise CertificateError("certificate validity is not a time")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _name_text(name: Any) -> str:
    """A readable Name for messages; never fails on a well-formed Name.

    Names are compared as DER bytes, the text is only shown. asn1crypto refuses attributes whose
    string type differs from the one it expects, so fall back to ``OID=value`` from the raw DER.
    """
    raw = _RawName.load(name.dump(), strict=True)
    parts = []
    for rdn in raw:
        for attr in rdn:
            oid = attr["type"].dotted
            value = core.load(attr["value"].dump(), strict=True)
            parts.append((oid, int(value.tag), bytes(value.contents or b"")))
    try:
        return str(name.human_friendly)
    except ASN1_ERRORS:
        pass
    texts = []
    for oid, tag, contents in reversed(parts):
        if tag == 30:  # BMPString
            text = contents.decode("utf-16-be", "replace")
        elif tag in (12, 19, 22, 18, 20, 26, 28):  # UTF8/Printable/IA5/Numeric/Teletex/...
            text = contents.decode("utf-8", "replace")
        else:
            text = "#" + contents.hex()
        texts.append(f"{oid}={text}")
    return ", ".join(texts)


def _extensions(tbs: Any) -> tuple[bool, int | None, frozenset[str] | None, list[str], list[str]]:
    """(is_ca, pathLen, keyUsage, unknown critical OIDs, all OIDs); parses BC and KU only."""
    is_ca = False
    path_len: int | None = None
    key_usage: frozenset[str] | None = None
    unknown: list[str] = []
    seen: list[str] = []
    extensions = tbs["extensions"]
    if isinstance(extensions, core.Void):
        return is_ca, path_len, key_usage, unknown, seen
    for ext in extensions:
        oid = ext["extn_id"].dotted
        if oid in seen:
            raise CertificateError(f"extension {oid} appears twice")
        seen.append(oid)
        critical = ext["critical"].native
        if not isinstance(critical, bool):
            raise CertificateError(f"extension {oid}: bad critical flag")
        value = ext["extn_value"].native
        if not isinstance(value, bytes):
            raise CertificateError(f"extension {oid}: value is not an OCTET STRING")
        if oid == _BASIC_CONSTRAINTS:
            bc = ax509.BasicConstraints.load(value, strict=True)
            is_ca = bool(bc["ca"].native)
            raw_len = bc["path_len_constraint"].native
            if raw_len is not None and (not isinstance(raw_len, int) or raw_len < 0):
                raise CertificateError("negative pathLenConstraint")
            path_len = raw_len
        elif oid == _KEY_USAGE:
            usage = ax509.KeyUsage.load(value, strict=True).native
            if not isinstance(usage, set):
                raise CertificateError("keyUsage is not a BIT STRING")
            # bits past decipherOnly have no meaning (asn1crypto gives their index): ignored
            key_usage = frozenset(u for u in usage if isinstance(u, str))
        elif critical and oid not in _ACCEPTED_CRITICAL:
            unknown.append(oid)
        # Any other extension is not read at all: its content cannot break loading.
    return is_ca, path_len, key_usage, unknown, seen


def _parse(der: bytes) -> Certificate:
    """Parse everything later code uses, here, inside one try: the result holds plain values.

    asn1crypto parses lazily, on first access; so every part is touched now and any corruption
    becomes ``CertificateError`` (code ``bad_certificate``) at load time, never later.
    """
    if len(der) > MAX_CERTIFICATE_BYTES:
        raise CertificateError(f"certificate larger than {MAX_CERTIFICATE_BYTES} bytes")
    der = bytes(der)
    with _cache_lock:
        known = _parsed.get(der)
    if known is not None:
        return known
    result = _parse_uncached(der)
    if len(der) <= PARSE_CACHE_MAX_DER:
        with _cache_lock:
            _parsed[der] = result
    return result


def _parse_uncached(der: bytes) -> Certificate:
    """The real parse behind :func:`_parse`'s memo (errors are never memoised)."""
    try:
        cert = _Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        _ = tbs["version"].native
        spki_der = tbs["subject_public_key_info"].dump()
        validity = tbs["validity"]
        not_before = _as_utc(validity["not_before"].native)
        not_after = _as_utc(validity["not_after"].native)
        is_ca, path_len, key_usage, unknown, seen = _extensions(tbs)
        inner_alg = tbs["signature"]["algorithm"].dotted
        outer_alg = cert["signature_algorithm"]["algorithm"].dotted
        # RFC 5280 §4.1.1.2: the same identifier, parameters included (the outer one is not
        # signed, so anything looser lets one certificate have several encodings)
        same_alg = tbs["signature"].dump() == cert["signature_algorithm"].dump()
        serial = tbs["serial_number"].native
        signature = cert["signature_value"].native
        if not isinstance(serial, int) or not isinstance(signature, bytes):
            raise CertificateError("malformed serial number or signature value")
        result = Certificate(
            der=bytes(der),
            tbs_der=bytes(tbs.dump()),
            serial_number=serial,
            subject=_name_text(tbs["subject"]),
            issuer=_name_text(tbs["issuer"]),
            subject_der=bytes(tbs["subject"].dump()),
            issuer_der=bytes(tbs["issuer"].dump()),
            not_before=not_before,
            not_after=not_after,
            public_key=load_public_key(spki_der),
            signature_algorithm_oid=str(outer_alg),
            signature=signature,
            is_ca=is_ca,
            path_length=path_len,
            key_usage=key_usage,
            unknown_critical_extensions=tuple(unknown),
            extension_oids=tuple(seen),
        )
    except CryptoError as exc:
        if isinstance(exc, CertificateError):
            raise
        raise CertificateError(f"certificate public key: {exc.message}") from exc
    except ASN1_ERRORS as exc:
        raise CertificateError(f"malformed certificate: {_short(exc)}") from exc
    if inner_alg != result.signature_algorithm_oid or not same_alg:
        raise CertificateError("inner and outer signature algorithms differ")
    return result


def _short(exc: BaseException) -> str:
    """First line of an asn1crypto message (they run to several 'while parsing' lines)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def load_certificate(data: bytes | str) -> Certificate:
    """PEM ("CERTIFICATE") or DER -> Certificate; raises CertificateError."""
    certs = load_certificates(data)
    if len(certs) != 1:
        raise CertificateError(f"expected one certificate, found {len(certs)}")
    return certs[0]


def load_certificates(data: bytes | str) -> list[Certificate]:
    """Every certificate in a PEM bundle (or a single DER certificate)."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    if b"-----BEGIN" in raw:
        try:
            blocks = pem_blocks(raw)
        except CryptoError as exc:
            raise CertificateError(exc.message) from exc
        return [_parse(der) for label, der in blocks if label in ("CERTIFICATE",)]
    return [_parse(raw)]


# --- chain validation -----------------------------------------------------------------------


def _fail(code: str, message: str) -> ChainError:
    return ChainError(message, code=code)


def validate_chain(
    leaf: Certificate,
    intermediates: Iterable[Certificate],
    roots: Iterable[Certificate],
    at_time: datetime | None = None,
    *,
    require_key_usage: bool = False,
    max_depth: int = 8,
) -> list[Certificate]:
    """Validate ``leaf`` up to one of ``roots`` at ``at_time`` (default: now, UTC).

    Returns the path [leaf, ..., root].  Checks every certificate's validity period and
    signature, that issuers are CAs (basicConstraints cA) within their pathLenConstraint,
    that keyUsage (when present, or always with ``require_key_usage``) allows keyCertSign for
    CAs and digitalSignature for the leaf, and that no unknown extension is critical.  Raises
    ChainError with a stable code on the first failure.
    """
    when = at_time or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    trusted = list(roots)
    if not trusted:
        raise _fail("untrusted_root", "no trusted roots configured")
    pool = list(intermediates)
    path = [leaf]
    cur = leaf
    while True:
        if cur in trusted:
            break
        root = _find_issuer(cur, trusted)
        if root is not None:
            path.append(root)
            break
        nxt = _find_issuer(cur, [c for c in pool if c not in path])
        if nxt is None:
            if cur.is_self_issued and cur.is_signed_by(cur.public_key):
                raise _fail("untrusted_root", f"chain ends at untrusted root {cur.subject!r}")
            raise _fail("issuer_not_found", f"no issuer found for {cur.subject!r}")
        path.append(nxt)
        if len(path) > max_depth:
            raise _fail("path_length_exceeded", "certificate chain is too long")
        cur = nxt
    _check_path(path, when, require_key_usage)
    return path


def _find_issuer(cert: Certificate, candidates: Sequence[Certificate]) -> Certificate | None:
    by_name = [c for c in candidates if c.subject_der == cert.issuer_der]
    for cand in by_name:
        if cert.is_signed_by(cand.public_key):
            return cand
    if by_name:
        raise _fail("cert_signature_invalid", f"signature of {cert.subject!r} does not verify")
    return None


def _check_path(path: list[Certificate], when: datetime, require_key_usage: bool) -> None:
    for index, cert in enumerate(path):
        if when < cert.not_before:
            raise _fail(
                "cert_not_yet_valid", f"{cert.subject!r} not valid before {cert.not_before}"
            )
        if when > cert.not_after:
            raise _fail("cert_expired", f"{cert.subject!r} expired at {cert.not_after}")
        if cert.unknown_critical_extensions:
            raise _fail(
                "unhandled_critical_extension",
                f"{cert.subject!r} has critical extensions {cert.unknown_critical_extensions}",
            )
        is_issuer = index > 0
        if is_issuer:
            if not cert.is_ca:
                raise _fail("not_a_ca", f"{cert.subject!r} issues certificates but is not a CA")
            below = index - 1  # intermediate CAs between this one and the leaf
            if cert.path_length is not None and below > cert.path_length:
                raise _fail("path_length_exceeded", f"pathLenConstraint of {cert.subject!r}")
            needed = "key_cert_sign"
        else:
            needed = "digital_signature"
        if cert.key_usage is None:
            if require_key_usage:
                raise _fail("key_usage_missing", f"{cert.subject!r} has no keyUsage")
        elif needed not in cert.key_usage:
            raise _fail("key_usage_missing", f"{cert.subject!r} keyUsage lacks {needed}")
    root = path[-1]
    if root.is_self_issued and not root.is_signed_by(root.public_key):
        raise _fail("cert_signature_invalid", f"self-signature of root {root.subject!r} is bad")


# --- builder (test fixtures, demo issuer) ---------------------------------------------------


def build_certificate(
    *,
    subject: str | dict[str, str] | bytes,
    public_key: PublicKey,
    issuer_key: PrivateKey,
    issuer: Certificate | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 365,
    ca: bool = False,
    path_length: int | None = None,
    key_usage: Iterable[str] | None = None,
    serial_number: int | None = None,
    extra_extensions: Sequence[tuple[str, bool, bytes]] = (),
) -> Certificate:
    """Make a certificate signed by ``issuer_key`` (self-signed when ``issuer`` is None).

    ``subject`` is a common name, an asn1crypto name dict ({"common_name": ..., ...}) or the
    DER of a Name (taken as is, for tests of odd encodings).
    ``key_usage`` defaults to keyCertSign+cRLSign for CAs and digitalSignature otherwise.
    ``extra_extensions`` are appended as (dotted OID, critical, DER value) without checks.
    """
    if isinstance(subject, bytes):
        subject_name = ax509.Name.load(subject)
    else:
        name_dict = {"common_name": subject} if isinstance(subject, str) else dict(subject)
        subject_name = ax509.Name.build(name_dict)
    issuer_name = subject_name if issuer is None else ax509.Name.load(issuer.subject_der)
    start = not_before or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    end = not_after or start + timedelta(days=days)
    usage = (
        set(key_usage)
        if key_usage is not None
        else ({"key_cert_sign", "crl_sign"} if ca else {"digital_signature"})
    )
    extensions = [
        {
            "extn_id": "basic_constraints",
            "critical": True,
            "extn_value": {"ca": ca, "path_len_constraint": path_length if ca else None},
        },
        {"extn_id": "key_usage", "critical": True, "extn_value": usage},
        {
            "extn_id": "key_identifier",
            "critical": False,
            "extn_value": bytes.fromhex(public_key.key_id()),
        },
    ]
    authority_key = issuer.public_key if issuer is not None else public_key
    extensions.append(
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": bytes.fromhex(authority_key.key_id())},
        }
    )
    encoded = ax509.Extensions(extensions).dump(force=True)
    all_extensions = _Extensions.load(encoded)
    for oid, critical, value in extra_extensions:
        all_extensions.append({"extn_id": oid, "critical": critical, "extn_value": value})
    sig_oid = issuer_key.algorithm.signature_oid
    tbs = _TBSCertificate(
        {
            "version": "v3",
            "serial_number": serial_number or secrets.randbits(63) | 1,
            "signature": {"algorithm": sig_oid},
            "issuer": issuer_name,
            "validity": {
                "not_before": ax509.Time(name="utc_time", value=start)
                if start.year < 2050
                else ax509.Time(name="general_time", value=start),
                "not_after": ax509.Time(name="utc_time", value=end)
                if end.year < 2050
                else ax509.Time(name="general_time", value=end),
            },
            "subject": subject_name,
            "subject_public_key_info": core.Any.load(public_key.to_der()),
            "extensions": all_extensions,
        }
    )
    tbs_der = bytes(tbs.dump())  # no force: loaded names keep their exact bytes
    signature = sign(issuer_key, tbs_der, hash_name=issuer_key.algorithm.default_hash)
    cert = _Certificate(
        {
            "tbs_certificate": _TBSCertificate.load(tbs_der),
            "signature_algorithm": {"algorithm": sig_oid},
            "signature_value": signature,
        }
    )
    return _parse(bytes(cert.dump()))


# Shared with the CRL and CMS parsers (cms.py): extensions kept raw, and the readable name.
RawExtension = _Extension
RawExtensions = _Extensions
name_text = _name_text
