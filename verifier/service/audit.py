"""The audit log: every verification — who asked, when, what kind, masked ENP, outcome, source —
appended to SQLite, with the registry's signed answer kept as proof. Pruned by retention.

The database is personal data (who was checked when): it and its ``-wal``/``-shm`` files are
created owner-only (0600) in code, whatever the umask. No column holds a full ENP, a temporary
certificate or an old policy number in clear — see :func:`mask_proof` for the proof blob.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Final

from verifier.errors import InputError, OmsError
from verifier.identifiers import mask_enp
from verifier.private_files import create_private, private_opener, tighten
from verifier.safejson import JsonError, loads
from verifier.verdict import Verdict

# 1: first release (no version recorded: ``PRAGMA user_version`` 0 with an ``audit`` table).
# 2: the version is recorded in ``PRAGMA user_version``, so a later layout can migrate (and an
# older release refuses a newer file instead of writing rows it cannot describe).
SCHEMA_VERSION: Final = 2

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
    if isinstance(value, dict) and isinstance(value.get("number"), str) and "kind" in value:
        # a query or alias: the number is personal whatever its shape ("50М5708594")
        value = {**value, "number": _mask_number(value["number"])}
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


_COLUMNS: Final = (
    "id, at, who, channel, kind, enp_masked, outcome, reasons, source, answered_at,"
    " snapshot_sequence, proof IS NOT NULL"
)


def _entry(r: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9], r[10], bool(r[11])
    )


def _range(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    terms: list[str] = []
    params: list[Any] = []
    if since is not None:
        terms.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if until is not None:
        terms.append("at < ?")
        params.append(until.astimezone(UTC).isoformat())
    return (" WHERE " + " AND ".join(terms) if terms else ""), params


class AuditStoreError(OmsError):
    """An audit database this release cannot use (written by a newer release)."""

    code = "audit_unusable"


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the audit database to ``SCHEMA_VERSION`` in one transaction: a new file gets the
    current layout, one written by an earlier release is migrated step by step."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise AuditStoreError(
            f"audit database {path} has schema {version}, newer than this release's "
            f"{SCHEMA_VERSION}: upgrade oms-verifier",
            code="audit_too_new",
        )
    if version == SCHEMA_VERSION:
        db.executescript(_SCHEMA)  # idempotent: an index added later in the same version
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        # version 0 is a new file or a version-1 file: both get (or already have) the v1 table;
        # v1 → v2 changes no table, it only starts recording the version.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


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
        try:
            _migrate(self._db, path)
        except BaseException:
            self._db.close()
            raise

    def record(self, verdict: Verdict, *, who: str, channel: str) -> int:
        c = verdict.credential
        row = (
            # UTC always: the text is what --since/--until and prune compare against.
            verdict.checked_at.astimezone(UTC).isoformat(),
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
                f"SELECT {_COLUMNS} FROM audit ORDER BY id DESC LIMIT ?",  # noqa: S608 - constant column list
                (limit,),
            ).fetchall()
        return [_entry(r) for r in rows]

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
    ) -> list[AuditEntry]:
        """Entries with ``since <= at < until``, newest first, at most ``limit`` (None: all) —
        what ``audit list`` shows."""
        where, params = _range(since, until)
        sql = f"SELECT {_COLUMNS} FROM audit{where} ORDER BY at DESC, id DESC"  # noqa: S608 - constant columns; _range adds only ? placeholders
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [_entry(r) for r in rows]

    def iter_range(
        self, *, since: datetime | None = None, until: datetime | None = None, batch: int = 1000
    ) -> Iterator[AuditEntry]:
        """Entries with ``since <= at < until``, oldest first, read in batches: an export of a
        whole retention period never holds the table in memory."""
        where, params = _range(since, until)
        after: tuple[str, int] = ("", -1)
        joiner = " AND" if where else " WHERE"
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM audit{where}{joiner} (at, id) > (?, ?)"  # noqa: S608 - constant columns; _range adds only ? placeholders
                    " ORDER BY at, id LIMIT ?",
                    [*params, *after, batch],
                ).fetchall()
            if not rows:
                return
            for r in rows:
                yield _entry(r)
            after = (rows[-1][1], rows[-1][0])

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


# --- for the admin: ``oms-verifier audit list|export`` ----------------------------------------


class AuditQueryError(InputError):
    code = "bad_audit_query"


def open_existing(path: Path) -> AuditLog:
    """The audit log at ``path`` for reading; refuses (``no_audit``) rather than create an empty
    one where the daemon never wrote — a mistyped ``--state-dir`` should say so."""
    if not path.is_file():
        raise AuditQueryError(
            f"журнал проверок не найден: {path} (проверьте --state-dir; журнал создаёт служба "
            "при первой проверке)",
            code="no_audit",
        )
    return AuditLog(path)


def parse_when(text: str, *, end_of_day: bool = False) -> datetime:
    """``--since``/``--until``: an ISO date (``2026-03-01``) or date and time
    (``2026-03-01T09:30``, ``…+03:00``). No offset: the machine's local time, as the admin reads
    a clock. A bare date as ``--until`` (``end_of_day``) includes that whole day."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time())
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise AuditQueryError(
            f"время {value[:40]!r} не в формате ISO (ГГГГ-ММ-ДД или ГГГГ-ММ-ДДTЧЧ:ММ[+ЧЧ:ММ])",
            code="bad_time",
        ) from exc
    return moment if moment.tzinfo is not None else moment.astimezone()


CSV_FIELDS: Final = (
    "id",
    "at",
    "who",
    "channel",
    "kind",
    "enp_masked",
    "outcome",
    "reasons",
    "source",
    "answered_at",
    "snapshot_sequence",
    "has_proof",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: ``who`` comes from token names and device paths,
    and a leading ``=``/``+``/``-``/``@`` would be a formula in Excel or LibreOffice."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def entry_row(e: AuditEntry) -> list[str]:
    return [
        str(e.id),
        _cell(e.at),
        _cell(e.who),
        _cell(e.channel),
        _cell(e.kind),
        _cell(e.enp_masked),
        _cell(e.outcome),
        _cell(";".join(e.reasons)),
        _cell(e.source),
        _cell(e.answered_at),
        "" if e.snapshot_sequence is None else str(e.snapshot_sequence),
        "1" if e.has_proof else "0",
    ]


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "who": e.who,
        "channel": e.channel,
        "kind": e.kind,
        "enp_masked": e.enp_masked,
        "outcome": e.outcome,
        "reasons": e.reasons,
        "source": e.source,
        "answered_at": e.answered_at,
        "snapshot_sequence": e.snapshot_sequence,
        "has_proof": e.has_proof,
    }


def write_csv(entries: Iterator[AuditEntry], out: IO[str]) -> int:
    """Entries as CSV (header first); returns the number of rows. The audit holds only masked
    ENPs (see the module docstring), so the export is masked too — there is nothing to unmask."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    n = 0
    for e in entries:
        w.writerow(entry_row(e))
        n += 1
    return n


def export_csv(
    log: AuditLog, out: Path, *, since: datetime | None, until: datetime | None = None
) -> int:
    """``audit export --out FILE``: the CSV written owner-only (0600) whatever the umask — who
    was checked when is personal data, masked or not. Returns the number of rows."""
    with open(out, "w", encoding="utf-8", newline="", opener=private_opener) as f:
        return write_csv(log.iter_range(since=since, until=until), f)


def audit_path(state_dir: Path) -> Path:
    """Where the daemon keeps the audit log: ``<state-dir>/audit.sqlite3``."""
    return state_dir / "audit.sqlite3"
