"""CMS SignedData (RFC 5652) with GOST R 34.10-2001/2012: verify and sign, attached or detached.

Why here: the register extract (PDF) and other documents carry CMS signatures made by
CryptoPro/OpenSSL signers; the verifier must check them with its own GOST code and the
operator's trust roots of purpose ``document_signer``, without any network access.

Each signer gets a :class:`SignerVerification` with one :class:`Check` per question
(``digest``, ``signature``, ``chain``, ``signing_time``, ``revocation``); a signature is
``valid`` only when every one that can fail has passed. A malformed or hostile input raises
:class:`CmsError` (stable ``code``); an intact but wrong signature is a failed check, never an
exception.

Conventions (checked against OpenSSL's GOST engine and the TK26 samples in tests/documents):
  * with signed attributes the signature covers the DER ``SET OF`` of those attributes
    (the received bytes, with the [0] tag replaced by SET), without them the content itself;
  * the signature value is s||r as in certificates (``verifier.crypto.signatures``);
  * the signer's key algorithm fixes the hash: 34.10-2001 with 34.11-94 (CryptoPro),
    34.10-2012-256/512 with Streebog-256/512; another pairing is refused.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from asn1crypto import cms as acms
from asn1crypto import core
from asn1crypto import x509 as ax509

from . import hashes
from .asn1 import ASN1_ERRORS, AlgorithmIdentifier
from .errors import CertificateError, ChainError, CryptoError
from .keys import Algorithm, PrivateKey, pem_blocks, to_pem
from .signatures import sign, verify
from .x509 import (
    SIGNATURE_ALGORITHMS,
    Certificate,
    RawExtensions,
    load_certificate,
    name_text,
    validate_chain,
)

__all__ = [
    "DIGEST_OIDS",
    "MAX_CMS_BYTES",
    "MAX_CRL_BYTES",
    "SIGNATURE_OIDS",
    "Check",
    "CheckState",
    "CmsError",
    "CmsVerification",
    "Crl",
    "SignerTrust",
    "SignerVerification",
    "load_crl",
    "load_crl_files",
    "load_crls",
    "sign_cms",
    "verify_cms",
]

MAX_CMS_BYTES: Final = 32 * 1024 * 1024
"""Largest CMS blob accepted (an attached PDF extract is a few hundred KiB)."""
MAX_CONTENT_BYTES: Final = 64 * 1024 * 1024
"""Largest detached content hashed (the PDF layer caps files far below this)."""
MAX_CRL_BYTES: Final = 16 * 1024 * 1024
"""A Treasury CA CRL runs to a few MiB; far larger is hostile."""
MAX_SIGNERS: Final = 8
MAX_CERTIFICATES: Final = 32
CLOCK_SKEW: Final = timedelta(minutes=5)

_DATA_OID: Final = "1.2.840.113549.1.7.1"
_SIGNED_DATA_OID: Final = "1.2.840.113549.1.7.2"
_ATTR_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_TIME: Final = "1.2.840.113549.1.9.5"

DIGEST_OIDS: Final[dict[str, str]] = {
    "1.2.643.2.2.9": hashes.GOST94,
    "1.2.643.7.1.1.2.2": hashes.STREEBOG256,
    "1.2.643.7.1.1.2.3": hashes.STREEBOG512,
}
_DIGEST_OID_BY_HASH: Final = {v: k for k, v in DIGEST_OIDS.items()}
# signatureAlgorithm in a SignerInfo: signers write either the key OID (OpenSSL, TK26) or the
# combined signature OID; both name the key algorithm, the digestAlgorithm names the hash.
SIGNATURE_OIDS: Final[dict[str, Algorithm]] = {
    "1.2.643.2.2.19": Algorithm.GOST2001,
    "1.2.643.7.1.1.1.1": Algorithm.GOST2012_256,
    "1.2.643.7.1.1.1.2": Algorithm.GOST2012_512,
    "1.2.643.2.2.3": Algorithm.GOST2001,
    "1.2.643.7.1.1.3.2": Algorithm.GOST2012_256,
    "1.2.643.7.1.1.3.3": Algorithm.GOST2012_512,
}


class CmsError(CryptoError):
    """A CMS blob or CRL that cannot be used at all; ``code`` says why.

    Codes: ``bad_cms`` (malformed), ``cms_too_large``, ``cms_not_signed_data``,
    ``cms_no_signer``, ``cms_too_many_signers``, ``cms_content_missing``,
    ``cms_content_conflict``, ``unsupported_algorithm``, ``bad_crl``, ``crl_too_large``.
    """

    code = "bad_cms"


class CheckState(enum.StrEnum):
    """Same values as ``verifier.verdict.CheckStatus`` so the pipeline maps them one to one."""

    PASS = "pass"  # noqa: S105 - a check state, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    """One question about a signature; ``code`` is stable (``ok`` when passed)."""

    name: str  # digest | signature | chain | signing_time | revocation
    state: CheckState
    code: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.state is CheckState.PASS

    @property
    def failed(self) -> bool:
        return self.state is CheckState.FAIL


def _ok(name: str, detail: str = "") -> Check:
    return Check(name, CheckState.PASS, "ok", detail)


def _fail(name: str, code: str, detail: str) -> Check:
    return Check(name, CheckState.FAIL, code, detail)


def _skip(name: str, code: str, detail: str) -> Check:
    return Check(name, CheckState.SKIP, code, detail)


# --- CRLs -------------------------------------------------------------------------------------


class _RevokedCertificate(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("user_certificate", core.Integer),
        ("revocation_date", ax509.Time),
        ("crl_entry_extensions", RawExtensions, {"optional": True}),
    ]


class _RevokedCertificates(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _RevokedCertificate


class _TbsCertList(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("version", core.Integer, {"optional": True}),
        ("signature", AlgorithmIdentifier),
        ("issuer", ax509.Name),
        ("this_update", ax509.Time),
        ("next_update", ax509.Time, {"optional": True}),
        ("revoked_certificates", _RevokedCertificates, {"optional": True}),
        ("crl_extensions", RawExtensions, {"explicit": 0, "optional": True}),
    ]


class _CertificateList(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("tbs_cert_list", _TbsCertList),
        ("signature_algorithm", AlgorithmIdentifier),
        ("signature", core.OctetBitString),
    ]


# CRL extensions that do not narrow what the list covers: a CRL with any other critical
# extension (issuingDistributionPoint, deltaCRLIndicator, ...) is not used at all.
_CRL_EXT_OK: Final = frozenset({"2.5.29.20", "2.5.29.35", "2.5.29.18", "1.3.6.1.5.5.7.1.1"})


@dataclass(frozen=True, eq=False)
class Crl:
    """A parsed X.509 CRL; its signature is checked against the issuer when it is used."""

    der: bytes
    tbs_der: bytes
    issuer_der: bytes
    issuer: str
    this_update: datetime
    next_update: datetime | None
    revoked: dict[int, datetime] = field(repr=False)
    signature_algorithm_oid: str
    signature: bytes = field(repr=False)
    unsupported_critical: tuple[str, ...] = ()

    def is_signed_by(self, issuer: Certificate) -> bool:
        """True iff ``issuer`` (same name, a key allowed to sign CRLs) made this CRL."""
        if issuer.subject_der != self.issuer_der:
            return False
        if issuer.key_usage is not None and "crl_sign" not in issuer.key_usage:
            return False
        spec = SIGNATURE_ALGORITHMS.get(self.signature_algorithm_oid)
        if spec is None:
            return False
        hash_name, algorithms = spec
        key = issuer.public_key
        if key.algorithm not in algorithms or len(self.signature) != 2 * key.curve.size:
            return False
        return verify(key, self.tbs_der, self.signature, hash_name=hash_name)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise CmsError("CRL time is not a time", code="bad_crl")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _critical_unknown(exts: Any, accepted: frozenset[str]) -> list[str]:
    out: list[str] = []
    if isinstance(exts, core.Void):
        return out
    for ext in exts:
        if bool(ext["critical"].native) and ext["extn_id"].dotted not in accepted:
            out.append(str(ext["extn_id"].dotted))
    return out


def load_crl(der: bytes) -> Crl:
    """DER CertificateList -> :class:`Crl`; raises CmsError(code=bad_crl/crl_too_large)."""
    if len(der) > MAX_CRL_BYTES:
        raise CmsError(f"CRL larger than {MAX_CRL_BYTES} bytes", code="crl_too_large")
    try:
        crl = _CertificateList.load(bytes(der), strict=True)
        tbs = crl["tbs_cert_list"]
        revoked: dict[int, datetime] = {}
        entries = tbs["revoked_certificates"]
        unknown = _critical_unknown(tbs["crl_extensions"], _CRL_EXT_OK)
        if not isinstance(entries, core.Void):
            for entry in entries:
                serial = entry["user_certificate"].native
                if not isinstance(serial, int):
                    raise CmsError("CRL entry without a serial number", code="bad_crl")
                revoked[serial] = _utc(entry["revocation_date"].native)
                # an entry extension we do not understand (certificateIssuer: indirect CRL)
                # would change whose serial this is: the whole CRL is then not used
                unknown += _critical_unknown(
                    entry["crl_entry_extensions"], frozenset({"2.5.29.21", "2.5.29.24"})
                )
        next_update = tbs["next_update"]
        signature = crl["signature"].native
        if not isinstance(signature, bytes):
            raise CmsError("CRL signature is not a BIT STRING", code="bad_crl")
        inner = tbs["signature"].dump()
        if inner != crl["signature_algorithm"].dump():
            raise CmsError("CRL inner and outer signature algorithms differ", code="bad_crl")

        return Crl(
            der=bytes(der),
            tbs_der=bytes(tbs.dump()),
            issuer_der=bytes(tbs["issuer"].dump()),
            issuer=name_text(tbs["issuer"]),
            this_update=_utc(tbs["this_update"].native),
            next_update=None if isinstance(next_update, core.Void) else _utc(next_update.native),
            revoked=revoked,
            signature_algorithm_oid=str(crl["signature_algorithm"]["algorithm"].dotted),
            signature=signature,
            unsupported_critical=tuple(dict.fromkeys(unknown)),
        )
    except CmsError:
        raise
    except ASN1_ERRORS as exc:
        raise CmsError(f"malformed CRL: {_short(exc)}", code="bad_crl") from exc


def load_crls(data: bytes) -> list[Crl]:
    """Every CRL in a PEM file ("X509 CRL" blocks) or one DER CRL."""
    raw = bytes(data)
    if len(raw) > MAX_CRL_BYTES:
        raise CmsError(f"CRL file larger than {MAX_CRL_BYTES} bytes", code="crl_too_large")
    if b"-----BEGIN" in raw:
        try:
            blocks = pem_blocks(raw)
        except CryptoError as exc:
            raise CmsError(exc.message, code="bad_crl") from exc
        crls = [load_crl(der) for label, der in blocks if label == "X509 CRL"]
        if not crls:
            raise CmsError("no X509 CRL block in the file", code="bad_crl")
        return crls
    return [load_crl(raw)]


def load_crl_files(paths: Iterable[Path | str]) -> list[Crl]:
    """The operator's CRL files (DER or PEM); any unreadable file raises CmsError."""
    out: list[Crl] = []
    for path in paths:
        p = Path(path)
        try:
            size = p.stat().st_size
            if size > MAX_CRL_BYTES:
                raise CmsError(f"CRL file {p.name} is too large", code="crl_too_large")
            out.extend(load_crls(p.read_bytes()))
        except OSError as exc:
            raise CmsError(
                f"cannot read CRL file {p.name}: {exc.strerror}", code="bad_crl"
            ) from exc
    return out


