"""The verdict: outcome, stable reason codes, Russian message for the clerk, per-check results.

Reason codes and outcomes are the public contract of the CLI and the HTTP API; add new codes,
never rename old ones. Russian texts live here and nowhere else.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import orjson

from cache.freshness import Freshness
from verifier.credential import Credential
from verifier.identifiers import mask_enp


class Outcome(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    NOT_INSURED = "not_insured"
    SUSPENDED = "suspended"
    ANNULLED = "annulled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check state, not a password
    FAIL = "fail"
    SKIP = "skip"


class Reason(StrEnum):
    UNDECODABLE = "undecodable"
    BAD_FORMAT = "bad_format"
    ENP_CHECKSUM = "enp_checksum"
    ENP_FACET_MISMATCH = "enp_facet_mismatch"
    ENP_FACET_INVALID = "enp_facet_invalid"
    POLICY_EXPIRED = "policy_expired"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_NOT_CHECKED = "signature_not_checked"
    KEY_UNKNOWN = "key_unknown"  # the signature verifies, but no trusted key vouches for it
    KEY_NOT_FOUND = "key_not_found"  # no trusted key to check the signature with
    KEY_REVOKED = "key_revoked"
    KEY_NOT_VALID_AT_TIME = "key_not_valid_at_time"
    DOCUMENT_REVOKED = "document_revoked"
    NOT_IN_REGISTER = "not_in_register"
    REGISTER_SUSPENDED = "register_suspended"
    REGISTER_ANNULLED = "register_annulled"
    REGISTER_EXPIRED = "register_expired"
    REGISTER_NEEDS_CLARIFICATION = "register_needs_clarification"
    NOT_LOOKED_UP = "not_looked_up"
    SNAPSHOT_EXPIRED = "snapshot_expired"
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    HOLDER_DATA_UNVERIFIED = "holder_data_unverified"
    OTHER_REGION = "other_region"
    UNRECOGNIZED = "unrecognized"
    SIGNATURE_MISSING = "signature_missing"  # an always-signed carrier arrived unsigned
    HOLDER_MISMATCH = "holder_mismatch"  # name/birth date disagree with the register's hash
    HOLDER_NOT_CHECKED = "holder_not_checked"  # no match key or no hash: name not compared
    HOLDER_NAME_TRUNCATED = "holder_name_truncated"  # the carrier's name field is full
    REVOCATION_UNKNOWN = "revocation_unknown"  # no fresh source said the document is not revoked
    CLOCK_INCONSISTENT = "clock_inconsistent"  # data dated beyond now + max_clock_skew
    NOT_IN_SNAPSHOT = "not_in_snapshot"  # the local copy lacks the ENP: not the register's word
    NUMBER_NOT_FOUND = "number_not_found"  # an old number / temporary certificate not found
    AMBIGUOUS_NUMBER = "ambiguous_number"  # an old number several people hold
    INSURER_CHANGED = "insurer_changed"  # the document names another insurer than the register
    FORMAT_ASSUMED = "format_assumed"  # the carrier's layout is a documented assumption (XML)


# What each reason implies for the outcome; reasons absent here are informational.
REASON_OUTCOME: dict[Reason, Outcome] = {
    Reason.UNDECODABLE: Outcome.INVALID,
    Reason.BAD_FORMAT: Outcome.INVALID,
    Reason.ENP_CHECKSUM: Outcome.INVALID,
    Reason.ENP_FACET_MISMATCH: Outcome.INVALID,
    Reason.ENP_FACET_INVALID: Outcome.UNKNOWN,
    Reason.POLICY_EXPIRED: Outcome.EXPIRED,
    Reason.SIGNATURE_INVALID: Outcome.INVALID,
    Reason.KEY_REVOKED: Outcome.INVALID,
    Reason.KEY_NOT_VALID_AT_TIME: Outcome.UNKNOWN,
    Reason.KEY_UNKNOWN: Outcome.UNKNOWN,
    Reason.KEY_NOT_FOUND: Outcome.UNKNOWN,
    Reason.DOCUMENT_REVOKED: Outcome.INVALID,  # this blank is void; the policy may be in force
    Reason.NOT_IN_REGISTER: Outcome.NOT_INSURED,
    Reason.REGISTER_SUSPENDED: Outcome.SUSPENDED,
    Reason.REGISTER_ANNULLED: Outcome.ANNULLED,
    Reason.REGISTER_EXPIRED: Outcome.EXPIRED,
    Reason.REGISTER_NEEDS_CLARIFICATION: Outcome.UNKNOWN,
    Reason.NOT_LOOKED_UP: Outcome.UNKNOWN,
    Reason.SNAPSHOT_EXPIRED: Outcome.UNKNOWN,
    Reason.REGISTRY_UNAVAILABLE: Outcome.UNKNOWN,
    Reason.OTHER_REGION: Outcome.UNKNOWN,
    Reason.UNRECOGNIZED: Outcome.UNKNOWN,
    Reason.SIGNATURE_MISSING: Outcome.UNKNOWN,
    Reason.HOLDER_MISMATCH: Outcome.UNKNOWN,
    Reason.HOLDER_NAME_TRUNCATED: Outcome.UNKNOWN,
    Reason.REVOCATION_UNKNOWN: Outcome.UNKNOWN,
    Reason.CLOCK_INCONSISTENT: Outcome.UNKNOWN,
    Reason.NOT_IN_SNAPSHOT: Outcome.UNKNOWN,
    Reason.NUMBER_NOT_FOUND: Outcome.UNKNOWN,
    Reason.AMBIGUOUS_NUMBER: Outcome.UNKNOWN,
}

# When several reasons apply, the first outcome in this order wins.
OUTCOME_PRECEDENCE: tuple[Outcome, ...] = (
    Outcome.INVALID,
    Outcome.ANNULLED,
    Outcome.SUSPENDED,
    Outcome.EXPIRED,
    Outcome.NOT_INSURED,
    Outcome.UNKNOWN,
    Outcome.VALID,
)

OUTCOME_TITLE_RU: dict[Outcome, str] = {
    Outcome.VALID: "Полис действителен",
    Outcome.INVALID: "Полис недействителен",
    Outcome.NOT_INSURED: "Не застрахован",
    Outcome.SUSPENDED: "Действие полиса приостановлено",
    Outcome.ANNULLED: "Полис аннулирован",
    Outcome.EXPIRED: "Срок действия полиса истёк",
    Outcome.UNKNOWN: "Не удалось подтвердить полис",
}

REASON_RU: dict[Reason, str] = {
    Reason.UNDECODABLE: "штрихкод или данные карты не читаются",
    Reason.BAD_FORMAT: "данные полиса имеют неверный формат",
    Reason.ENP_CHECKSUM: "неверная контрольная цифра номера полиса",
    Reason.ENP_FACET_MISMATCH: "номер полиса не соответствует дате рождения или полу",
    Reason.ENP_FACET_INVALID: "в номере полиса закодирована несуществующая дата рождения",
    Reason.POLICY_EXPIRED: "по дате, указанной в полисе",
    Reason.SIGNATURE_INVALID: "электронная подпись неверна — возможна подделка",
    Reason.SIGNATURE_NOT_CHECKED: "подпись не проверена: нет ключа",
    Reason.KEY_UNKNOWN: "подпись верна, но ключ подписи неизвестен",
    Reason.KEY_NOT_FOUND: "ключ подписи неизвестен — подпись не проверена",
    Reason.KEY_REVOKED: "ключ подписи отозван",
    Reason.KEY_NOT_VALID_AT_TIME: "ключ подписи не действовал на дату документа",
    Reason.DOCUMENT_REVOKED: (
        "этот бланк полиса заявлен утерянным или аннулирован (сам полис в реестре может"
        " действовать) — проверьте документ, удостоверяющий личность"
    ),
    Reason.NOT_IN_REGISTER: "полис не найден в реестре застрахованных",
    Reason.REGISTER_SUSPENDED: "по данным реестра",
    Reason.REGISTER_ANNULLED: "по данным реестра",
    Reason.REGISTER_EXPIRED: "по данным реестра",
    Reason.REGISTER_NEEDS_CLARIFICATION: "данные в реестре требуют уточнения",
    Reason.NOT_LOOKED_UP: "статус в реестре не проверен",
    Reason.SNAPSHOT_EXPIRED: "локальная копия реестра устарела",
    Reason.REGISTRY_UNAVAILABLE: "реестр недоступен",
    Reason.HOLDER_DATA_UNVERIFIED: "данные владельца прочитаны с карты без проверки подписи",
    Reason.OTHER_REGION: "полис другого региона: нужна проверка в онлайн-реестре",
    Reason.UNRECOGNIZED: "код не похож на полис ОМС",
    Reason.SIGNATURE_MISSING: (
        "документ должен быть подписан, но подписи нет — проверьте документ, удостоверяющий"
        " личность"
    ),
    Reason.HOLDER_MISMATCH: (
        "ФИО или дата рождения не совпадают с реестром — сверьте документ, удостоверяющий"
        " личность, с данными реестра"
    ),
    Reason.HOLDER_NOT_CHECKED: "ФИО владельца с реестром не сверялось",
    Reason.HOLDER_NAME_TRUNCATED: (
        "ФИО в полисе обрезано и не может быть сверено с реестром — проверьте документ,"
        " удостоверяющий личность"
    ),
    Reason.REVOCATION_UNKNOWN: (
        "не удалось проверить, не заявлен ли документ утерянным: список отзыва устарел"
    ),
    Reason.CLOCK_INCONSISTENT: (
        "часы компьютера расходятся с данными реестра — проверьте дату и время"
    ),
    Reason.NOT_IN_SNAPSHOT: (
        "полиса нет в локальной копии реестра — нужна проверка в онлайн-реестре"
    ),
    Reason.NUMBER_NOT_FOUND: "номер не найден — проверьте ввод",
    Reason.AMBIGUOUS_NUMBER: "по этому номеру в реестре несколько человек — выберите по ЕНП",
    Reason.INSURER_CHANGED: "страховая компания сменилась",
    Reason.FORMAT_ASSUMED: "формат документа принят по допущению (схема не опубликована)",
}


class CheckName(StrEnum):
    """The checks a verdict lists, in pipeline order (public contract: never renamed)."""

    DECODE = "decode"
    FORMAT = "format"
    ENP_CHECKSUM = "enp_checksum"
    ENP_FACET = "enp_facet"
    EXPIRY = "expiry"
    SIGNATURE = "signature"
    KEY_TRUSTED = "key_trusted"
    REVOCATION = "revocation"
    REGISTER_STATUS = "register_status"
    REGISTRY = "registry"  # the registry was tried and could not answer
    HOLDER = "holder"
    INSURER = "insurer"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: CheckName
    status: CheckStatus
    detail: str = ""
    reason: Reason | None = None
    # The JSON form, made on first use: the result is immutable, and the fixed ones (skips,
    # constant passes) are shared by every verdict, so each is rendered once, then copied.
    _json: dict[str, Any] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def to_dict(self) -> dict[str, Any]:
        out = self._json
        if out is None:
            # ``_value_`` (a plain attribute) rather than ``.value`` (a Python-level
            # descriptor): a batch of 1,000 verdicts renders 12,000 of these.
            out = {
                "name": self.name._value_,
                "status": self.status._value_,
                "detail": self.detail,
            }
            if self.reason is not None:
                out["reason"] = self.reason._value_
            object.__setattr__(self, "_json", out)
        return out.copy()


def _check_name(name: CheckName | str) -> CheckName:
    # An enum call costs ~1 µs and a verdict makes a dozen results: convert only plain strings.
    return name if type(name) is CheckName else CheckName(name)


# Results are immutable: the same words give the same shared result (a verdict's fixed
# passes and skips are built once, not per verdict). Only short details are memoised, so
# per-item text (long, or many distinct values) never fills the memo with one-off entries.
_MEMO_DETAIL = 200


@functools.lru_cache(maxsize=2048)
def _result(
    name: CheckName, status: CheckStatus, detail: str, reason: Reason | None
) -> CheckResult:
    return CheckResult(name, status, detail, reason)


def passed(name: CheckName, detail: str = "") -> CheckResult:
    if len(detail) > _MEMO_DETAIL:
        return CheckResult(_check_name(name), CheckStatus.PASS, detail)
    return _result(_check_name(name), CheckStatus.PASS, detail, None)


def failed(name: CheckName, reason: Reason, detail: str = "") -> CheckResult:
    if len(detail) > _MEMO_DETAIL:
        return CheckResult(_check_name(name), CheckStatus.FAIL, detail, reason)
    return _result(_check_name(name), CheckStatus.FAIL, detail, reason)


def skipped(name: CheckName, detail: str, reason: Reason | None = None) -> CheckResult:
    """A skip is the same immutable result every time for the same words: shared, not rebuilt
    (half of a typed ENP's checks are skips)."""
    if len(detail) > _MEMO_DETAIL:
        return CheckResult(_check_name(name), CheckStatus.SKIP, detail, reason)
    return _result(_check_name(name), CheckStatus.SKIP, detail, reason)


class AnswerSource(StrEnum):
    """Who answered the status question."""

    NONE = "none"
    SNAPSHOT = "snapshot"
    REGISTRY = "registry"


def _json_once(part: Any) -> bytes:
    """``orjson.dumps(part.to_dict())``, kept in the part's ``_json`` slot: a verdict part
    shared by many verdicts (a group's snapshot state, an insurer, a clinic) is written once."""
    out: bytes | None = part._json
    if out is None:
        out = orjson.dumps(part.to_dict())
        object.__setattr__(part, "_json", out)
    return out


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    state: Freshness
    sequence: int | None
    age_s: float | None
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state._value_, "sequence": self.sequence, "age_s": self.age_s}

    def json(self) -> bytes:
        """:meth:`to_dict` as JSON, made once (a batch's verdicts share one)."""
        return _json_once(self)


