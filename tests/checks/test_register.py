"""``register_status`` and ``revocation`` answered from a real snapshot store, at chosen moments.

The store holds the generator's register (full snapshot + three deltas, real GOST signatures);
``persons.csv`` says what each answer must be. The clock is the CheckContext's ``now`` (and the
Pipeline's injected clock): fresh, stale, expired and absent are all reached without waiting.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from cache.freshness import FreshnessPolicy
from cache.register_model import PolicyStatus
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import (
    CREATED,
    VALID_HOURS,
    Register,
    generate_register,
    import_all,
)
from verifier.checks.context import CheckContext
from verifier.checks.register import (
    STATUS_REASON,
    SnapshotRevocationChecker,
    SnapshotStatusChecker,
)
from verifier.credential import Credential, CredentialInput, CredentialKind
from verifier.devkit.persons import PersonRow
from verifier.formats import paper_barcode
from verifier.identifiers import Sex, make_enp, parse_old_policy
from verifier.pipeline import Pipeline
from verifier.verdict import CheckStatus, Outcome, Reason

VALID_UNTIL = CREATED + timedelta(hours=VALID_HOURS)
FRESH = CREATED + timedelta(hours=1)
STALE = VALID_UNTIL + timedelta(hours=1)
EXPIRED = VALID_UNTIL + timedelta(hours=24, seconds=1)  # one second past the default grace
LAST_SEQUENCE = 4


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Register:
    return generate_register(tmp_path_factory.mktemp("reg"), persons=2000, deltas=3)


@pytest.fixture(scope="module")
def store(reg: Register, tmp_path_factory: pytest.TempPathFactory) -> SnapshotStore:
    s = SnapshotStore(tmp_path_factory.mktemp("db") / "register.sqlite3")
    import_all(s, reg)
    assert s.info().sequence == LAST_SEQUENCE
    return s


def _manual(enp: str) -> Credential:
    return Credential(kind=CredentialKind.MANUAL, enp=enp)


def _ctx(c: Credential, now: datetime) -> CheckContext:
    return CheckContext(credential=c, now=now)


def _pipeline(
    store: SnapshotStore, now: datetime, policy: FreshnessPolicy | None = None
) -> Pipeline:
    return Pipeline(
        revocation=SnapshotRevocationChecker(store, policy),
        status=SnapshotStatusChecker(store, policy),
        clock=lambda: now,
    )


def _expected(row: dict[str, str], today: date) -> tuple[CheckStatus, Reason | None]:
    status = PolicyStatus[row["status"].upper()]
    if status is not PolicyStatus.ACTIVE:
        return CheckStatus.FAIL, STATUS_REASON[status]
    if row["end"] and date.fromisoformat(row["end"]) < today:
        return CheckStatus.FAIL, Reason.REGISTER_EXPIRED
    if row["start"] and date.fromisoformat(row["start"]) > today:
        return CheckStatus.FAIL, Reason.REGISTER_NEEDS_CLARIFICATION
    return CheckStatus.PASS, None


# --- fresh ---------------------------------------------------------------------------------------


def test_fresh_snapshot_answers_every_person_as_the_register_says(
    reg: Register, store: SnapshotStore
) -> None:
    checker = SnapshotStatusChecker(store)
    today = FRESH.astimezone().date()
    wrong = []
    for row in reg.live:
        res = checker.check_status(_ctx(_manual(row["enp"]), FRESH))
        if (res.check.status, res.check.reason) != _expected(row, today):
            wrong.append((row["enp"], row["status"], res.check))
        assert res.source == "snapshot"
    assert not wrong, wrong[:5]
    res = checker.check_status(_ctx(_manual(reg.live[0]["enp"]), FRESH))
    assert res.snapshot is not None
    assert (res.snapshot.state, res.snapshot.sequence, res.snapshot.age_s) == (
        "fresh",
        LAST_SEQUENCE,
        3600.0,
    )
    assert "(актуальна)" in res.check.detail


def test_deleted_and_unknown_enps_are_not_in_the_snapshot(
    reg: Register, store: SnapshotStore
) -> None:
    checker = SnapshotStatusChecker(store)
    known = {r["enp"] for r in reg.rows}
    stranger = next(
        e
        for s in range(99999, 0, -1)
        if (e := make_enp("50", date(1990, 1, 1), Sex.FEMALE, s)) not in known
    )
    for enp in [*(r["enp"] for r in reg.deleted), stranger]:
        res = checker.check_status(_ctx(_manual(enp), FRESH))
        # not the register's word: a policy issued after the snapshot is not in it
        assert res.check.status is CheckStatus.SKIP
        assert res.check.reason is Reason.NOT_IN_SNAPSHOT


def test_enp_of_another_region_is_not_answered_offline(store: SnapshotStore) -> None:
    res = SnapshotStatusChecker(store).check_status(
        _ctx(_manual(make_enp("77", date(1970, 5, 5), Sex.MALE, 1)), FRESH)
    )
    assert res.check.status is CheckStatus.SKIP
    assert res.check.reason is Reason.OTHER_REGION


def test_temporary_certificates_and_old_policies_are_found_by_number(
    reg: Register, store: SnapshotStore
) -> None:
    checker = SnapshotStatusChecker(store)
    today = FRESH.astimezone().date()
    temps = [r for r in reg.live if r["temp_cert_number"]]
    olds = [r for r in reg.live if r["old_number"]]
    assert temps and olds
    for row in temps:
        c = Credential(
            kind=CredentialKind.TEMPORARY_CERTIFICATE, temp_cert_number=row["temp_cert_number"]
        )
        res = checker.check_status(_ctx(c, FRESH))
        assert (res.check.status, res.check.reason) == _expected(row, today), row
    for row in olds:
        old = parse_old_policy(f"{row['old_number'][:3]} {row['old_number'][3:]}")
        c = Credential(kind=CredentialKind.OLD_POLICY, old_series=old.series, old_number=old.number)
        res = checker.check_status(_ctx(c, FRESH))
        assert (res.check.status, res.check.reason) == _expected(row, today), row


def test_typed_temporary_certificate_through_the_pipeline(
    reg: Register, store: SnapshotStore
) -> None:
    row = next(
        r
        for r in reg.live
        if r["temp_cert_number"]
        and r["status"] == "active"
        and date.fromisoformat(r["end"]) >= FRESH.astimezone().date()
    )
    v = _pipeline(store, FRESH).verify(
        CredentialInput.from_text(row["temp_cert_number"], manual=True)
    )
    assert v.outcome is Outcome.VALID, v.checks
    assert v.source == "snapshot"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("active", Outcome.VALID),
        ("suspended", Outcome.SUSPENDED),
        ("annulled", Outcome.ANNULLED),
        ("expired", Outcome.EXPIRED),
        ("needs_clarification", Outcome.UNKNOWN),
    ],
)
def test_verdict_for_each_register_status(
    reg: Register, store: SnapshotStore, status: str, outcome: Outcome
) -> None:
    row = next(r for r in reg.live if r["status"] == status and r["policy_type"] == "digital")
    v = _pipeline(store, FRESH).verify(CredentialInput.from_text(row["enp"], manual=True))
    assert v.outcome is outcome
    assert v.to_dict()["snapshot"] == {"state": "fresh", "sequence": LAST_SEQUENCE, "age_s": 3600.0}


# --- stale ---------------------------------------------------------------------------------------


def test_stale_snapshot_still_answers_and_says_so(reg: Register, store: SnapshotStore) -> None:
    row = reg.first(status="active", policy_type="digital")
    res = SnapshotStatusChecker(store).check_status(_ctx(_manual(row["enp"]), STALE))
    assert res.check.status is CheckStatus.PASS
    assert "(устарела, но используется)" in res.check.detail
    v = _pipeline(store, STALE).verify(CredentialInput.from_text(row["enp"], manual=True))
    assert v.outcome is Outcome.VALID
    age = (STALE - CREATED).total_seconds()
    assert v.to_dict()["snapshot"] == {"state": "stale", "sequence": LAST_SEQUENCE, "age_s": age}


# --- expired -------------------------------------------------------------------------------------

_LONG_VALIDITY = FreshnessPolicy(stale_grace=timedelta(days=30))


@pytest.mark.parametrize(
    ("now", "policy"),
    [
        (EXPIRED, None),
        (VALID_UNTIL + timedelta(days=400), None),
        (CREATED + timedelta(days=7, seconds=1), _LONG_VALIDITY),  # the hard offline limit
    ],
    ids=["just past the grace", "a year later", "past the hard limit inside the grace"],
)
def test_expired_snapshot_never_passes_anyone(
    reg: Register, store: SnapshotStore, now: datetime, policy: FreshnessPolicy | None
) -> None:
    checker = SnapshotStatusChecker(store, policy)
    pipeline = _pipeline(store, now, policy)
    age = (now - CREATED).total_seconds()
    for row in reg.live:
        res = checker.check_status(_ctx(_manual(row["enp"]), now))
        assert res.check.status is CheckStatus.SKIP, row
        assert res.check.reason is Reason.SNAPSHOT_EXPIRED
        assert res.snapshot is not None and res.snapshot.state == "expired"
        v = pipeline.verify(CredentialInput.from_text(row["enp"], manual=True))
        assert v.outcome is not Outcome.VALID
        if row["status"] == "active":
            assert v.outcome is Outcome.UNKNOWN
            assert Reason.SNAPSHOT_EXPIRED in v.reasons
    assert v.to_dict()["snapshot"] == {"state": "expired", "sequence": LAST_SEQUENCE, "age_s": age}


def test_expired_snapshot_still_fails_nobody_on_stale_data(
    reg: Register, store: SnapshotStore
) -> None:
    """Expired means no answer at all: a suspended person is 'unknown', not 'suspended'."""
    row = reg.first(status="suspended")
    v = _pipeline(store, EXPIRED).verify(CredentialInput.from_text(row["enp"], manual=True))
    assert v.outcome is Outcome.UNKNOWN
    assert v.reasons == (Reason.SNAPSHOT_EXPIRED,)


# --- absent --------------------------------------------------------------------------------------


def test_no_snapshot_held(reg: Register, tmp_path: Path) -> None:
    empty = SnapshotStore(tmp_path / "empty.sqlite3")
    row = reg.first(status="active")
    res = SnapshotStatusChecker(empty).check_status(_ctx(_manual(row["enp"]), FRESH))
    assert res.check.status is CheckStatus.SKIP
    assert res.snapshot is not None
    assert (res.snapshot.state, res.snapshot.sequence, res.snapshot.age_s) == ("absent", None, None)
    v = _pipeline(empty, FRESH).verify(CredentialInput.from_text(row["enp"], manual=True))
    assert v.outcome is Outcome.UNKNOWN
    assert v.to_dict()["snapshot"] == {"state": "absent", "sequence": None, "age_s": None}
    assert (
        SnapshotRevocationChecker(empty)
        .check_revocation(_ctx(_paper_credential(row), FRESH))
        .status
        is CheckStatus.SKIP
    )


# --- revocation ----------------------------------------------------------------------------------


def _paper_bytes(row: dict[str, str]) -> bytes:
    data = PersonRow.from_row(row).paper_data()
    return paper_barcode.assemble(data, bytes(paper_barcode.SIGNATURE_LENGTH))


def _paper_credential(row: dict[str, str]) -> Credential:
    return Credential(
        kind=CredentialKind.PAPER_POLICY,
        enp=row["enp"],
        surname=row["surname"],
        given_name=row["given_name"],
        patronymic=row["patronymic"],
        sex=Sex(row["sex"]),
        birth_date=date.fromisoformat(row["birth_date"]),
    )


def test_revoked_paper_blank_is_invalid_though_the_policy_is_active(
    reg: Register, store: SnapshotStore
) -> None:
    revoked = [r for r in reg.live if r["revoked_carrier"] == "paper" and r["status"] == "active"]
    assert revoked
    for row in revoked:
        v = _pipeline(store, FRESH).verify(CredentialInput(_paper_bytes(row), "test", "pdf417"))
        rev = next(c for c in v.checks if c.name == "revocation")
        assert rev.status is CheckStatus.FAIL
        assert rev.reason is Reason.DOCUMENT_REVOKED
        assert v.outcome is Outcome.INVALID
        assert next(c for c in v.checks if c.name == "register_status").status is CheckStatus.PASS
        assert "бланк" in v.message and "сам полис" in v.message


def test_paper_policy_not_on_the_list_passes_revocation(
    reg: Register, store: SnapshotStore
) -> None:
    row = reg.first(status="active", policy_type="paper", revoked_carrier="")
    v = _pipeline(store, FRESH).verify(CredentialInput(_paper_bytes(row), "test", "pdf417"))
    rev = next(c for c in v.checks if c.name == "revocation")
    assert rev.status is CheckStatus.PASS
    assert v.outcome is Outcome.VALID


def test_revoked_card_is_annulled_but_a_paper_check_of_the_same_enp_is_not(
    reg: Register, store: SnapshotStore
) -> None:
    row = reg.first(revoked_carrier="card")
    checker = SnapshotRevocationChecker(store)
    card = Credential(kind=CredentialKind.CARD, enp=row["enp"], surname=row["surname"])
    res = checker.check_revocation(_ctx(card, FRESH))
    assert (res.status, res.reason) == (CheckStatus.FAIL, Reason.DOCUMENT_REVOKED)
    res = checker.check_revocation(_ctx(_paper_credential(row), FRESH))
    assert res.status is CheckStatus.PASS


def test_revocation_is_not_checked_for_credentials_without_a_document(
    reg: Register, store: SnapshotStore
) -> None:
    row = reg.first(revoked_carrier="paper")
    res = SnapshotRevocationChecker(store).check_revocation(_ctx(_manual(row["enp"]), FRESH))
    assert res.status is CheckStatus.SKIP


def test_expired_revocation_list_is_not_used(reg: Register, store: SnapshotStore) -> None:
    row = reg.first(revoked_carrier="paper")
    res = SnapshotRevocationChecker(store).check_revocation(_ctx(_paper_credential(row), EXPIRED))
    assert res.status is CheckStatus.SKIP
    assert "просрочен" in res.detail
    v = _pipeline(store, EXPIRED).verify(CredentialInput(_paper_bytes(row), "test", "pdf417"))
    assert v.outcome is Outcome.UNKNOWN
