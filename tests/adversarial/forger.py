"""A hostile registry on loopback: a real HTTP server in front of real reference registries.

It never builds answers from the client's internals. It forwards each request verbatim (path,
query, headers — whatever nonce the protocol carries travels along) to a genuine reference
registry service and then lies in one of these ways:

* ``replay``   — the first answer per question comes from a registry whose clock says 2019 and
  whose data is an old world where everyone was active; later askers get that same answer
  again, whatever nonce they sent (a recorded answer, replayed);
* ``replay_recent`` — the same with a genuine answer of today's registry: only the nonce
  tells the replay from the real thing;
* ``stale``    — forwarded to the 2019 registry each time (fresh nonce, old ``answered_at``);
* ``future``   — forwarded to a registry whose clock says 2099 (old-world data);
* ``cross``    — the question is rewritten to ask about another person (same nonce), and that
  person's genuine, signed answer is returned;
* ``flip``     — a genuine current answer with a few bits flipped;
* ``hostile``  — junk bodies: deep nesting, wrong shapes, huge documents, non-JSON;
* ``error``    — HTTP 503.

Counters tell the tests the lies were actually told (a protocol change that stops the rewrite
from matching must fail the suite, not silently make every answer honest).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit

MODES = ("replay", "replay_recent", "stale", "future", "cross", "flip", "hostile", "error")

Rewrite = Callable[[str, str], str | None]  # (kind, value) -> partner's value


def _hostile_bodies() -> list[tuple[int, bytes]]:
    return [
        (200, b"[" * 8000 + b"]" * 8000),
        (200, b'{"record":' * 3000 + b"null" + b"}" * 3000),
        (200, b"not json at all"),
        (200, b"\xff\xfe\x00garbage"),
        (200, b'{"record": 1, "answered_at": 2, "key_id": [], "signature": {}}'),
        (200, b'{"record": {"enp": "0000000000000000"}, "signature": "00", "key_id": "x"}'),
        (200, b"{}"),
        (200, b"[]"),
        (200, b"null"),
        (200, b'{"a":"' + b"x" * 300_000 + b'"}'),
        (404, b'{"code": "not_found"}'),
        (404, b"[" * 5000),
        (400, b"{" * 5000),
        (200, b'{"answered_at": "2099-01-01T00:00:00+00:00"}'),
    ]


_RECORD = (
    "enp",
    "policy_type",
    "status",
    "status_since",
    "smo_ogrn",
    "okato",
    "start",
    "end",
    "clinic",
    "name_hash",
)
_QUERY = ("kind", "number")
_DOCUMENT = ("revoked", "since", "reason")
_SCHEMA: dict[str, object] = {
    "version": None,
    "nonce": None,
    "query": _QUERY,
    "answered_at": None,
    "found": None,
    "record": _RECORD,
    "alias": _QUERY,
    "documents": {"paper": _DOCUMENT, "card": _DOCUMENT},
    "key_id": None,
    "signature": None,
}


def _plain(value: object) -> object:
    """A wire string as a lenient reader takes it: hex and enum names in any case, a timestamp
    with any date/time separator (``datetime.fromisoformat`` accepts ``2026-12-01t09:00``)."""
    if not isinstance(value, str):
        return value
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value.lower()
    return dt.astimezone(UTC).isoformat() if dt.tzinfo is not None else value.lower()


def _project(value: object, schema: object) -> object:
    """``value`` reduced to the fields ``schema`` names (absent and null read alike)."""
    if schema is None or not isinstance(value, dict):
        return _plain(value)
    if isinstance(schema, tuple):
        return {k: _plain(value.get(k)) for k in schema}
    assert isinstance(schema, dict)
    return {k: _project(value.get(k), sub) for k, sub in schema.items()}


def _meaning(body: bytes) -> object:
    """What an answer says, field by field, as a reader of the documented fields reads it."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ("unreadable",)
    return json.dumps(_project(doc, _SCHEMA), sort_keys=True)


