"""decode → verify as a chain of small checks, each returning a typed result.

Order: decode, format, enp_checksum, enp_facet, expiry, signature, key_trusted, revocation,
register_status. Once a credential is proven invalid the remaining checks are skipped rather
than run (no registry traffic for forgeries), and the verdict says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from verifier.checks import basic
from verifier.checks.context import CheckContext
from verifier.checks.ports import (
    NoRevocationChecker,
    NoSignatureChecker,
    NoStatusChecker,
    RevocationChecker,
    SignatureChecker,
    StatusChecker,
)
from verifier.credential import Credential, CredentialInput, CredentialKind
from verifier.errors import InputError, RecognitionError
from verifier.recognize import recognize
from verifier.verdict import (
    CheckResult,
    CheckStatus,
    Outcome,
    Reason,
    SnapshotInfo,
    Verdict,
    decide,
    failed,
    message_ru,
    passed,
    skipped,
)

_HARD_FAIL = Outcome.INVALID
_LOCAL_CHECKS: tuple[Callable[[CheckContext], CheckResult], ...] = (
    basic.check_format,
    basic.check_enp_checksum,
    basic.check_enp_facet,
    basic.check_expiry,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Pipeline:
    signature: SignatureChecker = field(default_factory=NoSignatureChecker)
    revocation: RevocationChecker = field(default_factory=NoRevocationChecker)
    status: StatusChecker = field(default_factory=NoStatusChecker)
    clock: Callable[[], datetime] = _utcnow

    def verify(self, item: CredentialInput) -> Verdict:
        """Verdict for one read; :class:`RecognitionError` for input that is no credential."""
        try:
            credential = recognize(item)
        except RecognitionError:
            raise
        except InputError as exc:  # claims a known format but is broken inside
            return self._undecodable(item, exc)
        return self.verify_credential(credential, input_source=item.source)

    def verify_credential(
        self, credential: Credential, *, input_source: str = "unknown"
    ) -> Verdict:
        ctx = CheckContext(credential=credential, now=self.clock())
        checks: list[CheckResult] = [passed("decode", credential.kind.value)]
        for check in _LOCAL_CHECKS:
            checks.append(check(ctx))
        if credential.signed is not None:
            sig = self.signature.check_signature(credential.signed, ctx)
            checks += [sig.signature, sig.key_trusted]
        else:
            why = "the credential carries no signature"
            checks += [skipped("signature", why), skipped("key_trusted", why)]
        source, snapshot = "none", None
        if _proven_invalid(checks):
            why = "credential already invalid"
            checks += [skipped("revocation", why), skipped("register_status", why)]
        else:
            checks.append(self.revocation.check_revocation(ctx))
            status = self.status.check_status(ctx)
            checks.append(status.check)
            source, snapshot = status.source, status.snapshot
        return self._verdict(ctx.now, credential, tuple(checks), source, input_source, snapshot)

    def _undecodable(self, item: CredentialInput, exc: InputError) -> Verdict:
        checks = (failed("decode", Reason.UNDECODABLE, f"{exc.code}: {exc.message}"),)
        return self._verdict(self.clock(), None, checks, "none", item.source, None)

    @staticmethod
    def _verdict(
        now: datetime,
        credential: Credential | None,
        checks: tuple[CheckResult, ...],
        source: str,
        input_source: str,
        snapshot: SnapshotInfo | None,
    ) -> Verdict:
        outcome, reasons = decide(checks)
        if credential is not None and credential.kind is CredentialKind.CARD:
            reasons = (*reasons, Reason.HOLDER_DATA_UNVERIFIED)
        return Verdict(
            outcome=outcome,
            reasons=reasons,
            message=message_ru(outcome, reasons),
            credential=credential,
            checks=checks,
            source=source,
            checked_at=now,
            input_source=input_source,
            snapshot=snapshot,
        )


def _proven_invalid(checks: list[CheckResult]) -> bool:
    outcome, _ = decide(tuple(c for c in checks if c.status is CheckStatus.FAIL))
    return outcome is _HARD_FAIL
