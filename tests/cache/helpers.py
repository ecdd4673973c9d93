"""Builders shared by the register-snapshot tests: real files, real GOST signatures, real SQLite.

Nothing here replaces project code: snapshots are written with :class:`SnapshotWriter` or the
registry generator and signed with the generator's demo key; signatures are checked with
:func:`verify_digest`; stores are real SQLite files under ``tmp_path``.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cache.register_model import (
    Alias,
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    RevocationReason,
)
from cache.snapshot_format import (
    Section,
    SnapshotHeader,
    SnapshotKind,
    SnapshotWriter,
    pack_alias,
    pack_record,
    pack_revoked_doc,
)
from cache.snapshot_store import SignatureCheck, SnapshotStore
from verifier.crypto.keys import PrivateKey, PublicKey
from verifier.crypto.signatures import sign_digest, verify_digest
from verifier.devkit.generator import GeneratedRegister, demo_signing_key, generate
from verifier.errors import OmsError

REGION = "50"
SEED = 4242
# The stamp of the generator's last part; everything time-dependent is relative to it.
CREATED = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
VALID_HOURS = 72.0

_SECTION = struct.Struct(">4sII")


# --- signatures --------------------------------------------------------------------------------


def key_checker(*keys: PublicKey) -> SignatureCheck:
    """A signature check for ``SnapshotStore.import_*``: keys by id, unknown id -> OmsError."""
    by_id = {k.key_id(): k for k in keys}

    def check(key_id: str, digest: bytes, signature: bytes) -> bool:
        key = by_id.get(key_id)
        if key is None:
            raise OmsError(f"snapshot signed by unknown key {key_id}", code="snapshot_key_unknown")
        return verify_digest(key, digest, signature)

    return check


def demo_key(seed: int | str = SEED) -> PrivateKey:
    return demo_signing_key(seed)


# --- the generator's register and its ground truth ----------------------------------------------


@dataclass(frozen=True)
class Register:
    gen: GeneratedRegister
    rows: list[dict[str, str]]  # persons.csv, every row
    seed: int

    @property
    def live(self) -> list[dict[str, str]]:
        return [r for r in self.rows if not r["deleted"]]

    @property
    def deleted(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r["deleted"]]

    @property
    def match_key(self) -> bytes:
        return bytes.fromhex((self.gen.out_dir / "match.key").read_text().strip())

    @property
    def check(self) -> SignatureCheck:
        return key_checker(demo_key(self.seed).public_key())

    def first(self, **want: str) -> dict[str, str]:
        return next(r for r in self.live if all(r[k] == v for k, v in want.items()))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def generate_register(
    out: Path,
    *,
    persons: int,
    deltas: int = 3,
    seed: int = SEED,
    region: str = REGION,
    delta_fraction: float = 0.03,
    created_at: datetime = CREATED,
    valid_hours: float = VALID_HOURS,
) -> Register:
    gen = generate(
        out,
        persons=persons,
        region=region,
        seed=seed,
        deltas=deltas,
        delta_fraction=delta_fraction,
        created_at=created_at,
        valid_hours=valid_hours,
    )
    return Register(gen, read_csv(out / "persons.csv"), seed)


def import_all(store: SnapshotStore, reg: Register, upto: int | None = None) -> None:
    """The full snapshot, then deltas in order (up to sequence ``upto``)."""
    for f in reg.gen.files:
        seq = int(f.stem.split("-")[1])
        if upto is None or seq <= upto:
            store.import_file(f, reg.check)


# --- hand-written snapshots --------------------------------------------------------------------


def record(
    enp: int | str,
    *,
    status: PolicyStatus = PolicyStatus.ACTIVE,
    policy_type: PolicyType = PolicyType.DIGITAL,
    start: date = date(2015, 6, 1),
    end: date | None = None,
    name_hash: bytes = b"\x11" * 8,
) -> RegisterRecord:
    return RegisterRecord(
        enp=f"{int(enp):016d}",
        policy_type=policy_type,
        status=status,
        status_since=start,
        smo_ogrn="1027739008440",
        okato="46000",
        start=start,
        end=end,
        clinic="500001",
        name_hash=name_hash,
    )


def snapshot_bytes(
    *,
    key: PrivateKey,
    kind: SnapshotKind = SnapshotKind.FULL,
    sequence: int = 1,
    base: int | None = None,
    region: str = REGION,
    created: datetime = CREATED,
    valid_hours: float = VALID_HOURS,
    records: Sequence[RegisterRecord] = (),
    aliases: Sequence[Alias] = (),
    deletions: Sequence[str] = (),
    revoked_docs: Sequence[DocumentRevocation] = (),
    revoked_keys: Sequence[str] = (),
    counts: dict[str, int] | None = None,
    key_id: str | None = None,
    format_version: int | None = None,
    name_key_id: str = "",
    sign_with: PrivateKey | None = None,
) -> bytes:
    """A snapshot written by the real writer; ``counts``/``key_id``/``sign_with`` can lie."""
    recs = [pack_record(r) for r in records]
    alia = [pack_alias(a) for a in aliases]
    dels = [int(e).to_bytes(8, "big") for e in deletions]
    revp = [pack_revoked_doc(d) for d in revoked_docs]
    revk = [k.encode("ascii") for k in revoked_keys]
    true_counts = {
        Section.RECORDS.value: len(recs),
        Section.ALIASES.value: len(alia),
        Section.DELETIONS.value: len(dels),
        Section.REVOKED_DOCS.value: len(revp),
        Section.REVOKED_KEYS.value: len(revk),
    }
    until = created + timedelta(hours=valid_hours)
    header = SnapshotHeader(
        kind=kind,
        region=region,
        sequence=sequence,
        base_sequence=base,
        created_at=created,
        register_valid_until=until,
        revocations_valid_until=until,
        counts=counts if counts is not None else true_counts,
        key_id=key_id or key.public_key().key_id(),
        name_key_id=name_key_id,
        **({"format_version": format_version} if format_version is not None else {}),
    )
    out = io.BytesIO()
    w = SnapshotWriter(out, header)
    w.fixed_section(Section.RECORDS, recs)
    w.var_section(Section.ALIASES, alia)
    w.fixed_section(Section.DELETIONS, dels)
    w.fixed_section(Section.REVOKED_DOCS, revp)
    w.var_section(Section.REVOKED_KEYS, revk)
    signer = sign_with or key
    w.finish(lambda d: sign_digest(signer, d))
    return out.getvalue()


def small_full(
    key: PrivateKey,
    *,
    sequence: int = 1,
    status: PolicyStatus = PolicyStatus.ACTIVE,
    first: int = 5000000000000001,
    n: int = 20,
    **kw: Any,
) -> bytes:
    """A full snapshot of ``n`` records with every section present."""
    recs = [record(first + i, status=status) for i in range(n)]
    aliases = [
        Alias(recs[0].enp, AliasKind.TEMP_CERT, "123456789"),
        Alias(recs[1].enp, AliasKind.OLD_NUMBER, "50А1234567"),
    ]
    revoked = [
        DocumentRevocation(recs[2].enp, Carrier.PAPER, date(2024, 1, 2), RevocationReason.LOST)
    ]
    kw.setdefault("revoked_keys", ["0" * 32])
    return snapshot_bytes(
        key=key, sequence=sequence, records=recs, aliases=aliases, revoked_docs=revoked, **kw
    )


# --- layout of a file, parsed independently of the reader --------------------------------------


@dataclass(frozen=True)
class Layout:
    header_start: int  # first byte of the JSON header
    header_end: int  # first byte after it
    sections: dict[str, tuple[int, int, int]]  # tag -> (offset of the section head, count, size)
    end: int  # offset of the END section head
    sig: int  # offset of "SIG1"
    total: int

    def records_of(self, tag: str) -> int:
        return self.sections[tag][0] + _SECTION.size


def layout(data: bytes) -> Layout:
    (hlen,) = struct.unpack_from(">I", data, 8)
    pos = 12 + hlen
    sections: dict[str, tuple[int, int, int]] = {}
    while True:
        tag_b, count, size = _SECTION.unpack_from(data, pos)
        tag = tag_b.decode("ascii")
        sections[tag] = (pos, count, size)
        if tag == "END ":
            end = pos
            pos += _SECTION.size
            break
        pos += _SECTION.size
        if size:
            pos += count * size
        else:
            for _ in range(count):
                (n,) = struct.unpack_from(">H", data, pos)
                pos += 2 + n
    return Layout(12, 12 + hlen, sections, end, pos, len(data))


# --- what a store serves -----------------------------------------------------------------------


def stage_tables(db_path: Path) -> list[str]:
    db = sqlite3.connect(db_path)
    try:
        return [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'stage_%'"
            )
        ]
    finally:
        db.close()


def table_dump(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every live table and of meta, sorted: the store's whole served state."""
    db = sqlite3.connect(db_path)
    try:
        return {
            t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608 - table names are constants
            for t in ("meta", "records", "aliases", "revoked_docs", "revoked_keys")
        }
    finally:
        db.close()


