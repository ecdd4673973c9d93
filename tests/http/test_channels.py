"""Desk and kiosk as separate channels (issue 12, item 1): a desk token sees its channel in full,
everyone else masked; a hall screen gets only its own devices' reads; a typed desk check never
reaches a kiosk. Real daemons on loopback; device reads go through Service.on_credential, the
code every driver calls."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.conftest import (
    ADMIN_TOKEN,
    DESK_DEVICE,
    DESK_TOKEN,
    HALL2_DEVICE,
    HALL_DEVICE,
    KIOSK_TOKEN,
    MIS_TOKEN,
    Server,
)
from tests.http.helpers import ENP_RUN, assert_problem, conforms
from verifier import config as config_mod
from verifier.credential import CredentialInput
from verifier.devkit import demo

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
JSON = {"Content-Type": "application/json"}


def _stream_events(lines: Iterator[str], n: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``n`` SSE messages as (event name, data)."""
    out: list[tuple[str, dict[str, Any]]] = []
    event: dict[str, str] = {}
    for line in lines:
        if line == "" and "data" in event:
            out.append((event.get("event", "message"), json.loads(event["data"])))
            event = {}
            if len(out) == n:
                return out
            continue
        if line.startswith(":") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        event[key] = value.lstrip(" ")
    raise AssertionError("stream ended")


def _paper(state: demo.DemoState) -> CredentialInput:
    return next(
        i for label, _, i in demo.demo_samples(state) if label.startswith("paper policy, s")
    )


def test_desk_token_sees_the_desk_channel_in_full(
    locked: Server, demo_state: demo.DemoState
) -> None:
    item = _paper(demo_state)
    with locked.client(MIS_TOKEN) as mis:
        full = mis.post("/v1/verify", json={"hex": item.payload.hex()}).json()
    enp, surname = full["credential"]["enp"], full["credential"]["surname"]
    locked.device_read(item, DESK_DEVICE)  # the desk's own scanner (on no kiosk)
    with locked.client(DESK_TOKEN) as desk:
        event = desk.get("/v1/scans", params={"limit": 1}).json()["scans"][0]
    conforms("ScanEvent", event)
    assert (event["channel"], event["screen"], event["masked"]) == ("desk", None, False)
    cred = event["verdict"]["credential"]
    assert (cred["enp"], cred["surname"]) == (enp, surname)
    assert cred["birth_date"] == full["credential"]["birth_date"]
    for token in (MIS_TOKEN, ADMIN_TOKEN):  # every other role: masked
        with locked.client(token) as other:
            seen = other.get("/v1/scans", params={"limit": 1}).json()["scans"][0]
        assert seen["id"] == event["id"] and seen["masked"] is True
        assert enp not in json.dumps(seen) and surname not in json.dumps(seen, ensure_ascii=False)


def test_token_less_loopback_caller_never_sees_the_desk_unmasked(
    api: Server, demo_state: demo.DemoState
) -> None:
    api.device_read(_paper(demo_state), DESK_DEVICE)
    with api.client() as c:  # the loopback role: admin, but no token
        event = c.get("/v1/scans", params={"limit": 1}).json()["scans"][0]
        assert event["masked"] is True and not ENP_RUN.search(json.dumps(event))
        with c.stream("GET", "/v1/events") as stream:
            ((name, hello),) = _stream_events(stream.iter_lines(), 1)
    assert name == "hello" and hello["masked"] is True and hello["role"] == "admin"


