"""``GET /v1/policies/{enp}`` without Starlette's routing: the MIS's hot path.

Starlette builds a ``Request``, ``Headers`` and ``QueryParams``, walks the routes with their
regexes and wraps the endpoint in two exception layers for every request; for the one call a
MIS makes per patient that was a third of the time the request took. :class:`PolicyFastPath`
sits innermost among the app's middleware (after the request timer and the Host/Origin gate,
which every request still passes) and answers exactly a well-formed call by a caller that may
verify: ``GET``, 16 digits, no query parameters but a valid ``mode``/``fresh``, a token or
loopback role with the ``verify`` right. It runs the same code the route does
(:func:`~verifier.http.auth.identify_parts`, ``Service.verify``, the same problem for a typed
error, the same two response headers). Anything else — another method or path, a bad ENP, an
unknown or bad parameter, a missing, wrong or weak credential — goes on to Starlette
untouched, before anything was done, so every refusal is the route's own
(tests/http/test_fastpath.py compares the two answers, status, headers and body).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from verifier.errors import InputError
from verifier.http.auth import identify_parts
from verifier.http.context import RouteContext, typed_error_problem
from verifier.http.problems import ApiError
from verifier.service.api import LookupMode

PREFIX = "/v1/policies/"
_FLAGS = {"true": True, "1": True, "false": False, "0": False}
_MAX_QUERIES = 64  # distinct accepted query strings remembered (mode × fresh spellings)


@dataclass
class FastPathStats:
    """How many requests the fast path answered itself (the rest went on to Starlette)."""

    served: int = 0


def lookup_query(query: str) -> tuple[LookupMode, bool] | None:
    """``mode`` and ``fresh`` as :func:`~verifier.http.context.lookup_args` reads them
    (Starlette's parsing: blank values kept, the last of a repeated name), or ``None`` for
    anything the route would refuse (an unknown name, a bad value)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    values = dict(pairs)
    if not values.keys() <= {"mode", "fresh"}:
        return None
    try:
        mode = LookupMode(values.get("mode", "auto"))
    except ValueError:
        return None
    fresh = _FLAGS.get(values.get("fresh", "false").lower())
    if fresh is None:
        return None
    return mode, fresh


class PolicyFastPath:
    """ASGI middleware answering a well-formed ``GET /v1/policies/{enp}`` (see the module)."""

    def __init__(self, app: ASGIApp, ctx: RouteContext, stats: FastPathStats) -> None:
        self.app, self.ctx, self.stats = app, ctx, stats
        # Accepted query strings only (codes, never personal data), so a bounded dict is safe.
        self._queries: dict[bytes, tuple[LookupMode, bool]] = {}

    def _query(self, raw: bytes) -> tuple[LookupMode, bool] | None:
        found = self._queries.get(raw)
        if found is None:
            found = lookup_query(raw.decode("latin-1"))
            if found is not None:
                if len(self._queries) >= _MAX_QUERIES:
                    self._queries.clear()
                self._queries[raw] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get("root_path")
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        enp = scope["path"][len(PREFIX) :]
        exact = len(enp) == 16 and enp.isascii() and enp.isdigit()  # [0-9]{16}
        args = self._query(scope.get("query_string", b"")) if exact else None
        if args is None:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":  # the first, as Starlette's Headers.get
                header = value.decode("latin-1")
                break
        client = scope.get("client")
        host = client[0] if client else None
        caller = identify_parts(header, _no_url_token, host, self.ctx.cfg())
        if not caller.may("verify"):
            await self.app(scope, receive, send)  # 401/403 as the route's guard says them
            return
        self.stats.served += 1
        mode, fresh = args
        try:
            verdict = await self.ctx.service.verify_enp(
                enp,
                source=f"api:{caller.name}",
                who=caller.name,
                channel="api",
                mode=mode,
                fresh=fresh,
            )  # what the route's Service.verify of the typed number gives (no input to read)
        except (ApiError, InputError) as exc:
            await typed_error_problem(exc)(scope, receive, send)
            return
        body = verdict.to_json(masked=caller.is_kiosk)  # dumps(to_dict()), byte for byte
        # What FastJSONResponse sends (the same two headers in the same order), without
        # building a Response object for it.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _no_url_token() -> str | None:
    return None  # only /v1/events takes a token in its URL
