"""The reference registry service answers per protocol v1 (real uvicorn, httpx client)."""

from __future__ import annotations

import csv
import random
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from cache.register_model import AliasKind
from cache.snapshot_store import SnapshotStore
from verifier.crypto import hashes
from verifier.crypto.signatures import verify_digest
from verifier.devkit.generator import generate
from verifier.registry import protocol
from verifier.registry.protocol import PersonAnswer
from verifier.registry.server import ServerConfig, ServerSetupError, ThreadedServer, create_app

from .conftest import NONCE, OTHER_TOKEN, TOKEN, TRUST_LIST, TRUST_SIG, Register, read_rows

REPO = Path(__file__).resolve().parents[2]


def verifies(register: Register, answer: PersonAnswer) -> bool:
    digest = hashes.digest("streebog256", answer.signed_bytes())
    return verify_digest(register.public_key, digest, answer.signature)


def assert_matches_row(answer: PersonAnswer, row: dict[str, str]) -> None:
    r = answer.record
    assert r.enp == row["enp"]
    assert r.policy_type.name.lower() == row["policy_type"]
    assert r.status.name.lower() == row["status"]
    assert (r.status_since.isoformat() if r.status_since else "") == row["status_since"]
    assert r.smo_ogrn == row["smo_ogrn"]
    assert r.okato == row["okato"]
    assert (r.start.isoformat() if r.start else "") == row["start"]
    assert (r.end.isoformat() if r.end else "") == row["end"]
    assert (r.clinic or "") == row["clinic"]


def assert_problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    doc = resp.json()
    assert doc["status"] == status and doc["code"] == code, doc
    assert protocol.parse_problem(resp.status_code, resp.content).code == code


# --- plain endpoints ---------------------------------------------------------------------------


def test_time_and_ping(client: httpx.Client) -> None:
    now = protocol.parse_time(client.get("/v1/time").content)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5
    resp = client.get("/v1/ping")
    assert resp.status_code == 200 and resp.json() == {"ok": True}


# --- persons -----------------------------------------------------------------------------------


def test_lookups_match_ground_truth_and_verify(client: httpx.Client, register: Register) -> None:
    rows = random.Random(1).sample(register.live, 120)
    key_id = register.gen.key_id
    for i, row in enumerate(rows):
        resp = client.get(f"/v1/persons/{row['enp']}")
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        answer = protocol.parse_person_answer(resp.content)
        assert_matches_row(answer, row)
        assert answer.key_id == key_id
        assert abs((answer.answered_at - datetime.now(UTC)).total_seconds()) < 30
        if i < 25:  # verification is the slow part; a few dozen prove the point
            assert verifies(register, answer)


def test_deleted_and_unknown_persons_are_404(client: httpx.Client, register: Register) -> None:
    assert register.deleted, "the generator should have deleted someone"
    for row in register.deleted:
        assert_problem(client.get(f"/v1/persons/{row['enp']}"), 404, "not_found")
    assert_problem(client.get("/v1/persons/0000000000000000"), 404, "not_found")


def test_temp_cert_and_old_number_lookups(client: httpx.Client, register: Register) -> None:
    temps = [r for r in register.live if r["temp_cert_number"]][:15]
    olds = [r for r in register.live if r["old_number"]][:15]
    assert temps and olds
    for row in temps:
        resp = client.get("/v1/persons", params={"temp_cert": row["temp_cert_number"]})
        answer = protocol.parse_person_answer(resp.content)
        assert_matches_row(answer, row)
    for row in olds:
        resp = client.get("/v1/persons", params={"old_number": row["old_number"]})
        assert_matches_row(protocol.parse_person_answer(resp.content), row)
    # series and number as printed, with a space and in lower case, still find the person
    row = olds[0]
    spaced = f"{row['old_number'][:3]} {row['old_number'][3:]}".lower()
    resp = client.get("/v1/persons", params={"old_number": spaced})
    assert_matches_row(protocol.parse_person_answer(resp.content), row)
    assert verifies(register, protocol.parse_person_answer(resp.content))
    assert_problem(
        client.get("/v1/persons", params={"temp_cert": "999999999999"}), 404, "not_found"
    )


