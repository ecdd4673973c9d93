"""The keyed name hash: spellings of one person hash alike, other people and dates do not."""

from __future__ import annotations

import hmac
from datetime import date
from typing import Any

import pytest

from cache import name_hash
from tests.vectors import load_json
from verifier.crypto import hashes

DOC = load_json("cache/name_hash.json")
KEY = bytes.fromhex(DOC["key"])
PEOPLE = DOC["people"]


def _args(p: dict[str, Any]) -> tuple[str, str, str | None, date]:
    return p["surname"], p["given_name"], p["patronymic"], date.fromisoformat(p["birth_date"])


def _pure_hmac(key: bytes, msg: bytes) -> bytes:
    """HMAC over the pure-Python Streebog: independent of the OpenSSL path name_hash takes."""
    return hmac.new(key, msg, lambda d=b"": hashes.new(hashes.STREEBOG256, d, pure=True)).digest()


_SAME = [
    pytest.param(
        p["person"],
        dict(p["person"], **{k: v for k, v in s.items() if k != "why"}),
        id=f"{p['person']['surname']}: {s['why']}",
    )
    for p in PEOPLE
    for s in p["same"]
]
_DIFFERENT = [
    pytest.param(
        p["person"],
        dict(p["person"], **{k: v for k, v in d.items() if k != "why"}),
        id=f"{p['person']['surname']}: {d['why']}",
    )
    for p in PEOPLE
    for d in p["different"]
]


@pytest.mark.parametrize(("person", "spelling"), _SAME)
def test_spellings_of_the_same_person_match(
    person: dict[str, Any], spelling: dict[str, Any]
) -> None:
    stored = name_hash.name_hash(KEY, *_args(person))
    assert name_hash.name_hash(KEY, *_args(spelling)) == stored
    assert name_hash.matches(KEY, stored, *_args(spelling))


@pytest.mark.parametrize(("person", "other"), _DIFFERENT)
def test_another_name_or_birth_date_does_not_match(
    person: dict[str, Any], other: dict[str, Any]
) -> None:
    stored = name_hash.name_hash(KEY, *_args(person))
    assert name_hash.name_hash(KEY, *_args(other)) != stored
    assert not name_hash.matches(KEY, stored, *_args(other))


@pytest.mark.parametrize("entry", PEOPLE, ids=lambda e: e["person"]["surname"])
def test_canonical_form(entry: dict[str, Any]) -> None:
    assert name_hash.canonical(*_args(entry["person"])) == entry["canonical"].encode("utf-8")


def test_known_answer_and_construction() -> None:
    """HMAC-Streebog-256 of the canonical form, first 8 bytes; RFC 7836 HMAC example first."""
    rfc_key = bytes(range(32))
    rfc_msg = bytes.fromhex("0126bdb87800af214341456563780100")
    assert _pure_hmac(rfc_key, rfc_msg).hex() == (
        "a1aa5f7de402d7b3d323f2991c8d4534013137010a83754fd0af6d7cd4922ed9"
    )
    entry = PEOPLE[0]
    got = name_hash.name_hash(KEY, *_args(entry["person"]))
    assert got.hex() == entry["name_hash"]
    assert len(got) == name_hash.SIZE == 8
    assert got == _pure_hmac(KEY, entry["canonical"].encode("utf-8"))[:8]


def test_python_fallback_gives_the_same_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OpenSSL's gostprov name_hash uses hmac over the Python Streebog: same answer."""
    person = _args(PEOPLE[0]["person"])
    fast = name_hash.name_hash(KEY, *person)
    monkeypatch.setattr(name_hash.hashes, "hash_backend", lambda name="": "python")
    assert name_hash.name_hash(KEY, *person) == fast


def test_the_key_matters() -> None:
    person = _args(PEOPLE[0]["person"])
    other_key = bytes(31) + b"\x01"
    assert name_hash.name_hash(other_key, *person) != name_hash.name_hash(KEY, *person)
    assert not name_hash.matches(other_key, name_hash.name_hash(KEY, *person), *person)
    assert name_hash.key_id(KEY) == name_hash.key_id(bytes(KEY))
    assert name_hash.key_id(KEY) != name_hash.key_id(other_key)
    assert len(name_hash.key_id(KEY)) == 16


def test_matches_rejects_a_stored_hash_of_the_wrong_length() -> None:
    person = _args(PEOPLE[0]["person"])
    stored = name_hash.name_hash(KEY, *person)
    assert not name_hash.matches(KEY, stored[:7], *person)
    assert not name_hash.matches(KEY, stored + b"\x00", *person)


@pytest.mark.parametrize("case", DOC["bugs"], ids=lambda c: c["why"])
def test_any_whitespace_and_decomposed_letters_normalise(case: dict[str, Any]) -> None:
    assert name_hash.name_hash(KEY, *_args(case["b"])) == name_hash.name_hash(
        KEY, *_args(case["a"])
    )
