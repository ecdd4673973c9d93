"""``register_status`` and ``revocation`` answered from the local snapshot store.

The store is reached through a small Protocol so the checks stay testable and the store can be
swapped (SQLite today). An expired snapshot never produces a passing status check: the verdict
then becomes ``unknown`` (``snapshot_expired``) unless the online registry answers.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Protocol

from cache.freshness import Freshness, FreshnessPolicy, PartFreshness, assess, from_the_future
from cache.register_model import (
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    RevocationReason,
)
from cache.snapshot_store import StoreInfo
from verifier.checks.context import CheckContext
from verifier.checks.ports import StatusResult
from verifier.credential import Credential, CredentialKind
from verifier.fastnew import maker
from verifier.verdict import (
    AnswerSource,
    CheckName,
    CheckResult,
    Reason,
    RegisterSummary,
    SnapshotInfo,
    failed,
    passed,
    skipped,
)

STATUS_REASON = {
    PolicyStatus.SUSPENDED: Reason.REGISTER_SUSPENDED,
    PolicyStatus.ANNULLED: Reason.REGISTER_ANNULLED,
    PolicyStatus.EXPIRED: Reason.REGISTER_EXPIRED,
    PolicyStatus.NEEDS_CLARIFICATION: Reason.REGISTER_NEEDS_CLARIFICATION,
}

# Russian wording for the clerk; the machine-readable codes stay in the check's ``reason``.
STATUS_RU = {
    PolicyStatus.ACTIVE: "полис действует",
    PolicyStatus.SUSPENDED: "действие полиса приостановлено",
    PolicyStatus.ANNULLED: "полис аннулирован",
    PolicyStatus.EXPIRED: "срок действия полиса истёк",
    PolicyStatus.NEEDS_CLARIFICATION: "данные требуют уточнения",
}
FRESH_RU = {  # of "копия реестра" (feminine)
    Freshness.FRESH: "актуальна",
    Freshness.STALE: "устарела, но используется",
    Freshness.EXPIRED: "просрочена",
    Freshness.ABSENT: "отсутствует",
}
LIST_FRESH_RU = {  # of "список" (masculine)
    Freshness.FRESH: "актуален",
    Freshness.STALE: "устарел, но используется",
    Freshness.EXPIRED: "просрочен",
    Freshness.ABSENT: "отсутствует",
}
CARRIER_RU = {Carrier.PAPER: "бумажный бланк полиса", Carrier.CARD: "карта полиса"}
REVOCATION_RU = {
    RevocationReason.LOST: "утеря",
    RevocationReason.ANNULLED: "аннулирование",
    RevocationReason.STOLEN: "хищение",
    RevocationReason.DAMAGED: "порча",
}


def snapshot_origin(sequence: int | None) -> str:
    """How a detail names the local copy it came from."""
    return f"копия реестра №{sequence}"


def revoked_detail(carrier: Carrier, reason: RevocationReason | None, since: date | None) -> str:
    """One wording for a revoked blank or card, whichever source reported it."""
    why = REVOCATION_RU[reason] if reason is not None else "причина не указана"
    when = f", с {since:%d.%m.%Y}" if since else ""
    return f"{CARRIER_RU[carrier]} в списке отозванных: {why}{when}"


class RegisterView(Protocol):
    def info(self) -> StoreInfo: ...
    def info_for(self, enp: str) -> StoreInfo: ...  # the part that holds this ENP's region
    def lookup_enp(self, enp: str) -> RegisterRecord | None: ...
    def lookup_alias(self, kind: AliasKind, number: str) -> RegisterRecord | None: ...
    def lookup_aliases(self, kind: AliasKind, number: str) -> list[RegisterRecord]: ...
    def document_revocation(self, enp: str, carrier: Carrier) -> DocumentRevocation | None: ...


def find_records(store: RegisterView, c: Credential) -> list[RegisterRecord]:
    """The record(s) the credential names: one for an ENP; an old number can name several."""
    if c.enp is not None:
        found = store.lookup_enp(c.enp)
        return [found] if found is not None else []
    if c.temp_cert_number is not None:
        return store.lookup_aliases(AliasKind.TEMP_CERT, c.temp_cert_number)
    if c.old_series is not None and c.old_number is not None:
        return store.lookup_aliases(AliasKind.OLD_NUMBER, f"{c.old_series}{c.old_number}")
    return []


def miss(c: Credential, origin: str) -> CheckResult:
    """Nothing found. Only the registry's own "not found" for an ENP means "not insured":
    a local copy can predate a new policy, and an old number may simply be mistyped."""
    if c.enp is None:
        return skipped(
            CheckName.REGISTER_STATUS, f"{origin}: номер не найден", Reason.NUMBER_NOT_FOUND
        )
    return skipped(CheckName.REGISTER_STATUS, f"{origin}: полис не найден", Reason.NOT_IN_SNAPSHOT)


def ambiguous(records: list[RegisterRecord], origin: str) -> CheckResult:
    return skipped(
        CheckName.REGISTER_STATUS,
        f"{origin}: этот номер у {len(records)} человек — выберите по ЕНП",
        Reason.AMBIGUOUS_NUMBER,
    )


def status_check(record: RegisterRecord, today: date, origin: str) -> CheckResult:
    """Turn a register record into the ``register_status`` check (shared by snapshot and online)."""
    insurer = f"СМО ОГРН {record.smo_ogrn}" if record.smo_ogrn else "СМО не указана"
    if record.status is PolicyStatus.ACTIVE:
        if record.end is not None and record.end < today:
            return failed(
                CheckName.REGISTER_STATUS,
                Reason.REGISTER_EXPIRED,
                f"{origin}: полис значится действующим, но срок истёк {record.end:%d.%m.%Y}",
            )
        if record.start is not None and record.start > today:
            return failed(
                CheckName.REGISTER_STATUS,
                Reason.REGISTER_NEEDS_CLARIFICATION,
                f"{origin}: полис начинает действовать {record.start:%d.%m.%Y}",
            )
        return passed(CheckName.REGISTER_STATUS, f"{origin}: полис действует; {insurer}")
    since = f" с {record.status_since:%d.%m.%Y}" if record.status_since else ""
    return failed(
        CheckName.REGISTER_STATUS,
        STATUS_REASON[record.status],
        f"{origin}: {STATUS_RU[record.status]}{since}",
    )


_TYPE_NAME = {t: t.name.lower() for t in PolicyType}
_STATUS_NAME = {s: s.name.lower() for s in PolicyStatus}


# RegisterSummary(...) without the generated __init__ (verifier/fastnew.py): every verdict
# with a record makes one, a batch a thousand.
_summary = maker(RegisterSummary, [f.name for f in dataclasses.fields(RegisterSummary) if f.init])


def register_summary(record: RegisterRecord) -> RegisterSummary:
    """What the clerk may see of the register's record: no names, no birth date."""
    return _summary(
        record.enp,
        _TYPE_NAME.get(record.policy_type) or record.policy_type.name.lower(),
        _STATUS_NAME.get(record.status) or record.status.name.lower(),
        record.status_since,
        record.smo_ogrn or None,
        record.okato or None,
        record.start,
        record.end,
        record.clinic,
    )


