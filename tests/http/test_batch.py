"""``POST /v1/policies:batch``: many numbers at once, answers in input order, one audit row."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.http.conftest import ADMIN_TOKEN, DESK_TOKEN, KIOSK_TOKEN, MIS_TOKEN, Server
from tests.http.helpers import assert_problem, conforms
from verifier.devkit import demo

BAD_ITEMS: list[Any] = [5047000818001962, "", "   ", "hello", "x" * 65, None, ["a"], "\ud800"]


def _typed(state: demo.DemoState) -> list[tuple[str, str, str]]:
    """The demo's typed samples (ENPs, old numbers, temporary certificates): label, expected
    outcome, the text."""
    return [
        (label, expected, item.payload.decode())
        for label, expected, item in demo.demo_samples(state)
        if item.manual
    ]


def _post(c: httpx.Client, body: Any) -> httpx.Response:
    """JSON as an MIS may send it: ASCII with escapes (a lone surrogate included)."""
    return c.post(
        "/v1/policies:batch",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )


def _service(server: Server) -> Any:
    service = server.live.daemon.service
    assert service is not None and service.ready  # the daemon under test is up
    return service


def test_batch_answers_in_input_order_as_single_lookups_do(
    api: Server, demo_state: demo.DemoState
) -> None:
    samples = _typed(demo_state)
    kinds = {len(text) == 16 for _, _, text in samples}
    assert kinds == {True, False}, samples  # ENPs and other numbers both
    texts: list[Any] = []
    expected: list[str | None] = []
    for _, outcome, text in samples:
        texts.append(text)
        expected.append(outcome)
        texts.append(BAD_ITEMS[len(texts) % len(BAD_ITEMS)])
        expected.append(None)  # malformed: unknown/unrecognized in place
    with api.client(MIS_TOKEN) as c:
        r = _post(c, {"enps": texts, "mode": "offline"})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert len(results) == len(texts)
        for text, want, v in zip(texts, expected, results, strict=True):
            conforms("Verdict", v)
            if want is None:
                assert v["outcome"] == "unknown", (text, v)
                assert "unrecognized" in v["reasons"], (text, v)
                continue
            assert v["outcome"] == want, (text, v)
            if len(text) == 16:
                single = c.get(f"/v1/policies/{text}", params={"mode": "offline"}).json()
                assert v["outcome"] == single["outcome"] and v["reasons"] == single["reasons"]
                assert v["credential"]["enp"] == text  # the MIS gets full verdicts
        # Every malformed shape, alone: still a 200 with a verdict, never a failed batch.
        r = _post(c, {"enps": BAD_ITEMS, "mode": "offline"})
        assert r.status_code == 200, r.text
        assert [v["reasons"] for v in r.json()["results"]] == [["unrecognized"]] * len(BAD_ITEMS)


def test_batch_is_one_audit_row_with_its_count(api: Server, demo_state: demo.DemoState) -> None:
    texts = [t for _, _, t in _typed(demo_state)] * 20
    audit = _service(api).audit
    before = audit.count()
    with api.client(MIS_TOKEN) as c:
        r = _post(c, {"enps": texts, "mode": "offline"})
        assert r.status_code == 200, r.text
    assert audit.count() == before + 1
    row = audit.recent(1)[0]
    assert row.channel == "batch" and row.who == "mis-main"
    assert f"batch:{len(texts)}" in row.reasons
    assert row.enp_masked is None  # the row stands for many people


def test_batch_roles(api: Server, locked: Server) -> None:
    body = {"enps": ["5047000818001962"], "mode": "offline"}
    for token in (MIS_TOKEN, ADMIN_TOKEN, DESK_TOKEN):
        with locked.client(token) as c:
            r = _post(c, body)
            assert r.status_code == 200, (token, r.text)
    with locked.client(KIOSK_TOKEN) as c:
        assert_problem(_post(c, body), 403, "forbidden")
    with locked.client() as c:
        assert_problem(_post(c, body), 401, "unauthorized")
    with api.client() as c:  # the loopback role (admin by default)
        assert _post(c, body).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"enps": ["5047000818001962"] * 1001}, 422, "too_large"),
        ({"enps": "5047000818001962"}, 422, "bad_request"),
        ({}, 422, "bad_request"),
        ({"enps": [], "mode": "fast"}, 422, "bad_mode"),
        ({"enps": [], "mode": 1}, 422, "bad_mode"),
        ({"enps": [], "fresh": True}, 422, "bad_request"),
        ([], 422, "bad_request"),
    ],
)
def test_batch_refusals(api: Server, body: Any, status: int, code: str) -> None:
    with api.client(MIS_TOKEN) as c:
        assert_problem(_post(c, body), status, code)


def test_batch_refuses_other_media_types_and_huge_bodies(api: Server) -> None:
    with api.client(MIS_TOKEN) as c:
        r = c.post(
            "/v1/policies:batch",
            content=b'{"enps": []}',
            headers={"content-type": "text/plain"},
        )
        assert_problem(r, 415, "unsupported_media_type")
        huge = b'{"enps": ["' + b"1" * 600_000 + b'"]}'
        r = c.post("/v1/policies:batch", content=huge, headers={"content-type": "application/json"})
        assert_problem(r, 413, "too_large")
        assert _post(c, {"enps": []}).json() == {"results": []}


@pytest.mark.parametrize("mode", ["online", "auto"])
def test_batch_online_answers_agree(api: Server, demo_state: demo.DemoState, mode: str) -> None:
    """The demo's registry on loopback answers the misses; more items than the concurrency
    bound, so the lookups queue behind it and still come back in input order."""
    samples = [s for s in _typed(demo_state) if s[1] != "unknown"] * 4
    assert len(samples) > 8
    with api.client(MIS_TOKEN) as c:
        r = _post(c, {"enps": [t for _, _, t in samples], "mode": mode})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
    assert [v["outcome"] for v in results] == [want for _, want, _ in samples]
    if mode == "online":
        assert {v["source"] for v in results if v["outcome"] != "invalid"} == {"registry"}
