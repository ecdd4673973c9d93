"""ФОМС reference directories (НСИ): insurer (СМО) and clinic (МО) names for the codes the
register and the policies carry.

The operator loads the published XML files — F002 (insurers), F003 (medical organisations) or
its successor F032 — with ``oms-verifier directory import FILE``; the daemon and the verdict
then show «АО "СОГАЗ-Мед"» instead of ``ОГРН 1027739008440``. The layout follows what several
public MIS and register codebases read (docs/directories.md; the official schema documents were
not found): windows-1251 XML, root ``<packet date="dd.MM.yyyy">``, an optional ``<zglv>``.

The files come from outside, so parsing is defensive: lxml with no DTD, no entities, no network,
no huge trees; a file with a ``<!DOCTYPE`` (billion laughs, external entities) is refused; the
size and the record count are capped and the tree is streamed (memory stays bounded). Every
refusal is a :class:`DirectoryError` with a stable code. An import is parsed completely before
the store is touched and replaces the previous directory of its kind in one transaction, so a
bad file never leaves a half-loaded directory.

The store is an SQLite file in the state directory (public data, but created owner-only like
every other state file). Lookups read it per call, and :meth:`Directories.data_version` says
when it changed (an import here or by the CLI in another process), so a cache of names keyed
on it sees an import from the CLI on the running daemon's next verdict.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Final

from lxml import etree

from verifier.errors import InputError
from verifier.private_files import open_private_database

MAX_FILE_BYTES: Final = 128 * 1024 * 1024  # the whole-country F032 is a few tens of MB
MAX_RECORDS: Final = 200_000  # F032 for the whole country holds some tens of thousands
MAX_FIELD_CHARS: Final = 2000
_PROLOG_SCAN: Final = 64 * 1024
STORE_NAME: Final = "directories.sqlite3"


class DirectoryError(InputError):
    """A directory file that cannot be imported; ``code`` says why (stable, see docs)."""

    code = "bad_directory"


class DirectoryKind(Enum):
    """What a directory names: insurers (F002) or clinics (F003, F032)."""

    INSURERS = "insurers"
    CLINICS = "clinics"


class DirectoryFormat(Enum):
    F002 = "F002"
    F003 = "F003"
    F032 = "F032"

    @property
    def kind(self) -> DirectoryKind:
        return DirectoryKind.INSURERS if self is DirectoryFormat.F002 else DirectoryKind.CLINICS


# The element each record is, per format, as a child of <packet>.
_RECORD_TAGS: Final = {
    "insCompany": DirectoryFormat.F002,
    "medCompany": DirectoryFormat.F003,
    "zap": DirectoryFormat.F032,
}


@dataclass(frozen=True, slots=True)
class Insurer:
    """One insurer branch (СМО in a region), as F002 names it.

    ``region_matched`` is False when the lookup found no branch for the region asked (or no
    region was given) and answered with another branch of the same ОГРН: the name is right, the
    ``okato`` is that other branch's."""

    ogrn: str
    okato: str
    name: str  # short name (nam_smok), the full name when the file has no short one
    full_name: str
    smocod: str | None = None
    head_office: bool | None = None  # org: 1 head office, 2 branch; None when not given
    excluded_on: date | None = None  # insInclude/d_end: left the register of insurers
    region_matched: bool = True


@dataclass(frozen=True, slots=True)
class Clinic:
    """One medical organisation by its 6-digit register code (F003 ``mcod``, F032 ``MCOD``)."""

    code: str
    name: str  # short name, the full name when the file has no short one
    full_name: str
    okato: str | None = None  # tf_okato, when the file gives it
    ogrn: str | None = None
    excluded_on: date | None = None  # medInclude/d_end (F003), DATEEND (F032)


@dataclass(frozen=True, slots=True)
class ParsedDirectory:
    """A directory file read completely and checked, not yet in the store."""

    format: DirectoryFormat
    file_date: date | None  # <packet date=…> (or the <zglv> date)
    version: str | None
    insurers: tuple[Insurer, ...] = ()
    clinics: tuple[Clinic, ...] = ()
    skipped: int = 0  # F032 records without an MCOD (organisations outside OMS)
    source: str | None = None  # file name, for the status

    @property
    def kind(self) -> DirectoryKind:
        return self.format.kind

    @property
    def records(self) -> int:
        return len(self.insurers) + len(self.clinics)


