"""Every route answers over real HTTP, as the OpenAPI document says."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.http.conftest import ADMIN_TOKEN, TOKENS_TOML, Server, auth
from tests.http.helpers import DOCS_COPY, OPENAPI, assert_problem, conforms, spec


def test_openapi_document_is_served_and_copied(api: Server) -> None:
    with api.client() as c:
        r = c.get("/v1/openapi.yaml")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/yaml")
    assert r.content == OPENAPI.read_bytes()
    assert DOCS_COPY.read_bytes() == OPENAPI.read_bytes(), "docs/api-openapi.yaml is stale"
    doc = yaml.safe_load(r.content)
    assert doc["openapi"].startswith("3.1")


def test_document_lists_exactly_the_served_routes(api: Server) -> None:
    """Every path of the app is in the document and vice versa (no undocumented routes)."""
    from starlette.routing import Mount, Route

    from verifier.http.app import create_app

    assert api.live.daemon.service is not None
    app = create_app(api.live.daemon.service)
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount):
            served.add((route.path + "/{file}", "get"))
        elif isinstance(route, Route):
            for m in route.methods or ():
                if m != "HEAD":
                    served.add((route.path, m.lower()))
    documented = {(p, m) for p, ops in spec()["paths"].items() for m in ops}
    assert served == documented


def test_health_and_ready(api: Server) -> None:
    with api.client() as c:
        assert c.get("/healthz").json() == {"ok": True}
        r = c.get("/readyz")
    assert r.status_code == 200 and r.json() == {"ready": True}


def test_health_needs_no_token(locked: Server) -> None:
    with locked.client() as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        assert c.get("/v1/openapi.yaml").status_code == 200
        assert c.get("/desk").status_code == 200


def test_pages_and_static(api: Server) -> None:
    with api.client() as c:
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/desk"
        for page in ("/desk", "/kiosk"):
            r = c.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert "<html" in r.text.lower()
        assert c.get("/static/app.js").status_code == 200
        assert c.get("/static/style.css").status_code == 200
        assert_problem(c.get("/static/nope.js"), 404, "not_found")


def test_status(api: Server) -> None:
    with api.client() as c:
        r = c.get("/v1/status")
    assert r.status_code == 200
    body = r.json()
    conforms("Status", body)
    assert body["ready"] is True
    assert body["snapshot"]["state"] == "fresh" and body["snapshot"]["region"] == "50"
    assert body["registry"]["configured"] is True


def test_refresh(api: Server) -> None:
    with api.client(ADMIN_TOKEN) as c:
        r = c.post("/v1/snapshot/refresh")
    assert r.status_code == 202 and r.json() == {"requested": True}


def test_scans_limit(api: Server) -> None:
    with api.client() as c:
        # The session's server: earlier tests may have published scans of their own.
        seen = {e["id"] for e in c.get("/v1/scans", params={"limit": 200}).json()["scans"]}
        for text in ("5012345678901234", "https://www.gosuslugi.ru/oms?enp=5012345678901234"):
            c.post("/v1/verify?publish=true&mode=offline", json={"text": text})
        r = c.get("/v1/scans", params={"limit": 1})
        assert r.status_code == 200
        assert len(r.json()["scans"]) == 1
        r = c.get("/v1/scans", params={"limit": 200})
        assert r.status_code == 200
        assert len([e for e in r.json()["scans"] if e["id"] not in seen]) == 2
        for event in r.json()["scans"]:
            conforms("ScanEvent", event)
        # Strict, never clamped: a value outside 1..200 is told, not answered with another count.
        for limit in ("0", "-5", "201", "100000", "ten", "", "1.5", "١"):
            assert_problem(c.get("/v1/scans", params={"limit": limit}), 400, "bad_parameter")


def test_unknown_route_and_method(api: Server) -> None:
    with api.client() as c:
        assert_problem(c.get("/v2/whatever"), 404, "not_found")
        assert_problem(c.get("/v1/policies/"), 404, "not_found")
        r = c.get("/v1/verify")
        assert_problem(r, 405, "method_not_allowed")
        assert "POST" in r.headers["allow"]
        assert_problem(c.delete("/healthz"), 405, "method_not_allowed")


def test_refresh_without_registry_and_not_ready(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[object, object]
) -> None:
    """No registry configured: the route says so (409), through the ASGI app itself."""
    import asyncio
    import shutil
    from pathlib import Path

    from verifier import config as config_mod
    from verifier.http.app import create_app
    from verifier.service.core import Service

    state_dir = tmp_path_factory.mktemp("offline") / "state"
    (state_dir.parent / "config.toml").write_text(TOKENS_TOML, encoding="utf-8")
    template = demo_template[0]
    assert isinstance(template, Path)
    shutil.copytree(template, state_dir)

    async def run() -> list[tuple[int, str]]:
        cfg = config_mod.load(state_dir.parent / "config.toml", state_dir)
        service = Service(cfg)  # not started: not ready
        transport = httpx.ASGITransport(app=create_app(service), client=("127.0.0.1", 5000))
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", headers=auth(ADMIN_TOKEN)
            ) as c:
                out = []
                for r in (await c.post("/v1/snapshot/refresh"), await c.get("/readyz")):
                    assert r.headers["content-type"] == "application/problem+json"
                    out.append((r.status_code, r.json()["code"]))
                return out
        finally:
            await service.stop()

    assert asyncio.run(run()) == [(409, "no_registry"), (503, "not_ready")]