def test_loopback_role_cannot_be_desk(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[http]\nloopback_role = "desk"\n')
    with pytest.raises(config_mod.ConfigError) as exc:
        config_mod.load(conf, tmp_path)
    assert "desk" in exc.value.message


def test_typed_desk_check_never_reaches_a_kiosk(locked: Server, demo_state: demo.DemoState) -> None:
    """The kiosk's stream gets the hall scanner's read, not the desk's typed check published
    just before it; its history holds no desk event either."""
    typed = next(
        i for label, _, i in demo.demo_samples(demo_state) if label == "not in the snapshot"
    )
    hall = _paper(demo_state)
    with locked.client(KIOSK_TOKEN) as kiosk, kiosk.stream("GET", "/v1/events") as stream:
        lines = stream.iter_lines()
        ((name, hello),) = _stream_events(lines, 1)
        assert (name, hello["channel"], hello["screen"]) == ("hello", "kiosk", "kiosk")
        assert hello["kiosk_reset_s"] == 20.0
        with locked.client(DESK_TOKEN) as desk:
            r = desk.post(
                "/v1/verify",
                params={"publish": "true"},
                json={"text": typed.payload.decode(), "typed": True},
            )
            assert r.status_code == 200
        locked.device_read(hall, HALL2_DEVICE)  # another hall's reader: not this screen
        locked.device_read(hall, HALL_DEVICE)
        ((name, data),) = _stream_events(lines, 1)
    assert name == "scan" and data["source"] == HALL_DEVICE
    assert (data["channel"], data["screen"], data["masked"]) == ("kiosk", "kiosk", True)
    with locked.client(KIOSK_TOKEN) as kiosk:
        scans = kiosk.get("/v1/scans", params={"limit": 200}).json()["scans"]
        other = kiosk.get("/v1/scans", params={"limit": 200, "screen": "hall-2"}).json()["scans"]
    assert scans and all(e["source"] == HALL_DEVICE for e in scans)
    assert other and all(e["source"] == HALL2_DEVICE for e in other)
    with locked.client(DESK_TOKEN) as desk:  # and the hall's reads are not the desk's
        desk_scans = desk.get("/v1/scans", params={"limit": 200}).json()["scans"]
    assert desk_scans and all(e["channel"] == "desk" for e in desk_scans)
    assert all(e["source"] not in (HALL_DEVICE, HALL2_DEVICE) for e in desk_scans)


def test_screen_parameter_is_checked(locked: Server) -> None:
    with locked.client(KIOSK_TOKEN) as kiosk:
        r = kiosk.get("/v1/scans", params={"screen": "../desk"})
    body = assert_problem(r, 400, "bad_parameter")
    assert CYRILLIC.search(body["detail"])


def test_typed_entry_that_is_no_credential_is_a_specific_422(locked: Server) -> None:
    """The desk form publishes; a typed СНИЛС or a short number is the 422 with its own code
    and a Russian detail, nothing is published (the form keeps the entry)."""
    service = locked.live.daemon.service
    assert service is not None and service.ready  # the daemon under test is up
    before = service.bus.published
    with locked.client(DESK_TOKEN) as desk:
        cases = {"112-233-445 95": "snils_not_policy", "5047 0008 2900": "bad_length"}
        for text, code in cases.items():
            r = desk.post(
                "/v1/verify", params={"publish": "true"}, json={"text": text, "typed": True}
            )
            body = assert_problem(r, 422, code)
            assert CYRILLIC.search(body["detail"]), body
        assert "введено цифр: 12" in body["detail"]
    assert service.bus.published == before
    locked.device_read(CredentialInput(b"\xff\xfe noise"), DESK_DEVICE)  # a scan still shows
    assert service.bus.published == before + 1
    assert service.bus.recent(1)[0].verdict.reasons[0].value == "unrecognized"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/v1/policies/123", {}, 400, "bad_enp"),
        ("GET", "/v1/policies/5047000829003056", {"params": {"mode": "x"}}, 400, "bad_mode"),
        ("GET", "/v1/status", {"params": {"nope": "1"}}, 400, "bad_parameter"),
        (
            "POST",
            "/v1/verify",
            {"content": b"{", "headers": {"Content-Type": "application/json"}},
            400,
            "bad_json",
        ),
        ("POST", "/v1/verify", {"json": {"text": ""}}, 422, "empty"),
        ("POST", "/v1/verify", {"json": {"text": "x", "y": 1}}, 422, "bad_request"),
        ("GET", "/nope", {}, 404, "not_found"),
        ("POST", "/v1/status", {}, 405, "method_not_allowed"),
    ],
)
def test_problem_details_are_russian(
    api: Server, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    with api.client(MIS_TOKEN) as c:
        body = assert_problem(c.request(method, path, **kwargs), status, code)
    assert CYRILLIC.search(body["detail"]), body


def test_unauthorized_and_forbidden_are_russian(locked: Server) -> None:
    with httpx.Client(base_url=locked.url, timeout=5) as c:
        assert CYRILLIC.search(assert_problem(c.get("/v1/status"), 401, "unauthorized")["detail"])
    with locked.client(KIOSK_TOKEN) as k:
        r = k.get("/v1/policies/5047000829003056")
        assert CYRILLIC.search(assert_problem(r, 403, "forbidden")["detail"])
