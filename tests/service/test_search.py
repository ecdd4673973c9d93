"""Find a patient by name and birth date: offline through the snapshot's keyed name hash, online
through the real reference registry's search on loopback. persons.csv is the ground truth."""

from __future__ import annotations

import csv
import dataclasses
import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from verifier import config
from verifier.checks.context import LookupMode
from verifier.devkit import demo
from verifier.registry.server import ServerConfig, ThreadedServer
from verifier.registry.server import create_app as registry_app
from verifier.service.assembly import Assembly, assemble
from verifier.service.search import PersonQuery, SearchError, SearchSource, search
from verifier.verdict import Outcome


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoState:
    return demo.ensure_demo(config.load(None, tmp_path_factory.mktemp("s")), persons=2000)


@pytest.fixture(scope="module")
def people(state: demo.DemoState) -> list[dict[str, str]]:
    with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if not r["deleted"]]


@pytest.fixture(scope="module")
def offline(state: demo.DemoState) -> Iterator[Assembly]:
    parts = assemble(state.cfg)
    yield parts
    parts.close()


@pytest.fixture(scope="module")
def online(state: demo.DemoState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assembly]:
    token = secrets.token_urlsafe(24)
    scfg = ServerConfig(
        data_dir=state.registry_dir,
        port=0,
        tokens=(token,),
        state_dir=tmp_path_factory.mktemp("reg"),
        log_level="warning",
    )
    server = ThreadedServer(registry_app(scfg), scfg).start()
    cfg = dataclasses.replace(
        state.cfg,
        registry=dataclasses.replace(state.cfg.registry, url=server.url, token=token),
    )
    parts = assemble(cfg)
    yield parts
    parts.close()
    server.stop()


def query(row: dict[str, str], **override: str | None) -> PersonQuery:
    fields: dict[str, object] = {
        "surname": row["surname"],
        "given_name": row["given_name"],
        "patronymic": row["patronymic"] or None,
        "birth_date": date.fromisoformat(row["birth_date"]),
    }
    fields.update(override)
    return PersonQuery(**fields)  # type: ignore[arg-type]


def active(people: list[dict[str, str]]) -> dict[str, str]:
    return next(r for r in people if r["status"] == "active" and r["patronymic"] and not r["end"])


def test_offline_search_finds_the_person_with_a_valid_verdict(
    offline: Assembly, people: list[dict[str, str]]
) -> None:
    row = active(people)
    res = search(offline, query(row), LookupMode.OFFLINE)
    assert res.source is SearchSource.SNAPSHOT
    assert [v.credential.enp for v in res.candidates if v.credential] == [row["enp"]]
    (v,) = res.candidates
    assert v.outcome is Outcome.VALID
    assert next(c for c in v.checks if c.name == "holder").status.value == "pass"


def test_offline_search_normalises_like_the_snapshot(
    offline: Assembly, people: list[dict[str, str]]
) -> None:
    row = next(r for r in active_all(people) if "е" in r["surname"].lower())
    spelled = row["surname"].upper().replace("Е", "Ё", 1)
    res = search(offline, query(row, surname=f"  {spelled} "), LookupMode.OFFLINE)
    assert [v.credential.enp for v in res.candidates if v.credential] == [row["enp"]]


def active_all(people: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in people if r["status"] == "active" and r["patronymic"]]


def test_a_wrong_birth_date_finds_nobody(offline: Assembly, people: list[dict[str, str]]) -> None:
    row = active(people)
    res = search(offline, query(row, birth_date=date(1901, 1, 1)), LookupMode.OFFLINE)  # type: ignore[arg-type]
    assert res.candidates == ()


def test_online_search_through_the_reference_registry(
    online: Assembly, people: list[dict[str, str]]
) -> None:
    row = active(people)
    res = search(online, query(row), LookupMode.ONLINE)
    assert res.source is SearchSource.REGISTRY
    assert [v.credential.enp for v in res.candidates if v.credential] == [row["enp"]]
    assert res.candidates[0].source == "registry"
    # the registry's search treats a missing patronymic as "any"
    res = search(online, query(row, patronymic=None), LookupMode.ONLINE)
    assert row["enp"] in {v.credential.enp for v in res.candidates if v.credential}


def test_auto_asks_the_registry_when_the_snapshot_finds_nobody(
    online: Assembly, people: list[dict[str, str]]
) -> None:
    row = active(people)
    res = search(online, query(row, patronymic=None), LookupMode.AUTO)
    assert res.source is SearchSource.REGISTRY


def test_without_the_match_key_offline_says_why(
    state: demo.DemoState, people: list[dict[str, str]], tmp_path: Path
) -> None:
    cfg = dataclasses.replace(
        state.cfg, register=dataclasses.replace(state.cfg.register, match_key_file=None)
    )
    parts = assemble(cfg)
    try:
        res = search(parts, query(active(people)), LookupMode.OFFLINE)
    finally:
        parts.close()
    assert res.candidates == () and res.source is SearchSource.NONE
    assert any("ключ хэша ФИО" in n for n in res.notes)


@pytest.mark.parametrize("field", ["surname", "given_name"])
def test_an_empty_name_is_a_typed_error(people: list[dict[str, str]], field: str) -> None:
    with pytest.raises(SearchError):
        query(active(people), **{field: "  "})
