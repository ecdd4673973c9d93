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

import hmac
import ipaddress
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


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def identify(conn: HTTPConnection, cfg: HttpConfig) -> Caller:
    header = conn.headers.get("authorization")
    if header is not None:
        # Any Authorization header must carry a valid bearer token: a malformed or foreign
        # scheme is a wrong credential (401), never a fall-back to the loopback role.
        token: str | None = header[7:].strip() if header[:7].lower() == "bearer " else ""
    elif conn.url.path == "/v1/events":
        # EventSource cannot set headers; only the event stream takes the token in its URL,
        # because URLs end up in logs and browser history.
        token = conn.query_params.get("access_token")
    else:
        token = None
    if token is not None:
        found: ApiToken | None = None
        for t in cfg.tokens:  # no early exit: the time taken does not say which token matched
            if hmac.compare_digest(t.token.encode(), token.encode()) and token:
                found = found or t
        if found is not None:
            return Caller(found.name, found.role, by_token=True)
        return Caller("invalid-token", None)
    client = conn.client.host if conn.client else None
    if is_loopback(client) and cfg.loopback_role is not None:
        return Caller("loopback", cfg.loopback_role)
    return Caller(client or "unknown", None)
