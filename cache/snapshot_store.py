"""The local register store: SQLite (WAL, one file), imports that are invisible until verified.

Import = stream the file into ``stage_*`` tables in committed batches (memory stays flat), verify
the signature over the whole file, then switch in one short transaction (rename for a full
snapshot, merge for a delta). A crash or ``kill -9`` at any point leaves the previous snapshot
serving; leftover stage tables are dropped when the store is next opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from cache.register_model import (
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    RevocationReason,
    from_days,
)
from cache.snapshot_format import (
    Section,
    SnapshotFormatError,
    SnapshotHeader,
    SnapshotKind,
    SnapshotReader,
)
from verifier.errors import OmsError
from verifier.private_files import claim_database_file

# 1: first release. 2: an old series+number may name several people (aliases keyed by
# kind, number and ENP), and an index from name hash to ENP for the person search.
SCHEMA_VERSION = 2
COMMIT_EVERY = 200_000  # rows per staging transaction
LOOKUP_CHUNK = 500  # ENPs per ``IN (...)`` of lookup_many: under any SQLite's variable limit

# A verifier of the snapshot signature: (key_id, digest, signature) -> True/False; raises
# OmsError for an unknown or unusable key.
SignatureCheck = Callable[[str, bytes, bytes], bool]


class SnapshotRefused(OmsError):
    """A snapshot or delta that was not applied; the store still serves what it had."""

    code = "snapshot_refused"


@dataclass(frozen=True, slots=True)
class StoreInfo:
    region: str | None
    sequence: int | None
    created_at: datetime | None
    register_valid_until: datetime | None
    revocations_valid_until: datetime | None
    imported_at: datetime | None
    records: int
    key_id: str | None
    last_sync_at: datetime | None
    clock_skew_s: float | None
    name_key_id: str | None = None  # the key id of the name hashes the records carry

    @property
    def present(self) -> bool:
        return self.sequence is not None


@dataclass(slots=True)
class Prefetch:
    """One batch's view of the store, read in one read transaction: the meta and the records
    of the ENPs asked for (``None``: asked for and not in the store). ``changed`` is set when
    the scope ends and another connection (an import, a sync, another process) committed
    while it was open: the batch then saw the store as it was at its start, and a caller that
    must not answer from that may verify again without the scope."""

    info: StoreInfo
    records: dict[str, RegisterRecord | None] = field(default_factory=dict)
    version: int = 0
    changed: bool = False


class ReadHolder(Protocol):
    """What a thread's lookups may share one read transaction for (the daemon's event loop:
    one step of it; :meth:`SnapshotStore.hold_reads`)."""

    def holding(self) -> bool:
        """True while a step runs, whose end :meth:`at_end` can wait for."""

    def at_end(self, release: Callable[[], None]) -> None:
        """Call ``release`` once the current step is over."""


@dataclass
class _HeldRead:
    """The read transaction :meth:`SnapshotStore.read_one` shares on one thread: its own
    connection, whether it is open, and the meta read for the file's change counter."""

    thread: int
    holder: ReadHolder
    db: sqlite3.Connection | None = None
    open: bool = False
    info: tuple[int, StoreInfo] | None = None
    file: tuple[int, int] | None = None  # (st_dev, st_ino) of the file db was opened on


class _Answering:
    """:meth:`SnapshotStore.answering`'s scope: installed on enter unless one is open."""

    __slots__ = ("_installed", "_local", "_scope")

    def __init__(self, local: threading.local, scope: Prefetch) -> None:
        self._local, self._scope, self._installed = local, scope, False

    def __enter__(self) -> Prefetch:
        if getattr(self._local, "prefetch", None) is None:
            self._local.prefetch = self._scope
            self._installed = True
        return self._scope

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            self._local.prefetch = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    kind: SnapshotKind
    sequence: int
    records: int
    seconds: float
    bytes_read: int


