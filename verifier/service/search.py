"""Find a patient who brought only a passport: surname, given name, patronymic, birth date.

The law lets a patient show just an identity document: the policy is the record in the
register. Offline the snapshot holds no names, only the keyed hash of the normalised name and
birth date (cache/name_hash.py), so the search hashes the query with the same key and looks the
hash up; online it asks the registry's person search. Every candidate comes back with its own
verdict, made by the same pipeline as any typed ENP (with the name, so the holder check runs).

Patronymic: offline the hash covers it exactly, so a query without one finds people without
one; the registry's search treats a missing patronymic as "any". In ``auto`` a query the
snapshot cannot answer (no key, no match, snapshot unusable) goes to the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from cache import name_hash
from verifier.checks.context import LookupMode
from verifier.checks.holder import HolderMatcher
from verifier.credential import Credential, CredentialKind
from verifier.errors import InputError, OmsError
from verifier.service.assembly import Assembly
from verifier.verdict import Verdict

MAX_CANDIDATES = 20


class SearchError(InputError):
    code = "bad_search"


class SearchSource(StrEnum):
    SNAPSHOT = "snapshot"
    REGISTRY = "registry"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class PersonQuery:
    surname: str
    given_name: str
    patronymic: str | None
    birth_date: date

    def __post_init__(self) -> None:
        if not name_hash.normalize_name(self.surname):
            raise SearchError("surname is empty", code="bad_search")
        if not name_hash.normalize_name(self.given_name):
            raise SearchError("given name is empty", code="bad_search")
        if self.birth_date.year < 1880:
            raise SearchError("birth date is implausible", code="bad_search")


@dataclass(frozen=True, slots=True)
class SearchResult:
    source: SearchSource
    candidates: tuple[Verdict, ...]
    notes: tuple[str, ...] = ()  # why a source could not answer, in Russian for the clerk


def _credential(q: PersonQuery, enp: str) -> Credential:
    return Credential(
        kind=CredentialKind.MANUAL,
        enp=enp,
        surname=q.surname,
        given_name=q.given_name,
        patronymic=q.patronymic or "",
        birth_date=q.birth_date,
    )


def _offline(parts: Assembly, q: PersonQuery) -> tuple[list[str] | None, str | None]:
    """ENPs the snapshot holds for this person, or None with the reason it cannot say."""
    holder = parts.pipeline.holder
    key = holder.key if isinstance(holder, HolderMatcher) else None
    if key is None:
        return (
            None,
            "не настроен ключ хэша ФИО ([register] match_key_file): "
            "поиск по копии реестра невозможен",
        )
    info = parts.store.info()
    if info.name_key_id and info.name_key_id != key.key_id:
        return None, "ключ хэша ФИО не подходит к этой копии реестра"
    if not info.present:
        return None, "локальной копии реестра нет"
    digest = name_hash.name_hash(key.key, q.surname, q.given_name, q.patronymic or "", q.birth_date)
    return [r.enp for r in parts.store.lookup_name_hash(digest)][:MAX_CANDIDATES], None


def _online(parts: Assembly, q: PersonQuery) -> tuple[list[str] | None, str | None]:
    client, loop = parts.client, parts.loop
    if client is None or loop is None:
        return None, "онлайн-реестр не настроен"
    budget = client.cfg.budget_s
    try:
        answers = loop.call(
            lambda: client.search(q.surname, q.given_name, q.patronymic, q.birth_date),
            budget + 0.5,
        )
    except OmsError as exc:
        return None, f"онлайн-реестр не ответил ({exc.code})"
    return [a.record.enp for a in answers][:MAX_CANDIDATES], None


def search(parts: Assembly, q: PersonQuery, mode: LookupMode = LookupMode.AUTO) -> SearchResult:
    """Candidates with verdicts; an empty tuple when the sources that answered found nobody."""
    notes: list[str] = []
    found: list[str] | None = None
    source = SearchSource.NONE
    if mode is not LookupMode.ONLINE:
        found, why = _offline(parts, q)
        if found is not None:
            source = SearchSource.SNAPSHOT
        elif why:
            notes.append(f"копия реестра: {why}")
    if mode is LookupMode.ONLINE or (mode is LookupMode.AUTO and not found):
        online, why = _online(parts, q)
        if online is not None:
            found, source = online, SearchSource.REGISTRY
        elif why:
            notes.append(why)
    verify_mode = LookupMode.ONLINE if source is SearchSource.REGISTRY else mode
    verdicts = tuple(
        parts.pipeline.verify_credential(
            _credential(q, enp), input_source="search", mode=verify_mode
        )
        for enp in found or ()
    )
    return SearchResult(source, verdicts, tuple(notes))
