"""The local HTTP API for the MIS, the screens' live feed, health and metrics (Starlette).

Every error is RFC 9457 problem+json with a stable English ``code`` and a Russian ``detail``
for people. Bodies are capped before they are read in full and must arrive within a deadline;
JSON goes through :mod:`verifier.safejson`. Verdicts go to ``mis``/``admin``/``desk`` callers in
full and to ``kiosk`` callers masked.

Screens: scan events belong to the desk channel or to one kiosk screen (see
:mod:`verifier.service.events`). ``/v1/events`` and ``/v1/scans`` give a kiosk caller, or any
caller naming ``?screen=``, only that hall screen's events, masked for the hall; everyone else
gets the desk channel, masked — except a ``desk`` token, which gets it in full (the clerk
compares the name with the passport and copies the ENP).

A page in the clerk's browser from any other origin can reach loopback too, so every request
names an allowed ``Host`` (else 421: DNS rebinding), and a state-changing request from a browser
must come from the daemon's own pages (``Origin``/``Sec-Fetch-Site``, else 403). The OpenAPI
document (``openapi.yaml`` beside this file, copied to docs/api-openapi.yaml) is served at
``/v1/openapi.yaml``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from cache import name_hash
from verifier.checks.context import LookupMode
from verifier.config import DEFAULT_KIOSK, HttpConfig
from verifier.credential import CredentialInput
from verifier.errors import ImageError, InputError, OmsError, RecognitionError
from verifier.http.auth import Caller, identify
from verifier.http.metrics import render_metrics
from verifier.http.ratelimit import RateLimiter
from verifier.http.transport import throttle
from verifier.log import get_logger
from verifier.messages_ru import exception_ru
from verifier.safejson import JsonError
from verifier.safejson import loads as safe_loads
from verifier.service.core import Service
from verifier.service.events import Channel, ScanEvent
from verifier.service.search import PersonQuery, SearchError

HERE = Path(__file__).parent
PROBLEM = "application/problem+json"
MEDIA_TYPES = frozenset(
    {"application/json", "text/plain", "application/octet-stream", "image/png", "image/jpeg"}
)
SSE_HEARTBEAT_S = 15.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
log = get_logger("oms.http")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": f"https://oms-verifier.example/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def create_app(service: Service) -> Starlette:
    def cfg_http() -> HttpConfig:
        return service.cfg.http

    limiters: dict[tuple[float, int], RateLimiter] = {}

    def match_limiter() -> RateLimiter:
        """One limiter per setting, so a reload with new limits takes effect."""
        cfg = cfg_http()
        key = (cfg.match_per_minute, cfg.match_burst)
        if key not in limiters:
            limiters.clear()
            limiters[key] = RateLimiter(cfg.match_per_minute, cfg.match_burst)
        return limiters[key]

    def guard(
        right: str, params: frozenset[str] = frozenset(), *, token_only: bool = False
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
                caller = identify(request, cfg_http())
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
                except ApiError as exc:
                    return problem(exc.status, exc.code, exc.detail, exc.headers)
                except RecognitionError as exc:
                    return problem(422, exc.code, exception_ru(exc))
                except InputError as exc:
                    return problem(400, exc.code, exception_ru(exc))
                except ClientDisconnect:
                    # The client left mid-body: nobody to answer, nothing to trace.
                    n = throttle.hit("client_disconnect")
                    if n is not None:
                        log.info("client disconnected before its body", count=n)
                    return Response(status_code=400)

            return inner

        return wrap

    async def read_body(request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise ApiError(413, "too_large", f"тело запроса больше {limit} байт")
            except ValueError:
                raise ApiError(400, "bad_request", "неверный заголовок Content-Length") from None
        body = bytearray()
        timeout = cfg_http().body_timeout_s
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

    def lookup_args(request: Request) -> tuple[LookupMode, bool]:
        mode_s = request.query_params.get("mode", "auto")
        try:
            mode = LookupMode(mode_s)
        except ValueError:
            raise ApiError(400, "bad_mode", "mode: offline, online или auto") from None
        return mode, flag(request, "fresh")

    def flag(request: Request, name: str) -> bool:
        value = request.query_params.get(name, "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise ApiError(400, "bad_parameter", f"{name}: true или false")
        return value in ("true", "1")

    def render(caller: Caller, verdict_dict: Callable[[bool], dict[str, Any]]) -> JSONResponse:
        return JSONResponse(verdict_dict(caller.role == "kiosk"))

    # --- routes ------------------------------------------------------------------------------

    @guard("verify", frozenset({"mode", "fresh"}))
    async def policy(request: Request) -> Response:
        enp = _enp(request.path_params["enp"])
        mode, fresh = lookup_args(request)
        caller: Caller = request.state.caller
        item = CredentialInput.from_text(enp, source=f"api:{caller.name}", manual=True)
        verdict = await service.verify(item, who=caller.name, channel="api", mode=mode, fresh=fresh)
        return render(caller, lambda masked: verdict.to_dict(masked=masked))

    @guard("verify", frozenset({"mode", "fresh", "typed", "publish"}))
    async def verify(request: Request) -> Response:
        caller: Caller = request.state.caller
        mode, fresh = lookup_args(request)
        typed, publish = flag(request, "typed"), flag(request, "publish")
        ctype = _media_type(request)
        limit = (
            cfg_http().max_body_bytes
            if ctype.startswith("image/") or ctype == "application/octet-stream"
            else cfg_http().max_json_bytes
        )
        if ctype not in MEDIA_TYPES:
            raise ApiError(
                415,
                "unsupported_media_type",
                "тип тела: JSON, text/plain, application/octet-stream, PNG или JPEG",
            )
        body = await read_body(request, limit)
        source = f"api:{caller.name}"
        if ctype == "application/json":
            item = _json_input(body, source, typed)
        elif ctype == "text/plain":
            try:
                item = CredentialInput.from_text(body.decode("utf-8"), source=source, manual=typed)
            except UnicodeDecodeError:
                raise ApiError(400, "bad_text", "текст не в кодировке UTF-8") from None
        elif ctype == "application/octet-stream":
            item = CredentialInput(body, source=source)
        else:  # image/png, image/jpeg
            item = await _image_input(body, source)
        channel = "desk" if publish else "api"
        verdict = await service.verify(
            item, who=caller.name, channel=channel, mode=mode, fresh=fresh, publish=publish
        )
        return render(caller, lambda masked: verdict.to_dict(masked=masked))

    async def _image_input(body: bytes, source: str) -> CredentialInput:
        from verifier.imaging import ImageBusy, decode_image_bytes

        loop = asyncio.get_running_loop()
        try:
            # Own pool: an upload waiting for a decode slot never holds a verification worker.
            found = await loop.run_in_executor(service.image_executor, decode_image_bytes, body)
        except ImageBusy as exc:
            raise ApiError(503, exc.code, exception_ru(exc), {"Retry-After": "2"}) from exc
        except ImageError as exc:
            raise ApiError(422, exc.code, exception_ru(exc)) from exc
        first = found[0]
        return CredentialInput(first.payload, source=source, symbology=first.symbology.value)

    def oracle_gate(request: Request, bucket: str) -> Caller:
        """JSON only (a text/plain POST is "simple" and needs no CORS preflight), and a
        per-caller budget: match and search answer questions about people by name."""
        if _media_type(request) != "application/json":
            raise ApiError(415, "unsupported_media_type", "тип тела: application/json")
        caller: Caller = request.state.caller
        wait = match_limiter().take(f"{bucket}:{caller.name}")
        if wait is not None:
            retry = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"слишком много запросов; повторите через {retry} с",
                {"Retry-After": str(retry)},
            )
        return caller

    def person_fields(doc: dict[str, Any], required: tuple[str, ...]) -> dict[str, str]:
        fields = {k: doc.get(k) for k in required}
        missing = [k for k, v in fields.items() if not isinstance(v, str)]
        if missing:
            raise ApiError(
                422,
                "bad_request",
                f"нужны текстовые поля {', '.join(required)}: "
                f"нет или не текст — {', '.join(missing)}",
            )
        patronymic = doc.get("patronymic")
        if patronymic is not None and not isinstance(patronymic, str):
            raise ApiError(422, "bad_request", "patronymic: текст или null")
        return {k: str(v) for k, v in fields.items()}

    @guard("verify")
    async def match(request: Request) -> Response:
        oracle_gate(request, "match")
        body = await read_body(request, cfg_http().max_json_bytes)
        doc = _json_object(body)
        fields = person_fields(doc, ("enp", "surname", "given_name", "birth_date"))
        patronymic = doc.get("patronymic")
        born = _iso_date(str(fields["birth_date"]))
        enp = _enp(str(fields["enp"]), status=422)
        surname, given = str(fields["surname"]), str(fields["given_name"])
        key = service.match_key()
        if key is None:
            return JSONResponse({"match": None, "detail": "ключ хеша ФИО не настроен"})
        record = await asyncio.get_running_loop().run_in_executor(
            service.executor, service.parts.store.lookup_enp, enp
        )
        if record is None:
            return JSONResponse({"match": None, "detail": "ЕНП нет в локальной копии реестра"})
        ok = name_hash.matches(key, record.name_hash, surname, given, patronymic, born)
        return JSONResponse({"match": ok, "detail": "сверено с ключевым хешем ФИО из реестра"})

    @guard("search", token_only=True)
    async def search(request: Request) -> Response:
        caller = oracle_gate(request, "search")
        body = await read_body(request, cfg_http().max_json_bytes)
        doc = _json_object(body)
        unknown = sorted(set(doc) - _SEARCH_FIELDS)
        if unknown:
            raise ApiError(422, "bad_request", f"неизвестные поля: {', '.join(unknown)}")
        fields = person_fields(doc, ("surname", "given_name", "birth_date"))
        mode_s = doc.get("mode", "auto")
        try:
            mode = LookupMode(mode_s) if isinstance(mode_s, str) else None
        except ValueError:
            mode = None
        if mode is None:
            raise ApiError(422, "bad_mode", "mode: offline, online или auto")
        patronymic = doc.get("patronymic")
        try:
            query = PersonQuery(
                surname=fields["surname"],
                given_name=fields["given_name"],
                patronymic=patronymic or None,
                birth_date=_iso_date(fields["birth_date"]),
            )
        except SearchError as exc:
            raise ApiError(422, exc.code, exception_ru(exc)) from None
        result = await service.search(query, who=caller.name, mode=mode)
        return JSONResponse(
            {
                "source": result.source.value,
                "candidates": [v.to_dict(masked=caller.is_kiosk) for v in result.candidates],
                "notes": list(result.notes),
            }
        )

    @guard("read", frozenset({"limit", "screen"}))
    async def scans(request: Request) -> Response:
        try:
            limit = max(1, min(200, int(request.query_params.get("limit", "50"))))
        except ValueError:
            raise ApiError(400, "bad_parameter", "limit: целое число") from None
        caller: Caller = request.state.caller
        channel, screen = _viewer(request, caller)
        recent = service.bus.recent(limit, channel=channel, screen=screen)
        return JSONResponse({"scans": [_event_view(e, caller) for e in recent]})

    @guard("read", frozenset({"access_token", "screen"}))
    async def events(request: Request) -> Response:
        caller: Caller = request.state.caller
        channel, screen = _viewer(request, caller)
        queue = service.bus.subscribe(lambda e: e.visible_on(channel, screen))
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
                    data = json.dumps(_event_view(event, caller), ensure_ascii=False)
                    yield f"id: {event.id}\nevent: scan\ndata: {data}\n\n".encode()
            finally:
                service.bus.unsubscribe(queue)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @guard("read")
    async def status(request: Request) -> Response:
        return JSONResponse(service.status())

    @guard("admin", token_only=True)
    async def refresh(request: Request) -> Response:
        if not service.request_sync():
            raise ApiError(409, "no_registry", "онлайн-реестр не настроен")
        return JSONResponse({"requested": True}, status_code=202)

    @guard("admin")
    async def metrics(request: Request) -> Response:
        return PlainTextResponse(render_metrics(service), media_type="text/plain; version=0.0.4")

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
        return Response((HERE / "openapi.yaml").read_bytes(), media_type="application/yaml")

    async def root(request: Request) -> Response:
        return RedirectResponse("/desk")

    def page(name: str) -> Handler:
        async def serve(request: Request) -> Response:
            return Response((HERE / "static" / f"{name}.html").read_bytes(), media_type="text/html")

        return serve

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, "not_found", "такого ресурса нет")

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        allow = getattr(exc, "headers", None) or {}
        headers = {"Allow": allow["Allow"]} if "Allow" in allow else None
        return problem(405, "method_not_allowed", "этот метод здесь не разрешён", headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return problem(500, "internal_error", "внутренняя ошибка; подробности в журнале сервиса")

    routes = [
        Route("/", root),
        Route("/desk", page("desk")),
        Route("/kiosk", page("kiosk")),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/v1/openapi.yaml", openapi),
        Route("/v1/policies/{enp}", policy),
        Route("/v1/verify", verify, methods=["POST"]),
        Route("/v1/match", match, methods=["POST"]),
        Route("/v1/search", search, methods=["POST"]),
        Route("/v1/scans", scans),
        Route("/v1/events", events),
        Route("/v1/status", status),
        Route("/v1/snapshot/refresh", refresh, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BrowserGate, cfg=cfg_http)],
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )


# --- Host and Origin -----------------------------------------------------------------------


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6][:port]`` → (lower-case name, port); ``None`` if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
    else:
        name, sep, port_s = value.partition(":")
        rest = sep + port_s
    if rest and not _PORT.fullmatch(rest):
        return None
    if not name:
        return None
    return name, int(rest[1:]) if rest else None


def allowed_hosts(cfg: HttpConfig) -> frozenset[str]:
    """Loopback names, the bound address itself, and the configured names."""
    names = set(LOOPBACK_HOSTS) | set(cfg.allowed_hosts)
    bound = cfg.host.lower()
    if bound not in ("0.0.0.0", "::", ""):
        names.add(f"[{bound}]" if ":" in bound else bound)
    return frozenset(names)


def gate_refusal(
    method: str, path: str, headers: dict[str, str], server_port: int | None, cfg: HttpConfig
) -> tuple[int, str, str] | None:
    """Why this request must not reach the app, as (status, code, detail), or ``None``."""
    names = allowed_hosts(cfg)
    host = _split_host(headers.get("host", ""))
    if host is None or host[0] not in names:
        return 421, "bad_host", "сервис отвечает только на свои имена хоста"
    origin = headers.get("origin")
    configured = origin is not None and origin.lower().rstrip("/") in cfg.allowed_origins
    if not configured:
        site = headers.get("sec-fetch-site", "").lower()
        api = path.startswith("/v1/") or path == "/metrics"
        if site in ("cross-site", "same-site") and (method in UNSAFE_METHODS or api):
            return 403, "forbidden_origin", "запросы с других сайтов отклоняются"
        if (
            origin is not None
            and method in UNSAFE_METHODS
            and not _own_origin(origin, names, server_port)
        ):
            return 403, "forbidden_origin", "запросы с других источников (origin) отклоняются"
    return None


def _own_origin(origin: str, names: frozenset[str], server_port: int | None) -> bool:
    """An origin of this daemon itself: http, an allowed host name, the port it listens on."""
    scheme, sep, rest = origin.lower().partition("://")
    if scheme != "http" or not sep or "/" in rest:
        return False
    parsed = _split_host(rest)
    if parsed is None or parsed[0] not in names:
        return False
    port = parsed[1] if parsed[1] is not None else 80
    return server_port is None or port == server_port


class BrowserGate:
    """ASGI middleware applying :func:`gate_refusal` before routing, to every path."""

    def __init__(self, app: ASGIApp, cfg: Callable[[], HttpConfig]) -> None:
        self.app, self.cfg = app, cfg

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            if name in headers:  # two Host or Origin headers: ambiguous, refuse
                headers[name] = "\x00"
            else:
                headers[name] = v.decode("latin-1")
        server = scope.get("server")
        port = server[1] if server else None
        refusal = gate_refusal(scope["method"], scope["path"], headers, port, self.cfg())
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await problem(*refusal)(scope, receive, send)


# --- helpers -------------------------------------------------------------------------------


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


_KIOSK_HIDDEN = ("old_series", "old_number", "temp_cert_number")


def _viewer(request: Request, caller: Caller) -> tuple[Channel, str | None]:
    """Which channel a subscriber reads: a named ``screen`` (a kiosk page) or, for a kiosk
    token, the default hall screen — a hall screen never gets the desk's channel."""
    screen = request.query_params.get("screen")
    if screen is not None:
        if not _SCREEN.fullmatch(screen):
            raise ApiError(400, "bad_parameter", "screen: имя экрана из [[screens.kiosk]]")
        return Channel.KIOSK, screen
    if caller.is_kiosk:
        return Channel.KIOSK, DEFAULT_KIOSK
    return Channel.DESK, None