_TABLES = {
    "records": "enp INTEGER PRIMARY KEY, ptype INT, status INT, since INT, ogrn INT, okato INT,"
    " start INT, end_ INT, clinic INT, nhash BLOB",
    "aliases": "kind INT NOT NULL, number TEXT NOT NULL, enp INT NOT NULL,"
    " PRIMARY KEY (kind, number, enp)",
    "deletions": "enp INTEGER PRIMARY KEY",
    "revoked_docs": "enp INT NOT NULL, carrier INT NOT NULL, since INT, reason INT,"
    " PRIMARY KEY (enp, carrier)",
    "revoked_keys": "key_id TEXT PRIMARY KEY",
}
_WITHOUT_ROWID = {"aliases", "revoked_docs", "revoked_keys"}
_LIVE = ("records", "aliases", "revoked_docs", "revoked_keys")
_SECTION_TABLE = {
    Section.RECORDS: "records",
    Section.ALIASES: "aliases",
    Section.DELETIONS: "deletions",
    Section.REVOKED_DOCS: "revoked_docs",
    Section.REVOKED_KEYS: "revoked_keys",
}
_INSERT_COLUMNS = {
    "records": 10,
    "aliases": 3,
    "deletions": 1,
    "revoked_docs": 4,
    "revoked_keys": 1,
}


_NHASH_INDEX = "CREATE INDEX IF NOT EXISTS records_nhash ON records(nhash)"


def _create(name: str, base: str) -> str:
    tail = " WITHOUT ROWID" if base in _WITHOUT_ROWID else ""
    return f"CREATE TABLE IF NOT EXISTS {name} ({_TABLES[base]}){tail}"


def part_meta(head: Any, records: int, imported_at: datetime) -> list[tuple[str, str]]:
    """The meta rows an imported part is described by (regional store and national parts)."""
    return [
        ("region", head.region),
        ("sequence", str(head.sequence)),
        ("created_at", head.created_at.isoformat()),
        ("register_valid_until", head.register_valid_until.isoformat()),
        ("revocations_valid_until", head.revocations_valid_until.isoformat()),
        ("imported_at", imported_at.isoformat()),
        ("records", str(records)),
        ("key_id", head.key_id),
        ("name_key_id", head.name_key_id),
    ]


