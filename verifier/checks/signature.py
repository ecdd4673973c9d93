"""``signature`` and ``key_trusted`` checks against the trust store.

Two separate results on purpose (REFERENCE §7): "the signature is mathematically valid" and
"the key that made it is one we trust" fail for different reasons and mean different things to
the clerk. Without a configured key the checks say ``skip`` — never a claimed pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from verifier.checks.context import CheckContext
from verifier.checks.ports import SignatureResult
from verifier.credential import SignaturePurpose, SignedPart
from verifier.crypto import hashes
from verifier.crypto.signatures import verify_digest
from verifier.crypto.x509 import load_certificate, validate_chain
from verifier.errors import CryptoError
from verifier.trust import KeyState, Purpose, TrustedKey, TrustError, TrustStore
from verifier.verdict import CheckResult, Reason, failed, passed, skipped

_CHAIN_REASON = {
    "cert_expired": Reason.KEY_NOT_VALID_AT_TIME,
    "cert_not_yet_valid": Reason.KEY_NOT_VALID_AT_TIME,
    "cert_signature_invalid": Reason.SIGNATURE_INVALID,
}


def _no_key(why: str) -> SignatureResult:
    return SignatureResult(
        skipped("signature", f"no key: {why}", Reason.SIGNATURE_NOT_CHECKED),
        skipped("key_trusted", f"no key: {why}"),
    )


def _key_state(k: TrustedKey, when: datetime, label: str) -> CheckResult:
    if k.state is KeyState.REVOKED:
        return failed("key_trusted", Reason.KEY_REVOKED, f"{label} is revoked")
    if not k.valid_at(when):
        return failed(
            "key_trusted", Reason.KEY_NOT_VALID_AT_TIME, f"{label} is outside its validity"
        )
    return passed("key_trusted", f"{label}, {k.state.value}")


def _verify(signature_ok: bool, label: str) -> CheckResult:
    if signature_ok:
        return passed("signature", f"GOST signature valid ({label})")
    return failed(
        "signature", Reason.SIGNATURE_INVALID, f"GOST signature does not verify ({label})"
    )


class TrustSignatureChecker:
    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust

    def check_signature(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        if signed.purpose is SignaturePurpose.PAPER_BARCODE:
            return self._paper(signed, ctx)
        return self._card(signed, ctx)

    def _paper(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        if not self.trust.keys(Purpose.PAPER_BARCODE):
            return _no_key("no paper-policy key in the trust store")
        candidates = self.trust.paper_keys(signed.signature)
        if not candidates:
            number = self.trust.paper_key_number(signed.signature)
            return SignatureResult(
                skipped("signature", f"no key with number {number}", Reason.SIGNATURE_NOT_CHECKED),
                failed(
                    "key_trusted",
                    Reason.KEY_NOT_FOUND,
                    f"key number {number} is not in the trust store",
                ),
            )
        for key in candidates:  # one, unless several layouts read a number here
            label = f"key {key.key_id} (#{key.paper_key_number})"
            try:
                _, sig = key.paper_layout.split(signed.signature)
                digest = hashes.digest(key.paper_layout.hash_name, signed.data)
                ok = verify_digest(key.public_key, digest, sig)
            except (CryptoError, TrustError):
                ok = False
            if ok:
                return SignatureResult(_verify(True, label), _key_state(key, ctx.now, label))
        first = candidates[0]
        label = f"key {first.key_id} (#{first.paper_key_number})"
        return SignatureResult(_verify(False, label), _key_state(first, ctx.now, label))

    def _card(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        roots = self.trust.roots(Purpose.CARD_INSURER_ROOT)
        if not roots:
            return _no_key("no card insurer root in the trust store")
        if signed.certificate is None:
            return SignatureResult(
                skipped(
                    "signature",
                    "the card holds no insurer certificate",
                    Reason.SIGNATURE_NOT_CHECKED,
                ),
                failed("key_trusted", Reason.KEY_NOT_FOUND, "no certificate to trace the signer"),
            )
        try:
            cert = load_certificate(signed.certificate)
        except CryptoError as exc:
            return SignatureResult(
                skipped(
                    "signature",
                    f"insurer certificate unreadable: {exc.code}",
                    Reason.SIGNATURE_NOT_CHECKED,
                ),
                failed("key_trusted", Reason.KEY_NOT_FOUND, "insurer certificate unreadable"),
            )
        label = f"insurer certificate {cert.subject!r}"
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
                _verify(ok, label), failed("key_trusted", reason, f"{exc.code}: {exc.message}")
            )
        root = certs[path[-1]]
        return SignatureResult(_verify(ok, label), _key_state(root, when, f"root {root.key_id}"))
