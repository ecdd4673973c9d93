"""``signature`` and ``key_trusted`` checks against the trust store.

Two separate results on purpose (REFERENCE §7): "the signature is mathematically valid" and
"the key that made it is one we trust" fail for different reasons and mean different things to
the clerk. Without a configured key the checks say ``skip`` — never a claimed pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from verifier.checks.context import CheckContext
from verifier.checks.document_signature import DocumentSignatureChecker
from verifier.checks.ports import SignatureResult
from verifier.credential import SignaturePurpose, SignedPart
from verifier.crypto import hashes
from verifier.crypto.cms import Crl
from verifier.crypto.signatures import backend_for, verify_digest
from verifier.crypto.x509 import load_certificate, validate_chain
from verifier.errors import CryptoError
from verifier.trust import KeyState, Purpose, TrustedKey, TrustError, TrustStore
from verifier.verdict import CheckName, CheckResult, Reason, failed, passed, skipped

_CHAIN_REASON = {
    "cert_expired": Reason.KEY_NOT_VALID_AT_TIME,
    "cert_not_yet_valid": Reason.KEY_NOT_VALID_AT_TIME,
    "cert_signature_invalid": Reason.SIGNATURE_INVALID,
}

_KEY_STATE_RU = {
    KeyState.ACTIVE: "действует",
    KeyState.RETIRED: "выведен из работы, ранее подписанное действительно",
    KeyState.REVOKED: "отозван",
}


def _no_key(why: str) -> SignatureResult:
    return SignatureResult(
        skipped(
            CheckName.SIGNATURE, f"нет ключа для проверки: {why}", Reason.SIGNATURE_NOT_CHECKED
        ),
        skipped(CheckName.KEY_TRUSTED, f"нет ключа для проверки: {why}"),
    )


def _key_state(k: TrustedKey, when: datetime, label: str) -> CheckResult:
    if k.state is KeyState.REVOKED:
        return failed(CheckName.KEY_TRUSTED, Reason.KEY_REVOKED, f"{label} отозван")
    if not k.valid_at(when):
        return failed(
            CheckName.KEY_TRUSTED, Reason.KEY_NOT_VALID_AT_TIME, f"{label}: вне срока действия"
        )
    return passed(CheckName.KEY_TRUSTED, f"{label}: {_KEY_STATE_RU[k.state]}")


def _verify(signature_ok: bool, label: str) -> CheckResult:
    if signature_ok:
        return passed(CheckName.SIGNATURE, f"подпись ГОСТ верна ({label})")
    return failed(CheckName.SIGNATURE, Reason.SIGNATURE_INVALID, f"подпись ГОСТ неверна ({label})")


class TrustSignatureChecker:
    def __init__(self, trust: TrustStore, crls: list[Crl] | None = None) -> None:
        self.trust = trust
        self.documents = DocumentSignatureChecker(trust, crls)
        self._warm()

    def _warm(self) -> None:
        """At start, not at the first card: load the OpenSSL engine and run its known-answer
        tests for the card roots' parameter sets, and check each root's self-signature (the
        result is memoised by the certificate's exact bytes and the key, see x509.py). Nothing
        is decided here: every card still checks its chain, dates and the root's state."""
        for root in self.trust.roots(Purpose.CARD_INSURER_ROOT):
            cert = root.certificate
            if cert is None:
                continue
            try:
                backend_for(cert.public_key)
                if cert.is_self_issued:
                    cert.is_signed_by(cert.public_key)
            except CryptoError:
                continue  # the card check reports it, with its code

    def check_signature(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        if signed.purpose in (SignaturePurpose.DOCUMENT_PDF, SignaturePurpose.DOCUMENT_XML):
            return self.documents.check(signed, ctx.credential, ctx)
        if signed.purpose is SignaturePurpose.PAPER_BARCODE:
            return self._paper(signed, ctx)
        return self._card(signed, ctx)

    def _paper(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        if not self.trust.keys(Purpose.PAPER_BARCODE):
            return _no_key("не загружен ключ бумажных полисов")
        candidates = self.trust.paper_keys(signed.signature)
        if not candidates:
            number = self.trust.paper_key_number(signed.signature)
            return SignatureResult(
                skipped(CheckName.SIGNATURE, f"нет ключа №{number}", Reason.SIGNATURE_NOT_CHECKED),
                failed(
                    CheckName.KEY_TRUSTED,
                    Reason.KEY_NOT_FOUND,
                    f"ключа №{number} нет среди доверенных",
                ),
            )
        for key in candidates:  # one, unless several layouts read a number here
            label = f"ключ {key.key_id} (№{key.paper_key_number})"
            try:
                _, sig = key.paper_layout.split(signed.signature)
                digest = hashes.digest(key.paper_layout.hash_name, signed.data)
                ok = verify_digest(key.public_key, digest, sig)
            except (CryptoError, TrustError):
                ok = False
            if ok:
                return SignatureResult(_verify(True, label), _key_state(key, ctx.now, label))
        first = candidates[0]
        label = f"ключ {first.key_id} (№{first.paper_key_number})"
        return SignatureResult(_verify(False, label), _key_state(first, ctx.now, label))

    def _card(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        roots = self.trust.roots(Purpose.CARD_INSURER_ROOT)
        if not roots:
            return _no_key("не загружен корневой сертификат для карт")
        if signed.certificate is None:
            return SignatureResult(
                skipped(
                    CheckName.SIGNATURE,
                    "на карте нет сертификата СМО",
                    Reason.SIGNATURE_NOT_CHECKED,
                ),
                failed(
                    CheckName.KEY_TRUSTED,
                    Reason.KEY_NOT_FOUND,
                    "нет сертификата, по которому узнать подписавшего",
                ),
            )
        try:
            cert = load_certificate(signed.certificate)
        except CryptoError as exc:
            return SignatureResult(
                skipped(
                    CheckName.SIGNATURE,
                    f"сертификат СМО на карте не читается: {exc.code}",
                    Reason.SIGNATURE_NOT_CHECKED,
                ),
                failed(
                    CheckName.KEY_TRUSTED,
                    Reason.KEY_NOT_FOUND,
                    "сертификат СМО на карте не читается",
                ),
            )
        label = f"сертификат СМО {cert.subject!r}"
        try:
            ok = verify_digest(
                cert.public_key,
                hashes.digest(cert.public_key.default_hash, signed.data),
                signed.signature,
            )
        except CryptoError:
            ok = False
        # Cards are signed when the insurer record starts; judge the chain at that date, since
        # the Goznak root itself expired in 2026 while the cards it vouched for stay valid.
        when = ctx.now
        if signed.signed_at is not None:
            when = datetime.combine(signed.signed_at, time(12, 0), tzinfo=UTC)
        certs = {r.certificate: r for r in roots if r.certificate is not None}
        try:
            path = validate_chain(cert, [], list(certs), at_time=when)
        except CryptoError as exc:
            # "valid signature, unknown key" only when the signature did verify
            reason = _CHAIN_REASON.get(exc.code, Reason.KEY_UNKNOWN if ok else Reason.KEY_NOT_FOUND)
            return SignatureResult(
                _verify(ok, label),
                failed(
                    CheckName.KEY_TRUSTED,
                    reason,
                    f"цепочка сертификатов не подтверждена: {exc.code}",
                ),
            )
        root = certs[path[-1]]
        return SignatureResult(
            _verify(ok, label), _key_state(root, when, f"корневой ключ {root.key_id}")
        )
