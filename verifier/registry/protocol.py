"""The online registry protocol v1: wire models, their validation, and answer signatures.

Shared by the reference service (``verifier/registry/server/``) and the client, so both sides
agree byte for byte. Everything that arrives from the network goes through ``parse_*`` here,
which raises :class:`ProtocolError` for anything malformed — the client never uses an answer
it has not validated. The OpenAPI document is ``docs/registry-openapi.yaml``.

A person answer (answer format 2, ``ANSWER_VERSION``) is signed by the registry (GOST R
34.10-2012 over Streebog-256 of :func:`signed_payload`), with the same ``snapshot`` key that
signs snapshots, so an online answer carries proof that can be kept in the audit log. The
signed part binds the answer to the question and the time: the version tag (also a domain
separator from snapshot signatures), the client's random ``nonce``, the exact ``query`` (kind
and number), ``answered_at``, whether the person was ``found``, the ``record``, the ``alias``
that linked a temporary-certificate or old-number query to the record, and the revocation
state of the person's physical ``documents``. A "not found" is signed the same way (404 with
the signed fields next to the problem fields), so neither can be replayed for another
question or another time. Format 1 (a signature over ``{answered_at, record}`` only) is
refused: :data:`OLD_PROTOCOL`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeGuard

from cache.name_hash import normalize_name
from cache.register_model import (
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    RevocationReason,
)
from cache.snapshot_chain import SNAPSHOT_FILE
from verifier import safejson
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

ANSWER_VERSION = "oms-registry-answer/2"
NONCE_PARAM = "nonce"  # query parameter on every person lookup and search
NONCE_BYTES = 16
_NONCE = re.compile(r"^[0-9a-f]{32}$")
MAX_SEARCH_BODY = 1024 * 1024  # five candidates with their proofs; still bounded
QUERY_KINDS = ("enp", "temp_cert", "old_number", "search")
ALIAS_KIND = {AliasKind.TEMP_CERT: "temp_cert", AliasKind.OLD_NUMBER: "old_number"}
CARRIER_NAMES = {Carrier.PAPER: "paper", Carrier.CARD: "card"}

# Stable refusal codes (docs/registry.md, "Binding").
OLD_PROTOCOL = "answer_old_protocol"
NONCE_MISMATCH = "answer_nonce_mismatch"
QUERY_MISMATCH = "answer_query_mismatch"
RECORD_MISMATCH = "answer_record_mismatch"
CLOCK_SKEW = "answer_clock_skew"
TOO_LARGE = "answer_too_large"


class AnswerRefused(ProtocolError):
    """A well-formed answer that is not an answer to this question at this time."""

    code = "answer_refused"


class AnswerClockSkew(AnswerRefused):
    """``answered_at`` is outside now ± the allowed skew; ``future`` tells which side."""

    code = CLOCK_SKEW

    def __init__(self, message: str, *, future: bool) -> None:
        super().__init__(message, code=CLOCK_SKEW)
        self.future = future


def new_nonce() -> str:
    """16 random bytes, hex: unpredictable, so no answer can be prepared before it is asked."""
    return secrets.token_hex(NONCE_BYTES)


def valid_nonce(v: object) -> TypeGuard[str]:
    return isinstance(v, str) and bool(_NONCE.match(v))


def normalize_number(kind: AliasKind, number: str) -> str:
    """The one spelling of an alias both sides use (and the signed answer echoes)."""
    if kind is AliasKind.TEMP_CERT:
        return re.sub(r"\s+", "", number)
    return re.sub(r"[\s\-№]+", "", number).upper().replace("Ё", "Е")


def search_digest(surname: str, given_name: str, patronymic: str | None, birth_date: date) -> str:
    """The ``number`` of a search query: a hash of the normalised names, so no name is signed
    into the proof the daemon keeps. ``patronymic`` None (any) differs from "" (none)."""
    doc = {
        "surname": normalize_name(surname),
        "given_name": normalize_name(given_name),
        "patronymic": None if patronymic is None else normalize_name(patronymic),
        "birth_date": birth_date.isoformat(),
    }
    return hashlib.sha256(canonical_json(doc)).hexdigest()


@dataclass(frozen=True, slots=True)
class Query:
    """What was asked: ``kind`` in QUERY_KINDS; ``number`` the ENP, the normalised alias, or
    the search digest."""

    kind: str
    number: str

    def to_wire(self) -> dict[str, str]:
        return {"kind": self.kind, "number": self.number}

    @classmethod
    def enp(cls, enp: str) -> Query:
        return cls("enp", enp)

    @classmethod
    def alias(cls, kind: AliasKind, number: str) -> Query:
        return cls(ALIAS_KIND[kind], normalize_number(kind, number))


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the registry says of one physical document of the person."""

    revoked: bool
    since: date | None = None
    reason: RevocationReason | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "revoked": self.revoked,
            "since": self.since.isoformat() if self.since else None,
            "reason": self.reason.name.lower() if self.reason else None,
        }

    @classmethod
    def of(cls, rev: DocumentRevocation | None) -> DocumentState:
        if rev is None:
            return cls(False)
        return cls(True, rev.since, rev.reason)


