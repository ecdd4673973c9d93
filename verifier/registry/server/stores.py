"""Where the service looks people up: SQLite (default) or PostgreSQL, behind one interface.

Both are built at startup from the same verified import: the data directory's snapshots are
applied (signatures checked) to a :class:`cache.snapshot_store.SnapshotStore`; the SQLite store
serves from it directly, the PostgreSQL store copies its final records and aliases into its own
tables with COPY. Names for the search endpoint come from ``persons.csv``. Every method is
blocking; the app calls them in a worker thread.

The SQLite files hold names, birth dates and name hashes: they live in a 0700 work dir, are
created 0600, are removed at a clean stop, and a dir left by a killed service (its flock is
free) is removed at the next start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import shutil
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

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
from cache.snapshot_store import SnapshotStore

from .config import ServerConfig
from .data import RegistryData, ServerSetupError, build_snapshot_store, read_names

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("oms.registry.server")


class RegistryStore(Protocol):
    kind: str

    def by_enp(self, enp: str) -> RegisterRecord | None: ...

    def by_alias(self, kind: AliasKind, number: str) -> RegisterRecord | None: ...

    def document_revocations(self, enp: str) -> dict[Carrier, DocumentRevocation | None]:
        """Every carrier of the person: its revocation, or None when it is not revoked."""
        ...

    def search(
        self, surname: str, given_name: str, patronymic: str | None, birth_date: date, limit: int
    ) -> list[RegisterRecord]:
        """Names already normalised (cache.name_hash.normalize_name); at most ``limit``."""
        ...

    def close(self) -> None: ...


def open_store(config: ServerConfig, data: RegistryData) -> RegistryStore:
    if config.store == "postgresql":
        if not config.dsn:
            raise ServerSetupError("the postgresql store needs a DSN (--dsn)", code="bad_argument")
        return PostgresStore.build(
            config.dsn, data, pool_size=config.pg_pool_size, state_dir=config.state_dir
        )
    return SqliteStore.build(data, state_dir=config.state_dir)


WORK_PREFIX = "oms-registry-"
LOCK_FILE = "lock"
_UNLOCKED_GRACE_S = 60.0  # a work dir without a lock this old is a crash before the lock


def _private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 before SQLite opens it (SQLite gives its journal and WAL
    files the database file's mode): it holds names and birth dates."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    return path


def _hold_lock(work: Path) -> int:
    """An flock held for the life of the work dir: the kernel drops it when the process dies,
    SIGKILL included, which is how a later start tells a stale dir from a live one."""
    fd = os.open(work / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_stale_work_dirs(parent: Path) -> list[Path]:
    """Remove work dirs left in ``parent`` by a killed service (their lock is free).

    A live instance holds its lock, so two services sharing a state dir never remove each
    other's files. Only this user's directories with our prefix are looked at.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for d in entries:
        try:
            st = d.lstat()
        except OSError:
            continue
        if (
            not d.name.startswith(WORK_PREFIX)
            or not stat.S_ISDIR(st.st_mode)
            or st.st_uid != os.geteuid()
        ):
            continue
        try:
            fd = os.open(d / LOCK_FILE, os.O_RDWR)
        except FileNotFoundError:
            if time.time() - st.st_mtime < _UNLOCKED_GRACE_S:
                continue  # possibly being created right now
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
            continue
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live service owns it
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
        finally:
            os.close(fd)
    if removed:
        log.warning("removed %d stale registry work dir(s) left by a killed service", len(removed))
    return removed


@contextmanager
def _verified_import(
    data: RegistryData, state_dir: Path | None
) -> Iterator[tuple[Path, SnapshotStore, int]]:
    """A private work directory (0700, locked) holding the verified SnapshotStore; removed
    when the caller says, or here if the import fails. Stale ones are cleaned up first."""
    parent = Path(state_dir) if state_dir is not None else Path(tempfile.gettempdir())
    if state_dir is not None:
        parent.mkdir(parents=True, exist_ok=True)
    remove_stale_work_dirs(parent)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))  # 0700
    lock = -1
    try:
        lock = _hold_lock(work)
        db = _private_file(work / "register.sqlite")
        yield work, build_snapshot_store(data, db), lock
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if lock >= 0:
            os.close(lock)
        raise


# --- SQLite ----------------------------------------------------------------------------------


