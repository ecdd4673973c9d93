"""Fault injection (``--faults``): every fault is visible from the client side."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from verifier.crypto import hashes
from verifier.crypto.signatures import verify_digest
from verifier.registry import protocol

from .conftest import Register

Faults = Callable[..., dict[str, Any]]


@pytest.fixture
def faults(client: httpx.Client) -> Iterator[Faults]:
    def put(**settings: Any) -> dict[str, Any]:
        resp = client.put("/_faults", json=settings)
        assert resp.status_code == 200, resp.text
        doc: dict[str, Any] = resp.json()
        return doc

    yield put
    assert client.delete("/_faults").status_code == 200


def _enp(register: Register) -> str:
    return register.live[3]["enp"]


def test_latency_and_jitter(client: httpx.Client, faults: Faults) -> None:
    t0 = time.perf_counter()
    client.get("/v1/ping")
    base = time.perf_counter() - t0
    faults(latency_ms=250, jitter_ms=50)
    t0 = time.perf_counter()
    assert client.get("/v1/ping").status_code == 200
    slow = time.perf_counter() - t0
    assert 0.25 <= slow < 0.25 + 0.05 + 1.0 and slow > base


def test_paths_limit_the_faults(client: httpx.Client, faults: Faults) -> None:
    faults(error_rate=1.0, paths="/v1/persons")
    assert client.get("/v1/ping").status_code == 200
    assert client.get("/v1/persons/5000000000000000").status_code == 503


def test_server_errors(client: httpx.Client, faults: Faults) -> None:
    faults(error_rate=1.0, error_status=502)
    resp = client.get("/v1/ping")
    assert resp.status_code == 502
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert protocol.parse_problem(502, resp.content).code == "injected_fault"


def test_connection_reset(client: httpx.Client, faults: Faults, register: Register) -> None:
    faults(reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        client.get(f"/v1/persons/{_enp(register)}")
    faults()  # cleared: the same client works again on a new connection
    assert client.get("/v1/ping").status_code == 200


def test_garbage_fails_to_parse(client: httpx.Client, faults: Faults, register: Register) -> None:
    faults(garbage_rate=1.0, seed=7)
    resp = client.get(f"/v1/persons/{_enp(register)}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_person_answer(resp.content)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_time(client.get("/v1/time").content)


def test_wrong_signature(client: httpx.Client, faults: Faults, register: Register) -> None:
    pub = register.public_key

    def ok(answer: protocol.PersonAnswer) -> bool:
        return verify_digest(
            pub, hashes.digest("streebog256", answer.signed_bytes()), answer.signature
        )

    row = register.live[3]
    faults(wrong_signature_rate=1.0)
    answer = protocol.parse_person_answer(client.get(f"/v1/persons/{row['enp']}").content)
    assert answer.record.enp == row["enp"]
    assert not ok(answer)
    body = {k: row[k] for k in ("surname", "given_name", "birth_date")}
    found = protocol.parse_candidates(client.post("/v1/persons/search", json=body).content)
    assert found and not any(ok(a) for a in found)
    faults()
    assert ok(protocol.parse_person_answer(client.get(f"/v1/persons/{row['enp']}").content))


def test_rates_are_reproducible_with_a_seed(client: httpx.Client, faults: Faults) -> None:
    def run() -> list[int]:
        faults(error_rate=0.5, seed=42)
        return [client.get("/v1/ping").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert 5 < first.count(503) < 25 and set(first) == {200, 503}


def test_control_endpoint(client: httpx.Client, server: Any, faults: Faults) -> None:
    assert client.get("/_faults").json()["error_rate"] == 0.0
    doc = faults(latency_ms=1)
    assert doc["latency_ms"] == 1 and doc["paths"] == "/v1/"
    assert client.get("/_faults").json() == doc
    bad: object
    for bad in ({"error_rate": 2}, {"nope": 1}, {"error_status": 404}, {"latency_ms": "x"}, []):
        resp = client.put("/_faults", json=bad)
        assert resp.status_code == 422 and resp.json()["code"] == "bad_request", bad
    assert client.put("/_faults", content=b"{").status_code == 422
    assert client.post("/_faults", json={}).status_code == 405
    assert httpx.put(f"{server.url}/_faults", json={"error_rate": 1}).status_code == 401
    assert client.get("/_faults").json() == doc, "refused changes leave the faults as they were"
