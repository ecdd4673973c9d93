"""Check ``detail`` texts are for the clerk: Russian, dates as dd.mm.yyyy, no full ENP.

Codes stay English in ``reason``; the detail is what the CLI and the verdict JSON show a person.
The details come from the real checks over a real imported snapshot (SQLite) and real inputs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from cache.register_model import Alias, AliasKind, Carrier, PolicyStatus, RevocationReason
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import CREATED, demo_key, key_checker, record, snapshot_bytes
from verifier.checks.basic import check_enp_checksum, check_enp_facet, check_expiry, check_format
from verifier.checks.context import CheckContext, LookupMode
from verifier.checks.holder import HolderMatcher, NoHolderMatcher
from verifier.checks.online import FallbackStatusChecker
from verifier.checks.register import (
    SnapshotRevocationChecker,
    SnapshotStatusChecker,
    revoked_detail,
    status_check,
)
from verifier.checks.signature import TrustSignatureChecker
from verifier.credential import Credential, CredentialKind, SignaturePurpose, SignedPart
from verifier.identifiers import Sex, make_enp
from verifier.trust import TrustStore
from verifier.verdict import CheckResult

NOW = CREATED + timedelta(hours=1)
KEY = demo_key()
BORN = date(1980, 2, 3)
ACTIVE_ENP = make_enp("50", BORN, Sex.MALE, 1)
SUSPENDED_ENP = make_enp("50", date(1981, 2, 3), Sex.FEMALE, 2)
SHARED_OLD = "50А1234567"
OLD_A = make_enp("50", date(1960, 1, 1), Sex.MALE, 3)
OLD_B = make_enp("50", date(1961, 1, 1), Sex.FEMALE, 4)

ENGLISH_WORD = re.compile(r"\b[a-z]{3,}\b")  # codes like registry_unavailable do not match
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FULL_ENP = re.compile(r"\d{16}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SnapshotStore:
    recs = [
        record(ACTIVE_ENP, end=date(2031, 5, 6)),
        record(SUSPENDED_ENP, status=PolicyStatus.SUSPENDED, start=date(2024, 3, 1)),
        record(OLD_A),
        record(OLD_B),
    ]
    aliases = [
        Alias(OLD_A, AliasKind.OLD_NUMBER, SHARED_OLD),
        Alias(OLD_B, AliasKind.OLD_NUMBER, SHARED_OLD),
    ]
    path = tmp_path_factory.mktemp("ru") / "full-000001.omssnap"
    path.write_bytes(snapshot_bytes(key=KEY, records=recs, aliases=aliases))
    s = SnapshotStore(path.parent / "register.sqlite3")
    s.import_file(path, key_checker(KEY.public_key()))
    return s


def ctx(c: Credential, mode: LookupMode = LookupMode.AUTO) -> CheckContext:
    return CheckContext(c, NOW, mode=mode)


def for_clerk(r: CheckResult) -> str:
    """The detail, after asserting it is Russian, ISO-date free and without a full ENP."""
    assert r.detail, r
    assert not ENGLISH_WORD.findall(r.detail), r
    assert not ISO_DATE.search(r.detail), r
    assert not FULL_ENP.search(r.detail), r
    return r.detail


def status(store: SnapshotStore, c: Credential) -> str:
    return for_clerk(SnapshotStatusChecker(store).check_status(ctx(c)).check)


def test_snapshot_status_details_are_russian(store: SnapshotStore) -> None:
    sequence = store.info().sequence
    active = status(store, Credential(kind=CredentialKind.MANUAL, enp=ACTIVE_ENP))
    assert (
        active == f"копия реестра №{sequence} (актуальна): полис действует; СМО ОГРН 1027739008440"
    )
    suspended = status(store, Credential(kind=CredentialKind.MANUAL, enp=SUSPENDED_ENP))
    assert suspended.endswith("действие полиса приостановлено с 01.03.2024")
    stranger = make_enp("50", date(1990, 1, 1), Sex.FEMALE, 99)
    assert "полис не найден" in status(store, Credential(kind=CredentialKind.MANUAL, enp=stranger))
    other = make_enp("77", date(1970, 5, 5), Sex.MALE, 1)
    assert "региона 77" in status(store, Credential(kind=CredentialKind.MANUAL, enp=other))
    old = Credential(kind=CredentialKind.OLD_POLICY, old_series="50А", old_number="1234567")
    assert "у 2 человек — выберите по ЕНП" in status(store, old)
    mistyped = Credential(kind=CredentialKind.TEMPORARY_CERTIFICATE, temp_cert_number="123456780")
    assert "номер не найден" in status(store, mistyped)


def test_revocation_and_fallback_details_are_russian(store: SnapshotStore) -> None:
    paper = Credential(kind=CredentialKind.PAPER_POLICY, enp=ACTIVE_ENP)
    not_revoked = for_clerk(SnapshotRevocationChecker(store).check_revocation(ctx(paper)))
    assert not_revoked == "нет в списке отозванных бланков (список актуален)"
    manual = Credential(kind=CredentialKind.MANUAL, enp=ACTIVE_ENP)
    for_clerk(SnapshotRevocationChecker(store).check_revocation(ctx(manual)))
    no_online = FallbackStatusChecker(SnapshotStatusChecker(store), None)
    res = no_online.check_status(ctx(manual, LookupMode.ONLINE))
    assert for_clerk(res.check) == "онлайн-реестр не настроен"
    for carrier in Carrier:
        for reason in (*RevocationReason, None):
            text = revoked_detail(carrier, reason, date(2025, 1, 2))
            assert text.endswith(", с 02.01.2025") and not ENGLISH_WORD.search(text), text


@pytest.mark.parametrize("state", list(PolicyStatus))
def test_every_register_status_reads_in_russian(state: PolicyStatus) -> None:
    r = record(ACTIVE_ENP, status=state, start=date(2020, 4, 5))
    for_clerk(status_check(r, NOW.date(), "копия реестра №1 (актуальна)"))
    ended = record(ACTIVE_ENP, start=date(2010, 1, 1), end=date(2020, 1, 1))
    assert "01.01.2020" in for_clerk(status_check(ended, NOW.date(), "онлайн-реестр"))
    future = record(ACTIVE_ENP, start=date(2099, 1, 1))
    assert "01.01.2099" in for_clerk(status_check(future, NOW.date(), "онлайн-реестр"))


CREDENTIALS = [
    Credential(kind=CredentialKind.MANUAL, enp=ACTIVE_ENP),
    Credential(kind=CredentialKind.MANUAL, enp="1234"),
    Credential(
        kind=CredentialKind.MANUAL, enp=ACTIVE_ENP[:-1] + str((int(ACTIVE_ENP[-1]) + 1) % 10)
    ),
    Credential(kind=CredentialKind.DIGITAL_POLICY, enp=ACTIVE_ENP, birth_date=BORN, sex=Sex.MALE),
    Credential(kind=CredentialKind.DIGITAL_POLICY, enp=ACTIVE_ENP, birth_date=date(1980, 2, 4)),
    Credential(kind=CredentialKind.DIGITAL_POLICY, enp=ACTIVE_ENP, sex=Sex.FEMALE),
    Credential(kind=CredentialKind.PAPER_POLICY, enp=ACTIVE_ENP),
    Credential(kind=CredentialKind.PAPER_POLICY, enp=ACTIVE_ENP, surname="Иванов"),
    Credential(kind=CredentialKind.CARD, enp=ACTIVE_ENP, surname="Иванов", expiry=date(2026, 1, 2)),
    Credential(kind=CredentialKind.CARD, enp=ACTIVE_ENP, surname="Иванов", expiry=date(2030, 1, 2)),
    Credential(kind=CredentialKind.MANUAL, enp=ACTIVE_ENP, birth_date=date(2099, 1, 1)),
    Credential(kind=CredentialKind.TEMPORARY_CERTIFICATE, temp_cert_number="12"),
    Credential(kind=CredentialKind.TEMPORARY_CERTIFICATE, temp_cert_number="123456780"),
    Credential(kind=CredentialKind.OLD_POLICY, old_series="50А"),
    Credential(kind=CredentialKind.OLD_POLICY, old_series="50А", old_number="1234567"),
]


@pytest.mark.parametrize("c", CREDENTIALS, ids=lambda c: c.kind.value)
def test_basic_and_holder_details_are_russian(c: Credential) -> None:
    for check in (check_format, check_enp_checksum, check_enp_facet, check_expiry):
        result = check(ctx(c))
        if result.detail:  # a plain pass may carry no detail at all
            for_clerk(result)
    for_clerk(NoHolderMatcher().check_holder(c, None))
    for_clerk(HolderMatcher(None).check_holder(c, record(ACTIVE_ENP)))
    for_clerk(HolderMatcher(None).check_holder(c, None))


def test_expiry_dates_read_as_the_clerk_writes_them() -> None:
    card = Credential(kind=CredentialKind.CARD, enp=ACTIVE_ENP, expiry=date(2026, 1, 2))
    assert for_clerk(check_expiry(ctx(card))) == "срок истёк 02.01.2026"
    card = Credential(kind=CredentialKind.CARD, enp=ACTIVE_ENP, expiry=date(2030, 1, 2))
    assert for_clerk(check_expiry(ctx(card))) == "действует до 02.01.2030"


def test_no_key_details_are_russian() -> None:
    checker = TrustSignatureChecker(TrustStore())
    manual = Credential(kind=CredentialKind.MANUAL, enp=ACTIVE_ENP)
    for purpose in (SignaturePurpose.PAPER_BARCODE, SignaturePurpose.CARD_INSURER):
        r = checker.check_signature(SignedPart(purpose, b"data", b"\0" * 65), ctx(manual))
        for c in (r.signature, r.key_trusted):
            assert for_clerk(c).startswith("нет ключа для проверки: ")