class SqliteStore:
    """The verified SnapshotStore plus a ``names`` table (a second SQLite file) for search."""

    kind = "sqlite"

    def __init__(
        self, work: Path, snapshots: SnapshotStore, names_path: Path, lock: int = -1
    ) -> None:
        self._work = work
        self._lock_fd = lock
        self._snapshots = snapshots
        self._names_path = names_path
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def build(cls, data: RegistryData, *, state_dir: Path | None = None) -> SqliteStore:
        with _verified_import(data, state_dir) as (work, snapshots, lock):
            names = _private_file(work / "names.sqlite")
            db = sqlite3.connect(names)
            try:
                db.execute(
                    "CREATE TABLE names (surname TEXT NOT NULL, given_name TEXT NOT NULL,"
                    " birth_date TEXT NOT NULL, patronymic TEXT NOT NULL, enp TEXT NOT NULL)"
                )
                db.executemany(
                    "INSERT INTO names VALUES (?, ?, ?, ?, ?)",
                    (
                        (r.surname, r.given_name, r.birth_date.isoformat(), r.patronymic, r.enp)
                        for r in read_names(data.data_dir)
                    ),
                )
                db.execute("CREATE INDEX names_key ON names (surname, given_name, birth_date)")
                db.commit()
            finally:
                db.close()
            return cls(work, snapshots, names, lock)

    def _names(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                f"file:{self._names_path}?mode=ro", uri=True, check_same_thread=False
            )
            self._local.db = db
            with self._lock:
                self._conns.append(db)
        return db

    def by_enp(self, enp: str) -> RegisterRecord | None:
        return self._snapshots.lookup_enp(enp)

    def by_alias(self, kind: AliasKind, number: str) -> RegisterRecord | None:
        return self._snapshots.lookup_alias(kind, number)

    def document_revocations(self, enp: str) -> dict[Carrier, DocumentRevocation | None]:
        return {c: self._snapshots.document_revocation(enp, c) for c in Carrier}

    def search(
        self, surname: str, given_name: str, patronymic: str | None, birth_date: date, limit: int
    ) -> list[RegisterRecord]:
        sql = "SELECT enp FROM names WHERE surname = ? AND given_name = ? AND birth_date = ?"
        params: list[str] = [surname, given_name, birth_date.isoformat()]
        if patronymic is not None:
            sql += " AND patronymic = ?"
            params.append(patronymic)
        out: list[RegisterRecord] = []
        for (enp,) in self._names().execute(sql + " ORDER BY enp", params):
            rec = self._snapshots.lookup_enp(enp)
            if rec is not None:
                out.append(rec)
                if len(out) >= limit:
                    break
        return out

    def close(self) -> None:
        with self._lock:
            for db in self._conns:
                db.close()
            self._conns.clear()
        self._snapshots.close()
        shutil.rmtree(self._work, ignore_errors=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


# --- PostgreSQL --------------------------------------------------------------------------------

_PG_TABLES = """
DROP TABLE IF EXISTS oms_registry_names, oms_registry_aliases, oms_registry_records,
    oms_registry_revoked_docs;
CREATE TABLE oms_registry_records (
    enp char(16) PRIMARY KEY,
    policy_type text NOT NULL,
    status text NOT NULL,
    status_since date,
    smo_ogrn text NOT NULL,
    okato text NOT NULL,
    start_date date,
    end_date date,
    clinic text,
    name_hash bytea NOT NULL
);
CREATE TABLE oms_registry_aliases (
    kind smallint NOT NULL,
    number text NOT NULL,
    enp char(16) NOT NULL,
    PRIMARY KEY (kind, number)
);
CREATE TABLE oms_registry_revoked_docs (
    enp char(16) NOT NULL,
    carrier smallint NOT NULL,
    since date,
    reason smallint NOT NULL,
    PRIMARY KEY (enp, carrier)
);
CREATE TABLE oms_registry_names (
    surname text NOT NULL,
    given_name text NOT NULL,
    birth_date date NOT NULL,
    patronymic text NOT NULL,
    enp char(16) NOT NULL
);
"""
_PG_INDEXES = """
CREATE INDEX oms_registry_names_key ON oms_registry_names (surname, given_name, birth_date);
ANALYZE oms_registry_records;
ANALYZE oms_registry_aliases;
ANALYZE oms_registry_names;
ANALYZE oms_registry_revoked_docs;
"""
_PG_COLUMNS = (
    "enp, policy_type, status, status_since, smo_ogrn, okato, start_date, end_date, clinic,"
    " name_hash"
)
_PG_SELECT = f"SELECT {_PG_COLUMNS} FROM oms_registry_records"  # noqa: S608 - constant column list
_SQLITE_RECORDS = (
    "SELECT enp, ptype, status, since, ogrn, okato, start, end_, clinic, nhash FROM records"
)
# Taken as a whole by every instance that loads, so two loading at once do not interleave.
_PG_LOCK_KEY = 0x0F5_8470


def _pg_row(r: RegisterRecord) -> tuple[Any, ...]:
    return (
        r.enp,
        r.policy_type.name.lower(),
        r.status.name.lower(),
        r.status_since,
        r.smo_ogrn,
        r.okato,
        r.start,
        r.end,
        r.clinic,
        r.name_hash,
    )


def _pg_record(row: tuple[Any, ...]) -> RegisterRecord:
    enp, ptype, status, since, ogrn, okato, start, end, clinic, nhash = row
    return RegisterRecord(
        enp=str(enp),
        policy_type=PolicyType[str(ptype).upper()],
        status=PolicyStatus[str(status).upper()],
        status_since=since,
        smo_ogrn=str(ogrn),
        okato=str(okato),
        start=start,
        end=end,
        clinic=clinic,
        name_hash=bytes(nhash),
    )


class PostgresStore:
    """Tables ``oms_registry_*`` rebuilt at startup; lookups on a small bounded pool."""

    kind = "postgresql"

    def __init__(self, dsn: str, pool_size: int) -> None:
        self._dsn = dsn
        self._size = max(1, pool_size)
        self._idle: queue.LifoQueue[psycopg.Connection[tuple[Any, ...]]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self._size)
        self._closed = False

    @classmethod
    def build(
        cls, dsn: str, data: RegistryData, *, pool_size: int = 8, state_dir: Path | None = None
    ) -> PostgresStore:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ServerSetupError(
                "the postgresql store needs psycopg 3 (pip install 'psycopg[binary]')",
                code="missing_dependency",
            ) from exc
        with _verified_import(data, state_dir) as (work, snapshots, lock):
            try:
                cls._load(psycopg.connect(dsn), snapshots, work / "register.sqlite", data)
            except psycopg.Error as exc:
                raise ServerSetupError(f"cannot load PostgreSQL: {exc}", code="store_load") from exc
            finally:
                snapshots.close()
                shutil.rmtree(work, ignore_errors=True)
            os.close(lock)  # on failure _verified_import closes it
        return cls(dsn, pool_size)

    @staticmethod
    def _load(
        conn: psycopg.Connection[tuple[Any, ...]],
        snapshots: SnapshotStore,
        sqlite_path: Path,
        data: RegistryData,
    ) -> None:
        src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            with conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
                conn.execute(_PG_TABLES)
                with conn.cursor().copy(
                    f"COPY oms_registry_records ({_PG_COLUMNS}) FROM STDIN"
                ) as copy:
                    for row in src.execute(_SQLITE_RECORDS):
                        copy.write_row(_pg_row(RegisterRecord.from_row(row)))
                with conn.cursor().copy(
                    "COPY oms_registry_aliases (kind, number, enp) FROM STDIN"
                ) as copy:
                    for kind, number, enp in src.execute("SELECT kind, number, enp FROM aliases"):
                        copy.write_row((kind, number, f"{enp:016d}"))
                with conn.cursor().copy(
                    "COPY oms_registry_revoked_docs (enp, carrier, since, reason) FROM STDIN"
                ) as copy:
                    for enp, carrier, since, reason in src.execute(
                        "SELECT enp, carrier, since, reason FROM revoked_docs"
                    ):
                        copy.write_row((f"{enp:016d}", carrier, from_days(since), reason))
                with conn.cursor().copy(
                    "COPY oms_registry_names (surname, given_name, birth_date, patronymic, enp)"
                    " FROM STDIN"
                ) as copy:
                    for r in read_names(data.data_dir):
                        copy.write_row((r.surname, r.given_name, r.birth_date, r.patronymic, r.enp))
                conn.execute(_PG_INDEXES)
        finally:
            src.close()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        import psycopg

        if self._closed:
            raise ServerSetupError("the store is closed", code="store_closed")
        self._slots.acquire()
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self._dsn, autocommit=True)
            try:
                yield conn
            except BaseException:
                conn.close()  # state unknown after a failure: never reuse it
                raise
            if conn.closed or self._closed:
                conn.close()
            else:
                self._idle.put(conn)
        finally:
            self._slots.release()

    def _one(self, sql: str, params: tuple[Any, ...]) -> RegisterRecord | None:
        with self._conn() as conn:
            row = conn.execute(sql, params).fetchone()
        return _pg_record(row) if row else None

    def by_enp(self, enp: str) -> RegisterRecord | None:
        return self._one(_PG_SELECT + " WHERE enp = %s", (enp,))

    def by_alias(self, kind: AliasKind, number: str) -> RegisterRecord | None:
        return self._one(
            _PG_SELECT  # noqa: S608 - constant column list; values are %s parameters
            + " WHERE enp = (SELECT enp FROM oms_registry_aliases WHERE kind = %s AND number = %s)",
            (int(kind), number),
        )

    def document_revocations(self, enp: str) -> dict[Carrier, DocumentRevocation | None]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT carrier, since, reason FROM oms_registry_revoked_docs WHERE enp = %s",
                (enp,),
            ).fetchall()
        found = {
            Carrier(c): DocumentRevocation(enp, Carrier(c), since, RevocationReason(r))
            for c, since, r in rows
        }
        return {c: found.get(c) for c in Carrier}

    def search(
        self, surname: str, given_name: str, patronymic: str | None, birth_date: date, limit: int
    ) -> list[RegisterRecord]:
        sql = (
            f"SELECT {', '.join('r.' + c.strip() for c in _PG_COLUMNS.split(','))}"  # noqa: S608 - constant column list; values are %s parameters
            " FROM oms_registry_names n JOIN oms_registry_records r ON r.enp = n.enp"
            " WHERE n.surname = %s AND n.given_name = %s AND n.birth_date = %s"
        )
        params: list[Any] = [surname, given_name, birth_date]
        if patronymic is not None:
            sql += " AND n.patronymic = %s"
            params.append(patronymic)
        sql += " ORDER BY n.enp LIMIT %s"
        params.append(limit)
        with self._conn() as conn:
            rows = conn.execute(sql, tuple(params)).fetchall()
        return [_pg_record(r) for r in rows]

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
