"""Keyed hash of a person's normalised name and birth date, stored instead of the name.

A caller that already knows the patient (the MIS, the clerk) can confirm "this ENP belongs to
this person" offline without the snapshot carrying names. HMAC-Streebog-256 truncated to 8
bytes: enough to tell people apart (2^-64 false match per comparison), too short to be worth
storing elsewhere. The key comes from the registry with the snapshot's key id; whoever holds it
can test guesses, so it is treated as a secret of the deployment (docs/snapshot-format.md).
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from datetime import date

from verifier.crypto import hashes

ALG = "hmac-streebog256-64"
SIZE = 8
_SPACES = re.compile(r"\s+")
_DROP = re.compile(r"[^0-9A-ZА-Я \-]")


def normalize_name(part: str | None) -> str:
    """NFC, upper case, Ё→Е, any whitespace as one space, no punctuation but hyphens."""
    text = unicodedata.normalize("NFC", part or "").upper().replace("Ё", "Е")
    text = _SPACES.sub(" ", text)
    return _SPACES.sub(" ", _DROP.sub("", text)).strip()


def canonical(surname: str, given_name: str, patronymic: str | None, birth_date: date) -> bytes:
    parts = (normalize_name(surname), normalize_name(given_name), normalize_name(patronymic))
    return ("|".join(parts) + "|" + birth_date.isoformat()).encode("utf-8")


def _digestmod() -> hashes.HashObject:
    return hashes.new(hashes.STREEBOG256)


def name_hash(
    key: bytes, surname: str, given_name: str, patronymic: str | None, birth_date: date
) -> bytes:
    msg = canonical(surname, given_name, patronymic, birth_date)
    if hashes.hash_backend(hashes.STREEBOG256) == "openssl-gostprov":
        return hmac.digest(key, msg, "md_gost12_256")[:SIZE]  # C path, ~10x faster
    return hmac.new(key, msg, _digestmod).digest()[:SIZE]  # type: ignore[arg-type]


def matches(
    key: bytes,
    stored: bytes,
    surname: str,
    given_name: str,
    patronymic: str | None,
    birth_date: date,
) -> bool:
    return hmac.compare_digest(stored, name_hash(key, surname, given_name, patronymic, birth_date))


def key_id(key: bytes) -> str:
    return hashes.digest(hashes.STREEBOG256, b"oms-verifier name-hash key|" + key)[:8].hex()
