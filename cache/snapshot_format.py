"""The signed register snapshot file: a full snapshot or a delta, streamable both ways.

Layout (integers big-endian; see docs/snapshot-format.md)::

    magic "OMSSNAP\\x01" | u32 header length | header (UTF-8 JSON)
    sections: tag (4 ASCII) | u32 count | u32 record size | records
              (record size 0: each record is prefixed by its u16 length)
    "END " section (count 0, size 0)
    "SIG1" | u16 length | GOST R 34.10-2012 signature (s||r) over Streebog-256 of all bytes above

The reader hashes as it goes and only reports the signature at the end, so a consumer can stage
records while reading and make them visible only once :meth:`SnapshotReader.finish` vouches for
the whole file. Pure over file objects: no SQLite, no network.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any, TypeGuard

from cache.register_model import (
    Alias,
    AliasKind,
    Carrier,
    DocumentRevocation,
    RegisterRecord,
    RevocationReason,
    from_days,
    to_days,
)
from verifier.crypto import hashes
from verifier.errors import OmsError
from verifier.safejson import JsonError
from verifier.safejson import loads as safe_loads

MAGIC = b"OMSSNAP\x01"
SIG_MAGIC = b"SIG1"
FORMAT_VERSION = 1
HASH_NAME = "streebog256"
MAX_HEADER = 64 * 1024
MAX_VAR_RECORD = 1024
CHUNK_RECORDS = 8192

RECORD = struct.Struct(">QBBHQQHHI8s")  # enp type status since ogrn okato start end clinic hash
DELETION = struct.Struct(">Q")
REVOKED_DOC = struct.Struct(">QBHB")  # enp carrier since reason
_SECTION = struct.Struct(">4sII")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class SnapshotFormatError(OmsError):
    code = "bad_snapshot"


class SnapshotTruncated(SnapshotFormatError):
    code = "snapshot_truncated"


class Section(StrEnum):
    RECORDS = "RECS"
    ALIASES = "ALIA"
    DELETIONS = "DELS"
    REVOKED_DOCS = "REVP"
    REVOKED_KEYS = "REVK"
    END = "END "


def section_counts(
    *, records: int, aliases: int, deletions: int = 0, revoked_docs: int = 0, revoked_keys: int = 0
) -> dict[str, int]:
    """The header's ``counts``: every section named, so a writer cannot forget one."""
    return {
        Section.RECORDS.value: records,
        Section.ALIASES.value: aliases,
        Section.DELETIONS.value: deletions,
        Section.REVOKED_DOCS.value: revoked_docs,
        Section.REVOKED_KEYS.value: revoked_keys,
    }


_FIXED_SIZE = {
    Section.RECORDS: RECORD.size,
    Section.DELETIONS: DELETION.size,
    Section.REVOKED_DOCS: REVOKED_DOC.size,
}


class SnapshotKind(StrEnum):
    FULL = "full"
    DELTA = "delta"


