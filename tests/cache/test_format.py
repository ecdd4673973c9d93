"""The snapshot file format against committed golden vectors (tests/data/cache/golden.json)."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cache import name_hash
from cache.register_model import (
    AliasKind,
    Carrier,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    from_days,
    to_days,
)
from cache.snapshot_format import (
    RECORD,
    SIG_MAGIC,
    Section,
    SnapshotKind,
    SnapshotReader,
    pack_record,
    unpack_revoked_doc,
)
from cache.snapshot_store import SnapshotStore
from verifier.crypto.signatures import verify_digest

from . import golden
from .helpers import demo_key, key_checker, layout

DOC = golden.load()
PARTS = ("full", "delta")


def _read(data: bytes) -> tuple[Any, dict[Section, list[tuple[Any, ...]]], bytes, bytes]:
    reader = SnapshotReader(io.BytesIO(data))
    rows: dict[Section, list[tuple[Any, ...]]] = {}
    for chunk in reader.chunks():
        rows.setdefault(chunk.section, []).extend(chunk.rows)
    digest, sig = reader.finish()
    return reader.header, rows, digest, sig


@pytest.mark.parametrize("part", PARTS)
def test_golden_file_parses_to_its_spec(part: str) -> None:
    spec = DOC[part]
    data = golden.file_bytes(DOC, part)
    assert len(data) == spec["size"]
    head, rows, digest, sig = _read(data)
    assert head.kind is SnapshotKind(spec["kind"])
    assert head.region == DOC["region"]
    assert head.sequence == spec["sequence"]
    assert head.base_sequence == spec["base_sequence"]
    assert head.created_at == datetime.fromisoformat(spec["created_at"])
    assert head.register_valid_until == datetime.fromisoformat(spec["valid_until"])
    assert head.revocations_valid_until == datetime.fromisoformat(spec["valid_until"])
    assert head.key_id == DOC["key_id"] == demo_key(DOC["key_seed"]).public_key().key_id()
    assert head.name_hash == name_hash.ALG
    assert head.name_key_id == name_hash.key_id(bytes.fromhex(DOC["match_key"]))
    assert head.counts == {
        "RECS": len(spec["records"]),
        "ALIA": len(spec["aliases"]),
        "DELS": len(spec["deletions"]),
        "REVP": len(spec["revoked_docs"]),
        "REVK": len(spec["revoked_keys"]),
    }
    got_records = [RegisterRecord.from_row(r) for r in rows.get(Section.RECORDS, [])]
    assert got_records == [golden.to_record(r) for r in spec["records"]]
    want_aliases = [golden.to_alias(a) for a in spec["aliases"]]
    assert rows.get(Section.ALIASES, []) == [
        (int(a.kind), a.number, int(a.enp)) for a in want_aliases
    ]
    assert rows.get(Section.DELETIONS, []) == [(int(e),) for e in spec["deletions"]]
    assert [unpack_revoked_doc(r) for r in rows.get(Section.REVOKED_DOCS, [])] == [
        golden.to_revocation(d) for d in spec["revoked_docs"]
    ]
    assert rows.get(Section.REVOKED_KEYS, []) == [(k,) for k in spec["revoked_keys"]]
    assert digest.hex() == spec["digest"]
    assert verify_digest(demo_key(DOC["key_seed"]).public_key(), digest, sig)


@pytest.mark.parametrize("part", PARTS)
def test_writer_reproduces_the_golden_bytes_up_to_the_signature(part: str) -> None:
    """Only the signature differs between two writes (random GOST nonce); both verify."""
    old = golden.file_bytes(DOC, part)
    new = golden.golden_snapshot(DOC, part, demo_key(DOC["key_seed"]))
    cut = layout(old).sig
    assert layout(new).sig == cut
    assert new[:cut] == old[:cut]
    assert new[cut : cut + 4] == old[cut : cut + 4] == SIG_MAGIC
    assert new[cut + 6 :] != old[cut + 6 :]
    pub = demo_key(DOC["key_seed"]).public_key()
    for data in (old, new):
        _h, _r, digest, sig = _read(data)
        assert verify_digest(pub, digest, sig)


def test_layout_matches_the_documented_one() -> None:
    data = golden.file_bytes(DOC, "full")
    lay = layout(data)
    assert data[:8] == b"OMSSNAP\x01"
    assert list(lay.sections) == ["RECS", "ALIA", "DELS", "REVP", "REVK", "END "]
    assert lay.sections["RECS"][2] == RECORD.size == 44
    assert lay.sections["DELS"][2] == 8
    assert lay.sections["REVP"][2] == 12
    assert lay.sections["ALIA"][2] == lay.sections["REVK"][2] == 0
    assert lay.sections["END "][1:] == (0, 0)
    assert lay.total == lay.sig + 4 + 2 + 64
    assert int.from_bytes(data[lay.sig + 4 : lay.sig + 6], "big") == 64


def test_golden_files_import_and_answer_as_specified(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "r.sqlite3")
    check = key_checker(demo_key(DOC["key_seed"]).public_key())
    full = io.BytesIO(golden.file_bytes(DOC, "full"))
    res = store.import_stream(full, check, region=DOC["region"])
    assert (res.kind, res.sequence, res.records) == (SnapshotKind.FULL, 7, 6)
    for r in DOC["full"]["records"]:
        assert store.lookup_enp(r["enp"]) == golden.to_record(r)
    res = store.import_stream(io.BytesIO(golden.file_bytes(DOC, "delta")), check)
    assert (res.kind, res.sequence, res.records) == (SnapshotKind.DELTA, 8, 3)

    want = DOC["after_delta"]
    info = store.info()
    assert info.sequence == 8
    assert info.records == len(want["records"])
    assert info.created_at == datetime.fromisoformat(DOC["delta"]["created_at"])
    assert info.register_valid_until == datetime.fromisoformat(DOC["delta"]["valid_until"])
    for r in want["records"]:
        assert store.lookup_enp(r["enp"]) == golden.to_record(r)
    for enp in want["absent"]:
        assert store.lookup_enp(enp) is None
    for a in want["aliases"]:
        got = store.lookup_alias(AliasKind[a["kind"].upper()], a["number"])
        assert got is not None and got.enp == a["enp"]
    for a in want["gone_aliases"]:
        assert store.lookup_alias(AliasKind[a["kind"].upper()], a["number"]) is None
    revoked = {(d["enp"], d["carrier"]) for d in want["revoked_docs"]}
    for d in want["revoked_docs"]:
        assert store.document_revocation(d["enp"], Carrier[d["carrier"].upper()]) == (
            golden.to_revocation(d)
        )
    for r in want["records"]:
        for carrier in Carrier:
            if (r["enp"], carrier.name.lower()) not in revoked:
                assert store.document_revocation(r["enp"], carrier) is None
    for k in want["revoked_keys"]:
        assert store.key_revoked(k)
    assert not store.key_revoked("cc" * 16)


def test_golden_name_hashes_are_a_known_answer() -> None:
    """HMAC-Streebog-256/64 of the normalised name: pinned values, recomputed here."""
    key = bytes.fromhex(DOC["match_key"])
    for r in DOC["after_delta"]["records"]:
        p = r["person"]
        born = date.fromisoformat(p["birth_date"])
        got = name_hash.name_hash(key, p["surname"], p["given_name"], p["patronymic"], born)
        assert got.hex() == r["name_hash"]


# --- records <-> rows --------------------------------------------------------------------------

_DAYS = st.integers(min_value=1, max_value=65535).map(from_days)
_RECORDS = st.builds(
    RegisterRecord,
    enp=st.integers(min_value=10**15, max_value=10**16 - 1).map(str),
    policy_type=st.sampled_from(list(PolicyType)),
    status=st.sampled_from(list(PolicyStatus)),
    status_since=st.none() | _DAYS,
    smo_ogrn=st.integers(min_value=10**12, max_value=10**13 - 1).map(str),
    okato=st.integers(min_value=10000, max_value=99999).map(str),
    start=st.none() | _DAYS,
    end=st.none() | _DAYS,
    clinic=st.none() | st.integers(min_value=1, max_value=999999).map(lambda n: f"{n:06d}"),
    name_hash=st.binary(min_size=8, max_size=8),
)


@given(_RECORDS)
def test_record_round_trips_through_the_wire_format(rec: RegisterRecord) -> None:
    raw = pack_record(rec)
    assert len(raw) == RECORD.size
    assert RegisterRecord.from_row(RECORD.unpack(raw)) == rec


def test_days_are_counted_from_1900() -> None:
    assert to_days(date(1900, 1, 2)) == 1
    assert from_days(0) is None and to_days(None) == 0
    assert from_days(to_days(date(2026, 3, 10))) == date(2026, 3, 10)


@pytest.mark.parametrize("okato", ["01000", "03000", "08000"])
def test_okato_with_a_leading_zero_survives_the_round_trip(okato: str) -> None:
    """ОКАТО codes of regions 01-08 (Алтайский край, Краснодарский край, …) begin with 0."""
    rec = RegisterRecord(
        "0150000000000001",
        PolicyType.DIGITAL,
        PolicyStatus.ACTIVE,
        None,
        "1027739008440",
        okato,
        None,
        None,
        None,
        bytes(8),
    )
    assert RegisterRecord.from_row(RECORD.unpack(pack_record(rec))).okato == okato
