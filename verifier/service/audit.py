"""The audit log: every verification — who asked, when, what kind, masked ENP, outcome, source —
appended to SQLite, with the registry's signed answer kept as proof. Pruned by retention.

The database is personal data (who was checked when): it and its ``-wal``/``-shm`` files are
created owner-only (0600) in code, whatever the umask. No column holds a full ENP, a temporary
certificate or an old policy number in clear — see :func:`mask_proof` for the proof blob.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from verifier.identifiers import mask_enp
from verifier.private_files import create_private, tighten
from verifier.safejson import JsonError, loads
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


# Proof fields that are cryptographic material or public codes, never a person's number: kept
# verbatim (masking hex digits of a signature or nonce would only destroy the proof).
_KEEP_KEYS = ("signature", "nonce", "key_id", "hash", "smo_ogrn", "okato", "clinic")
_DIGIT_RUN = re.compile(r"\d{8,}")
_DIGIT_RUN_BYTES = re.compile(rb"\d{8,}")


def _mask_number(number: str) -> str:
    """An ENP as the ``enp_masked`` column shows it; other numbers keep their last 4 only."""
    return mask_enp(number) if len(number) == 16 else "*" * (len(number) - 4) + number[-4:]


def _mask_text(text: str) -> str:
    return _DIGIT_RUN.sub(lambda m: _mask_number(m.group()), text)


def _mask_tree(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {_mask_text(str(k)): _mask_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(v, key) for v in value]
    if any(k in key.lower() for k in _KEEP_KEYS):
        return value
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**7:
        return _mask_number(str(value))  # a number sent as a JSON number is still a number
    return value


def mask_proof(raw: bytes) -> bytes:
    """The registry answer as the audit log keeps it: verbatim except every personal number.

    Why not the answer verbatim: it holds the full ENP (and, for a temporary-certificate or
    old-policy lookup, that number too), and the audit database outlives the visit. Why not
    only a hash of the answer: an unkeyed hash of a record whose ENP has ~10^6 plausible values
    once the region and last digits are known is no protection, and a hash alone proves less.
    So every run of 8+ digits outside the signature, nonce, key ids and public codes (ОГРН,
    ОКАТО, clinic) is masked like ``enp_masked``; the signature, ``answered_at``, the status and
    the rest stay. To re-check the proof, an auditor puts the patient's ENP (known from the
    visit being investigated) back into ``record.enp`` (and the query) and verifies the
    registry's signature over the protocol's signed payload. The signature still lets someone
    holding the database test candidate ENPs one GOST verification each, so the file itself
    stays personal data: owner-only, pruned by retention.

    An answer that does not parse (it was validated before, so this is defensive) is masked
    byte-wise, every digit run included.
    """
    try:
        doc = loads(raw, what="registry answer")
    except JsonError:
        return _DIGIT_RUN_BYTES.sub(lambda m: b"*" * (len(m.group()) - 4) + m.group()[-4:], raw)
    masked = _mask_tree(doc)
    return json.dumps(masked, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
        # Owner-only before SQLite opens it: SQLite gives -wal and -shm the database's mode.
        # Files left 0644 by an older version are tightened too.
        create_private(path)
        for suffix in ("-wal", "-shm"):
            tighten(Path(f"{path}{suffix}"))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA secure_delete=ON")  # pruned rows do not linger in free pages
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
            mask_proof(verdict.proof) if verdict.proof is not None else None,
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
