"""Who is calling: bearer tokens with roles; token-less loopback callers get a configured role.

Roles: ``kiosk`` (read-only hall screens: their own kiosk channel, masked), ``desk`` (a
registry workstation: verify, person search, and the desk's events unmasked — names, birth
dates, full ENPs), ``mis`` (verdicts, verify, match, search), ``admin`` (everything, incl.
snapshot refresh and metrics; events masked). Tokens are compared in constant time
and never logged — the audit log records the token's name. The token-less loopback role is
weaker than a token: any local process, and any page in a local browser that gets past the
Host/Origin gate, is that caller, so some routes (snapshot refresh) want a token regardless.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from verifier.config import ApiToken, HttpConfig

ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"read"}),
    "desk": frozenset({"read", "verify", "search", "unmasked_events"}),
    "mis": frozenset({"read", "verify", "search"}),
    "admin": frozenset({"read", "verify", "search", "admin"}),
}


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: str | None  # None: not authenticated
    by_token: bool = False  # False: the token-less loopback role (or nobody)

    def may(self, right: str) -> bool:
        return self.role is not None and right in ROLE_RIGHTS[self.role]

    @property
    def sees_desk_unmasked(self) -> bool:
        """Only a desk token: never the token-less loopback caller, whatever its role."""
        return self.by_token and self.may("unmasked_events")

    @property
    def is_kiosk(self) -> bool:
        return self.role == "kiosk"


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str | None) -> bool:
    """Memoised: a desk's few client addresses are asked once each, not parsed per request."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def identify(conn: HTTPConnection, cfg: HttpConfig) -> Caller:
    # The raw path (what routing matched), not conn.url: that builds and splits a URL.
    path: str = conn.scope["path"]
    return identify_parts(
        conn.headers.get("authorization"),
        lambda: conn.query_params.get("access_token") if path == "/v1/events" else None,
        conn.client.host if conn.client else None,
        cfg,
    )


def identify_parts(
    header: str | None,
    url_token: Callable[[], str | None],
    client: str | None,
    cfg: HttpConfig,
) -> Caller:
    """:func:`identify` from the request's parts: the ``Authorization`` header (the first
    one, as Starlette's ``Headers.get`` gives it), the token in the URL (asked only without
    a header; only ``/v1/events`` has one) and the client's address."""
    token: str | None
    if header is not None:
        # Any Authorization header must carry a valid bearer token: a malformed or foreign
        # scheme is a wrong credential (401), never a fall-back to the loopback role.
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    else:
        # EventSource cannot set headers; only the event stream takes the token in its URL,
        # because URLs end up in logs and browser history.
        token = url_token()
    if token is not None:
        made_for, known = _known_tokens
        if made_for is cfg:
            caller = known.get(token)
            if caller is not None:
                return caller
        found: ApiToken | None = None
        for t in cfg.tokens:  # no early exit: the time taken does not say which token matched
            if hmac.compare_digest(t.token.encode(), token.encode()) and token:
                found = found or t
        if found is not None:
            return _remember(cfg, token, Caller(found.name, found.role, by_token=True))
        return Caller("invalid-token", None)
    if is_loopback(client) and cfg.loopback_role is not None:
        return Caller("loopback", cfg.loopback_role)
    return Caller(client or "unknown", None)


# The callers of the tokens presented and found, for the configuration they were found in
# (a reload brings a new one): a MIS presents the same token on every request. Only a token
# that matched is remembered, so a wrong one always takes the constant-time comparison above,
# and a dict's probe compares a presented string with a known one only on equal hashes.
_known_tokens: tuple[HttpConfig | None, dict[str, Caller]] = (None, {})


def _remember(cfg: HttpConfig, token: str, caller: Caller) -> Caller:
    global _known_tokens
    made_for, known = _known_tokens
    if made_for is not cfg:
        known = {}
        _known_tokens = (cfg, known)
    if len(known) < len(cfg.tokens):  # bounded by the configuration itself
        known[token] = caller
    return caller
