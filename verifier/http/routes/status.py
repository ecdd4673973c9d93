"""Health, readiness, status, metrics and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from verifier.http.context import RouteContext
from verifier.http.metrics import CONTENT_TYPE, HttpMetrics
from verifier.http.problems import problem

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"


def routes(ctx: RouteContext, metrics: HttpMetrics) -> list[BaseRoute]:
    service = ctx.service

    @ctx.guard("read")
    async def status(request: Request) -> Response:
        return JSONResponse(service.status())

    @ctx.guard("admin")
    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        if request.query_params:
            return problem(400, "bad_parameter", "у healthz нет параметров")
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        if request.query_params:
            return problem(400, "bad_parameter", "у readyz нет параметров")
        if service.ready:
            return JSONResponse({"ready": True})
        return problem(503, "not_ready", "сервис запускается или останавливается")

    async def openapi(request: Request) -> Response:
        return Response(OPENAPI.read_bytes(), media_type="application/yaml")

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_route),
        Route("/v1/openapi.yaml", openapi),
        Route("/v1/status", status),
    ]
