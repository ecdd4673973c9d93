"""The golden snapshot vectors (tests/data/cache/golden.json): JSON <-> register model."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from cache import name_hash
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
from cache.snapshot_format import SnapshotKind
from tests.vectors import DATA, load_json
from verifier.crypto.keys import PrivateKey

from .helpers import snapshot_bytes

GOLDEN = "cache/golden.json"


def load() -> dict[str, Any]:
    doc: dict[str, Any] = load_json(GOLDEN)
    return doc


def file_bytes(doc: dict[str, Any], part: str) -> bytes:
    return (DATA / "cache" / doc[part]["file"]).read_bytes()


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def to_record(d: dict[str, Any]) -> RegisterRecord:
    return RegisterRecord(
        enp=d["enp"],
        policy_type=PolicyType[d["policy_type"].upper()],
        status=PolicyStatus[d["status"].upper()],
        status_since=_day(d["status_since"]),
        smo_ogrn=d["smo_ogrn"],
        okato=d["okato"],
        start=_day(d["start"]),
        end=_day(d["end"]),
        clinic=d["clinic"],
        name_hash=bytes.fromhex(d["name_hash"]),
    )


def to_alias(d: dict[str, Any]) -> Alias:
    return Alias(d["enp"], AliasKind[d["kind"].upper()], d["number"])


def to_revocation(d: dict[str, Any]) -> DocumentRevocation:
    return DocumentRevocation(
        d["enp"],
        Carrier[d["carrier"].upper()],
        _day(d["since"]),
        RevocationReason[d["reason"].upper()],
    )


def golden_snapshot(doc: dict[str, Any], part: str, key: PrivateKey) -> bytes:
    """Write one part of the golden spec with the real writer (fresh signature each time)."""
    p = doc[part]
    created = datetime.fromisoformat(p["created_at"])
    hours = (datetime.fromisoformat(p["valid_until"]) - created).total_seconds() / 3600
    return snapshot_bytes(
        key=key,
        kind=SnapshotKind(p["kind"]),
        sequence=p["sequence"],
        base=p["base_sequence"],
        region=doc["region"],
        created=created,
        valid_hours=hours,
        records=[to_record(r) for r in p["records"]],
        aliases=[to_alias(a) for a in p["aliases"]],
        deletions=p["deletions"],
        revoked_docs=[to_revocation(d) for d in p["revoked_docs"]],
        revoked_keys=p["revoked_keys"],
        name_key_id=name_hash.key_id(bytes.fromhex(doc["match_key"])),
    )