Documents = tuple[tuple[Carrier, DocumentState], ...]  # every carrier, in Carrier order


def documents_of(revocations: dict[Carrier, DocumentRevocation | None]) -> Documents:
    return tuple((c, DocumentState.of(revocations.get(c))) for c in Carrier)


@dataclass(frozen=True, slots=True)
class PersonAnswer:
    """A validated, found answer; ``raw`` is kept verbatim as proof for the audit log."""

    record: RegisterRecord
    answered_at: datetime
    key_id: str
    signature: bytes
    raw: bytes
    nonce: str
    query: Query
    alias: Query | None = None  # the alias that linked an alias query to the record
    documents: Documents = ()

    def signed_bytes(self) -> bytes:
        return signed_payload(
            nonce=self.nonce,
            query=self.query,
            answered_at=self.answered_at,
            record=self.record,
            alias=self.alias,
            documents=self.documents,
        )

    def document(self, carrier: Carrier) -> DocumentState | None:
        """The registry's word on ``carrier``; None only if the answer did not say."""
        return dict(self.documents).get(carrier)


@dataclass(frozen=True, slots=True)
class NotFoundAnswer:
    """A validated, signed "no such person" for exactly this question at this time."""

    answered_at: datetime
    key_id: str
    signature: bytes
    raw: bytes
    nonce: str
    query: Query

    def signed_bytes(self) -> bytes:
        return signed_payload(
            nonce=self.nonce, query=self.query, answered_at=self.answered_at, record=None
        )


def signed_payload(
    *,
    nonce: str,
    query: Query,
    answered_at: datetime,
    record: RegisterRecord | None,
    alias: Query | None = None,
    documents: Documents = (),
) -> bytes:
    """The bytes the registry signs; everything that decides a verdict is in them."""
    return canonical_json(
        {
            "version": ANSWER_VERSION,
            "nonce": nonce,
            "query": query.to_wire(),
            "answered_at": answered_at.isoformat(),
            "found": record is not None,
            "record": record_to_wire(record) if record is not None else None,
            "alias": alias.to_wire() if alias is not None else None,
            "documents": {CARRIER_NAMES[c]: d.to_wire() for c, d in documents}
            if record is not None
            else None,
        }
    )


def answer_to_wire(
    *,
    nonce: str,
    query: Query,
    answered_at: datetime,
    record: RegisterRecord | None,
    key_id: str,
    signature: bytes,
    alias: Query | None = None,
    documents: Documents = (),
) -> dict[str, Any]:
    """The wire form: the signed fields as :func:`signed_payload` has them, plus key and sig."""
    doc: dict[str, Any] = json.loads(
        signed_payload(
            nonce=nonce,
            query=query,
            answered_at=answered_at,
            record=record,
            alias=alias,
            documents=documents,
        )
    )
    doc["key_id"] = key_id
    doc["signature"] = signature.hex()
    return doc


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


