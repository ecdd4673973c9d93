"""The reference registry producing the national files from its own tables.

``oms-verifier registry export-national`` reads the register rows (PostgreSQL's
``oms_registry_*`` tables, or the verified SQLite store for parity) and writes into
``<data>/national/`` what ``/v1/national/{name}`` serves and desks import:

* ``part-RR-SSSSSS.omsnat`` — one signed national part per region, every record of it
  (cache/national_format.py, the format's one writer);
* ``delta-RR-SSSSSS.omssnap`` (``--since-sequence S``) — per region, only the records changed
  since export ``S``: present ones as records (with all their aliases and revocations),
  vanished ones as deletions; base sequence ``S``;
* ``manifest.json`` — every file with its region, kind, sequence and base, for the sync.

Change tracking (PostgreSQL): triggers on the three register tables append each touched ENP
to ``oms_registry_changes`` with a number from the sequence ``oms_registry_change_seq``. An
export takes the tables in SHARE mode (writers wait; in-flight writes commit first), draws its
own number from that sequence — the sequence of every file it writes — and reads. So a change
is either in this export or has a larger number than it, never lost between two exports. The
triggers are installed by the first export; a delta since an export older than the change log
(the service reloads its tables at startup, which drops them) is refused: export full parts.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cache import name_hash
from cache import national_format as nf
from cache.register_model import (
    Alias,
    AliasKind,
    Carrier,
    DocumentRevocation,
    RegisterRecord,
    RevocationReason,
    from_days,
)
from cache.snapshot_format import (
    DELETION,
    Section,
    SnapshotHeader,
    SnapshotKind,
    SnapshotWriter,
    pack_alias,
    pack_record,
    pack_revoked_doc,
    section_counts,
)
from verifier.crypto.keys import PrivateKey
from verifier.crypto.signatures import sign_digest
from verifier.errors import OmsError
from verifier.identifiers import okato_text
from verifier.private_files import private_opener
from verifier.safejson import loads_object

if TYPE_CHECKING:
    import psycopg

MANIFEST = "manifest.json"
MAX_MANIFEST = 4 << 20


class ExportError(OmsError):
    """The registry tables cannot be exported as asked."""

    code = "national_export"


@dataclass(frozen=True, slots=True)
class ExportedFile:
    name: str
    region: str
    kind: str  # "part" | "delta"
    sequence: int
    base_sequence: int | None
    records: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "kind": self.kind,
            "sequence": self.sequence,
            "base_sequence": self.base_sequence,
            "records": self.records,
            "size": self.size,
        }


class RegisterSource(Protocol):
    """What an export reads; one consistent view for the whole export."""

    def sequence(self) -> int:
        """The number of this export (every file it writes carries it)."""
        ...

    def regions(self) -> list[str]: ...

    def records(self, region: str) -> Iterator[RegisterRecord]: ...

    def aliases(self, region: str) -> Iterator[Alias]: ...

    def revocations(self, region: str) -> Iterator[DocumentRevocation]: ...

    def revoked_keys(self) -> list[str]: ...

    def changed(self, since: int) -> dict[str, list[str]]:
        """ENPs touched after export ``since``, by region (raises when unknown)."""
        ...

    def records_of(self, enps: list[str]) -> list[RegisterRecord]: ...

    def aliases_of(self, enps: list[str]) -> list[Alias]: ...

    def revocations_of(self, enps: list[str]) -> list[DocumentRevocation]: ...


# --- PostgreSQL --------------------------------------------------------------------------------

_CHANGE_LOG = """
CREATE SEQUENCE IF NOT EXISTS oms_registry_change_seq;
CREATE TABLE IF NOT EXISTS oms_registry_changes (
    seq bigint NOT NULL DEFAULT nextval('oms_registry_change_seq'),
    enp char(16) NOT NULL
);
CREATE INDEX IF NOT EXISTS oms_registry_changes_seq ON oms_registry_changes (seq);
CREATE TABLE IF NOT EXISTS oms_registry_export_meta (k text PRIMARY KEY, v text NOT NULL);
CREATE OR REPLACE FUNCTION oms_registry_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO oms_registry_changes (enp) VALUES (OLD.enp);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO oms_registry_changes (enp) VALUES (NEW.enp);
    END IF;
    RETURN NULL;