@dataclass(frozen=True, slots=True)
class DirectoryStatus:
    kind: DirectoryKind
    format: DirectoryFormat
    records: int
    file_date: date | None
    version: str | None
    source: str | None
    imported_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "format": self.format.value,
            "records": self.records,
            "file_date": self.file_date.isoformat() if self.file_date else None,
            "version": self.version,
            "file": self.source,
            "imported_at": self.imported_at.isoformat(),
        }


# --- parsing ---------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_DATE = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})")
# libxml2 error codes for an unknown encoding and for bytes that are not in the declared one
# (XML_ERR_UNSUPPORTED_ENCODING, XML_ERR_INVALID_ENCODING).
_ENCODING_ERRORS: Final = frozenset({32, 81})


class _BoundedReader:
    """A file object for lxml that refuses past ``limit`` bytes (a FIFO or ``/dev/zero`` has no
    size to check up front) and a DTD or entity declaration in the prolog."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self._f = f
        self._limit = limit
        self._read = 0
        self._head = b""

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n if n and n > 0 else 65536)
        self._read += len(chunk)
        if self._read > self._limit:
            raise _too_large(self._limit)
        if len(self._head) < _PROLOG_SCAN:
            self._head = (self._head + chunk)[: _PROLOG_SCAN + 16]
            if b"<!DOCTYPE" in self._head or b"<!ENTITY" in self._head:
                raise _dtd_refused()
        return chunk


def _too_large(limit: int) -> DirectoryError:
    size = f"{limit // (1024 * 1024)} МБ" if limit >= 1024 * 1024 else f"{limit} байт"
    return DirectoryError(f"файл справочника больше {size}", code="directory_too_large")


def _dtd_refused() -> DirectoryError:
    return DirectoryError(
        "файл справочника содержит DTD (<!DOCTYPE>/<!ENTITY>): такие файлы не принимаются",
        code="directory_dtd",
    )


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(el: etree._Element) -> dict[str, etree._Element]:
    """Child elements by local name; the first of a repeated name wins."""
    out: dict[str, etree._Element] = {}
    for child in el:
        name = _local(child.tag)
        if name and name not in out:
            out[name] = child
    return out


class _Record:
    """Field access for one record element, with the record's position for messages."""

    def __init__(self, el: etree._Element, fmt: DirectoryFormat, number: int) -> None:
        self.fields = _children(el)
        self.fmt = fmt
        self.where = f"{fmt.value}, запись {number} (строка {el.sourceline})"

    def fail(self, message: str) -> DirectoryError:
        return DirectoryError(f"{self.where}: {message}", code="directory_field")

    def text(self, *names: str, parent: str | None = None) -> str:
        """The first of ``names`` present (names are case-sensitive: alternatives are listed),
        whitespace collapsed; "" when none is."""
        fields = self.fields
        if parent is not None:
            holder = self.fields.get(parent)
            if holder is None:
                return ""
            fields = _children(holder)
        for name in names:
            el = fields.get(name)
            if el is not None:
                value = _SPACES.sub(
                    " ", "".join(t for t in el.itertext() if isinstance(t, str))
                ).strip()
                if len(value) > MAX_FIELD_CHARS:
                    raise self.fail(f"поле {name} длиннее {MAX_FIELD_CHARS} знаков")
                return value
        return ""

    def digits(self, names: Sequence[str], length: int) -> str:
        """A required field of ``length`` digits."""
        value = self.optional_digits(names, length)
        if value is None:
            raise self.fail(f"нет поля {names[0]}")
        return value

    def optional_digits(self, names: Sequence[str], length: int) -> str | None:
        """A field of ``length`` digits, None when absent or empty."""
        value = self.text(*names)
        if not value:
            return None
        if len(value) != length or not _DIGITS.fullmatch(value):
            raise self.fail(f"{names[0]} должен состоять из {length} цифр, а не {value[:40]!r}")
        return value

    def names(self, full: Sequence[str], short: Sequence[str]) -> tuple[str, str]:
        full_name, short_name = self.text(*full), self.text(*short)
        if not full_name and not short_name:
            raise self.fail(f"нет наименования ({full[0]}/{short[0]})")
        return short_name or full_name, full_name or short_name


