"""The audit database's schema version: a file written by the previous release (no version
recorded) is migrated in place and keeps its rows; a file from a newer release is refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from verifier.service.audit import SCHEMA_VERSION, AuditLog, AuditStoreError

# The layout release 1 wrote (verifier/service/audit.py before schema versions), verbatim.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT,
    enp_masked TEXT,
    outcome TEXT NOT NULL,
    reasons TEXT NOT NULL,
    source TEXT NOT NULL,
    answered_at TEXT,
    snapshot_sequence INTEGER,
    proof BLOB
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""


def _write_v1(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO audit (at, who, channel, kind, enp_masked, outcome, reasons, source,"
        " answered_at, snapshot_sequence, proof) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            "2026-03-01T09:30:00+00:00",
            "desk-1",
            "api",
            "manual",
            "50**********1235",
            "valid",
            json.dumps([]),
            "snapshot",
            "2026-03-01T09:00:00+00:00",
            7,
            b'{"signature":"00"}',
        ),
    )
    db.close()


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_a_new_audit_database_records_the_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    AuditLog(db).close()
    assert _user_version(db) == SCHEMA_VERSION == 2


def test_a_database_of_the_previous_release_is_migrated_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    db = tmp_path / "audit.sqlite3"
    _write_v1(db)
    assert _user_version(db) == 0  # what release 1 left: no version recorded
    log = AuditLog(db)
    try:
        (entry,) = log.recent()
        assert (entry.who, entry.outcome, entry.enp_masked, entry.snapshot_sequence) == (
            "desk-1",
            "valid",
            "50**********1235",
            7,
        )
        assert entry.has_proof and log.proof(entry.id) == b'{"signature":"00"}'
        assert log.count() == 1
    finally:
        log.close()
    assert _user_version(db) == SCHEMA_VERSION
    AuditLog(db).close()  # opening a migrated file again changes nothing
    assert _user_version(db) == SCHEMA_VERSION


def test_a_database_of_a_newer_release_is_refused_not_written(tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    _write_v1(db)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(AuditStoreError) as err:
        AuditLog(db)
    assert err.value.code == "audit_too_new"
    assert str(SCHEMA_VERSION + 1) in err.value.message
    assert _user_version(db) == SCHEMA_VERSION + 1
