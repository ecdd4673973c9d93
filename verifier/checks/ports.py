"""The seams where later parts plug in: signature/trust, revocation, register status.

Each port has a "not configured" implementation that answers ``skip`` with the reason, so the
pipeline runs — and never claims a check it did not make — before those parts exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cache.register_model import RegisterRecord
from verifier.checks.context import CheckContext
from verifier.credential import Credential, SignedPart
from verifier.verdict import (
    AnswerSource,
    CheckName,
    CheckResult,
    Disagreement,
    Reason,
    RegisterSummary,
    SnapshotInfo,
    skipped,
)


@dataclass(frozen=True, slots=True)
class SignatureResult:
    signature: CheckResult
    key_trusted: CheckResult


@dataclass(frozen=True, slots=True)
class StatusResult:
    check: CheckResult
    source: AnswerSource
    snapshot: SnapshotInfo | None = None
    answered_at: datetime | None = None  # when the answering source stated it
    proof: bytes | None = None  # a signed online answer, verbatim, for the audit log
    register: RegisterSummary | None = None
    candidates: tuple[RegisterSummary, ...] = ()
    registry_error: str | None = None
    disagreement: Disagreement | None = None
    # The record that answered (for the holder match), and what the answering source said of the
    # physical document's revocation (None: it said nothing, e.g. an answer about a number).
    record: RegisterRecord | None = None
    revocation: CheckResult | None = None
    # Further results the verdict should show, e.g. the registry tried and failed ("registry").
    notes: tuple[CheckResult, ...] = ()


class SignatureChecker(Protocol):
    def check_signature(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult: ...


class RevocationChecker(Protocol):
    def check_revocation(self, ctx: CheckContext) -> CheckResult: ...


class StatusChecker(Protocol):
    def check_status(self, ctx: CheckContext) -> StatusResult: ...


class HolderChecker(Protocol):
    def check_holder(self, c: Credential, record: RegisterRecord | None) -> CheckResult: ...


class NameBook(Protocol):
    """Names for the codes a verdict carries (the ФОМС directories F002/F003)."""

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None: ...
    def clinic_name(self, code: str) -> str | None: ...


class NoNames:
    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        return None

    def clinic_name(self, code: str) -> str | None:
        return None


class NoSignatureChecker:
    def check_signature(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        why = "нет ключа для проверки: хранилище доверенных ключей не настроено"
        return SignatureResult(
            skipped(CheckName.SIGNATURE, why, Reason.SIGNATURE_NOT_CHECKED),
            skipped(CheckName.KEY_TRUSTED, why),
        )


class NoRevocationChecker:
    def check_revocation(self, ctx: CheckContext) -> CheckResult:
        return skipped(CheckName.REVOCATION, "список отозванных бланков не настроен")


class NoStatusChecker:
    def check_status(self, ctx: CheckContext) -> StatusResult:
        return StatusResult(
            skipped(CheckName.REGISTER_STATUS, "не настроены ни копия реестра, ни онлайн-реестр"),
            AnswerSource.NONE,
        )