def test_search_finds_the_person(client: httpx.Client, register: Register) -> None:
    for row in random.Random(2).sample(register.live, 20):
        body = {
            "surname": row["surname"].lower().replace("ё", "е"),
            "given_name": row["given_name"].upper(),
            "patronymic": row["patronymic"],
            "birth_date": row["birth_date"],
        }
        resp = client.post("/v1/persons/search", json=body)
        assert resp.status_code == 200, resp.text
        found = protocol.parse_candidates(resp.content)
        assert row["enp"] in [a.record.enp for a in found]
        match = next(a for a in found if a.record.enp == row["enp"])
        assert_matches_row(match, row)
        assert verifies(register, match)
        # without the patronymic the same person is still a candidate
        del body["patronymic"]
        found = protocol.parse_candidates(client.post("/v1/persons/search", json=body).content)
        assert row["enp"] in [a.record.enp for a in found]


def test_search_with_yo_spelling(client: httpx.Client, register: Register) -> None:
    row = next(r for r in register.live if "ё" in r["surname"].lower())
    body = {
        "surname": row["surname"].replace("ё", "е"),
        "given_name": row["given_name"],
        "birth_date": row["birth_date"],
    }
    found = protocol.parse_candidates(client.post("/v1/persons/search", json=body).content)
    assert row["enp"] in [a.record.enp for a in found]


def test_search_misses(client: httpx.Client, register: Register) -> None:
    row = register.live[0]
    body = {"surname": "Несуществующий", "given_name": "Никто", "birth_date": "1901-01-01"}
    assert protocol.parse_candidates(client.post("/v1/persons/search", json=body).content) == []
    wrong = {**row, "patronymic": "Неверович"}
    body = {k: wrong[k] for k in ("surname", "given_name", "patronymic", "birth_date")}
    found = protocol.parse_candidates(client.post("/v1/persons/search", json=body).content)
    assert row["enp"] not in [a.record.enp for a in found]


def test_search_caps_candidates(tmp_path: Path) -> None:
    """Seven people with one name and birth date: the answer holds five; no auth mode."""
    gen = generate(tmp_path / "reg", persons=60, region="77", seed=3)
    path = gen.out_dir / "persons.csv"
    rows = read_rows(path)
    live = [r for r in rows if not r["deleted"]]
    for r in live[:7]:
        r.update(
            surname="Тестов", given_name="Тест", patronymic="Тестович", birth_date="1980-01-01"
        )
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cfg = ServerConfig(data_dir=gen.out_dir, port=0, insecure_no_auth=True, log_level="warning")
    with (
        ThreadedServer(create_app(cfg), cfg) as srv,
        httpx.Client(base_url=srv.url, params={"nonce": NONCE}) as c,
    ):
        body = {"surname": "тестов", "given_name": "тест", "birth_date": "1980-01-01"}
        resp = c.post("/v1/persons/search", json=body)
        found = protocol.parse_candidates(resp.content)
        assert len(found) == protocol.MAX_CANDIDATES
        assert [a.record.enp for a in found] == sorted(r["enp"] for r in live[:7])[:5]
        # no token needed in this mode; no trust list published; no fault endpoint
        assert c.get("/v1/ping").status_code == 200
        assert_problem(c.get("/v1/trust-list"), 404, "not_found")
        assert_problem(c.get("/v1/trust-list.sig"), 404, "not_found")
        assert_problem(c.get("/_faults"), 404, "not_found")


# --- snapshots, trust list, openapi ------------------------------------------------------------


def test_snapshot_index_and_files(client: httpx.Client, register: Register, tmp_path: Path) -> None:
    idx = protocol.parse_snapshot_index(client.get("/v1/snapshots").content)
    assert idx.region == "50"
    assert idx.full_name == "full-000001.omssnap" and idx.full_sequence == 1
    assert [d.name for d in idx.deltas] == [p.name for p in register.gen.files[1:]]
    assert [(d.base_sequence, d.sequence) for d in idx.deltas] == [(1, 2), (2, 3)]
    assert idx.latest_sequence == 3
    store = SnapshotStore(tmp_path / "client.sqlite")
    pub = register.public_key
    for name in [idx.full_name, *(d.name for d in idx.deltas)]:
        resp = client.get(f"/v1/snapshots/{name}")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/octet-stream"
        assert resp.content == (register.data_dir / name).read_bytes()
        (tmp_path / name).write_bytes(resp.content)
        store.import_file(tmp_path / name, lambda _k, d, s: verify_digest(pub, d, s))
    assert store.info().sequence == 3
    assert store.info().records == len(register.live)
    row = register.live[7]
    assert (
        store.lookup_enp(row["enp"])
        == protocol.parse_person_answer(client.get(f"/v1/persons/{row['enp']}").content).record
    )
    store.close()