class Forger:
    def __init__(
        self,
        *,
        now_url: str,
        old_url: str,
        future_url: str,
        rewrite: Rewrite,
    ) -> None:
        self.upstreams = {"now": now_url, "old": old_url, "future": future_url}
        self.rewrite = rewrite
        self.lock = threading.Lock()
        self.recorded: dict[str, tuple[int, bytes]] = {}
        self.seen: dict[str, int] = {}
        self.counts: dict[str, int] = dict.fromkeys((*MODES, "rewrites", "replays_served"), 0)
        self.hostile = _hostile_bodies()
        forger = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                mode, _, rest = self.path.lstrip("/").partition("/")
                status, out = forger.answer(mode, "/" + rest, dict(self.headers), body, self)
                self.send_response(status)
                ctype = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, mode: str) -> str:
        """The base URL that makes this forger lie in ``mode``."""
        assert mode in MODES
        return f"http://127.0.0.1:{self.port}/{mode}"

    # --- lies ------------------------------------------------------------------------------

    def _forward(
        self, upstream: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        u = urlsplit(self.upstreams[upstream])
        conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=10)
        try:
            keep = {
                k: v
                for k, v in headers.items()
                if k.lower() not in ("host", "content-length", "connection", "accept-encoding")
            }
            conn.request(method, path, body=body or None, headers=keep)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _flipped(self, question: str, out: bytes) -> bytes:
        """A few bits flipped — and never a flip that leaves the answer meaning the same (a
        flipped name of a null field, an upper-case hex digit…): every flipped answer served
        is a lie. (The client verifies the signature over the values it parsed, re-encoded, so
        such flips are accepted, harmlessly.)"""
        with self.lock:
            self.seen[question] = self.seen.get(question, 0) + 1
            rng = random.Random(f"{question}|{self.seen[question]}")
        meaning = _meaning(out)
        for _ in range(50):
            buf = bytearray(out)
            for _ in range(rng.randint(1, 3)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            if _meaning(bytes(buf)) != meaning:
                return bytes(buf)
        return b"{}"

    def _rewritten(self, path: str) -> str | None:
        """The same question about another person; None when no partner is known."""
        u = urlsplit(path)
        parts = u.path.split("/")
        query = parse_qsl(u.query, keep_blank_values=True)
        changed = False
        if len(parts) == 4 and parts[1:3] == ["v1", "persons"] and parts[3] != "search":
            other = self.rewrite("enp", parts[3])
            if other is not None:
                parts[3] = other
                changed = True
        new_query = []
        for k, v in query:
            if k in ("temp_cert", "old_number", "enp"):
                other = self.rewrite(k, v)
                if other is not None:
                    v = other
                    changed = True
            new_query.append((k, v))
        if not changed:
            return None
        q = urlencode(new_query)
        return "/".join(parts) + (f"?{q}" if q else "")

    def _question(self, path: str) -> str:
        """The question without anything that changes per request (nonce and the like)."""
        u = urlsplit(path)
        keep = sorted(
            (k, v)
            for k, v in parse_qsl(u.query, keep_blank_values=True)
            if k in ("temp_cert", "old_number", "enp")
        )
        return u.path + "?" + urlencode(keep)

    def answer(
        self,
        mode: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        handler: BaseHTTPRequestHandler,
    ) -> tuple[int, bytes]:
        method = handler.command
        with self.lock:
            if mode in self.counts:
                self.counts[mode] += 1
        if not path.startswith("/v1/persons"):
            return self._forward("now", method, path, headers, body)  # time, snapshots…
        if mode == "error":
            return 503, b'{"code": "unavailable", "status": 503}'
        if mode == "hostile":
            with self.lock:
                self.seen[path] = self.seen.get(path, 0) + 1
                return random.Random(f"{self._question(path)}|{self.seen[path]}").choice(
                    self.hostile
                )
        if mode == "stale":
            return self._forward("old", method, path, headers, body)
        if mode == "future":
            return self._forward("future", method, path, headers, body)
        if mode in ("replay", "replay_recent"):
            key = mode + self._question(path)
            with self.lock:
                seen = self.recorded.get(key)
                if seen is not None:
                    self.counts["replays_served"] += 1
                    return seen
            source = "old" if mode == "replay" else "now"
            got = self._forward(source, method, path, headers, body)
            with self.lock:
                self.recorded.setdefault(key, got)
            return got
        if mode == "cross":
            other = self._rewritten(path)
            if other is None:
                return self._forward("now", method, path, headers, body)
            with self.lock:
                self.counts["rewrites"] += 1
            return self._forward("now", method, other, headers, body)
        if mode == "flip":
            status, out = self._forward("now", method, path, headers, body)
            if out:
                return status, self._flipped(self._question(path), out)
            return status, out
        return 404, b'{"code": "no_such_mode"}'

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Forger:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
