"""``/metrics``: Prometheus exposition through prometheus-client, one registry per app.

Request latency is observed here (an ASGI middleware, by route template, never the path: a
path can hold an ENP); everything else is read at scrape time from the service's typed
:class:`~verifier.service.readings.Readings`. Every series has HELP and TYPE. No personal data
in labels: outcomes, states, route templates, methods, status codes, driver names, version.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verifier.service.api import (
    BREAKER_STATES,
    SNAPSHOT_STATES,
    HttpService,
    LatencyReading,
    Outcome,
    Readings,
)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
HTTP_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
UNMATCHED = "unmatched"
_CODES = {code: str(code) for code in range(100, 600)}  # status label texts, made once

# No ``*_created`` series: each would be one more gauge family per label set, and the start
# time is in ``oms_start_time_seconds`` and ``process_start_time_seconds`` already.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client


class HttpMetrics:
    """The app's registry: the request histogram, the service's readings, the process."""

    def __init__(self, service: HttpService) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Histogram(
            "oms_http_request_duration_seconds",
            "HTTP requests by route template, method and status code: seconds from the "
            "request to its response headers (an event stream counts until its headers).",
            ["route", "method", "code"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        # The labelled series, found once each (labels() checks and locks on every call).
        self._children: dict[tuple[str, str, str], Histogram] = {}
        self.registry.register(ServiceCollector(service))
        ProcessCollector(registry=self.registry)

    def observe(self, route: str, method: str, code: str, seconds: float) -> None:
        key = (route, method, code)  # templates, methods, codes: a bounded set of series
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(
                route=route, method=method, code=code
            )
        child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RouteTable:
    """Which route template answers a path, without asking every route in turn: exact paths
    from a dict, templated paths by their own compiled regexes, the first in the app's order
    winning — what walking ``route.matches`` gives (tests/http/test_metrics.py compares the
    two). A route of any other kind, or a ``root_path``, falls back to the walk."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes
        self.static: dict[str, tuple[int, str]] = {}
        self.templated: list[tuple[int, re.Pattern[str], str]] = []
        self.walk_only = False
        for i, route in enumerate(routes):
            if isinstance(route, Mount):
                self.templated.append((i, route.path_regex, route.path + "/{path}"))
            elif isinstance(route, Route):
                if "{" in route.path:
                    self.templated.append((i, route.path_regex, route.path))
                else:
                    self.static.setdefault(route.path, (i, route.path))
            else:
                self.walk_only = True

    def route_of(self, scope: Scope) -> str:
        """The template of the route that will answer (``/v1/policies/{enp}``), never the
        path itself; a method mismatch (405) still names its route."""
        if self.walk_only or scope.get("root_path") or scope["type"] != "http":
            return self.walk(scope)
        path: str = scope["path"]
        index, template = self.static.get(path, (len(self.routes), UNMATCHED))
        for i, regex, name in self.templated:
            if i >= index:
                break
            if regex.match(path):
                return name
        return template

    def walk(self, scope: Scope) -> str:
        for route in self.routes:
            found, _ = route.matches(scope)
            if found is Match.NONE:
                continue
            if isinstance(route, Mount):
                return route.path + "/{path}"
            if isinstance(route, Route):
                return route.path
        return UNMATCHED


