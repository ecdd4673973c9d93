"""``signature`` and ``key_trusted`` for documents: CMS in/beside a PDF, XMLDSig in an XML.

The roots are the trust store's ``document_signer`` certificates (the operator loads the
Federal Treasury's CA and others); CRLs are the operator's files in ``<trust dir>/crl``. A
signature that is present but does not verify is ``invalid``; one that verifies under no
trusted root is ``key_unknown``. A missing CRL is said in the detail, not held against the
document: the register, not the file, decides whether the policy is in force.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from verifier.checks.context import CheckContext
from verifier.checks.ports import SignatureResult
from verifier.credential import Credential, SignaturePurpose, SignedPart
from verifier.crypto import cms
from verifier.crypto.x509 import Certificate
from verifier.errors import CryptoError, InputError
from verifier.formats import pdf_extract, xml_policy
from verifier.trust import KeyState, Purpose, TrustStore
from verifier.verdict import CheckName, Reason, failed, passed, skipped

_CHAIN_REASON = {
    "cert_expired": Reason.KEY_NOT_VALID_AT_TIME,
    "cert_not_yet_valid": Reason.KEY_NOT_VALID_AT_TIME,
}


def load_crls(trust_dir: Path | None) -> list[cms.Crl]:
    """The operator's CRL files (``*.crl``, ``*.pem`` in ``<trust dir>/crl``)."""
    if trust_dir is None or not (trust_dir / "crl").is_dir():
        return []
    files = sorted(
        p for p in (trust_dir / "crl").iterdir() if p.suffix.lower() in (".crl", ".pem", ".der")
    )
    return cms.load_crl_files(files) if files else []


class DocumentSignatureChecker:
    def __init__(self, trust: TrustStore, crls: list[cms.Crl] | None = None) -> None:
        self.trust = trust
        self.crls = crls or []

    def _signer_trust(self, now: datetime) -> cms.SignerTrust | None:
        roots: list[Certificate] = [
            k.certificate
            for k in self.trust.roots(Purpose.DOCUMENT_SIGNER)
            if k.certificate is not None and k.state is not KeyState.REVOKED
        ]
        if not roots:
            return None
        return cms.SignerTrust(roots=roots, crls=self.crls, now=now)

    def check(self, signed: SignedPart, c: Credential, ctx: CheckContext) -> SignatureResult:
        trust = self._signer_trust(ctx.now)
        if trust is None:
            why = "не загружены корневые сертификаты подписи документов (document_signer)"
            return SignatureResult(
                skipped(
                    CheckName.SIGNATURE,
                    f"нет ключа для проверки: {why}",
                    Reason.SIGNATURE_NOT_CHECKED,
                ),
                skipped(CheckName.KEY_TRUSTED, f"нет ключа для проверки: {why}"),
            )
        if signed.purpose is SignaturePurpose.DOCUMENT_XML:
            return self._xml(signed, c, trust)
        return self._pdf(signed, trust)

    def _xml(self, signed: SignedPart, c: Credential, trust: cms.SignerTrust) -> SignatureResult:
        try:
            policy = xml_policy.read_signed_policy(signed.data, trust=trust)
        except (CryptoError, InputError) as exc:
            return _broken(f"подпись XML не проверяется: {exc.code}")
        verification = policy.signature
        assert verification is not None  # noqa: S101 - read_signed_policy returns the signature it checked
        # The credential was read before the signature was checked: it must be what the
        # signature covers, field for field (a wrapped or altered document fails here).
        same = (
            policy.enp == c.enp
            and policy.surname == c.surname
            and policy.given_name == c.given_name
            and policy.patronymic == c.patronymic
            and policy.birth_date == c.birth_date
        )
        if not same:
            return _broken("прочитанные поля не совпадают с подписанными")
        return _from_checks(verification.checks, verification.valid, "XMLDSig")

    def _pdf(self, signed: SignedPart, trust: cms.SignerTrust) -> SignatureResult:
        try:
            found = pdf_extract.analyze_pdf(
                signed.data,
                trust=trust,
                detached_signature=signed.signature or None,
                decode_barcodes=False,
            )
        except InputError as exc:
            return _broken(f"PDF не читается: {exc.code}")
        if not found.signatures:
            return _broken("подпись PDF не найдена при повторном чтении")
        for sig in found.signatures:
            if not sig.covers_whole_file:
                return _broken("подпись покрывает не весь файл (после подписи дописаны данные)")
            if sig.verification is None:
                return _broken(f"подпись PDF не читается: {sig.error_code}")
        first = found.signatures[0]
        assert first.verification is not None  # noqa: S101 - the loop above returned on any unread signature
        checks = tuple(c for s in first.verification.signers for c in s.checks)
        ok = all(s.valid for s in found.signatures)
        return _from_checks(checks, ok, "CMS")


def _broken(detail: str) -> SignatureResult:
    return SignatureResult(
        failed(CheckName.SIGNATURE, Reason.SIGNATURE_INVALID, detail),
        skipped(CheckName.KEY_TRUSTED, "подпись неверна"),
    )


def _from_checks(checks: tuple[cms.Check, ...], valid: bool, label: str) -> SignatureResult:
    by = {c.name: c for c in checks}
    digest, sig, chain = by.get("digest"), by.get("signature"), by.get("chain")
    crypto_ok = bool(digest and not digest.failed and sig and sig.passed)
    if not crypto_ok:
        what = sig or digest
        code = what.code if what else "missing"
        return _broken(f"{label}: подпись неверна ({code})")
    signature = passed(CheckName.SIGNATURE, f"{label}: подпись ГОСТ верна")
    revocation = by.get("revocation")
    crl = "" if revocation is None or revocation.passed else "; список отзыва (CRL) не загружен"
    if revocation is not None and revocation.failed:
        return SignatureResult(
            signature,
            failed(
                CheckName.KEY_TRUSTED,
                Reason.KEY_REVOKED,
                f"{label}: сертификат подписанта отозван (CRL)",
            ),
        )
    if chain is None or not chain.passed:
        code = chain.code if chain else "missing"
        reason = _CHAIN_REASON.get(code, Reason.KEY_UNKNOWN)
        return SignatureResult(
            signature,
            failed(CheckName.KEY_TRUSTED, reason, f"{label}: цепочка не подтверждена ({code})"),
        )
    if not valid:
        return SignatureResult(
            signature,
            failed(CheckName.KEY_TRUSTED, Reason.KEY_UNKNOWN, f"{label}: подписант не подтверждён"),
        )
    return SignatureResult(
        signature, passed(CheckName.KEY_TRUSTED, f"{label}: цепочка до доверенного корня{crl}")
    )