@dataclass(frozen=True)
class Served:
    info: Any
    answers: tuple[Any, ...]
    tables: dict[str, list[tuple[Any, ...]]]


def served(
    store: SnapshotStore,
    enps: Iterable[str] = (),
    aliases: Iterable[tuple[AliasKind, str]] = (),
) -> Served:
    """What the store answers through its public API, plus the raw tables behind it."""
    answers: list[Any] = []
    for enp in enps:
        answers.append(store.lookup_enp(enp))
        answers.append(store.document_revocation(enp, Carrier.PAPER))
        answers.append(store.document_revocation(enp, Carrier.CARD))
    for kind, number in aliases:
        answers.append(store.lookup_alias(kind, number))
    return Served(store.info(), tuple(answers), table_dump(store.path))


def delta_on(
    store: SnapshotStore,
    records: Sequence[RegisterRecord],
    path: Path,
    *,
    deletions: Sequence[str] = (),
    created: datetime | None = None,
) -> Path:
    """A signed delta on top of ``store``'s snapshot, written to ``path``: ``records`` changed
    or added, ``deletions`` removed, made ``created`` (a minute after the snapshot if not
    given)."""
    info = store.info()
    assert info.sequence is not None and info.created_at is not None  # a delta needs its base
    path.write_bytes(
        snapshot_bytes(
            key=demo_key(SEED),
            kind=SnapshotKind.DELTA,
            sequence=info.sequence + 1,
            base=info.sequence,
            created=created or info.created_at + timedelta(minutes=1),
            records=records,
            deletions=deletions,
            name_key_id=info.name_key_id or "",
        )
    )
    return path


def annulling_delta(
    store: SnapshotStore, victims: Sequence[str], path: Path, created: datetime
) -> Path:
    """A signed delta on top of ``store``'s snapshot that annuls every other of ``victims``
    (the first, third, ...) and deletes the rest: what an import landing mid-batch brings."""
    records: list[RegisterRecord] = []
    for enp in victims[::2]:
        rec = store.lookup_enp(enp)
        assert rec is not None and rec.enp == enp, enp
        records.append(replace(rec, status=PolicyStatus.ANNULLED))
    return delta_on(store, records, path, deletions=victims[1::2], created=created)
