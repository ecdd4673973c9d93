"""``GET /v1/policies/{enp}`` before Starlette: the MIS's hot path.

Starlette builds a ``Request``, ``Headers`` and ``QueryParams``, walks the routes with their
regexes, and passes every request through its error layer, the request timer and the
Host/Origin gate, each one more coroutine and one more ``send`` wrapper; for the one call a
MIS makes per patient that was most of the app's own time. :class:`ApiApp` (the app
:func:`~verifier.http.app.create_app` makes) asks :meth:`PolicyFastPath.wanted` first: a
well-formed call — ``GET``, 16 digits, no query parameters but a valid ``mode``/``fresh``,
one the gate lets through (:func:`~verifier.http.gate.gate_refusal`, the same function), by a
caller that may verify (:func:`~verifier.http.auth.identify_parts`) — is answered by
:meth:`PolicyFastPath.answer` with the same code the route runs (``Service.verify_enp``, the
same problem for a typed error, the same 500 problem for anything else, the same two response
headers), timed into the same series the timer writes. Anything else — another method or
path, a bad ENP, an unknown or bad parameter, a refused Host or Origin, a missing, wrong or
weak credential — goes on to Starlette untouched, before anything was done, so every refusal
is the route's or the gate's own (tests/http/test_fastpath.py compares the two answers,
status, headers and body, and the metrics they leave).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from verifier.config import HttpConfig
from verifier.errors import InputError
from verifier.http.auth import Caller, identify_parts
from verifier.http.context import RouteContext, typed_error_problem
from verifier.http.gate import gate_headers, gate_refusal
from verifier.http.metrics import HttpMetrics
from verifier.http.problems import ApiError, internal_error, server_error
from verifier.http.transport import DirectResponse
from verifier.log import get_logger
from verifier.service.api import LookupMode

log = get_logger("oms.http")

PREFIX = "/v1/policies/"
ROUTE = "/v1/policies/{enp}"  # the route template the timer names (tests/http/test_fastpath.py)
_FLAGS = {"true": True, "1": True, "false": False, "0": False}
_MAX_QUERIES = 64  # distinct accepted query strings remembered (mode × fresh spellings)
_MAX_GATE = 64  # distinct (Host, Origin, Sec-Fetch-Site) remembered: a desk sends one or two
_MAX_ACCEPTED = 64  # distinct accepted (headers, client) remembered: a MIS sends one or two
_MAX_REMEMBERED_HEADERS = 32  # a MIS's head has a dozen; a longer one is checked, not kept
_HEADERS = [(b"content-type", b"application/json")]


@dataclass
class FastPathStats:
    """How many requests the fast path answered itself (the rest went on to Starlette)."""

    served: int = 0
    direct: int = 0  # of which answered by the daemon's protocol itself (answer_now)


class FastCall(NamedTuple):
    """A request the fast path answers: what :meth:`PolicyFastPath.wanted` read of it."""

    started: float  # perf_counter at arrival, as the request timer takes it
    enp: str
    mode: LookupMode
    fresh: bool
    caller: Caller


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
    """Answers a well-formed ``GET /v1/policies/{enp}`` before Starlette (see the module)."""

    def __init__(self, ctx: RouteContext, stats: FastPathStats, metrics: HttpMetrics) -> None:
        self.ctx, self.stats, self.metrics = ctx, stats, metrics
        # Accepted query strings only (codes, never personal data), so a bounded dict is safe.
        self._queries: dict[bytes, tuple[LookupMode, bool]] = {}
        # The gate's word on this path's requests by (Host, Origin, Sec-Fetch-Site), for one
        # configuration and port: every path the fast path takes is alike to the gate (no
        # control character, under /v1/, GET). Header values, never personal data; bounded.
        self._gate: tuple[object, object, dict[tuple[str | None, ...], bool]] = (None, None, {})
        # The callers of requests taken, by their whole header list and client address, for
        # one configuration and port: what the gate and the token check decided of exactly
        # these headers (a MIS sends the same ones on every call). Only an accepted request
        # is remembered, so a refusal, a wrong token or a weak one always takes the full
        # checks (and the token's constant-time comparison). Bounded; never logged.
        self._accepted: tuple[object, object, dict[tuple[object, ...], Caller]] = (None, None, {})

    def _query(self, raw: bytes) -> tuple[LookupMode, bool] | None:
        found = self._queries.get(raw)
        if found is None:
            found = lookup_query(raw.decode("latin-1"))
            if found is not None:
                if len(self._queries) >= _MAX_QUERIES:
                    self._queries.clear()
                self._queries[raw] = found
        return found

    def wanted(self, scope: Scope) -> FastCall | None:
        """The call, when this request is one the fast path answers; ``None`` sends it on to
        Starlette, nothing done yet."""
        started = time.perf_counter()
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get("root_path")
            or not scope["path"].startswith(PREFIX)
        ):
            return None
        path: str = scope["path"]
        enp = path[len(PREFIX) :]
        if not (len(enp) == 16 and enp.isascii() and enp.isdigit()):  # [0-9]{16}
            return None
        args = self._query(scope.get("query_string", b""))
        if args is None:
            return None
        raw = scope["headers"]
        server = scope.get("server")
        port = server[1] if server else None
        client = scope.get("client")
        host = client[0] if client else None
        cfg = self.ctx.cfg()
        made_for, made_port, accepted = self._accepted
        if made_for is not cfg or made_port != port:
            accepted = {}
            self._accepted = (cfg, port, accepted)
        key = (host, *raw)
        raw = key[1:]  # the same pairs, read once (an iterable may be used up)
        remember = len(raw) <= _MAX_REMEMBERED_HEADERS  # bytes kept stay bounded
        caller = None
        if remember:
            try:
                caller = accepted.get(key)
            except TypeError:  # a header given as a list (ASGI allows any pair): not kept
                remember = False
        if caller is not None:
            return FastCall(started, enp, args[0], args[1], caller)
        if not self._gate_passes(path, gate_headers(raw), port, cfg):
            return None  # the gate's own refusal, from Starlette's stack
        header = None
        for name, value in raw:
            if name == b"authorization":  # the first, as Starlette's Headers.get
                header = value.decode("latin-1")
                break
        caller = identify_parts(header, _no_url_token, host, cfg)
        if not caller.may("verify"):
            return None  # 401/403 as the route's guard says them
        if remember:
            if len(accepted) >= _MAX_ACCEPTED:
                accepted.clear()
            accepted[key] = caller
        return FastCall(started, enp, args[0], args[1], caller)

    def _gate_passes(
        self, path: str, headers: dict[str, str], port: int | None, cfg: HttpConfig
    ) -> bool:
        """``gate_refusal(...) is None``, remembered by the three headers it reads."""
        made_for, made_port, passes = self._gate
        if made_for is not cfg or made_port != port:
            passes = {}
            self._gate = (cfg, port, passes)
        key = (headers.get("host"), headers.get("origin"), headers.get("sec-fetch-site"))
        found = passes.get(key)
        if found is None:
            found = gate_refusal("GET", path, headers, port, cfg) is None
            if len(passes) >= _MAX_GATE:
                passes.clear()
            passes[key] = found
        return found

    async def answer(self, call: FastCall, scope: Scope, receive: Receive, send: Send) -> None:
        """The route's answer to ``call``: the verdict, or the problem of its error."""
        self.stats.served += 1
        caller = call.caller
        try:
            verdict = await self.ctx.service.verify_enp(
                call.enp,
                source=f"api:{caller.name}",
                who=caller.name,
                channel="api",
                mode=call.mode,
                fresh=call.fresh,
            )  # what the route's Service.verify of the typed number gives (no input to read)
        except (ApiError, InputError) as exc:
            response = typed_error_problem(exc)
            self._observe(call, str(response.status_code))
            await response(scope, receive, send)
            return
        except Exception as exc:
            # What Starlette's error layer does: the 500 problem, then the error goes on up
            # (uvicorn logs it).
            self._observe(call, "500")
            failed = await server_error(Request(scope), exc)
            await failed(scope, receive, send)
            raise
        except BaseException:
            self._observe(call, "500")  # as the request timer counts a cancelled request
            raise
        body = verdict.to_json(masked=caller.is_kiosk)  # dumps(to_dict()), byte for byte
        self._observe(call, "200")
        # What FastJSONResponse sends (the same two headers in the same order), without
        # building a Response object for it.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": _ok_headers(body),
            }
        )
        await send({"type": "http.response.body", "body": body})

    def answer_now(self, scope: Scope) -> DirectResponse | None:
        """The route's answer to an offline lookup, made at once: the daemon's protocol asks
        before it makes an ASGI cycle for the request (verifier/http/transport.py), and an
        offline verdict reads only the local snapshot, so nothing needs to wait. ``None``,
        nothing done, for whatever :meth:`wanted` leaves to Starlette and for a lookup that
        may ask the registry (those go on to :meth:`answer`, through ASGI)."""
        call = self.wanted(scope)
        if call is None or call.mode is not LookupMode.OFFLINE:
            return None
        self.stats.served += 1
        self.stats.direct += 1
        caller = call.caller
        try:
            verdict = self.ctx.service.verify_enp_now(
                call.enp,
                source=f"api:{caller.name}",
                who=caller.name,
                channel="api",
                fresh=call.fresh,
            )  # what answer()'s verify_enp does offline, on this thread
        except (ApiError, InputError) as exc:
            response = typed_error_problem(exc)
            self._observe(call, str(response.status_code))
            return DirectResponse(response.status_code, response.raw_headers, bytes(response.body))
        except Exception as exc:
            # What answer() and uvicorn make of it: the 500 problem, the error in the log,
            # and the connection closed after the answer.
            self._observe(call, "500")
            log.error("internal error answering a lookup", exc_info=exc)
            failed = internal_error()
            return DirectResponse(500, failed.raw_headers, bytes(failed.body), close=True)
        except BaseException:
            self._observe(call, "500")
            raise
        body = verdict.to_json(masked=caller.is_kiosk)
        self._observe(call, "200")
        return DirectResponse(200, _ok_headers(body), body)

    def _observe(self, call: FastCall, code: str) -> None:
        self.metrics.observe(ROUTE, "GET", code, time.perf_counter() - call.started)


class ApiApp(Starlette):
    """The Starlette app, with the MIS's ``GET /v1/policies/{enp}`` answered before its
    stack when :attr:`fast_path` is set (see the module)."""

    fast_path: PolicyFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None:
            call = fast.wanted(scope)
            if call is not None:
                scope["app"] = self  # as Starlette sets it (the 500 handler's request.app)
                await fast.answer(call, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _ok_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """What FastJSONResponse sends with a verdict: the same two headers, in the same order."""
    return [(b"content-length", str(len(body)).encode()), *_HEADERS]


def _no_url_token() -> str | None:
    return None  # only /v1/events takes a token in its URL