END $$;
"""
_LOGGED = ("oms_registry_records", "oms_registry_aliases", "oms_registry_revoked_docs")
_PG_RECORD_COLUMNS = (
    "enp, policy_type, status, status_since, smo_ogrn, okato, start_date, end_date, clinic,"
    " name_hash"
)


class PostgresSource:
    """The ``oms_registry_*`` tables inside one transaction holding them in SHARE mode."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn
        self._seq: int | None = None
        self._log_start: int | None = None

    @classmethod
    @contextmanager
    def open(cls, dsn: str) -> Iterator[PostgresSource]:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ExportError(
                "exporting from PostgreSQL needs psycopg 3", code="missing_dependency"
            ) from exc
        try:
            conn = psycopg.connect(dsn)
        except psycopg.Error as exc:
            raise ExportError(f"cannot connect to PostgreSQL: {exc}", code="store_load") from exc
        try:
            with conn.transaction():
                src = cls(conn)
                src._begin()
                yield src
        except psycopg.Error as exc:
            raise ExportError(f"PostgreSQL export failed: {exc}", code="store_load") from exc
        finally:
            conn.close()

    def _begin(self) -> None:
        c = self._conn
        c.execute(f"LOCK TABLE {', '.join(_LOGGED)} IN SHARE MODE")
        c.execute(_CHANGE_LOG)
        installed = {
            r[0]
            for r in c.execute(
                "SELECT tgrelid::regclass::text FROM pg_trigger"
                " WHERE tgname = 'oms_registry_change_log'"
            )
        }
        (self._seq,) = c.execute("SELECT nextval('oms_registry_change_seq')").fetchone() or (0,)
        if installed != set(_LOGGED):
            for table in _LOGGED:
                c.execute(
                    "CREATE OR REPLACE TRIGGER oms_registry_change_log AFTER INSERT OR UPDATE"
                    f" OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION oms_registry_log_change()"
                )
            # The log is complete from this export on; earlier ones cannot be a delta base.
            c.execute(
                "INSERT INTO oms_registry_export_meta VALUES ('log_start', %s)"
                " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                (str(self._seq),),
            )
        row = c.execute("SELECT v FROM oms_registry_export_meta WHERE k = 'log_start'").fetchone()
        self._log_start = int(row[0]) if row else self._seq

    def sequence(self) -> int:
        assert self._seq is not None  # noqa: S101 - set by _begin
        return int(self._seq)

    def regions(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT substr(enp, 1, 2) FROM oms_registry_records ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    def _records(self, where: str, params: tuple[Any, ...]) -> Iterator[RegisterRecord]:
        from .stores import _pg_record

        cur = self._conn.cursor(name="oms_export_records")
        cur.itersize = 20_000
        cur.execute(
            f"SELECT {_PG_RECORD_COLUMNS} FROM oms_registry_records WHERE {where}"  # noqa: S608 - constant SQL; values are %s parameters
            " ORDER BY enp",
            params,
        )
        try:
            for row in cur:
                yield _pg_record(row)
        finally:
            cur.close()

    def records(self, region: str) -> Iterator[RegisterRecord]:
        return self._records("substr(enp, 1, 2) = %s", (region,))

    def aliases(self, region: str) -> Iterator[Alias]:
        rows = self._conn.execute(
            "SELECT kind, number, enp FROM oms_registry_aliases WHERE substr(enp, 1, 2) = %s",
            (region,),
        )
        for kind, number, enp in rows:
            yield Alias(str(enp), AliasKind(kind), str(number))

    def revocations(self, region: str) -> Iterator[DocumentRevocation]:
        rows = self._conn.execute(
            "SELECT enp, carrier, since, reason FROM oms_registry_revoked_docs"
            " WHERE substr(enp, 1, 2) = %s",
            (region,),
        )
        for enp, carrier, since, reason in rows:
            yield DocumentRevocation(str(enp), Carrier(carrier), since, RevocationReason(reason))

    def revoked_keys(self) -> list[str]:
        return []  # the PostgreSQL tables hold no revoked keys (the trust list carries them)

    def changed(self, since: int) -> dict[str, list[str]]:
        assert self._log_start is not None  # noqa: S101 - set by _begin
        if since < self._log_start:
            raise ExportError(
                f"no change log before export {self._log_start}: export full parts",
                code="export_since_unknown",
            )
        if since >= self.sequence():
            raise ExportError(f"export {since} is not older than this one", code="bad_argument")
        out: dict[str, list[str]] = {}
        for (enp,) in self._conn.execute(
            "SELECT DISTINCT enp FROM oms_registry_changes WHERE seq > %s AND seq < %s"
            " ORDER BY enp",
            (since, self.sequence()),
        ):
            out.setdefault(str(enp)[:2], []).append(str(enp))
        return out

    def records_of(self, enps: list[str]) -> list[RegisterRecord]:
        return list(self._records("enp = ANY(%s)", (enps,)))

    def aliases_of(self, enps: list[str]) -> list[Alias]:
        rows = self._conn.execute(
            "SELECT kind, number, enp FROM oms_registry_aliases WHERE enp = ANY(%s)", (enps,)
        )
        return [Alias(str(e), AliasKind(k), str(n)) for k, n, e in rows]

    def revocations_of(self, enps: list[str]) -> list[DocumentRevocation]:
        rows = self._conn.execute(
            "SELECT enp, carrier, since, reason FROM oms_registry_revoked_docs WHERE enp = ANY(%s)",
            (enps,),
        )
        return [
            DocumentRevocation(str(e), Carrier(c), s, RevocationReason(r)) for e, c, s, r in rows
        ]


# --- SQLite (parity; full parts only) ----------------------------------------------------------


class SqliteSource:
    """The registry's verified SQLite store (``records``/``aliases``/``revoked_docs``).

    It has no change log: full parts only (a delta is refused, ``export_since_unknown``).
    The sequence is the store's held snapshot sequence.
    """

    def __init__(self, path: Path, sequence: int) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self._seq = sequence

    def close(self) -> None:
        self._db.close()

    def sequence(self) -> int:
        return self._seq

    def regions(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT enp / 100000000000000 FROM records ORDER BY 1")
        return [f"{r[0]:02d}" for r in rows]

    def _range(self, region: str) -> tuple[int, int]:
        lo = int(region) * nf.ENP_MOD
        return lo, lo + nf.ENP_MOD

    def records(self, region: str) -> Iterator[RegisterRecord]:
        for row in self._db.execute(
            "SELECT enp, ptype, status, since, ogrn, okato, start, end_, clinic, nhash"
            " FROM records WHERE enp >= ? AND enp < ? ORDER BY enp",
            self._range(region),
        ):
            yield RegisterRecord.from_row(row)

    def aliases(self, region: str) -> Iterator[Alias]:
        for kind, number, enp in self._db.execute(
            "SELECT kind, number, enp FROM aliases WHERE enp >= ? AND enp < ?",
            self._range(region),
        ):
            yield Alias(f"{enp:016d}", AliasKind(kind), number)

    def revocations(self, region: str) -> Iterator[DocumentRevocation]:
        for enp, carrier, since, reason in self._db.execute(
            "SELECT enp, carrier, since, reason FROM revoked_docs WHERE enp >= ? AND enp < ?",
            self._range(region),
        ):
            yield DocumentRevocation(
                f"{enp:016d}", Carrier(carrier), from_days(since), RevocationReason(reason)
            )

    def revoked_keys(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT key_id FROM revoked_keys")]

    def changed(self, since: int) -> dict[str, list[str]]:
        raise ExportError(
            "the SQLite store keeps no change log: export full parts (or use PostgreSQL)",
            code="export_since_unknown",
        )

    def records_of(self, enps: list[str]) -> list[RegisterRecord]:
        raise ExportError("no deltas from SQLite", code="export_since_unknown")

    def aliases_of(self, enps: list[str]) -> list[Alias]:
        raise ExportError("no deltas from SQLite", code="export_since_unknown")

    def revocations_of(self, enps: list[str]) -> list[DocumentRevocation]:
        raise ExportError("no deltas from SQLite", code="export_since_unknown")


# --- building a part ---------------------------------------------------------------------------


def _int_field(text: str, what: str, enp: str) -> int:
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()):
        raise ExportError(f"record {enp[:2]}…: {what} is not digits", code="export_bad_record")
    return int(text)


def _columns(
    region: str,
    records: Iterable[RegisterRecord],
    aliases: Iterable[Alias],
    revocations: Iterable[DocumentRevocation],
    revoked_keys: list[str],
) -> nf.PartColumns:
    """Columns of one region; records the columns cannot hold exactly become exceptions."""
    prefix = int(region) * nf.ENP_MOD
    vs: list[int] = []
    ptype: list[int] = []
    status: list[int] = []
    dates: list[tuple[int, int, int]] = []
    attach: list[int] = []
    hashes: list[int] = []
    table: dict[tuple[int, int, int], int] = {}
    exceptions: dict[int, bytes] = {}
    for r in records:
        if r.enp[:2] != region or len(r.enp) != 16 or not r.enp.isdigit():
            raise ExportError(
                "record of another region or a malformed ENP", code="export_bad_record"
            )
        e = int(r.enp)
        if len(r.name_hash) != 8:
            raise ExportError("record name hash is not 8 bytes", code="export_bad_record")
        ogrn = _int_field(r.smo_ogrn, "insurer ОГРН", r.enp)
        okato = _int_field(r.okato, "ОКАТО", r.enp)
        clinic = _int_field(r.clinic or "", "clinic", r.enp)
        exact = (
            (str(ogrn) if ogrn else "") == r.smo_ogrn
            and okato_text(okato) == r.okato
            and (f"{clinic:06d}" if clinic else None) == r.clinic
        )
        if not exact:  # the snapshot encoding holds these fields as integers as well
            raise ExportError(
                "record field has a form the register formats cannot carry",
                code="export_bad_record",
            )
        codes = (nf.date_code(r.status_since), nf.date_code(r.start), nf.date_code(r.end))
        key = (ogrn, okato, clinic)
        slot = table.get(key)
        if slot is None and len(table) < nf.MAX_ATTACH:
            slot = table[key] = len(table)
        if slot is None or None in codes:
            exceptions[e] = pack_record(r)
            continue
        vs.append(e - prefix)
        ptype.append(int(r.policy_type))
        status.append(int(r.status))
        dates.append(codes)  # type: ignore[arg-type]  # None excluded just above
        attach.append(slot)
        hashes.append(int.from_bytes(r.name_hash, "big"))
    v = np.array(vs, dtype=np.int64)
    order = np.argsort(v, kind="stable")
    v = v[order]
    if len(v) > 1 and bool(np.any(np.diff(v) == 0)):
        raise ExportError("duplicate ENP in the register", code="export_bad_record")
    d = np.array(dates, dtype=np.uint64).reshape(-1, 3)[order]
    codes_out: list[int] = []
    var_aliases: list[bytes] = []
    for a in aliases:
        e = int(a.enp)
        code = nf.alias_code(int(a.kind), a.number)
        row = int(np.searchsorted(v, e - prefix)) if e not in exceptions else len(v)
        if code is not None and row < len(v) and int(v[row]) == e - prefix:
            codes_out.append(code << nf.ROW_BITS | row)
        else:
            var_aliases.append(pack_alias(a))
    revs = sorted(revocations, key=lambda x: (x.enp, int(x.carrier)))
    return nf.PartColumns(
        v=v,
        ptype=np.array(ptype, dtype=np.uint8)[order],
        status=np.array(status, dtype=np.uint8)[order],
        since=d[:, 0],
        start=d[:, 1],
        end=d[:, 2],
        attach=np.array(attach, dtype=np.int64)[order],
        nhash=np.array(hashes, dtype=np.uint64)[order],
        attach_table=sorted(table, key=table.__getitem__),
        alias_codes=np.array(codes_out, dtype=np.uint64),
        exceptions=[exceptions[k] for k in sorted(exceptions)],
        var_aliases=sorted(var_aliases),
        revoked_docs=b"".join(pack_revoked_doc(x) for x in revs),
        revoked_keys=[k.encode("ascii") for k in sorted(revoked_keys)],
    )


# --- the export --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    sequence: int
    files: list[ExportedFile]
    out_dir: Path


def export_national(
    source: RegisterSource,
    out_dir: Path,
    key: PrivateKey,
    name_key_id: str,
    *,
    since: int | None = None,
    valid_hours: float = 72.0,
    now: datetime | None = None,
    regions: list[str] | None = None,
) -> ExportResult:
    """Full parts (``since`` None) or deltas since export ``since``, and the manifest."""
    for region in regions or ():
        if not (len(region) == 2 and region.isascii() and region.isdigit()):
            raise ExportError(f"region {region!r}: two ASCII digits", code="bad_argument")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    valid = created + timedelta(hours=valid_hours)
    seq = source.sequence()
    sign: Callable[[bytes], bytes] = lambda dg: sign_digest(key, dg)  # noqa: E731
    key_id = key.public_key().key_id()
    files: list[ExportedFile] = []
    if since is None:
        rkeys = source.revoked_keys()
        for region in regions or source.regions():
            cols = _columns(
                region,
                source.records(region),
                source.aliases(region),
                source.revocations(region),
                rkeys,
            )
            path = out / f"part-{region}-{seq:06d}.omsnat"
            nf.write_part_file(
                path,
                region,
                cols,
                sequence=seq,
                created=created,
                register_valid_until=valid,
                revocations_valid_until=valid,
                key_id=key_id,
                name_key_id=name_key_id,
                sign=sign,
                opener=private_opener,
            )
            n = len(cols.v) + len(cols.exceptions)
            files.append(ExportedFile(path.name, region, "part", seq, None, n, path.stat().st_size))
    else:
        changed = source.changed(since)
        for region in sorted(set(regions or source.regions()) | set(changed)):
            path = out / f"delta-{region}-{seq:06d}.omssnap"
            n = _write_delta(
                path,
                source,
                region,
                changed.get(region, []),
                seq=seq,
                base=since,
                created=created,
                valid=valid,
                key_id=key_id,
                name_key_id=name_key_id,
                sign=sign,
            )
            files.append(
                ExportedFile(path.name, region, "delta", seq, since, n, path.stat().st_size)
            )
    _update_manifest(out, files, key_id, name_key_id, created)
    return ExportResult(seq, files, out)


def _write_delta(
    path: Path,
    source: RegisterSource,
    region: str,
    enps: list[str],
    *,
    seq: int,
    base: int,
    created: datetime,
    valid: datetime,
    key_id: str,
    name_key_id: str,
    sign: Callable[[bytes], bytes],
) -> int:
    present = sorted(source.records_of(enps), key=lambda r: r.enp) if enps else []
    live = {r.enp for r in present}
    gone = sorted(e for e in enps if e not in live)
    aliases = sorted(pack_alias(a) for a in source.aliases_of(sorted(live))) if live else []
    revs = (
        sorted(source.revocations_of(sorted(live)), key=lambda x: (x.enp, int(x.carrier)))
        if live
        else []
    )
    records = [pack_record(r) for r in present]
    dels = [DELETION.pack(int(e)) for e in gone]
    rev_rows = [pack_revoked_doc(x) for x in revs]
    header = SnapshotHeader(
        kind=SnapshotKind.DELTA,
        region=region,
        sequence=seq,
        base_sequence=base,
        created_at=created,
        register_valid_until=valid,
        revocations_valid_until=valid,
        counts=section_counts(
            records=len(records),
            aliases=len(aliases),
            deletions=len(dels),
            revoked_docs=len(rev_rows),
        ),
        key_id=key_id,
        name_key_id=name_key_id,
    )
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", opener=private_opener) as f:
        w = SnapshotWriter(f, header)
        w.fixed_section(Section.RECORDS, records)
        w.var_section(Section.ALIASES, aliases)
        w.fixed_section(Section.DELETIONS, dels)
        w.fixed_section(Section.REVOKED_DOCS, rev_rows)
        w.var_section(Section.REVOKED_KEYS, [])
        w.finish(sign)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return len(records) + len(dels)


def _update_manifest(
    out: Path, files: list[ExportedFile], key_id: str, name_key_id: str, created: datetime
) -> None:
    """Add the new files to ``manifest.json`` (kept entries: files still in the directory)."""
    path = out / MANIFEST
    entries: dict[str, dict[str, Any]] = {}
    if path.exists():
        try:
            old = loads_object(path.read_bytes(), max_bytes=MAX_MANIFEST, what="national manifest")
        except OmsError as exc:
            raise ExportError(f"{MANIFEST} in {out} is unreadable: {exc.message}") from exc
        for e in old.get("files", []):
            if (
                isinstance(e, dict)
                and isinstance(e.get("name"), str)
                and (out / e["name"]).is_file()
            ):
                entries[e["name"]] = e
    for f in files:
        entries[f.name] = f.to_json()
    doc = {
        "national": True,
        "format": 1,
        "generated_at": created.isoformat(),
        "key_id": key_id,
        "name_hash": {"alg": name_hash.ALG, "key_id": name_key_id},
        "files": sorted(entries.values(), key=lambda e: (e["region"], e["sequence"], e["kind"])),
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", opener=private_opener) as fh:
        json.dump(doc, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    tmp.replace(path)


def name_key_id_for(data_dir: Path) -> str:
    """The register's name-hash key id: from ``match.key`` when present, else the one the
    full snapshot's header names."""
    mk = data_dir / "match.key"
    if mk.is_file():
        return name_hash.key_id(bytes.fromhex(mk.read_text().strip()))
    from cache.snapshot_chain import read_chain
    from cache.snapshot_format import SnapshotReader

    found = read_chain(data_dir)
    if found.full is None:
        raise ExportError(f"no match.key and no full snapshot in {data_dir}", code="bad_argument")
    with open(data_dir / found.full.name, "rb") as f:
        nk = SnapshotReader(f).header.name_key_id
    if not nk:
        raise ExportError("the register names no name-hash key", code="bad_argument")
    return nk
