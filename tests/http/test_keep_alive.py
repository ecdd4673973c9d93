"""The daemon's protocol keeps an idle keep-alive connection open for ``timeout_keep_alive``
after its last response and then closes it, as uvicorn does, but with one lazy timer per
connection instead of a new one per response (verifier.http.transport.GuardedH11Protocol).

Each test runs a real uvicorn server with the daemon's protocol class on loopback, in a
thread with its own event loop, and talks to it over a raw socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.http.threaded_server import Running, closed_within, serve_in_thread

KEEP_ALIVE_S = 1.0
SLOW_PATH = "/slow"  # answered after SLOW_S, longer than the keep-alive
SLOW_S = 1.6
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == SLOW_PATH:
        await asyncio.sleep(SLOW_S)
    body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Watched:
    server: Running
    timers: list[float] = field(default_factory=list)  # delays asked of call_later

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
def server() -> Iterator[Watched]:
    timers: list[float] = []

    def watch(loop: asyncio.AbstractEventLoop) -> None:
        real_call_later = loop.call_later

        def counting_call_later(delay: float, callback: Any, *args: Any, **kw: Any) -> Any:
            timers.append(delay)
            return real_call_later(delay, callback, *args, **kw)

        loop.call_later = counting_call_later  # type: ignore[method-assign,assignment]  # a spy

    running = serve_in_thread(app, keep_alive=KEEP_ALIVE_S, prepare=watch)
    try:
        yield Watched(running, timers)
    finally:
        running.close()


def ask(sock: socket.socket, request: bytes = REQUEST) -> bytes:
    sock.sendall(request)
    sock.settimeout(10)
    out = b""
    while not out.endswith(b'{"ok":true}'):
        chunk = sock.recv(65536)
        assert chunk, f"closed before the answer: {out!r}"
        out += chunk
    return out


def test_an_idle_connection_closes_after_the_keep_alive(server: Watched) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        assert ask(sock).startswith(b"HTTP/1.1 200 ")
        after = closed_within(sock, KEEP_ALIVE_S + 2.0)
    assert after is not None, "an idle keep-alive connection was never closed"
    assert after >= KEEP_ALIVE_S * 0.8, f"closed after {after:.2f} s, before the keep-alive"


def test_each_response_starts_the_idle_time_again(server: Watched) -> None:
    """Requests 0.4 s apart for 2.4 s: the timer armed after the first response falls due
    while the connection is in use again; it looks again instead of closing it."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(6):
            assert ask(sock).startswith(b"HTTP/1.1 200 ")
            assert closed_within(sock, 0.4) is None
        after = closed_within(sock, KEEP_ALIVE_S + 2.0)
    assert after is not None and after >= KEEP_ALIVE_S * 0.5


def test_a_request_longer_than_the_keep_alive_is_answered_and_kept(server: Watched) -> None:
    """The timer falls due while a slow request is in hand: the connection is not idle, the
    answer comes, and the idle time counts from that answer."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        assert ask(sock).startswith(b"HTTP/1.1 200 ")
        slow = f"GET {SLOW_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        assert ask(sock, slow).startswith(b"HTTP/1.1 200 ")
        assert closed_within(sock, KEEP_ALIVE_S * 0.6) is None
        assert ask(sock).startswith(b"HTTP/1.1 200 ")  # still usable


def test_no_timer_per_response(server: Watched) -> None:
    """200 requests on one connection arm a handful of timers (the connection's header
    deadline, the keep-alive's one timer), not one or two per response as uvicorn's own
    protocol does."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        ask(sock)
        before = len(server.timers)
        for _ in range(200):
            assert ask(sock).startswith(b"HTTP/1.1 200 ")
        armed = len(server.timers) - before
    assert armed <= 5, f"{armed} timers armed for 200 responses"


def test_a_trickled_head_after_a_response_still_meets_the_header_deadline(
    server: Watched,
) -> None:
    """Bytes after a response end the idle time: the header deadline applies to them, and
    the keep-alive timer, falling due meanwhile, does not close the connection early."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        ask(sock)
        sock.sendall(REQUEST[:5])  # a head begun, then nothing
        assert closed_within(sock, KEEP_ALIVE_S + 0.5) is None  # the 5 s header deadline
        sock.sendall(REQUEST[5:])
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
