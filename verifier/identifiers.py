"""Identifiers on OMS policies: ENP, СНИЛС, old-style series/number, temporary certificates.

Pure functions; see REFERENCE §2 for the algorithms (confirmed against the regional
register software). Every rejection is an :class:`IdentifierError` with a stable code,
so callers can tell a typo (``enp_checksum``) from garbage (``enp_format``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from verifier.errors import IdentifierError

ENP_LENGTH = 16
SNILS_LENGTH = 11


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"


@dataclass(frozen=True, slots=True)
class EnpInfo:
    """What an ENP says about itself, without any register lookup."""

    enp: str
    region: str
    birth_date: date
    sex: Sex
    serial: str


def _digits_only(value: str, length: int, what: str) -> str:
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise IdentifierError(
            f"{what} must be exactly {length} digits", code=f"{what.lower()}_format"
        )
    return value


def luhn_check_digit(payload: str) -> int:
    """The digit that makes ``payload + digit`` pass the Luhn (mod 10) test."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def normalize_enp(value: str) -> str:
    """Strip the spaces and dashes clerks type between digit groups."""
    return re.sub(r"[\s\-]", "", value)


# Luhn by table over bytes (what luhn_check_digit computes, for exactly 16 ASCII digits):
# each verdict of an ENP checks its digit, and a batch checks 1,000 of them.
_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))


def enp_checksum_ok(enp: str) -> bool:
    _digits_only(enp, ENP_LENGTH, "ENP")
    b = enp.encode("ascii")
    # The payload is b[:15]; from its right end, positions 14, 12, … 0 are doubled.
    total = sum(b[14::-2].translate(_DOUBLED)) + sum(b[13::-2].translate(_PLAIN))
    return (10 - total % 10) % 10 == b[15] - 48


def validate_enp(enp: str) -> str:
    """Return the ENP when its form and check digit are right, else raise."""
    _digits_only(enp, ENP_LENGTH, "ENP")
    if not enp_checksum_ok(enp):
        raise IdentifierError("ENP check digit does not match", code="enp_checksum")
    return enp


def encode_facet(birth_date: date, sex: Sex) -> str:
    """Digits 3–10 of an ENP: the birth-date/sex facet."""
    month = birth_date.month
    if birth_date.year <= 1950:
        month += 20
    elif birth_date.year <= 2000:
        month += 40
    day = birth_date.day + (50 if sex is Sex.MALE else 0)
    plain = f"{month:02d}{str(birth_date.year)[::-1]}{day:02d}"
    return "".join(str(9 - int(c)) for c in plain)


def decode_facet(facet: str) -> tuple[date, Sex]:
    """Inverse of :func:`encode_facet`; raises ``enp_facet`` when no date fits."""
    _digits_only(facet, 8, "facet")
    found = _decoded_facet(facet)
    if isinstance(found, str):
        raise IdentifierError(found, code="enp_facet")
    return found


def facet_ok(facet: str) -> bool:
    """Whether :func:`decode_facet` would accept these 8 ASCII digits (no exception built)."""
    return not isinstance(_decoded_facet(facet), str)


_NINES = str.maketrans("0123456789", "9876543210")


@functools.lru_cache(maxsize=16384)
def _decoded_facet(facet: str) -> tuple[date, Sex] | str:
    """The facet's date and sex, or why none fits (memoised: a pure function of 8 digits,
    and a register's people share birth dates)."""
    plain = facet.translate(_NINES)
    month, year, day = int(plain[0:2]), int(plain[2:6][::-1]), int(plain[6:8])
    if month > 40:
        month -= 40
        era_ok = 1951 <= year <= 2000
    elif month > 20:
        month -= 20
        era_ok = year <= 1950
    else:
        era_ok = year > 2000
    sex = Sex.FEMALE
    if day > 50:
        day -= 50
        sex = Sex.MALE
    if not era_ok:
        return "ENP facet: month offset disagrees with the year"
    try:
        return date(year, month, day), sex
    except ValueError as exc:
        return f"ENP facet holds no real date: {exc}"


def parse_enp(enp: str) -> EnpInfo:
    """Validate an ENP and decode its region and birth-date/sex facet."""
    validate_enp(enp)
    born, sex = decode_facet(enp[2:10])
    return EnpInfo(enp=enp, region=enp[0:2], birth_date=born, sex=sex, serial=enp[10:15])