# --- trust and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerTrust:
    """What a document signature is checked against (the ``document_signer`` trust purpose).

    ``roots``: trusted CA certificates (the lead's trust store hands these over);
    ``intermediates``: extra CA certificates the operator loaded (besides those in the CMS);
    ``crls``: the operator's CRL files, parsed; ``now``: the time of the check (tests).
    """

    roots: Sequence[Certificate] = ()
    intermediates: Sequence[Certificate] = ()
    crls: Sequence[Crl] = ()
    now: datetime | None = None

    def current_time(self) -> datetime:
        when = self.now or datetime.now(UTC)
        return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SignerVerification:
    """What was found about one SignerInfo."""

    signer: Certificate | None
    key_algorithm: Algorithm | None
    hash_name: str
    signing_time: datetime | None
    chain: tuple[Certificate, ...]
    checks: tuple[Check, ...]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def valid(self) -> bool:
        """Digest, signature and chain passed, and nothing else failed.

        A skipped revocation check (no CRL loaded) does not make it invalid: the caller says
        so separately (``Reason.REVOCATION_UNKNOWN``).
        """
        by = {c.name: c for c in self.checks}
        if any(c.failed for c in self.checks):
            return False
        return all(by[n].passed for n in ("signature", "chain")) and not by["digest"].failed


