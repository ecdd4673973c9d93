"""The PostgreSQL store (a real server from the ``pg_cluster`` fixture) answers as SQLite does."""

from __future__ import annotations

import random

import httpx
import pytest

from verifier.registry import protocol
from verifier.registry.server import ServerConfig, ServerSetupError, create_app

from .conftest import Register


def _records(resp: httpx.Response) -> object:
    if resp.status_code != 200:
        return (resp.status_code, resp.json()["code"])
    if resp.content.startswith(b'{"candidates"'):
        return [(a.record, a.documents, a.query) for a in protocol.parse_candidates(resp.content)]
    a = protocol.parse_person_answer(resp.content)
    return a.record, a.documents, a.query, a.alias


def test_same_answers_as_sqlite(
    client: httpx.Client, pg_client: httpx.Client, register: Register
) -> None:
    rng = random.Random(11)
    revoked = [r for r in register.live if r["revoked_carrier"]]
    assert revoked, "the generator should have revoked some documents"
    rows = rng.sample(register.live, 80) + revoked + register.deleted
    requests: list[tuple[str, str, dict[str, object]]] = [
        ("GET", f"/v1/persons/{r['enp']}", {}) for r in rows
    ]
    requests.append(("GET", "/v1/persons/0000000000000000", {}))
    for param, column in (("temp_cert", "temp_cert_number"), ("old_number", "old_number")):
        numbers = [r[column] for r in register.live if r[column]][:10]
        assert numbers
        for number in numbers:
            query: dict[str, object] = {"params": {param: number}}
            requests.append(("GET", "/v1/persons", query))
    for r in rng.sample(register.live, 15):
        body = {k: r[k] for k in ("surname", "given_name", "birth_date")}
        requests.append(("POST", "/v1/persons/search", {"json": body}))
        body["patronymic"] = r["patronymic"].lower()
        requests.append(("POST", "/v1/persons/search", {"json": body}))
    for method, path, kwargs in requests:
        a = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        b = pg_client.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert _records(a) == _records(b), (method, path, kwargs)
    for path in ("/v1/snapshots", "/v1/ping"):
        assert client.get(path).json() == pg_client.get(path).json()


def test_postgres_answers_verify(pg_client: httpx.Client, register: Register) -> None:
    from verifier.crypto import hashes
    from verifier.crypto.signatures import verify_digest

    row = register.live[0]
    answer = protocol.parse_person_answer(pg_client.get(f"/v1/persons/{row['enp']}").content)
    digest = hashes.digest("streebog256", answer.signed_bytes())
    assert verify_digest(register.public_key, digest, answer.signature)
    assert pg_client.get("/_faults").status_code == 404, "faults are off unless asked for"


def test_unreachable_postgres_is_a_setup_error(register: Register, pg_cluster: object) -> None:
    import psycopg  # noqa: F401  (missing fails: the test install brings it)

    cfg = ServerConfig(
        data_dir=register.data_dir,
        insecure_no_auth=True,
        store="postgresql",
        dsn="host=127.0.0.1 port=1 user=nobody dbname=nothing connect_timeout=2",
    )
    with pytest.raises(ServerSetupError) as err:
        create_app(cfg)
    assert err.value.code == "store_load"
    with pytest.raises(ServerSetupError):
        create_app(
            ServerConfig(data_dir=register.data_dir, insecure_no_auth=True, store="postgresql")
        )
