"""``POST /v1/snapshot/refresh``: wake the snapshot sync now (admin token only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from verifier.http.context import RouteContext
from verifier.http.problems import ApiError


def routes(ctx: RouteContext) -> list[BaseRoute]:
    @ctx.guard("admin", token_only=True)
    async def refresh(request: Request) -> Response:
        if not ctx.service.request_sync():
            raise ApiError(409, "no_registry", "онлайн-реестр не настроен")
        return JSONResponse({"requested": True}, status_code=202)

    return [Route("/v1/snapshot/refresh", refresh, methods=["POST"])]