def parse_json(body: bytes, *, max_bytes: int = MAX_BODY) -> Any:
    """Bounded in size and depth (verifier.safejson): a hostile registry gets a typed refusal."""
    if len(body) > max_bytes:
        raise ProtocolError(f"answer of {len(body)} bytes is too large", code=TOO_LARGE)
    try:
        return safejson.loads(body, max_bytes=max_bytes, what="registry answer")
    except safejson.JsonError as exc:
        raise ProtocolError(exc.message, code=exc.code) from exc


def _query_from_wire(v: Any, name: str) -> Query:
    if not isinstance(v, dict):
        raise ProtocolError(f"{name} must be an object")
    kind, number = v.get("kind"), v.get("number")
    if kind not in QUERY_KINDS or not isinstance(number, str) or not 0 < len(number) <= 128:
        raise ProtocolError(f"{name} must hold a known kind and a number")
    return Query(str(kind), number)


def _documents_from_wire(v: Any) -> Documents:
    if not isinstance(v, dict):
        raise ProtocolError("documents must be an object")
    out: list[tuple[Carrier, DocumentState]] = []
    for carrier in Carrier:
        d = v.get(CARRIER_NAMES[carrier])
        if not isinstance(d, dict) or not isinstance(d.get("revoked"), bool):
            raise ProtocolError(f"documents.{CARRIER_NAMES[carrier]} must say revoked or not")
        reason = d.get("reason")
        if reason is not None and (
            not isinstance(reason, str) or reason.upper() not in RevocationReason.__members__
        ):
            raise ProtocolError("documents reason is unknown")
        out.append(
            (
                carrier,
                DocumentState(
                    revoked=d["revoked"],
                    since=_date(d.get("since"), "documents.since"),
                    reason=RevocationReason[reason.upper()] if reason else None,
                ),
            )
        )
    return tuple(out)


def _signed_fields(doc: Any) -> tuple[str, Query, datetime, str, bytes]:
    """The common part of every format-2 answer; format 1 is refused by name."""
    if not isinstance(doc, dict):
        raise ProtocolError("answer must be an object")
    version = doc.get("version")
    if version != ANSWER_VERSION:
        got = "none (format 1)" if version is None else repr(version)[:40]
        raise AnswerRefused(
            f"answer format {got} is not {ANSWER_VERSION}: it is not bound to the question"
            " and the time",
            code=OLD_PROTOCOL,
        )
    sig = doc.get("signature")
    kid = doc.get("key_id")
    if (
        not isinstance(sig, str)
        or not isinstance(kid, str)
        or not re.fullmatch(r"(?:[0-9a-f]{2}){1,128}", sig)
        or len(kid) > 128
    ):
        raise ProtocolError("answer lacks a hex signature and key id")
    nonce = doc.get("nonce")
    if not valid_nonce(nonce):
        raise ProtocolError("answer lacks a nonce")
    query = _query_from_wire(doc.get("query"), "query")
    answered_at = _aware(doc.get("answered_at"), "answered_at")
    return nonce, query, answered_at, kid, bytes.fromhex(sig)


def parse_signed_answer(body: bytes, *, max_bytes: int = MAX_BODY) -> PersonAnswer | NotFoundAnswer:
    """A found or not-found answer, validated (not yet checked against the question)."""
    return _signed_answer(parse_json(body, max_bytes=max_bytes), body)


