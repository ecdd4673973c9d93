"""Host allowlist, Origin and Sec-Fetch-Site on the live daemon (finding 7 of issue 10), the
kiosk's view of scans (finding 14), and bounded JSON on every JSON route (finding 8).

The browser side of the same findings (a real page from another origin, DNS rebinding) is in
tests/browser/test_cross_origin.py; here each header is set by hand over real HTTP.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.http.conftest import ADMIN_TOKEN, HALL_DEVICE, KIOSK_TOKEN, MIS_TOKEN, Server
from tests.http.helpers import assert_problem
from verifier.credential import CredentialInput
from verifier.devkit import demo

ENP = "5012345678901234"
MATCH = {"enp": ENP, "surname": "Иванов", "given_name": "Иван", "birth_date": "1985-03-15"}
READS = ["/v1/policies/" + ENP, "/v1/scans", "/v1/status", "/metrics", "/healthz", "/desk"]


def port(server: Server) -> int:
    p = urlsplit(server.url).port
    assert p is not None and p > 0  # the server bound a real port
    return p


def published(server: Server) -> int:
    service = server.live.daemon.service
    assert service is not None and service.ready  # the daemon under test is up
    return service.bus.published


@pytest.mark.parametrize(
    "host",
    ["rebind.test", "rebind.test:{port}", "localhost.", "127.0.0.1.nip.io:{port}", "", "a:b:c"],
)
@pytest.mark.parametrize("path", READS)
def test_foreign_host_is_421(api: Server, host: str, path: str) -> None:
    """DNS rebinding: the page's own name resolves to 127.0.0.1; the Host header keeps it."""
    with api.client(headers={"Host": host.format(port=port(api))}) as c:
        r = c.get(path, params={"mode": "offline"} if "policies" in path else None)
    assert_problem(r, 421, "bad_host")


def test_foreign_host_cannot_match_or_publish(api: Server) -> None:
    before = published(api)
    with api.client(headers={"Host": f"rebind.test:{port(api)}"}) as c:
        assert_problem(c.post("/v1/match", json=MATCH), 421, "bad_host")
        r = c.post("/v1/verify", params={"publish": "true"}, content=ENP)
        assert_problem(r, 421, "bad_host")
    assert published(api) == before


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:{port}", "[::1]:{port}"])
def test_loopback_hosts_with_or_without_port(api: Server, host: str) -> None:
    with api.client(headers={"Host": host.format(port=port(api))}) as c:
        assert c.get("/v1/status").status_code == 200
        assert c.get("/healthz").status_code == 200


def test_configured_host_name(limited: Server) -> None:
    with limited.client(headers={"Host": "desk-3.clinic"}) as c:
        assert c.get("/healthz").status_code == 200
    with limited.client(headers={"Host": "desk-4.clinic"}) as c:
        assert_problem(c.get("/healthz"), 421, "bad_host")


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.2:{other}",
        "http://localhost:{other}",
        "http://127.0.0.1:{other}",
        "http://127.0.0.1",
        "https://127.0.0.1:{port}",
        "http://rebind.test:{port}",
        "null",
        "http://127.0.0.1:{port}/x",
    ],
)
def test_unsafe_request_from_foreign_origin_is_403(api: Server, origin: str) -> None:
    """A page elsewhere (even on loopback, on another port) cannot publish to the screens,
    verify, match or start a refresh — with or without a token."""
    origin = origin.format(port=port(api), other=port(api) + 1)
    before = published(api)
    for token in (None, MIS_TOKEN, ADMIN_TOKEN):
        with api.client(token, headers={"Origin": origin}) as c:
            r = c.post(
                "/v1/verify",
                params={"publish": "true"},
                content=ENP,
                headers={"content-type": "text/plain"},
            )
            assert_problem(r, 403, "forbidden_origin")
            assert_problem(c.post("/v1/match", json=MATCH), 403, "forbidden_origin")
            assert_problem(c.post("/v1/snapshot/refresh"), 403, "forbidden_origin")
    assert published(api) == before


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_own_origin_may_publish(api: Server, origin: str) -> None:
    """The desk page's own typed entry: same origin, token-less on loopback."""
    before = published(api)
    with api.client(
        headers={"Origin": origin.format(port=port(api)), "Sec-Fetch-Site": "same-origin"}
    ) as c:
        r = c.post("/v1/verify", params={"publish": "true"}, json={"text": ENP, "typed": True})
    assert r.status_code == 200, r.text
    assert published(api) == before + 1


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_from_elsewhere_is_403(api: Server, site: str) -> None:
    """No Origin header at all (some no-cors requests) but the browser says where it came
    from: unsafe methods and API reads are refused; pages still open from a link."""
    before = published(api)
    with api.client(headers={"Sec-Fetch-Site": site}) as c:
        r = c.post("/v1/verify", params={"publish": "true"}, content=ENP)
        assert_problem(r, 403, "forbidden_origin")
        assert_problem(c.post("/v1/snapshot/refresh"), 403, "forbidden_origin")
        assert_problem(c.get("/v1/scans"), 403, "forbidden_origin")
        r = c.get(f"/v1/policies/{ENP}", params={"mode": "offline"})
        assert_problem(r, 403, "forbidden_origin")
        assert c.get("/desk").status_code == 200
    assert published(api) == before


def test_configured_origin_may_post(limited: Server) -> None:
    headers = {"Origin": "https://verifier.clinic.local", "Sec-Fetch-Site": "cross-site"}
    with limited.client(MIS_TOKEN, headers=headers) as c:
        r = c.post("/v1/verify", json={"text": ENP, "typed": True})
    assert r.status_code == 200, r.text