@dataclass(frozen=True)
class SnapshotHeader:
    kind: SnapshotKind
    region: str
    sequence: int
    base_sequence: int | None  # deltas: the sequence they apply on top of
    created_at: datetime
    register_valid_until: datetime
    revocations_valid_until: datetime
    counts: dict[str, int]  # per section tag
    key_id: str
    name_hash: str = "hmac-streebog256-64"
    name_key_id: str = ""
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {
            "format_version": self.format_version,
            "kind": self.kind.value,
            "region": self.region,
            "sequence": self.sequence,
            "base_sequence": self.base_sequence,
            "created_at": self.created_at.isoformat(),
            "parts": {
                "register": {"valid_until": self.register_valid_until.isoformat()},
                "revocations": {"valid_until": self.revocations_valid_until.isoformat()},
            },
            "counts": self.counts,
            "key_id": self.key_id,
            "hash": HASH_NAME,
            "signature": "gost2012_256",
            "name_hash": {"alg": self.name_hash, "key_id": self.name_key_id},
            **self.extra,
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> SnapshotHeader:
        """Parse and type-check a header; anything else is a SnapshotFormatError.

        The header is read before the signature is checked, so it is hostile until proven
        otherwise: nesting and size are bounded, every field must have its exact JSON type
        (``"sequence": "5"`` is refused, not coerced), and the message names the field.
        """
        try:
            doc = safe_loads(raw, max_bytes=MAX_HEADER, what="snapshot header")
        except JsonError as exc:  # not JSON, too deep, too large: one code, the message says
            raise SnapshotFormatError(exc.message) from exc
        h = _Fields(doc, "header")
        version = h.doc.get("format_version")
        if not _is_int(version) or version != FORMAT_VERSION:
            raise SnapshotFormatError(
                f"snapshot format version {version!r} is not supported", code="snapshot_version"
            )
        if h.text("hash") != HASH_NAME:
            raise SnapshotFormatError(f"unsupported snapshot hash {h.doc.get('hash')!r}")
        try:
            kind = SnapshotKind(h.text("kind"))
        except ValueError:
            raise SnapshotFormatError(f"snapshot kind {h.doc.get('kind')!r} is unknown") from None
        base = h.seq("base_sequence") if kind is SnapshotKind.DELTA else None
        counts_doc = h.obj("counts")
        counts: dict[str, int] = {}
        for tag, n in counts_doc.doc.items():
            if not _is_int(n) or not 0 <= n <= 0xFFFFFFFF:
                raise SnapshotFormatError(f"snapshot header counts.{tag} must be a u32 integer")
            counts[tag] = n
        parts = h.obj("parts")
        name_hash = h.obj("name_hash")
        name_key_id = name_hash.doc.get("key_id", "")
        if not isinstance(name_key_id, str):
            raise SnapshotFormatError("snapshot header name_hash.key_id must be a string")
        return cls(
            kind=kind,
            region=h.text("region"),
            sequence=h.seq("sequence"),
            base_sequence=base,
            created_at=h.timestamp("created_at"),
            register_valid_until=parts.obj("register").timestamp("valid_until"),
            revocations_valid_until=parts.obj("revocations").timestamp("valid_until"),
            counts=counts,
            key_id=h.text("key_id"),
            name_hash=name_hash.text("alg"),
            name_key_id=name_key_id,
        )


MAX_SEQUENCE = (1 << 63) - 1  # SQLite INTEGER


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """Typed access to one JSON object of the header; errors name the dotted field path."""

    def __init__(self, doc: object, path: str) -> None:
        if not isinstance(doc, dict):
            raise SnapshotFormatError(f"snapshot {path} must be a JSON object")
        self.doc: dict[str, Any] = doc
        self.path = "" if path == "header" else path + "."

    def _get(self, name: str) -> Any:
        if name not in self.doc:
            raise SnapshotFormatError(f"snapshot header lacks {self.path}{name}")
        return self.doc[name]

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise SnapshotFormatError(f"snapshot header {self.path}{name} must be a string")
        return value

    def seq(self, name: str) -> int:
        value = self._get(name)
        if not _is_int(value) or not 0 <= value <= MAX_SEQUENCE:
            raise SnapshotFormatError(
                f"snapshot header {self.path}{name} must be a non-negative integer"
            )
        return value

    def obj(self, name: str) -> _Fields:
        value = self._get(name)
        if not isinstance(value, dict):
            raise SnapshotFormatError(f"snapshot header {self.path}{name} must be an object")
        return _Fields(value, self.path + name)

    def timestamp(self, name: str) -> datetime:
        value = self.text(name)
        try:
            return _aware(value)
        except ValueError:
            raise SnapshotFormatError(
                f"snapshot header {self.path}{name} must be an ISO 8601 time with a zone"
            ) from None


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text}")
    return value.astimezone(UTC)