def _lenient_date(value: str) -> date | None:
    """An optional date (d_end, DATEEND): dd.MM.yyyy, or ISO as some exports write; anything
    else is treated as not given — these dates only order duplicates, never hide a name."""
    m = _DATE.fullmatch(value.strip()) if value else None
    try:
        if m:
            return date(int(m[3]), int(m[2]), int(m[1]))
        return date.fromisoformat(value.strip()[:10]) if value else None
    except ValueError:
        return None


def _packet_date(value: str | None) -> date | None:
    if not value:
        return None
    m = _DATE.fullmatch(value.strip())
    try:
        if m:
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    raise DirectoryError(
        f"дата справочника {value[:40]!r} не в формате ДД.ММ.ГГГГ", code="directory_field"
    )


def _insurer(rec: _Record) -> Insurer:
    ogrn = rec.digits(("Ogrn", "ogrn", "OGRN"), 13)
    okato = rec.digits(("tf_okato", "TF_OKATO"), 5)
    name, full = rec.names(("nam_smop", "NAM_SMOP"), ("nam_smok", "NAM_SMOK"))
    smocod = rec.text("smocod", "SMOCOD") or None
    org = rec.text("org", "ORG")
    return Insurer(
        ogrn=ogrn,
        okato=okato,
        name=name,
        full_name=full,
        smocod=smocod if smocod and _DIGITS.fullmatch(smocod) else None,
        head_office={"1": True, "2": False}.get(org),
        excluded_on=_lenient_date(rec.text("d_end", parent="insInclude")),
    )


def _clinic(rec: _Record) -> Clinic | None:
    if rec.fmt is DirectoryFormat.F003:
        code = rec.digits(("mcod", "MCOD"), 6)
        name, full = rec.names(("nam_mop", "NAM_MOP"), ("nam_mok", "NAM_MOK"))
        ended = rec.text("d_end", parent="medInclude")
    else:
        optional = rec.optional_digits(("MCOD", "mcod"), 6)
        if optional is None:
            return None  # an organisation outside OMS: F032 lists it without a register code
        code = optional
        name, full = rec.names(("NAM_MOP", "nam_mop"), ("NAM_MOK", "nam_mok"))
        ended = rec.text("DATEEND", "dateend")
    return Clinic(
        code=code,
        name=name,
        full_name=full,
        okato=rec.optional_digits(("tf_okato", "TF_OKATO"), 5),
        ogrn=rec.optional_digits(("Ogrn", "ogrn", "OGRN"), 13),
        excluded_on=_lenient_date(ended),
    )


def parse_directory(
    source: bytes | str | Path, *, max_bytes: int = MAX_FILE_BYTES, max_records: int = MAX_RECORDS
) -> ParsedDirectory:
    """Read one F002, F003 or F032 file (the format is told by its records, not its name).

    Raises :class:`DirectoryError`: ``directory_too_large``, ``directory_dtd``,
    ``directory_xml``, ``directory_encoding``, ``directory_format`` (no ``<packet>`` root, no
    records of a known kind, or records of two kinds), ``directory_field`` (a record with a
    missing or malformed code or name), ``directory_too_many``, ``directory_empty``; and
    ``bad_file`` when the file cannot be read."""
    if isinstance(source, bytes):
        import io

        if len(source) > max_bytes:
            raise _too_large(max_bytes)
        return _parse_stream(io.BytesIO(source), max_bytes, max_records, None)
    path = Path(source)
    try:
        with path.open("rb") as f:
            return _parse_stream(f, max_bytes, max_records, path.name)
    except OSError as exc:
        raise DirectoryError(
            f"не удаётся прочитать {path}: {exc.strerror or exc}", code="bad_file"
        ) from exc


def _packet(el: etree._Element) -> tuple[date | None, str | None]:
    """The root: no DTD, a <packet>; its date and version attributes."""
    docinfo = el.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # type: ignore[attr-defined]
        raise _dtd_refused()
    if _local(el.tag) != "packet":
        raise DirectoryError(
            f"корневой элемент <{_local(el.tag)[:40]}>, ожидается <packet>",
            code="directory_format",
        )
    return _packet_date(el.get("date")), el.get("version")


