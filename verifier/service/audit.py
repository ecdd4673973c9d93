"""The audit log: every verification — who asked, when, what kind, masked ENP, outcome, source —
appended to SQLite, with the registry's signed answer kept as proof. Pruned by retention.

The database is personal data (who was checked when): it and its ``-wal``/``-shm`` files are
created owner-only (0600) in code, whatever the umask. No column holds a full ENP, a temporary
certificate or an old policy number in clear — see :func:`mask_proof` for the proof blob.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import sqlite3
import threading
import time as _clock
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Final

from verifier.errors import InputError, OmsError
from verifier.identifiers import mask_enp
from verifier.log import get_logger
from verifier.private_files import open_private_database, private_opener
from verifier.safejson import JsonError, loads
from verifier.verdict import Reason, Verdict, checked_text

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
log = get_logger("oms.audit")

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


def _unusable(path: Path, why: str | None) -> AuditStoreError:
    return AuditStoreError(
        f"audit log {path} is unusable ({why}): move it aside; the daemon starts a new one",
        code="audit_unusable",
    )


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


# Group commit (:meth:`AuditLog.submit`): a commit at least every COMMIT_MS milliseconds, or
# as soon as COMMIT_ROWS rows wait. A ``kill -9`` loses at most the rows submitted in the last
# COMMIT_MS ms plus the commit in flight (docs/daemon.md, "Audit durability").
COMMIT_ROWS: Final = 256
COMMIT_MS: Final = 50
# Rows waiting beyond this (the disk stopped taking writes): submit refuses, so a verification
# fails rather than go unaudited, and memory stays bounded.
MAX_PENDING: Final = 50_000

_INSERT: Final = (
    "INSERT INTO audit (at, who, channel, kind, enp_masked, outcome, reasons, source,"
    " answered_at, snapshot_sequence, proof) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
_Row = tuple[Any, ...]
_COLUMN_COUNT: Final = 11
_VALUES: Final = "(" + ",".join("?" * _COLUMN_COUNT) + ")"
# The largest multi-row INSERT: 256 rows x 11 columns, when the connection allows that many
# variables (SQLite's default is 32,766 since 3.32, 999 before; a connection may set less).
_CHUNK_ROWS: Final = 256


@functools.lru_cache(maxsize=16)
def _insert_rows(n: int) -> str:
    """One INSERT of ``n`` rows (``n`` a power of two: a handful of statement texts)."""
    return _INSERT.rpartition(" VALUES ")[0] + " VALUES " + ",".join([_VALUES] * n)


def insert_rows(db: sqlite3.Connection, rows: list[_Row]) -> None:
    """Insert ``rows`` in a few multi-row statements, largest power-of-two chunks first.

    Not ``executemany``: that steps SQLite once per row, releasing and re-taking the GIL
    each time, and a writer thread that needs the GIL back for every row while the event
    loop runs both starves (hundreds of rows a second) and taxes every request. One
    statement per chunk steps once, with the GIL released for the whole chunk."""
    allowed = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _COLUMN_COUNT
    most = max(1, min(_CHUNK_ROWS, allowed))
    most = 1 << (most.bit_length() - 1)  # a power of two: a handful of statement texts
    i = 0
    while i < len(rows):
        left = len(rows) - i
        n = most if left >= most else 1 << (left.bit_length() - 1)
        chunk = rows[i : i + n]
        db.execute(_insert_rows(n), [value for row in chunk for value in row])
        i += n


@functools.lru_cache(maxsize=512)
def _reasons_json(reasons: tuple[str, ...]) -> str:
    """The ``reasons`` column: a verdict's few reason codes come in a few combinations."""
    return json.dumps(list(reasons))


@functools.lru_cache(maxsize=512)
def _reasons_of(reasons: tuple[Reason, ...]) -> str:
    """:func:`_reasons_json` of a verdict's reasons, asked by the tuple itself (no new tuple
    of codes per row)."""
    return _reasons_json(tuple(r._value_ for r in reasons))


_last_iso: list[tuple[datetime, str]] = []  # the snapshot's answered_at: one moment, many rows


def _iso_utc(moment: datetime) -> str:
    """``moment`` as UTC ISO text (a UTC moment as it is, the rest converted); a UTC moment's
    text is the one its verdict's JSON writes next (``checked_text``)."""
    if moment.tzinfo is UTC:
        return checked_text(moment)
    return moment.astimezone(UTC).isoformat()


def _answered_text(moment: datetime) -> str:
    entry = _last_iso[0] if _last_iso else None  # one read: another thread may replace it
    if entry is not None and entry[0] is moment:
        return entry[1]
    text = moment.isoformat()
    _last_iso[:] = [(moment, text)]
    return text


def _row(verdict: Verdict, who: str, channel: str, count: int | None = None) -> _Row:
    c = verdict.credential
    if count is None:
        reasons = _reasons_of(verdict.reasons)
    else:  # one row for a whole batch: how many it checked
        reasons = _reasons_json((*(r._value_ for r in verdict.reasons), f"batch:{count:d}"))
    answered_at = verdict.answered_at
    return (
        # UTC always: the text is what --since/--until and prune compare against.
        _iso_utc(verdict.checked_at),
        who,
        channel,
        c.kind._value_ if c else None,
        mask_enp(c.enp) if c and c.enp else None,
        verdict.outcome._value_,
        reasons,
        verdict.source,
        _answered_text(answered_at) if answered_at else None,
        verdict.snapshot.sequence if verdict.snapshot else None,
        verdict.proof,  # masked by _masked before it is written (on the writer thread)
    )


def _masked(row: _Row) -> _Row:
    """The row as stored: the registry's answer with every personal number masked."""
    proof = row[-1]
    return row if proof is None else (*row[:-1], mask_proof(proof))


