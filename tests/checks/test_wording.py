"""Honest wording when the register cannot say (issue 12 items 4–7, 11).

Real SQLite stores, real signed snapshots; the registry side is a port answering as the real
client does when it is down (``registry_unavailable``), so the fallback's wording is what is
under test here (tests/registry covers the real client against the real service).
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from cache.register_model import Alias, AliasKind, PolicyStatus
from cache.snapshot_store import SCHEMA_VERSION, SnapshotStore
from tests.cache.helpers import CREATED, demo_key, key_checker, record, snapshot_bytes
from verifier.checks.context import CheckContext
from verifier.checks.online import FallbackStatusChecker
from verifier.checks.ports import StatusResult
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import Credential, CredentialInput, CredentialKind
from verifier.identifiers import Sex, make_enp
from verifier.pipeline import Pipeline
from verifier.verdict import CheckStatus, Outcome, Reason, skipped

NOW = CREATED + timedelta(hours=1)
KEY = demo_key()
ACTIVE_ENP = make_enp("50", date(1980, 2, 3), Sex.MALE, 1)
SUSPENDED_ENP = make_enp("50", date(1981, 2, 3), Sex.FEMALE, 2)
SHARED_OLD = "50А1234567"  # an old series+number two people hold
OLD_A = make_enp("50", date(1960, 1, 1), Sex.MALE, 3)
OLD_B = make_enp("50", date(1961, 1, 1), Sex.FEMALE, 4)


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
    raw = snapshot_bytes(key=KEY, records=recs, aliases=aliases)
    path = tmp_path_factory.mktemp("w") / "full-000001.omssnap"
    path.write_bytes(raw)
    s = SnapshotStore(path.parent / "register.sqlite3")
    s.import_file(path, key_checker(KEY.public_key()))
    return s


class RegistryDown:
    def check_status(self, ctx: CheckContext) -> StatusResult:
        why = "registry: registry_unavailable: connection refused"
        return StatusResult(
            skipped("register_status", why, Reason.REGISTRY_UNAVAILABLE), "registry"
        )


def pipeline(store: SnapshotStore, online: bool = True) -> Pipeline:
    return Pipeline(
        revocation=SnapshotRevocationChecker(store),
        status=FallbackStatusChecker(
            SnapshotStatusChecker(store), RegistryDown() if online else None
        ),
        clock=lambda: NOW,
    )


def typed(text: str) -> CredentialInput:
    return CredentialInput.from_text(text, manual=True)


def test_registry_down_and_not_in_the_snapshot_is_unknown_never_not_insured(
    store: SnapshotStore,
) -> None:
    stranger = make_enp("50", date(1990, 1, 1), Sex.FEMALE, 99)
    v = pipeline(store).verify(typed(stranger))
    assert v.outcome is Outcome.UNKNOWN
    assert set(v.reasons) == {Reason.NOT_IN_SNAPSHOT, Reason.REGISTRY_UNAVAILABLE}
    assert "локальной копии" in v.message and "недоступен" in v.message
    assert "онлайн" in v.action


def test_another_region_with_the_registry_down_says_the_registry_was_tried(
    store: SnapshotStore,
) -> None:
    v = pipeline(store).verify(typed(make_enp("77", date(1970, 5, 5), Sex.MALE, 1)))
    assert v.outcome is Outcome.UNKNOWN
    assert set(v.reasons) == {Reason.OTHER_REGION, Reason.REGISTRY_UNAVAILABLE}
    tried = next(c for c in v.checks if c.name == "registry")
    assert "connection refused" in tried.detail


@pytest.mark.parametrize("number", ["123456780", "50Б 7654321"])
def test_a_number_that_is_not_found_asks_to_check_the_input(
    store: SnapshotStore, number: str
) -> None:
    v = pipeline(store, online=False).verify(typed(number))
    assert v.outcome is Outcome.UNKNOWN
    assert v.reasons == (Reason.NUMBER_NOT_FOUND,)
    assert "номер не найден — проверьте ввод" in v.message
    assert "не застрахован" not in v.message.lower()


def test_an_old_number_two_people_hold_lists_both_for_the_clerk(store: SnapshotStore) -> None:
    v = pipeline(store, online=False).verify(typed("50А 1234567"))
    assert v.outcome is Outcome.UNKNOWN
    assert v.reasons == (Reason.AMBIGUOUS_NUMBER,)
    assert {c["enp"] for c in v.to_dict()["candidates"]} == {OLD_A, OLD_B}
    masked = v.to_dict(masked=True)["candidates"]
    assert OLD_A not in str(masked) and OLD_B not in str(masked)
    assert "по ЕНП" in v.action


@pytest.mark.parametrize("typed_number", ["50A 1234567", "50а1234567", "50A1234567"])
def test_latin_look_alikes_in_a_series_find_the_cyrillic_number(
    store: SnapshotStore, typed_number: str
) -> None:
    v = pipeline(store, online=False).verify(typed(typed_number))
    assert v.reasons == (Reason.AMBIGUOUS_NUMBER,), v.reasons  # found: both holders listed


def test_dates_and_next_steps_are_in_the_clerks_line(store: SnapshotStore) -> None:
    v = pipeline(store, online=False).verify(typed(SUSPENDED_ENP))
    assert v.outcome is Outcome.SUSPENDED
    assert "с 01.03.2024" in v.message
    assert v.action and "страхов" in v.action
    ok = pipeline(store, online=False).verify(typed(ACTIVE_ENP))
    assert ok.outcome is Outcome.VALID
    assert "действует до 06.05.2031" in ok.message
    assert ok.to_dict()["action"] == "Примите пациента."


def test_an_insurer_change_is_named_and_does_not_change_the_outcome(
    store: SnapshotStore,
) -> None:
    names = {"1027739008440": "АО «Страховая компания»"}
    p = pipeline(store, online=False)
    p.names = Names(names)
    card = Credential(kind=CredentialKind.DIGITAL_POLICY, enp=ACTIVE_ENP, smo_ogrn="1111111111111")
    v = p.verify_credential(card)
    assert v.outcome is Outcome.VALID
    assert Reason.INSURER_CHANGED in v.reasons
    assert "страховая компания сменилась: сейчас АО «Страховая компания» (ОГРН" in v.message
    same = p.verify_credential(Credential(kind=CredentialKind.DIGITAL_POLICY, enp=ACTIVE_ENP))
    assert Reason.INSURER_CHANGED not in same.reasons
    assert next(c for c in same.checks if c.name == "insurer").status is CheckStatus.SKIP


class Names:
    def __init__(self, insurers: dict[str, str]) -> None:
        self.insurers = insurers

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        return self.insurers.get(ogrn)

    def clinic_name(self, code: str) -> str | None:
        return {"500001": "ГБУЗ «Поликлиника № 1»"}.get(code)


def test_insurer_and_attachment_carry_names_and_say_if_this_is_our_clinic(
    store: SnapshotStore,
) -> None:
    p = pipeline(store, online=False)
    p.names = Names({"1027739008440": "АО «Страховая компания»"})
    p.this_clinic = "500001"
    d = p.verify(typed(ACTIVE_ENP)).to_dict()
    assert d["insurer"] == {
        "ogrn": "1027739008440",
        "name": "АО «Страховая компания»",
        "region": "46000",
    }
    assert d["attachment"] == {
        "code": "500001",
        "name": "ГБУЗ «Поликлиника № 1»",
        "this_clinic": True,
    }
    p.this_clinic = "500002"
    assert p.verify(typed(ACTIVE_ENP)).to_dict()["attachment"]["this_clinic"] is False
    p.this_clinic = None
    assert p.verify(typed(ACTIVE_ENP)).to_dict()["attachment"]["this_clinic"] is None


def test_a_store_of_the_previous_release_is_migrated(tmp_path: Path) -> None:
    """Schema 1 keyed aliases by (kind, number): an upgrade keeps them and allows repeats."""
    path = tmp_path / "register.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE records (enp INTEGER PRIMARY KEY, ptype INT, status INT, since INT,
            ogrn INT, okato INT, start INT, end_ INT, clinic INT, nhash BLOB);
        CREATE TABLE aliases (kind INT NOT NULL, number TEXT NOT NULL, enp INT NOT NULL,
            PRIMARY KEY (kind, number)) WITHOUT ROWID;
        CREATE INDEX aliases_enp ON aliases(enp);
        """
    )
    db.execute("INSERT INTO records VALUES (?, 7, 1, 0, 1, 46000, 0, 0, 0, ?)", (int(OLD_A), b"x"))
    db.execute("INSERT INTO aliases VALUES (1, ?, ?)", (SHARED_OLD, int(OLD_A)))
    db.commit()
    db.close()
    store = SnapshotStore(path)
    found = store.lookup_aliases(AliasKind.OLD_NUMBER, SHARED_OLD)
    assert [r.enp for r in found] == [OLD_A]
    version = sqlite3.connect(path).execute("SELECT v FROM meta WHERE k='schema_version'")
    assert version.fetchone() == (str(SCHEMA_VERSION),)
    assert SCHEMA_VERSION == 2
    store.close()


def test_a_store_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "register.sqlite3"
    SnapshotStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET v = '99' WHERE k = 'schema_version'")
    db.commit()
    db.close()
    from cache.snapshot_store import SnapshotRefused

    with pytest.raises(SnapshotRefused) as err:
        SnapshotStore(path)
    assert err.value.code == "store_too_new"