def open_snapshot_file(path: str | Path) -> IO[bytes]:
    """A snapshot file opened for import; an unreadable one is a typed refusal."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SnapshotRefused(f"cannot open {path}: {exc.strerror}", code="snapshot_io") from exc


def read_document_revocation(
    db: sqlite3.Connection, enp: str, carrier: Carrier
) -> DocumentRevocation | None:
    """The ``revoked_docs`` row of one document (the regional store and a national side db)."""
    row = db.execute(
        "SELECT since, reason FROM revoked_docs WHERE enp = ? AND carrier = ?",
        (int(enp), int(carrier)),
    ).fetchone()
    if row is None:
        return None
    return DocumentRevocation(enp, carrier, from_days(row[0]), RevocationReason(row[1]))


class SnapshotStore:
    """Thread-safe: each thread gets its own read connection; imports serialise on a lock."""

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        # ENPs and name hashes: owner-only from the first byte (SQLite gives -wal/-shm the same).
        try:
            claim_database_file(self.path)
        except OSError as exc:  # a directory, a symlink, a FIFO at the path; no permission
            raise self._unusable(exc.strerror) from exc
        self._clock = clock or (lambda: datetime.now(UTC))
        self._local = threading.local()
        self._held: _HeldRead | None = None  # see hold_reads
        self._write_lock = threading.Lock()
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            raise self._unusable(str(exc)) from exc

    def _unusable(self, why: str | None) -> SnapshotRefused:
        return SnapshotRefused(
            f"register database {self.path} is unusable: {why}; move it aside "
            "and import a snapshot again",
            code="store_unusable",
        )

    def _prepare(self) -> None:
        with self._writer() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            for t in _LIVE:
                db.execute(_create(t, t))
            self._migrate(db)
            db.execute("CREATE INDEX IF NOT EXISTS aliases_enp ON aliases(enp)")
            db.execute(_NHASH_INDEX)
            # Stage tables left by a crashed import are dropped — but only when no import is
            # running in another process (it holds the import lock for its whole run).
            with self._import_lock(block=False) as free:
                if free:
                    self._drop_stage(db)
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Bring a store written by an earlier release to ``SCHEMA_VERSION`` in one transaction."""
        row = db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone()
        version = int(row[0]) if row else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise SnapshotRefused(
                f"register database schema {version} is newer than this release's "
                f"{SCHEMA_VERSION}: upgrade oms-verifier",
                code="store_too_new",
            )
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        if version < 2:
            db.execute("ALTER TABLE aliases RENAME TO aliases_v1")
            db.execute("DROP INDEX IF EXISTS aliases_enp")
            db.execute(_create("aliases", "aliases"))
            db.execute("INSERT INTO aliases SELECT kind, number, enp FROM aliases_v1")
            db.execute("DROP TABLE aliases_v1")
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        db.execute("COMMIT")

    # --- connections ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _import_lock(self, *, block: bool) -> Iterator[bool]:
        """An flock on ``<db>.import.lock``, shared by every process using this store."""
        lock_path = self.path.with_name(self.path.name + ".import.lock")
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(lock_path, flags, 0o600)
        except OSError as exc:  # a directory, a symlink (ELOOP), no permission
            raise self._unusable(f"{lock_path.name}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a socket, a device
            os.close(fd)
            raise self._unusable(f"{lock_path.name} is not a regular file")
        with os.fdopen(fd, "r+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA schema_version").fetchone()  # a corrupt file fails here, typed
        except sqlite3.DatabaseError as exc:
            raise SnapshotRefused(
                f"register database {self.path} is unusable: {exc}; move it aside and import "
                "a snapshot again",
                code="store_unusable",
            ) from exc
        return db

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and not db.in_transaction and self._moved(db, self._local.file):
            db = None
        if db is None:
            db, self._local.file = self._open_reader()  # and the file it reads
            self._local.db = db
            self._local.info = None  # (data_version, StoreInfo) read on this connection
        return db

    def _open_reader(self) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
        """A read-only connection, and the file it was opened on (see :meth:`_moved`)."""
        file = self._file_id()
        db = self._connect()
        db.execute("PRAGMA query_only=ON")
        return db, file

    def _moved(self, db: sqlite3.Connection, file: tuple[int, int] | None) -> bool:
        """Another file has taken the path since ``db`` was opened on ``file`` (moved aside
        and imported again): ``db`` is closed, and the caller opens one on the new file."""
        now = self._file_id()
        if now is None or now == file:
            return False
        with contextlib.suppress(sqlite3.Error):
            db.close()
        return True

    @staticmethod
    def _data_version(db: sqlite3.Connection) -> int:
        """Changes whenever another connection — this process's writer, or another process
        importing — commits to the file; never for this read-only connection's own reads."""
        (version,) = db.execute("PRAGMA data_version").fetchone()
        return int(version)

    class _Writer:
        def __init__(self, store: SnapshotStore) -> None:
            self.store = store
            self.db: sqlite3.Connection | None = None

        def __enter__(self) -> sqlite3.Connection:
            self.store._write_lock.acquire()
            try:
                self.db = self.store._connect()
                self.db.execute("PRAGMA cache_size=-16384")  # 16 MiB: memory stays flat in N
            except BaseException:
                if self.db is not None:
                    self.db.close()
                self.store._write_lock.release()  # else every later writer waits forever
                raise
            return self.db

        def __exit__(self, *exc: object) -> None:
            assert self.db is not None  # noqa: S101 - set by __enter__, which always runs first
            self.db.close()
            self.store._write_lock.release()

    def _writer(self) -> SnapshotStore._Writer:
        return SnapshotStore._Writer(self)

    @staticmethod
    def _drop_stage(db: sqlite3.Connection) -> None:
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'stage_%'"
            )
        ]
        for n in names:
            db.execute(f"DROP TABLE IF EXISTS {n}")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
            self._local.info = None
        held, self._held = self._held, None
        if held is not None and held.db is not None:
            held.open = False
            held.db.close()  # from any thread: a pending release then finds it closed

    # --- meta ----------------------------------------------------------------------------

    def _meta(self, db: sqlite3.Connection | None = None) -> dict[str, str]:
        return dict((db or self._reader()).execute("SELECT k, v FROM meta").fetchall())

    def info(self) -> StoreInfo:
        """The meta of the held snapshot. Read once per change of the file: the parsed info
        is kept per connection with ``PRAGMA data_version`` and read again as soon as any
        other connection has committed (an import or sync here or in another process)."""
        scope: Prefetch | None = getattr(self._local, "prefetch", None)
        if scope is not None:
            return scope.info
        db = self._reader()
        version = self._data_version(db)
        held: tuple[int, StoreInfo] | None = self._local.info
        if held is not None and held[0] == version:
            return held[1]
        info = self._read_info()
        self._local.info = (version, info)
        return info

    def _read_info(self, db: sqlite3.Connection | None = None) -> StoreInfo:
        m = self._meta(db)

        def ts(key: str) -> datetime | None:
            return datetime.fromisoformat(m[key]) if m.get(key) else None

        return StoreInfo(
            region=m.get("region"),
            sequence=int(m["sequence"]) if m.get("sequence") else None,
            created_at=ts("created_at"),
            register_valid_until=ts("register_valid_until"),
            revocations_valid_until=ts("revocations_valid_until"),
            imported_at=ts("imported_at"),
            records=int(m.get("records", "0")),
            key_id=m.get("key_id"),
            last_sync_at=ts("last_sync_at"),
            clock_skew_s=float(m["clock_skew_s"]) if m.get("clock_skew_s") else None,
            name_key_id=m.get("name_key_id") or None,
        )

    def info_for(self, enp: str) -> StoreInfo:
        """One region per store: every ENP's part is the whole snapshot."""
        return self.info()

    def record_sync(self, registry_time: datetime, device_time: datetime | None = None) -> float:
        """Remember the registry's clock at a sync; returns the device clock skew in seconds."""
        device = device_time or self._clock()
        skew = (device - registry_time).total_seconds()
        with self._writer() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("last_sync_at", registry_time.isoformat()), ("clock_skew_s", f"{skew:.3f}")],
            )
            db.execute("COMMIT")
        return skew

    # --- lookups -------------------------------------------------------------------------

    _SELECT = (
        "SELECT enp, ptype, status, since, ogrn, okato, start, end_, clinic, nhash FROM records"
    )

    _SELECT_ONE = _SELECT + " WHERE enp = ?"

    def lookup_enp(self, enp: str) -> RegisterRecord | None:
        scope: Prefetch | None = getattr(self._local, "prefetch", None)
        if scope is not None and enp in scope.records:
            return scope.records[enp]
        if not (len(enp) == 16 and enp.isascii() and enp.isdigit()):
            return None  # no ENP: 16 ASCII digits ("0" + an ENP is not that ENP)
        row = self._reader().execute(self._SELECT + " WHERE enp = ?", (int(enp),)).fetchone()
        return RegisterRecord.from_row(row) if row else None

    # The record and the file's change counter in one statement (one read transaction):
    # a miss still gives the counter (LEFT JOIN from the one-row pragma table).
    _SELECT_VERSIONED = (
        "SELECT v.data_version, r.enp, r.ptype, r.status, r.since, r.ogrn, r.okato, r.start,"
        " r.end_, r.clinic, r.nhash FROM pragma_data_version AS v"
        " LEFT JOIN records AS r ON r.enp = ?"
    )

    def read_one(self, enp: str) -> Prefetch:
        """:meth:`info` and :meth:`lookup_enp` of one ENP, both as of one read of the file,
        as a scope :meth:`answering` can install (the MIS's lookup: one statement where
        there were two, and never a record of one snapshot with the meta of another).

        One statement reads the record and the change counter together; while the counter
        stands, the meta held for it is the meta of that very read. When it has moved (an
        import or sync committed), the meta and the record are read again, together, in one
        read transaction. Inside a scope already open on this thread, the scope answers."""
        scope: Prefetch | None = getattr(self._local, "prefetch", None)
        if scope is not None or not (len(enp) == 16 and enp.isascii() and enp.isdigit()):
            return Prefetch(self.info(), {enp: self.lookup_enp(enp)})
        key = int(enp)
        shared = self._held
        if shared is not None and shared.thread == threading.get_ident():
            if shared.holder.holding():
                return self._read_held(shared, enp, key)
            self._release(shared)  # the step ended without its release (a loop stopped)
        db = self._reader()
        row = db.execute(self._SELECT_VERSIONED, (key,)).fetchone()
        held: tuple[int, StoreInfo] | None = self._local.info
        if held is not None and held[0] == row[0]:
            record = RegisterRecord.from_row(row[1:]) if row[1] is not None else None
            return Prefetch(held[1], {enp: record}, row[0])
        db.execute("BEGIN")
        try:
            version = self._data_version(db)
            info = self._read_info()
            found = db.execute(self._SELECT + " WHERE enp = ?", (key,)).fetchone()
        finally:
            db.execute("COMMIT")
        self._local.info = (version, info)
        return Prefetch(info, {enp: RegisterRecord.from_row(found) if found else None}, version)

    def hold_reads(self, holder: ReadHolder) -> None:
        """From now on, :meth:`read_one` on this thread reads inside one read transaction,
        on a connection of its own, from the first lookup of the holder's step to its end.

        A lookup reads its meta and record in one statement, and each statement outside a
        transaction is a transaction of its own: two file locks, the WAL index read and the
        change counter checked, for every lookup. The daemon's event loop answers many
        lookups in one step (every connection whose request came in); they now share one
        transaction and one change check. What a lookup sees is the file as of the first
        lookup of its step. A commit by another connection (an import, a sync, another
        process) is seen by the next step's lookups once the step's first callbacks have
        run (a callback scheduled before the transaction began runs before its end), and by
        every lookup of the step after it: no answer reads a file older than the previous
        step's start. A connection is opened again when another file has taken the path
        (moved aside and imported again). Outside a step (``holding()`` false) a lookup
        reads as before."""
        self._held = _HeldRead(threading.get_ident(), holder)

    def _read_held(self, held: _HeldRead, enp: str, key: int) -> Prefetch:
        db = held.db
        if db is not None and not held.open and self._moved(db, held.file):
            db = held.db = held.info = None
        if db is None:
            db, held.file = self._open_reader()
            held.db = db
        if not held.open:
            db.execute("BEGIN")
            try:
                version = self._data_version(db)
                if held.info is None or held.info[0] != version:
                    held.info = None  # never the meta of another read
                    held.info = (version, self._read_info(db))
                held.holder.at_end(lambda: self._release(held))
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            held.open = True  # only once its meta is read and its end is scheduled
        known = held.info
        assert known is not None  # noqa: S101 - read when the transaction began
        row = db.execute(self._SELECT_ONE, (key,)).fetchone()
        return Prefetch(known[1], {enp: RegisterRecord.from_row(row) if row else None}, known[0])

    def _file_id(self) -> tuple[int, int] | None:
        """The file at the store's path now (None: none there; the open one is kept)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    @staticmethod
    def _release(held: _HeldRead) -> None:
        """End the held read transaction: a loop callback, so it raises nothing (a closed
        store has nothing to end; a file that fails gets a new connection next step)."""
        if held.open:
            held.open = False
            db = held.db
            assert db is not None  # noqa: S101 - open implies a connection
            try:
                db.execute("COMMIT")
            except sqlite3.ProgrammingError:
                pass  # closed by close()
            except sqlite3.Error:
                held.db, held.info = None, None
                with contextlib.suppress(sqlite3.Error):
                    db.close()

    def answering(self, scope: Prefetch) -> _Answering:
        """A scope on this thread in which :meth:`info` and :meth:`lookup_enp` answer from
        ``scope`` (what :meth:`read_one` read), as in a batch's :meth:`prefetched`; inside a
        scope already open, that one stays."""
        return _Answering(self._local, scope)

    def lookup_many(self, enps: Iterable[str]) -> dict[str, RegisterRecord | None]:
        """:meth:`lookup_enp` of many ENPs in a few queries (``IN`` of ``LOOKUP_CHUNK``):
        every ENP asked for is a key, ``None`` when the store does not hold it. Only ENPs (16
        ASCII digits) are looked up; anything else is left out (lookup_enp answers it)."""
        keys: dict[int, list[str]] = {}
        found: dict[str, RegisterRecord | None] = {}
        for enp in enps:
            if len(enp) == 16 and enp.isascii() and enp.isdigit():
                keys.setdefault(int(enp), []).append(enp)
                found[enp] = None
        db = self._reader()
        ordered = list(keys)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(self._SELECT + f" WHERE enp IN ({marks})", chunk).fetchall()
            for row in rows:
                record = RegisterRecord.from_row(row)
                for enp in keys[row[0]]:
                    found[enp] = record
        return found

    @contextlib.contextmanager
    def prefetched(self, enps: Iterable[str]) -> Iterator[Prefetch]:
        """A batch scope on this thread: :meth:`info` answers the meta read at its start and
        :meth:`lookup_enp` the records of ``enps``, both read in one read transaction (one
        consistent state of the file). Other threads never see the scope; other lookups
        (aliases, revocations) read the file as usual. See :class:`Prefetch` for ``changed``."""
        if getattr(self._local, "prefetch", None) is not None:
            raise RuntimeError("a prefetch scope is already open on this thread")
        db = self._reader()
        db.execute("BEGIN")
        try:
            version = self._data_version(db)
            scope = Prefetch(self._read_info(), self.lookup_many(enps), version)
        finally:
            db.execute("COMMIT")
        self._local.prefetch = scope
        try:
            yield scope
        finally:
            self._local.prefetch = None
            scope.changed = self._data_version(db) != version

    def lookup_alias(self, kind: AliasKind, number: str) -> RegisterRecord | None:
        """The one person with this number; None when nobody or several hold it."""
        found = self.lookup_aliases(kind, number)
        return found[0] if len(found) == 1 else None

    MAX_CANDIDATES = 20

    def lookup_aliases(self, kind: AliasKind, number: str) -> list[RegisterRecord]:
        """Everyone the register lists under this old number (real registers repeat them)."""
        rows = (
            self._reader()
            .execute(
                self._SELECT  # noqa: S608 - constant column list
                + " WHERE enp IN (SELECT enp FROM aliases WHERE kind = ? AND number = ?)"
                + " ORDER BY enp LIMIT ?",
                (int(kind), number, self.MAX_CANDIDATES),
            )
            .fetchall()
        )
        return [RegisterRecord.from_row(r) for r in rows]

    def lookup_name_hash(self, nhash: bytes) -> list[RegisterRecord]:
        """Everyone whose keyed name+birth-date hash is ``nhash`` (the person search)."""
        rows = (
            self._reader()
            .execute(
                self._SELECT + " WHERE nhash = ? ORDER BY enp LIMIT ?", (nhash, self.MAX_CANDIDATES)
            )
            .fetchall()
        )
        return [RegisterRecord.from_row(r) for r in rows]

    def document_revocation(self, enp: str, carrier: Carrier) -> DocumentRevocation | None:
        return read_document_revocation(self._reader(), enp, carrier)

    def key_revoked(self, key_id: str) -> bool:
        row = (
            self._reader()
            .execute("SELECT 1 FROM revoked_keys WHERE key_id = ?", (key_id,))
            .fetchone()
        )
        return row is not None

    # --- import --------------------------------------------------------------------------

    def import_file(
        self, path: str | Path, check_signature: SignatureCheck, *, region: str | None = None
    ) -> ImportResult:
        with open_snapshot_file(path) as f:
            return self.import_stream(f, check_signature, region=region)

    def import_stream(
        self, src: IO[bytes], check_signature: SignatureCheck, *, region: str | None = None
    ) -> ImportResult:
        """Verify and apply one full snapshot or delta; raises :class:`SnapshotRefused`."""
        t0 = time.perf_counter()
        with self._import_lock(block=True), self._writer() as db:
            try:
                reader = SnapshotReader(src)
                head = reader.header
                self._precheck(db, head, region)
                self._drop_stage(db)
                for base in _SECTION_TABLE.values():
                    db.execute(_create(f"stage_{base}", base))
                staged = self._stage(db, reader)
                digest, signature = reader.finish()
                if not check_signature(head.key_id, digest, signature):
                    raise SnapshotRefused(
                        "snapshot signature does not verify", code="snapshot_signature"
                    )
                if head.kind is SnapshotKind.FULL:
                    self._switch_full(db, head, staged)
                else:
                    self._merge_delta(db, head)
            except SnapshotFormatError as exc:
                self._abandon(db)
                raise SnapshotRefused(exc.message, code=exc.code) from exc
            except OmsError as exc:
                self._abandon(db)
                if isinstance(exc, SnapshotRefused):
                    raise
                raise SnapshotRefused(exc.message, code=exc.code) from exc
            except BaseException:
                self._abandon(db)
                raise
        return ImportResult(
            head.kind, head.sequence, staged, time.perf_counter() - t0, reader.bytes_read
        )

    def _abandon(self, db: sqlite3.Connection) -> None:
        if db.in_transaction:
            db.execute("ROLLBACK")
        self._drop_stage(db)

    def _precheck(self, db: sqlite3.Connection, head: SnapshotHeader, region: str | None) -> None:
        m = dict(db.execute("SELECT k, v FROM meta").fetchall())
        held_region = m.get("region")
        want_region = region or held_region
        if want_region is not None and head.region != want_region:
            raise SnapshotRefused(
                f"snapshot is for region {head.region}, this store holds region {want_region}",
                code="snapshot_region",
            )
        held = int(m["sequence"]) if m.get("sequence") else None
        if head.kind is SnapshotKind.FULL:
            if held is not None and head.sequence <= held:
                raise SnapshotRefused(
                    f"snapshot sequence {head.sequence} is not newer than the held {held}",
                    code="snapshot_old",
                )
        else:
            if held is None:
                raise SnapshotRefused("a delta needs a full snapshot first", code="delta_no_base")
            if head.base_sequence != held:
                raise SnapshotRefused(
                    f"delta applies on sequence {head.base_sequence}, store holds {held}",
                    code="delta_base_mismatch",
                )
            if head.sequence <= held:
                raise SnapshotRefused("delta does not advance the sequence", code="snapshot_old")

    def _stage(self, db: sqlite3.Connection, reader: SnapshotReader) -> int:
        pending = 0
        staged = 0
        db.execute("BEGIN")
        for chunk in reader.chunks():
            table = _SECTION_TABLE[chunk.section]
            marks = ",".join("?" * _INSERT_COLUMNS[table])
            try:
                db.executemany(f"INSERT INTO stage_{table} VALUES ({marks})", chunk.rows)  # noqa: S608 - table from _SECTION_TABLE (constants)
            except sqlite3.IntegrityError as exc:
                raise SnapshotFormatError(
                    f"duplicate entry in {chunk.section.value}: {exc}"
                ) from exc
            except OverflowError as exc:  # a u64 field >= 2**63: no register value is that big
                raise SnapshotFormatError(
                    f"value out of range in {chunk.section.value}: {exc}"
                ) from exc
            if chunk.section is Section.RECORDS:
                staged += len(chunk.rows)
            pending += len(chunk.rows)
            if pending >= COMMIT_EVERY:
                db.execute("COMMIT")
                db.execute("BEGIN")
                pending = 0
        db.execute("COMMIT")
        self._check_staged_values(db)
        return staged

    @staticmethod
    def _check_staged_values(db: sqlite3.Connection) -> None:
        """Codes the reader cannot judge per record (cheap in SQL, one scan): a signed file with
        an unknown policy type or status would otherwise break every later lookup of it."""
        bad = db.execute(
            "SELECT enp FROM stage_records WHERE enp < 0 OR enp >= 10000000000000000"  # noqa: S608 - only enum maxima (ints) spliced in
            f" OR ptype NOT BETWEEN 1 AND {max(PolicyType)}"
            f" OR status NOT BETWEEN 1 AND {max(PolicyStatus)} LIMIT 1"
        ).fetchone()
        if bad is None:
            bad = db.execute(
                "SELECT enp FROM stage_aliases WHERE kind NOT IN (1, 2) OR enp >= 10000000000000000"  # noqa: S608 - only enum maxima (ints) spliced in
                " UNION ALL SELECT enp FROM stage_revoked_docs WHERE carrier NOT IN (1, 2)"
                f" OR reason NOT BETWEEN 1 AND {max(RevocationReason)} LIMIT 1"
            ).fetchone()
        if bad is not None:
            raise SnapshotFormatError("snapshot holds a record with an out-of-range value")

    def _new_meta(self, head: SnapshotHeader, records: int) -> list[tuple[str, str]]:
        return [
            *part_meta(head, records, self._clock()),
            ("name_hash", head.name_hash),
        ]

    def _switch_full(self, db: sqlite3.Connection, head: SnapshotHeader, staged: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        for t in _LIVE:
            db.execute(f"DROP TABLE {t}")
            db.execute(f"ALTER TABLE stage_{t} RENAME TO {t}")
        db.execute("CREATE INDEX aliases_enp ON aliases(enp)")
        db.execute(_NHASH_INDEX)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", self._new_meta(head, staged))
        db.execute("COMMIT")
        self._drop_stage(db)

    def _merge_delta(self, db: sqlite3.Connection, head: SnapshotHeader) -> None:
        db.execute("BEGIN IMMEDIATE")
        changed = "SELECT enp FROM stage_records UNION SELECT enp FROM stage_deletions"
        db.execute(f"DELETE FROM aliases WHERE enp IN ({changed})")  # noqa: S608 - a constant subquery
        db.execute("DELETE FROM records WHERE enp IN (SELECT enp FROM stage_deletions)")
        db.execute("INSERT OR REPLACE INTO records SELECT * FROM stage_records")
        db.execute("INSERT OR REPLACE INTO aliases SELECT * FROM stage_aliases")
        db.execute("INSERT OR REPLACE INTO revoked_docs SELECT * FROM stage_revoked_docs")
        db.execute("INSERT OR REPLACE INTO revoked_keys SELECT * FROM stage_revoked_keys")
        (count,) = db.execute("SELECT count(*) FROM records").fetchone()
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", self._new_meta(head, count))
        db.execute("COMMIT")
        self._drop_stage(db)

    # --- maintenance ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        db = self._reader()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        return {"db_bytes": pages * page_size, "records": self.info().records}