class AuditLog:
    def __init__(
        self,
        path: Path,
        retention: timedelta = timedelta(days=90),
        *,
        commit_rows: int = COMMIT_ROWS,
        commit_ms: int = COMMIT_MS,
    ) -> None:
        self.retention = retention
        self.commit_rows = commit_rows
        self.commit_ms = commit_ms
        self._lock = threading.Lock()
        # The group-commit queue: rows submitted, how many were ever queued and committed.
        self._pending: list[_Row] = []
        self._queued = 0
        self._committed = 0
        self._cond = threading.Condition(threading.Lock())
        self._closing = False
        self._flushers = 0
        self._writer: threading.Thread | None = None
        self.write_failures = 0
        # Owner-only before SQLite opens it: SQLite gives -wal and -shm the database's mode.
        # Files left 0644 by an older version are tightened too.
        self._db = open_private_database(path, lambda why: _unusable(path, why))
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA secure_delete=ON")  # pruned rows do not linger in free pages
            _migrate(self._db, path)
        except sqlite3.DatabaseError as exc:  # not a database, corrupt
            self._db.close()
            raise _unusable(path, str(exc)) from exc
        except BaseException:
            self._db.close()
            raise

    def record(self, verdict: Verdict, *, who: str, channel: str) -> int:
        """One row written and committed before returning (its id): for tools and tests. The
        daemon's verifications go through :meth:`submit` (group commit)."""
        self.flush(5.0)  # ids stay in submission order
        with self._lock:
            cur = self._db.execute(_INSERT, _masked(_row(verdict, who, channel)))
            return int(cur.lastrowid or 0)

    def submit(self, verdict: Verdict, *, who: str, channel: str, count: int | None = None) -> None:
        """Queue one row for the writer thread, which commits every ``commit_ms`` or
        ``commit_rows`` rows: one fsync-free WAL commit per group instead of per request.
        ``count``: the row stands for a batch of that many checks. Raises
        :class:`AuditStoreError` (``audit_unusable``) when the disk has stopped taking rows."""
        row = _row(verdict, who, channel, count)
        with self._cond:
            if self._closing:
                raise AuditStoreError("audit log is closed")
            if len(self._pending) >= MAX_PENDING:
                raise AuditStoreError(f"{len(self._pending)} audit rows wait for the disk")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="oms-audit-writer", daemon=True
                )
                self._writer.start()
            self._pending.append(row)
            self._queued += 1
            if len(self._pending) >= self.commit_rows:
                self._cond.notify_all()
            elif len(self._pending) == 1:
                self._cond.notify_all()  # the writer starts this group's clock

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted so far is committed (False: ``timeout`` passed)."""
        with self._cond:
            target = self._queued
            if self._committed >= target:
                return True
            self._flushers += 1
            self._cond.notify_all()  # commit now, do not wait out the window
            try:
                return self._cond.wait_for(lambda: self._committed >= target, timeout)
            finally:
                self._flushers -= 1

    def _write_loop(self) -> None:
        """The writer thread: a group is committed when ``commit_rows`` rows wait, when the
        oldest has waited ``commit_ms``, or at once when someone flushes or closes."""
        window = self.commit_ms / 1000
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return  # closing, nothing left
                deadline = _clock.monotonic() + window
                while not (
                    len(self._pending) >= self.commit_rows or self._closing or self._flushers
                ):
                    left = deadline - _clock.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                group, self._pending = self._pending, []
            try:
                rows = [_masked(r) for r in group]  # off the request path
                with self._lock:
                    self._db.execute("BEGIN")
                    try:
                        insert_rows(self._db, rows)
                        self._db.execute("COMMIT")
                    except BaseException:
                        self._db.execute("ROLLBACK")
                        raise
            except Exception as exc:  # noqa: BLE001 - the writer must outlive any one bad group
                self.write_failures += 1
                log.error("audit rows not written; retrying", rows=len(group), error=str(exc))
                with self._cond:
                    self._pending[:0] = group  # kept in order; retried after a pause
                    if self._closing:
                        return  # close() reports what could not be written
                _clock.sleep(1.0)
                continue
            with self._cond:
                self._committed += len(group)
                self._cond.notify_all()

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        self.flush(5.0)  # read your writes; a stuck disk must not hang a read
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
        self.flush(5.0)  # read your writes; a stuck disk must not hang a read
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
        self.flush(5.0)  # read your writes; a stuck disk must not hang a read
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
        self.flush(5.0)  # read your writes; a stuck disk must not hang a read
        with self._lock:
            row = self._db.execute("SELECT proof FROM audit WHERE id = ?", (entry_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def prune(self, now: datetime | None = None) -> int:
        cutoff = ((now or datetime.now(UTC)) - self.retention).isoformat()
        self.flush(5.0)  # read your writes; a stuck disk must not hang a read
        with self._lock:
            cur = self._db.execute("DELETE FROM audit WHERE at < ?", (cutoff,))
            return cur.rowcount

    def count(self) -> int:
        self.flush(5.0)  # read your writes; a stuck disk must not hang a read
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM audit").fetchone()
        return int(n)

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the database."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join(30)
        with self._cond:
            lost = len(self._pending)
        if lost:
            log.error("audit rows could not be written before close", rows=lost)
        with self._lock:
            self._db.close()


# --- for the admin: ``oms-verifier audit list|export`` ----------------------------------------


class AuditQueryError(InputError):
    code = "bad_audit_query"


def open_existing(path: Path) -> AuditLog:
    """The audit log at ``path`` for reading; refuses (``no_audit``) rather than create an empty
    one where the daemon never wrote — a mistyped ``--state-dir`` should say so."""
    if os.path.lexists(path) and not path.is_file():  # a directory, FIFO or dangling link
        raise _unusable(path, "not a regular file")
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
