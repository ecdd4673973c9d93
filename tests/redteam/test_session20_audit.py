"""Red team, session 20: the audit writer's multi-row INSERT (``audit.insert_rows``).

The attacks: a group that fails mid-way (a trigger refusing one row, with ABORT, FAIL and
ROLLBACK semantics — ROLLBACK ends the transaction under the writer's feet) must be rolled
back whole, kept, retried, and land once, in order; rows with proofs must be stored exactly
as the one-row path stores them; and a SQLite whose bound-variable limit is the historical
999 (SQLite before 3.32, or a connection limit set lower) must not wedge the writer.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from verifier.service.audit import AuditLog
from verifier.verdict import AnswerSource, Outcome, Verdict

ENP = "5047110881001326"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _verdict(i: int, proof: bytes | None = None) -> Verdict:
    return Verdict(
        outcome=Outcome.UNKNOWN,
        reasons=(),
        message="",
        credential=None,
        checks=(),
        source=AnswerSource.NONE,
        checked_at=T0 + timedelta(microseconds=i),
        proof=proof,
    )


def _proof(i: int) -> bytes:
    return json.dumps(
        {
            "record": {"enp": ENP, "snils": "11223344595"},
            "nonce": f"{i:032d}",
            "signature": "ab" * 32,
        }
    ).encode()


def _stored(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return [tuple(r) for r in db.execute("SELECT id, who, at, proof FROM audit ORDER BY id")]


def _wait_for_failure(log: AuditLog) -> None:
    deadline = time.monotonic() + 30  # a guard against a hang, not a measure
    while log.write_failures == 0:
        assert time.monotonic() < deadline, "the writer never tried the group"
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["ABORT", "FAIL", "ROLLBACK"])
def test_a_group_refused_mid_way_is_kept_and_lands_once_in_order(tmp_path: Path, how: str) -> None:
    """600 rows (chunks 256 + 256 + 64 + 16 + 8); row 400 — in the second chunk — is
    refused until the trigger is dropped. Nothing of the group may be on disk while it is
    refused, and afterwards all 600 once each, ids in submission order."""
    path = tmp_path / "audit.sqlite"
    log = AuditLog(path, commit_rows=10_000, commit_ms=10_000)
    try:
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit WHEN NEW.who = 'w400'"
                f" BEGIN SELECT RAISE({how}, 'disk says no'); END"
            )
        for i in range(600):
            log.submit(_verdict(i, _proof(i) if i % 7 == 0 else None), who=f"w{i}", channel="api")
        assert log.flush(0.5) is False  # the flush asks for the commit now; it fails
        _wait_for_failure(log)
        assert _stored(path) == []  # rolled back whole: no chunk of it committed
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        assert log.flush(30) is True
        rows = _stored(path)
        assert [r[1] for r in rows] == [f"w{i}" for i in range(600)]
        ids = [int(str(r[0])) for r in rows]
        assert ids == sorted(ids) and len(set(ids)) == 600
        assert log.count() == 600
    finally:
        log.close()


def test_rows_with_proofs_are_stored_as_the_one_row_path_stores_them(tmp_path: Path) -> None:
    """The same 300 verdicts (some with a proof holding an ENP and a СНИЛС) through the
    group commit and through ``record`` (one INSERT each): identical columns and proofs,
    the personal numbers masked in both."""
    grouped, single = AuditLog(tmp_path / "g.sqlite"), AuditLog(tmp_path / "s.sqlite")
    try:
        for i in range(300):
            v = _verdict(i, _proof(i) if i % 3 == 0 else None)
            grouped.submit(v, who=f"w{i}", channel="api")
            single.record(v, who=f"w{i}", channel="api")
        assert grouped.flush(30)
        a = list(grouped.iter_range())
        b = list(single.iter_range())
        assert a == b
        proofs = [(grouped.proof(e.id), single.proof(e.id)) for e in a if e.has_proof]
        assert len(proofs) == 100
        for mine, theirs in proofs:
            assert mine == theirs and mine is not None
            assert ENP.encode() not in mine and b"11223344595" not in mine
    finally:
        grouped.close()
        single.close()


def test_a_999_variable_limit_does_not_wedge_the_writer(tmp_path: Path) -> None:
    """SQLite's bound-variable limit was 999 before 3.32 (and a connection may set it lower:
    ``sqlite3_limit``). A 256-row chunk binds 2,816: every group of 91 rows or more fails
    forever ("too many SQL variables"), the writer retries each second, the queue grows to
    MAX_PENDING and every verification then fails with ``audit_unusable``; executemany
    never had a limit. The chunk must fit the connection's own limit."""
    path = tmp_path / "audit.sqlite"
    log = AuditLog(path, commit_rows=10_000, commit_ms=10_000)
    try:
        log._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # as SQLite < 3.32 ships
        for i in range(300):
            log.submit(_verdict(i), who=f"w{i}", channel="api")
        assert log.flush(5) is True, f"writer wedged: {log.write_failures} failed attempts"
        assert [r[1] for r in _stored(path)] == [f"w{i}" for i in range(300)]
    finally:
        log.close()