@dataclass(frozen=True)
class CmsVerification:
    """The verified SignedData: its content and one result per signer."""

    content: bytes = field(repr=False)
    content_type: str
    detached: bool
    signers: tuple[SignerVerification, ...]

    @property
    def valid(self) -> bool:
        return bool(self.signers) and all(s.valid for s in self.signers)

    @property
    def first(self) -> SignerVerification:
        return self.signers[0]


# --- verification -----------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _der_or_pem(data: bytes) -> bytes:
    raw = bytes(data)
    head = raw[:64].lstrip()
    if head.startswith(b"-----BEGIN"):
        try:
            blocks = pem_blocks(raw)
        except CryptoError as exc:
            raise CmsError(exc.message) from exc
        for label, der in blocks:
            if label in ("CMS", "PKCS7", "SIGNED DATA"):
                return der
        raise CmsError("no CMS/PKCS7 PEM block")
    return raw


@dataclass
class _Parsed:
    content: bytes | None
    content_type: str
    certificates: list[Certificate]
    signer_infos: list[Any]


def _parse(blob: bytes) -> _Parsed:  # noqa: C901 - touches every field verification reads, so corruption fails here, in one place
    try:
        info = acms.ContentInfo.load(blob, strict=True)
        if info["content_type"].dotted != _SIGNED_DATA_OID:
            raise CmsError("not a CMS SignedData", code="cms_not_signed_data")
        sd = info["content"]
        encap = sd["encap_content_info"]
        content_type = str(encap["content_type"].dotted)
        econtent = encap["content"]
        content: bytes | None = None
        if not isinstance(econtent, core.Void):
            raw = econtent.native
            if not isinstance(raw, bytes):
                raise CmsError("eContent is not an OCTET STRING")
            content = raw
        certs: list[Certificate] = []
        cert_set = sd["certificates"]
        if not isinstance(cert_set, core.Void):
            if len(cert_set) > MAX_CERTIFICATES:
                raise CmsError("too many certificates in the SignedData")
            for choice in cert_set:
                if choice.name != "certificate":
                    continue  # attribute certificates etc. say nothing about the signer
                try:
                    certs.append(load_certificate(choice.chosen.dump()))
                except CertificateError:
                    continue  # a foreign (e.g. RSA) certificate cannot be the GOST signer
        infos = list(sd["signer_infos"])
        if not infos:
            raise CmsError("SignedData has no signer", code="cms_no_signer")
        if len(infos) > MAX_SIGNERS:
            raise CmsError("too many signers", code="cms_too_many_signers")
        for si in infos:  # touch what verification reads, so corruption fails here
            _ = si["sid"].chosen.native
            _ = si["digest_algorithm"]["algorithm"].dotted
            _ = si["signature_algorithm"]["algorithm"].dotted
            _ = si["signature"].native
            attrs = si["signed_attrs"]
            if not isinstance(attrs, core.Void):
                for attr in attrs:
                    _ = attr["type"].dotted
                    _ = [v.dump() for v in attr["values"]]
        return _Parsed(content, content_type, certs, infos)
    except CmsError:
        raise
    except ASN1_ERRORS as exc:
        raise CmsError(f"malformed CMS: {_short(exc)}") from exc


