"""The trust review's false-``valid`` findings 1, 2, 4, 5 (and the card-number part of 11).

Each test runs the real pipeline over a real SQLite snapshot store imported from the
generator's signed register; ``persons.csv`` (ground truth written by the generator) says who
each ENP belongs to. Every one of these gave ``valid`` before the fix.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest

from cache.freshness import FreshnessPolicy
from cache.register_model import RegisterRecord
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import CREATED, Register, generate_register, import_all
from verifier.checks.context import CheckContext
from verifier.checks.holder import HolderMatcher, MatchKey
from verifier.checks.online import FallbackStatusChecker
from verifier.checks.ports import StatusResult
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import Credential, CredentialInput
from verifier.devkit.persons import PersonRow
from verifier.formats import goznak_card, paper_barcode
from verifier.pipeline import Pipeline
from verifier.verdict import CheckResult, CheckStatus, Outcome, Reason, Verdict, failed, passed

FRESH = CREATED + timedelta(hours=1)


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Register:
    return generate_register(tmp_path_factory.mktemp("reg"), persons=1500, deltas=1)


@pytest.fixture(scope="module")
def store(reg: Register, tmp_path_factory: pytest.TempPathFactory) -> SnapshotStore:
    s = SnapshotStore(tmp_path_factory.mktemp("db") / "register.sqlite3")
    import_all(s, reg)
    return s


def pipeline(
    store: SnapshotStore,
    reg: Register | None,
    now: datetime = FRESH,
    status: object | None = None,
    revocation: object | None = None,
) -> Pipeline:
    key = MatchKey.of(reg.match_key) if reg is not None else None
    return Pipeline(
        revocation=revocation or SnapshotRevocationChecker(store),  # type: ignore[arg-type]
        status=status or SnapshotStatusChecker(store),  # type: ignore[arg-type]
        holder=HolderMatcher(key, lambda: store.info().name_key_id),
        clock=lambda: now,
    )


def check(v: Verdict, name: str) -> CheckResult:
    return next(c for c in v.checks if c.name == name)


def paper(row: dict[str, str], **override: str) -> CredentialInput:
    data = PersonRow.from_row(row).paper_data(paper_barcode.BarcodeType.TYPE2, **override)
    raw = paper_barcode.assemble(data, bytes(paper_barcode.SIGNATURE_LENGTH))
    return CredentialInput(raw, "test", "pdf417")


def card(row: dict[str, str], *, insurer: bool = True, number: str | None = None) -> bytes:
    holder = PersonRow.from_row(row).card_holder(policy_number=number or row["enp"])
    out = goznak_card.encode_holder(holder)
    if insurer:  # an insurer record with its 7F60 signature block stripped
        part = goznak_card.encode_insurer_signed_part(row["smo_ogrn"], row["okato"], None, None)
        out += goznak_card.encode_insurer(part, None, None)
    return out


def active(reg: Register, carrier: str = "") -> dict[str, str]:
    return next(
        r
        for r in reg.live
        if r["status"] == "active" and not r["end"] and r["revoked_carrier"] == carrier
    )


# --- finding 1: a carrier that is always signed, unsigned ------------------------------------


@pytest.mark.parametrize("insurer", [False, True], ids=["holder-template-only", "no-7F60"])
def test_unsigned_card_is_unknown_signature_missing(
    reg: Register, store: SnapshotStore, insurer: bool
) -> None:
    row = active(reg)
    v = pipeline(store, reg).verify(CredentialInput(card(row, insurer=insurer), symbology="card"))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "signature").reason is Reason.SIGNATURE_MISSING
    assert check(v, "register_status").status is CheckStatus.PASS  # only the signature is missing
    assert "удостоверяющий личность" in v.message


def test_card_with_a_14_digit_policy_number_is_an_invalid_verdict(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg)
    raw = card(row, number=row["enp"][:14])
    v = pipeline(store, reg).verify(CredentialInput(raw, symbology="card"))
    assert v.outcome is Outcome.INVALID
    assert check(v, "format").reason is Reason.BAD_FORMAT
    assert check(v, "enp_checksum").status is CheckStatus.SKIP


# --- finding 2: holder match ----------------------------------------------------------------


def test_genuine_name_matches_the_register(reg: Register, store: SnapshotStore) -> None:
    v = pipeline(store, reg).verify(paper(active(reg)))
    assert check(v, "holder").status is CheckStatus.PASS
    assert v.outcome is Outcome.VALID
    assert Reason.HOLDER_NOT_CHECKED not in v.reasons


def test_genuine_enp_under_another_name_is_holder_mismatch(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg)
    other = next(r for r in reg.live if r["surname"] != row["surname"])
    v = pipeline(store, reg).verify(paper(row, surname=other["surname"]))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "holder").reason is Reason.HOLDER_MISMATCH
    assert "сверьте документ" in v.message


def test_name_normalisation_does_not_make_a_genuine_policy_mismatch(
    reg: Register, store: SnapshotStore
) -> None:
    row = next(r for r in reg.live if "е" in r["surname"].lower() and r["status"] == "active")
    yo = row["surname"].upper().replace("Е", "Ё", 1)  # the paper alphabet has Ё; the register Е
    v = pipeline(store, reg).verify(paper(row, surname=yo))
    assert check(v, "holder").status is CheckStatus.PASS, check(v, "holder")


def test_a_full_name_field_is_not_a_mismatch_but_cannot_be_compared(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg)
    capacity = paper_barcode.name_capacity(paper_barcode.BarcodeType.TYPE2)
    room = capacity - len(row["surname"]) - len(row["given_name"]) - 2
    cut = (row["patronymic"] + "А" * capacity)[:room]  # as if the patronymic ran past the field
    v = pipeline(store, reg).verify(paper(row, patronymic=cut))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "holder").reason is Reason.HOLDER_NAME_TRUNCATED
    assert Reason.HOLDER_MISMATCH not in v.reasons


def test_without_the_match_key_the_verdict_says_the_name_was_not_checked(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg)
    other = next(r for r in reg.live if r["surname"] != row["surname"])
    v = pipeline(store, None).verify(paper(row, surname=other["surname"]))
    assert Reason.HOLDER_NOT_CHECKED in v.reasons
    assert "не сверялось" in v.message


def test_a_key_that_is_not_the_snapshots_does_not_claim_a_mismatch(
    reg: Register, store: SnapshotStore
) -> None:
    wrong = HolderMatcher(MatchKey.of(b"\x01" * 32), lambda: store.info().name_key_id)
    p = dataclasses.replace(pipeline(store, reg), holder=wrong)
    v = p.verify(paper(active(reg)))
    assert check(v, "holder").reason is Reason.HOLDER_NOT_CHECKED


# --- finding 4: revocation not vouched for ----------------------------------------------------


class OnlineStub:
    """The registry's answer as the fallback sees it: active, with or without a revocation word."""

    def __init__(self, record: RegisterRecord, revocation: CheckResult | None) -> None:
        self.record, self.revocation = record, revocation

    def check_status(self, ctx: CheckContext) -> StatusResult:
        return StatusResult(
            passed("register_status", "registry: active"),
            "registry",
            record=self.record,
            revocation=self.revocation,
        )


