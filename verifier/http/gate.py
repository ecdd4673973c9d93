"""The Host and Origin gate, before routing, on every path.

A page in the clerk's browser from any other origin can reach loopback too, so every request
names an allowed ``Host`` (else 421: DNS rebinding), and a state-changing request from a
browser must come from the daemon's own pages (``Origin``/``Sec-Fetch-Site``, else 403).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from verifier.config import HttpConfig
from verifier.http.problems import problem

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_PORT = re.compile(r":[0-9]{1,5}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_GATE_HEADERS = {b"host": "host", b"origin": "origin", b"sec-fetch-site": "sec-fetch-site"}
_HOSTS_MAX = 64  # Host values remembered (names and ports: a desk uses one or two)
_hosts: dict[str, tuple[str, int | None] | None] = {}


def _split_host(value: str) -> tuple[str, int | None] | None:
    """:func:`_parse_host`, remembered for the last few values (every request names one)."""
    found = _hosts.get(value, _NOT_SEEN)
    if found is _NOT_SEEN:
        found = _parse_host(value)
        if len(_hosts) >= _HOSTS_MAX:
            _hosts.clear()
        _hosts[value] = found
    return found  # type: ignore[return-value]  # a parse result, not the marker


_NOT_SEEN: object = object()


def _parse_host(value: str) -> tuple[str, int | None] | None:
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


_last_hosts: tuple[HttpConfig, frozenset[str]] | None = None


def allowed_hosts(cfg: HttpConfig) -> frozenset[str]:
    """Loopback names, the bound address itself, and the configured names. Remembered for
    the last configuration object (asked on every request; a reload brings a new one)."""
    global _last_hosts
    last = _last_hosts
    if last is not None and last[0] is cfg:
        return last[1]
    names = _allowed_hosts(cfg)
    _last_hosts = (cfg, names)
    return names


def _allowed_hosts(cfg: HttpConfig) -> frozenset[str]:
    names = set(LOOPBACK_HOSTS) | set(cfg.allowed_hosts)
    bound = cfg.host.lower()
    if bound not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, never bound: a wildcard address is no host name
        names.add(f"[{bound}]" if ":" in bound else bound)
    return frozenset(names)


def gate_refusal(
    method: str, path: str, headers: dict[str, str], server_port: int | None, cfg: HttpConfig
) -> tuple[int, str, str] | None:
    """Why this request must not reach the app, as (status, code, detail), or ``None``."""
    if _CONTROL.search(path):
        # A decoded %0A, %00 ...: no route has one, and a route pattern's "$" matches before a
        # final newline, so "/v1/events\n" would reach the stream route under another path.
        return 400, "bad_path", "в пути запроса управляющий символ"
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


def gate_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers :func:`gate_refusal` reads (Host, Origin, Sec-Fetch-Site) from an ASGI
    scope's list; one named twice is ambiguous and reads as a value no check accepts."""
    headers: dict[str, str] = {}
    for k, v in raw:
        name = _GATE_HEADERS.get(k) or _GATE_HEADERS.get(k.lower())
        if name is None:
            continue
        if name in headers:  # two Host or Origin headers: ambiguous, refuse
            headers[name] = "\x00"
        else:
            headers[name] = v.decode("latin-1")
    return headers


class BrowserGate:
    """ASGI middleware applying :func:`gate_refusal` before routing, to every path."""

    def __init__(self, app: ASGIApp, cfg: Callable[[], HttpConfig]) -> None:
        self.app, self.cfg = app, cfg

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        port = server[1] if server else None
        headers = gate_headers(scope["headers"])
        refusal = gate_refusal(scope["method"], scope["path"], headers, port, self.cfg())
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await problem(*refusal)(scope, receive, send)
