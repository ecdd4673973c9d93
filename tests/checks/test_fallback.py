"""The per-request fallback policy, with port implementations that answer fixed results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from verifier.checks.context import CheckContext, LookupMode
from verifier.checks.online import FallbackStatusChecker
from verifier.checks.ports import StatusResult
from verifier.credential import Credential, CredentialKind
from verifier.devkit.demo import demo_person_enp
from verifier.verdict import CheckResult, Reason, SnapshotInfo, failed, passed, skipped

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SNAP = SnapshotInfo("fresh", 7, 60.0)


@dataclass
class Fixed:
    result: StatusResult
    calls: list[LookupMode] = field(default_factory=list)

    def check_status(self, ctx: CheckContext) -> StatusResult:
        self.calls.append(ctx.mode)
        return self.result


def ctx(mode: LookupMode, fresh: bool = False) -> CheckContext:
    c = Credential(kind=CredentialKind.MANUAL, enp=demo_person_enp())
    return CheckContext(c, NOW, mode=mode, fresh=fresh)


def snap(check: CheckResult) -> Fixed:
    return Fixed(StatusResult(check, "snapshot", SNAP))


def online(check: CheckResult) -> Fixed:
    return Fixed(StatusResult(check, "registry", answered_at=NOW, proof=b"{}"))


ACTIVE = passed("register_status", "active")
SUSPENDED = failed("register_status", Reason.REGISTER_SUSPENDED)
# A snapshot miss is no answer of the register's (a new policy may postdate the copy).
NOT_FOUND = skipped("register_status", "snapshot 3: not found", Reason.NOT_IN_SNAPSHOT)
EXPIRED_SNAP = skipped("register_status", "expired", Reason.SNAPSHOT_EXPIRED)
DOWN = skipped("register_status", "registry: timeout", Reason.REGISTRY_UNAVAILABLE)


def test_offline_never_asks_the_registry() -> None:
    s, o = snap(ACTIVE), online(SUSPENDED)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.OFFLINE))
    assert r.source == "snapshot" and o.calls == []


def test_online_never_reads_the_snapshot() -> None:
    s, o = snap(ACTIVE), online(SUSPENDED)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.ONLINE))
    assert r.source == "registry" and r.check.reason is Reason.REGISTER_SUSPENDED and s.calls == []


def test_online_without_a_registry_is_unavailable_not_silently_offline() -> None:
    r = FallbackStatusChecker(snap(ACTIVE), None).check_status(ctx(LookupMode.ONLINE))
    assert r.check.reason is Reason.REGISTRY_UNAVAILABLE


def test_auto_uses_the_snapshot_when_it_answers() -> None:
    s, o = snap(SUSPENDED), online(ACTIVE)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.AUTO))
    assert r.check.reason is Reason.REGISTER_SUSPENDED and o.calls == []


@pytest.mark.parametrize("local", [EXPIRED_SNAP, NOT_FOUND, skipped("register_status", "absent")])
def test_auto_asks_the_registry_when_the_snapshot_cannot_answer(local: CheckResult) -> None:
    s, o = snap(local), online(ACTIVE)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.AUTO))
    assert r.source == "registry" and r.check == ACTIVE
    assert r.proof == b"{}" and r.answered_at == NOW
    assert r.snapshot == SNAP  # the verdict still says how fresh the local copy is


def test_auto_keeps_the_snapshot_answer_when_the_registry_is_down() -> None:
    s, o = snap(NOT_FOUND), online(DOWN)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.AUTO))
    assert r.source == "snapshot" and r.check == NOT_FOUND
    assert r.registry_error is not None and "timeout" in r.registry_error
    # the verdict says the registry was tried, and why it could not answer
    assert [(n.name, n.reason) for n in r.notes] == [("registry", Reason.REGISTRY_UNAVAILABLE)]


def test_fresh_asks_the_registry_first_and_reports_a_disagreement() -> None:
    s, o = snap(ACTIVE), online(SUSPENDED)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.AUTO, fresh=True))
    assert r.source == "registry" and r.check.reason is Reason.REGISTER_SUSPENDED
    assert r.disagreement is not None
    assert r.disagreement.to_dict() == {
        "snapshot": "active",
        "registry": "register_suspended",
        "winner": "registry",
    }


def test_fresh_with_the_registry_down_falls_back_to_the_snapshot() -> None:
    s, o = snap(ACTIVE), online(DOWN)
    r = FallbackStatusChecker(s, o).check_status(ctx(LookupMode.AUTO, fresh=True))
    assert r.source == "snapshot" and r.check == ACTIVE and r.registry_error is not None
