"""The group commit's multi-row INSERT: every row, in order, whatever the group's size, in a
few statements (not one SQLite step per row: see ``insert_rows``)."""

from __future__ import annotations

import sqlite3

import pytest

from verifier.service import audit


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(audit._SCHEMA)
    return db


def _rows(n: int) -> list[tuple[object, ...]]:
    return [
        (f"2026-12-01T10:00:{i:06d}", "mis", "api", "manual", f"50******{i:04d}", "valid",
         "[]", "snapshot", None, i, None if i % 3 else b"proof")
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 3, 7, 255, 256, 257, 511, 600, 1000])
def test_every_row_in_order(n: int) -> None:
    db = _db()
    rows = _rows(n)
    audit.insert_rows(db, rows)
    stored = db.execute(
        "SELECT at, who, channel, kind, enp_masked, outcome, reasons, source, answered_at,"
        " snapshot_sequence, proof FROM audit ORDER BY id"
    )
    assert [tuple(r) for r in stored] == rows
    ids = [r[0] for r in db.execute("SELECT id FROM audit ORDER BY id")]
    assert ids == list(range(1, n + 1))


def test_few_statements_for_a_group() -> None:
    """600 rows: 256 + 256 + 64 + 16 + 8 = five statements, not 600 steps."""
    db = _db()
    inserts: list[str] = []
    db.set_trace_callback(lambda sql: inserts.append(sql) if sql.startswith("INSERT") else None)
    audit.insert_rows(db, _rows(600))
    assert len(inserts) == 5
    assert db.execute("SELECT count(*) FROM audit").fetchone() == (600,)


def test_a_bad_row_fails_its_group() -> None:
    """A row SQLite refuses (NOT NULL) raises: the writer rolls the group back and retries."""
    db = _db()
    rows = _rows(10)
    rows[4] = (None, *rows[4][1:])
    db.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError):
        audit.insert_rows(db, rows)
    db.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM audit").fetchone() == (0,)
