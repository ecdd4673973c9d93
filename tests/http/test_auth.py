"""Tokens and roles: 401 without/with a wrong token, 403 for a role that may not, masking."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import ADMIN_TOKEN, HALL_DEVICE, KIOSK_TOKEN, MIS_TOKEN, Server
from tests.http.helpers import ENP_RUN, assert_problem, conforms
from verifier.devkit import demo

ENP = "5012345678901234"
MATCH = {"enp": ENP, "surname": "Иванов", "given_name": "Иван", "birth_date": "1985-03-15"}

# (method, path, request kwargs, least role that may call it)
ROUTES: list[tuple[str, str, dict[str, object], str]] = [
    ("GET", f"/v1/policies/{ENP}", {"params": {"mode": "offline"}}, "mis"),
    ("POST", "/v1/verify", {"json": {"text": ENP, "typed": True}}, "mis"),
    ("POST", "/v1/match", {"json": MATCH}, "mis"),
    ("GET", "/v1/scans", {}, "kiosk"),
    ("GET", "/v1/status", {}, "kiosk"),
    ("POST", "/v1/snapshot/refresh", {}, "admin"),
    ("GET", "/metrics", {}, "admin"),
]
RANK = {"kiosk": 0, "mis": 1, "admin": 2}
TOKENS = {"kiosk": KIOSK_TOKEN, "mis": MIS_TOKEN, "admin": ADMIN_TOKEN}
OK = {200, 202}


def call(c: httpx.Client, method: str, path: str, kw: dict[str, object]) -> httpx.Response:
    return c.request(method, path, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path", "kw", "least"), ROUTES)
def test_no_token_off_loopback_is_401(
    locked: Server, method: str, path: str, kw: dict[str, object], least: str
) -> None:
    with locked.client() as c:
        r = call(c, method, path, kw)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(("method", "path", "kw", "least"), ROUTES)
@pytest.mark.parametrize("role", ["kiosk", "mis", "admin"])
def test_roles(
    locked: Server, method: str, path: str, kw: dict[str, object], least: str, role: str
) -> None:
    with locked.client(TOKENS[role]) as c:
        r = call(c, method, path, kw)
    if RANK[role] >= RANK[least]:
        assert r.status_code in OK, (role, path, r.text)
    else:
        assert_problem(r, 403, "forbidden")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Bearer {MIS_TOKEN}x"},
        {"Authorization": f"Basic {MIS_TOKEN}"},
        {"Authorization": "Bearer"},
    ],
)
@pytest.mark.parametrize("which", ["api", "locked"])
def test_wrong_token_is_401_even_on_loopback(
    request: pytest.FixtureRequest, which: str, headers: dict[str, str]
) -> None:
    server: Server = request.getfixturevalue(which)
    with server.client(headers=headers) as c:
        assert_problem(c.get("/v1/status"), 401, "unauthorized")
        assert_problem(c.get(f"/v1/policies/{ENP}"), 401, "unauthorized")


def test_access_token_query_parameter(locked: Server) -> None:
    """EventSource cannot set headers: the event stream takes ?access_token=, nothing else does."""
    with locked.client() as c:
        with c.stream("GET", "/v1/events", params={"access_token": KIOSK_TOKEN}) as r:
            assert r.status_code == 200
        assert_problem(c.get("/v1/events", params={"access_token": "nope"}), 401)
        assert_problem(c.get("/v1/events"), 401, "unauthorized")
        # Elsewhere a token in the URL is refused outright (an unknown query parameter).
        assert_problem(
            c.get("/v1/status", params={"access_token": KIOSK_TOKEN}), 400, "bad_parameter"
        )


def test_loopback_role_default_is_admin(api: Server) -> None:
    """Token-less loopback is admin for everything except snapshot refresh (finding 7 of
    issue 10: a page in the clerk's browser must never start a refresh)."""
    with api.client() as c:
        for method, path, kw, _ in ROUTES:
            r = call(c, method, path, kw)
            if path == "/v1/snapshot/refresh":
                assert_problem(r, 401, "unauthorized")
            else:
                assert r.status_code in OK, path
    with api.client(ADMIN_TOKEN) as c:
        assert c.post("/v1/snapshot/refresh").status_code == 202


def test_kiosk_sees_masked_scans(locked: Server, demo_state: demo.DemoState) -> None:
    """A read of the hall's own scanner reaches the kiosk token, masked."""
    _, _, item = demo.demo_samples(demo_state)[0]  # signed paper policy: names, birth date
    with locked.client(MIS_TOKEN) as mis:
        full = mis.post("/v1/verify", json={"hex": item.payload.hex()}).json()
    enp = full["credential"]["enp"]
    surname = full["credential"]["surname"]
    assert ENP_RUN.fullmatch(enp) and surname and "*" not in surname
    locked.device_read(item, HALL_DEVICE)
    with locked.client(KIOSK_TOKEN) as kiosk:
        r = kiosk.get("/v1/scans", params={"limit": 5})
    assert r.status_code == 200
    event = r.json()["scans"][0]
    conforms("ScanEvent", event)
    assert event["source"] == HALL_DEVICE
    assert (event["channel"], event["screen"], event["masked"]) == ("kiosk", "kiosk", True)
    cred = event["verdict"]["credential"]
    assert cred["enp"] == enp[:2] + "*" * 10 + enp[-4:]
    assert cred["surname"] == surname[0] + "*" * (len(surname) - 1)
    assert cred["birth_date"] is None
    assert "checks" not in event["verdict"]
    assert (
        enp not in r.text
        and surname not in r.text
        and full["credential"]["birth_date"] not in r.text
    )
