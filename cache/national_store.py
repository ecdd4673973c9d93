"""The national register store: one memory-mapped signed part per region, a SQLite side file each.

Layout of the store directory (docs/national.md)::

    MANIFEST.json                 which part file and side database serve each region
    part-RR-SSSSSS.omsnat         the signed national part, byte for byte as published
    part-RR-SSSSSS.sqlite3        side database: records that do not fit the columns, delta
                                  changes (an overlay consulted before the mapped columns),
                                  aliases without a compact code, revoked documents and keys,
                                  and the region's sequence, valid-until and import time
    import.lock, sync.json

A full part is imported by copying it beside the live files while hashing (the signature is
checked on the stream), validating the columns in bounded chunks, building its side database,
fsyncing both and then renaming a new manifest over the old one: a crash or ``kill -9`` at any
moment leaves the previous manifest, hence the previous files, serving. A delta (the ordinary
snapshot format, one region) is applied inside one SQLite transaction of that region's side
database and committed only after its signature checks out. Readers notice a new manifest or a
committed delta within ``refresh_s`` (one ``stat`` and one ``PRAGMA data_version`` per region).

Memory stays flat in N: the columns are mapped, not loaded; only the overlay's ENP set (the
records changed since the last full part) lives in the heap.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import mmap
import os
import re
import sqlite3
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from cache import national_format as nf
from cache.register_model import (
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    RevocationReason,
)
from cache.snapshot_format import RECORD as EXC_RECORD
from cache.snapshot_format import (
    REVOKED_DOC,
    SIG_MAGIC,
    Section,
    SnapshotFormatError,
    SnapshotKind,
    SnapshotReader,
    unpack_alias,
)
from cache.snapshot_store import (
    ImportResult,
    SignatureCheck,
    SnapshotRefused,
    StoreInfo,
    open_snapshot_file,
    part_meta,
    read_document_revocation,
)
from verifier.errors import OmsError
from verifier.identifiers import okato_text
from verifier.private_files import create_private, private_opener, tighten

MANIFEST = "MANIFEST.json"
COPY_CHUNK = 4 << 20
CHECK_ROWS = 1 << 20
MAX_DELTA_ROWS = 5_000_000
REFRESH_S = 0.5
_monotonic = time.monotonic
_PART_RE = re.compile(r"^part-(\d\d)-(\d{6,19})\.(omsnat|sqlite3)$")
_LOW_MASK = (1 << nf.ENP_SHIFT) - 1
_ROW_MASK = (1 << nf.ROW_BITS) - 1
_TYPES: list[PolicyType | None] = [None] + [PolicyType(i) for i in range(1, 8)]
_STATUSES: list[PolicyStatus | None] = [None] + [PolicyStatus(i) for i in range(1, 6)] + [None] * 2

_SIDE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)",
    "CREATE TABLE IF NOT EXISTS records (enp INTEGER PRIMARY KEY, ptype INT, status INT,"
    " since INT, ogrn INT, okato INT, start INT, end_ INT, clinic INT, nhash BLOB,"
    " deleted INT NOT NULL, inbase INT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_nhash ON records(nhash)",
    "CREATE TABLE IF NOT EXISTS aliases (kind INT NOT NULL, number TEXT NOT NULL,"
    " enp INT NOT NULL, PRIMARY KEY (kind, number, enp)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS aliases_enp ON aliases(enp)",
    "CREATE TABLE IF NOT EXISTS revoked_docs (enp INT NOT NULL, carrier INT NOT NULL,"
    " since INT, reason INT, PRIMARY KEY (enp, carrier)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS revoked_keys (key_id TEXT PRIMARY KEY) WITHOUT ROWID",
)


def _record_builder() -> Callable[..., RegisterRecord]:
    """RegisterRecord without the frozen dataclass ``__init__`` (ten guarded setattr calls,
    two thirds of a lookup): the slot descriptors set the same fields directly."""
    new = object.__new__
    s_enp, s_t, s_st, s_since, s_ogrn, s_okato, s_start, s_end, s_clinic, s_hash = (
        getattr(RegisterRecord, f).__set__ for f in RegisterRecord.__slots__
    )

    def build(
        enp: str,
        ptype: PolicyType | None,
        status: PolicyStatus | None,
        since: Any,
        ogrn: str,
        okato: str,
        start: Any,
        end: Any,
        clinic: str | None,
        nhash: bytes,
    ) -> RegisterRecord:
        r: RegisterRecord = new(RegisterRecord)
        s_enp(r, enp)
        s_t(r, ptype)
        s_st(r, status)
        s_since(r, since)
        s_ogrn(r, ogrn)
        s_okato(r, okato)
        s_start(r, start)
        s_end(r, end)
        s_clinic(r, clinic)
        s_hash(r, nhash)
        return r

    return build


_build_record = _record_builder()


_MADV_POPULATE_READ = 22  # Linux 5.14+; not in the mmap module of Python 3.11
_PREFAULT_CHUNK = 64 << 20
_LOOKUP_COLUMNS = ("NDHI", "NDST", "NKEY", "NPAY", "NHSH", "NALI")


def _libc_madvise() -> Callable[[int, int, int], int] | None:
    """libc ``madvise`` through ctypes, which releases the GIL while the kernel works (the
    mmap module's ``madvise`` holds it: lookups would stall behind a populate)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return,unused-ignore]


def prefault(parts: list[_Part]) -> int:
    """Map the lookup columns' pages into this process ahead of the first lookups.

    A fresh mapping pays a page fault on the first touch of every page (the first pass
    over 146 M records had a p99 of 38 µs, mostly minor faults). ``MADV_WILLNEED`` starts
    reading a file that is not in the page cache; ``MADV_POPULATE_READ`` then fills the page
    tables, in 64 MB steps. Run in a background thread: lookups proceed meanwhile. Returns the
    bytes populated (0 where the kernel lacks it: lookups still work, just fault as before).
    """
    madvise = _libc_madvise()
    done = 0
    for part in parts:
        with contextlib.suppress(ValueError, OSError):
            part.mm.madvise(mmap.MADV_WILLNEED)
        if madvise is None:
            continue
        base = np.frombuffer(part.mm, np.uint8)  # holds the map open while we work
        addr = int(base.ctypes.data)
        lay = part.head.layout()
        for tag in _LOOKUP_COLUMNS:
            off, length = lay[tag]
            start = off & ~(mmap.PAGESIZE - 1)
            end = off + length
            for a in range(start, end, _PREFAULT_CHUNK):
                n = min(_PREFAULT_CHUNK, end - a)
                if madvise(addr + a, n, _MADV_POPULATE_READ) != 0:
                    break  # EINVAL before Linux 5.14: nothing more to gain here
                done += n
    return done


class NationalStoreError(SnapshotRefused):
    code = "national_store"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA busy_timeout=30000")
        if readonly:
            db.execute("PRAGMA query_only=ON")
        db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise NationalStoreError(
            f"national side database {path.name} is unusable: {exc}", code="store_unusable"
        ) from exc
    return db


# --- one mapped part ---------------------------------------------------------------------------


class _Part:
    """One region's mapped columns plus what the side database says; immutable once built."""

    def __init__(self, root: Path, region: str, entry: dict[str, Any]) -> None:
        self.region = region
        self.file = str(entry["file"])
        self.side_file = str(entry["side"])
        self.side_path = root / self.side_file
        with open(root / self.file, "rb") as f:
            head, _ = nf.read_header(f)
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.head = head
        lay = head.layout()
        view = memoryview(self.mm)

        def col(tag: str, fmt: str | None) -> memoryview:
            off, length = lay[tag]
            v = view[off : off + length]
            return v.cast(fmt) if fmt else v  # type: ignore[call-overload]

        self.dhi = col("NDHI", "I")
        self.dst = col("NDST", "I")
        self.keys = col("NKEY", "I")
        self.ndir = col("NNDR", "I")
        self.ali = col("NALI", "Q")
        self.pay_off = lay["NPAY"][0]
        self.hsh_off = lay["NHSH"][0]
        self.nix_off = lay["NNIX"][0]
        self.width = head.index_width
        self.n = head.records
        self.n_dir = len(self.dhi)
        self.name_bits = head.name_bits
        okato_cache: dict[int, str] = {}
        self.attach: list[tuple[str, str, str | None]] = []
        off, length = lay["NATT"]
        for ogrn, okato, clinic, _ in nf.ATTACH.iter_unpack(self.mm[off : off + length]):
            ok = okato_cache.setdefault(okato, okato_text(okato))
            self.attach.append((str(ogrn) if ogrn else "", ok, f"{clinic:06d}" if clinic else None))
        self.prefix = int(region) * nf.ENP_MOD
        self._watch = _connect(self.side_path, readonly=True)
        self._watch_lock = threading.Lock()
        self.version = -1
        self.side_keys: frozenset[int] = frozenset()
        self.side_alias: dict[tuple[int, str], list[int]] = {}
        self.meta: dict[str, str] = {}
        self.revoked_keys: frozenset[str] = frozenset()
        self.reload_side()

    def side_changed(self) -> bool:
        with self._watch_lock:
            (v,) = self._watch.execute("PRAGMA data_version").fetchone()
        return bool(v != self.version)

    def reload_side(self) -> None:
        with self._watch_lock:
            db = self._watch
            db.execute("BEGIN")
            try:
                (v,) = db.execute("PRAGMA data_version").fetchone()
                keys = frozenset(r[0] for r in db.execute("SELECT enp FROM records"))
                alias: dict[tuple[int, str], list[int]] = {}
                for k, num, e in db.execute("SELECT * FROM aliases ORDER BY enp"):
                    alias.setdefault((k, num), []).append(e)
                meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
                rk = frozenset(r[0] for r in db.execute("SELECT key_id FROM revoked_keys"))
            finally:
                db.execute("COMMIT")
        # One assignment each: a concurrent lookup sees the old or the new set, never half.
        self.side_keys, self.side_alias, self.meta, self.revoked_keys = keys, alias, meta, rk
        self.version = v

    def make_finder(
        self, side: Callable[[_Part, int], RegisterRecord | None]
    ) -> Callable[[str], RegisterRecord | None]:
        """The lookup of a 16-digit ENP of this region as one closure over local names.

        Two method calls fewer than ``base_row`` + ``decode``; every column, table and constant
        is a closure cell and the record is built straight through the slot descriptors.
        (Measured: within noise of the method version on Python 3.11 — a random lookup is
        dominated by the three cache/TLB misses into the key, payload and hash columns.)
        ``side_keys`` is read from the part each call (a reload swaps it in one assignment).
        """
        part = self
        dhi, dst, keys, mm = self.dhi, self.dst, self.keys, self.mm
        n_dir, prefix, attach = self.n_dir, self.prefix, self.attach
        pay_off, hsh_off = self.pay_off, self.hsh_off
        width = nf.PAYLOAD_WIDTH
        shift, abits = nf.ENP_SHIFT, nf.KEY_ATTACH_BITS
        low_mask = _LOW_MASK
        dates, types, statuses = nf._DATES, _TYPES, _STATUSES
        from_bytes = int.from_bytes
        new = object.__new__
        cls = RegisterRecord
        s_enp, s_t, s_st, s_since, s_ogrn, s_okato, s_start, s_end, s_clinic, s_hash = (
            getattr(RegisterRecord, f).__set__ for f in RegisterRecord.__slots__
        )

        def find(enp: str) -> RegisterRecord | None:
            e = int(enp)
            if e in part.side_keys:
                return side(part, e)
            v = e - prefix
            hi = v >> shift
            i = bisect_left(dhi, hi)
            if i == n_dir or dhi[i] != hi:
                return None
            up = dst[i + 1]
            low = v & low_mask
            j = bisect_left(keys, low << abits, dst[i], up)
            if j == up:
                return None
            k = keys[j]
            if k >> abits != low:
                return None
            o = pay_off + j * width
            p = from_bytes(mm[o : o + width], "little")
            ogrn, okato, clinic = attach[(p & 31) << 9 | (k & 511)]
            h = hsh_off + (j << 3)
            r: RegisterRecord = new(cls)
            s_enp(r, enp)
            s_t(r, types[p >> 5 & 7])  # validated at import: never None
            s_st(r, statuses[p >> 8 & 7])
            s_since(r, dates[p >> 11 & 0x7FFF])
            s_ogrn(r, ogrn)
            s_okato(r, okato)
            s_start(r, dates[p >> 26 & 0x7FFF])
            s_end(r, dates[p >> 41 & 0x7FFF])
            s_clinic(r, clinic)
            s_hash(r, mm[h : h + 8])
            return r

        return find

    # --- base columns --------------------------------------------------------------------

    def base_row(self, v: int) -> int:
        """Row of ENP value ``v`` (ENP mod 10^14) in the columns, or -1."""
        hi = v >> nf.ENP_SHIFT
        i = bisect_left(self.dhi, hi)
        if i == self.n_dir or self.dhi[i] != hi:
            return -1
        up = self.dst[i + 1]
        low = v & _LOW_MASK
        j = bisect_left(self.keys, low << nf.KEY_ATTACH_BITS, self.dst[i], up)
        if j == up or self.keys[j] >> nf.KEY_ATTACH_BITS != low:
            return -1
        return j

    def row_enp(self, j: int) -> str:
        i = bisect_right(self.dst, j) - 1
        v = self.dhi[i] << nf.ENP_SHIFT | self.keys[j] >> nf.KEY_ATTACH_BITS
        return f"{self.region}{v:014d}"

    def decode(self, j: int, enp: str) -> RegisterRecord:
        o = self.pay_off + j * nf.PAYLOAD_WIDTH
        p = int.from_bytes(self.mm[o : o + nf.PAYLOAD_WIDTH], "little")
        ogrn, okato, clinic = self.attach[(p & 31) << 9 | (self.keys[j] & 511)]
        h = self.hsh_off + j * 8
        dates = nf._DATES
        return _build_record(
            enp,
            _TYPES[p >> 5 & 7],  # validated at import: never None
            _STATUSES[p >> 8 & 7],
            dates[p >> 11 & 0x7FFF],
            ogrn,
            okato,
            dates[p >> 26 & 0x7FFF],
            dates[p >> 41 & 0x7FFF],
            clinic,
            self.mm[h : h + 8],
        )

    def name_rows(self, h: bytes) -> list[int]:
        value = int.from_bytes(h, "big")
        b = value >> (64 - self.name_bits) if self.name_bits else 0
        lo, hi = self.ndir[b], self.ndir[b + 1]
        w, base = self.width, self.nix_off
        mm = self.mm

        def row(pos: int) -> int:
            return int.from_bytes(mm[base + pos * w : base + pos * w + w], "little")

        def hash_at(pos: int) -> int:
            r = row(pos)
            return int.from_bytes(mm[self.hsh_off + r * 8 : self.hsh_off + r * 8 + 8], "big")

        while lo < hi:  # first position whose hash >= value
            mid = (lo + hi) // 2
            if hash_at(mid) < value:
                lo = mid + 1
            else:
                hi = mid
        out = []
        while lo < self.n and hash_at(lo) == value:
            out.append(row(lo))
            lo += 1
        return out


# --- the store ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartStatus:
    region: str
    info: StoreInfo


class NationalStore:
    """Thread-safe reads (mapped columns, per-thread side connections); imports serialise on
    an flock shared by every process using the directory.

    ``prefault_maps``: populate each newly mapped part's lookup columns in a background
    thread (:func:`prefault`) — for processes that serve lookups, not for importers."""

    def __init__(
        self,
        root: str | Path,
        *,
        clock: Callable[[], datetime] | None = None,
        refresh_s: float = REFRESH_S,
        prefault_maps: bool = False,
    ) -> None:
        self.root = Path(root)
        self._prefault = prefault_maps
        self._prefaulting: list[threading.Thread] = []
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._refresh_s = refresh_s
        self._parts: dict[str, _Part] = {}
        self._finders: dict[str, Callable[[str], RegisterRecord | None]] = {}
        self._manifest_stamp: tuple[int, int, int] | None = None
        self._next_check = 0.0
        self._refresh_lock = threading.Lock()
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._refresh(force=True)

    # --- manifest and refresh ------------------------------------------------------------

    def _read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {"version": 1, "generation": 0, "parts": {}}
        except (OSError, ValueError) as exc:
            raise NationalStoreError(
                f"national manifest unreadable: {exc}", code="store_unusable"
            ) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("parts"), dict):
            raise NationalStoreError("national manifest malformed", code="store_unusable")
        return doc

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.root / MANIFEST)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self, *, force: bool = False) -> None:
        if not self._refresh_lock.acquire(blocking=force):
            return  # another thread is refreshing; serve what is mapped
        try:
            self._next_check = time.monotonic() + self._refresh_s
            stamp = self._stamp()
            if force or stamp != self._manifest_stamp:
                doc = self._read_manifest()
                parts: dict[str, _Part] = {}
                fresh: list[_Part] = []
                for region, entry in doc["parts"].items():
                    old = self._parts.get(region)
                    if old is not None and old.file == entry.get("file"):
                        parts[region] = old
                    else:
                        parts[region] = _Part(self.root, region, entry)
                        fresh.append(parts[region])
                if fresh and self._prefault:
                    th = threading.Thread(
                        target=prefault, args=(fresh,), name="national-prefault", daemon=True
                    )
                    th.start()
                    self._prefaulting.append(th)
                self._parts = parts
                self._finders = {r: p.make_finder(self._side_record) for r, p in parts.items()}
                self._manifest_stamp = stamp
                self._generation = int(doc.get("generation", 0))
            for p in self._parts.values():
                if p.side_changed():
                    p.reload_side()
        finally:
            self._refresh_lock.release()

    def wait_prefault(self, timeout: float | None = None) -> bool:
        """Wait for the background prefault of newly mapped parts (bench, tests); True when
        none is running any more."""
        for th in list(self._prefaulting):
            th.join(timeout)
        self._prefaulting = [t for t in self._prefaulting if t.is_alive()]
        return not self._prefaulting

    def _fresh_parts(self) -> dict[str, _Part]:
        if time.monotonic() >= self._next_check:
            self._refresh()
        return self._parts

    def _side(self, part: _Part) -> sqlite3.Connection:
        conns: dict[str, sqlite3.Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        db = conns.get(part.side_file)
        if db is None:
            db = conns[part.side_file] = _connect(part.side_path, readonly=True)
        return db

    def close(self) -> None:
        conns: dict[str, sqlite3.Connection] | None = getattr(self._local, "conns", None)
        for db in (conns or {}).values():
            db.close()
        self._local.conns = {}

    # --- RegisterView --------------------------------------------------------------------

    _SELECT = (
        "SELECT enp, ptype, status, since, ogrn, okato, start, end_, clinic, nhash, deleted"
        " FROM records WHERE enp = ?"
    )

    def lookup_enp(self, enp: str) -> RegisterRecord | None:
        """ENP → record: the overlay first, then a bisect over the region's mapped columns
        (one per-region closure, :meth:`_Part.make_finder`)."""
        if _monotonic() >= self._next_check:
            self._refresh()
        find = self._finders.get(enp[:2])
        if find is None or len(enp) != 16 or not enp.isdigit() or not enp.isascii():
            return None
        return find(enp)

    def _side_record(self, p: _Part, e: int) -> RegisterRecord | None:
        row = self._side(p).execute(self._SELECT, (e,)).fetchone()
        if row is None:  # the overlay set is older than the database: ask the columns
            j = p.base_row(e - p.prefix)
            return None if j < 0 else p.decode(j, f"{e:016d}")
        if row[10]:
            return None
        return RegisterRecord.from_row(row[:10])

    MAX_CANDIDATES = 20

    def lookup_alias(self, kind: AliasKind, number: str) -> RegisterRecord | None:
        found = self.lookup_aliases(kind, number)
        return found[0] if found else None

    def lookup_aliases(self, kind: AliasKind, number: str) -> list[RegisterRecord]:
        """Everyone listed under this number, every region (old numbers can repeat)."""
        parts = self._fresh_parts()
        out: dict[str, RegisterRecord] = {}
        for p in parts.values():
            for e in p.side_alias.get((int(kind), number), ()):
                rec = self.lookup_enp(f"{e:016d}")
                if rec is not None:
                    out[rec.enp] = rec
        code = nf.alias_code(int(kind), number)
        if code is not None:
            target = code << nf.ROW_BITS
            for p in parts.values():
                j = bisect_left(p.ali, target)
                while j < len(p.ali) and p.ali[j] >> nf.ROW_BITS == code:
                    row = p.ali[j] & _ROW_MASK
                    j += 1
                    enp = p.row_enp(row)
                    if int(enp) not in p.side_keys:  # else the overlay's aliases rule
                        out[enp] = p.decode(row, enp)
        return [out[e] for e in sorted(out)][: self.MAX_CANDIDATES]

    def lookup_name_hash(self, nhash: bytes) -> list[RegisterRecord]:
        """Everyone whose keyed name+birth-date hash is ``nhash`` (the person search)."""
        found = [self.lookup_enp(e) for e in self.find_by_name_hash(nhash)]
        return [r for r in found if r is not None][: self.MAX_CANDIDATES]

    def document_revocation(self, enp: str, carrier: Carrier) -> DocumentRevocation | None:
        p = self._fresh_parts().get(enp[:2])
        if p is None or not enp.isdigit():
            return None
        return read_document_revocation(self._side(p), enp, carrier)

    def key_revoked(self, key_id: str) -> bool:
        return any(key_id in p.revoked_keys for p in self._fresh_parts().values())

    def find_by_name_hash(self, h: bytes) -> list[str]:
        """ENPs whose record carries name hash ``h`` (person search), every region."""
        out: list[str] = []
        for p in self._fresh_parts().values():
            for row in p.name_rows(h):
                enp = p.row_enp(row)
                if int(enp) not in p.side_keys:
                    out.append(enp)
            for (e,) in self._side(p).execute(
                "SELECT enp FROM records WHERE nhash = ? AND deleted = 0", (h,)
            ):
                out.append(f"{e:016d}")
        return sorted(out)

    # --- freshness -----------------------------------------------------------------------

    def regions(self) -> list[str]:
        return sorted(self._fresh_parts())

    def region_info(self, region: str) -> StoreInfo:
        """Freshness of one region's part: its own sequence and valid-until."""
        p = self._fresh_parts().get(region)
        sync = self._sync()
        if p is None:
            return StoreInfo(region, None, None, None, None, None, 0, None, *sync)
        m = p.meta

        def ts(key: str) -> datetime | None:
            return datetime.fromisoformat(m[key]) if m.get(key) else None

        return StoreInfo(
            region=region,
            sequence=int(m["sequence"]),
            created_at=ts("created_at"),
            register_valid_until=ts("register_valid_until"),
            revocations_valid_until=ts("revocations_valid_until"),
            imported_at=ts("imported_at"),
            records=int(m.get("records", "0")),
            key_id=m.get("key_id"),
            last_sync_at=sync[0],
            clock_skew_s=sync[1],
            name_key_id=m.get("name_key_id") or None,
        )

    def info_for(self, enp: str) -> StoreInfo:
        return self.region_info(enp[:2])

    def info(self) -> StoreInfo:
        """All regions at once, conservatively: the oldest creation, the earliest valid-until.

        ``sequence`` is the manifest generation (it changes with every full part switch).
        """
        infos = [self.region_info(r) for r in self.regions()]
        sync = self._sync()
        if not infos:
            return StoreInfo(None, None, None, None, None, None, 0, None, *sync)
        keys = {i.name_key_id for i in infos}

        def least(values: list[datetime | None]) -> datetime | None:
            present = [v for v in values if v is not None]
            return min(present) if len(present) == len(values) else None

        return StoreInfo(
            region=None,
            sequence=self._generation,
            created_at=least([i.created_at for i in infos]),
            register_valid_until=least([i.register_valid_until for i in infos]),
            revocations_valid_until=least([i.revocations_valid_until for i in infos]),
            imported_at=max((i.imported_at for i in infos if i.imported_at), default=None),
            records=sum(i.records for i in infos),
            key_id=infos[0].key_id,
            last_sync_at=sync[0],
            clock_skew_s=sync[1],
            name_key_id=keys.pop() if len(keys) == 1 else None,
        )

    def parts_status(self) -> list[PartStatus]:
        return [PartStatus(r, self.region_info(r)) for r in self.regions()]

    def _sync(self) -> tuple[datetime | None, float | None]:
        try:
            doc = json.loads((self.root / "sync.json").read_bytes())
            return datetime.fromisoformat(doc["last_sync_at"]), float(doc["clock_skew_s"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, None

    def record_sync(self, registry_time: datetime, device_time: datetime | None = None) -> float:
        device = device_time or self._clock()
        skew = (device - registry_time).total_seconds()
        body = json.dumps({"last_sync_at": registry_time.isoformat(), "clock_skew_s": skew})
        self._atomic_write(self.root / "sync.json", body.encode())
        return skew

    def stats(self) -> dict[str, Any]:
        total = sum(f.stat().st_size for f in self.root.iterdir() if _PART_RE.match(f.name))
        return {"db_bytes": total, "records": self.info().records}

    # --- import --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _import_lock(self) -> Iterator[None]:
        with self._write_lock, open(self.root / "import.lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def import_file(
        self, path: str | Path, check_signature: SignatureCheck, *, region: str | None = None
    ) -> ImportResult:
        """A national part (full, one region) or a regional delta, by the file's magic."""
        with open_snapshot_file(path) as f:
            magic = f.read(len(nf.MAGIC))
            f.seek(0)
            if magic == nf.MAGIC:
                return self.import_part(f, check_signature)
            return self.import_delta(f, check_signature)

    def import_dir(self, path: str | Path, check_signature: SignatureCheck) -> list[ImportResult]:
        """Every region's part (when newer than held), then its deltas in sequence order."""
        d = Path(path)
        results = []
        for part in sorted(d.glob("part-*.omsnat")):
            m = _PART_RE.match(part.name)
            if m is None:
                continue
            held = self.region_info(m.group(1)).sequence
            if held is None or int(m.group(2)) > held:
                results.append(self.import_file(part, check_signature))
        deltas = []
        for f in d.glob("delta-*.omssnap"):
            bits = f.stem.split("-")
            if len(bits) == 3 and bits[1].isdigit() and bits[2].isdigit():
                deltas.append((bits[1], int(bits[2]), f))
        for region, seq, f in sorted(deltas):
            held = self.region_info(region).sequence
            if held is not None and seq > held:
                results.append(self.import_file(f, check_signature))
        return results

    def import_part(self, src: IO[bytes], check_signature: SignatureCheck) -> ImportResult:
        t0 = time.perf_counter()
        with self._import_lock():
            try:
                head, first = nf.read_header(src)
            except SnapshotRefused:
                raise
            except OmsError as exc:
                raise SnapshotRefused(exc.message, code=exc.code) from exc
            if any(first[len(nf.MAGIC) + 4 + len(head.to_json()) :]):
                raise SnapshotRefused(
                    "national part header padding is not zero", code="bad_snapshot"
                )
            doc = self._read_manifest()
            held = self._held_sequence(doc, head.region)
            if held is not None and head.sequence <= held:
                raise SnapshotRefused(
                    f"part {head.region} sequence {head.sequence} is not newer than the held "
                    f"{held}",
                    code="snapshot_old",
                )
            self._sweep(doc)
            stem = f"part-{head.region}-{head.sequence:06d}"
            data_path = self.root / (stem + ".omsnat")
            side_path = self.root / (stem + ".sqlite3")
            try:
                read = self._copy_verified(src, head, first, data_path, check_signature)
                self._validate(data_path, head)
                self._build_side(side_path, data_path, head)
                doc = self._read_manifest()
                doc["generation"] = int(doc.get("generation", 0)) + 1
                doc["parts"][head.region] = {"file": data_path.name, "side": side_path.name}
                self._atomic_write(self.root / MANIFEST, json.dumps(doc, indent=1).encode())
            except BaseException as exc:
                for p in (data_path, side_path):
                    with contextlib.suppress(OSError):
                        p.unlink()
                if isinstance(exc, SnapshotRefused):
                    raise
                if isinstance(exc, OmsError):
                    raise SnapshotRefused(exc.message, code=exc.code) from exc
                raise
            self._sweep(doc)
        self._refresh(force=True)
        return ImportResult(
            SnapshotKind.FULL, head.sequence, head.records, time.perf_counter() - t0, read
        )

    @staticmethod
    def _held_sequence(doc: dict[str, Any], region: str) -> int | None:
        entry = doc["parts"].get(region)
        if entry is None:
            return None
        m = _PART_RE.match(str(entry.get("file", "")))
        return int(m.group(2)) if m else None

    def _sweep(self, doc: dict[str, Any]) -> None:
        """Remove part files no manifest entry names: leftovers of a crash or replaced parts."""
        live = set()
        for e in doc["parts"].values():
            live.update({str(e.get("file")), str(e.get("side"))})
        for f in self.root.iterdir():
            base = f.name.split(".sqlite3")[0] + ".sqlite3" if ".sqlite3" in f.name else f.name
            if (_PART_RE.match(base) or f.name.endswith(".tmp")) and base not in live:
                with contextlib.suppress(OSError):
                    f.unlink()

    def _copy_verified(
        self,
        src: IO[bytes],
        head: nf.PartHeader,
        first: bytes,
        dest: Path,
        check_signature: SignatureCheck,
    ) -> int:
        """Copy exactly the announced bytes while hashing; the signature decides at the end."""
        from verifier.crypto import hashes

        total = head.layout()["total"][0]
        h = hashes.new(hashes.STREEBOG256)
        with open(dest, "wb", opener=private_opener) as out:
            h.update(first)
            out.write(first)
            left = total - len(first)
            while left:
                chunk = src.read(min(COPY_CHUNK, left))
                if not chunk:
                    raise SnapshotRefused(
                        f"national part ends {left} bytes early", code="snapshot_truncated"
                    )
                h.update(chunk)
                out.write(chunk)
                left -= len(chunk)
            trailer = src.read(6)
            if len(trailer) < 6 or trailer[:4] != SIG_MAGIC:
                raise SnapshotRefused(
                    "national part signature block missing", code="snapshot_unsigned"
                )
            n = int.from_bytes(trailer[4:6], "little")
            if n not in (64, 128):
                raise SnapshotRefused("signature is not GOST R 34.10-2012", code="bad_snapshot")
            sig = src.read(n)
            if len(sig) != n:
                raise SnapshotRefused(
                    "national part ends inside its signature", code="snapshot_truncated"
                )
            if src.read(1):
                raise SnapshotRefused("trailing bytes after the signature", code="bad_snapshot")
            out.write(trailer + sig)
            out.flush()
            os.fsync(out.fileno())
        try:
            ok = check_signature(head.key_id, h.digest(), sig)
        except SnapshotRefused:
            raise
        except OmsError as exc:
            raise SnapshotRefused(exc.message, code=exc.code) from exc
        if not ok:
            raise SnapshotRefused(
                f"national part {head.region} signature does not verify", code="snapshot_signature"
            )
        return total + 6 + n

    def _validate(self, path: Path, head: nf.PartHeader) -> None:
        """Every value a lookup relies on, checked in bounded chunks (vectorised)."""
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # closed by GC: arrays share it
        if True:
            with memoryview(mm) as view:
                nf.check_frame(view, head)
            lay = head.layout()
            n = head.records

            def arr(tag: str, dtype: str) -> np.ndarray[Any, Any]:
                off, length = lay[tag]
                return np.frombuffer(
                    mm, dtype=dtype, count=length // np.dtype(dtype).itemsize, offset=off
                )

            try:
                att = arr("NATT", "<u8").reshape(-1, 3)
                if att.size and np.any(att[:, 2] >> np.uint64(32) != 0):
                    raise SnapshotFormatError("attachment entry reserved bytes are not zero")
                dhi = arr("NDHI", "<u4").astype(np.int64)
                dst = arr("NDST", "<u4").astype(np.int64)
                if len(dhi) and (
                    np.any(np.diff(dhi) <= 0) or dhi[-1] > (nf.ENP_MOD - 1) >> nf.ENP_SHIFT
                ):
                    raise SnapshotFormatError("ENP directory not ascending or out of range")
                if (
                    dst[0] != 0
                    or dst[-1] != n
                    or np.any(np.diff(dst) <= 0 if len(dhi) else dst != 0)
                ):
                    raise SnapshotFormatError("ENP directory offsets are wrong")
                keys = arr("NKEY", "<u4")
                pay_off = lay["NPAY"][0]
                nix_off = lay["NNIX"][0]
                last = -1
                for a in range(0, n, CHECK_ROWS):
                    b = min(n, a + CHECK_ROWS)
                    rows = np.arange(a, b)
                    bucket = np.searchsorted(dst, rows, side="right") - 1
                    k = keys[a:b].astype(np.int64)
                    v = dhi[bucket] << nf.ENP_SHIFT | k >> nf.KEY_ATTACH_BITS
                    if v[0] <= last or np.any(np.diff(v) <= 0) or v[-1] >= nf.ENP_MOD:
                        raise SnapshotFormatError("records are not in strictly ascending ENP order")
                    last = int(v[-1])
                    raw = np.frombuffer(mm, np.uint8, (b - a) * 7, pay_off + a * 7).reshape(-1, 7)
                    p8 = np.zeros((b - a, 8), np.uint8)
                    p8[:, :7] = raw
                    p = p8.view("<u8").ravel()
                    ptype = p >> np.uint64(5) & np.uint64(7)
                    status = p >> np.uint64(8) & np.uint64(7)
                    attach = (p & np.uint64(31)) << np.uint64(9) | (k & 511).astype(np.uint64)
                    if (
                        np.any(ptype == 0)
                        or np.any(status == 0)
                        or np.any(status > 5)
                        or np.any(attach >= np.uint64(len(att)))
                    ):
                        raise SnapshotFormatError("record with an out-of-range code")
                    w = head.index_width
                    ix = np.zeros((b - a, 4), np.uint8)
                    ix[:, :w] = np.frombuffer(mm, np.uint8, (b - a) * w, nix_off + a * w).reshape(
                        -1, w
                    )
                    if np.any(ix.view("<u4").ravel() >= n):
                        raise SnapshotFormatError("name index points past the records")
                ndir = arr("NNDR", "<u4").astype(np.int64)
                if ndir[0] != 0 or ndir[-1] != n or np.any(np.diff(ndir) < 0):
                    raise SnapshotFormatError("name index directory is wrong")
                ali = arr("NALI", "<u8")
                if len(ali) and (
                    np.any(ali[1:] <= ali[:-1])
                    or np.any((ali & np.uint64(_ROW_MASK)) >= np.uint64(n))
                ):
                    raise SnapshotFormatError(
                        "alias column not ascending or points past the records"
                    )
            except (ValueError, IndexError) as exc:  # numpy on a malformed buffer
                raise SnapshotFormatError(f"national part columns are malformed: {exc}") from exc

    def _build_side(self, side_path: Path, data_path: Path, head: nf.PartHeader) -> None:
        with contextlib.suppress(FileNotFoundError):
            side_path.unlink()
        create_private(side_path)
        for suffix in ("-wal", "-shm"):
            tighten(Path(f"{side_path}{suffix}"))
        db = _connect(side_path, readonly=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            for stmt in _SIDE_SCHEMA:
                db.execute(stmt)
            db.execute("BEGIN")
            with (
                open(data_path, "rb") as f,
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm,
            ):
                lay = head.layout()
                prefix = int(head.region) * nf.ENP_MOD

                def body(tag: str) -> bytes:
                    off, length = lay[tag]
                    return mm[off : off + length]

                exc_rows = [
                    (*_checked_record(r, prefix), 0, 0)
                    for r in EXC_RECORD.iter_unpack(body("RECS"))
                ]
                db.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", exc_rows)
                aliases = []
                for raw in _var_records(body("ALIA")):
                    kind, number, enp = unpack_alias(raw)
                    _same_region(enp, prefix)
                    aliases.append((kind, number, enp))
                db.executemany("INSERT INTO aliases VALUES (?,?,?)", aliases)
                revs = [_checked_rev(r, prefix) for r in REVOKED_DOC.iter_unpack(body("REVP"))]
                db.executemany("INSERT OR REPLACE INTO revoked_docs VALUES (?,?,?,?)", revs)
                rkeys = []
                for raw in _var_records(body("REVK")):
                    try:
                        rkeys.append((raw.decode("ascii"),))
                    except UnicodeDecodeError:
                        raise SnapshotFormatError("revoked key id is not ASCII") from None
                db.executemany("INSERT OR IGNORE INTO revoked_keys VALUES (?)", rkeys)
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                self._meta(head, head.records + len(exc_rows)),
            )
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.IntegrityError as exc:
            raise SnapshotFormatError(f"duplicate entry in a national part: {exc}") from exc
        finally:
            db.close()

    def _meta(self, head: Any, records: int) -> list[tuple[str, str]]:
        return part_meta(head, records, self._clock())

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb", opener=private_opener) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    # --- deltas --------------------------------------------------------------------------

    def import_delta(self, src: IO[bytes], check_signature: SignatureCheck) -> ImportResult:
        """One region's delta, streamed into that region's side database inside one
        transaction that commits only once the signature checks out."""
        t0 = time.perf_counter()
        with self._import_lock():
            try:
                reader = SnapshotReader(src)
            except OmsError as exc:
                raise SnapshotRefused(exc.message, code=exc.code) from exc
            head = reader.header
            self._refresh(force=True)
            part = self._parts.get(head.region)
            if head.kind is not SnapshotKind.DELTA:
                raise SnapshotRefused(
                    "a national store takes national parts and regional deltas",
                    code="snapshot_kind",
                )
            if part is None:
                raise SnapshotRefused(
                    f"a delta for region {head.region} needs its national part first",
                    code="delta_no_base",
                )
            held = int(part.meta["sequence"])
            if head.base_sequence != held:
                raise SnapshotRefused(
                    f"delta applies on sequence {head.base_sequence}, region {head.region} "
                    f"holds {held}",
                    code="delta_base_mismatch",
                )
            if head.sequence <= held:
                raise SnapshotRefused("delta does not advance the sequence", code="snapshot_old")
            if sum(head.counts.values()) > MAX_DELTA_ROWS:
                raise SnapshotRefused("delta too large; import a full part", code="delta_too_large")
            db = _connect(part.side_path, readonly=False)
            try:
                db.execute("PRAGMA synchronous=FULL")
                db.execute("BEGIN IMMEDIATE")
                staged = self._stream_delta(db, reader, part)
                digest, sig = reader.finish()
                try:
                    ok = check_signature(head.key_id, digest, sig)
                except OmsError as exc:
                    raise SnapshotRefused(exc.message, code=exc.code) from exc
                if not ok:
                    raise SnapshotRefused(
                        "delta signature does not verify", code="snapshot_signature"
                    )
                (added,) = db.execute(
                    "SELECT count(*) FROM records WHERE deleted = 0 AND inbase = 0"
                ).fetchone()
                (gone,) = db.execute(
                    "SELECT count(*) FROM records WHERE deleted = 1 AND inbase = 1"
                ).fetchone()
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    self._meta(head, part.n + added - gone),
                )
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, SnapshotRefused):
                    raise
                if isinstance(exc, OmsError):
                    raise SnapshotRefused(exc.message, code=exc.code) from exc
                if isinstance(exc, (sqlite3.IntegrityError, OverflowError)):
                    raise SnapshotRefused(
                        f"delta entry rejected: {exc}", code="bad_snapshot"
                    ) from exc
                raise
            finally:
                db.close()
        self._refresh(force=True)
        return ImportResult(
            SnapshotKind.DELTA, head.sequence, staged, time.perf_counter() - t0, reader.bytes_read
        )

    def _stream_delta(self, db: sqlite3.Connection, reader: SnapshotReader, part: _Part) -> int:
        staged = 0
        prefix = part.prefix
        for chunk in reader.chunks():
            if chunk.section is Section.RECORDS:
                rows = []
                for r in chunk.rows:
                    rec = _checked_record(r, prefix)
                    inbase = 1 if part.base_row(rec[0] - prefix) >= 0 else 0
                    rows.append((*rec, 0, inbase))
                db.executemany("DELETE FROM aliases WHERE enp = ?", [(r[0],) for r in rows])
                db.executemany(
                    "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows
                )
                staged += len(rows)
            elif chunk.section is Section.ALIASES:
                for _, _, enp in chunk.rows:
                    _same_region(enp, prefix)
                db.executemany("INSERT OR REPLACE INTO aliases VALUES (?,?,?)", chunk.rows)
            elif chunk.section is Section.DELETIONS:
                tomb = []
                for (enp,) in chunk.rows:
                    _same_region(enp, prefix)
                    inbase = 1 if part.base_row(enp - prefix) >= 0 else 0
                    tomb.append((enp, 0, 0, 0, 0, 0, 0, 0, 0, b"", 1, inbase))
                db.executemany("DELETE FROM aliases WHERE enp = ?", [(t[0],) for t in tomb])
                db.executemany(
                    "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", tomb
                )
            elif chunk.section is Section.REVOKED_DOCS:
                revs = [_checked_rev(r, prefix) for r in chunk.rows]
                db.executemany("INSERT OR REPLACE INTO revoked_docs VALUES (?,?,?,?)", revs)
            elif chunk.section is Section.REVOKED_KEYS:
                db.executemany("INSERT OR IGNORE INTO revoked_keys VALUES (?)", chunk.rows)
        return staged


def _same_region(enp: int, prefix: int) -> None:
    if not prefix <= enp < prefix + nf.ENP_MOD:
        raise SnapshotFormatError("an entry of another region in a regional part")


def _checked_record(r: tuple[Any, ...], prefix: int) -> tuple[Any, ...]:
    enp, ptype, status = r[0], r[1], r[2]
    _same_region(enp, prefix)
    if not 1 <= ptype <= max(PolicyType) or not 1 <= status <= max(PolicyStatus):
        raise SnapshotFormatError("snapshot holds a record with an out-of-range value")
    if r[4] >= 1 << 63 or r[5] >= 1 << 63:
        raise SnapshotFormatError("snapshot holds a record with an out-of-range value")
    return (*r[:9], bytes(r[9]))


def _checked_rev(r: tuple[Any, ...], prefix: int) -> tuple[Any, ...]:
    enp, carrier, _since, reason = r
    _same_region(enp, prefix)
    if carrier not in (1, 2) or not 1 <= reason <= max(RevocationReason):
        raise SnapshotFormatError("revoked document with an out-of-range value")
    return r


def _var_records(body: bytes) -> Iterator[bytes]:
    i = 0
    while i < len(body):
        if i + 2 > len(body):
            raise SnapshotFormatError("variable section ends inside a length")
        n = int.from_bytes(body[i : i + 2], "little")
        if i + 2 + n > len(body):
            raise SnapshotFormatError("variable section ends inside a record")
        yield body[i + 2 : i + 2 + n]
        i += 2 + n


def is_national_dir(path: str | Path) -> bool:
    """A generator or registry directory holding national parts."""
    return any(Path(path).glob("part-*.omsnat"))