def _subject_key_id(cert: Certificate) -> bytes | None:
    """The subjectKeyIdentifier extension value (read only when a SignerInfo names one)."""
    if "2.5.29.14" not in cert.extension_oids:
        return None
    try:
        tbs = ax509.Certificate.load(cert.der)["tbs_certificate"]
        for ext in tbs["extensions"]:
            if ext["extn_id"].dotted == "2.5.29.14":
                value = core.OctetString.load(ext["extn_value"].contents).native
                return value if isinstance(value, bytes) else None
    except ASN1_ERRORS:
        return None
    return None


def _find_signer(si: Any, pool: Sequence[Certificate]) -> Certificate | None:
    sid = si["sid"]
    if sid.name == "issuer_and_serial_number":
        issuer = bytes(sid.chosen["issuer"].dump())
        serial = sid.chosen["serial_number"].native
        for cert in pool:
            if cert.issuer_der == issuer and cert.serial_number == serial:
                return cert
        return None
    ski = sid.chosen.native
    for cert in pool:
        if ski and _subject_key_id(cert) == ski:
            return cert
    return None


def _attr_values(attrs: Any, oid: str) -> list[Any] | None:
    found = [a for a in attrs if a["type"].dotted == oid]
    if not found:
        return None
    if len(found) > 1 or len(found[0]["values"]) != 1:
        raise CmsError(f"signed attribute {oid} must appear once with one value")
    return list(found[0]["values"])


