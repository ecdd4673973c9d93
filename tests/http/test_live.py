"""The screens' live feed, /v1/match against the demo register, /metrics without personal data."""

from __future__ import annotations

import csv
import json
import re
import time

import httpx

from tests.http.conftest import ADMIN_TOKEN, MIS_TOKEN, Server
from tests.http.helpers import ENP_RUN, conforms
from verifier.devkit import demo


def _read_event(lines: object, deadline: float) -> dict[str, object]:
    event: dict[str, str] = {}
    for line in lines:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "no event within a second"
        if line == "" and "data" in event:
            return {
                "id": event.get("id"),
                "event": event.get("event"),
                "data": json.loads(event["data"]),
            }
        if line.startswith(":") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        event[key] = value.lstrip(" ")
    raise AssertionError("stream ended")


def test_sse_receives_published_verdict_masked(locked: Server, demo_state: demo.DemoState) -> None:
    """The desk channel for a caller without the desk role: masked (the hello says so)."""
    _, _, item = demo.demo_samples(demo_state)[0]
    with (
        locked.client(ADMIN_TOKEN) as screen,
        locked.client(MIS_TOKEN) as mis,
        screen.stream("GET", "/v1/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        assert next(lines) == ": connected"  # subscribed before the handler answered
        hello = _read_event(lines, time.monotonic() + 5)
        assert hello["event"] == "hello"
        assert hello["data"] == {
            "channel": "desk",
            "screen": None,
            "masked": True,
            "role": "admin",
            "kiosk_reset_s": 20.0,
        }
        t0 = time.monotonic()
        r = mis.post("/v1/verify", params={"publish": "true"}, json={"hex": item.payload.hex()})
        assert r.status_code == 200
        full = r.json()
        event = _read_event(lines, t0 + 1.0)
        assert time.monotonic() - t0 < 1.0
    assert event["event"] == "scan"
    data = event["data"]
    assert isinstance(data, dict)
    conforms("ScanEvent", data)
    assert str(data["id"]) == event["id"]
    assert data["source"] == "api:mis-main"
    assert data["verdict"]["outcome"] == full["outcome"] == "valid"
    enp = full["credential"]["enp"]
    raw = json.dumps(data, ensure_ascii=False)
    assert enp not in raw and not ENP_RUN.search(raw)
    assert full["credential"]["surname"] not in raw
    assert data["verdict"]["credential"]["enp"].endswith(enp[-4:])


def _person(state: demo.DemoState) -> dict[str, str]:
    with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        return next(r for r in csv.DictReader(f) if not r["deleted"] and r["patronymic"])


def test_match_true_false_null(api: Server, demo_state: demo.DemoState) -> None:
    p = _person(demo_state)
    body = {
        "enp": p["enp"],
        "surname": p["surname"],
        "given_name": p["given_name"],
        "patronymic": p["patronymic"],
        "birth_date": p["birth_date"],
    }
    with api.client(MIS_TOKEN) as c:

        def match(**change: object) -> object:
            r = c.post("/v1/match", json={**body, **change})
            assert r.status_code == 200, r.text
            conforms("MatchResult", r.json())
            return r.json()["match"]

        assert match() is True
        assert match(surname=p["surname"].lower(), given_name=f"  {p['given_name'].upper()} ")
        assert match(surname=p["surname"] + "а") is False
        assert match(patronymic=None) is False
        assert match(birth_date="1900-01-01") is False
        samples = demo.demo_samples(demo_state)
        stranger = next(i for label, _, i in samples if label == "not in the snapshot")
        assert match(enp=stranger.payload.decode()) is None


def test_metrics_have_no_personal_data(api: Server, demo_state: demo.DemoState) -> None:
    samples = demo.demo_samples(demo_state)
    secrets: set[str] = set()
    with api.client(MIS_TOKEN) as c:
        for _, _, item in samples:
            r = c.post(
                "/v1/verify",
                params={"publish": "true", "mode": "offline"},
                json={"hex": item.payload.hex()}
                if not item.manual
                else {"text": item.payload.decode(), "typed": True},
            )
            cred = r.json()["credential"] or {}
            secrets |= {
                str(v)
                for k, v in cred.items()
                if k
                in ("enp", "surname", "given_name", "patronymic", "birth_date", "temp_cert_number")
                and v
            }
    assert len(secrets) > 10
    with api.client(ADMIN_TOKEN) as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "oms_verifications_total" in text and "oms_snapshot_fresh" in text
    for s in secrets:
        assert s not in text, s
    assert not re.search(r"[А-Яа-яЁё]", text)
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name_and_labels = line.rsplit(" ", 1)[0]
        assert not re.search(r"[0-9]{6,}", name_and_labels), line
        value = line.rsplit(" ", 1)[1]
        float(value)  # every sample is a number


def test_events_route_needs_read_right(locked: Server) -> None:
    with httpx.Client(base_url=locked.url, timeout=5) as c:
        assert c.get("/v1/events").status_code == 401
