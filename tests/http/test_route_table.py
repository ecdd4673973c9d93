"""The request timer's route table names the same route template as walking the routes."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from verifier.http.app import create_app
from verifier.http.metrics import UNMATCHED, RouteTable


async def _nothing(request: Any) -> Response:
    return Response()


def _scope(path: str, method: str = "GET", root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


PATHS = [
    "/",
    "/desk",
    "/kiosk",
    "/metrics",
    "/healthz",
    "/readyz",
    "/v1/status",
    "/v1/openapi.yaml",
    "/v1/policies/5047000821004979",
    "/v1/policies/abc",
    "/v1/policies/",
    "/v1/policies",
    "/v1/policies:batch",
    "/v1/policies:batch/",
    "/v1/policies/5047000821004979/extra",
    "/v1/verify",
    "/v1/match",
    "/v1/search",
    "/v1/scans",
    "/v1/events",
    "/v1/snapshot/refresh",
    "/static/desk.js",
    "/static/",
    "/static",
    "/nothing/here",
    "//",
    "/v1/policies/ЕНП",
    "/v1/policies/%2F",
]


def test_the_apps_routes_agree_with_the_walk() -> None:
    app = create_app(object())  # type: ignore[arg-type]  # routes only: nothing is called
    table = RouteTable(app.routes)
    assert not table.walk_only
    named = set()
    for path in PATHS:
        for method in ("GET", "POST", "DELETE", "BREW"):
            scope = _scope(path, method)
            got = table.route_of(scope)
            assert got == table.walk(scope), (path, method)
            named.add(got)
    assert {"/v1/policies/{enp}", "/v1/policies:batch", UNMATCHED} <= named


def test_order_decides_as_in_the_walk() -> None:
    routes: list[BaseRoute] = [
        Route("/a/{x}", _nothing),
        Route("/a/b", _nothing, methods=["POST"]),
        Route("/c", _nothing, methods=["POST"]),
        Route("/c", _nothing),
        Mount("/m", app=StaticFiles(directory=".", check_dir=False)),
        Route("/m/x", _nothing),
        Route("/n/{y:int}", _nothing),
    ]
    table = RouteTable(routes)
    cases = {
        "/a/b": "/a/{x}",  # the templated route comes first
        "/c": "/c",
        "/m/x": "/m/{path}",
        "/n/12": "/n/{y:int}",
        "/n/ab": UNMATCHED,
        "/z": UNMATCHED,
    }
    for path, want in cases.items():
        for method in ("GET", "POST"):
            assert table.route_of(_scope(path, method)) == want == table.walk(_scope(path, method))


@pytest.mark.parametrize("root_path", ["", "/prefix"])
def test_other_route_kinds_and_root_paths_fall_back_to_the_walk(root_path: str) -> None:
    routes: list[BaseRoute] = [WebSocketRoute("/ws", _nothing), Route("/a", _nothing)]
    table = RouteTable(routes)
    assert table.walk_only
    for path in ("/a", "/ws", "/prefix/a"):
        scope = _scope(path, root_path=root_path)
        assert table.route_of(scope) == table.walk(scope)
    plain = RouteTable([Route("/a", _nothing)])
    scope = _scope("/prefix/a", root_path=root_path)
    assert plain.route_of(scope) == plain.walk(scope)