def _zglv(
    el: etree._Element, file_date: date | None, version: str | None
) -> tuple[date | None, str | None]:
    """The <zglv> header fills in a date and version the <packet> attributes did not give."""
    head = _children(el)
    for key in ("date", "DATE", "data", "DATA"):
        if file_date is None and key in head and (head[key].text or "").strip():
            file_date = _packet_date(head[key].text)
    for key in ("version", "VERSION"):
        if version is None and key in head:
            version = (head[key].text or "").strip() or None
    return file_date, version


def _record_format(el: etree._Element, tag: str, fmt: DirectoryFormat | None) -> DirectoryFormat:
    """The format a record element belongs to; one file holds records of one format."""
    this = _RECORD_TAGS.get(tag)
    if this is None:
        raise DirectoryError(
            f"элемент <{tag[:40]}> (строка {el.sourceline}) не запись F002/F003/F032",
            code="directory_format",
        )
    if fmt is not None and this is not fmt:
        raise DirectoryError(
            f"в одном файле записи {fmt.value} и {this.value}",
            code="directory_format",
        )
    return this


def _keep(
    rec: _Record, insurers: dict[tuple[str, str], Insurer], clinics: dict[str, Clinic]
) -> bool:
    """File one record, the better of two for the same key kept; False for a clinic outside
    OMS (no register code), which is skipped."""
    if rec.fmt is DirectoryFormat.F002:
        ins = _insurer(rec)
        key = (ins.ogrn, ins.okato)
        if key not in insurers or _rank(ins) < _rank(insurers[key]):
            insurers[key] = ins
        return True
    clinic = _clinic(rec)
    if clinic is None:
        return False
    if clinic.code not in clinics or _rank(clinic) < _rank(clinics[clinic.code]):
        clinics[clinic.code] = clinic
    return True