def _signing_time(attrs: Any) -> datetime | None:
    values = _attr_values(attrs, _ATTR_SIGNING_TIME)
    if values is None:
        return None
    try:
        when = ax509.Time.load(values[0].dump(), strict=True).native
    except ASN1_ERRORS as exc:
        raise CmsError(f"malformed signingTime: {_short(exc)}") from exc
    if not isinstance(when, datetime):
        raise CmsError("signingTime is not a time")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _revocation(path: Sequence[Certificate], trust: SignerTrust, now: datetime) -> Check:
    """Leaf (and intermediates) against CRLs of their issuers whose signature verifies."""
    if len(path) < 2:
        return _skip("revocation", "revocation_unknown", "signer trusted directly, no issuer CRL")
    leaf_checked = False
    stale = False
    for index in range(len(path) - 1):
        cert, issuer = path[index], path[index + 1]
        usable = [
            crl
            for crl in trust.crls
            if crl.issuer_der == cert.issuer_der
            and not crl.unsupported_critical
            and crl.is_signed_by(issuer)
        ]
        for crl in usable:
            if cert.serial_number in crl.revoked:
                when = crl.revoked[cert.serial_number]
                return _fail(
                    "revocation",
                    "cert_revoked",
                    f"certificate {cert.serial_number:x} of {cert.subject!r} revoked at "
                    f"{when.isoformat()} (CRL of {crl.issuer!r})",
                )
        fresh = [c for c in usable if c.next_update is None or c.next_update + CLOCK_SKEW >= now]
        if index == 0:
            leaf_checked = bool(fresh)
            stale = bool(usable) and not fresh
    if leaf_checked:
        return _ok("revocation", "signer certificate not on its issuer's CRL")
    if stale:
        return _skip("revocation", "crl_stale", "the issuer's CRL is past its nextUpdate")
    return _skip("revocation", "revocation_unknown", "no CRL of the signer's issuer is loaded")


