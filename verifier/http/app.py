"""The local HTTP API for the MIS, the screens' live feed, health and metrics (Starlette).

Every error is RFC 9457 problem+json with a stable English ``code`` and a Russian ``detail``
for people (:mod:`verifier.http.problems`). Bodies are capped before they are read in full
and must arrive within a deadline; JSON goes through :mod:`verifier.safejson`
(:mod:`verifier.http.context`, :mod:`verifier.http.inputs`). Verdicts go to
``mis``/``admin``/``desk`` callers in full and to ``kiosk`` callers masked; the screens' events
as :mod:`verifier.http.views` says.

The routes live in :mod:`verifier.http.routes`, one module per resource, and call the
service only through :class:`verifier.service.api.HttpService`. Every request passes the
Host/Origin gate first (:mod:`verifier.http.gate`) and is timed for ``/metrics``
(:mod:`verifier.http.metrics`). The OpenAPI document (``openapi.yaml`` beside this file,
copied to docs/api-openapi.yaml) is served at ``/v1/openapi.yaml``. The MIS's
``GET /v1/policies/{enp}`` is answered before routing when well-formed
(:mod:`verifier.http.fastpath`), with the same checks and the same answer.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from verifier.errors import OmsError
from verifier.http.context import RouteContext
from verifier.http.fastpath import ApiApp, FastPathStats, PolicyFastPath
from verifier.http.gate import BrowserGate, allowed_hosts, gate_refusal
from verifier.http.metrics import HttpMetrics, RequestTimer
from verifier.http.problems import method_not_allowed, not_found, server_error
from verifier.http.routes import (
    batch,
    match,
    policies,
    screens,
    search,
    snapshot,
    status,
    verify,
)
from verifier.service.api import HttpService


def create_app(service: HttpService, *, fast_path: bool = True) -> ApiApp:
    """The app; ``fast_path=False`` leaves ``GET /v1/policies/{enp}`` to Starlette's routing
    too (tests/http/test_fastpath.py compares the two)."""
    ctx = RouteContext(service)
    metrics = HttpMetrics(service)
    routes: list[BaseRoute] = [
        *screens.routes(ctx),
        *status.routes(ctx, metrics),
        *batch.routes(ctx),  # before /v1/policies/{enp}, which would not match it anyway
        *policies.routes(ctx),
        *verify.routes(ctx),
        *match.routes(ctx),
        *search.routes(ctx),
        *snapshot.routes(ctx),
    ]
    middleware = [
        Middleware(RequestTimer, metrics=metrics, routes=routes),
        Middleware(BrowserGate, cfg=ctx.cfg),
    ]
    app = ApiApp(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    stats = FastPathStats()
    if fast_path:
        # Before the stack: gated and timed as every request is; what it does not answer
        # itself goes on to the stack unchanged.
        app.fast_path = PolicyFastPath(ctx, stats, metrics)
    app.state.policy_fast_path = stats
    return app


__all__ = ["OmsError", "allowed_hosts", "create_app", "gate_refusal"]
