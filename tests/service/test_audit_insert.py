"""The group commit's multi-row INSERT: every row, in order, whatever the group's size, in a
few statements (not one SQLite step per row: see ``insert_rows``)."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from verifier import config
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.errors import InputError
from verifier.identifiers import mask_enp
from verifier.pipeline import unrecognized_verdict
from verifier.service import audit
from verifier.service.assembly import assemble


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


def _old_row(verdict: Any, who: str, channel: str, count: int | None = None) -> tuple[Any, ...]:
    """The row as the previous release built it, verbatim: the oracle for _row."""
    c = verdict.credential
    reasons = tuple(r.value for r in verdict.reasons)
    if count is not None:
        reasons += (f"batch:{count:d}",)
    return (
        verdict.checked_at.astimezone(UTC).isoformat(),
        who,
        channel,
        c.kind.value if c else None,
        mask_enp(c.enp) if c and c.enp else None,
        verdict.outcome.value,
        json.dumps(list(reasons)),
        verdict.source,
        verdict.answered_at.isoformat() if verdict.answered_at else None,
        verdict.snapshot.sequence if verdict.snapshot else None,
        verdict.proof,
    )


def test_rows_are_what_the_previous_release_wrote(tmp_path: Path) -> None:
    state = demo.ensure_demo(config.load(None, tmp_path), persons=60)
    parts = assemble(state.cfg)
    try:
        with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
            enps = [r["enp"] for r in csv.DictReader(f)]
        items = [CredentialInput(e.encode(), source="api:t", manual=True) for e in enps]
        items += [CredentialInput(b"0000000000000000", source="api:t", manual=True)]
        verdicts = [parts.pipeline.verify(i, mode=LookupMode.OFFLINE) for i in items]
        verdicts.append(unrecognized_verdict(items[0], InputError("x"), datetime.now(UTC)))
        moscow = timezone(timedelta(hours=3))
        verdicts.append(replace(verdicts[0], checked_at=verdicts[0].checked_at.astimezone(moscow)))
        assert len({v.outcome for v in verdicts}) >= 3
        for v in verdicts:
            for count in (None, 7):
                assert audit._row(v, "mis", "api", count) == _old_row(v, "mis", "api", count)
    finally:
        parts.close()