def _verify_signer(  # noqa: C901 - the signer's checks in the order RFC 5652 gives them; each check is a few lines
    si: Any,
    content: bytes,
    content_type: str,
    pool: Sequence[Certificate],
    trust: SignerTrust,
) -> SignerVerification:
    digest_oid = str(si["digest_algorithm"]["algorithm"].dotted)
    sig_oid = str(si["signature_algorithm"]["algorithm"].dotted)
    hash_name = DIGEST_OIDS.get(digest_oid)
    sig_alg = SIGNATURE_OIDS.get(sig_oid)
    if hash_name is None:
        raise CmsError(f"unsupported digest algorithm {digest_oid}", code="unsupported_algorithm")
    if sig_alg is None:
        raise CmsError(f"unsupported signature algorithm {sig_oid}", code="unsupported_algorithm")
    if sig_alg.default_hash != hash_name:
        raise CmsError(
            f"digest {digest_oid} does not belong with {sig_alg.name}", code="unsupported_algorithm"
        )
    attrs = si["signed_attrs"]
    has_attrs = not isinstance(attrs, core.Void)
    signing_time = _signing_time(attrs) if has_attrs else None
    signer = _find_signer(si, pool)
    now = trust.current_time()
    checks: list[Check] = []

    # digest: messageDigest and contentType attributes against the content
    content_digest = hashes.digest(hash_name, content)
    if has_attrs:
        md_values = _attr_values(attrs, _ATTR_MESSAGE_DIGEST)
        ct_values = _attr_values(attrs, _ATTR_CONTENT_TYPE)
        if md_values is None or ct_values is None:
            raise CmsError("signed attributes lack messageDigest or contentType")
        try:
            md = core.OctetString.load(md_values[0].dump(), strict=True).native
            ct = core.ObjectIdentifier.load(ct_values[0].dump(), strict=True).dotted
        except ASN1_ERRORS as exc:
            raise CmsError(f"malformed signed attribute: {_short(exc)}") from exc
        if ct != content_type:
            checks.append(_fail("digest", "content_type_mismatch", "contentType attribute differs"))
        elif not isinstance(md, bytes) or not hmac.compare_digest(md, content_digest):
            checks.append(
                _fail("digest", "digest_mismatch", "the content does not match messageDigest")
            )
        else:
            checks.append(_ok("digest", f"{hash_name} of the content matches messageDigest"))
        signed_bytes = b"\x31" + bytes(attrs.dump())[1:]  # [0] IMPLICIT -> SET OF
    else:
        checks.append(
            _skip("digest", "no_signed_attributes", "the signature covers the content directly")
        )
        signed_bytes = content

    # signature
    sig_value = si["signature"].native
    if signer is None:
        checks.append(
            _fail(
                "signature",
                "signer_certificate_missing",
                "the signer's certificate is neither in the CMS nor loaded",
            )
        )
    elif signer.public_key.algorithm is not sig_alg:
        checks.append(
            _fail(
                "signature",
                "algorithm_mismatch",
                f"signer key is {signer.public_key.algorithm.name}, SignerInfo says {sig_alg.name}",
            )
        )
    elif not isinstance(sig_value, bytes) or len(sig_value) != 2 * signer.public_key.curve.size:
        checks.append(_fail("signature", "signature_invalid", "signature has the wrong length"))
    elif verify(signer.public_key, signed_bytes, sig_value, hash_name=hash_name):
        checks.append(_ok("signature", f"{sig_alg.name} signature verifies"))
    else:
        checks.append(_fail("signature", "signature_invalid", "signature does not verify"))

    # signing time: a claim of the signer, so it may only narrow what is accepted
    if signing_time is None:
        checks.append(_skip("signing_time", "no_signing_time", "no signingTime attribute"))
    elif signing_time > now + CLOCK_SKEW:
        checks.append(
            _fail("signing_time", "signing_time_in_future", "signingTime is later than now")
        )
    else:
        checks.append(_ok("signing_time", signing_time.isoformat()))

    # chain at the signing time (or now), to a document_signer root
    path: list[Certificate] = []
    if signer is None:
        checks.append(_skip("chain", "signer_certificate_missing", "no signer certificate"))
    else:
        at = signing_time if signing_time is not None and signing_time <= now + CLOCK_SKEW else now
        others = [c for c in pool if c != signer]
        path = chain_and_revocation(signer, others, trust, at, now, checks, require_key_usage=False)
    if signer is None:
        checks.append(_skip("revocation", "revocation_unknown", "no validated chain"))
    return SignerVerification(
        signer=signer,
        key_algorithm=sig_alg,
        hash_name=hash_name,
        signing_time=signing_time,
        chain=tuple(path),
        checks=tuple(checks),
    )


def chain_and_revocation(
    signer: Certificate,
    pool: Sequence[Certificate],
    trust: SignerTrust,
    at: datetime,
    now: datetime,
    checks: list[Check],
    *,
    require_key_usage: bool = True,
) -> list[Certificate]:
    """The ``chain`` and ``revocation`` checks of a signer (CMS and XMLDSig alike), appended
    to ``checks``; returns the validated path (empty when the chain fails)."""
    path: list[Certificate] = []
    try:
        path = validate_chain(signer, pool, trust.roots, at, require_key_usage=require_key_usage)
    except ChainError as exc:
        checks.append(_fail("chain", exc.code, exc.message))
    else:
        checks.append(_ok("chain", f"chain of {len(path)} to {path[-1].subject!r}"))
    if path:
        checks.append(_revocation(path, trust, now))
    else:
        checks.append(_skip("revocation", "revocation_unknown", "no validated chain"))
    return path