def _parse_stream(
    f: IO[bytes], max_bytes: int, max_records: int, name: str | None
) -> ParsedDirectory:
    reader = _BoundedReader(f, max_bytes)
    events = etree.iterparse(
        reader,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    fmt: DirectoryFormat | None = None
    file_date: date | None = None
    version: str | None = None
    insurers: dict[tuple[str, str], Insurer] = {}
    clinics: dict[str, Clinic] = {}
    skipped = 0
    count = 0
    depth = 0
    root: etree._Element | None = None
    try:
        for event, el in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = el
                    file_date, version = _packet(el)
                continue
            depth -= 1
            if depth != 1:
                continue  # only <packet>'s children are records (or the header)
            tag = _local(el.tag)
            if tag == "zglv":
                file_date, version = _zglv(el, file_date, version)
            else:
                fmt = _record_format(el, tag, fmt)
                count += 1
                if count > max_records:
                    raise DirectoryError(
                        f"в справочнике больше {max_records} записей", code="directory_too_many"
                    )
                if not _keep(_Record(el, fmt, count), insurers, clinics):
                    skipped += 1
            # Streamed: a record read is dropped from the tree.
            el.clear()
            parent = el.getparent()
            if parent is not None:
                while el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        libxml_code = getattr(exc, "code", None)  # the stubs omit it; lxml always sets it
        code = "directory_encoding" if libxml_code in _ENCODING_ERRORS else "directory_xml"
        what = "кодировка файла не та, что в заголовке XML" if code == "directory_encoding" else ""
        raise DirectoryError(
            f"файл справочника не читается как XML: {what or exc.msg}", code=code
        ) from exc
    if root is None:
        raise DirectoryError("файл справочника пуст", code="directory_xml")
    if fmt is None:
        raise DirectoryError("в справочнике нет ни одной записи", code="directory_empty")
    if fmt is not DirectoryFormat.F002 and not clinics:
        raise DirectoryError(
            "в справочнике нет ни одной МО с реестровым кодом (MCOD)", code="directory_empty"
        )
    return ParsedDirectory(
        format=fmt,
        file_date=file_date,
        version=version,
        insurers=tuple(insurers.values()),
        clinics=tuple(clinics.values()),
        skipped=skipped,
        source=name,
    )


def _rank(entry: Insurer | Clinic) -> tuple[int, int]:
    """Which of two records for the same key is kept: one still in the register, then a head
    office (F002 ``org`` 1)."""
    head = isinstance(entry, Insurer) and entry.head_office is True
    return (entry.excluded_on is not None, not head)


# --- the store -------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS insurer (
    ogrn TEXT NOT NULL,
    okato TEXT NOT NULL,
    name TEXT NOT NULL,
    full_name TEXT NOT NULL,
    smocod TEXT,
    head_office INTEGER,
    excluded_on TEXT,
    PRIMARY KEY (ogrn, okato)
);
CREATE TABLE IF NOT EXISTS clinic (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    full_name TEXT NOT NULL,
    okato TEXT,
    ogrn TEXT,
    excluded_on TEXT
);
CREATE TABLE IF NOT EXISTS import (
    kind TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    records INTEGER NOT NULL,
    file_date TEXT,
    version TEXT,
    source TEXT,
    imported_at TEXT NOT NULL
);
"""


def store_path(state_dir: Path) -> Path:
    """Where the directories live: ``<state-dir>/directories.sqlite3``."""
    return state_dir / STORE_NAME


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _unusable(path: Path, why: str | None) -> DirectoryError:
    return DirectoryError(
        f"хранилище справочников {path} непригодно ({why}): удалите файл и загрузите "
        "справочники заново (oms-verifier directory import)",
        code="directory_store",
    )


class Directories:
    """The loaded directories, and the lookups the verdict uses. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self._db = open_private_database(path, lambda why: _unusable(path, why))
        self.path = path
        self._lock = threading.Lock()
        self._generation = 0  # bumped by this connection's own imports (see data_version)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise _unusable(path, str(exc)) from exc

    # lookups

    def data_version(self) -> tuple[int, int]:
        """Changes whenever the stored directories may have: SQLite's ``PRAGMA data_version``
        (bumped when another connection, e.g. ``directory import`` in another process,
        commits) paired with this connection's own import count (the pragma does not move
        for this connection's own commits). Equal values: the lookups answer as before."""
        with self._lock:
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            return int(version), self._generation

    @property
    def generation(self) -> int:
        """This connection's own import count (the second half of :meth:`data_version`):
        read without a query."""
        return self._generation

    def insurer(self, ogrn: str, okato: str | None) -> Insurer | None:
        """The insurer branch for ОГРН and region (ОКАТО); with no branch in that region (or no
        region), another branch of the ОГРН — head office first — with ``region_matched``
        False. None when the ОГРН is not in the directory (or none is loaded)."""
        ogrn = ogrn.strip()
        with self._lock:
            row = None
            if okato:
                row = self._db.execute(
                    f"SELECT {_INSURER_COLS} FROM insurer WHERE ogrn = ? AND okato = ?",  # noqa: S608 - constant column list
                    (ogrn, okato.strip()),
                ).fetchone()
            matched = row is not None
            if row is None:
                row = self._db.execute(
                    f"SELECT {_INSURER_COLS} FROM insurer WHERE ogrn = ? ORDER BY"  # noqa: S608 - constant column list
                    " excluded_on IS NOT NULL, coalesce(head_office, 0) DESC, okato LIMIT 1",
                    (ogrn,),
                ).fetchone()
        if row is None:
            return None
        return _insurer_row(row, region_matched=matched)

    def clinic(self, code: str) -> Clinic | None:
        """The medical organisation for a 6-digit register code; None when unknown."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_CLINIC_COLS} FROM clinic WHERE code = ?",  # noqa: S608 - constant column list
                (code.strip(),),
            ).fetchone()
        return _clinic_row(row) if row else None

    def insurers(self) -> list[Insurer]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_INSURER_COLS} FROM insurer ORDER BY ogrn, okato"  # noqa: S608 - constant column list
            ).fetchall()
        return [_insurer_row(r, region_matched=True) for r in rows]

    def clinics(self) -> list[Clinic]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_CLINIC_COLS} FROM clinic ORDER BY code").fetchall()  # noqa: S608 - constant column list
        return [_clinic_row(r) for r in rows]

    def status(self) -> list[DirectoryStatus]:
        """What is loaded, one entry per kind (none when nothing of that kind is)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, format, records, file_date, version, source, imported_at"
                " FROM import ORDER BY kind DESC"
            ).fetchall()
        return [
            DirectoryStatus(
                DirectoryKind(r[0]),
                DirectoryFormat(r[1]),
                int(r[2]),
                _d(r[3]),
                r[4],
                r[5],
                datetime.fromisoformat(r[6]),
            )
            for r in rows
        ]

    # import

    def replace(
        self, parsed: Sequence[ParsedDirectory], *, now: datetime | None = None
    ) -> list[DirectoryStatus]:
        """Load parsed directories, each replacing the previous one of its kind, all in one
        transaction: either every file is in, or the store is as it was."""
        kinds = [p.kind for p in parsed]
        if len(set(kinds)) != len(kinds):
            raise DirectoryError(
                "два справочника одного вида в одном импорте: укажите один файл F002 и один "
                "F003 или F032",
                code="directory_kind_twice",
            )
        stamp = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for p in parsed:
                    if p.kind is DirectoryKind.INSURERS:
                        db.execute("DELETE FROM insurer")
                        db.executemany(
                            "INSERT INTO insurer VALUES (?,?,?,?,?,?,?)",
                            (_insurer_values(i) for i in p.insurers),
                        )
                    else:
                        db.execute("DELETE FROM clinic")
                        db.executemany(
                            "INSERT INTO clinic VALUES (?,?,?,?,?,?)",
                            (_clinic_values(c) for c in p.clinics),
                        )
                    db.execute(
                        "INSERT OR REPLACE INTO import VALUES (?,?,?,?,?,?,?)",
                        (
                            p.kind.value,
                            p.format.value,
                            p.records,
                            p.file_date.isoformat() if p.file_date else None,
                            p.version,
                            p.source,
                            stamp.isoformat(),
                        ),
                    )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            finally:
                self._generation += 1  # even a failed COMMIT: nothing cached is trusted
        return [s for s in self.status() if s.kind in kinds]

    def import_files(self, paths: Sequence[str | Path]) -> list[DirectoryStatus]:
        """Parse every file first, then load them together (see :meth:`replace`)."""
        return self.replace([parse_directory(p) for p in paths])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Directories:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_INSURER_COLS: Final = "ogrn, okato, name, full_name, smocod, head_office, excluded_on"
