"""The fast path remembers the callers of the requests it took by their whole header list and
client address (verifier/http/fastpath.py, ``PolicyFastPath._accepted``). What it remembers
must never let another request through: a different token, another client, a reload, a
refused Origin; and a header list it cannot remember (pairs given as lists) is still served.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx

from tests.http.conftest import MIS_TOKEN, auth
from tests.http.helpers import policy_scope
from tests.http.test_fastpath import Pair, _people, pair, states
from verifier.http.fastpath import _MAX_ACCEPTED

__all__ = ["pair", "states"]


async def _ask(
    app: Any, url: str, headers: dict[str, str], client: tuple[str, int]
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8471") as c:
        return await c.get(url, headers=headers)


def _url(states: dict[str, Any]) -> str:
    return f"/v1/policies/{_people(states['state_dir'], 1)[0]}?mode=offline"


def test_a_remembered_token_does_not_admit_another(pair: Pair, states: dict[str, Any]) -> None:
    url = _url(states)
    assert pair.run(pair.ask(pair.fast_app, "GET", url, auth(MIS_TOKEN))).status_code == 200
    assert pair.run(pair.ask(pair.fast_app, "GET", url, auth(MIS_TOKEN))).status_code == 200
    fast, slow, answered = pair.run(pair.both("GET", url, auth(MIS_TOKEN[:-1] + "x")))
    assert not answered
    assert fast.status_code == slow.status_code == 401


def test_the_loopback_role_remembered_is_not_given_to_another_client(
    pair: Pair, states: dict[str, Any]
) -> None:
    """No token from 127.0.0.1 is the loopback role (admin in this configuration); the
    same headers from another address are nobody."""
    url = _url(states)
    here = pair.run(_ask(pair.fast_app, url, {}, ("127.0.0.1", 50000)))
    assert here.status_code == 200
    before = pair.served
    there = pair.run(_ask(pair.fast_app, url, {}, ("192.0.2.7", 50000)))
    assert pair.served == before  # not taken by the fast path
    assert there.status_code == 401


def test_a_remembered_caller_does_not_pass_a_cross_site_request(
    pair: Pair, states: dict[str, Any]
) -> None:
    """The token's caller remembered from the daemon's own page; the same token from a page
    of another site (what a browser says in Sec-Fetch-Site) is refused by the gate."""
    url = _url(states)
    ok = {"Sec-Fetch-Site": "same-origin", **auth(MIS_TOKEN)}
    assert pair.run(pair.ask(pair.fast_app, "GET", url, ok)).status_code == 200
    evil = {"Sec-Fetch-Site": "cross-site", **auth(MIS_TOKEN)}
    fast, slow, answered = pair.run(pair.both("GET", url, evil))
    assert not answered
    assert fast.status_code == slow.status_code == 403


def test_headers_given_as_lists_are_served_without_being_remembered(
    pair: Pair, states: dict[str, Any]
) -> None:
    """ASGI allows any two-item iterable for a header; a list cannot be a dict key."""
    enp = _people(states["state_dir"], 1)[0]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    headers = [[b"host", b"127.0.0.1:8471"], [b"authorization", f"Bearer {MIS_TOKEN}".encode()]]
    scope = policy_scope(enp, headers)
    before = pair.served
    for _ in range(2):
        pair.run(pair.fast_app(scope, receive, send))
    assert pair.served == before + 2
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [200, 200]


def test_many_header_sets_are_served_and_the_memory_stays_bounded(
    pair: Pair, states: dict[str, Any]
) -> None:
    """A MIS that sends a new request id each time: every call is checked and served, and
    what is remembered stays within its bound."""
    url = _url(states)
    for i in range(_MAX_ACCEPTED * 2 + 5):
        headers = {"X-Request-Id": f"req-{i}", **auth(MIS_TOKEN)}
        assert pair.run(pair.ask(pair.fast_app, "GET", url, headers)).status_code == 200
    assert pair.fast_app.fast_path is not None
    remembered = pair.fast_app.fast_path._accepted[-1]
    assert 0 < len(remembered) <= _MAX_ACCEPTED
