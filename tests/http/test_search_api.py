"""POST /v1/search on a live demo daemon: offline through the snapshot's keyed name hash, online
through the demo's reference registry on loopback; roles, the rate limit, the audit row.
persons.csv is the ground truth."""

from __future__ import annotations

import csv
from typing import Any

import pytest

from tests.http.conftest import ADMIN_TOKEN, DESK_TOKEN, KIOSK_TOKEN, MIS_TOKEN, Server
from tests.http.helpers import assert_problem, conforms
from verifier.devkit import demo


def _person(state: demo.DemoState) -> dict[str, str]:
    with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        return next(
            r
            for r in csv.DictReader(f)
            if not r["deleted"] and r["status"] == "active" and r["patronymic"] and not r["end"]
        )


def _body(row: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "surname": row["surname"],
        "given_name": row["given_name"],
        "patronymic": row["patronymic"],
        "birth_date": row["birth_date"],
        **extra,
    }


@pytest.mark.parametrize(("mode", "source"), [("offline", "snapshot"), ("online", "registry")])
def test_search_finds_the_person(
    api: Server, demo_state: demo.DemoState, mode: str, source: str
) -> None:
    row = _person(demo_state)
    with api.client(DESK_TOKEN) as desk:
        r = desk.post("/v1/search", json=_body(row, mode=mode))
    assert r.status_code == 200, r.text
    doc = r.json()
    conforms("SearchResult", doc)
    assert doc["source"] == source
    assert [v["credential"]["enp"] for v in doc["candidates"]] == [row["enp"]]
    assert doc["candidates"][0]["outcome"] == "valid"
    assert doc["candidates"][0]["credential"]["surname"] == row["surname"]


def test_search_normalises_the_name_offline(api: Server, demo_state: demo.DemoState) -> None:
    row = _person(demo_state)
    body = _body(row, mode="offline", surname=f"  {row['surname'].upper()} ")
    body["given_name"] = row["given_name"].lower()
    with api.client(MIS_TOKEN) as mis:
        doc = mis.post("/v1/search", json=body).json()
    assert [v["credential"]["enp"] for v in doc["candidates"]] == [row["enp"]]


def test_nobody_found_is_an_empty_list_and_an_audit_row(
    api: Server, demo_state: demo.DemoState
) -> None:
    row = _person(demo_state)
    service = api.live.daemon.service
    assert service is not None and service.ready  # the daemon under test is up
    with api.client(DESK_TOKEN) as desk:
        r = desk.post("/v1/search", json=_body(row, mode="offline", birth_date="1901-01-01"))
    assert r.status_code == 200
    assert r.json()["candidates"] == [] and r.json()["source"] == "snapshot"
    entry = service.audit.recent(1)[0]
    assert (entry.who, entry.channel, entry.enp_masked) == ("desk-1", "search", None)
    with api.client(DESK_TOKEN) as desk:
        desk.post("/v1/search", json=_body(row, mode="offline"))
    entry = service.audit.recent(1)[0]
    assert (
        entry.channel == "search"
        and entry.enp_masked == row["enp"][:2] + "*" * 10 + row["enp"][-4:]
    )


def test_search_needs_a_token_and_a_role(api: Server, demo_state: demo.DemoState) -> None:
    body = _body(_person(demo_state))
    with api.client() as c:  # token-less loopback (admin): a name oracle wants a token
        assert_problem(c.post("/v1/search", json=body), 401, "unauthorized")
    with api.client(KIOSK_TOKEN) as k:
        assert_problem(k.post("/v1/search", json=body), 403, "forbidden")
    with api.client(ADMIN_TOKEN) as a:
        assert a.post("/v1/search", json=body).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"surname": None}, 422, "bad_request"),
        ({"given_name": 5}, 422, "bad_request"),
        ({"birth_date": "01.02.1990"}, 422, "bad_request"),
        ({"patronymic": ["x"]}, 422, "bad_request"),
        ({"extra": 1}, 422, "bad_request"),
        ({"mode": "fast"}, 422, "bad_mode"),
        ({"surname": "   "}, 422, "bad_search"),
        ({"birth_date": "1800-01-01"}, 422, "bad_search"),
    ],
)
def test_bad_search_bodies(
    api: Server, demo_state: demo.DemoState, change: dict[str, Any], status: int, code: str
) -> None:
    body = {k: v for k, v in {**_body(_person(demo_state)), **change}.items() if v is not None}
    with api.client(MIS_TOKEN) as mis:
        assert_problem(mis.post("/v1/search", json=body), status, code)


def test_search_is_json_only(api: Server) -> None:
    with api.client(MIS_TOKEN) as mis:
        r = mis.post("/v1/search", content="x", headers={"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported_media_type")


def test_search_is_rate_limited(limited: Server, demo_state: demo.DemoState) -> None:
    """``match_burst = 3``: three searches, then 429 — its own budget, apart from /v1/match."""
    body = _body(_person(demo_state), mode="offline")
    with limited.client(MIS_TOKEN) as mis:
        codes = [mis.post("/v1/search", json=body).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = mis.post("/v1/search", json=body)
        assert_problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