class RequestTimer:
    """ASGI middleware timing every HTTP request into :class:`HttpMetrics`, gate refusals
    and unknown paths too (as route ``unmatched``)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes
        self.table = RouteTable(routes)

    def route_of(self, scope: Scope) -> str:
        """The template of the route that will answer, never the path (see RouteTable)."""
        return self.table.route_of(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        route = self.route_of(scope)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        observed = False

        def observe(code: str) -> None:
            nonlocal observed
            if not observed:
                observed = True
                self.metrics.observe(route, method, code, time.perf_counter() - t0)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                observe(_CODES.get(status) or str(status))
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except BaseException:
            observe("500")
            raise
        observe("none")  # the client left before any answer


class ServiceCollector(Collector):
    """The service's counters and states, read once per scrape."""

    def __init__(self, service: HttpService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        r = self.service.readings()
        yield from _build(r)
        yield from _verifications(r)
        yield from _snapshot(r)
        yield from _drivers(r)
        yield from _registry(r)
        yield from _sync(r)


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> Metric:
    return CounterMetricFamily(name, doc, value=value)


def _timestamp(v: datetime | None) -> float | None:
    return v.timestamp() if v is not None else None


def _histogram(name: str, doc: str, reading: LatencyReading) -> Metric:
    buckets = [(_le(bound), float(n)) for bound, n in reading.buckets]
    buckets.append(("+Inf", float(reading.count)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=reading.sum_s)


def _le(bound: float) -> str:
    return repr(float(bound))  # "0.005", "1.0": as prometheus-client's own histograms spell it


def _build(r: Readings) -> Iterator[Metric]:
    yield InfoMetricFamily(
        "oms_build",
        "The running daemon's version (package metadata).",
        value={"version": r.version},
    )
    yield GaugeMetricFamily(
        "oms_ready", "1 once started and serving, 0 while starting or stopping.", value=int(r.ready)
    )
    yield GaugeMetricFamily(
        "oms_start_time_seconds", "When the service started (Unix time).", r.started_at.timestamp()
    )


def _verifications(r: Readings) -> Iterator[Metric]:
    by = CounterMetricFamily("oms_verifications", "Verdicts made, by outcome.", labels=["outcome"])
    for outcome in Outcome:
        by.add_metric([outcome.value], r.verifications_by_outcome.get(outcome.value, 0))
    yield by
    yield _counter(
        "oms_unrecognized_reads",
        "Inputs that were no known credential (refused for API callers, published as unknown "
        "for scans).",
        r.unrecognized,
    )
    yield _counter(
        "oms_driver_verification_errors",
        "Driver reads whose verification failed with an internal error.",
        r.driver_errors,
    )
    yield _histogram(
        "oms_verify_latency_seconds",
        "Seconds to verify one input (decode, checks, register lookup); inputs refused as "
        "unrecognised are not timed.",
        r.verify_latency,
    )
    yield _counter(
        "oms_events_published", "Scan events published to the screens.", r.events_published
    )
    yield GaugeMetricFamily(
        "oms_sse_subscribers", "Screens connected to the live feed.", r.sse_subscribers
    )


def _snapshot(r: Readings) -> Iterator[Metric]:
    s = r.snapshot
    yield from _gauge("oms_snapshot_sequence", "Sequence of the local snapshot.", s.sequence)
    yield GaugeMetricFamily("oms_snapshot_records", "Policies in the local snapshot.", s.records)
    yield from _gauge(
        "oms_snapshot_age_seconds", "Age of the local snapshot's register part.", s.age_s
    )
    for name, doc, state in (
        ("oms_snapshot_fresh", "1 for the register part's freshness state.", s.state),
        ("oms_revocations_fresh", "1 for the revocation list's freshness state.", s.revocations),
    ):
        g = GaugeMetricFamily(name, doc, labels=["state"])
        for candidate in SNAPSHOT_STATES:
            g.add_metric([candidate], int(state == candidate))
        yield g
    yield from _gauge(
        "oms_clock_skew_seconds",
        "Device clock minus the registry's clock at the last sync.",
        s.clock_skew_s,
    )
    yield GaugeMetricFamily("oms_trust_keys", "Keys in the trust store.", r.trust_keys)


def _drivers(r: Readings) -> Iterator[Metric]:
    up = GaugeMetricFamily("oms_driver_up", "1 while a reader reads.", labels=["driver"])
    reads = CounterMetricFamily("oms_driver_reads", "Reads per reader.", labels=["driver"])
    errors = CounterMetricFamily("oms_driver_errors", "Errors per reader.", labels=["driver"])
    for d in r.drivers:
        up.add_metric([d.name], int(d.up))
        reads.add_metric([d.name], d.reads)
        errors.add_metric([d.name], d.errors)
    yield from (up, reads, errors)


def _registry(r: Readings) -> Iterator[Metric]:
    reg = r.registry
    yield GaugeMetricFamily(
        "oms_registry_configured", "1 when an online registry is configured.", int(reg.configured)
    )
    if not reg.configured:
        return
    yield GaugeMetricFamily(
        "oms_registry_breaker_open",
        "1 while the breaker keeps calls from the registry (open or half-open).",
        int(reg.breaker != "closed"),
    )
    state = GaugeMetricFamily(
        "oms_registry_breaker_state", "1 for the breaker's current state.", labels=["state"]
    )
    for candidate in BREAKER_STATES:
        state.add_metric([candidate], int(reg.breaker == candidate))
    yield state
    for name, doc, value in (
        ("oms_registry_breaker_opened", "Times the breaker opened.", reg.breaker_opened),
        ("oms_registry_requests", "Requests sent to the registry.", reg.requests),
        ("oms_registry_retries", "Requests to the registry retried.", reg.retries),
        ("oms_registry_failures", "Registry calls that failed (after retries).", reg.failures),
        (
            "oms_registry_breaker_rejections",
            "Registry calls refused by the open breaker.",
            reg.breaker_rejections,
        ),
        (
            "oms_registry_refused_answers",
            "Signed registry answers refused (not bound to the question or the time).",
            reg.refused,
        ),
        ("oms_registry_read_bytes", "Bytes read from the registry.", reg.bytes_read),
    ):
        yield _counter(name, doc, value)


def _sync(r: Readings) -> Iterator[Metric]:
    s = r.sync
    if s is None:
        return
    yield from _gauge(
        "oms_sync_last_success_timestamp_seconds",
        "When a snapshot sync round last succeeded (Unix time).",
        _timestamp(s.last_success),
    )
    yield from _gauge(
        "oms_sync_last_attempt_timestamp_seconds",
        "When a snapshot sync round was last tried (Unix time).",
        _timestamp(s.last_attempt),
    )
    yield _counter("oms_sync_failures", "Snapshot sync rounds that failed.", s.failures_total)
    yield GaugeMetricFamily(
        "oms_sync_consecutive_failures",
        "Snapshot sync rounds failed since the last good one.",
        s.consecutive_failures,
    )
    yield _counter(
        "oms_sync_task_restarts", "Times the sync task died and was restarted.", s.task_restarts
    )
    yield _counter(
        "oms_trust_list_failures", "Signed trust lists refused.", s.trust_list_failures_total
    )