def test_match_takes_json_only(api: Server) -> None:
    """text/plain is a CORS "simple" type: a page elsewhere could send it without preflight."""
    with api.client(MIS_TOKEN) as c:
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            r = c.post("/v1/match", content=json.dumps(MATCH), headers={"content-type": ctype})
            assert_problem(r, 415, "unsupported_media_type")
        r = c.post("/v1/match", content=json.dumps(MATCH))  # no content type at all
        assert_problem(r, 415, "unsupported_media_type")
        r = c.post("/v1/match", json=MATCH)
        assert r.status_code == 200, r.text


def test_refresh_needs_a_token_even_on_loopback(api: Server) -> None:
    with api.client() as c:
        r = c.post("/v1/snapshot/refresh")
    assert_problem(r, 401, "unauthorized")
    with api.client(ADMIN_TOKEN) as c:
        assert c.post("/v1/snapshot/refresh").status_code == 202


# --- bounded JSON (finding 8, HTTP part) -----------------------------------------------------

DEEP = b"[" * 8000 + b"]" * 8000  # 16 000 bytes: under the route caps of the real config


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/verify", DEEP),
        ("/v1/match", DEEP),
        ("/v1/verify", b'{"text": ' + b"[" * 7000 + b"]" * 7000 + b"}"),
        ("/v1/match", b'{"enp": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ],
)
def test_deep_json_is_400_not_500(limited: Server, path: str, body: bytes) -> None:
    with limited.client(MIS_TOKEN) as c:
        r = c.post(path, content=body, headers={"content-type": "application/json"})
        assert_problem(r, 400, "json_too_deep")
        assert c.get("/healthz").status_code == 200


# --- what a hall screen sees (finding 14) -----------------------------------------------------


def _numbers(state: demo.DemoState) -> tuple[str, str]:
    """A temporary-certificate number and an old-policy series+number from the register."""
    import csv

    with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["deleted"]]
    temp = next(r["temp_cert_number"] for r in rows if r["temp_cert_number"])
    old = next(r["old_number"] for r in rows if r["old_number"])
    return temp, old


def test_kiosk_sees_no_temporary_or_old_numbers(locked: Server, demo_state: demo.DemoState) -> None:
    temp, old = _numbers(demo_state)
    with locked.client(MIS_TOKEN) as mis:
        for text in (temp, old):
            r = mis.post("/v1/verify", json={"text": text, "typed": True})
            assert r.status_code == 200, r.text
            cred = r.json()["credential"]
            assert cred.get("temp_cert_number") == text or cred.get("old_number") in text
    for text in (temp, old):  # read by the hall's scanner (a keyboard-wedge line)
        locked.device_read(CredentialInput.from_text(text), HALL_DEVICE)
    with locked.client(KIOSK_TOKEN) as kiosk:
        scans = kiosk.get("/v1/scans", params={"limit": 2})
        assert scans.status_code == 200
        with kiosk.stream("GET", "/v1/events") as stream:
            assert stream.status_code == 200
            locked.device_read(CredentialInput.from_text(temp), HALL_DEVICE)
            sse = ""
            for line in stream.iter_lines():
                sse += line + "\n"
                if line.startswith("data:"):
                    break
    creds = [e["verdict"]["credential"] for e in scans.json()["scans"]]
    assert {c["kind"] for c in creds} == {"temporary_certificate", "old_policy"}
    old_number = old[-7:]
    for text in (scans.text, sse):
        assert temp not in text and old_number not in text and temp[:-2] not in text
    temp_cred = next(c for c in creds if c["kind"] == "temporary_certificate")
    assert temp_cred["temp_cert_number"] == "*" * 7 + temp[-2:]
    # Screen events are masked for every role now (Credential.to_dict(masked=True) stars the
    # numbers too); the desk's unmasked view comes with its own role (issue 12).
    with locked.client(MIS_TOKEN) as mis:
        assert temp not in mis.get("/v1/scans", params={"limit": 3, "screen": "kiosk"}).text


def test_event_masking_keeps_dates_and_insurer(locked: Server) -> None:
    """The kiosk's scrub of digit runs leaves timestamps, ОГРН and ОКАТО readable."""
    locked.device_read(CredentialInput.from_text(ENP), HALL_DEVICE)
    with locked.client(KIOSK_TOKEN) as kiosk:
        event = kiosk.get("/v1/scans", params={"limit": 1}).json()["scans"][0]
    with locked.client(MIS_TOKEN) as mis:  # the same hall screen, masked but not scrubbed
        full = mis.get("/v1/scans", params={"limit": 1, "screen": "kiosk"}).json()["scans"][0]
    assert event["at"] == full["at"] and event["id"] == full["id"]
    assert event["verdict"]["checked_at"] == full["verdict"]["checked_at"]


def test_gate_answers_problem_json_for_every_method(api: Server) -> None:
    with httpx.Client(base_url=api.url, headers={"Host": "evil.example"}, timeout=5) as c:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            assert_problem(c.request(method, "/v1/status"), 421, "bad_host")


def test_host_parsing_is_remembered_within_bounds() -> None:
    """The Host memo answers as the parser does, and never grows past its bound."""
    from verifier.http import gate

    values = [
        "127.0.0.1:8471",
        "LOCALHOST",
        "[::1]:80",
        "desk-3.clinic",
        "a:b",
        "",
        "[::1",
        "x:99999",
    ]
    for v in values * 3:
        assert gate._split_host(v) == gate._parse_host(v), v
    for i in range(500):
        gate._split_host(f"h{i}.example:80")
    assert len(gate._hosts) <= gate._HOSTS_MAX