def _event_view(event: ScanEvent, caller: Caller) -> dict[str, Any]:
    """A scan event as ``caller`` may see it. The desk channel is in full for a desk token
    only, masked for everyone else; a kiosk screen's events are masked for the hall: also
    temporary-certificate and old-policy numbers, and every other run of 6+ digits that
    could be a personal number (insurer, region, clinic codes and timestamps stay)."""
    if event.channel is Channel.DESK:
        view = event.to_dict(masked=not caller.sees_desk_unmasked)
        if not caller.is_kiosk:
            return view
    else:
        view = event.to_dict(masked=True)
    verdict = view.get("verdict") or {}
    cred = verdict.get("credential")
    if isinstance(cred, dict):
        for key in _KIOSK_HIDDEN:
            if cred.get(key):
                cred[key] = _mask_number(str(cred[key]))
    result: dict[str, Any] = _scrub(view)
    return result


def _mask_number(value: str) -> str:
    """Last two characters kept (as a clerk would read them aloud), the rest starred."""
    return "*" * max(0, len(value) - 2) + value[-2:] if len(value) > 4 else "*" * len(value)


def _scrub(value: Any) -> Any:
    """Star every run of 6+ digits inside strings, except in already-masked values and dates."""
    if isinstance(value, str):
        return _DIGITS.sub(lambda m: _mask_number(m.group(0)), value)
    if isinstance(value, dict):
        return {k: v if k in _KEEP_DIGITS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


# ОГРН, ОКАТО and the clinic code name an insurer, a region and a clinic, not a person; the
# ENP is masked already; timestamps carry microseconds.
_KEEP_DIGITS = frozenset(
    {"smo_ogrn", "okato", "clinic", "id", "at", "checked_at", "answered_at", "status_since"}
    | {"ogrn", "code"}  # insurer {ogrn} and attachment {code}: an insurer and a clinic
)
_DIGITS = re.compile(r"(?<![0-9*])[0-9]{6,}(?![0-9])")
_SCREEN = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SEARCH_FIELDS = frozenset({"surname", "given_name", "patronymic", "birth_date", "mode"})
_PORT = re.compile(r":[0-9]{1,5}")


def _json_object(body: bytes) -> dict[str, Any]:
    """Bounded depth and size (a deeply nested array is a 400, never a RecursionError)."""
    try:
        doc = safe_loads(body, what="body")
    except JsonError as exc:
        raise ApiError(400, exc.code, exception_ru(exc)) from None
    if not isinstance(doc, dict):
        raise ApiError(422, "bad_request", "тело запроса должно быть JSON-объектом")
    return doc


def _enp(value: str, *, status: int = 400) -> str:
    """Exactly 16 ASCII digits (the check digit is the verdict's business, not a 4xx)."""
    if not _ENP.fullmatch(value):
        raise ApiError(status, "bad_enp", "ЕНП — ровно 16 цифр")
    return value


def _iso_date(value: str) -> date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "bad_request", "birth_date: дата в виде ГГГГ-ММ-ДД") from None