def _until(moment: datetime | None) -> str:
    return f" (действовала до {moment:%d.%m.%Y %H:%M} UTC)" if moment is not None else ""


_snapshot_info = maker(SnapshotInfo, ("state", "sequence", "age_s"))  # one per lookup


def snapshot_info(info: StoreInfo, fresh: PartFreshness) -> SnapshotInfo:
    made: SnapshotInfo = _snapshot_info(fresh.state, info.sequence, fresh.age_s)
    return made


class SnapshotStatusChecker:
    def __init__(self, store: RegisterView, policy: FreshnessPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or FreshnessPolicy()

    def freshness(self, ctx: CheckContext) -> tuple[StoreInfo, PartFreshness]:
        # Freshness of the part that answers: a national store judges each region's own part.
        enp = ctx.credential.enp
        info = self.store.info_for(enp) if enp else self.store.info()
        return info, assess(info.created_at, info.register_valid_until, ctx.now, self.policy)

    def check_status(self, ctx: CheckContext) -> StatusResult:
        info, fresh = self.freshness(ctx)
        snap = snapshot_info(info, fresh)
        if fresh.state is Freshness.ABSENT:
            return StatusResult(
                skipped(CheckName.REGISTER_STATUS, "локальной копии реестра нет"),
                AnswerSource.NONE,
                snap,
            )
        if from_the_future(info.created_at, ctx.now, self.policy):
            return StatusResult(
                skipped(
                    CheckName.REGISTER_STATUS,
                    f"{snapshot_origin(info.sequence)} датирована "
                    f"{info.created_at:%d.%m.%Y %H:%M} UTC — позже часов этого компьютера "
                    f"({ctx.now:%d.%m.%Y %H:%M} UTC)",
                    Reason.CLOCK_INCONSISTENT,
                ),
                AnswerSource.SNAPSHOT,
                snap,
            )
        if fresh.state is Freshness.EXPIRED:
            return StatusResult(
                skipped(
                    CheckName.REGISTER_STATUS,
                    snapshot_origin(info.sequence)
                    + " просрочена"
                    + _until(info.register_valid_until),
                    Reason.SNAPSHOT_EXPIRED,
                ),
                AnswerSource.SNAPSHOT,
                snap,
            )
        c = ctx.credential
        records = find_records(self.store, c)
        if len(records) > 1:
            return StatusResult(
                ambiguous(records, snapshot_origin(info.sequence)),
                AnswerSource.SNAPSHOT,
                snap,
                candidates=tuple(register_summary(r) for r in records),
            )
        record = records[0] if records else None
        if record is None:
            if c.enp is not None and info.region is not None and c.enp[:2] != info.region:
                return StatusResult(
                    skipped(
                        CheckName.REGISTER_STATUS,
                        f"полис региона {c.enp[:2]}, "
                        f"а локальная копия — реестр региона {info.region}",
                        Reason.OTHER_REGION,
                    ),
                    AnswerSource.SNAPSHOT,
                    snap,
                )
            return StatusResult(
                miss(c, snapshot_origin(info.sequence)), AnswerSource.SNAPSHOT, snap
            )
        origin = f"{snapshot_origin(info.sequence)} ({FRESH_RU[fresh.state]})"
        return StatusResult(
            status_check(record, ctx.today, origin),
            AnswerSource.SNAPSHOT,
            snap,
            answered_at=info.created_at,
            register=register_summary(record),
            record=record,
        )


_CARRIER = {CredentialKind.PAPER_POLICY: Carrier.PAPER, CredentialKind.CARD: Carrier.CARD}


class SnapshotRevocationChecker:
    def __init__(self, store: RegisterView, policy: FreshnessPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or FreshnessPolicy()

    def check_revocation(self, ctx: CheckContext) -> CheckResult:
        c = ctx.credential
        carrier = _CARRIER.get(c.kind)
        if carrier is None or c.enp is None:
            return skipped(
                CheckName.REVOCATION, "нет бланка или карты, которые могли бы быть отозваны"
            )
        info = self.store.info_for(c.enp)
        if from_the_future(info.created_at, ctx.now, self.policy):
            return skipped(
                CheckName.REVOCATION,
                "список отозванных бланков датирован позже часов этого компьютера",
                Reason.CLOCK_INCONSISTENT,
            )
        fresh = assess(info.created_at, info.revocations_valid_until, ctx.now, self.policy)
        if fresh.state in (Freshness.ABSENT, Freshness.EXPIRED):
            return skipped(
                CheckName.REVOCATION,
                f"список отозванных бланков {LIST_FRESH_RU[fresh.state]}",
                Reason.REVOCATION_UNKNOWN,
            )
        rev = self.store.document_revocation(c.enp, carrier)
        if rev is None:
            return passed(
                CheckName.REVOCATION,
                f"нет в списке отозванных бланков (список {LIST_FRESH_RU[fresh.state]})",
            )
        return failed(
            CheckName.REVOCATION,
            Reason.DOCUMENT_REVOKED,
            revoked_detail(carrier, rev.reason, rev.since),
        )