# --- records <-> bytes -------------------------------------------------------------------------


def pack_record(r: RegisterRecord) -> bytes:
    return RECORD.pack(*r.as_row())


def pack_alias(a: Alias) -> bytes:
    body = a.number.encode("utf-8")
    return struct.pack(">QB", int(a.enp), int(a.kind)) + body


def unpack_alias(raw: bytes) -> tuple[int, str, int]:
    """(kind, number, enp): the column order of the store's alias table."""
    if len(raw) < 10:
        raise SnapshotFormatError("alias record too short")
    enp, kind = struct.unpack_from(">QB", raw)
    if kind not in AliasKind.__members__.values():
        raise SnapshotFormatError(f"unknown alias kind {kind}")
    try:
        number = raw[9:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotFormatError("alias number is not UTF-8") from exc
    return kind, number, enp


def pack_revoked_doc(d: DocumentRevocation) -> bytes:
    return REVOKED_DOC.pack(int(d.enp), int(d.carrier), to_days(d.since), int(d.reason))


def unpack_revoked_doc(row: tuple[int, int, int, int]) -> DocumentRevocation:
    enp, carrier, since, reason = row
    return DocumentRevocation(
        f"{enp:016d}", Carrier(carrier), from_days(since), RevocationReason(reason)
    )


# --- writer ------------------------------------------------------------------------------------


class SnapshotWriter:
    """Write sections in order, then :meth:`finish` with a digest signer."""

    def __init__(self, out: IO[bytes], header: SnapshotHeader) -> None:
        self._out = out
        self._hash = hashes.new(HASH_NAME)
        self._open: tuple[Section, int] | None = None
        head = header.to_json()
        self._write(MAGIC + _U32.pack(len(head)) + head)

    def _write(self, data: bytes) -> None:
        self._hash.update(data)
        self._out.write(data)

    def fixed_section(self, tag: Section, records: list[bytes]) -> None:
        size = _FIXED_SIZE[tag]
        self._write(_SECTION.pack(tag.value.encode(), len(records), size))
        for i in range(0, len(records), CHUNK_RECORDS):
            self._write(b"".join(records[i : i + CHUNK_RECORDS]))

    def var_section(self, tag: Section, records: list[bytes]) -> None:
        self._write(_SECTION.pack(tag.value.encode(), len(records), 0))
        buf = bytearray()
        for rec in records:
            if len(rec) > MAX_VAR_RECORD:
                raise SnapshotFormatError("variable record too long")
            buf += _U16.pack(len(rec)) + rec
            if len(buf) > 1 << 16:
                self._write(bytes(buf))
                buf.clear()
        self._write(bytes(buf))

    def finish(self, sign_digest: Callable[[bytes], bytes]) -> bytes:
        """Close the file; returns the signed digest."""
        self._write(_SECTION.pack(Section.END.value.encode(), 0, 0))
        digest = self._hash.digest()
        sig = sign_digest(digest)
        self._out.write(SIG_MAGIC + _U16.pack(len(sig)) + sig)
        return digest


# --- reader ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SectionChunk:
    """A batch of decoded records of one section, ready for ``executemany``."""

    section: Section
    rows: list[tuple[Any, ...]]


class SnapshotReader:
    """Stream a snapshot: header first, then chunks; :meth:`finish` yields digest and signature."""

    def __init__(self, src: IO[bytes]) -> None:
        self._src = src
        self._hash = hashes.new(HASH_NAME)
        self.bytes_read = 0
        if self._read(len(MAGIC), hashed=True) != MAGIC:
            raise SnapshotFormatError(
                "not an oms-verifier snapshot (bad magic)", code="snapshot_magic"
            )
        (hlen,) = _U32.unpack(self._read(4, hashed=True))
        if hlen > MAX_HEADER:
            raise SnapshotFormatError(f"snapshot header of {hlen} bytes is too large")
        self.header = SnapshotHeader.from_json(self._read(hlen, hashed=True))
        self.seen: dict[str, int] = {}
        self._done = False

    def _read(self, n: int, *, hashed: bool) -> bytes:
        data = self._src.read(n)
        if len(data) != n:
            raise SnapshotTruncated(
                f"snapshot ends after {self.bytes_read + len(data)} bytes, in the middle of a part"
            )
        self.bytes_read += n
        if hashed:
            self._hash.update(data)
        return data

    def chunks(self) -> Iterator[SectionChunk]:
        """Decoded records, section by section, ``CHUNK_RECORDS`` at a time."""
        while True:
            tag_b, count, size = _SECTION.unpack(self._read(_SECTION.size, hashed=True))
            try:
                tag = Section(tag_b.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise SnapshotFormatError(f"unknown snapshot section {tag_b!r}") from None
            if tag is Section.END:
                self._check_counts()
                self._done = True
                return
            if tag.value in self.seen:
                raise SnapshotFormatError(f"section {tag.value} appears twice")
            expected = self.header.counts.get(tag.value)
            if expected != count:
                raise SnapshotFormatError(
                    f"section {tag.value} holds {count} records, header says {expected}"
                )
            self.seen[tag.value] = count
            if tag in _FIXED_SIZE:
                if size != _FIXED_SIZE[tag]:
                    raise SnapshotFormatError(f"section {tag.value} record size {size} is wrong")
                yield from self._fixed(tag, count)
            else:
                if size != 0:
                    raise SnapshotFormatError(f"section {tag.value} must be variable-length")
                yield from self._variable(tag, count)

    def _fixed(self, tag: Section, count: int) -> Iterator[SectionChunk]:
        st = {
            Section.RECORDS: RECORD,
            Section.DELETIONS: DELETION,
            Section.REVOKED_DOCS: REVOKED_DOC,
        }[tag]
        left = count
        while left:
            n = min(left, CHUNK_RECORDS)
            rows = list(st.iter_unpack(self._read(n * st.size, hashed=True)))
            left -= n
            yield SectionChunk(tag, rows)

    def _variable(self, tag: Section, count: int) -> Iterator[SectionChunk]:
        rows: list[tuple[Any, ...]] = []
        for _ in range(count):
            (n,) = _U16.unpack(self._read(2, hashed=True))
            if n > MAX_VAR_RECORD:
                raise SnapshotFormatError(f"record of {n} bytes in {tag.value} is too long")
            raw = self._read(n, hashed=True)
            if tag is Section.ALIASES:
                rows.append(unpack_alias(raw))
            else:
                try:
                    rows.append((raw.decode("ascii"),))
                except UnicodeDecodeError:
                    raise SnapshotFormatError("revoked key id is not ASCII") from None
            if len(rows) >= CHUNK_RECORDS:
                yield SectionChunk(tag, rows)
                rows = []
        if rows:
            yield SectionChunk(tag, rows)

    def _check_counts(self) -> None:
        for tag, n in self.header.counts.items():
            if n and tag not in self.seen:
                raise SnapshotFormatError(f"header announces {n} records in {tag}, none found")

    def finish(self) -> tuple[bytes, bytes]:
        """After the END section: (digest of everything signed, signature)."""
        if not self._done:
            raise SnapshotFormatError("finish() before all sections were read")
        digest = self._hash.digest()
        if self._read(4, hashed=False) != SIG_MAGIC:
            raise SnapshotFormatError("snapshot signature block missing", code="snapshot_unsigned")
        (n,) = _U16.unpack(self._read(2, hashed=False))
        if n not in (64, 128):
            raise SnapshotFormatError(f"signature of {n} bytes is not GOST R 34.10-2012")
        sig = self._read(n, hashed=False)
        if self._src.read(1):
            raise SnapshotFormatError("trailing bytes after the signature")
        return digest, sig
