"""The screens: scan history, the live feed (SSE), and the desk and kiosk pages.

``/v1/events`` and ``/v1/scans`` give a kiosk caller, or any caller naming ``?screen=``, only
that hall screen's events, masked for the hall; everyone else gets the desk channel, masked —
except a ``desk`` token, which gets it in full (see :mod:`verifier.http.views`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from verifier.http.context import Handler, RouteContext, caller_of
from verifier.http.problems import ApiError
from verifier.http.views import event_view, viewer
from verifier.service.api import Channel

STATIC = Path(__file__).resolve().parent.parent / "static"
SSE_HEARTBEAT_S = 15.0
DEFAULT_SCANS = 50
MAX_SCANS = 200


def scan_limit(raw: str) -> int:
    """``limit`` of ``/v1/scans``: an integer in 1..200, else ``400 bad_parameter``.

    Strict rather than clamped, so an integrator's typo (``limit=0``, ``limit=5000``) is told
    instead of silently answered with another count.
    """
    # The length first: int() of thousands of digits is slow, and past 4300 a ValueError.
    if not raw.isascii() or not raw.isdigit() or len(raw.lstrip("0")) > 3:
        raise ApiError(400, "bad_parameter", f"limit: целое число от 1 до {MAX_SCANS}")
    if not 1 <= int(raw) <= MAX_SCANS:
        raise ApiError(400, "bad_parameter", f"limit: целое число от 1 до {MAX_SCANS}")
    return int(raw)


def routes(ctx: RouteContext) -> list[BaseRoute]:
    service = ctx.service

    @ctx.guard("read", frozenset({"limit", "screen"}))
    async def scans(request: Request) -> Response:
        limit = scan_limit(request.query_params.get("limit", str(DEFAULT_SCANS)))
        caller = caller_of(request)
        channel, screen = viewer(request, caller)
        recent = service.recent_events(limit, channel=channel, screen=screen)
        return JSONResponse({"scans": [event_view(e, caller) for e in recent]})

    @ctx.guard("read", frozenset({"access_token", "screen"}))
    async def events(request: Request) -> Response:
        caller = caller_of(request)
        channel, screen = viewer(request, caller)
        queue = service.subscribe_events(channel, screen)
        hello = {
            "channel": channel.value,
            "screen": screen,
            "masked": not (channel is Channel.DESK and caller.sees_desk_unmasked),
            "role": caller.role,
            "kiosk_reset_s": service.cfg.screens.kiosk_reset_s,
        }

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n: connected\n\n"
                yield f"event: hello\ndata: {json.dumps(hello)}\n\n".encode()
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=SSE_HEARTBEAT_S)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    data = json.dumps(event_view(event, caller), ensure_ascii=False)
                    yield f"id: {event.id}\nevent: scan\ndata: {data}\n\n".encode()
            finally:
                service.unsubscribe_events(queue)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def root(request: Request) -> Response:
        return RedirectResponse("/desk")

    def page(name: str) -> Handler:
        async def serve(request: Request) -> Response:
            return Response((STATIC / f"{name}.html").read_bytes(), media_type="text/html")

        return serve

    return [
        Route("/", root),
        Route("/desk", page("desk")),
        Route("/kiosk", page("kiosk")),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/v1/scans", scans),
        Route("/v1/events", events),
    ]
