"""Fault injection for tests and benchmarks (only with ``--faults``): ``/_faults``.

``PUT /_faults`` with a JSON object sets the faults (fields left out take their defaults, so
``PUT {}`` equals ``DELETE``); ``GET`` shows them; ``DELETE`` clears them. A request whose path
starts with ``paths`` then, in this order: waits ``latency_ms`` + U(0, ``jitter_ms``); with
probability ``error_rate`` gets an ``error_status`` problem; with ``reset_rate`` gets response
headers and part of a body, then the connection is closed (the client sees a transport
error); with ``garbage_rate`` gets 200 ``application/json`` random bytes; with
``wrong_signature_rate`` a person answer is signed over different bytes; with
``answer_clock_offset_s`` every signed answer is dated that many seconds off the service's
clock (a registry with a wrong clock, or a key holder back-dating answers); with
``cut_after_bytes`` only that many bytes of the real body are sent, then the connection
closes (a dropped download). Each rate is drawn from
one RNG seeded by ``seed`` (re-seeded on every PUT/DELETE), so a sequential test is reproducible.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verifier.registry.protocol import PROBLEM_TYPE, problem

FAULTS_PATH = "/_faults"
WRONG_SIGNATURE = "oms_fault_wrong_signature"  # key in scope["state"]
CLOCK_OFFSET = "oms_fault_clock_offset_s"  # key in scope["state"]
_MAX_OFFSET_S = 200 * 366 * 86400  # 2019 and 2099 are both within reach
_MAX_CONTROL_BODY = 4096


@dataclass(frozen=True, slots=True)
class FaultSettings:
    latency_ms: int = 0
    jitter_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    reset_rate: float = 0.0
    garbage_rate: float = 0.0
    wrong_signature_rate: float = 0.0
    answer_clock_offset_s: int = 0
    cut_after_bytes: int = 0
    paths: str = "/v1/"
    seed: int = 0

    @classmethod
    def from_json(cls, doc: Any) -> FaultSettings:
        if not isinstance(doc, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        out = cls(**doc)
        for name in (
            "latency_ms",
            "jitter_ms",
            "error_status",
            "seed",
            "answer_clock_offset_s",
            "cut_after_bytes",
        ):
            v = getattr(out, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"{name} must be an integer")
        if not (0 <= out.latency_ms <= 60_000 and 0 <= out.jitter_ms <= 60_000):
            raise ValueError("latency_ms and jitter_ms must be within 0..60000")
        if abs(out.answer_clock_offset_s) > _MAX_OFFSET_S:
            raise ValueError(f"answer_clock_offset_s must be within ±{_MAX_OFFSET_S}")
        if out.cut_after_bytes < 0:
            raise ValueError("cut_after_bytes must not be negative")
        if not 500 <= out.error_status <= 599:
            raise ValueError("error_status must be a 5xx status")
        for name in ("error_rate", "reset_rate", "garbage_rate", "wrong_signature_rate"):
            v = getattr(out, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a number within 0..1")
        if not isinstance(out.paths, str) or not out.paths.startswith("/"):
            raise ValueError("paths must be a path prefix starting with /")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def _send_json(send: Send, status: int, doc: Any, media_type: str) -> None:
    body = json.dumps(doc, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not msg.get("more_body", False):
            return b"".join(chunks)


class FaultInjector:
    """ASGI middleware: serves ``/_faults`` and applies the faults to matching requests.

    ``authorize(scope)`` guards the control endpoint with the service's own token check.
    """

    def __init__(self, app: ASGIApp, authorize: Callable[[Scope], Response | None]) -> None:
        self.app = app
        self.authorize = authorize
        self.settings = FaultSettings()
        self._rng = random.Random(0)  # noqa: S311 - seeded fault injection, not a secret
        self._lock = threading.Lock()

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)  # noqa: S311 - seeded fault injection, not a secret

    def _draw(self) -> tuple[float, bool, bool, bool, bool]:
        s = self.settings
        with self._lock:
            rng = self._rng
            delay = (s.latency_ms + (rng.uniform(0, s.jitter_ms) if s.jitter_ms else 0)) / 1000
            error = rng.random() < s.error_rate
            reset = rng.random() < s.reset_rate
            garbage = rng.random() < s.garbage_rate
            wrong = rng.random() < s.wrong_signature_rate
        return delay, error, reset, garbage, wrong

    def _garbage(self) -> bytes:
        with self._lock:
            body = self._rng.randbytes(self._rng.randrange(64, 1024))
        return b"\xff" + body  # never UTF-8, so never JSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == FAULTS_PATH:
            await self._control(scope, receive, send)
            return
        s = self.settings
        if not path.startswith(s.paths):
            await self.app(scope, receive, send)
            return
        delay, error, reset, garbage, wrong = self._draw()
        if delay > 0:
            await asyncio.sleep(delay)
        if error:
            doc = problem(s.error_status, "injected_fault", "fault injection: server error")
            await _send_json(send, s.error_status, doc, PROBLEM_TYPE)
            return
        if reset:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"record": {', "more_body": True})
            # Returning with the body incomplete makes the server close the connection.
            return
        if garbage:
            body = self._garbage()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if wrong:
            scope.setdefault("state", {})[WRONG_SIGNATURE] = True
        if s.answer_clock_offset_s:
            scope.setdefault("state", {})[CLOCK_OFFSET] = s.answer_clock_offset_s
        if s.cut_after_bytes:
            send = _cut_after(send, s.cut_after_bytes)
        await self.app(scope, receive, send)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        denied = self.authorize(scope)
        if denied is not None:
            await denied(scope, receive, send)
            return
        method = scope["method"]
        if method == "GET":
            await _send_json(send, 200, self.settings.to_json(), "application/json")
            return
        if method == "DELETE":
            self.configure(FaultSettings())
            await _send_json(send, 200, self.settings.to_json(), "application/json")
            return
        if method != "PUT":
            doc = problem(405, "method_not_allowed", f"{method} is not allowed on {FAULTS_PATH}")
            await _send_json(send, 405, doc, PROBLEM_TYPE)
            return
        body = await _read_body(receive, _MAX_CONTROL_BODY)
        if body is None:
            await _send_json(send, 413, problem(413, "too_large", "body too large"), PROBLEM_TYPE)
            return
        try:
            settings = FaultSettings.from_json(json.loads(body or b"{}"))
        except (ValueError, TypeError) as exc:
            await _send_json(send, 422, problem(422, "bad_request", str(exc)), PROBLEM_TYPE)
            return
        self.configure(settings)
        await _send_json(send, 200, settings.to_json(), "application/json")


def _cut_after(send: Send, limit: int) -> Send:
    """Forward the real response's first ``limit`` body bytes, then nothing: the connection
    closes with the body incomplete (a download dropped mid-file)."""
    left = limit

    async def cut(message: Message) -> None:
        nonlocal left
        if message["type"] != "http.response.body":
            await send(message)
            return
        if left <= 0:
            return
        body = message.get("body", b"")
        if len(body) <= left:  # not at the cut yet
            left -= len(body)
            await send(message)
            return
        await send({"type": "http.response.body", "body": body[:left], "more_body": True})
        left = 0

    return cut