def make_enp(region: str, birth_date: date, sex: Sex, serial: int) -> str:
    """Build a valid ENP (demo issuer, synthetic registers, tests)."""
    if len(region) != 2 or not region.isdigit():
        raise IdentifierError("region must be 2 digits", code="region_format")
    if not 0 <= serial <= 99999:
        raise IdentifierError("serial must fit 5 digits", code="enp_format")
    body = f"{region}{encode_facet(birth_date, sex)}{serial:05d}"
    return body + str(luhn_check_digit(body))


def mask_enp(enp: str) -> str:
    """Keep what a clerk needs to match a card (region, last 4), hide the facet."""
    if len(enp) < 8:
        return "*" * len(enp)
    return enp[:2] + "*" * (len(enp) - 6) + enp[-4:]


# --- ОКАТО -----------------------------------------------------------------------------

_OKATO_LENGTHS = (2, 5, 8, 11)


def okato_text(value: int) -> str:
    """ОКАТО as text from the integer that carriers store: the code is hierarchical with
    2/5/8/11 digits and may start with 0 (regions 01–08), which an integer loses; pad to the
    shortest level that fits. 0 means "not given"."""
    if value == 0:
        return ""
    digits = str(value)
    width = next((n for n in _OKATO_LENGTHS if n >= len(digits)), len(digits))
    return digits.zfill(width)


# --- СНИЛС -----------------------------------------------------------------------------


def normalize_snils(value: str) -> str:
    return re.sub(r"[\s\-]", "", value)


def snils_check_number(first9: str) -> int:
    total = sum(int(d) * w for d, w in zip(first9, range(9, 0, -1), strict=True))
    while total > 101:
        total %= 101
    return 0 if total in (100, 101) else total


def validate_snils(value: str) -> str:
    """Return the 11-digit СНИЛС when its check number is right, else raise."""
    snils = normalize_snils(value)
    _digits_only(snils, SNILS_LENGTH, "SNILS")
    if int(snils[:9]) <= 1001998:
        return snils  # numbers up to 001-001-998 carry no check number
    if snils_check_number(snils[:9]) != int(snils[9:]):
        raise IdentifierError("СНИЛС check number does not match", code="snils_checksum")
    return snils


# --- Pre-2011 policies and temporary certificates -----------------------------------------
# Assumption (no public source): an old-style policy is written "SERIES NUMBER" with a series
# of 1-10 letters/digits and a number of 6-16 digits; a temporary certificate number is
# 9 digits. Both are looked up in the register, never validated by a check digit.

_OLD_POLICY = re.compile(
    r"^\s*(?P<series>[0-9A-ZА-ЯЁ]{1,10}(?:[ -][A-ZА-ЯЁ]{1,4})?)\s*(?:№|N|#)?\s*"
    r"(?P<number>[0-9]{6,16})\s*$"
)
_TEMP_CERT = re.compile(
    r"^\s*(?:(?:ВС|ВРЕМЕННОЕ\s+СВИДЕТЕЛЬСТВО)\s*(?:№|N)?\s*)?(?P<number>[0-9]{9})\s*$"
)


@dataclass(frozen=True, slots=True)
class OldPolicyNumber:
    series: str
    number: str

    def __str__(self) -> str:
        return f"{self.series} {self.number}"


# Latin letters that look like Cyrillic ones: a clerk's keyboard layout, or a scanner, types
# "50H" for "50Н". Old series are Cyrillic in the register, so the look-alikes are folded.
_LATIN_LOOKALIKES = str.maketrans("ABCEHKMOPTXY", "АВСЕНКМОРТХУ")


def parse_old_policy(value: str) -> OldPolicyNumber:
    m = _OLD_POLICY.match(value.upper())
    if m is None or (m.group("series").isdigit() and len(m.group("series")) > 6):
        raise IdentifierError("not an old-style series and number", code="old_policy_format")
    series = re.sub(r"[ -]", "", m.group("series")).translate(_LATIN_LOOKALIKES)
    return OldPolicyNumber(series=series, number=m.group("number"))


def parse_temporary_certificate(value: str) -> str:
    m = _TEMP_CERT.match(value.upper())
    if m is None:
        raise IdentifierError(
            "not a temporary certificate number (9 digits)", code="temp_cert_format"
        )
    return m.group("number")
