"""Full snapshot, then deltas in order: every answer matches the generator's persons.csv."""

from __future__ import annotations

import io
import os
import threading
from datetime import date, timedelta
from pathlib import Path

from cache import name_hash
from cache.register_model import AliasKind, Carrier, RegisterRecord
from cache.snapshot_format import Section, SnapshotKind, SnapshotReader
from cache.snapshot_store import SnapshotStore

from .helpers import CREATED, REGION, VALID_HOURS, Register, generate_register, table_dump

_ALIAS_COLUMNS = ((AliasKind.OLD_NUMBER, "old_number"), (AliasKind.TEMP_CERT, "temp_cert_number"))


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _mismatches(rec: RegisterRecord | None, row: dict[str, str], key: bytes) -> list[str]:
    if rec is None:
        return ["missing"]
    want = {
        "enp": row["enp"],
        "policy_type": row["policy_type"],
        "status": row["status"],
        "status_since": _day(row["status_since"]),
        "smo_ogrn": row["smo_ogrn"],
        "okato": row["okato"],
        "start": _day(row["start"]),
        "end": _day(row["end"]),
        "clinic": row["clinic"] or None,
        "name_hash": name_hash.name_hash(
            key,
            row["surname"],
            row["given_name"],
            row["patronymic"],
            date.fromisoformat(row["birth_date"]),
        ),
    }
    got = {
        "enp": rec.enp,
        "policy_type": rec.policy_type.name.lower(),
        "status": rec.status.name.lower(),
        "status_since": rec.status_since,
        "smo_ogrn": rec.smo_ogrn,
        "okato": rec.okato,
        "start": rec.start,
        "end": rec.end,
        "clinic": rec.clinic,
        "name_hash": rec.name_hash,
    }
    return [f"{k}: {got[k]!r} != {want[k]!r}" for k in want if got[k] != want[k]]


def _full_aliases(reg: Register) -> list[tuple[int, str, int]]:
    with reg.gen.files[0].open("rb") as f:
        reader = SnapshotReader(f)
        return [row for c in reader.chunks() if c.section is Section.ALIASES for row in c.rows]


def _check_against_truth(store: SnapshotStore, reg: Register, upto: int) -> None:
    key = reg.match_key
    bad: dict[str, list[str]] = {}
    for row in reg.live:
        if int(row["sequence"]) > upto:
            continue
        rec = store.lookup_enp(row["enp"])
        problems = _mismatches(rec, row, key)
        for kind, column in _ALIAS_COLUMNS:
            if row[column]:
                via = store.lookup_alias(kind, row[column])
                if via != rec:
                    problems.append(f"{column} {row[column]} -> {via}")
        for carrier in Carrier:
            rev = store.document_revocation(row["enp"], carrier)
            expected = row["revoked_carrier"] == carrier.name.lower()
            if (rev is not None) != expected:
                problems.append(f"revocation {carrier.name}: {rev}")
            if rev is not None and (rev.enp, rev.carrier) != (row["enp"], carrier):
                problems.append(f"revocation answers for {rev.enp}/{rev.carrier}")
        if problems:
            bad[row["enp"]] = problems
    for row in reg.deleted:
        if int(row["sequence"]) <= upto and store.lookup_enp(row["enp"]) is not None:
            bad[row["enp"]] = [f"deleted in {row['sequence']} but still served"]
    assert not bad, f"{len(bad)} rows differ after sequence {upto}: {list(bad.items())[:5]}"