def verify_cms(
    cms: bytes,
    *,
    content: bytes | None = None,
    trust: SignerTrust,
    max_bytes: int = MAX_CMS_BYTES,
) -> CmsVerification:
    """Verify a CMS SignedData (DER, BER or PEM); ``content`` for a detached signature.

    Raises :class:`CmsError` for input that is not a usable SignedData; returns per-signer
    checks otherwise (a bad signature is a failed check, not an exception).
    """
    if len(cms) > max_bytes:
        raise CmsError(f"CMS larger than {max_bytes} bytes", code="cms_too_large")
    if content is not None and len(content) > MAX_CONTENT_BYTES:
        raise CmsError("signed content is too large", code="cms_too_large")
    parsed = _parse(_der_or_pem(cms))
    if parsed.content is None and content is None:
        raise CmsError("detached signature given without its content", code="cms_content_missing")
    if parsed.content is not None and content is not None and parsed.content != bytes(content):
        raise CmsError("attached content differs from the given file", code="cms_content_conflict")
    data = parsed.content if parsed.content is not None else bytes(content or b"")
    pool = [*parsed.certificates, *(c for c in trust.intermediates if c not in parsed.certificates)]
    signers = tuple(
        _verify_signer(si, data, parsed.content_type, pool, trust) for si in parsed.signer_infos
    )
    return CmsVerification(
        content=data,
        content_type=parsed.content_type,
        detached=parsed.content is None,
        signers=signers,
    )


# --- signing (tests, demo) --------------------------------------------------------------------


def sign_cms(
    content: bytes,
    private_key: PrivateKey,
    certificate: Certificate,
    *,
    detached: bool = False,
    signing_time: datetime | None = None,
    extra_certificates: Sequence[Certificate] = (),
    signed_attributes: bool = True,
    pem: bool = False,
) -> bytes:
    """A CMS SignedData over ``content`` that ``openssl cms -verify -engine gost`` accepts.

    The hash follows the key (gost94 / Streebog-256 / Streebog-512); the SignerInfo names the
    key algorithm OID as its signatureAlgorithm, as OpenSSL and the TK26 samples do.
    """
    if private_key.public_key() != certificate.public_key:
        raise CryptoError("private key does not match the certificate", code="bad_key")
    algorithm = private_key.algorithm
    hash_name = algorithm.default_hash
    digest_oid = _DIGEST_OID_BY_HASH[hash_name]
    digest_alg = acms.DigestAlgorithm({"algorithm": digest_oid})
    signed_attrs: Any = None
    if signed_attributes:
        when = (signing_time or datetime.now(UTC)).replace(microsecond=0)
        time_value = (
            acms.Time(name="utc_time", value=when)
            if 1950 <= when.year < 2050
            else acms.Time(name="general_time", value=when)
        )
        attrs = [
            acms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            acms.CMSAttribute({"type": "signing_time", "values": [time_value]}),
            acms.CMSAttribute(
                {"type": "message_digest", "values": [hashes.digest(hash_name, content)]}
            ),
        ]
        # DER SET OF: elements sorted by their encodings (X.690 11.6)
        attrs.sort(key=lambda a: bytes(a.dump()))
        signed_attrs = acms.CMSAttributes(attrs)
        to_sign = b"\x31" + bytes(signed_attrs.dump(force=True))[1:]
        signed_attrs = acms.CMSAttributes.load(bytes(signed_attrs.dump()))
    else:
        to_sign = bytes(content)
    signature = sign(private_key, to_sign, hash_name=hash_name)
    issuer = ax509.Name.load(certificate.issuer_der)
    signer_info: dict[str, Any] = {
        "version": "v1",
        "sid": acms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": issuer, "serial_number": certificate.serial_number},
        ),
        "digest_algorithm": digest_alg,
        "signature_algorithm": acms.SignedDigestAlgorithm({"algorithm": algorithm.value}),
        "signature": signature,
    }
    if signed_attrs is not None:
        signer_info["signed_attrs"] = signed_attrs
    certs = [certificate, *(c for c in extra_certificates if c != certificate)]
    encap: dict[str, Any] = {"content_type": "data"}
    if not detached:
        encap["content"] = bytes(content)
    sd = acms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [digest_alg],
            "encap_content_info": encap,
            "certificates": [
                acms.CertificateChoices(name="certificate", value=ax509.Certificate.load(c.der))
                for c in certs
            ],
            "signer_infos": [acms.SignerInfo(signer_info)],
        }
    )
    der = bytes(acms.ContentInfo({"content_type": "signed_data", "content": sd}).dump())
    return to_pem("CMS", der) if pem else der