def _signed_answer(doc: Any, raw: bytes) -> PersonAnswer | NotFoundAnswer:
    nonce, query, answered_at, kid, sig = _signed_fields(doc)
    found = doc.get("found")
    if not isinstance(found, bool) or found != (doc.get("record") is not None):
        raise ProtocolError("answer must say found true with a record, or false without one")
    if not found:
        if doc.get("alias") is not None or doc.get("documents") is not None:
            raise ProtocolError("a not-found answer carries no alias or documents")
        return NotFoundAnswer(answered_at, kid, sig, raw, nonce, query)
    alias_doc = doc.get("alias")
    alias = None if alias_doc is None else _query_from_wire(alias_doc, "alias")
    return PersonAnswer(
        record=record_from_wire(doc.get("record")),
        answered_at=answered_at,
        key_id=kid,
        signature=sig,
        raw=raw,
        nonce=nonce,
        query=query,
        alias=alias,
        documents=_documents_from_wire(doc.get("documents")),
    )


def parse_person_answer(body: bytes) -> PersonAnswer:
    answer = parse_signed_answer(body)
    if not isinstance(answer, PersonAnswer):
        raise ProtocolError("a 200 answer must be about a found person")
    return answer


def parse_not_found(body: bytes) -> NotFoundAnswer:
    answer = parse_signed_answer(body)
    if not isinstance(answer, NotFoundAnswer):
        raise ProtocolError("a 404 answer must say not found")
    return answer


def parse_candidates(body: bytes) -> list[PersonAnswer]:
    doc = parse_json(body, max_bytes=MAX_SEARCH_BODY)
    if not isinstance(doc, dict) or not isinstance(doc.get("candidates"), list):
        raise ProtocolError("search answer must hold a candidates list")
    items = doc["candidates"]
    if len(items) > MAX_CANDIDATES:
        raise ProtocolError(f"search answered {len(items)} candidates, at most {MAX_CANDIDATES}")
    out: list[PersonAnswer] = []
    for item in items:
        answer = _signed_answer(item, canonical_json(item))
        if not isinstance(answer, PersonAnswer):
            raise ProtocolError("a search candidate must be a found person")
        out.append(answer)
    return out


def check_binding(
    answer: PersonAnswer | NotFoundAnswer,
    *,
    nonce: str,
    query: Query,
    now: datetime,
    max_skew_s: float,
) -> None:
    """Refuse an answer that is not to this question (nonce, query, record) at this time.

    Run after the signature verified, so every field compared here is the registry's word.
    Messages carry no ENP or number: they end up in verdicts and logs.
    """
    if not hmac.compare_digest(answer.nonce, nonce):
        raise AnswerRefused(
            "the answer carries another request's nonce (a replay)", code=NONCE_MISMATCH
        )
    if answer.query != query:
        raise AnswerRefused(
            f"the answer is to another question ({answer.query.kind}, asked {query.kind})",
            code=QUERY_MISMATCH,
        )
    if isinstance(answer, PersonAnswer):
        if query.kind == "enp" and answer.record.enp != query.number:
            raise AnswerRefused("the record is about another ENP", code=RECORD_MISMATCH)
        if query.kind in ("temp_cert", "old_number") and answer.alias != query:
            raise AnswerRefused(
                f"the record does not carry the {query.kind} asked about", code=RECORD_MISMATCH
            )
    skew = (answer.answered_at - now).total_seconds()
    if abs(skew) > max_skew_s:
        future = skew > 0
        raise AnswerClockSkew(
            f"answered_at is {abs(skew):.0f} s {'ahead of' if future else 'behind'} this"
            f" device's clock (allowed {max_skew_s:.0f} s)",
            future=future,
        )


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
        doc = safejson.loads(body, max_bytes=MAX_BODY, what="problem") if body else {}
    except safejson.JsonError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    code = doc.get("code") if isinstance(doc.get("code"), str) else f"http_{status}"
    detail = (
        doc.get("detail") if isinstance(doc.get("detail"), str) else f"registry answered {status}"
    )
    return RegistryProblem(str(detail)[:300], code=str(code)[:64], status=status)