@dataclass(frozen=True, slots=True)
class RegisterSummary:
    """What the clerk may see of the register's record: no names, no birth date."""

    enp: str
    policy_type: str
    status: str
    status_since: date | None
    smo_ogrn: str | None
    okato: str | None
    start: date | None
    end: date | None
    clinic: str | None

    def to_dict(self, *, masked: bool = False) -> dict[str, Any]:
        since, start, end = self.status_since, self.start, self.end
        return {
            "enp": mask_enp(self.enp) if masked else self.enp,
            "policy_type": self.policy_type,
            "status": self.status,
            "status_since": since.isoformat() if since else None,
            "smo_ogrn": self.smo_ogrn,
            "okato": self.okato,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "clinic": self.clinic,
        }

    def to_json(self, *, masked: bool = False) -> bytes:
        """``orjson.dumps(self.to_dict(masked=masked))``, byte for byte: orjson writes a plain
        ``date`` as its ``isoformat()`` does, without the three strings made first."""
        since, start, end = self.status_since, self.start, self.end
        if not (
            (since is None or type(since) is date)
            and (start is None or type(start) is date)
            and (end is None or type(end) is date)
        ):
            return orjson.dumps(self.to_dict(masked=masked))
        return orjson.dumps(
            {
                "enp": mask_enp(self.enp) if masked else self.enp,
                "policy_type": self.policy_type,
                "status": self.status,
                "status_since": since,
                "smo_ogrn": self.smo_ogrn,
                "okato": self.okato,
                "start": start,
                "end": end,
                "clinic": self.clinic,
            }
        )