EXPIRED = CREATED + timedelta(days=30)


def test_revoked_paper_with_the_list_expired_and_a_registry_silent_on_it_is_unknown(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg, carrier="paper")
    record = store.lookup_enp(row["enp"])
    assert record is not None and record.enp == row["enp"]  # the register holds this person
    status = FallbackStatusChecker(SnapshotStatusChecker(store), OnlineStub(record, None))
    v = pipeline(store, reg, EXPIRED, status=status).verify(paper(row))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "revocation").reason is Reason.REVOCATION_UNKNOWN
    assert check(v, "register_status").status is CheckStatus.PASS


def test_the_registrys_revocation_word_decides_when_the_list_expired(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg, carrier="paper")
    record = store.lookup_enp(row["enp"])
    assert record is not None and record.enp == row["enp"]  # the register holds this person
    for word, outcome in [
        (passed("revocation", "registry: not revoked"), Outcome.VALID),
        (failed("revocation", Reason.DOCUMENT_REVOKED, "registry: lost"), Outcome.INVALID),
    ]:
        status = FallbackStatusChecker(SnapshotStatusChecker(store), OnlineStub(record, word))
        v = pipeline(store, reg, EXPIRED, status=status).verify(paper(row))
        assert v.outcome is outcome, v.reasons


def test_a_revocation_on_the_fresh_list_stands_over_a_registry_that_says_nothing_of_it(
    reg: Register, store: SnapshotStore
) -> None:
    row = active(reg, carrier="paper")
    record = store.lookup_enp(row["enp"])
    assert record is not None and record.enp == row["enp"]  # the register holds this person
    online_ok = passed("revocation", "registry: not revoked")
    status = FallbackStatusChecker(SnapshotStatusChecker(store), OnlineStub(record, online_ok))
    v = pipeline(store, reg, FRESH, status=status).verify(paper(row))
    assert check(v, "revocation").reason is Reason.DOCUMENT_REVOKED


