"""The online registry protocol v1: wire models, their validation, and answer signatures.

Shared by the reference service (``verifier/registry/server/``) and the client, so both sides
agree byte for byte. Everything that arrives from the network goes through ``parse_*`` here,
which raises :class:`ProtocolError` for anything malformed — the client never uses an answer
it has not validated. The OpenAPI document is ``docs/registry-openapi.yaml``.

A person answer is signed by the registry (GOST R 34.10-2012 over Streebog-256 of the canonical
JSON of ``{"answered_at", "record"}``), with the same ``snapshot`` key that signs snapshots, so
an online answer carries proof that can be kept in the audit log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cache.register_model import PolicyStatus, PolicyType, RegisterRecord
from verifier.errors import OmsError

API_PREFIX = "/v1"
PROBLEM_TYPE = "application/problem+json"
MAX_BODY = 256 * 1024  # no registry answer we use is larger; refuse anything bigger
MAX_CANDIDATES = 5
_ENP = re.compile(r"^\d{16}$")
_DIGITS = re.compile(r"^\d{1,20}$")


class ProtocolError(OmsError):
    """The registry answered something we cannot use (garbage, wrong shape, bad signature)."""

    code = "registry_bad_answer"


class RegistryProblem(OmsError):
    """An RFC 9457 problem the registry sent on purpose (not found, unauthorised…)."""

    code = "registry_problem"

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- records ------------------------------------------------------------------------------------


def record_to_wire(r: RegisterRecord) -> dict[str, Any]:
    return {
        "enp": r.enp,
        "policy_type": r.policy_type.name.lower(),
        "status": r.status.name.lower(),
        "status_since": r.status_since.isoformat() if r.status_since else None,
        "smo_ogrn": r.smo_ogrn,
        "okato": r.okato,
        "start": r.start.isoformat() if r.start else None,
        "end": r.end.isoformat() if r.end else None,
        "clinic": r.clinic,
        "name_hash": r.name_hash.hex(),
    }


def _date(v: Any, name: str) -> date | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ProtocolError(f"{name} must be a date string")
    try:
        return date.fromisoformat(v)
    except ValueError as exc:
        raise ProtocolError(f"{name} is not an ISO date: {v!r}") from exc


def _digits(v: Any, name: str, *, allow_empty: bool = True) -> str:
    if not isinstance(v, str) or not (_DIGITS.match(v) or (allow_empty and v == "")):
        raise ProtocolError(f"{name} must be a digit string")
    return v


def record_from_wire(doc: Any) -> RegisterRecord:
    if not isinstance(doc, dict):
        raise ProtocolError("record must be an object")
    try:
        enp = doc["enp"]
        if not isinstance(enp, str) or not _ENP.match(enp):
            raise ProtocolError("record.enp must be 16 digits")
        nhash = doc.get("name_hash", "")
        if not isinstance(nhash, str) or len(nhash) > 64:
            raise ProtocolError("record.name_hash must be a short hex string")
        clinic = doc.get("clinic")
        if clinic is not None:
            _digits(clinic, "record.clinic", allow_empty=False)
        return RegisterRecord(
            enp=enp,
            policy_type=PolicyType[str(doc["policy_type"]).upper()],
            status=PolicyStatus[str(doc["status"]).upper()],
            status_since=_date(doc.get("status_since"), "record.status_since"),
            smo_ogrn=_digits(doc.get("smo_ogrn", ""), "record.smo_ogrn"),
            okato=_digits(doc.get("okato", ""), "record.okato"),
            start=_date(doc.get("start"), "record.start"),
            end=_date(doc.get("end"), "record.end"),
            clinic=clinic,
            name_hash=bytes.fromhex(nhash),
        )
    except ProtocolError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError(f"record is malformed: {exc!r}") from exc


# --- person answers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonAnswer:
    """A validated registry answer; ``raw`` is kept verbatim as proof for the audit log."""

    record: RegisterRecord
    answered_at: datetime
    key_id: str
    signature: bytes
    raw: bytes

    def signed_bytes(self) -> bytes:
        return signed_payload(self.record, self.answered_at)


def signed_payload(record: RegisterRecord, answered_at: datetime) -> bytes:
    return canonical_json(
        {"answered_at": answered_at.isoformat(), "record": record_to_wire(record)}
    )


def person_answer_to_wire(
    record: RegisterRecord, answered_at: datetime, key_id: str, signature: bytes
) -> dict[str, Any]:
    return {
        "record": record_to_wire(record),
        "answered_at": answered_at.isoformat(),
        "key_id": key_id,
        "signature": signature.hex(),
    }


def _aware(v: Any, name: str) -> datetime:
    if not isinstance(v, str):
        raise ProtocolError(f"{name} must be a timestamp string")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError as exc:
        raise ProtocolError(f"{name} is not an ISO timestamp") from exc
    if dt.tzinfo is None:
        raise ProtocolError(f"{name} has no time zone")
    return dt.astimezone(UTC)


def parse_json(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise ProtocolError(f"answer of {len(body)} bytes is too large")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"answer is not JSON: {exc}") from exc


def parse_person_answer(body: bytes) -> PersonAnswer:
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise ProtocolError("answer must be an object")
    sig = doc.get("signature")
    kid = doc.get("key_id")
    if (
        not isinstance(sig, str)
        or not isinstance(kid, str)
        or not re.fullmatch(r"[0-9a-f]{1,256}", sig)
    ):
        raise ProtocolError("answer lacks a hex signature and key id")
    return PersonAnswer(
        record=record_from_wire(doc.get("record")),
        answered_at=_aware(doc.get("answered_at"), "answered_at"),
        key_id=kid,
        signature=bytes.fromhex(sig),
        raw=body,
    )


def parse_candidates(body: bytes) -> list[PersonAnswer]:
    doc = parse_json(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("candidates"), list):
        raise ProtocolError("search answer must hold a candidates list")
    items = doc["candidates"]
    if len(items) > MAX_CANDIDATES:
        raise ProtocolError(f"search answered {len(items)} candidates, at most {MAX_CANDIDATES}")
    return [parse_person_answer(canonical_json(item)) for item in items]


def parse_time(body: bytes) -> datetime:
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise ProtocolError("time answer must be an object")
    return _aware(doc.get("now"), "now")


@dataclass(frozen=True, slots=True)
class DeltaRef:
    name: str
    sequence: int
    base_sequence: int


@dataclass(frozen=True, slots=True)
class SnapshotIndex:
    region: str
    full_name: str
    full_sequence: int
    latest_sequence: int
    deltas: tuple[DeltaRef, ...]


SNAPSHOT_FILE = re.compile(r"^(full|delta)-\d{6}\.omssnap$")


def snapshot_index_to_wire(idx: SnapshotIndex) -> dict[str, Any]:
    return {
        "region": idx.region,
        "full": {"name": idx.full_name, "sequence": idx.full_sequence},
        "latest_sequence": idx.latest_sequence,
        "deltas": [
            {"name": d.name, "sequence": d.sequence, "base_sequence": d.base_sequence}
            for d in idx.deltas
        ],
    }


def parse_snapshot_index(body: bytes) -> SnapshotIndex:
    doc = parse_json(body)
    try:
        full = doc["full"]
        deltas = tuple(
            DeltaRef(str(d["name"]), int(d["sequence"]), int(d["base_sequence"]))
            for d in doc["deltas"]
        )
        idx = SnapshotIndex(
            region=str(doc["region"]),
            full_name=str(full["name"]),
            full_sequence=int(full["sequence"]),
            latest_sequence=int(doc["latest_sequence"]),
            deltas=deltas,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"snapshot index is malformed: {exc!r}") from exc
    for name in (idx.full_name, *(d.name for d in idx.deltas)):
        if not SNAPSHOT_FILE.match(name):
            raise ProtocolError(f"snapshot file name {name!r} is not allowed")
    return idx


def problem(status: int, code: str, detail: str, title: str | None = None) -> dict[str, Any]:
    return {
        "type": f"https://oms-verifier.example/problems/{code}",
        "title": title or code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }


def parse_problem(status: int, body: bytes) -> RegistryProblem:
    try:
        doc = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    code = doc.get("code") if isinstance(doc.get("code"), str) else f"http_{status}"
    detail = (
        doc.get("detail") if isinstance(doc.get("detail"), str) else f"registry answered {status}"
    )
    return RegistryProblem(str(detail)[:300], code=str(code)[:64], status=status)