@dataclass(frozen=True, slots=True)
class Disagreement:
    """The snapshot and the registry said different things; the registry wins."""

    snapshot: str  # a reason code, or "active"
    registry: str
    winner: AnswerSource = AnswerSource.REGISTRY

    def to_dict(self) -> dict[str, str]:
        return {"snapshot": self.snapshot, "registry": self.registry, "winner": self.winner.value}


@dataclass(frozen=True, slots=True)
class InsurerInfo:
    """The register's current insurer, named from the F002 directory when it is loaded."""

    ogrn: str
    name: str | None
    region: str | None  # ОКАТО of the insurer's region
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"ogrn": self.ogrn, "name": self.name, "region": self.region}

    def json(self) -> bytes:
        """:meth:`to_dict` as JSON, made once (a batch's verdicts share one insurer)."""
        return _json_once(self)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """The clinic the person is attached to, and whether it is this one ([clinic] mo_code)."""

    code: str
    name: str | None
    this_clinic: bool | None  # None: this clinic's code is not configured
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "this_clinic": self.this_clinic}

    def json(self) -> bytes:
        """:meth:`to_dict` as JSON, made once (a batch's verdicts share one clinic)."""
        return _json_once(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[Reason, ...]
    message: str
    credential: Credential | None
    checks: tuple[CheckResult, ...]
    source: AnswerSource
    checked_at: datetime
    input_source: str = "unknown"
    snapshot: SnapshotInfo | None = None
    answered_at: datetime | None = None  # when the answering source stated the status
    proof: bytes | None = None  # the registry's signed answer, kept for the audit log
    register: RegisterSummary | None = None
    candidates: tuple[RegisterSummary, ...] = ()  # ambiguous_number: everyone with the number
    registry_error: str | None = None  # the registry could not answer; the snapshot's stands
    disagreement: Disagreement | None = None
    action: str = ""  # the clerk's next step, in Russian
    insurer: InsurerInfo | None = None
    attachment: AttachmentInfo | None = None
    # Set only by the pipeline's batch path (never by ``__init__`` or ``dataclasses.replace``,
    # so a changed copy never keeps it): the verdicts of one group share one JSON layout.
    _shape: VerdictShape | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def to_json(self, *, masked: bool = False) -> bytes:
        """``orjson.dumps(self.to_dict(masked=masked))``, byte for byte; a batch verdict with
        a :class:`VerdictShape` is written from its group's pieces instead of a new dict."""
        shape = self._shape
        if shape is not None:
            out = shape.render(self, masked)
            if out is not None:
                return out
        return orjson.dumps(self.to_dict(masked=masked))

    def to_dict(self, *, masked: bool = False) -> dict[str, Any]:
        insurer, attachment, credential = self.insurer, self.attachment, self.credential
        snapshot, answered_at = self.snapshot, self.answered_at
        out: dict[str, Any] = {
            "outcome": self.outcome._value_,
            "reasons": [r._value_ for r in self.reasons],
            "message": self.message,
            "action": self.action,
            "insurer": insurer.to_dict() if insurer else None,
            "attachment": attachment.to_dict() if attachment else None,
            "credential": credential.to_dict(masked=masked) if credential else None,
            "checks": [c.to_dict() for c in self.checks],
            "source": str(self.source),
            "answered_at": _isoformat(answered_at) if answered_at else None,
            "input_source": self.input_source,
            "checked_at": self.checked_at.isoformat(),
            "snapshot": None if snapshot is None else snapshot.to_dict(),
        }
        if (
            self.register is not None
            or self.candidates
            or self.registry_error is not None
            or self.disagreement is not None
        ):
            out.update(self._optional(masked))
        return out

    def _optional(self, masked: bool) -> dict[str, Any]:
        """Keys present only when they say something (the JSON contract of earlier releases)."""
        out: dict[str, Any] = {}
        if self.register is not None:
            out["register"] = self.register.to_dict(masked=masked)
        if self.candidates:
            out["candidates"] = [c.to_dict(masked=masked) for c in self.candidates]
        if self.registry_error is not None:
            out["registry_error"] = self.registry_error
        if self.disagreement is not None:
            out["disagreement"] = self.disagreement.to_dict()
        return out

    @property
    def extra(self) -> dict[str, Any]:
        """The optional parts as JSON (read-only view; the typed fields are the source)."""
        return self._optional(masked=False)


# Stand-ins for the per-item values while a shape's JSON is cut into pieces: private-use
# characters no verdict text is made of (and were one there, the cut is refused: see _cut).
_CUTS = ("message", "insurer", "attachment", "enp", "answered_at", "checked_at", "snapshot")
_MARKS = tuple(f"\ue000oms-{name}\ue000" for name in (*_CUTS, "register"))


class VerdictShape:
    """The JSON of a group of batch verdicts that differ only in the credential's ENP, the
    message, insurer, attachment and register summary, and the moments and snapshot state of
    their batch (typed ENPs whose checks came out the same): the rest is written once per
    group, as bytes, and the differing parts are put between the pieces.

    A verdict is written from the shape only when the parts it must share are the very
    objects (or, for the input source, the text) the pieces were cut from (``fits``);
    anything else gets ``None`` from :meth:`render` and is written in full."""

    __slots__ = ("_like", "_middle", "_pieces")

    def __init__(self, like: Verdict) -> None:
        self._like = like
        self._pieces: dict[bool, tuple[bytes, ...] | None] = {}
        # The batch's moments and snapshot state with the pieces between them, as last
        # written (by the identity of the three: a batch's members share them).
        self._middle: tuple[datetime | None, datetime | None, SnapshotInfo | None, bool, bytes]
        self._middle = (None, None, None, False, b"")

    def fits(self, v: Verdict) -> bool:
        like = self._like
        credential = v.credential
        return (
            v.checks is like.checks
            and v.reasons is like.reasons
            and v.outcome is like.outcome
            and v.action is like.action
            and v.source is like.source
            and v.input_source == like.input_source
            and (v.register is None) is (like.register is None)
            and (v.snapshot is None) is (like.snapshot is None)
            and not v.candidates
            and v.registry_error is None
            and v.disagreement is None
            and credential is not None
            and like.credential is not None
            and credential.kind is like.credential.kind
        )

    def _cut(self, masked: bool) -> tuple[bytes, ...] | None:
        like = self._like
        doc = like.to_dict(masked=masked)
        if doc["credential"] is None:
            return None
        marks = dict(zip(_CUTS, _MARKS, strict=False))
        doc["credential"]["enp"] = marks.pop("enp")
        doc.update(marks)
        order = list(_MARKS[: len(_CUTS)])
        if "register" in doc:
            doc["register"] = _MARKS[-1]
            order.append(_MARKS[-1])
        raw = orjson.dumps(doc)
        cuts = [orjson.dumps(mark) for mark in order]
        if any(raw.count(cut) != 1 for cut in cuts) or sorted(cuts, key=raw.index) != cuts:
            return None  # a text holds a mark itself (or keys moved): no shortcut here
        pieces: list[bytes] = []
        for cut in cuts:
            head, _, raw = raw.partition(cut)
            pieces.append(head)
        pieces.append(raw)
        return tuple(pieces)

    def render(self, v: Verdict, masked: bool) -> bytes | None:
        """``v``'s JSON from the pieces, or None when ``v`` is not of this shape."""
        if not self.fits(v):
            return None
        if masked in self._pieces:
            pieces = self._pieces[masked]
        else:
            pieces = self._pieces[masked] = self._cut(masked)
        if pieces is None:
            return None
        credential = v.credential
        assert credential is not None  # noqa: S101 - fits() said so
        enp = credential.enp
        if masked and enp:
            enp = mask_enp(enp)
        insurer, attachment, register = v.insurer, v.attachment, v.register
        answered, checked, snapshot = v.answered_at, v.checked_at, v.snapshot
        middle = self._middle
        if not (
            middle[0] is answered
            and middle[1] is checked
            and middle[2] is snapshot
            and middle[3] is masked
        ):
            text = b"".join(
                (
                    pieces[4],
                    b"null" if answered is None else orjson.dumps(_isoformat(answered)),
                    pieces[5],
                    orjson.dumps(checked_text(checked)),
                    pieces[6],
                    b"null" if snapshot is None else snapshot.json(),
                    pieces[7],
                )
            )
            middle = self._middle = (answered, checked, snapshot, masked, text)
        parts = [
            pieces[0],
            orjson.dumps(v.message),
            pieces[1],
            b"null" if insurer is None else insurer.json(),
            pieces[2],
            b"null" if attachment is None else attachment.json(),
            pieces[3],
            orjson.dumps(enp),
            middle[4],
        ]
        if register is not None:
            parts += (register.to_json(masked=masked), pieces[8])
        return b"".join(parts)


# The last moment rendered: a batch's verdicts share the snapshot's ``answered_at`` (the
# same object), and an aware datetime's isoformat costs more than the rest of its line.
_last_iso: list[tuple[datetime | None, str]] = [(None, "")]


def _isoformat(moment: datetime) -> str:
    last = _last_iso[0]  # one read and one write of the slot: safe across threads
    if last[0] is moment:  # identity: an equal moment in another zone writes differently
        return last[1]
    text = moment.isoformat()
    _last_iso[0] = (moment, text)
    return text


_last_checked: list[tuple[datetime | None, str]] = [(None, "")]


def checked_text(moment: datetime) -> str:
    """``moment.isoformat()`` of a verdict's ``checked_at``, remembered for the last one: its
    audit row (verifier/service/audit.py) and its JSON both write it, one after the other."""
    last = _last_checked[0]  # one read and one write of the slot: safe across threads
    if last[0] is moment:
        return last[1]
    text = moment.isoformat()
    _last_checked[0] = (moment, text)
    return text


def decide(checks: tuple[CheckResult, ...]) -> tuple[Outcome, tuple[Reason, ...]]:
    """Fold check results into one outcome. ``valid`` needs a passing register check."""
    reasons = tuple(dict.fromkeys([c.reason for c in checks if c.reason is not None]))
    register_passed = False
    for c in checks:
        if c.name == CheckName.REGISTER_STATUS and c.status is CheckStatus.PASS:
            register_passed = True
            break
    return _decide(reasons, register_passed)


@functools.lru_cache(maxsize=1024)
def _decide(
    reasons: tuple[Reason, ...], register_passed: bool
) -> tuple[Outcome, tuple[Reason, ...]]:
    """The fold by what it depends on (few distinct keys: memoised)."""
    implied = {REASON_OUTCOME[r] for r in reasons if r in REASON_OUTCOME}
    if not register_passed:
        implied.add(Outcome.UNKNOWN)  # never "valid" without a register answer
    implied.add(Outcome.VALID)
    outcome = next(o for o in OUTCOME_PRECEDENCE if o in implied)
    if outcome is Outcome.UNKNOWN and not any(
        REASON_OUTCOME.get(r) is Outcome.UNKNOWN for r in reasons
    ):
        reasons = (*reasons, Reason.NOT_LOOKED_UP)
    return outcome, reasons


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the register (or the credential) said that the clerk's line should name."""

    status_since: date | None = None  # suspended / annulled since
    end: date | None = None  # the policy's (or temporary certificate's) term
    insurer_now: str | None = None  # the register's current insurer, as the clerk reads it
    signature_checked: bool = False  # the card's insurer record signature verified


def _ru_date(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _reason_ru(r: Reason, facts: MessageFacts) -> str:
    text = REASON_RU[r]
    if r in (Reason.REGISTER_SUSPENDED, Reason.REGISTER_ANNULLED) and facts.status_since:
        return f"{text} с {_ru_date(facts.status_since)}"
    if r is Reason.REGISTER_EXPIRED and facts.end:
        return f"{text}: срок истёк {_ru_date(facts.end)}"
    if r is Reason.INSURER_CHANGED and facts.insurer_now:
        return f"{text}: сейчас {facts.insurer_now}"
    if r is Reason.HOLDER_DATA_UNVERIFIED and facts.signature_checked:
        return "данные владельца на карте не подписаны; подпись записи страховой компании верна"
    return text


def message_ru(
    outcome: Outcome, reasons: tuple[Reason, ...], facts: MessageFacts | None = None
) -> str:
    """One line for the clerk: the outcome, then the reasons that explain it, with dates."""
    reasons = tuple(reasons)
    if facts is None or facts is _NO_FACTS:
        return _message_ru(outcome, reasons, _NO_FACTS)
    since, end, insurer, signature = facts_used(outcome, reasons)
    # Only what the line reads goes into the memo's key (a register's people have a
    # thousand different dates the line never names).
    return _message_ru(
        outcome,
        reasons,
        MessageFacts(
            facts.status_since if since else None,
            facts.end if end else None,
            facts.insurer_now if insurer else None,
            facts.signature_checked and signature,
        ),
    )


_NO_FACTS = MessageFacts()


@functools.lru_cache(maxsize=1024)
def facts_used(outcome: Outcome, reasons: tuple[Reason, ...]) -> tuple[bool, bool, bool, bool]:
    """Which :class:`MessageFacts` the line for these reasons names, in field order
    (status_since, end, insurer_now, signature_checked): see :func:`_reason_ru`."""
    return (
        Reason.REGISTER_SUSPENDED in reasons or Reason.REGISTER_ANNULLED in reasons,
        outcome is Outcome.VALID or Reason.REGISTER_EXPIRED in reasons,
        Reason.INSURER_CHANGED in reasons,
        Reason.HOLDER_DATA_UNVERIFIED in reasons,
    )


@functools.lru_cache(maxsize=4096)
def _message_ru(outcome: Outcome, reasons: tuple[Reason, ...], facts: MessageFacts) -> str:
    """Memoised by everything the line says (outcome, reasons, facts): no clock, no store."""
    title = OUTCOME_TITLE_RU[outcome]
    if outcome is Outcome.VALID:
        extra = [_reason_ru(r, facts) for r in reasons]
        if facts.end:
            extra.insert(0, f"действует до {_ru_date(facts.end)}")
    else:
        key = [r for r in reasons if REASON_OUTCOME.get(r) is outcome]
        rest = [r for r in reasons if r not in key]
        extra = [_reason_ru(r, facts) for r in (*key, *rest)]
    return title + (": " + "; ".join(extra) if extra else "")


# The next step for the clerk: by the reason that decided the outcome, else by the outcome.
ACTION_RU: dict[Outcome, str] = {
    Outcome.VALID: "Примите пациента.",
    Outcome.INVALID: (
        "Не принимайте документ как полис: попросите документ, удостоверяющий личность, и"
        " найдите пациента в реестре по ФИО и дате рождения."
    ),
    Outcome.NOT_INSURED: (
        "Пациент не застрахован по ОМС: направьте его в страховую медицинскую организацию"
        " оформить полис. Экстренная помощь оказывается без полиса."
    ),
    Outcome.SUSPENDED: "Направьте пациента в его страховую медицинскую организацию.",
    Outcome.ANNULLED: (
        "Найдите действующий полис по ФИО и дате рождения или направьте пациента в страховую"
        " медицинскую организацию."
    ),
    Outcome.EXPIRED: "Направьте пациента в страховую медицинскую организацию за новым полисом.",
    Outcome.UNKNOWN: (
        "Проверьте документ, удостоверяющий личность, и повторите проверку позже. Экстренная"
        " помощь оказывается без полиса."
    ),
}
_UNKNOWN_KEY = "Сообщите администратору о неизвестном ключе подписи; проверьте полис по ЕНП."
ACTION_BY_REASON_RU: dict[Reason, str] = {
    Reason.HOLDER_NOT_CHECKED: (
        "Сверьте ФИО и дату рождения с документом, удостоверяющим личность, и примите пациента."
    ),
    Reason.ENP_CHECKSUM: "Проверьте номер: вероятно, опечатка при вводе.",
    Reason.DOCUMENT_REVOKED: (
        "Бланк недействителен: найдите пациента по ЕНП или по ФИО и дате рождения — полис в"
        " реестре может действовать."
    ),
    Reason.REGISTRY_UNAVAILABLE: (
        "Повторите проверку, когда онлайн-реестр будет доступен, или позвоните в страховую"
        " компанию пациента."
    ),
    Reason.NOT_IN_SNAPSHOT: (
        "Проверьте полис онлайн, когда реестр будет доступен: недавно выданного полиса может не"
        " быть в локальной копии."
    ),
    Reason.OTHER_REGION: "Проверьте полис онлайн, когда реестр будет доступен.",
    Reason.NUMBER_NOT_FOUND: (
        "Проверьте номер и введите его снова или найдите пациента по ФИО и дате рождения."
    ),
    Reason.AMBIGUOUS_NUMBER: (
        "Выберите пациента из списка по ЕНП или найдите по ФИО и дате рождения."
    ),
    Reason.HOLDER_MISMATCH: (
        "Сверьте документ, удостоверяющий личность, с данными реестра (возможна смена фамилии)."
    ),
    Reason.HOLDER_NAME_TRUNCATED: (
        "Сверьте документ, удостоверяющий личность, и проверьте полис по ЕНП."
    ),
    Reason.SIGNATURE_MISSING: (
        "Попросите документ, удостоверяющий личность, и проверьте полис по ЕНП."
    ),
    Reason.CLOCK_INCONSISTENT: "Сообщите администратору: на компьютере неверные дата или время.",
    Reason.SNAPSHOT_EXPIRED: (
        "Сообщите администратору: локальная копия реестра устарела. Проверьте полис онлайн."
    ),
    Reason.REVOCATION_UNKNOWN: (
        "Сообщите администратору: список утерянных полисов устарел. Проверьте полис онлайн."
    ),
    Reason.KEY_UNKNOWN: _UNKNOWN_KEY,
    Reason.KEY_NOT_FOUND: _UNKNOWN_KEY,
    Reason.UNRECOGNIZED: "Отсканируйте код ещё раз или введите ЕНП вручную.",
    Reason.UNDECODABLE: "Отсканируйте код ещё раз или введите ЕНП вручную.",
}


def action_ru(outcome: Outcome, reasons: tuple[Reason, ...]) -> str:
    """What the clerk does next, in one sentence or two."""
    return _action_ru(outcome, tuple(reasons))


@functools.lru_cache(maxsize=1024)
def _action_ru(outcome: Outcome, reasons: tuple[Reason, ...]) -> str:
    if outcome is Outcome.VALID:
        informational = [r for r in reasons if r in ACTION_BY_REASON_RU]
        return ACTION_BY_REASON_RU[informational[0]] if informational else ACTION_RU[outcome]
    for r in reasons:
        if REASON_OUTCOME.get(r) is outcome and r in ACTION_BY_REASON_RU:
            return ACTION_BY_REASON_RU[r]
    return ACTION_RU[outcome]
