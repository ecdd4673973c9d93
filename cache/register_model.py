"""The register's vocabulary: policy types, statuses, records — shared by format, store, API."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum

from verifier.fastnew import maker
from verifier.identifiers import okato_text

EPOCH = date(1900, 1, 1)


class PolicyType(IntEnum):
    """The register's own type codes (classifier 1.2.643.2.40.5.100.86), plus digital."""

    OLD = 1  # С — pre-2011 series + number
    TEMPORARY = 2  # В — temporary certificate
    PAPER = 3  # П — paper policy of the unified form
    CARD = 4  # Э — electronic policy card
    UEC = 5  # К — universal electronic card
    X = 6  # Х — listed by the classifier; its meaning is not in our sources
    DIGITAL = 7  # digital policy (since 1 Dec 2022); not a classifier letter of its own

    @property
    def letter(self) -> str:
        return _LETTERS[self]


_LETTERS = {
    PolicyType.OLD: "С",
    PolicyType.TEMPORARY: "В",
    PolicyType.PAPER: "П",
    PolicyType.CARD: "Э",
    PolicyType.UEC: "К",
    PolicyType.X: "Х",
    PolicyType.DIGITAL: "digital",
}


class PolicyStatus(IntEnum):
    ACTIVE = 1
    SUSPENDED = 2
    ANNULLED = 3
    EXPIRED = 4
    NEEDS_CLARIFICATION = 5


class AliasKind(IntEnum):
    OLD_NUMBER = 1  # "SERIES NUMBER" of a pre-2011 policy
    TEMP_CERT = 2  # temporary certificate number


class Carrier(IntEnum):
    PAPER = 1
    CARD = 2


class RevocationReason(IntEnum):
    LOST = 1
    ANNULLED = 2
    STOLEN = 3
    DAMAGED = 4


def to_days(value: date | None) -> int:
    return 0 if value is None else (value - EPOCH).days


def from_days(days: int) -> date | None:
    return None if days == 0 else EPOCH + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class RegisterRecord:
    """One insured person's policy as the register states it; no names (only a keyed hash)."""

    enp: str
    policy_type: PolicyType
    status: PolicyStatus
    status_since: date | None
    smo_ogrn: str
    okato: str
    start: date | None
    end: date | None
    clinic: str | None
    name_hash: bytes

    def as_row(self) -> tuple[int, int, int, int, int, int, int, int, int, bytes]:
        return (
            int(self.enp),
            int(self.policy_type),
            int(self.status),
            to_days(self.status_since),
            int(self.smo_ogrn or 0),
            int(self.okato or 0),
            to_days(self.start),
            to_days(self.end),
            int(self.clinic or 0),
            self.name_hash,
        )

    @classmethod
    def from_row(
        cls, row: tuple[int, int, int, int, int, int, int, int, int, bytes]
    ) -> RegisterRecord:
        enp, ptype, status, since, ogrn, okato, start, end, clinic, nhash = row
        # Positional, with the enum and date conversions looked up: every verdict of an ENP
        # reads one record, a batch a thousand.
        return _make_record(
            f"{enp:016d}",
            _TYPES.get(ptype) or PolicyType(ptype),
            _STATUSES.get(status) or PolicyStatus(status),
            _date_of(since),
            str(ogrn) if ogrn else "",
            _okato_of(okato),
            _date_of(start),
            _date_of(end),
            f"{clinic:06d}" if clinic else None,
            nhash if type(nhash) is bytes else bytes(nhash),
        )


# RegisterRecord(...) of every field, without the generated __init__ (verifier/fastnew.py):
# every verdict of an ENP makes one, a batch a thousand.
_make_record = maker(RegisterRecord, [f.name for f in dataclasses.fields(RegisterRecord)])
_TYPES: dict[int, PolicyType] = {int(t): t for t in PolicyType}
_STATUSES: dict[int, PolicyStatus] = {int(s): s for s in PolicyStatus}


@functools.lru_cache(maxsize=8192)
def _date_of(days: int) -> date | None:
    """:func:`from_days`, memoised (dates are immutable; a register's dates repeat)."""
    return from_days(days)


@functools.lru_cache(maxsize=1024)
def _okato_of(value: int) -> str:
    return okato_text(value)


@dataclass(frozen=True, slots=True)
class Alias:
    enp: str
    kind: AliasKind
    number: str  # normalised: series and number without spaces, or 9 digits


@dataclass(frozen=True, slots=True)
class DocumentRevocation:
    enp: str
    carrier: Carrier
    since: date | None
    reason: RevocationReason