def test_full_then_deltas_answer_exactly_the_ground_truth(register: Register, db: Path) -> None:
    reg = register
    assert len(reg.live) > 3000 and len(reg.deleted) >= 30  # the deltas really churn
    assert {r["policy_type"] for r in reg.live} >= {"paper", "digital", "old", "temporary", "card"}
    store = SnapshotStore(db)
    kinds = []
    for upto, f in enumerate(reg.gen.files, start=1):
        res = store.import_file(f, reg.check)
        kinds.append((res.kind, res.sequence))
        assert store.info().sequence == upto
        _check_against_truth(store, reg, upto)
    assert kinds == [
        (SnapshotKind.FULL, 1),
        (SnapshotKind.DELTA, 2),
        (SnapshotKind.DELTA, 3),
        (SnapshotKind.DELTA, 4),
    ]
    info = store.info()
    assert info.region == REGION
    assert info.records == len(reg.live)
    assert info.key_id == reg.gen.key_id
    assert info.created_at == CREATED
    assert info.register_valid_until == CREATED + timedelta(hours=VALID_HOURS)
    assert info.revocations_valid_until == CREATED + timedelta(hours=VALID_HOURS)

    # Exactly the live rows, exactly their aliases: nothing stale is left behind.
    tables = table_dump(db)
    assert sorted(f"{r[0]:016d}" for r in tables["records"]) == sorted(r["enp"] for r in reg.live)
    want_aliases = sorted(
        (int(kind), row[column], int(row["enp"]))
        for row in reg.live
        for kind, column in _ALIAS_COLUMNS
        if row[column]
    )
    assert sorted(tables["aliases"]) == want_aliases

    # Aliases of people deleted by a delta are gone with them.
    deleted = {int(r["enp"]) for r in reg.deleted}
    gone = [(k, n) for k, n, enp in _full_aliases(reg) if enp in deleted]
    assert gone, "the fixture should delete someone who had an old policy or certificate"
    for kind, number in gone:
        assert store.lookup_alias(AliasKind(kind), number) is None


def test_name_hash_confirms_the_person_and_nobody_else(register: Register, db: Path) -> None:
    store = SnapshotStore(db)
    for f in register.gen.files:
        store.import_file(f, register.check)
    key = register.match_key
    rows = register.live[:300]
    for row, other in zip(rows, rows[1:] + rows[:1], strict=True):
        rec = store.lookup_enp(row["enp"])
        assert rec is not None and rec.enp == row["enp"]
        born = date.fromisoformat(row["birth_date"])
        person = (row["surname"], row["given_name"], row["patronymic"])
        assert name_hash.matches(key, rec.name_hash, *person, born)
        assert name_hash.matches(key, rec.name_hash, *(p.lower() for p in person), born)
        assert not name_hash.matches(key, rec.name_hash, *person, born + timedelta(days=1))
        if (other["surname"], other["given_name"], other["patronymic"]) != person:
            assert not name_hash.matches(
                key,
                rec.name_hash,
                other["surname"],
                other["given_name"],
                other["patronymic"],
                born,
            )


def test_import_from_an_unseekable_stream(small_register: Register, db: Path) -> None:
    """Snapshots arrive over a pipe too: the reader never seeks."""
    store = SnapshotStore(db)
    for f in small_register.gen.files:
        r, w = os.pipe()
        data = f.read_bytes()

        def feed(fd: int = w, payload: bytes = data) -> None:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)

        t = threading.Thread(target=feed)
        t.start()
        with os.fdopen(r, "rb") as src:
            res = store.import_stream(src, small_register.check)
        t.join()
        assert res.bytes_read == len(data)
    assert store.info().sequence == 4
    assert store.info().records == len(small_register.live)


def test_import_result_reports_bytes_and_records(small_register: Register, db: Path) -> None:
    store = SnapshotStore(db)
    full = small_register.gen.files[0]
    res = store.import_stream(io.BytesIO(full.read_bytes()), small_register.check)
    assert res.records == 300
    assert res.seconds >= 0
    assert res.bytes_read == full.stat().st_size


def test_ground_truth_of_a_region_whose_okato_starts_with_zero(tmp_path: Path) -> None:
    reg = generate_register(tmp_path / "r03", persons=50, deltas=0, region="03")
    store = SnapshotStore(tmp_path / "db.sqlite3")
    store.import_file(reg.gen.files[0], reg.check)
    row = reg.live[0]
    rec = store.lookup_enp(row["enp"])
    assert rec is not None and rec.okato == row["okato"] == "03000"