_CLINIC_COLS: Final = "code, name, full_name, okato, ogrn, excluded_on"


def _insurer_values(i: Insurer) -> tuple[object, ...]:
    head = None if i.head_office is None else int(i.head_office)
    ended = i.excluded_on.isoformat() if i.excluded_on else None
    return (i.ogrn, i.okato, i.name, i.full_name, i.smocod, head, ended)


def _clinic_values(c: Clinic) -> tuple[object, ...]:
    ended = c.excluded_on.isoformat() if c.excluded_on else None
    return (c.code, c.name, c.full_name, c.okato, c.ogrn, ended)


def _insurer_row(r: Sequence[object], *, region_matched: bool) -> Insurer:
    head = r[5]
    return Insurer(
        ogrn=str(r[0]),
        okato=str(r[1]),
        name=str(r[2]),
        full_name=str(r[3]),
        smocod=str(r[4]) if r[4] is not None else None,
        head_office=None if head is None else bool(head),
        excluded_on=_d(str(r[6])) if r[6] else None,
        region_matched=region_matched,
    )


def _clinic_row(r: Sequence[object]) -> Clinic:
    return Clinic(
        code=str(r[0]),
        name=str(r[1]),
        full_name=str(r[2]),
        okato=str(r[3]) if r[3] is not None else None,
        ogrn=str(r[4]) if r[4] is not None else None,
        excluded_on=_d(str(r[5])) if r[5] else None,
    )


def iter_entries(d: Directories) -> Iterator[dict[str, object]]:
    """Every loaded entry as a plain dict (``directory list --entries``)."""
    for i in d.insurers():
        yield {
            "kind": DirectoryKind.INSURERS.value,
            "ogrn": i.ogrn,
            "okato": i.okato,
            "smocod": i.smocod,
            "name": i.name,
            "full_name": i.full_name,
            "head_office": i.head_office,
            "excluded_on": i.excluded_on.isoformat() if i.excluded_on else None,
        }
    for c in d.clinics():
        yield {
            "kind": DirectoryKind.CLINICS.value,
            "code": c.code,
            "okato": c.okato,
            "ogrn": c.ogrn,
            "name": c.name,
            "full_name": c.full_name,
            "excluded_on": c.excluded_on.isoformat() if c.excluded_on else None,
        }
