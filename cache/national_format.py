"""The national register part file: one region's records as mmap-ready sorted columns, signed.

A part file is both what the registry publishes and what the desk keeps: import copies it
byte for byte while hashing, checks the signature, then maps it. Layout (see
docs/snapshot-format.md, "National parts"; integers little-endian so columns map straight
into ``memoryview.cast``)::

    magic "OMSNATP\\x01" | u32 header length | header (UTF-8 JSON) | zero pad to 8
    section*: tag (4 ASCII) | u32 width | u64 count | count*width bytes | zero pad to 8
              (width 0: count is a byte length of u16-length-prefixed records)
    "END " (width 0, count 0)
    "SIG1" | u16 length | GOST R 34.10-2012 signature over Streebog-256 of all bytes above

Every section has a fixed place in :data:`ORDER`; the header's ``counts`` announce each, so the
whole file size is known before a byte of data is read (a longer or shorter file is refused).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

from cache.snapshot_format import (
    HASH_NAME,
    MAX_HEADER,
    REVOKED_DOC,
    SIG_MAGIC,
    SnapshotFormatError,
    SnapshotTruncated,
)
from cache.snapshot_format import (
    RECORD as EXCEPTION_RECORD,
)
from verifier.crypto import hashes
from verifier.safejson import JsonError
from verifier.safejson import loads as safe_loads

MAGIC: Final = b"OMSNATP\x01"
KIND: Final = "national-part"
FORMAT_VERSION: Final = 1

# Record layout: ENP value v = ENP mod 10^14 (the region is the part's), split into a
# directory key ``v >> ENP_SHIFT`` and a 23-bit low part kept in the top of the u32 key column;
# the key's low 9 bits and the 56-bit payload hold the rest (see pack_payload).
ENP_SHIFT: Final = 23
KEY_ATTACH_BITS: Final = 9
ATTACH_BITS: Final = 14  # (insurer, okato, clinic) combinations per part: 16384
MAX_ATTACH: Final = 1 << ATTACH_BITS
PAYLOAD_WIDTH: Final = 7
DATE_BITS: Final = 15
DATE_EPOCH: Final = date(1990, 1, 1)  # 0 = none; 1..32767 = 1990-01-02 .. 2079-09-18
MAX_DATE: Final = (1 << DATE_BITS) - 1
ROW_BITS: Final = 26  # rows per part (67 M) and the alias entry's row field
MAX_ROWS: Final = 1 << ROW_BITS
ALIAS_CODE_BITS: Final = 38
ENP_MOD: Final = 10**14
NAME_BUCKET_ROWS: Final = 64  # rows per name-index bucket on average
OLD_LETTERS: Final = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"

_SEC = struct.Struct("<4sIQ")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
ATTACH = struct.Struct("<QQII")  # ogrn, okato, clinic, reserved


@dataclass(frozen=True)
class SectionSpec:
    tag: str
    width: int | None  # None: chosen per file (name index: 3 or 4 bytes)
    what: str


ORDER: Final = (
    SectionSpec("NATT", ATTACH.size, "attachment dictionary (insurer, okato, clinic)"),
    SectionSpec("NDHI", 4, "ENP directory: v >> 23, ascending"),
    SectionSpec("NDST", 4, "ENP directory: first row of each directory entry, then N"),
    SectionSpec("NKEY", 4, "per row: ENP low 23 bits << 9 | attachment low 9 bits"),
    SectionSpec("NPAY", PAYLOAD_WIDTH, "per row: 56-bit payload"),
    SectionSpec("NHSH", 8, "per row: name hash"),
    SectionSpec("NNDR", 4, "name index directory: first position per top-bits bucket, then N"),
    SectionSpec("NNIX", None, "name index: rows sorted by name hash"),
    SectionSpec("NALI", 8, "aliases: code << 26 | row, ascending"),
    SectionSpec("RECS", EXCEPTION_RECORD.size, "records that do not fit the columns (44 bytes)"),
    SectionSpec("ALIA", 0, "aliases that do not fit a code (u16-prefixed, snapshot encoding)"),
    SectionSpec("REVP", REVOKED_DOC.size, "revoked documents (12 bytes, snapshot encoding)"),
    SectionSpec("REVK", 0, "revoked key ids (u16-prefixed ASCII)"),
)
TAGS: Final = tuple(s.tag for s in ORDER)


def pad8(n: int) -> int:
    return (-n) % 8


def date_code(value: date | None) -> int | None:
    """15-bit day code, or None when the date cannot be held (the record becomes an exception)."""
    if value is None:
        return 0
    days = (value - DATE_EPOCH).days
    return days if 1 <= days <= MAX_DATE else None


_DATES: list[date | None] = [None] + [
    DATE_EPOCH + timedelta(days=i) for i in range(1, MAX_DATE + 1)
]


def code_date(code: int) -> date | None:
    return _DATES[code]


def alias_code(kind: int, number: str) -> int | None:
    """A 38-bit exact code for the usual alias shapes; None means "store it as an exception".

    Temporary certificate: 9 digits (kind bit 0). Old policy: 2 digits, one capital Cyrillic
    letter, 7 digits (kind bit 1): region 7 bits, letter 6 bits, number 24 bits.
    """
    if kind == 2 and len(number) == 9 and number.isascii() and number.isdigit():
        return int(number)
    if (
        kind == 1
        and len(number) == 10
        and number[:2].isascii()
        and number[:2].isdigit()
        and number[3:].isascii()
        and number[3:].isdigit()
    ):
        letter = OLD_LETTERS.find(number[2])
        if letter >= 0:
            return 1 << 37 | int(number[:2]) << 30 | letter << 24 | int(number[3:])
    return None


@dataclass(frozen=True)
class PartHeader:
    region: str
    sequence: int
    created_at: datetime
    register_valid_until: datetime
    revocations_valid_until: datetime
    counts: dict[str, int]
    key_id: str
    name_key_id: str
    name_bits: int
    index_width: int
    records: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "region": self.region,
            "sequence": self.sequence,
            "created_at": self.created_at.isoformat(),
            "parts": {
                "register": {"valid_until": self.register_valid_until.isoformat()},
                "revocations": {"valid_until": self.revocations_valid_until.isoformat()},
            },
            "counts": self.counts,
            "records": self.records,
            "layout": {
                "enp_shift": ENP_SHIFT,
                "attach_bits": ATTACH_BITS,
                "date_epoch": DATE_EPOCH.isoformat(),
                "name_bits": self.name_bits,
                "index_width": self.index_width,
            },
            "key_id": self.key_id,
            "hash": HASH_NAME,
            "signature": "gost2012_256",
            "name_hash": {"alg": "hmac-streebog256-64", "key_id": self.name_key_id},
            **self.extra,
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> PartHeader:
        """Strictly typed: the header is read before the signature is checked."""
        try:
            doc = safe_loads(raw, max_bytes=MAX_HEADER, what="national part header")
        except JsonError as exc:
            raise SnapshotFormatError(exc.message) from exc
        if not isinstance(doc, dict):
            raise SnapshotFormatError("national part header must be a JSON object")
        if doc.get("format_version") != FORMAT_VERSION or doc.get("kind") != KIND:
            raise SnapshotFormatError(
                "not a national part of a supported version", code="snapshot_version"
            )
        if doc.get("hash") != HASH_NAME:
            raise SnapshotFormatError(f"unsupported snapshot hash {doc.get('hash')!r}")
        region = _text(doc, "region")
        if len(region) != 2 or not region.isascii() or not region.isdigit():
            raise SnapshotFormatError("national part region must be two digits")
        layout = _obj(doc, "layout")
        if (
            layout.get("enp_shift") != ENP_SHIFT
            or layout.get("attach_bits") != ATTACH_BITS
            or layout.get("date_epoch") != DATE_EPOCH.isoformat()
        ):
            raise SnapshotFormatError("national part layout is not supported")
        name_bits = _int(layout, "name_bits", 0, 32)
        width = _int(layout, "index_width", 3, 4)
        records = _int(doc, "records", 0, MAX_ROWS)
        counts_doc = _obj(doc, "counts")
        counts = {t: _int(counts_doc, t, 0, 1 << 40) for t in TAGS}
        parts = _obj(doc, "parts")
        name_hash = _obj(doc, "name_hash")
        head = cls(
            region=region,
            sequence=_int(doc, "sequence", 0, (1 << 63) - 1),
            created_at=_time(doc, "created_at"),
            register_valid_until=_time(_obj(parts, "register"), "valid_until"),
            revocations_valid_until=_time(_obj(parts, "revocations"), "valid_until"),
            counts=counts,
            key_id=_text(doc, "key_id"),
            name_key_id=_text(name_hash, "key_id"),
            name_bits=name_bits,
            index_width=width,
            records=records,
        )
        head.check_shape()
        return head

    def check_shape(self) -> None:
        """Counts that agree with each other (so sizes and offsets are all derivable)."""
        c, n = self.counts, self.records
        if c["NKEY"] != n or c["NPAY"] != n or c["NHSH"] != n or c["NNIX"] != n:
            raise SnapshotFormatError("national part columns disagree on the record count")
        if c["NDST"] != c["NDHI"] + 1 or c["NNDR"] != (1 << self.name_bits) + 1:
            raise SnapshotFormatError("national part directories have the wrong size")
        if c["NATT"] > MAX_ATTACH:
            raise SnapshotFormatError("national part attachment dictionary is too large")
        if n > (1 << 24) and self.index_width != 4:
            raise SnapshotFormatError("national part name index is too narrow")

    def width(self, tag: str) -> int:
        spec = ORDER[TAGS.index(tag)]
        return self.index_width if spec.width is None else spec.width

    def layout(self) -> dict[str, tuple[int, int]]:
        """Section tag -> (data offset, data length) in the file; also "END " and the total."""
        head = self.to_json()
        off = len(MAGIC) + 4 + len(head)
        off += pad8(off)
        out: dict[str, tuple[int, int]] = {}
        for tag in TAGS:
            length = self.counts[tag] * (self.width(tag) or 1)
            off += _SEC.size
            out[tag] = (off, length)
            off += length + pad8(length)
        out["END "] = (off + _SEC.size, 0)
        out["total"] = (off + _SEC.size, 0)  # signed bytes
        return out


def _text(doc: dict[str, Any], name: str) -> str:
    v = doc.get(name)
    if not isinstance(v, str):
        raise SnapshotFormatError(f"national part header {name} must be a string")
    return v


def _obj(doc: dict[str, Any], name: str) -> dict[str, Any]:
    v = doc.get(name)
    if not isinstance(v, dict):
        raise SnapshotFormatError(f"national part header {name} must be an object")
    return v


def _int(doc: dict[str, Any], name: str, lo: int, hi: int) -> int:
    v = doc.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise SnapshotFormatError(f"national part header {name} must be an integer {lo}..{hi}")
    return v


def _time(doc: dict[str, Any], name: str) -> datetime:
    try:
        value = datetime.fromisoformat(_text(doc, name))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise SnapshotFormatError(f"national part header {name} must be an ISO time with a zone")
    return value.astimezone(UTC)


# --- writing -----------------------------------------------------------------------------------


class PartWriter:
    """Write the sections of :data:`ORDER` in order (bytes or buffers), then sign."""

    def __init__(self, out: IO[bytes], header: PartHeader) -> None:
        self._out = out
        self._h = header
        self._hash = hashes.new(HASH_NAME)
        self._next = 0
        self._left = 0
        self._written = 0
        head = header.to_json()
        if len(head) > MAX_HEADER:
            raise SnapshotFormatError("national part header too large")
        first = MAGIC + _U32.pack(len(head)) + head
        self._emit(first + b"\0" * pad8(len(first)))

    def _emit(self, data: Any) -> None:
        self._hash.update(data)
        self._out.write(data)

    def begin(self, tag: str) -> None:
        if self._left:
            raise SnapshotFormatError(f"section {TAGS[self._next - 1]} is short")
        if self._next >= len(TAGS) or TAGS[self._next] != tag:
            raise SnapshotFormatError(f"section {tag} out of order")
        self._next += 1
        w = self._h.width(tag)
        self._emit(_SEC.pack(tag.encode(), w, self._h.counts[tag]))
        self._left = self._h.counts[tag] * (w or 1)
        self._written = 0

    def data(self, chunk: Any) -> None:
        n = len(memoryview(chunk).cast("B"))
        if n > self._left:
            raise SnapshotFormatError("section longer than its count")
        self._emit(chunk)
        self._left -= n
        self._written += n

    def end_section(self) -> None:
        if self._left:
            raise SnapshotFormatError("section shorter than its count")
        self._emit(b"\0" * pad8(self._written))

    def section(self, tag: str, data: Any) -> None:
        """``data``: anything with the buffer protocol (bytes, a contiguous numpy array)."""
        self.begin(tag)
        view = memoryview(data).cast("B")
        for i in range(0, len(view), 1 << 24):
            self.data(view[i : i + (1 << 24)])
        self.end_section()

    def finish(self, sign_digest: Callable[[bytes], bytes]) -> bytes:
        if self._next != len(TAGS) or self._left:
            raise SnapshotFormatError("national part is missing sections")
        self._emit(_SEC.pack(b"END ", 0, 0))
        digest = self._hash.digest()
        sig = sign_digest(digest)
        self._out.write(SIG_MAGIC + _U16.pack(len(sig)) + sig)
        return digest


def var_records(records: list[bytes]) -> bytes:
    return b"".join(_U16.pack(len(r)) + r for r in records)


@dataclass
class PartColumns:
    """One region's records as column arrays in ascending ENP order, ready to be written.

    ``v`` is ENP mod 10^14; dates are :func:`date_code` values (0 = none); ``attach`` indexes
    ``attach_table`` ((ОГРН, ОКАТО, clinic) as integers); ``nhash`` is the big-endian value of
    each 8-byte name hash; ``alias_codes`` are ``alias_code << ROW_BITS | row``. Records that do
    not fit the columns go to ``exceptions`` (the snapshot record encoding), aliases without a
    code to ``var_aliases``. Shared by the registry's exporter and the synthetic generator.
    """

    v: npt.NDArray[np.int64]
    ptype: npt.NDArray[np.uint8]
    status: npt.NDArray[np.uint8]
    since: npt.NDArray[np.uint64]
    start: npt.NDArray[np.uint64]
    end: npt.NDArray[np.uint64]
    attach: npt.NDArray[np.int64]
    nhash: npt.NDArray[np.uint64]
    attach_table: list[tuple[int, int, int]]
    alias_codes: npt.NDArray[np.uint64]
    exceptions: list[bytes] = field(default_factory=list)
    var_aliases: list[bytes] = field(default_factory=list)
    revoked_docs: bytes = b""
    revoked_keys: list[bytes] = field(default_factory=list)


def write_part_file(
    path: Path,
    region: str,
    cols: PartColumns,
    *,
    sequence: int,
    created: datetime,
    register_valid_until: datetime,
    revocations_valid_until: datetime,
    key_id: str,
    name_key_id: str,
    sign: Callable[[bytes], bytes],
    opener: Callable[[str, int], int] | None = None,
) -> None:
    """Build the sections of one region's part from ``cols`` and write it signed, atomically
    (a temp file renamed over ``path``): the one writer of the format."""
    n = len(cols.v)
    if n > MAX_ROWS:
        raise SnapshotFormatError(f"a national part holds at most {MAX_ROWS} records")
    if len(cols.attach_table) > MAX_ATTACH:
        raise SnapshotFormatError("too many attachment combinations for one part")
    if n > 1 and bool(np.any(np.diff(cols.v) <= 0)):
        raise SnapshotFormatError("national part records must be in strictly ascending ENP order")
    attach = cols.attach.astype(np.uint64)
    low = (cols.v & ((1 << ENP_SHIFT) - 1)).astype(np.uint64)
    keycol = ((low << np.uint64(KEY_ATTACH_BITS)) | (attach & np.uint64(511))).astype("<u4")
    pay = (
        (attach >> np.uint64(9))
        | cols.ptype.astype(np.uint64) << np.uint64(5)
        | cols.status.astype(np.uint64) << np.uint64(8)
        | cols.since.astype(np.uint64) << np.uint64(11)
        | cols.start.astype(np.uint64) << np.uint64(26)
        | cols.end.astype(np.uint64) << np.uint64(41)
    ).astype("<u8")
    pay7 = pay.view(np.uint8).reshape(n, 8)[:, :7]
    high = (cols.v >> ENP_SHIFT).astype(np.int64)
    uniq, first = np.unique(high, return_index=True)
    dir_start = np.append(first, n).astype("<u4")
    nhash = cols.nhash.astype(np.uint64)
    hashes_be = nhash.astype(">u8")
    order = np.argsort(nhash, kind="stable")
    name_bits = (
        max(0, math.ceil(math.log2(max(n, 1) / NAME_BUCKET_ROWS))) if n > NAME_BUCKET_ROWS else 0
    )
    if name_bits:
        buckets = (nhash[order] >> np.uint64(64 - name_bits)).astype(np.int64)
        ndir = np.searchsorted(buckets, np.arange((1 << name_bits) + 1), side="left").astype("<u4")
    else:
        ndir = np.array([0, n], dtype="<u4")
    width = 3 if n <= 1 << 24 else 4
    idx = order.astype("<u4").view(np.uint8).reshape(n, 4)[:, :width]
    alias_col = np.sort(cols.alias_codes.astype(np.uint64)).astype("<u8")
    att = b"".join(ATTACH.pack(o, k, c, 0) for o, k, c in cols.attach_table)
    counts = {
        "NATT": len(cols.attach_table),
        "NDHI": len(uniq),
        "NDST": len(uniq) + 1,
        "NKEY": n,
        "NPAY": n,
        "NHSH": n,
        "NNDR": len(ndir),
        "NNIX": n,
        "NALI": len(alias_col),
        "RECS": len(cols.exceptions),
        "ALIA": len(var_records(cols.var_aliases)),
        "REVP": len(cols.revoked_docs) // REVOKED_DOC.size,
        "REVK": len(var_records(cols.revoked_keys)),
    }
    head = PartHeader(
        region=region,
        sequence=sequence,
        created_at=created,
        register_valid_until=register_valid_until,
        revocations_valid_until=revocations_valid_until,
        counts=counts,
        key_id=key_id,
        name_key_id=name_key_id,
        name_bits=name_bits,
        index_width=width,
        records=n,
    )
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", opener=opener) as f:
        w = PartWriter(f, head)
        w.section("NATT", att)
        w.section("NDHI", uniq.astype("<u4").tobytes())
        w.section("NDST", dir_start.tobytes())
        w.section("NKEY", keycol)
        _chunked(w, "NPAY", pay7)
        w.section("NHSH", hashes_be)
        w.section("NNDR", ndir)
        _chunked(w, "NNIX", idx)
        w.section("NALI", alias_col)
        w.section("RECS", b"".join(cols.exceptions))
        w.section("ALIA", var_records(cols.var_aliases))
        w.section("REVP", cols.revoked_docs)
        w.section("REVK", var_records(cols.revoked_keys))
        w.finish(sign)
        f.flush()
    tmp.replace(path)


def _chunked(w: PartWriter, tag: str, arr: npt.NDArray[np.uint8]) -> None:
    """A strided (n, k) byte view written without one big copy."""
    w.begin(tag)
    step = 1 << 20
    for i in range(0, len(arr), step):
        w.data(np.ascontiguousarray(arr[i : i + step]).tobytes())
    w.end_section()


# --- reading the frame -------------------------------------------------------------------------


def read_header(src: IO[bytes]) -> tuple[PartHeader, bytes]:
    """(header, the exact signed bytes read so far); bounded whatever the input."""
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise SnapshotFormatError("not a national register part (bad magic)", code="snapshot_magic")
    raw_len = src.read(4)
    if len(raw_len) != 4:
        raise SnapshotTruncated("national part ends inside its header")
    (hlen,) = _U32.unpack(raw_len)
    if hlen > MAX_HEADER:
        raise SnapshotFormatError(f"national part header of {hlen} bytes is too large")
    raw = src.read(hlen)
    if len(raw) != hlen:
        raise SnapshotTruncated("national part ends inside its header")
    head = PartHeader.from_json(raw)
    if head.to_json() != raw:
        # The layout (offsets) is derived from the canonical header; a different spelling of the
        # same content would shift every section.
        raise SnapshotFormatError("national part header is not in canonical form")
    pad = src.read(pad8(len(MAGIC) + 4 + hlen))
    return head, magic + raw_len + raw + pad


def check_frame(view: memoryview, head: PartHeader) -> None:
    """Every section header in place with the announced tag, width and count; zero padding."""
    layout = head.layout()
    for tag in (*TAGS, "END "):
        off, length = layout[tag]
        s_tag, width, count = _SEC.unpack_from(view, off - _SEC.size)
        want_w = 0 if tag == "END " else head.width(tag)
        want_c = 0 if tag == "END " else head.counts[tag]
        if s_tag != tag.encode() or width != want_w or count != want_c:
            raise SnapshotFormatError(f"national part section {tag} is malformed")
        pad = view[off + length : off + length + pad8(length)]
        if tag != "END " and any(pad):
            raise SnapshotFormatError(f"national part section {tag} has non-zero padding")