def test_trust_list(client: httpx.Client) -> None:
    resp = client.get("/v1/trust-list")
    assert resp.status_code == 200 and resp.content == TRUST_LIST
    assert resp.headers["content-type"].startswith("application/json")
    resp = client.get("/v1/trust-list.sig")
    assert resp.status_code == 200 and resp.content == TRUST_SIG


def test_openapi_served_equals_docs(client: httpx.Client) -> None:
    docs = (REPO / "docs" / "registry-openapi.yaml").read_bytes()
    packaged = (REPO / "verifier" / "registry" / "server" / "openapi.yaml").read_bytes()
    assert packaged == docs
    resp = client.get("/v1/openapi.yaml")
    assert resp.status_code == 200 and resp.content == docs
    text = docs.decode()
    assert text.startswith("openapi: 3.1.")
    for path in (
        "/v1/time", "/v1/ping", "/v1/persons/{enp}", "/v1/persons", "/v1/persons/search",
        "/v1/snapshots", "/v1/snapshots/{name}", "/v1/trust-list", "/v1/trust-list.sig",
        "/v1/openapi.yaml",
    ):  # fmt: skip
        assert f"\n  {path}:\n" in text, path
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return  # pyyaml is optional; the structural checks above still ran
    doc = yaml.safe_load(text)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {"/v1/persons/{enp}", "/v1/persons/search", "/v1/snapshots"}


# --- auth and bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_auth_required(server: ThreadedServer, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, headers=headers) as c:
        for path in ("/v1/ping", "/v1/persons/5000000000000000", "/v1/snapshots", "/v1/nowhere"):
            resp = c.get(path)
            assert_problem(resp, 401, "unauthorized")
            assert resp.headers["www-authenticate"].startswith("Bearer")
        assert_problem(c.post("/v1/persons/search", json={}), 401, "unauthorized")


def test_every_configured_token_works(server: ThreadedServer) -> None:
    for token in (TOKEN, OTHER_TOKEN):
        resp = httpx.get(f"{server.url}/v1/ping", headers={"Authorization": f"bearer {token}"})
        assert resp.status_code == 200