def test_no_revocation_source_at_all_is_unknown_for_a_physical_document(
    reg: Register, store: SnapshotStore
) -> None:
    from verifier.checks.ports import NoRevocationChecker

    v = pipeline(store, reg, revocation=NoRevocationChecker()).verify(paper(active(reg)))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "revocation").reason is Reason.REVOCATION_UNKNOWN


# --- finding 5: the clock ---------------------------------------------------------------------


def test_a_snapshot_from_the_future_is_clock_inconsistent(
    reg: Register, store: SnapshotStore
) -> None:
    behind = CREATED - timedelta(days=400)
    for item in (paper(active(reg)), CredentialInput.from_text(active(reg)["enp"], manual=True)):
        v = pipeline(store, reg, behind).verify(item)
        assert v.outcome is Outcome.UNKNOWN
        assert Reason.CLOCK_INCONSISTENT in v.reasons
        assert "часы" in v.message


def test_within_the_allowed_skew_the_snapshot_answers(reg: Register, store: SnapshotStore) -> None:
    slightly_behind = CREATED - FreshnessPolicy().max_clock_skew + timedelta(seconds=5)
    v = pipeline(store, reg, slightly_behind).verify(paper(active(reg)))
    assert v.outcome is Outcome.VALID, v.reasons


@pytest.mark.parametrize("drop", ["given_name", "birth_date"])
def test_leaving_a_holder_field_out_never_skips_the_comparison(
    reg: Register, store: SnapshotStore, drop: str
) -> None:
    """Found by the adversarial suite: an empty given name or no birth date dodged the check."""
    row = active(reg)
    other = next(r for r in reg.live if r["surname"] != row["surname"])
    c = recognize_card(card(row))
    forged = dataclasses.replace(c, surname=other["surname"], **{drop: None})
    v = pipeline(store, reg).verify_credential(forged)
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "holder").reason is Reason.HOLDER_MISMATCH


def test_an_empty_given_name_is_compared_as_empty(reg: Register, store: SnapshotStore) -> None:
    """A genuine holder with no given name must not be a mismatch for want of one."""
    row = active(reg)
    genuine = dataclasses.replace(recognize_card(card(row)), given_name="")
    record = store.lookup_enp(row["enp"])
    assert record is not None and record.enp == row["enp"]  # the register holds this person
    from cache.name_hash import name_hash

    no_given = dataclasses.replace(
        record,
        name_hash=name_hash(
            reg.match_key,
            row["surname"],
            "",
            row["patronymic"],
            date.fromisoformat(row["birth_date"]),
        ),
    )
    matcher = HolderMatcher(MatchKey.of(reg.match_key))
    assert matcher.check_holder(genuine, no_given).status is CheckStatus.PASS
    assert matcher.check_holder(genuine, record).reason is Reason.HOLDER_MISMATCH


def recognize_card(raw: bytes) -> Credential:
    from verifier.recognize import recognize

    return recognize(CredentialInput(raw, symbology="card"))