def _json_input(body: bytes, source: str, typed_default: bool) -> CredentialInput:
    """``{"text": …, "typed": bool}``, ``{"hex": …}`` or ``{"base64": …}``: exactly one."""
    doc = _json_object(body)
    unknown = sorted(set(doc) - {"text", "hex", "base64", "typed"})
    if unknown:
        raise ApiError(422, "bad_request", f"неизвестные поля: {', '.join(unknown)}")
    given = [k for k in ("text", "hex", "base64") if k in doc]
    if len(given) != 1:
        raise ApiError(422, "bad_request", "в JSON нужно ровно одно из полей text, hex, base64")
    field = given[0]
    value = doc[field]
    if not isinstance(value, str):
        raise ApiError(422, "bad_request", f"{field}: нужен текст")
    typed = doc.get("typed", typed_default)
    if not isinstance(typed, bool):
        raise ApiError(422, "bad_request", "typed: true или false")
    if field == "text":
        try:
            payload = value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escaped in the JSON
            raise ApiError(400, "bad_text", "текст — не допустимый Юникод") from None
        return CredentialInput(payload, source=source, manual=typed)
    if field == "hex":
        if not _HEX.fullmatch(value):
            raise ApiError(400, "bad_encoding", "hex: чётное число шестнадцатеричных цифр")
        return CredentialInput(bytes.fromhex(value), source=source)
    try:
        if not _B64.fullmatch(value):
            raise ValueError(value)
        return CredentialInput(base64.b64decode(value, validate=True), source=source)
    except (ValueError, binascii.Error):
        raise ApiError(400, "bad_encoding", "поле base64 не декодируется") from None


_ENP = re.compile(r"[0-9]{16}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


__all__ = ["OmsError", "create_app"]