BAD_REQUESTS: list[tuple[str, str, dict[str, object], int, str]] = [
    ("GET", "/v1/persons/123", {}, 400, "bad_enp"),
    ("GET", "/v1/persons/50470008260021011", {}, 400, "bad_enp"),
    ("GET", "/v1/persons/504700082600210x", {}, 400, "bad_enp"),
    ("GET", "/v1/persons/search", {}, 400, "bad_enp"),
    ("GET", "/v1/persons", {}, 400, "bad_query"),
    ("GET", "/v1/persons", {"params": {"temp_cert": "1", "old_number": "50А1"}}, 400, "bad_query"),
    ("GET", "/v1/persons", {"params": {"temp_cert": "12ab"}}, 400, "bad_query"),
    ("GET", "/v1/persons", {"params": {"temp_cert": ""}}, 400, "bad_query"),
    ("GET", "/v1/persons", {"params": {"old_number": "<script>"}}, 400, "bad_query"),
    ("GET", "/v1/persons", {"params": {"old_number": "x" * 100}}, 400, "bad_query"),
    ("GET", "/v1/persons", {"params": {"enp": "5047000826002101"}}, 400, "bad_query"),
    ("POST", "/v1/persons/search", {"content": b"not json"}, 422, "bad_request"),
    ("POST", "/v1/persons/search", {"content": b"\xff\xfe"}, 422, "bad_request"),
    ("POST", "/v1/persons/search", {"json": []}, 422, "bad_request"),
    ("POST", "/v1/persons/search", {"json": {"surname": "Иванов"}}, 422, "bad_request"),
    (
        "POST",
        "/v1/persons/search",
        {"json": {"surname": "И", "given_name": "И", "birth_date": "1980-13-01"}},
        422,
        "bad_request",
    ),
    (
        "POST",
        "/v1/persons/search",
        {"json": {"surname": "И", "given_name": "И", "birth_date": "01.01.1980"}},
        422,
        "bad_request",
    ),
    (
        "POST",
        "/v1/persons/search",
        {"json": {"surname": 5, "given_name": "И", "birth_date": "1980-01-01"}},
        422,
        "bad_request",
    ),
    (
        "POST",
        "/v1/persons/search",
        {"json": {"surname": "!!!", "given_name": "И", "birth_date": "1980-01-01"}},
        422,
        "bad_request",
    ),
    (
        "POST",
        "/v1/persons/search",
        {"json": {"surname": "И", "given_name": "И", "patronymic": 1, "birth_date": "1980-01-01"}},
        422,
        "bad_request",
    ),
    ("POST", "/v1/persons/search", {"content": b" " * (16 * 1024 + 1)}, 413, "too_large"),
    ("GET", "/v1/snapshots/registry-snapshot.key.pem", {}, 404, "not_found"),
    ("GET", "/v1/snapshots/persons.csv", {}, 404, "not_found"),
    ("GET", "/v1/snapshots/full-1.omssnap", {}, 404, "not_found"),
    ("GET", "/v1/snapshots/full-000009.omssnap", {}, 404, "not_found"),
    ("GET", "/v1/snapshots/..%2Fregistry-snapshot.key.pem", {}, 404, "not_found"),
    ("GET", "/v1/snapshots/%2e%2e%2f%2e%2e%2fetc%2fpasswd", {}, 404, "not_found"),
    ("GET", "/v1/nowhere", {}, 404, "not_found"),
    ("DELETE", "/v1/ping", {}, 405, "method_not_allowed"),
    ("PUT", "/v1/persons/5047000826002101", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), BAD_REQUESTS)
def test_bad_input_is_a_4xx_problem(
    client: httpx.Client,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
    code: str,
) -> None:
    resp = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert_problem(resp, status, code)


def test_streamed_body_over_the_cap(client: httpx.Client) -> None:
    def chunks() -> object:
        for _ in range(40):
            yield b"{" * 1024

    resp = client.post("/v1/persons/search", content=chunks())  # type: ignore[arg-type]
    assert_problem(resp, 413, "too_large")


def test_random_paths_never_5xx(client: httpx.Client) -> None:
    rng = random.Random(5)
    alphabet = "0123456789abcXYZ-_.~%ЁёЖ "
    for _ in range(150):
        seg = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        for path in (f"/v1/persons/{seg}", f"/v1/snapshots/{seg}", f"/v1/{seg}"):
            resp = client.get(path)
            assert resp.status_code < 500, (path, resp.status_code)
        resp = client.get("/v1/persons", params={"old_number": seg})
        assert resp.status_code in (200, 400, 404)


def test_refuses_to_start_without_tokens(register: Register) -> None:
    with pytest.raises(ServerSetupError) as err:
        create_app(ServerConfig(data_dir=register.data_dir))
    assert err.value.code == "no_auth"


def test_refuses_a_data_dir_without_key(tmp_path: Path) -> None:
    with pytest.raises(ServerSetupError):
        create_app(ServerConfig(data_dir=tmp_path, insecure_no_auth=True))


def test_refuses_tampered_snapshots(register: Register, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(register.data_dir, bad)
    f = bad / "delta-000003.omssnap"
    data = bytearray(f.read_bytes())
    data[200] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(ServerSetupError):
        create_app(ServerConfig(data_dir=bad, insecure_no_auth=True, state_dir=tmp_path / "s"))
    assert not list((tmp_path / "s").iterdir()), "the half-built store is removed"


def test_store_lookups_directly(server: ThreadedServer, register: Register) -> None:
    """The store behind the app answers aliases the same way (used by the PostgreSQL parity)."""
    app = server.server.config.app
    store = app.state.registry.store  # type: ignore[union-attr]
    row = next(r for r in register.live if r["temp_cert_number"])
    rec = store.by_alias(AliasKind.TEMP_CERT, row["temp_cert_number"])
    assert rec is not None and rec.enp == row["enp"]
    assert store.search("НИКТО", "НИКТО", None, date(1900, 1, 1), 5) == []
