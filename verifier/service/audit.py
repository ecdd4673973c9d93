"""The audit log: every verification — who asked, when, what kind, masked ENP, outcome, source —
appended to SQLite, with the registry's signed answer kept as proof. Pruned by retention."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from verifier.identifiers import mask_enp
from verifier.verdict import Verdict

_SCHEMA = """
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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    who: str
    channel: str
    kind: str | None
    enp_masked: str | None
    outcome: str
    reasons: list[str]
    source: str
    answered_at: str | None
    snapshot_sequence: int | None
    has_proof: bool


class AuditLog:
    def __init__(self, path: Path, retention: timedelta = timedelta(days=90)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.retention = retention
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def record(self, verdict: Verdict, *, who: str, channel: str) -> int:
        c = verdict.credential
        row = (
            verdict.checked_at.isoformat(),
            who,
            channel,
            c.kind.value if c else None,
            mask_enp(c.enp) if c and c.enp else None,
            verdict.outcome.value,
            json.dumps([r.value for r in verdict.reasons]),
            verdict.source,
            verdict.answered_at.isoformat() if verdict.answered_at else None,
            verdict.snapshot.sequence if verdict.snapshot else None,
            verdict.proof,
        )
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO audit (at, who, channel, kind, enp_masked, outcome, reasons, source,"
                " answered_at, snapshot_sequence, proof) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, who, channel, kind, enp_masked, outcome, reasons, source,"
                " answered_at, snapshot_sequence, proof IS NOT NULL FROM audit"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            AuditEntry(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                json.loads(r[7]),
                r[8],
                r[9],
                r[10],
                bool(r[11]),
            )
            for r in rows
        ]

    def proof(self, entry_id: int) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT proof FROM audit WHERE id = ?", (entry_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def prune(self, now: datetime | None = None) -> int:
        cutoff = ((now or datetime.now(UTC)) - self.retention).isoformat()
        with self._lock:
            cur = self._db.execute("DELETE FROM audit WHERE at < ?", (cutoff,))
            return cur.rowcount

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM audit").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
