"""What every route module shares: the service, the guard, bounded body reads, parameters.

One :class:`RouteContext` per app. The guard authorises the caller, refuses unknown query
parameters and turns typed errors into problems; bodies are capped before they are read in
full and must arrive within ``[http] body_timeout_s``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from verifier.config import HttpConfig
from verifier.errors import InputError, RecognitionError
from verifier.http.auth import Caller, identify
from verifier.http.inputs import media_type
from verifier.http.problems import ApiError, problem
from verifier.http.ratelimit import RateLimiter
from verifier.http.transport import throttle
from verifier.log import get_logger
from verifier.messages_ru import exception_ru
from verifier.service.api import HttpService, LookupMode

Handler = Callable[[Request], Awaitable[Response]]
log = get_logger("oms.http")


class RouteContext:
    def __init__(self, service: HttpService) -> None:
        self.service = service
        self._limiters: dict[tuple[float, int], RateLimiter] = {}

    def cfg(self) -> HttpConfig:
        """Read per request: a SIGHUP reload swaps the service's configuration."""
        return self.service.cfg.http

    def match_limiter(self) -> RateLimiter:
        """One limiter per setting, so a reload with new limits takes effect."""
        cfg = self.cfg()
        key = (cfg.match_per_minute, cfg.match_burst)
        if key not in self._limiters:
            self._limiters.clear()
            self._limiters[key] = RateLimiter(cfg.match_per_minute, cfg.match_burst)
        return self._limiters[key]

    def guard(
        self, right: str, params: frozenset[str] = frozenset(), *, token_only: bool = False
    ) -> Callable[[Handler], Handler]:
        """Authorise, refuse unknown query parameters (a misspelt ``mode`` must not silently
        mean the default), and turn typed errors into problems. ``token_only``: the token-less
        loopback role does not count (any local process or page could be that caller)."""

        def wrap(fn: Handler) -> Handler:
            async def inner(request: Request) -> Response:
                unknown = set(request.query_params) - params
                if unknown:
                    return problem(
                        400,
                        "bad_parameter",
                        f"неизвестные параметры запроса: {', '.join(sorted(unknown))}",
                    )
                caller = identify(request, self.cfg())
                if caller.role is None or (token_only and not caller.by_token):
                    return problem(
                        401,
                        "unauthorized",
                        "нужен действующий токен доступа (Bearer)"
                        + (": для этого запроса и на этом компьютере" if token_only else ""),
                        {"WWW-Authenticate": 'Bearer realm="oms-verifier"'},
                    )
                if not caller.may(right):
                    return problem(403, "forbidden", f"роли {caller.role} это не разрешено")
                request.state.caller = caller
                try:
                    return await fn(request)
                except (ApiError, InputError) as exc:
                    return typed_error_problem(exc)
                except ClientDisconnect:
                    # The client left mid-body: nobody to answer, nothing to trace.
                    n = throttle.hit("client_disconnect")
                    if n is not None:
                        log.info("client disconnected before its body", count=n)
                    return Response(status_code=400)

            return inner

        return wrap

    async def read_body(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise ApiError(413, "too_large", f"тело запроса больше {limit} байт")
            except ValueError:
                raise ApiError(400, "bad_request", "неверный заголовок Content-Length") from None
        body = bytearray()
        timeout = self.cfg().body_timeout_s
        try:
            async with asyncio.timeout(timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > limit:
                        raise ApiError(413, "too_large", f"тело запроса больше {limit} байт")
        except TimeoutError:
            raise ApiError(
                408,
                "body_timeout",
                f"тело запроса не пришло за {timeout:g} с",
                {"Connection": "close"},
            ) from None
        return bytes(body)

    def oracle_gate(self, request: Request, bucket: str) -> Caller:
        """JSON only (a text/plain POST is "simple" and needs no CORS preflight), and a
        per-caller budget: match and search answer questions about people by name."""
        if media_type(request) != "application/json":
            raise ApiError(415, "unsupported_media_type", "тип тела: application/json")
        caller: Caller = request.state.caller
        wait = self.match_limiter().take(f"{bucket}:{caller.name}")
        if wait is not None:
            retry = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"слишком много запросов; повторите через {retry} с",
                {"Retry-After": str(retry)},
            )
        return caller


def typed_error_problem(exc: ApiError | InputError) -> Response:
    """The problem a route answers for a typed error: an :class:`ApiError` as it says, an
    input that is no credential 422, any other bad input 400."""
    if isinstance(exc, ApiError):
        return problem(exc.status, exc.code, exc.detail, exc.headers)
    if isinstance(exc, RecognitionError):
        return problem(422, exc.code, exception_ru(exc))
    return problem(400, exc.code, exception_ru(exc))


def caller_of(request: Request) -> Caller:
    """The caller the guard authorised."""
    caller: Caller = request.state.caller
    return caller


def flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_parameter", f"{name}: true или false")
    return value in ("true", "1")


def lookup_args(request: Request) -> tuple[LookupMode, bool]:
    """``mode`` (offline, online, auto) and ``fresh`` from the query string."""
    mode_s = request.query_params.get("mode", "auto")
    try:
        mode = LookupMode(mode_s)
    except ValueError:
        raise ApiError(400, "bad_mode", "mode: offline, online или auto") from None
    return mode, flag(request, "fresh")
